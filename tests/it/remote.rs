//! The shared remote cache against a real nginx (`nginx.rs`): checkouts at different
//! paths with empty local caches share one server; read-only, basic auth, dead and
//! silent servers, a server killed mid-build, damaged entries and concurrent uploads.
//! Builds run the real binary, except where a hook must act at a chosen point of a build.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mini::cache::remote::{Method, Remote, RemoteSettings};
use mini::driver::{BuildRequest, Session};
use serde_json::Value;

use crate::nginx::{Auth, Nginx, free_port, valid_entry};
use crate::support::{stderr, stdout, write};

/// A program of `files` library files in a chain (each calls the next), plus `main`:
/// enough files that a fresh checkout takes the ordinary path, not the patch path.
fn chain(files: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut main = String::from("import \"lib/m0.mini\" as m0;\n");
    for i in 0..files {
        let mut text = String::new();
        if i + 1 < files {
            text.push_str(&format!("import \"m{}.mini\" as next;\n\n", i + 1));
        }
        let body = if i + 1 < files { format!("next.f(x + {i})") } else { "x + 1".to_string() };
        text.push_str(&format!(
            "pub fn f(x: i32) i32 {{\n    return {body};\n}}\n\npub fn g(x: i32) i32 {{\n    return x * 2 + {i};\n}}\n"
        ));
        out.push((format!("lib/m{i}.mini"), text));
        if i > 0 {
            main.push_str(&format!("import \"lib/m{i}.mini\" as m{i};\n"));
        }
    }
    main.push_str("\nfn main() i32 {\n    @print(m0.f(0));\n    var t: i32 = 0;\n");
    for i in 0..files {
        main.push_str(&format!("    t += m{i}.g({i});\n"));
    }
    main.push_str("    @print(t);\n    return 3;\n}\n");
    out.push(("main.mini".into(), main));
    out
}

/// What `chain(files)` prints, with `extra` added to the second line.
fn chain_output_plus(files: usize, extra: i32) -> String {
    let f: i32 = (0..files as i32 - 1).sum::<i32>() + 1;
    let g: i32 = (0..files as i32).map(|i| i * 3).sum();
    format!("{f}\n{}\n", g + extra)
}

/// What `chain(files)` prints.
fn chain_output(files: usize) -> String {
    chain_output_plus(files, 0)
}

const FILES: usize = 40;

/// A checkout of a program: its own directory and, in it, its own local cache.
struct Checkout {
    dir: tempfile::TempDir,
}

impl Checkout {
    fn new(files: &[(String, String)]) -> Checkout {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (path, text) in files {
            write(dir.path(), path, text);
        }
        Checkout { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn exe(&self) -> PathBuf {
        self.path().join("main")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mini"));
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("MINI_LOG")
            .env_remove("MINI_REMOTE_CACHE")
            .env_remove("MINI_REMOTE_CACHE_READ_ONLY");
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    fn run_mini(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().expect("mini runs")
    }

    /// `mini build --message-format json` with `args`; the `build-finished` event and
    /// standard error.
    #[track_caller]
    fn build(&self, args: &[&str], env: &[(&str, &str)]) -> (Value, String) {
        let mut all = vec!["build", "--message-format", "json", "-j", "1"];
        all.extend_from_slice(args);
        let out = self.run_mini(&all, env);
        assert!(out.status.success(), "build failed:\n{}{}", stdout(&out), stderr(&out));
        (finished(&stdout(&out)), stderr(&out))
    }

    #[track_caller]
    fn output(&self) -> String {
        let out = mini::process::output(&mut Command::new(self.exe())).expect("the program runs");
        assert_eq!(out.status.code(), Some(3), "the program's status");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.path().join(file);
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(text.contains(from), "{file} lacks {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("writable");
    }
}

fn finished(stdout: &str) -> Value {
    let line = stdout.lines().last().expect("a build-finished event");
    let event: Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(event["reason"], "build-finished");
    event
}

fn compiled(event: &Value) -> usize {
    event["compiled"].as_array().expect("a list").len()
}

fn remote(event: &Value, counter: &str) -> u64 {
    event["remote"][counter].as_u64().unwrap_or_else(|| panic!("no remote.{counter} in {event}"))
}

/// The lines of `stderr` that are warnings.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("warning")).collect()
}

/// A checkout built against an empty server uploads; a second checkout elsewhere, with
/// fresh timestamps and an empty local cache, compiles nothing and parses nothing (the
/// shared index's summaries hold), and links the same executable byte for byte.
#[test]
fn a_second_checkout_compiles_nothing_and_links_the_same_executable() {
    let Some(server) = Nginx::start(Auth::Open) else { return };
    let program = chain(FILES);
    let first = Checkout::new(&program);
    let (event, _) = first.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!(compiled(&event), 2 * FILES + 1);
    assert!(remote(&event, "uploads") > 0, "{event}");
    assert_eq!(remote(&event, "errors"), 0, "{event}");
    assert_eq!(first.output(), chain_output(FILES));

    let second = Checkout::new(&program);
    let (event, err) = second.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!(compiled(&event), 0, "{event}");
    assert_eq!(event["files_parsed"], 0, "every file's summary came from the shared index: {event}");
    assert_eq!(event["reused_from_remote"], 2 * FILES + 1);
    assert_eq!((remote(&event, "misses"), remote(&event, "errors")), (0, 0), "{event}");
    assert_eq!(remote(&event, "uploads"), 0, "nothing new to share: {event}");
    assert!(warnings(&err).is_empty(), "{err}");
    assert_eq!(std::fs::read(second.exe()).unwrap(), std::fs::read(first.exe()).unwrap());
    assert_eq!(second.output(), chain_output(FILES));

    // `mini cache stats` reports the remote's counters of the last build.
    let stats = second.run_mini(&["cache", "stats", "--json"], &[]);
    let stats: Value = serde_json::from_str(&stdout(&stats)).expect("JSON stats");
    let last = &stats["last_build"]["remote"];
    assert_eq!(last["server"], server.url());
    assert_eq!(last["hits"], remote(&event, "hits"));
    assert_eq!((last["misses"].as_u64(), last["uploads"].as_u64()), (Some(0), Some(0)));

    // A third checkout, now with a local index, is a no-op after its first build.
    let (again, _) = second.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!((compiled(&again), again["linked"].as_bool()), (0, Some(false)));
}

/// A small program takes the patch path with the shared index as its index.
#[test]
fn a_small_program_from_the_shared_index_takes_the_patch_path() {
    let Some(server) = Nginx::start(Auth::Open) else { return };
    let program = chain(3);
    let first = Checkout::new(&program);
    first.build(&["--remote-cache", &server.url()], &[]);
    let second = Checkout::new(&program);
    let out =
        second.run_mini(&["build", "--message-format", "json", "--log-queries", "--remote-cache", &server.url()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let event = finished(&text);
    assert_eq!(compiled(&event), 0, "{event}");
    assert!(!text.contains("\"query\":\"link_plan"), "the patch path plans nothing: {text}");
    assert_eq!(event["reused_from_remote"], 7);
    assert_eq!(std::fs::read(second.exe()).unwrap(), std::fs::read(first.exe()).unwrap());
}

/// A checkout with edits of its own: the shared index's summaries of the other files
/// hold (their imports' interfaces are checked, as for the local index), the edited
/// unit is rebuilt around its previous members from the server, and only what changed
/// is compiled — a body, then a signature and its callers.
#[test]
fn a_checkout_with_local_edits_compiles_only_what_it_changed() {
    let Some(server) = Nginx::start(Auth::Open) else { return };
    let program = chain(FILES);
    let first = Checkout::new(&program);
    first.build(&["--remote-cache", &server.url()], &[]);

    let body = Checkout::new(&program);
    body.edit("lib/m7.mini", "return x * 2 + 7;", "return x * 2 + 8;");
    let (event, _) = body.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!(event["compiled"], serde_json::json!(["lib/m7.g"]));
    assert_eq!(event["files_parsed"], 1);
    assert_eq!(body.output(), chain_output_plus(FILES, 1));

    // m5.f takes an i64 now: m4.f (its caller) must be recompiled, nothing else.
    let signature = Checkout::new(&program);
    signature.edit(
        "lib/m5.mini",
        "pub fn f(x: i32) i32 {\n    return next.f(x + 5);",
        "pub fn f(x: i64) i32 {\n    return next.f(@as(i32, x) + 5);",
    );
    signature.edit("lib/m4.mini", "return next.f(x + 4);", "return next.f(@as(i64, x + 4));");
    let (event, _) = signature.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!(event["compiled"], serde_json::json!(["lib/m4.f", "lib/m5.f"]), "{event}");
    assert_eq!(signature.output(), chain_output(FILES));
}

#[test]
fn read_only_uploads_nothing() {
    let Some(server) = Nginx::start(Auth::Open) else { return };
    let program = chain(3);
    let flag = Checkout::new(&program);
    let (event, _) = flag.build(&["--remote-cache", &server.url(), "--remote-read-only"], &[]);
    assert_eq!(compiled(&event), 7);
    assert!(remote(&event, "misses") > 0, "{event}");
    assert_eq!((remote(&event, "uploads"), remote(&event, "errors")), (0, 0));
    let env = Checkout::new(&program);
    let (event, _) = env.build(&[], &[("MINI_REMOTE_CACHE", &server.url()), ("MINI_REMOTE_CACHE_READ_ONLY", "1")]);
    assert_eq!((compiled(&event), remote(&event, "uploads")), (7, 0));
    assert!(server.entries().is_empty(), "the server holds {:?}", server.entries());

    // Without a remote the counters are zeros.
    let none = Checkout::new(&program);
    let (event, _) = none.build(&[], &[]);
    assert_eq!(event["remote"], serde_json::json!({"hits": 0, "misses": 0, "uploads": 0, "errors": 0}));
}

/// The right password shares; a wrong one is one warning line naming the server — never
/// the password, not even in debug logs — and a build that goes on without the remote.
#[test]
fn basic_auth_right_shares_and_wrong_is_one_warning_without_credentials() {
    let Some(server) = Nginx::start(Auth::Everything("ci", "Right-Pa55")) else { return };
    let program = chain(3);
    let writer = Checkout::new(&program);
    let (event, _) = writer.build(&["--remote-cache", &server.url_with("ci", "Right-Pa55")], &[]);
    assert!(remote(&event, "uploads") > 0, "{event}");

    let wrong = Checkout::new(&program);
    let (event, err) = wrong.build(&["--remote-cache", &server.url_with("ci", "Wr0ng-Pa55")], &[("MINI_LOG", "debug")]);
    assert_eq!(compiled(&event), 7);
    assert_eq!((remote(&event, "hits"), remote(&event, "errors")), (0, 1), "{event}");
    let warned: Vec<&str> = err.lines().filter(|l| l.starts_with("mini: warning:")).collect();
    assert_eq!(
        warned,
        [format!(
            "mini: warning: remote cache {}: 401 Unauthorized (check the user name and password in the URL); building without it",
            server.url()
        )]
    );
    assert!(!err.contains("Wr0ng-Pa55") && !err.contains(&base64_of("ci:Wr0ng-Pa55")), "{err}");
    assert_eq!(wrong.output(), chain_output(3));

    let anonymous = Checkout::new(&program);
    let (event, _) = anonymous.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!((compiled(&event), remote(&event, "errors")), (7, 1));

    let reader = Checkout::new(&program);
    let (event, _) = reader.build(&["--remote-cache", &server.url_with("ci", "Right-Pa55")], &[]);
    assert_eq!(compiled(&event), 0, "{event}");
    assert_eq!(std::fs::read(reader.exe()).unwrap(), std::fs::read(writer.exe()).unwrap());
}

fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The README's set-up: anyone reads, only CI (with the password) writes.
#[test]
fn ci_writes_with_a_password_and_developers_read_without_one() {
    let Some(server) = Nginx::start(Auth::Writes("ci", "ci-secret")) else { return };
    let program = chain(3);
    let ci = Checkout::new(&program);
    let (event, _) = ci.build(&["--remote-cache", &server.url_with("ci", "ci-secret")], &[]);
    assert!(remote(&event, "uploads") > 0, "{event}");
    let developer = Checkout::new(&program);
    let (event, err) =
        developer.build(&["--remote-cache", &server.url(), "--remote-read-only"], &[("MINI_LOG", "info")]);
    assert_eq!((compiled(&event), remote(&event, "errors")), (0, 0), "{event}\n{err}");
    // MINI_LOG=info shows the remote's timings.
    let hits = remote(&event, "hits");
    let summary = format!("remote {}: {hits} hits, 0 misses (0 bad), 0 uploads, 0 errors;", server.url());
    assert!(err.lines().any(|l| l.contains(&summary) && l.contains("ms of requests")), "{err}");
}

/// Nothing listens: one refused connection, one warning, a normal local build.
#[test]
fn nothing_listening_costs_one_refused_connection() {
    let port = free_port();
    let checkout = Checkout::new(&chain(3));
    let url = format!("http://127.0.0.1:{port}/cache/");
    let (event, err) = checkout.build(&["--remote-cache", &url], &[]);
    assert_eq!(compiled(&event), 7);
    assert_eq!(event["remote"], serde_json::json!({"hits": 0, "misses": 0, "uploads": 0, "errors": 1}));
    assert_eq!(warnings(&err), [format!("mini: warning: remote cache {url}: connection refused; building without it")]);
    assert_eq!(checkout.output(), chain_output(3));
}

/// A server that accepts connections and never answers costs one timeout per build, not
/// one per entry: the build opens one connection, waits once, and goes on locally. (Not
/// nginx: a peer that never answers is what is being tested.)
#[test]
fn a_server_that_never_answers_costs_one_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    // Accepts and holds every connection, reading and writing nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let checkout = Checkout::new(&chain(3));
    let url = format!("http://127.0.0.1:{port}/cache/");
    let (event, err) = checkout.build(&["--remote-cache", &url, "--remote-timeout", "200ms"], &[]);
    assert_eq!(compiled(&event), 7);
    assert_eq!(remote(&event, "errors"), 1, "{event}");
    assert_eq!(
        warnings(&err),
        [format!("mini: warning: remote cache {url}: no answer within 200 ms; building without it")]
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection, one timeout");
    assert_eq!(checkout.output(), chain_output(3));
}

/// Damages every entry on the server, then checks that a fresh checkout takes none of
/// them (each is a counted miss), builds the right program, and replaces them: a third
/// checkout compiles nothing.
#[track_caller]
fn check_bad_entries_are_misses_and_replaced(damage: impl Fn(&[PathBuf])) {
    let Some(server) = Nginx::start(Auth::Open) else { return };
    let program = chain(FILES);
    let first = Checkout::new(&program);
    first.build(&["--remote-cache", &server.url()], &[]);
    let entries = server.entries();
    damage(&entries);
    assert!(entries.iter().all(|e| !valid_entry(e)), "every entry is damaged");

    let second = Checkout::new(&program);
    let (event, err) = second.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!(compiled(&event), 2 * FILES + 1, "{event}");
    assert_eq!(remote(&event, "hits"), 0, "{event}");
    let bad = remote(&event, "misses");
    assert_eq!(remote(&event, "errors"), bad, "every miss was a bad entry: {event}");
    assert!(bad > 0);
    assert_eq!(
        warnings(&err),
        [format!(
            "mini: warning: remote cache {}: {bad} entries failed verification and were built here instead",
            server.url()
        )]
    );
    assert_eq!(second.output(), chain_output(FILES));
    assert!(server.entries().iter().all(|e| valid_entry(e)), "the bad entries were replaced");

    let third = Checkout::new(&program);
    let (event, _) = third.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!((compiled(&event), remote(&event, "errors")), (0, 0), "{event}");
    assert_eq!(std::fs::read(third.exe()).unwrap(), std::fs::read(first.exe()).unwrap());
}

#[test]
fn corrupted_remote_entries_are_misses_and_replaced() {
    check_bad_entries_are_misses_and_replaced(|entries| {
        for entry in entries {
            let mut bytes = std::fs::read(entry).unwrap();
            let at = bytes.len() / 3;
            bytes[at] ^= 0x20;
            std::fs::write(entry, bytes).unwrap();
        }
    });
}

#[test]
fn truncated_remote_entries_are_misses_and_replaced() {
    check_bad_entries_are_misses_and_replaced(|entries| {
        for entry in entries {
            let bytes = std::fs::read(entry).unwrap();
            std::fs::write(entry, &bytes[..bytes.len() - 1]).unwrap();
        }
    });
}

#[test]
fn swapped_remote_entries_are_misses_and_replaced() {
    check_bad_entries_are_misses_and_replaced(|entries| {
        // Each entry gets the next one's bytes: valid entries, under the wrong keys.
        let contents: Vec<Vec<u8>> = entries.iter().map(|e| std::fs::read(e).unwrap()).collect();
        for (i, entry) in entries.iter().enumerate() {
            std::fs::write(entry, &contents[(i + 1) % contents.len()]).unwrap();
        }
    });
}

/// Two cold builds of two checkouts upload to one server at once: both succeed, every
/// entry the server then holds is valid, and a third checkout compiles nothing.
#[test]
fn two_builds_uploading_at_once_leave_only_valid_entries() {
    let Some(server) = Nginx::start(Auth::Open) else { return };
    let program = chain(FILES);
    let (a, b) = (Checkout::new(&program), Checkout::new(&program));
    let spawn = |checkout: &Checkout| {
        checkout
            .command(&["build", "--message-format", "json", "--remote-cache", &server.url()], &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mini runs")
    };
    let (first, second) = (spawn(&a), spawn(&b));
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(finished(&stdout(&out))["remote"]["errors"], 0);
    }
    assert_eq!(std::fs::read(a.exe()).unwrap(), std::fs::read(b.exe()).unwrap());
    assert!(!server.entries().is_empty());
    assert!(server.entries().iter().all(|e| valid_entry(e)));
    let third = Checkout::new(&program);
    let (event, _) = third.build(&["--remote-cache", &server.url()], &[]);
    assert_eq!(compiled(&event), 0, "{event}");
    assert_eq!(third.output(), chain_output(FILES));
}

fn request(dir: &Path) -> BuildRequest {
    BuildRequest::executable(dir.join("main"))
}

/// A session for `checkout` whose remote runs `hook` after each request.
fn session_with_hook(checkout: &Checkout, url: &str, hook: impl Fn(Method) + Send + Sync + 'static) -> Session {
    let remote = Remote::new(RemoteSettings::new(url)).expect("a valid URL");
    remote.set_hook(hook);
    let mut session = Session::new(&checkout.path().join("main.mini")).expect("a session");
    session.set_remote(remote);
    session
}

/// nginx dies during a build — while it downloads, and while it uploads: the build ends
/// with the right executable and one warning; what the server kept is valid, and a later
/// checkout against the restarted server builds the right program.
#[test]
fn the_server_killed_in_the_middle_of_a_build_leaves_a_correct_build() {
    let Some(server) = Nginx::start(Auth::Open) else { return };
    let server = Arc::new(std::sync::Mutex::new(server));
    let url = server.lock().unwrap().url();
    let program = chain(FILES);

    // While uploading: killed right after the first upload.
    let cold = Checkout::new(&program);
    let killer = Arc::clone(&server);
    let mut session = session_with_hook(&cold, &url, move |method| {
        if method == Method::Put {
            killer.lock().unwrap().kill();
        }
    });
    let report = session.build(&request(cold.path())).expect("the build");
    assert!(report.success());
    let remote = report.remote.expect("a remote");
    // The other upload thread may finish a PUT or two before the kill lands.
    assert!(remote.warning.is_some() && remote.errors > 0, "{remote:?}");
    assert_eq!(cold.output(), chain_output(FILES));
    session.finish();

    let mut locked = server.lock().unwrap();
    locked.restart();
    assert!(locked.entries().iter().all(|e| valid_entry(e)), "a killed upload leaves nothing invalid");
    drop(locked);
    let warm = Checkout::new(&program);
    let (event, _) = warm.build(&["--remote-cache", &url], &[]);
    assert_eq!(warm.output(), chain_output(FILES));
    assert_eq!(remote_errors(&event), 0);

    // While downloading: killed once the shared index and a unit came.
    let fresh = Checkout::new(&program);
    let gets = AtomicUsize::new(0);
    let killer = Arc::clone(&server);
    let mut session = session_with_hook(&fresh, &url, move |method| {
        // Every hook waits for the kill: once it is done, no request succeeds, so at most
        // one more unit per download thread (8) comes after the second GET.
        let mut server = killer.lock().unwrap();
        if method == Method::Get && gets.fetch_add(1, Ordering::SeqCst) == 1 {
            server.kill();
        }
    });
    let report = session.build(&request(fresh.path())).expect("the build");
    let remote = report.remote.as_ref().expect("a remote");
    assert!((2..=10).contains(&remote.hits) && remote.warning.is_some(), "{remote:?}");
    assert!(!report.compiled.is_empty() && report.compiled.len() < 2 * FILES + 1, "{}", report.compiled.len());
    assert_eq!(std::fs::read(fresh.exe()).unwrap(), std::fs::read(warm.exe()).unwrap());
}

fn remote_errors(event: &Value) -> u64 {
    remote(event, "errors")
}

/// Watch mode turns a failed remote off, and tries it again once `retry_after` has
/// passed: here at once (zero), and not at all within an hour.
#[test]
fn watch_mode_tries_the_remote_again_after_a_while() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/cache/");
    let program = chain(3);
    for (retry_after, retried) in [(Duration::ZERO, true), (Duration::from_secs(3600), false)] {
        let checkout = Checkout::new(&program);
        let remote = Remote::new(RemoteSettings { retry_after, ..RemoteSettings::new(&url) }).unwrap();
        let mut session = Session::new(&checkout.path().join("main.mini")).unwrap();
        session.set_remote(remote);
        let mut watcher = mini::watch::Watcher::new(session, request(checkout.path()));
        let first = watcher.rebuild(None).expect("the first build");
        let warning = first.remote.as_ref().and_then(|r| r.warning.clone());
        assert!(warning.is_some_and(|w| w.contains("connection refused")), "{:?}", first.remote);

        let Some(server) = Nginx::start_on(Auth::Open, Some(port)) else { return };
        checkout.edit("lib/m1.mini", "return x * 2 + 1;", "return x * 2 + 100;");
        let second = watcher.rebuild(Some(&[checkout.path().join("lib/m1.mini")])).expect("the second build");
        assert_eq!(second.compiled, ["lib/m1.g"]);
        match retried {
            true => {
                assert!(second.remote.as_ref().is_some_and(|r| r.uploads > 0 && r.errors == 0), "{:?}", second.remote)
            }
            false => assert_eq!(second.remote, None, "the remote rests"),
        }
        assert_eq!(server.entries().is_empty(), !retried);
    }
}

/// Credentials stay out of help texts and error messages.
#[test]
fn credentials_are_never_printed() {
    let checkout = Checkout::new(&chain(3));
    let help = checkout.run_mini(&["build", "--help"], &[("MINI_REMOTE_CACHE", "http://u:Hidden-Pa55@h:1/")]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("MINI_REMOTE_CACHE") && !stdout(&help).contains("Hidden-Pa55"));
    let bad = checkout.run_mini(&["build", "--remote-cache", "https://u:Hidden-Pa55@h:1/"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("https://***@h:1/") && !stderr(&bad).contains("Hidden-Pa55"), "{}", stderr(&bad));
}
