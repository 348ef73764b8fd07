//! Watch mode: the loop driven without file events (changes in, rebuild summaries and
//! executed queries out), one run of the real `mini watch` on real files, and
//! cancellation of a build by a newer edit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expect_test::expect;
use mini::cli::Emit;
use mini::driver::{BuildReport, BuildRequest, Session};
use mini::watch::Watcher;
use mini_queries::source::Settings;

use crate::support::write;

fn watcher(dir: &Path) -> Watcher {
    let session = Session::new(&dir.join("main.mini")).expect("session");
    let request = BuildRequest {
        emit: Emit::Exe,
        output: Some(dir.join("main")),
        settings: Settings::host(),
        jobs: 1,
        log_queries: true,
        deny_warnings: false,
    };
    Watcher::new(session, request)
}

fn run(dir: &Path) -> String {
    let out = Command::new(dir.join("main")).output().expect("runs");
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
        fn_hash(lib.f)
        fn_contracts(lib.f)
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
    write(
        d,
        "main.mini",
        "import \"lib.mini\";\nimport \"other.mini\";\n\nfn main() i32 {\n    @print(lib.f(other.g()));\n    return 0;\n}\n",
    );
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    write(d, "other.mini", "pub fn g() i32 {\n    return 10;\n}\n");
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

#[test]
fn mini_watch_rebuilds_real_files_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["watch"])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let wait_for = |what: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !what() {
            assert!(start.elapsed() < Duration::from_secs(60), "watch did not rebuild in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(&|| d.join("main").exists() && run(d) == "2\n");
    // Save the way many editors do: a temporary file renamed over the original.
    write(d, "lib.mini.swp", "pub fn f(x: i32) i32 {\n    return x + 41;\n}\n");
    std::fs::rename(d.join("lib.mini.swp"), d.join("lib.mini")).unwrap();
    wait_for(&|| run(d) == "42\n");

    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert_eq!(exit.code(), Some(130), "{log}");
    assert!(log.contains("Rebuilt in"), "{log}");
    assert!(log.contains("1 of 2 functions compiled (lib.f)"), "{log}");
}
