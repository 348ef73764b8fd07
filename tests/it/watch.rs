//! Watch mode: the loop driven without file events (changes in, rebuild summaries and
//! executed queries out), one run of the real `mini watch` on real files, and
//! cancellation of a build by a newer edit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expect_test::expect;
use mini::driver::{BuildReport, BuildRequest, Emit, Session};
use mini::fault::{Action, Point};
use mini::watch::{Outcome, Watcher};
use mini_queries::source::Settings;

use crate::support::{Rng, write};

fn watcher(dir: &Path) -> Watcher {
    let session = Session::new(&dir.join("main.mini")).expect("session");
    Watcher::new(session, request(dir))
}

/// Builds `dir/main.mini` into `dir/main`, recording executed queries.
fn request(dir: &Path) -> BuildRequest {
    BuildRequest {
        emit: Emit::Exe,
        output: Some(dir.join("main")),
        settings: Settings::host(),
        jobs: 1,
        log_queries: true,
        deny_warnings: false,
    }
}

/// `main.mini` printing `lib.f(other.g())`, with `lib.f(x) = x + 1` and `other.g() = 10`.
fn write_three_files(d: &Path) {
    write(
        d,
        "main.mini",
        "import \"lib.mini\";\nimport \"other.mini\";\n\nfn main() i32 {\n    @print(lib.f(other.g()));\n    return 0;\n}\n",
    );
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    write(d, "other.mini", "pub fn g() i32 {\n    return 10;\n}\n");
}

fn run(dir: &Path) -> String {
    let out = mini::process::output(&mut Command::new(dir.join("main"))).expect("runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One line per rebuild: what was compiled, whether it linked, and errors.
fn summary(report: &BuildReport) -> String {
    if !report.success() {
        let errors: Vec<&str> = report.diagnostics.iter().map(|d| d.message.as_str()).collect();
        return format!("errors: {}", errors.join("; "));
    }
    format!("compiled [{}], linked {}", report.compiled.join(", "), report.linked)
}

#[test]
fn the_loop_rebuilds_only_what_each_change_touched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "// The library.\npub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    let mut w = watcher(d);
    let mut log = Vec::new();
    let mut step = |w: &mut Watcher, changed: &[&str]| {
        let paths: Vec<PathBuf> = changed.iter().map(|f| d.join(f)).collect();
        let report = w.rebuild(Some(&paths)).expect("rebuild runs");
        w.flush().expect("index written");
        log.push(summary(&report));
        report
    };

    let first = w.rebuild(None).unwrap();
    assert_eq!(summary(&first), "compiled [main.main, lib.f], linked true");
    assert_eq!(run(d), "2\n");

    // A file's first edit lowers its inputs' durability, which salsa does not backdate
    // across, so its dependents re-run once; the snapshots below are the steady state.
    write(d, "lib.mini", "// The library.\npub fn f(x: i32) i32 {\n    return x + 5;\n}\n");
    step(&mut w, &["lib.mini"]);
    assert_eq!(run(d), "6\n");

    write(d, "lib.mini", "// The library.\npub fn f(x: i32) i32 {\n    return x + 10;\n}\n");
    let body = step(&mut w, &["lib.mini"]);
    expect![[r#"
        parse_file(lib.mini)
        file_imports(lib.mini)
        file_functions(lib.mini)
        fn_zir(lib.f)
        fn_signature(lib.f)
        file_read_error(lib.mini)
        file_diagnostics(lib.mini)
        fn_check(lib.f)
        fn_air(lib.f)
        fn_input_bytes(lib.f)
        fn_contracts(lib.f)
        fn_hash(lib.f)
        unit_plan(unit 69)
        link_plan()
        fn_object(lib.f)"#]]
    .assert_eq(&body.executed.join("\n"));
    assert_eq!(run(d), "11\n");

    write(d, "lib.mini", "// The library, reworded.\npub fn f(x: i32) i32 {\n    return x + 10;\n}\n");
    let comment = step(&mut w, &["lib.mini"]);
    expect![[r#"
        parse_file(lib.mini)
        file_imports(lib.mini)
        file_functions(lib.mini)
        fn_zir(lib.f)
        file_read_error(lib.mini)
        file_diagnostics(lib.mini)"#]]
    .assert_eq(&comment.executed.join("\n"));

    // A deleted file gives its errors; the build recovers when it returns.
    std::fs::remove_file(d.join("lib.mini")).unwrap();
    step(&mut w, &["lib.mini"]);
    write(d, "lib.mini", "// The library, reworded.\npub fn f(x: i32) i32 {\n    return x + 10;\n}\n");
    step(&mut w, &["lib.mini"]);

    // A newly imported file is read although the watcher never mentioned it.
    write(d, "extra.mini", "pub fn g() i32 {\n    return 5;\n}\n");
    write(
        d,
        "main.mini",
        "import \"lib.mini\";\nimport \"extra.mini\";\n\nfn main() i32 {\n    @print(lib.f(extra.g()));\n    return 0;\n}\n",
    );
    step(&mut w, &["main.mini"]);
    assert_eq!(run(d), "15\n");

    // Files that are not part of the program change nothing.
    write(d, "notes.txt", "not a source file");
    step(&mut w, &["notes.txt"]);

    expect![[r#"
        compiled [lib.f], linked true
        compiled [lib.f], linked true
        compiled [], linked false
        errors: cannot read imported file "lib.mini": No such file or directory
        compiled [], linked false
        compiled [main.main, extra.g], linked true
        compiled [], linked false"#]]
    .assert_eq(&log.join("\n"));
}

#[test]
fn an_edit_during_a_build_cancels_it_and_the_last_edit_wins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    // Enough functions that the cold build takes a while.
    let mut main = String::from("fn main() i32 {\n    var t: i32 = 0;\n");
    for i in 0..300 {
        write(&d, &format!("m{i}.mini"), &format!("pub fn f(x: i32) i32 {{\n    return x + {i};\n}}\n"));
        main = format!("import \"m{i}.mini\" as m{i};\n{main}    t += m{i}.f(1);\n");
    }
    main.push_str("    @print(t);\n    return 0;\n}\n");
    write(&d, "main.mini", &main);

    let w = watcher(&d);
    let token = w.session().cancellation_token();
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = {
        let d = d.clone();
        std::thread::spawn(move || {
            let mut w = w;
            let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.rebuild(None)));
            tx.send(first.is_err()).unwrap();
            // The watch loop then rebuilds with everything that changed.
            let report = w.rebuild(Some(&[d.join("m0.mini")])).expect("rebuild runs");
            assert!(report.success());
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    write(&d, "m0.mini", "pub fn f(x: i32) i32 {\n    return x + 1000;\n}\n");
    token.cancel();
    let was_cancelled = rx.recv().unwrap();
    worker.join().unwrap();
    // Whether or not the first build was still running, the binary has the last edit.
    let expected: i32 = (0..300).map(|i| 1 + i).sum::<i32>() + 1000;
    assert_eq!(run(&d), format!("{expected}\n"), "cancelled: {was_cancelled}");
}

/// Once enough files are text, the watcher starts over from the disk cache: after that
/// an edit reads and parses only the edited file, and summaries still go stale when an
/// import's interface changes.
#[test]
fn after_a_rebase_the_watcher_works_from_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_three_files(d);
    let mut w = watcher(d);
    w.set_rebase_at(0);
    assert!(w.rebuild(None).unwrap().success());
    assert!(w.flush().expect("flushed"), "three text files are more than none: rebased");
    assert_eq!(w.session().text_files(), 0);

    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 2;\n}\n");
    let body = w.rebuild(Some(&[d.join("lib.mini")])).unwrap();
    assert_eq!(summary(&body), "compiled [lib.f], linked true");
    let parsed: Vec<&String> = body.executed.iter().filter(|q| q.starts_with("parse_file")).collect();
    assert_eq!(parsed, ["parse_file(lib.mini)"]);
    // The file trades its summary for its text: the queries that read its summary
    // re-run — its group's imports, its chunk's diagnostics, its unit's plan — and find
    // the same answers, so no query over the whole program re-runs (each is verified
    // through one edge per group, chunk or unit, not one per file).
    expect![[r#"
        file_imports(lib.mini)
        parse_file(lib.mini)
        file_interface(lib.mini)
        file_functions(lib.mini)
        fn_signature(lib.f)
        fn_zir(lib.f)
        group_imports(group 513)
        file_read_error(lib.mini)
        program_files()
        program_chunks()
        program_diagnostics()
        chunk_diagnostics(files 0..3)
        file_diagnostics(lib.mini)
        fn_check(lib.f)
        file_scope(lib.mini)
        program_units()
        link_plan()
        unit_plan(unit 69)
        fn_hash(lib.f)
        fn_input_bytes(lib.f)
        fn_air(lib.f)
        fn_contracts(lib.f)
        fn_object(lib.f)
        entry_object()
        start_hash()"#]]
    .assert_eq(&body.executed.join("\n"));
    assert_eq!(run(d), "12\n");
    assert!(w.flush().expect("flushed"));

    // A new parameter: the caller, a summary in the new session, is checked again.
    write(d, "lib.mini", "pub fn f(x: i32, y: i32) i32 {\n    return x + y;\n}\n");
    let stale = w.rebuild(Some(&[d.join("lib.mini")])).unwrap();
    assert!(summary(&stale).starts_with("errors: "), "main.main calls f with one argument: {}", summary(&stale));
    write(
        d,
        "main.mini",
        "import \"lib.mini\";\nimport \"other.mini\";\n\nfn main() i32 {\n    @print(lib.f(other.g(), 5));\n    return 0;\n}\n",
    );
    let signature = w.rebuild(Some(&[d.join("main.mini")])).unwrap();
    assert_eq!(summary(&signature), "compiled [main.main, lib.f], linked true");
    assert_eq!(run(d), "15\n");
}

/// The one summaries file of a program's cache, and its bytes.
fn summaries_log(dir: &Path) -> Vec<u8> {
    let logs: Vec<PathBuf> = std::fs::read_dir(dir.join(".mini_cache").join("summaries"))
        .expect("a summaries directory")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "one program, one setting: {logs:?}");
    std::fs::read(&logs[0]).unwrap()
}

/// A build in a new process: it must find the index the watcher left up to date.
fn assert_no_op(dir: &Path) {
    let mut session = Session::new(&dir.join("main.mini")).expect("session");
    let report = session.build(&request(dir)).expect("builds");
    assert!(report.success() && report.compiled.is_empty() && !report.linked, "{}", summary(&report));
    assert_eq!(report.executed, Vec::<String>::new(), "the no-op path runs no query");
}

/// A watcher's index write after a small edit appends the edited file's summary to
/// the summaries file and leaves every other one where it is, instead of writing all of
/// them again; the index it leaves is as good as a full write's. When another build
/// replaced the index meanwhile, the watcher writes it whole.
#[test]
fn a_watchers_index_write_after_an_edit_appends_only_that_files_summary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_three_files(d);
    let mut w = watcher(d);
    assert!(w.rebuild(None).unwrap().success());
    w.flush().unwrap();

    let before = summaries_log(d);
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 2;\n}\n");
    assert!(w.rebuild(Some(&[d.join("lib.mini")])).unwrap().success());
    w.flush().unwrap();
    let after = summaries_log(d);
    assert_eq!(&after[..before.len()], &before[..], "what was there is untouched");
    let appended = after.len() - before.len();
    assert!(appended > 0 && appended < before.len() / 2, "one summary of three appended: {appended} bytes");
    assert_eq!(run(d), "12\n");
    // (A build of another process may write the index too: a no-op restamps files
    // whose stamps it could not trust yet.)
    assert_no_op(d);

    // Another build replaces the index; the watcher's next write does not patch it.
    write(d, "other.mini", "pub fn g() i32 {\n    return 20;\n}\n");
    let mut other = Session::new(&d.join("main.mini")).unwrap();
    assert!(other.build(&request(d)).unwrap().success());
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 3;\n}\n");
    assert!(w.rebuild(Some(&[d.join("lib.mini"), d.join("other.mini")])).unwrap().success());
    w.flush().unwrap();
    assert_eq!(run(d), "23\n");
    assert_no_op(d);
}

/// An edit that arrives after a build's last query (while it links, say) cancels
/// nothing; the next build, which reads that edit, must not be cancelled by it.
#[test]
fn a_cancellation_between_builds_does_not_cancel_the_next_build() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    let mut w = watcher(d);
    assert!(w.rebuild(None).expect("builds").success());
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 2;\n}\n");
    w.session().cancellation_token().cancel();
    let report = w.rebuild(Some(&[d.join("lib.mini")])).expect("builds");
    assert_eq!(summary(&report), "compiled [lib.f], linked true");
    assert_eq!(run(d), "3\n");
}

/// An edit the watcher reports is read unless the file's stamp proves it unchanged: one
/// that keeps the size and puts the old modification time back does not.
#[test]
fn a_reported_edit_that_restores_the_mtime_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    let lib = d.join("lib.mini");
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options().write(true).open(&lib).unwrap().set_modified(old).unwrap();
    let mut w = watcher(d);
    assert!(w.rebuild(None).expect("builds").success());
    std::fs::write(&lib, "pub fn f(x: i32) i32 {\n    return x + 7;\n}\n").unwrap();
    std::fs::File::options().write(true).open(&lib).unwrap().set_modified(old).unwrap();
    let report = w.rebuild(Some(std::slice::from_ref(&lib))).expect("builds");
    assert_eq!(summary(&report), "compiled [lib.f], linked true");
    assert_eq!(run(d), "8\n");
}

/// A running `mini watch`, killed if a failing test leaves it running.
struct WatchProcess(std::process::Child);

impl Drop for WatchProcess {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `mini watch` in `dir`, with the faults `MINI_TEST_FAULT` arms (see `mini::fault`).
fn spawn_watch(dir: &Path, fault: Option<&str>) -> WatchProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mini"));
    command.args(["watch"]).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::piped()).env_remove("MINI_LOG");
    if let Some(fault) = fault {
        command.env("MINI_TEST_FAULT", fault);
    }
    WatchProcess(command.spawn().unwrap())
}

/// Polls until `what` holds; fails after a minute.
#[track_caller]
fn wait_for(mut what: impl FnMut() -> bool, doing: &str) {
    let start = Instant::now();
    while !what() {
        assert!(start.elapsed() < Duration::from_secs(60), "{doing}: not in a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The program's output, or nothing while there is no executable.
fn output(dir: &Path) -> String {
    if dir.join("main").exists() { run(dir) } else { String::new() }
}

/// Stops `mini watch` with Ctrl-C; its exit status and what it printed.
fn interrupt(mut watch: WatchProcess) -> (Option<i32>, String) {
    let child = &mut watch.0;
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    (exit.code(), log)
}

#[test]
fn mini_watch_rebuilds_real_files_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    let child = spawn_watch(d, None);
    wait_for(|| output(d) == "2\n", "the first build");
    // Save the way many editors do: a temporary file renamed over the original.
    write(d, "lib.mini.swp", "pub fn f(x: i32) i32 {\n    return x + 41;\n}\n");
    std::fs::rename(d.join("lib.mini.swp"), d.join("lib.mini")).unwrap();
    wait_for(|| output(d) == "42\n", "the rebuild");

    let (code, log) = interrupt(child);
    assert_eq!(code, Some(130), "{log}");
    let root = d.canonicalize().unwrap();
    let banner =
        format!("Watching main.mini and the files it imports: .mini files under {} (Ctrl-C to stop)\n", root.display());
    assert!(log.starts_with(&banner), "{log}");
    assert!(log.contains("Rebuilt in"), "{log}");
    assert!(log.contains("1 of 2 functions compiled (lib.f)"), "{log}");
}

/// A cancellation that lands in the index write after a build (a newer edit arriving
/// while it linked) used to end the compiler thread silently: the watcher stayed alive
/// and never built again. It must go on building.
#[test]
fn mini_watch_keeps_building_after_a_cancelled_index_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    let child = spawn_watch(d, Some("index-write:cancel"));
    wait_for(|| output(d) == "2\n", "the first build");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 41;\n}\n");
    wait_for(|| output(d) == "42\n", "the rebuild after a cancelled index write");
    let (code, log) = interrupt(child);
    assert_eq!(code, Some(130), "{log}");
    assert!(!log.contains("internal compiler error"), "{log}");
}

/// A panic in the compiler thread — here while writing the index, after the build was
/// reported — is a bug said out loud: status 101 and a message, not a watcher that
/// silently stops building.
#[test]
fn mini_watch_exits_with_101_when_its_compiler_thread_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "fn main() i32 {\n    @print(1);\n    return 0;\n}\n");
    let mut watch = spawn_watch(d, Some("index-write:panic"));
    let child = &mut watch.0;
    wait_for(|| child.try_wait().unwrap().is_some(), "mini watch exits");
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(101), "{log}");
    assert!(log.contains("mini: internal compiler error: injected fault at index-write"), "{log}");
}

/// Under `--message-format json`, `mini watch` says each build's outcome as a
/// `rebuild-finished` event — a build that could not run, and a compiler bug, with
/// `error` — on stdout, or on stderr with `--run`, whose program has stdout.
#[test]
fn mini_watch_says_every_outcome_as_json_events() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "fn main() i32 {\n    @print(1);\n    return 0;\n}\n");
    let json = |text: &str| -> Vec<serde_json::Value> {
        text.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    for run in [false, true] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mini"));
        command.args(["watch", "--message-format", "json"]).current_dir(d).env_remove("MINI_LOG");
        if run {
            command.arg("--run");
        }
        command.env("MINI_TEST_FAULT", "index-write:panic").stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut watch = WatchProcess(command.spawn().unwrap());
        let child = &mut watch.0;
        wait_for(|| child.try_wait().unwrap().is_some(), "mini watch exits");
        let (mut out, mut err) = (String::new(), String::new());
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(101), "{err}");
        let (events, other) = if run { (json(&err), json(&out)) } else { (json(&out), json(&err)) };
        assert_eq!(other, Vec::<serde_json::Value>::new(), "--run {run}");
        assert_eq!(events.len(), 2, "--run {run}: {events:?}");
        assert_eq!((&events[0]["reason"], &events[0]["success"]), (&"rebuild-finished".into(), &true.into()));
        assert_eq!(
            events[1],
            serde_json::json!({
                "reason": "rebuild-finished", "success": false,
                "error": "internal compiler error: injected fault at index-write (this is a bug in mini; please report it)",
            })
        );
    }

    // A build that cannot run says so, and watching goes on.
    let mut command = Command::new(env!("CARGO_BIN_EXE_mini"));
    command.args(["watch", "--message-format", "json", "missing.mini"]).current_dir(d).env_remove("MINI_LOG");
    let mut watch = WatchProcess(command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(watch.0.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&line).unwrap(),
        serde_json::json!({
            "reason": "rebuild-finished", "success": false, "error": "cannot read 'missing.mini': No such file or directory",
        })
    );
    let (code, log) = interrupt(watch);
    assert_eq!(code, Some(130), "{log}");
}

/// `mini watch` on a terminal shows the progress of its first build, the cold one, as
/// `mini build` does, erased before its summary; the rebuilds after it, small, show none.
#[test]
fn mini_watch_shows_the_progress_of_its_first_build() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut main = String::from("fn main() i32 {\n    var total: i32 = 0;\n");
    for i in 0..30 {
        main.push_str(&format!("    total += f{i}(1);\n"));
    }
    main.push_str("    @print(total);\n    return 0;\n}\n");
    for i in 0..30 {
        main.push_str(&format!("fn f{i}(x: i32) i32 {{\n    return x * {i};\n}}\n"));
    }
    write(d, "main.mini", &main);
    let (terminal, slave) = crate::support::pty();
    let child = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["watch", "-j", "1"])
        .current_dir(d)
        .env("MINI_PROGRESS_DELAY_MS", "0")
        .env_remove("MINI_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let watch = WatchProcess(child);
    let shown = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let shown = shown.clone();
        let mut terminal = terminal;
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = terminal.read(&mut buffer) {
                shown.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
    };
    let rebuilds = || shown.lock().unwrap().matches("Rebuilt in").count();
    wait_for(|| rebuilds() == 1, "the first build");
    write(d, "main.mini", &main.replace("return x * 7;", "return x * 70;"));
    wait_for(|| rebuilds() == 2, "the rebuild");
    assert_eq!(interrupt_quietly(watch), Some(130));
    reader.join().unwrap();
    let shown = shown.lock().unwrap().clone();
    let (first, rest) = shown.split_once("Rebuilt in").unwrap();
    assert!(first.contains("\r\x1b[KChecking…"), "{first:?}");
    assert!(first.ends_with("\r\x1b[KCompiling: 31 of 31 functions\r\x1b[KLinking…\r\x1b[K"), "{first:?}");
    assert!(!rest.contains('\x1b'), "no progress after the first build: {rest:?}");
    assert!(rest.contains("1 of 31 functions compiled (main.f7)"), "{rest:?}");
}

/// Stops `mini watch` with Ctrl-C when its stderr is not a pipe; its exit status.
fn interrupt_quietly(mut watch: WatchProcess) -> Option<i32> {
    let child = &mut watch.0;
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    child.wait().unwrap().code()
}

/// A directory swapped for another (`mv lib lib_old; mv lib_v2 lib`) changes the files
/// under it without an event for any of them: the watcher must look at everything.
#[test]
fn mini_watch_sees_a_directory_swapped_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib/a.mini\";\n\nfn main() i32 {\n    @print(a.f());\n    return 0;\n}\n");
    write(d, "lib/a.mini", "pub fn f() i32 {\n    return 1;\n}\n");
    write(d, "lib_v2/a.mini", "pub fn f() i32 {\n    return 2;\n}\n");
    let child = spawn_watch(d, None);
    wait_for(|| output(d) == "1\n", "the first build");
    std::fs::rename(d.join("lib"), d.join("lib_old")).unwrap();
    std::fs::rename(d.join("lib_v2"), d.join("lib")).unwrap();
    wait_for(|| output(d) == "2\n", "the rebuild after the swap");
    let (code, log) = interrupt(child);
    assert_eq!(code, Some(130), "{log}");
}

/// What `mini watch`'s compiler thread does with a round's outcome, condensed.
fn outcome_summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Built(report) => summary(report),
        Outcome::Failed(error) => format!("failed: {error:#}"),
        Outcome::Cancelled => "cancelled".to_string(),
    }
}

/// Runs rounds as `mini watch` does — a cancelled build is built again with the same
/// changes — until one is not cancelled; returns each round's outcome.
fn rounds(w: &mut Watcher, changed: &[PathBuf]) -> Vec<String> {
    let mut log = Vec::new();
    loop {
        let mut cancelled = false;
        w.round(Some(changed), |_, outcome| {
            cancelled = matches!(outcome, Outcome::Cancelled);
            log.push(outcome_summary(&outcome));
        })
        .expect("no crash");
        if !cancelled {
            return log;
        }
        assert!(log.len() < 5, "cancelled again and again: {log:?}");
    }
}

/// The executable of a clean build of the program in `dir` (a new session, no cache).
fn clean_executable(dir: &Path) -> Vec<u8> {
    let mut session = Session::new(&dir.join("main.mini")).expect("session");
    session.disable_cache();
    let request = BuildRequest::executable(dir.join("clean"));
    let report = session.build(&request).expect("the clean build runs");
    assert!(report.success(), "{:#?}", report.diagnostics);
    std::fs::read(dir.join("clean")).unwrap()
}

/// After the watcher's builds, a new process (here a new session) over the same cache
/// must find the index current: nothing to compile, the same executable.
#[track_caller]
fn assert_index_is_current(dir: &Path) {
    let before = std::fs::read(dir.join("main")).unwrap();
    let mut session = Session::new(&dir.join("main.mini")).expect("session");
    let request = BuildRequest::executable(dir.join("main"));
    let report = session.build(&request).expect("builds");
    assert_eq!(summary(&report), "compiled [], linked false", "the index is the last build's");
    assert!(std::fs::read(dir.join("main")).unwrap() == before);
}

/// A newer edit cancels whatever the compiler thread is running. At every point of a
/// round — reading, checking, generating code, just before the link (the cancellation
/// then lands in the index write), writing the index, starting over from the disk
/// cache — the watcher recovers: the next build has every change, its executable is a
/// clean build's, and the disk index ends up current.
#[test]
fn a_cancellation_at_any_point_of_a_round_is_recovered() {
    let points = [
        (Point::AfterStat, "cancelled, compiled [lib.f], linked true"),
        (Point::AfterScan, "cancelled, compiled [lib.f], linked true"),
        (Point::AfterDiagnostics, "cancelled, compiled [lib.f], linked true"),
        (Point::Codegen, "cancelled, compiled [lib.f], linked true"),
        (Point::BeforeLink, "compiled [lib.f], linked true"),
        (Point::IndexWrite, "compiled [lib.f], linked true"),
        (Point::Rebase, "compiled [lib.f], linked true"),
    ];
    for (point, expected) in points {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "main.mini",
            "import \"lib.mini\";\nimport \"other.mini\";\n\nfn main() i32 {\n    @print(lib.f(other.g()));\n    return 0;\n}\n",
        );
        write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
        write(d, "other.mini", "pub fn g() i32 {\n    return 10;\n}\n");
        let lib = d.join("lib.mini");
        let mut w = watcher(d);
        // Start over from the disk cache after every build, so that rounds rebase.
        w.set_rebase_at(0);
        assert_eq!(rounds(&mut w, &[]), ["compiled [main.main, lib.f, other.g], linked true"]);

        write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 2;\n}\n");
        w.session().faults().arm(point, Action::Cancel);
        let log = rounds(&mut w, std::slice::from_ref(&lib));
        assert_eq!(log.join(", "), expected, "{point:?}");
        assert!(w.session().faults().is_empty(), "{point:?}: the fault fired");
        assert_eq!(run(d), "12\n", "{point:?}");

        // The watcher goes on, and a new process finds what it left consistent.
        write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 3;\n}\n");
        assert_eq!(rounds(&mut w, std::slice::from_ref(&lib)), ["compiled [lib.f], linked true"], "{point:?}");
        assert_eq!(run(d), "13\n", "{point:?}");
        assert!(std::fs::read(d.join("main")).unwrap() == clean_executable(d), "{point:?}");
        assert_index_is_current(d);
    }
}

/// A bug in the compiler thread is reported as one, wherever it happens in a round —
/// in particular after the build was reported, while writing the index or rebasing.
#[test]
fn a_panic_at_any_point_of_a_round_is_a_crash_not_silence() {
    for point in [Point::AfterScan, Point::Codegen, Point::IndexWrite, Point::Rebase] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
        write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
        let mut w = watcher(d);
        w.set_rebase_at(0);
        w.session().faults().arm(point, Action::Panic);
        let crash = w.round(None, |_, _| {}).expect_err("a crash");
        assert_eq!(crash.0, format!("injected fault at {}", point.name()));
    }
}

/// Bursts of deleting and recreating imported files — ten operations over five files,
/// a rebuild after one to three of them, a newer edit cancelling some rounds at a
/// random point — never stop the watcher, and once the files are back its executable
/// is a clean build's and the disk index is current.
#[test]
fn bursts_of_deleting_and_recreating_imports_end_at_a_clean_build() {
    let points = [
        Point::AfterStat,
        Point::AfterScan,
        Point::AfterDiagnostics,
        Point::Codegen,
        Point::BeforeLink,
        Point::IndexWrite,
        Point::Rebase,
    ];
    for seed in [0x5eed_u64, 0xb0057, 0xdead_10cc] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut main = String::new();
        for i in 0..5 {
            main.push_str(&format!("import \"m{i}.mini\";\n"));
            write(d, &format!("m{i}.mini"), &format!("pub fn f(x: i32) i32 {{\n    return x + {i};\n}}\n"));
        }
        main.push_str(
            "\nfn main() i32 {\n    @print(m0.f(1) + m1.f(1) + m2.f(1) + m3.f(1) + m4.f(1));\n    return 0;\n}\n",
        );
        write(d, "main.mini", &main);
        let mut w = watcher(d);
        w.set_rebase_at(2);
        assert_eq!(
            rounds(&mut w, &[]).last().map(String::as_str),
            Some("compiled [main.main, m0.f, m1.f, m2.f, m3.f, m4.f], linked true")
        );

        let mut rng = Rng(seed);
        let mut values = [0, 1, 2, 3, 4];
        let mut changed = Vec::new();
        let mut log = Vec::new();
        for op in 0..10 {
            let i = rng.below(5);
            let path = d.join(format!("m{i}.mini"));
            if path.exists() {
                std::fs::remove_file(&path).unwrap();
            } else {
                values[i] = rng.below(100);
                write(
                    d,
                    &format!("m{i}.mini"),
                    &format!("pub fn f(x: i32) i32 {{\n    return x + {};\n}}\n", values[i]),
                );
            }
            changed.push(path);
            if rng.below(2) == 0 || op == 9 {
                if rng.below(2) == 0 && w.session().faults().is_empty() {
                    w.session().faults().arm(points[rng.below(points.len())], Action::Cancel);
                }
                log.extend(rounds(&mut w, &std::mem::take(&mut changed)));
            }
        }
        // Every file back.
        for (i, value) in values.iter().enumerate() {
            let path = d.join(format!("m{i}.mini"));
            if !path.exists() {
                write(d, &format!("m{i}.mini"), &format!("pub fn f(x: i32) i32 {{\n    return x + {value};\n}}\n"));
                changed.push(path);
            }
        }
        let last = rounds(&mut w, &changed);
        let context = format!("seed {seed:#x}: {log:?} then {last:?}");
        assert!(last.last().is_some_and(|l| l.starts_with("compiled")), "{context}");
        let expected: usize = values.iter().map(|v| v + 1).sum();
        assert_eq!(run(d), format!("{expected}\n"), "{context}");
        assert!(std::fs::read(d.join("main")).unwrap() == clean_executable(d), "{context}");
        // A fault armed for a point the broken builds never reached may still be
        // armed; an index whose writing was cancelled is written by the next build.
        w.session().faults().clear();
        assert_eq!(rounds(&mut w, &[]), ["compiled [], linked false"], "{context}");
        assert_index_is_current(d);
    }
}

/// A directory renamed, with the imports that named it retargeted: whether the watcher
/// hears of every file or only that something moved (`Change::Everything`), the next
/// build is a clean build's, and so is the one after renaming it back.
#[test]
fn a_renamed_directory_with_retargeted_imports_builds_like_a_clean_build() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let main = |lib: &str| {
        format!(
            "import \"{lib}/a.mini\";\nimport \"{lib}/b.mini\";\n\nfn main() i32 {{\n    @print(a.f() + b.g());\n    return 0;\n}}\n"
        )
    };
    write(d, "main.mini", &main("lib"));
    write(d, "lib/a.mini", "pub fn f() i32 {\n    return 1;\n}\n");
    write(d, "lib/b.mini", "import \"a.mini\";\n\npub fn g() i32 {\n    return a.f() + 10;\n}\n");
    let mut w = watcher(d);
    assert_eq!(rounds(&mut w, &[]), ["compiled [main.main, lib/a.f, lib/b.g], linked true"]);
    assert_eq!(run(d), "12\n");

    // Every file reported.
    std::fs::rename(d.join("lib"), d.join("pkg")).unwrap();
    write(d, "main.mini", &main("pkg"));
    let files: Vec<PathBuf> =
        ["main.mini", "lib/a.mini", "lib/b.mini", "pkg/a.mini", "pkg/b.mini"].iter().map(|f| d.join(f)).collect();
    assert_eq!(rounds(&mut w, &files), ["compiled [main.main, pkg/a.f, pkg/b.g], linked true"]);
    assert_eq!(run(d), "12\n");
    assert!(std::fs::read(d.join("main")).unwrap() == clean_executable(d));

    // An edit in the renamed directory.
    write(d, "pkg/a.mini", "pub fn f() i32 {\n    return 2;\n}\n");
    assert_eq!(rounds(&mut w, &[d.join("pkg/a.mini")]), ["compiled [pkg/a.f], linked true"]);
    assert_eq!(run(d), "14\n");

    // Renamed back: first without the imports (an error), then with them; the watcher
    // only heard that something moved.
    std::fs::rename(d.join("pkg"), d.join("lib")).unwrap();
    let mut log = Vec::new();
    w.round(None, |_, outcome| log.push(outcome_summary(&outcome))).expect("no crash");
    assert!(log[0].starts_with("errors: cannot read imported file \"pkg/a.mini\""), "{log:?}");
    write(d, "main.mini", &main("lib"));
    w.round(None, |_, outcome| log.push(outcome_summary(&outcome))).expect("no crash");
    assert_eq!(log[1], "compiled [lib/a.f], linked true", "the others are in the cache");
    assert_eq!(run(d), "14\n");
    assert!(std::fs::read(d.join("main")).unwrap() == clean_executable(d));
    assert_index_is_current(d);
}

/// Every index head in the cache of the program in `dir`, with its bytes.
fn index_files(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut heads: Vec<_> = std::fs::read_dir(dir.join(".mini_cache/index"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name(), std::fs::read(entry.path()).unwrap())
        })
        .collect();
    heads.sort();
    assert!(!heads.is_empty(), "the first build wrote an index");
    heads
}

/// An index whose writing a cancellation stopped is written when the watcher ends
/// (Ctrl-C), if no build came after to write it: a later one-shot build finds it current.
#[test]
fn an_index_write_cancelled_before_the_watcher_ends_is_written_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    let mut w = watcher(d);
    assert_eq!(rounds(&mut w, &[]), ["compiled [main.main, lib.f], linked true"]);
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 2;\n}\n");
    let before = index_files(d);
    w.session().faults().arm(Point::IndexWrite, Action::Cancel);
    assert_eq!(rounds(&mut w, &[d.join("lib.mini")]), ["compiled [lib.f], linked true"]);
    // The cancellation stopped the write: the index is still the first build's.
    assert_eq!(index_files(d), before, "a cancelled index write writes nothing");
    // As at Ctrl-C: the main loop cancels whatever runs, then lets go.
    w.canceller().cancel();
    w.finish().expect("no crash");
    assert_index_is_current(d);
}

/// `mini watch` with its stderr collected line by line as it comes.
struct Watching {
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Watching {
    fn start(dir: &Path, args: &[&str]) -> Watching {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mini"))
            .arg("watch")
            .args(args)
            .current_dir(dir)
            .env_remove("MINI_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(n @ 1..) = stderr.read(&mut buffer) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Watching { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `text` `times` times.
    #[track_caller]
    fn wait_for(&self, text: &str, times: usize) {
        let start = Instant::now();
        while self.log().matches(text).count() < times {
            assert!(start.elapsed() < Duration::from_secs(60), "no {text:?} in:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C, and the whole log.
    fn stop(mut self) -> String {
        let status = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert_eq!(self.child.wait().unwrap().code(), Some(130), "{}", self.log());
        self.log()
    }
}

#[test]
fn watch_run_says_when_it_stops_a_run_that_is_still_going() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Runs until stopped.
    write(d, "main.mini", "fn main() void {\n    while (true) {\n    }\n}\n");
    let watching = Watching::start(d, &["--run"]);
    // The run starts right after the summary line of its build.
    watching.wait_for("Rebuilt in", 1);
    write(d, "main.mini", "fn main() i32 {\n    return 7;\n}\n");
    watching.wait_for("[program exited with status 7]", 1);
    let log = watching.stop();
    let lines: Vec<&str> = log.lines().filter(|l| !l.starts_with("Rebuilt in")).collect();
    assert_eq!(
        lines[1..],
        ["[stopped the previous run: the program was rebuilt]", "[program exited with status 7]"],
        "{log}"
    );
}

#[test]
fn watch_sees_and_names_directories_of_imports_outside_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "app/main.mini", "import \"../shared/lib.mini\";\n\nfn main() i32 {\n    return lib.f();\n}\n");
    write(d, "shared/lib.mini", "pub fn f() i32 {\n    return 1;\n}\n");
    let watching = Watching::start(&d.join("app"), &["-o", "prog", "--run"]);
    watching.wait_for("[program exited with status 1]", 1);
    // An edit there is seen, and is an edit of the module `../shared/lib`.
    write(d, "shared/lib.mini", "pub fn f() i32 {\n    return 2;\n}\n");
    watching.wait_for("[program exited with status 2]", 1);
    let log = watching.stop();
    assert!(log.contains("Rebuilt in") && log.contains("1 of 2 functions compiled (../shared/lib.f)"), "{log}");
    let root = d.canonicalize().unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| !l.starts_with("Rebuilt in") && !l.starts_with("[program")).collect();
    assert_eq!(
        lines,
        [
            format!(
                "Watching main.mini and the files it imports: .mini files under {} (Ctrl-C to stop)",
                root.join("app").display()
            ),
            format!("Watching also {} (imported files outside the entry's directory)", root.join("shared").display()),
        ],
        "{log}"
    );
}

#[test]
fn quiet_watch_says_only_what_went_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "fn main() i32 {\n    return 0;\n}\n");
    let watching = Watching::start(d, &["-q", "--run"]);
    // A program that fails is reported; one that succeeds, before it, was not.
    write(d, "main.mini", "fn main() i32 {\n    return 7;\n}\n");
    watching.wait_for("[program exited with status 7]", 1);
    assert_eq!(watching.stop(), "[program exited with status 7]\n");
}
