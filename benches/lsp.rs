//! The language server on the tutorial-shaped program of 10,001 files: `mini lsp` as a
//! child process, spoken to over its standard input and output as an editor does:
//!
//! - from `initialize` to the first diagnostics of an opened file, with no disk cache and
//!   with a warm one (after a build);
//! - after each of 1,000 edits of the open file, the time from the change notification to
//!   its diagnostics (the 50 ms quiet period included);
//! - hover, definition and completion round trips, each the first request after an edit;
//! - the server's resident memory every 100 edits.
//!
//! ```text
//! cargo bench --bench lsp                          # 10,001 files, 1,000 edits
//! cargo bench --bench lsp -- --files 1001 --edits 100
//! ```

#[path = "support/generate.rs"]
mod generate;

use std::path::Path;
use std::time::{Duration, Instant};

use generate::{Program, Shape};
use lsp_server::{Message, Notification, Request, RequestId};
use mini::lsp::convert::uri_of;
use serde_json::{Value, json};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --benches` runs benchmark binaries without `--bench`: stay quick.
        println!("lsp: run me with `cargo bench --bench lsp`");
        return;
    }
    mini::process::no_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    let number = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let files = number("--files", 10_001).max(3);
    let edits = number("--edits", 1_000).max(1);

    let mut program = Program::generate(Shape::Tree, files, 1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-out/lsp/tree-{files}"));
    let _ = std::fs::remove_dir_all(&dir);
    program.write_mini(&dir).expect("write the program");
    // A file a quarter into the tree: it imports two files and one file imports it.
    let open = files / 4;
    let path = Program::module(open);
    println!("### mini lsp: tree of {files} files, {} functions; the open file is {path}\n", program.function_count());

    let cold = first_diagnostics(&dir, &path);
    build(&dir);
    age(&dir, &program);
    let warm = first_diagnostics(&dir, &path);
    println!("| from initialize to the first diagnostics of {path} | |");
    println!("|---|---:|");
    println!("| no disk cache (every file read and parsed) | {} |", ms(cold));
    println!("| warm disk cache (summaries) | {} |", ms(warm));

    let mut client = Client::start(&dir);
    client.open(&path, &program.render_mini(open), 1);
    client.diagnostics(1);
    // Positions in the open file: the call into its first import, `m{c}.f{c}_0(`; edits
    // change an addend on another line, so they stay put.
    let text = program.render_mini(open);
    let child = program.files[open].imports[0];
    let call = format!("m{child}.f{child}_0(");
    let at = text.find(&call).expect("a call into an import");
    let line = text[..at].matches('\n').count() as u32;
    let column = (at - text[..at].rfind('\n').map_or(0, |i| i + 1)) as u32;
    let uri = uri_of(&dir.join(&path));
    let position =
        |offset: u32| json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": column + offset}});
    let dot = call.find('.').unwrap() as u32;
    let requests =
        [("textDocument/hover", dot + 2), ("textDocument/definition", dot + 2), ("textDocument/completion", dot + 1)];
    let mut timings: Vec<Vec<Duration>> = vec![Vec::new(); requests.len()];
    let mut after_change = Vec::with_capacity(edits);
    let mut rss = vec![(0, client.rss_mib())];
    for edit in 1..=edits {
        program.set_addend((open, 0), 1000 + edit as i32);
        let version = edit as i32 + 1;
        let start = Instant::now();
        client.change(&path, &program.render_mini(open), version);
        let diagnostics = client.diagnostics(version);
        after_change.push(start.elapsed());
        assert_eq!(diagnostics, json!([]), "edit {edit}");
        // Every tenth edit, each request once, first thing in the new revision.
        if edit % 10 == 0 {
            for ((method, offset), samples) in requests.iter().zip(&mut timings) {
                let start = Instant::now();
                let result = client.request(method, position(*offset));
                samples.push(start.elapsed());
                assert!(!result.is_null(), "{method} answered nothing");
            }
        }
        if edit % 100 == 0 {
            rss.push((edit, client.rss_mib()));
        }
    }
    let timings: Vec<(&str, Vec<Duration>)> = requests.iter().map(|(m, _)| *m).zip(timings).collect();

    let start = Instant::now();
    let explained = client.request("mini/explain", json!({"textDocument": {"uri": uri}}));
    let explain = start.elapsed();
    assert_eq!(explained["totals"]["changed"], 1, "{explained}");
    client.shutdown();

    println!("\n| request | samples | median | p90 | max |");
    println!("|---|---:|---:|---:|---:|");
    let row = |name: &str, samples: &[Duration]| {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {name} | {} | {} | {} | {} |",
            sorted.len(),
            ms(at(0.5)),
            ms(at(0.9)),
            ms(sorted[sorted.len() - 1])
        );
    };
    row("didChange → publishDiagnostics (50 ms quiet period included)", &after_change);
    for (method, samples) in &timings {
        row(method, samples);
    }
    row("mini/explain (main thread, warm cache)", &[explain]);
    println!("\nThe server's resident memory (MiB) after opening the file and every 100 edits:\n");
    let cells: Vec<String> = rss.iter().map(|(edit, mib)| format!("{edit}: {mib}")).collect();
    println!("{}", cells.join(" · "));
}

/// A client for `mini lsp` running as a child process, speaking framed JSON-RPC over its
/// standard input and output — what an editor does.
struct Client {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    next_id: i32,
    root: std::path::PathBuf,
}

impl Client {
    fn start(root: &Path) -> Client {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mini"))
            .arg("lsp")
            .current_dir(root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("mini lsp starts");
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut client = Client { child, stdout, next_id: 0, root: root.to_path_buf() };
        client.request("initialize", json!({"processId": null, "rootUri": uri_of(root), "capabilities": {}}));
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, message: Message) {
        message.write(self.child.stdin.as_mut().expect("open")).expect("the server reads");
    }

    fn receive(&mut self) -> Message {
        Message::read(&mut self.stdout).expect("a message").expect("the server is running")
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(Notification::new(method.into(), params).into());
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Request::new(id.clone(), method.into(), params).into());
        loop {
            match self.receive() {
                Message::Response(response) if response.id == id => {
                    return response.response_result.unwrap_or_else(|e| panic!("{method}: {e:?}"));
                }
                _ => {}
            }
        }
    }

    fn open(&mut self, path: &str, text: &str, version: i32) {
        let uri = uri_of(&self.root.join(path));
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "mini", "version": version, "text": text}}),
        );
    }

    fn change(&mut self, path: &str, text: &str, version: i32) {
        let uri = uri_of(&self.root.join(path));
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }

    /// The diagnostics published for `version`.
    fn diagnostics(&mut self, version: i32) -> Value {
        loop {
            if let Message::Notification(n) = self.receive()
                && n.method == "textDocument/publishDiagnostics"
                && n.params["version"] == version
            {
                return n.params["diagnostics"].clone();
            }
        }
    }

    /// The server's resident set, in MiB.
    fn rss_mib(&self) -> u64 {
        rss_mib(&format!("/proc/{}/status", self.child.id()))
    }

    fn shutdown(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
    }
}

/// From `initialize` to the first diagnostics of `path`, in a new server.
fn first_diagnostics(root: &Path, path: &str) -> Duration {
    let start = Instant::now();
    let mut client = Client::start(root);
    let text = std::fs::read_to_string(root.join(path)).unwrap();
    client.open(path, &text, 1);
    assert_eq!(client.diagnostics(1), json!([]));
    let took = start.elapsed();
    client.shutdown();
    took
}

/// `mini build`, as a user would run it before opening the editor.
fn build(root: &Path) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_mini"))
        .arg("build")
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Moves every source's modification time a minute back, as if written well before the
/// build: within a second of it, a stamp cannot prove a file unchanged (the racy-clean
/// rule) and the file is read to be hashed. Then a build records the aged stamps.
fn age(root: &Path, program: &Program) {
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    for i in 0..program.files.len() {
        let file = std::fs::File::options().write(true).open(root.join(Program::module(i))).unwrap();
        file.set_modified(past).unwrap();
    }
    build(root);
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A process's resident set, in MiB, from its `/proc/…/status`.
fn rss_mib(status: &str) -> u64 {
    let status = std::fs::read_to_string(status).unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    kib / 1024
}
