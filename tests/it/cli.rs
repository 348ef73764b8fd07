//! The command line, through the real binary: exit statuses, outputs, JSON messages,
//! and robustness against hostile input.

use std::path::Path;
use std::process::Command;

use crate::support::{mini, stderr, stdout, write};

const HELLO: &str = "fn main() i32 {\n    @print(42);\n    return 3;\n}\n";

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, text) in files {
        write(dir.path(), path, text);
    }
    dir
}

#[track_caller]
fn assert_status(out: &std::process::Output, status: i32) {
    assert_eq!(out.status.code(), Some(status), "stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
}

#[test]
fn build_writes_the_entry_stem_in_the_current_directory() {
    let dir = project(&[("src/prog.mini", HELLO)]);
    let out = mini(dir.path(), &["build", "src/prog.mini"]);
    assert_status(&out, 0);
    assert!(stderr(&out).contains("Finished in"), "{}", stderr(&out));
    let run = Command::new(dir.path().join("prog")).output().expect("runs");
    assert_eq!((String::from_utf8_lossy(&run.stdout).as_ref(), run.status.code()), ("42\n", Some(3)));
}

#[test]
fn entry_defaults_to_main_mini() {
    let dir = project(&[("main.mini", HELLO)]);
    assert_status(&mini(dir.path(), &["build"]), 0);
    assert!(dir.path().join("main").exists());
}

#[test]
fn run_exits_with_the_programs_status() {
    let dir = project(&[("main.mini", "fn main() i32 {\n    @print(7);\n    return -5;\n}\n")]);
    let out = mini(dir.path(), &["run"]);
    assert_status(&out, 251);
    assert_eq!(stdout(&out), "7\n");
}

#[test]
fn exit_statuses_distinguish_errors() {
    let dir = project(&[("main.mini", "fn main() i32 { return x; }\n")]);
    let compile_error = mini(dir.path(), &["build"]);
    assert_status(&compile_error, 1);
    assert!(
        stderr(&compile_error).contains("main.mini:1:24: error: undeclared name 'x'"),
        "{}",
        stderr(&compile_error)
    );
    assert!(!dir.path().join("main").exists(), "no binary after errors");

    assert_status(&mini(dir.path(), &["build", "missing.mini"]), 2);
    assert_status(&mini(dir.path(), &["build", "--no-such-flag"]), 2);
    assert_status(&mini(dir.path(), &["build", "-O", "7"]), 2);
    assert_status(&mini(dir.path(), &["check"]), 1);
}

#[test]
fn check_reports_without_generating_code() {
    let dir = project(&[("main.mini", HELLO)]);
    let out = mini(dir.path(), &["check"]);
    assert_status(&out, 0);
    assert!(!dir.path().join(".mini_cache").exists());
}

#[test]
fn json_messages_describe_diagnostics_and_the_build() {
    let dir = project(&[
        ("main.mini", "import \"lib/math.mini\" as math;\nfn main() i32 {\n    return math.add(1, 2);\n}\n"),
        ("lib/math.mini", "pub fn add(a: i32, b: i32) i32 {\n    return a + b;\n}\n"),
    ]);
    let out = mini(dir.path(), &["build", "--message-format", "json", "-o", "prog"]);
    assert_status(&out, 0);
    let events: Vec<serde_json::Value> =
        stdout(&out).lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    let last = events.last().expect("a build-finished event");
    assert_eq!(last["reason"], "build-finished");
    assert_eq!(last["success"], true);
    assert_eq!(last["functions"], 2);
    assert_eq!(last["compiled"], serde_json::json!(["main.main", "lib/math.add"]));
    assert_eq!(last["reused"], 0);
    assert_eq!(last["output"], "prog");
    assert!(last["duration_ms"].as_f64().is_some());

    write(dir.path(), "main.mini", "fn main() i32 {\n    return true;\n}\n");
    let out = mini(dir.path(), &["build", "--message-format", "json"]);
    assert_status(&out, 1);
    let events: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        events[0],
        serde_json::json!({
            "reason": "diagnostic", "severity": "error", "file": "main.mini", "line": 2, "column": 12,
            "message": "mismatched types: expected i32, found bool", "notes": [],
        })
    );
    assert_eq!(events[1]["reason"], "build-finished");
    assert_eq!(events[1]["success"], false);
}

#[test]
fn emitted_objects_link_into_a_working_program() {
    let dir = project(&[("main.mini", HELLO)]);
    assert_status(&mini(dir.path(), &["build", "--emit", "obj"]), 0);
    let cc = Command::new("cc").arg("-o").arg("linked").arg("main.o").current_dir(dir.path()).output().expect("cc");
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    let run = Command::new(dir.path().join("linked")).output().expect("runs");
    assert_eq!((String::from_utf8_lossy(&run.stdout).as_ref(), run.status.code()), ("42\n", Some(3)));
}

#[test]
fn text_outputs_go_to_files_or_stdout() {
    let dir = project(&[("main.mini", HELLO)]);
    assert_status(&mini(dir.path(), &["build", "--emit", "llvm-ir"]), 0);
    let ir = std::fs::read_to_string(dir.path().join("main.ll")).expect("main.ll written");
    assert!(ir.contains("; ==== FILE: main.mini:"), "{ir}");
    assert!(ir.contains("define i32 @\"mini:main.mini:main\"()"), "{ir}");

    let out = mini(dir.path(), &["build", "--emit", "zir", "-o", "-"]);
    assert_status(&out, 0);
    assert!(stdout(&out).starts_with("; main.main\nfn main() i32 {\n"), "{}", stdout(&out));
}

#[test]
fn settings_flags_produce_working_programs() {
    let dir = project(&[("main.mini", HELLO)]);
    for flags in [&["-O", "2"][..], &["-O3", "-g"], &["-O1", "-j", "1"]] {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        let out = mini(dir.path(), &args);
        assert_status(&out, 3);
        assert_eq!(stdout(&out), "42\n", "flags {flags:?}");
    }
}

#[test]
fn cross_compiling_emits_a_foreign_object() {
    let dir = project(&[("main.mini", HELLO)]);
    let out = mini(dir.path(), &["build", "--target", "aarch64-unknown-linux-gnu", "--emit", "obj"]);
    assert_status(&out, 0);
    let object = std::fs::read(dir.path().join("main.o")).expect("object written");
    // ELF e_machine 183 = AArch64.
    assert_eq!(&object[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([object[18], object[19]]), 183);

    let exe = mini(dir.path(), &["build", "--target", "aarch64-unknown-linux-gnu"]);
    assert_status(&exe, 2);
    assert!(stderr(&exe).contains("use --emit obj"), "{}", stderr(&exe));
    assert_status(&mini(dir.path(), &["build", "--target", "no-such-target"]), 2);
}

#[test]
fn log_queries_lists_what_executed() {
    let dir = project(&[("main.mini", HELLO)]);
    let out = mini(dir.path(), &["build", "--log-queries"]);
    assert_status(&out, 0);
    let log = stderr(&out);
    for query in ["executed: parse_file(main.mini)", "executed: fn_check(main.main)", "executed: fn_object(main.main)"]
    {
        assert!(log.contains(query), "missing {query} in:\n{log}");
    }
}

/// Hostile inputs: each must end in a reported error (or success), never a crash.
#[track_caller]
fn assert_survives(dir: &Path, expected_status: i32, expected_message: &str) {
    let out = mini(dir, &["check"]);
    assert_status(&out, expected_status);
    assert!(stderr(&out).contains(expected_message), "expected {expected_message:?} in:\n{}", stderr(&out));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 10_000;
    let parens = format!("fn main() i32 {{\n    return {}1{};\n}}\n", "(".repeat(depth), ")".repeat(depth));
    assert_survives(project(&[("main.mini", &parens)]).path(), 1, "nesting is too deep");
    let blocks = format!("fn main() void {{\n{}{}\n}}\n", "{".repeat(depth), "}".repeat(depth));
    assert_survives(project(&[("main.mini", &blocks)]).path(), 1, "nesting is too deep");
    let unary = format!("fn main() i32 {{\n    return {}1;\n}}\n", "-".repeat(depth));
    assert_survives(project(&[("main.mini", &unary)]).path(), 1, "nesting is too deep");
    let chain = format!("fn main() i32 {{\n    return 1{};\n}}\n", " + 1".repeat(depth));
    assert_survives(project(&[("main.mini", &chain)]).path(), 1, "nested too deeply");
}

#[test]
fn malformed_bytes_are_errors_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.mini"), b"fn main() i32 {\n    return \xff\xfe 1;\n}\n").unwrap();
    assert_survives(dir.path(), 1, "main.mini:2:12: error: invalid UTF-8 in source file");
    std::fs::write(dir.path().join("main.mini"), b"fn main() i32 {\n    return 1;\0\n}\n").unwrap();
    assert_survives(dir.path(), 1, "main.mini:2:14: error: unexpected character U+0000");
    std::fs::write(dir.path().join("main.mini"), b"").unwrap();
    assert_survives(dir.path(), 1, "the entry file must define 'fn main() i32' or 'fn main() void'");
}

#[test]
fn a_file_that_imports_itself_compiles() {
    let dir = project(&[(
        "main.mini",
        "import \"main.mini\" as me;\nfn one() i32 { return 1; }\nfn main() i32 { return me.one(); }\n",
    )]);
    let out = mini(dir.path(), &["run"]);
    assert_status(&out, 1);
}

#[test]
fn a_hundred_megabyte_file_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = b"fn main() i32 {\n    return 4;\n}\n".to_vec();
    let line = format!("// {}\n", "x".repeat(1000));
    while text.len() < 100 << 20 {
        text.extend_from_slice(line.as_bytes());
    }
    std::fs::write(dir.path().join("main.mini"), &text).unwrap();
    let out = mini(dir.path(), &["run"]);
    assert_status(&out, 4);

    // The same size of garbage is one error, not millions.
    let garbage = vec![b'$'; 100 << 20];
    std::fs::write(dir.path().join("main.mini"), &garbage).unwrap();
    let out = mini(dir.path(), &["check"]);
    assert_status(&out, 1);
    assert!(stderr(&out).lines().count() < 20, "{} lines of errors", stderr(&out).lines().count());
}
