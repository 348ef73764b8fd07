//! Warnings across builds: they never fail one, `--deny-warnings` (`-D warnings`)
//! makes them errors, and they survive every kind of incremental build — a no-op build
//! (which runs no query), a new process after an edit elsewhere (the patch path), an
//! ordinary build that takes the file from a summary, a watch rebuild — until their
//! cause is fixed.

use std::path::{Path, PathBuf};

use expect_test::{Expect, expect};
use mini::driver::{BuildReport, BuildRequest, Session};
use mini::watch::Watcher;
use serde_json::Value;

use crate::support::{mini, stderr, stdout, write};

/// A warning in the entry, a warning with a note in a file the entry imports, and a
/// file without any.
const PROGRAM: &[(&str, &str)] = &[
    (
        "main.mini",
        "import \"lib.mini\" as lib;\nimport \"util.mini\" as util;\n\nfn main() i32 {\n    const unused = 1;\n    return lib.f(2) + util.g();\n}\n",
    ),
    ("lib.mini", "pub fn f(x: i32) i32 {\n    return x * 2;\n}\n"),
    ("util.mini", "// Utilities.\npub fn g() i32 {\n    return 3;\n    @print(0);\n}\n"),
];

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, text) in PROGRAM {
        write(dir.path(), path, text);
    }
    dir
}

/// Waits until every file last changed safely before the next build, so that stamps
/// alone prove them unchanged (the racy-clean rule would re-read them otherwise).
fn age_files(dir: &Path) {
    crate::support::settle(dir);
}

#[track_caller]
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(dir.join(file), text.replacen(from, to, 1)).unwrap();
}

/// A JSON build: its diagnostics as `file:line:col: severity: message` lines (notes
/// indented under them), and its `build-finished` event.
#[track_caller]
fn build_json(dir: &Path, extra: &[&str]) -> (String, Value) {
    let mut args = vec!["build", "--message-format", "json", "-o", "prog"];
    args.extend_from_slice(extra);
    let out = mini(dir, &args);
    let events: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let finished = events.last().expect("a build-finished event").clone();
    assert_eq!(finished["reason"], "build-finished", "{}", stderr(&out));
    let mut diagnostics = String::new();
    for e in events.iter().filter(|e| e["reason"] == "diagnostic") {
        diagnostics += &format!("{}:{}:{}: {}: {}\n", e["file"], e["line"], e["column"], e["severity"], e["message"]);
        for n in e["notes"].as_array().expect("notes") {
            diagnostics += &format!("    note {}:{}: {}\n", n["line"], n["column"], n["message"]);
        }
    }
    (diagnostics.replace('"', ""), finished)
}

const WARNINGS: &str = "\
main.mini:5:11: warning: unused constant 'unused'
util.mini:4:5: warning: unreachable statement
    note 3:5: any code after this 'return' never runs
";

/// Standard error without the summary line, whose time varies.
fn human(out: &std::process::Output) -> String {
    stderr(out).lines().filter(|l| !l.starts_with("Finished in")).map(|l| format!("{l}\n")).collect()
}

#[track_caller]
fn check_human(out: &std::process::Output, status: i32, expected: Expect) {
    assert_eq!(out.status.code(), Some(status), "{}", stderr(out));
    expected.assert_eq(&human(out));
}

#[test]
fn warnings_never_fail_a_build_and_deny_warnings_makes_them_errors() {
    let dir = project();
    let d = dir.path();
    let built = mini(d, &["build", "-o", "prog"]);
    check_human(
        &built,
        0,
        expect![[r#"
            main.mini:5:11: warning: unused constant 'unused'
                const unused = 1;
                      ^~~~~~
            util.mini:4:5: warning: unreachable statement
                @print(0);
                ^~~~~~~~~~
            util.mini:3:5: note: any code after this 'return' never runs
                return 3;
                ^~~~~~
            mini: 2 warnings found
        "#]],
    );
    assert!(stderr(&built).contains("Finished in"), "{}", stderr(&built));
    assert!(d.join("prog").exists());
    let json = mini(d, &["build", "--message-format", "json", "-o", "prog"]);
    let second: Value = serde_json::from_str(stdout(&json).lines().nth(1).expect("two diagnostics")).unwrap();
    assert_eq!(
        second,
        serde_json::json!({
            "reason": "diagnostic", "severity": "warning", "file": "util.mini", "line": 4, "column": 5,
            "end_line": 4, "end_column": 15, "message": "unreachable statement",
            "notes": [{
                "file": "util.mini", "line": 3, "column": 5, "end_line": 3, "end_column": 11,
                "message": "any code after this 'return' never runs",
            }],
            "rendered": "util.mini:4:5: warning: unreachable statement\n    @print(0);\n    ^~~~~~~~~~\nutil.mini:3:5: note: any code after this 'return' never runs\n    return 3;\n    ^~~~~~\n",
        })
    );

    for deny in [&["--deny-warnings"][..], &["-D", "warnings"]] {
        let denied = mini(d, &[&["build", "-o", "denied"][..], deny].concat());
        check_human(
            &denied,
            1,
            expect![[r#"
                main.mini:5:11: error: unused constant 'unused'
                    const unused = 1;
                          ^~~~~~
                util.mini:4:5: error: unreachable statement
                    @print(0);
                    ^~~~~~~~~~
                util.mini:3:5: note: any code after this 'return' never runs
                    return 3;
                    ^~~~~~
                mini: 2 errors found; no output written
            "#]],
        );
        assert!(!d.join("denied").exists(), "no output is written");
    }
    let (diagnostics, finished) = build_json(d, &["--deny-warnings"]);
    assert_eq!(diagnostics, WARNINGS.replace("warning:", "error:"));
    assert_eq!(finished["success"], false);
    assert_eq!(finished["output"], Value::Null);

    // The last build's executable is not rewritten by a build that denies warnings.
    let before = std::fs::metadata(d.join("prog")).unwrap().modified().unwrap();
    assert_eq!(mini(d, &["build", "-o", "prog", "-D", "warnings"]).status.code(), Some(1));
    assert_eq!(std::fs::metadata(d.join("prog")).unwrap().modified().unwrap(), before);

    assert_eq!(mini(d, &["check"]).status.code(), Some(0));
    assert_eq!(mini(d, &["check", "--deny-warnings"]).status.code(), Some(1));
    let run = mini(d, &["run", "-D", "warnings"]);
    assert_eq!(run.status.code(), Some(1), "the program does not run: {}", stderr(&run));
    assert_eq!(mini(d, &["run"]).status.code(), Some(7), "main returns 2 * 2 + 3");
    assert_eq!(mini(d, &["build", "-D", "everything"]).status.code(), Some(2), "only 'warnings' can be denied");
}

/// A no-op build runs no query; the warnings come from the index.
#[test]
fn a_no_op_build_replays_the_warnings() {
    let dir = project();
    let d = dir.path();
    age_files(d);
    let (cold, _) = build_json(d, &[]);
    assert_eq!(cold, WARNINGS);
    let (again, finished) = build_json(d, &[]);
    assert_eq!(finished["files_read"], 0, "a no-op build");
    assert_eq!(finished["linked"], false);
    assert_eq!(finished["success"], true);
    assert_eq!(again, WARNINGS);
    // The same, rendered for people.
    let human_again = mini(d, &["build", "-o", "prog"]);
    assert!(human(&human_again).contains("    ^~~~~~~~~~\nutil.mini:3:5: note:"), "{}", stderr(&human_again));
    assert_eq!(mini(d, &["build", "-o", "prog", "--deny-warnings"]).status.code(), Some(1));
}

/// A new process after a body edit in another file checks that file alone (the patch
/// path); the others' warnings come from the index. A comment that moves a warning
/// compiles nothing, and the warning moves with it.
#[test]
fn a_new_process_after_an_edit_elsewhere_replays_the_warnings() {
    let dir = project();
    let d = dir.path();
    build_json(d, &[]);
    edit(d, "lib.mini", "return x * 2;", "return x * 3;");
    let (diagnostics, finished) = build_json(d, &["--log-queries"]);
    assert_eq!(finished["files_parsed"], 1, "the patch path");
    assert_eq!(finished["compiled"], serde_json::json!(["lib.f"]));
    assert_eq!(diagnostics, WARNINGS);

    edit(d, "util.mini", "// Utilities.", "// Utilities,\n// over two lines.");
    let (moved, finished) = build_json(d, &[]);
    assert_eq!(finished["files_parsed"], 1, "the patch path");
    assert_eq!(finished["compiled"], serde_json::json!([]), "a comment compiles nothing");
    assert_eq!(finished["linked"], false);
    expect![[r#"
        main.mini:5:11: warning: unused constant 'unused'
        util.mini:5:5: warning: unreachable statement
            note 4:5: any code after this 'return' never runs
    "#]]
    .assert_eq(&moved);
    let (replayed, _) = build_json(d, &[]);
    assert_eq!(replayed, moved, "the index holds the moved warning");
}

/// A build that cannot patch (a file gained a function) checks the changed files and
/// takes the others from their summaries, warnings included.
#[test]
fn an_ordinary_build_reports_the_warnings_of_summarized_files() {
    let dir = project();
    let d = dir.path();
    build_json(d, &[]);
    edit(d, "lib.mini", "pub fn f", "pub fn other() void {}\n\npub fn f");
    let (diagnostics, finished) = build_json(d, &[]);
    assert_eq!(finished["files_parsed"], 2, "main and lib are checked, util is a summary");
    assert_eq!(diagnostics, WARNINGS);
}

#[test]
fn fixing_the_cause_removes_the_warning() {
    let dir = project();
    let d = dir.path();
    build_json(d, &[]);
    edit(d, "main.mini", "return lib.f(2)", "return unused + lib.f(2)");
    let (fixed, finished) = build_json(d, &[]);
    assert_eq!(finished["compiled"], serde_json::json!(["main.main"]));
    assert_eq!(fixed, WARNINGS.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>());
    edit(d, "util.mini", "    @print(0);\n", "");
    let (none, _) = build_json(d, &[]);
    assert_eq!(none, "");
    age_files(d);
    build_json(d, &[]);
    let (still_none, finished) = build_json(d, &[]);
    assert_eq!(finished["files_read"], 0, "a no-op build");
    assert_eq!(still_none, "");
}

fn watcher(dir: &Path) -> Watcher {
    let session = Session::new(&dir.join("main.mini")).expect("session");
    let request = BuildRequest::executable(dir.join("prog"));
    Watcher::new(session, request)
}

/// The diagnostics of a report as `file:line:col: severity: message` lines.
fn lines(dir: &Path, report: &BuildReport) -> String {
    let root = format!("{}/", dir.display());
    let shown = report.diagnostics.iter().map(|d| {
        let path = d.path.replace(&root, "");
        let notes: String =
            d.notes.iter().map(|n| format!("    note {}:{}: {}\n", n.line, n.column, n.message)).collect();
        format!("{path}:{}:{}: {}: {}\n{notes}", d.line, d.column, d.severity.name(), d.message)
    });
    shown.collect()
}

/// In watch mode the warnings of files nobody edited are reported after every rebuild:
/// from the living database, and after a rebase from the summaries.
#[test]
fn a_watch_rebuild_replays_the_warnings() {
    let dir = project();
    let d = dir.path();
    let mut w = watcher(d);
    let rebuild = |w: &mut Watcher, changed: &[&str]| {
        let paths: Vec<PathBuf> = changed.iter().map(|f| d.join(f)).collect();
        let report = w.rebuild(Some(&paths)).expect("rebuild runs");
        w.flush().expect("index written");
        assert!(report.success(), "{:#?}", report.diagnostics);
        report
    };
    let first = w.rebuild(None).expect("builds");
    assert_eq!(lines(d, &first), WARNINGS);

    edit(d, "lib.mini", "return x * 2;", "return x * 3;");
    let edited = rebuild(&mut w, &["lib.mini"]);
    assert_eq!(edited.compiled, ["lib.f"]);
    assert_eq!(lines(d, &edited), WARNINGS);

    // After a rebase, main and util are summaries.
    w.set_rebase_at(0);
    assert!(w.flush().expect("rebased"), "the watcher starts over from the disk cache");
    edit(d, "lib.mini", "return x * 3;", "return x * 4;");
    let rebased = rebuild(&mut w, &["lib.mini"]);
    assert_eq!(rebased.compiled, ["lib.f"]);
    assert_eq!(lines(d, &rebased), WARNINGS);

    edit(d, "main.mini", "const unused = 1;\n", "");
    let fixed = rebuild(&mut w, &["main.mini"]);
    assert_eq!(lines(d, &fixed), WARNINGS.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>());
}
