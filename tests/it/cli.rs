//! The command line, through the real binary: exit statuses, outputs, JSON messages,
//! and robustness against hostile input.

use std::path::Path;
use std::process::Command;

use expect_test::expect;

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
    let run = mini::process::output(&mut Command::new(dir.path().join("prog"))).expect("runs");
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
            "end_line": 2, "end_column": 16, "message": "mismatched types: expected i32, found bool", "notes": [],
            "rendered": "main.mini:2:12: error: mismatched types: expected i32, found bool\n    return true;\n           ^~~~\n",
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
    let run = mini::process::output(&mut Command::new(dir.path().join("linked"))).expect("runs");
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

const OVERFLOW: &str =
    "fn down(n: i32) i32 {\n    return down(n + 1) + 1;\n}\n\nfn main() i32 {\n    return down(0);\n}\n";

#[test]
fn run_names_the_signal_that_killed_the_program_and_exits_128_plus_it() {
    use std::os::unix::process::CommandExt;
    let dir = project(&[("main.mini", OVERFLOW)]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_mini"));
    command.args(["run", "-q"]).current_dir(dir.path()).env_remove("MINI_LOG");
    // The program's stack is the main thread's, sized by RLIMIT_STACK: keep it finite (8
    // MiB, the usual default) whatever the environment says, so the recursion overflows
    // its guard page rather than eating memory.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 8 << 20, rlim_max: libc::RLIM_INFINITY };
            let _ = libc::setrlimit(libc::RLIMIT_STACK, &limit);
            Ok(())
        });
    }
    let out = command.output().expect("mini runs");
    // No handler in the freestanding runtime: the kernel's SIGSEGV at the guard page.
    assert_status(&out, 128 + 11);
    assert_eq!(stderr(&out), "mini: program terminated by signal 11 (SIGSEGV)\n");
    assert_eq!(stdout(&out), "");
}

/// Files in `dir` whose name has a temporary file's suffix.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() && name != ".mini_cache" {
            found.extend(temporaries(&entry.path()));
        }
        if name.contains(".tmp") {
            found.push(name);
        }
    }
    found
}

#[test]
fn an_output_that_is_a_directory_is_an_error_naming_it_and_leaves_no_temporary_file() {
    let dir = project(&[("main.mini", HELLO)]);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    for emit in ["exe", "obj", "llvm-ir", "zir"] {
        for output in ["out", "out/", "fresh/"] {
            let out = mini(dir.path(), &["build", "--emit", emit, "-o", output]);
            assert_status(&out, 2);
            assert_eq!(
                stderr(&out),
                format!("mini: error: cannot write the output to '{output}': it is a directory (give a file path)\n")
            );
        }
    }
    let out = mini(dir.path(), &["watch", "-o", "out"]);
    assert_status(&out, 2);
    assert!(stderr(&out).contains("'out': it is a directory"), "{}", stderr(&out));
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    assert!(!dir.path().join("fresh").exists());
}

#[test]
fn an_output_under_missing_directories_creates_them() {
    let dir = project(&[("main.mini", HELLO)]);
    for (emit, output) in [("exe", "a/b/prog"), ("obj", "c/prog.o"), ("llvm-ir", "d/e/prog.ll"), ("zir", "f/prog.zir")]
    {
        assert_status(&mini(dir.path(), &["build", "--emit", emit, "-o", output]), 0);
        assert!(dir.path().join(output).is_file(), "{output}");
    }
    let run = mini::process::output(&mut Command::new(dir.path().join("a/b/prog"))).expect("runs");
    assert_eq!(run.status.code(), Some(3));

    // A file where a directory must be: the error names the user's path, not a temporary.
    write(dir.path(), "file", "");
    let out = mini(dir.path(), &["build", "-o", "file/prog"]);
    assert_status(&out, 2);
    assert!(
        stderr(&out).starts_with("mini: error: cannot create the directory 'file' for the output 'file/prog': "),
        "{}",
        stderr(&out)
    );
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
}

#[test]
fn the_system_linker_leaves_no_temporary_file_either() {
    let dir = project(&[("main.mini", HELLO)]);
    let out = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["build", "-o", "sub/prog"])
        .current_dir(dir.path())
        .env("MINI_LINKER", "system")
        .output()
        .unwrap();
    assert_status(&out, 0);
    assert!(dir.path().join("sub/prog").is_file());
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    // mini run's executable lives in the cache, written the same way.
    assert_status(&mini(dir.path(), &["run", "--cache-dir", "elsewhere/cache"]), 3);
    assert!(dir.path().join("elsewhere/cache/bin/main").is_file());
    assert_eq!(temporaries(&dir.path().join("elsewhere/cache/bin")), Vec::<String>::new());
}

#[test]
fn mini_new_makes_a_project_that_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = mini(dir.path(), &["new", "hello"]);
    assert_status(&out, 0);
    assert_eq!(
        stderr(&out),
        "Created 'hello' with main.mini and .gitignore; build and run it with `cd hello && mini run`\n"
    );
    let project = dir.path().join("hello");
    let gitignore = std::fs::read_to_string(project.join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == ".mini_cache/"), "{gitignore}");
    let run = mini(&project, &["run", "-q"]);
    assert_status(&run, 0);
    assert_eq!(stdout(&run), "1\n4\n9\n");

    // A directory with something in it is not touched.
    let out = mini(dir.path(), &["new", "hello"]);
    assert_status(&out, 2);
    assert_eq!(
        stderr(&out),
        "mini: error: cannot create a project in 'hello': the directory exists and is not empty\n"
    );
    // An empty one is filled.
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    assert_status(&mini(dir.path(), &["new", "empty"]), 0);
    assert!(dir.path().join("empty/main.mini").is_file());
}

#[test]
fn logs_have_colours_only_when_asked_or_on_a_terminal() {
    let dir = project(&[("main.mini", HELLO)]);
    let log = |extra: &[&str]| {
        let mut args = vec!["check"];
        args.extend_from_slice(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_mini"))
            .args(&args)
            .current_dir(dir.path())
            .env("MINI_LOG", "info")
            .output()
            .unwrap();
        assert_status(&out, 0);
        stderr(&out)
    };
    let plain = log(&[]);
    assert!(plain.contains("INFO") && plain.contains("time.busy"), "{plain}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(log(&["--color", "always"]).contains("\x1b["));
}

#[test]
fn an_unsupported_target_lists_the_supported_ones() {
    let dir = project(&[("main.mini", HELLO)]);
    let out = mini(dir.path(), &["build", "--target", "no-such-target", "--emit", "obj"]);
    assert_status(&out, 2);
    let host = mini_queries::base::host_triple();
    assert_eq!(
        stderr(&out),
        format!(
            "mini: error: unsupported target 'no-such-target': No available targets are compatible with triple \
             \"no-such-target\"\nsupported targets: x86_64 and aarch64 triples, such as {host} (this machine) and \
             aarch64-unknown-linux-gnu (executables only for this machine; --emit obj for the others)\n"
        )
    );
    // What the message offers works.
    for target in [host, "aarch64-unknown-linux-gnu"] {
        assert_status(&mini(dir.path(), &["build", "--target", target, "--emit", "obj", "-o", "x.o"]), 0);
    }
}

#[test]
fn quiet_says_nothing_on_success_and_verbose_says_what_was_done() {
    let dir = project(&[("main.mini", HELLO)]);
    let out = mini(dir.path(), &["build", "-q"]);
    assert_status(&out, 0);
    assert_eq!(stderr(&out), "");
    let out = mini(dir.path(), &["run", "--quiet"]);
    assert_status(&out, 3);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("42\n", ""));
    // Errors are still errors.
    write(dir.path(), "bad.mini", "fn main() i32 { return x; }\n");
    let out = mini(dir.path(), &["build", "-q", "bad.mini"]);
    assert_status(&out, 1);
    assert!(stderr(&out).contains("error: undeclared name 'x'"), "{}", stderr(&out));

    let out = mini(dir.path(), &["build", "-v", "--no-cache", "-j", "1", "-o", "prog"]);
    assert_status(&out, 0);
    let log = stderr(&out);
    let lines: Vec<&str> = log.lines().collect();
    let host = mini_queries::base::host_triple();
    assert!(
        lines[0].starts_with(&format!("Building main.mini: -O0, contracts on, target {host}, 1 thread, cache in ")),
        "{log}"
    );
    assert_eq!(lines[1..3], ["   Compiled main.main", "Read 1 file, parsed 1"], "{log}");
    assert!(lines[3].starts_with("Finished in "), "{log}");
    assert_eq!(lines[4..], ["Output: prog"], "{log}");

    assert_status(&mini(dir.path(), &["build", "-q", "-v"]), 2);
}

#[test]
fn check_says_when_there_is_nothing_wrong() {
    let text = format!("fn two() i32 {{ return 2; }}\n{HELLO}");
    let dir = project(&[("main.mini", &text)]);
    let out = mini(dir.path(), &["check"]);
    assert_status(&out, 0);
    let log = stderr(&out);
    assert!(log.starts_with("Checked 2 functions in ") && log.ends_with(" ms: no errors\n"), "{log}");
    let out = mini(dir.path(), &["check", "-q"]);
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(0), ""));
}

#[test]
fn version_names_the_commit_and_llvm() {
    let out = mini(Path::new("."), &["--version"]);
    assert_status(&out, 0);
    let llvm = mini_queries::base::llvm_version();
    // The test runs in the repository it was built from, or in an unpacked tarball.
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success() && Path::new(env!("CARGO_MANIFEST_DIR")).join(".git").exists());
    let expected = match git {
        Some(git) => format!("mini 0.1.0 (commit {}, LLVM {llvm})\n", stdout(&git).trim()),
        None => format!("mini 0.1.0 (LLVM {llvm})\n"),
    };
    assert_eq!(stdout(&out), expected);
}

/// A program of many small functions, so that a build has something to count.
fn many_functions(n: usize) -> String {
    let mut text = String::from("fn main() i32 {\n    var total: i32 = 0;\n");
    for i in 0..n {
        text.push_str(&format!("    total += f{i}(1);\n"));
    }
    text.push_str("    @print(total);\n    return 0;\n}\n");
    for i in 0..n {
        text.push_str(&format!("fn f{i}(x: i32) i32 {{\n    return x * {i};\n}}\n"));
    }
    text
}

#[test]
fn no_progress_is_drawn_when_stderr_is_not_a_terminal() {
    let dir = project(&[("main.mini", &many_functions(50))]);
    let out = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["build"])
        .current_dir(dir.path())
        .env("MINI_PROGRESS_DELAY_MS", "0")
        .env_remove("MINI_LOG")
        .output()
        .unwrap();
    assert_status(&out, 0);
    let log = stderr(&out);
    assert!(!log.contains('\r') && !log.contains('\x1b') && !log.contains("Compiling"), "{log:?}");
    assert!(log.starts_with("Finished in "), "{log}");
}

#[test]
fn progress_is_drawn_in_place_on_a_terminal_and_erased() {
    let dir = project(&[("main.mini", &many_functions(50))]);
    let (terminal, slave) = crate::support::pty();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["build", "-j", "1"])
        .current_dir(dir.path())
        .env("MINI_PROGRESS_DELAY_MS", "0")
        .env_remove("MINI_LOG")
        .stderr(std::process::Stdio::from(slave))
        .spawn()
        .unwrap();
    let shown = crate::support::read_terminal(terminal);
    assert!(child.wait().unwrap().success());
    // Each state overwrites the line; the last count is always drawn; the summary comes
    // after the line was erased.
    assert!(shown.starts_with("\r\x1b[KChecking…\r\x1b[KCompiling: 0 of 51 functions"), "{shown:?}");
    assert!(shown.contains("\r\x1b[KCompiling: 51 of 51 functions\r\x1b[KLinking…\r\x1b[KFinished in "), "{shown:?}");
}

/// `mini run --no-cache` keeps nothing: the executable lived in the session's private
/// cache, which used to be removed before the program ran ("No such file or directory").
#[test]
fn run_without_a_cache_runs_the_program_and_keeps_nothing() {
    let dir = project(&[("main.mini", HELLO)]);
    let out = mini(dir.path(), &["run", "--no-cache"]);
    assert_status(&out, 3);
    assert_eq!(stdout(&out), "42\n");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["main.mini"], "nothing but the source is left");
}

/// What a command printed, for a snapshot: its status, standard output, and the first
/// line of standard error (clap's usage text follows it).
fn outcome(dir: &Path, args: &[&str]) -> String {
    let out = mini(dir, args);
    let err = stderr(&out);
    format!(
        "$ mini {}\nstatus {}\nstdout: {}\nstderr: {}\n",
        args.join(" "),
        out.status.code().map_or("none".to_string(), |c| c.to_string()),
        stdout(&out).trim_end(),
        err.lines().next().unwrap_or_default(),
    )
}

/// Under JSON output a tool gets JSON however a command fails: a usage error (clap's,
/// read from the raw arguments), an I/O error, a compiler bug — each ends with the
/// command's event, `success` false and `error` saying why; people still get the
/// message on stderr. `mini run`'s events are on stderr (stdout is the program's), so
/// there the event is the only word.
#[test]
fn under_json_every_failure_ends_with_an_event_saying_so() {
    let dir = project(&[("main.mini", HELLO)]);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let cases: &[&[&str]] = &[
        &["build", "--no-such-flag"],
        &["build", "--message-format", "json", "--no-such-flag"],
        &["build", "--message-format=json", "-O", "7"],
        &["build", "--message-format", "json", "-o", "out"],
        &["build", "--message-format", "json", "--cache-dir", "main.mini"],
        &["run", "--message-format", "json", "--no-such-flag"],
        &["run", "--message-format", "json", "missing.mini"],
        &["check", "--message-format", "json", "missing.mini"],
        &["watch", "--message-format", "json", "-o", "out"],
        &["explain", "--message-format", "json", "-j", "2"],
        &["explain", "--json", "missing.mini"],
        &["cache", "stats", "--json", "--cache-dir", "nowhere"],
        &["cache", "gc", "--json", "--max-size", "lots"],
    ];
    let shown: String = cases.iter().map(|args| outcome(dir.path(), args)).collect();
    expect![[r#"
        $ mini build --no-such-flag
        status 2
        stdout: 
        stderr: error: unexpected argument '--no-such-flag' found
        $ mini build --message-format json --no-such-flag
        status 2
        stdout: {"error":"unexpected argument '--no-such-flag' found","reason":"build-finished","success":false}
        stderr: error: unexpected argument '--no-such-flag' found
        $ mini build --message-format=json -O 7
        status 2
        stdout: {"error":"invalid value '7' for '-O <LEVEL>': 7 is not in 0..=3","reason":"build-finished","success":false}
        stderr: error: invalid value '7' for '-O <LEVEL>': 7 is not in 0..=3
        $ mini build --message-format json -o out
        status 2
        stdout: {"error":"cannot write the output to 'out': it is a directory (give a file path)","reason":"build-finished","success":false}
        stderr: mini: error: cannot write the output to 'out': it is a directory (give a file path)
        $ mini build --message-format json --cache-dir main.mini
        status 2
        stdout: {"error":"creating the cache directory main.mini/objects: Not a directory (os error 20)","reason":"build-finished","success":false}
        stderr: mini: error: creating the cache directory main.mini/objects: Not a directory (os error 20)
        $ mini run --message-format json --no-such-flag
        status 2
        stdout: 
        stderr: {"error":"unexpected argument '--no-such-flag' found","reason":"build-finished","success":false}
        $ mini run --message-format json missing.mini
        status 2
        stdout: 
        stderr: {"error":"cannot read 'missing.mini': No such file or directory","reason":"build-finished","success":false}
        $ mini check --message-format json missing.mini
        status 2
        stdout: {"error":"cannot read 'missing.mini': No such file or directory","reason":"check-finished","success":false}
        stderr: mini: error: cannot read 'missing.mini': No such file or directory
        $ mini watch --message-format json -o out
        status 2
        stdout: {"error":"cannot write the output to 'out': it is a directory (give a file path)","reason":"rebuild-finished","success":false}
        stderr: mini: error: cannot write the output to 'out': it is a directory (give a file path)
        $ mini explain --message-format json -j 2
        status 2
        stdout: {"error":"unexpected argument '-j' found","reason":"explain","success":false}
        stderr: error: unexpected argument '-j' found
        $ mini explain --json missing.mini
        status 2
        stdout: {"error":"cannot read 'missing.mini': No such file or directory","reason":"explain","success":false}
        stderr: mini: error: cannot read 'missing.mini': No such file or directory
        $ mini cache stats --json --cache-dir nowhere
        status 2
        stdout: {"error":"no cache at nowhere","reason":"cache-stats","success":false}
        stderr: mini: error: no cache at nowhere
        $ mini cache gc --json --max-size lots
        status 2
        stdout: {"error":"invalid value 'lots' for '--max-size <SIZE>': 'lots' is not a size (try 500M or 2G)","reason":"cache-gc","success":false}
        stderr: error: invalid value 'lots' for '--max-size <SIZE>': 'lots' is not a size (try 500M or 2G)
    "#]].assert_eq(&shown);

    // A failure of the disk, and a compiler bug.
    let with_fault = |fault: &str| {
        Command::new(env!("CARGO_BIN_EXE_mini"))
            .args(["build", "--message-format", "json"])
            .current_dir(dir.path())
            .env("MINI_TEST_FAULT", fault)
            .env_remove("MINI_LOG")
            .output()
            .unwrap()
    };
    let full = with_fault("store-write:no-space");
    assert_status(&full, 2);
    let event: serde_json::Value = serde_json::from_str(stdout(&full).trim()).expect("one event");
    assert_eq!((&event["reason"], &event["success"]), (&"build-finished".into(), &false.into()), "{event}");
    assert!(event["error"].as_str().unwrap().contains("No space left on device"), "{event}");
    assert_eq!(event.as_object().unwrap().len(), 3, "{event}");
    let bug = with_fault("after-scan:panic");
    assert_status(&bug, 101);
    expect![[r#"
        {"error":"internal compiler error (this is a bug in mini; please report it with the input)","reason":"build-finished","success":false}
    "#]].assert_eq(&stdout(&bug));
}

/// Diagnostics in JSON say where their span ends (just after it, as LSP and cargo do)
/// and carry the text people see, notes included.
#[test]
fn json_diagnostics_carry_end_positions_and_the_rendered_text() {
    let dir = project(&[(
        "main.mini",
        "fn main() i32 {\n    const total = 1;\n    const total = 2;\n    return total;\n}\n",
    )]);
    let out = mini(dir.path(), &["check", "--message-format", "json"]);
    assert_status(&out, 1);
    let first = stdout(&out).lines().next().unwrap().to_string();
    let event: serde_json::Value = serde_json::from_str(&first).unwrap();
    expect![[r#"
        {
          "column": 11,
          "end_column": 16,
          "end_line": 3,
          "file": "main.mini",
          "line": 3,
          "message": "'total' is already declared",
          "notes": [
            {
              "column": 11,
              "end_column": 16,
              "end_line": 2,
              "file": "main.mini",
              "line": 2,
              "message": "the local 'total' is first declared here"
            }
          ],
          "reason": "diagnostic",
          "rendered": "main.mini:3:11: error: 'total' is already declared\n    const total = 2;\n          ^~~~~\nmain.mini:2:11: note: the local 'total' is first declared here\n    const total = 1;\n          ^~~~~\n",
          "severity": "error"
        }"#]].assert_eq(&serde_json::to_string_pretty(&event).unwrap());
    // `rendered` is what `mini check` prints for it.
    let human = mini(dir.path(), &["check"]);
    assert!(stderr(&human).starts_with(event["rendered"].as_str().unwrap()), "{}", stderr(&human));
}

const EXPLAINED_MAIN: &str =
    "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    @print(lib.g(2));\n    return 0;\n}\n";
const EXPLAINED_LIB: &str = "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n\npub fn g(x: i32) i32 {\n    return x * 2;\n}\n\npub fn k() i32 {\n    return 3;\n}\n";

/// `mini explain` says by default what the next build compiles, grouped by why (the
/// callee named for a dependency), what is gone, and the totals; `--all` every
/// function; `-q` the totals; `-v` what it explains and what it compares with. JSON is
/// one object, with where each cached function's object is.
#[test]
fn explain_groups_what_the_next_build_compiles_by_reason() {
    let dir = project(&[("main.mini", EXPLAINED_MAIN), ("lib.mini", EXPLAINED_LIB)]);
    assert_status(&mini(dir.path(), &["build", "-q"]), 0);
    // A signature (main calls f), a body, a function removed, one added.
    let lib = EXPLAINED_LIB
        .replace("pub fn f(x: i32) i32 {\n    return x + 1;", "pub fn f(x: i64) i32 {\n    return @as(i32, x) + 1;")
        .replace("return x * 2;", "return x * 3;")
        .replace("pub fn k() i32 {\n    return 3;\n}\n", "pub fn h() i32 {\n    return 4;\n}\n");
    write(dir.path(), "lib.mini", &lib);
    let explain = |args: &[&str]| {
        let mut all = vec!["explain"];
        all.extend_from_slice(args);
        let out = mini(dir.path(), &all);
        assert_status(&out, 0);
        assert_eq!(stderr(&out), "");
        stdout(&out)
    };
    expect![[r#"
        changed (2): its own text changed
          lib.f
          lib.g
        dependency (1): a function it calls changed its signature
          main.main  (lib.f changed its signature)
        new (1): not in the last build
          lib.h
        removed (1): in the last build, gone now
          lib.k
        2 changed, 1 dependency, 1 new, 1 removed: the next build compiles 4 of 4 functions (contracts on)
    "#]]
    .assert_eq(&explain(&[]));
    expect![[r#"
        main.main  dependency (lib.f changed its signature)
        lib.f      changed
        lib.g      changed
        lib.h      new
        lib.k      removed
        2 changed, 1 dependency, 1 new, 1 removed: the next build compiles 4 of 4 functions (contracts on)
    "#]]
    .assert_eq(&explain(&["--all"]));
    expect![[r#"
        2 changed, 1 dependency, 1 new, 1 removed: the next build compiles 4 of 4 functions (contracts on)
    "#]]
    .assert_eq(&explain(&["-q"]));
    let host = mini_queries::base::host_triple();
    expect![[r#"
        Explaining main.mini: -O2, contracts off, target HOST, cache in .mini_cache; no build with these settings yet: compared with the last build with others
        changed (2): its own text changed
          lib.f
          lib.g
        dependency (1): a function it calls changed its signature
          main.main  (lib.f changed its signature)
        new (1): not in the last build
          lib.h
        removed (1): in the last build, gone now
          lib.k
        2 changed, 1 dependency, 1 new, 1 removed: the next build compiles 4 of 4 functions (contracts off)
    "#]].assert_eq(&explain(&["-v", "-O2"]).replace(host, "HOST"));

    let json = explain(&["--message-format", "json"]);
    assert_eq!(json, explain(&["--json"]), "--json is --message-format json");
    let json: serde_json::Value = serde_json::from_str(json.trim()).expect("one object");
    assert_eq!((&json["reason"], &json["success"]), (&"explain".into(), &true.into()));
    assert_eq!(json["will_compile"], serde_json::json!(["main.main", "lib.f", "lib.g", "lib.h"]));
    assert_eq!(json["functions"][0]["from"], serde_json::Value::Null, "compiled: from nowhere");
    assert_eq!(json["removed"], serde_json::json!(["lib.k"]));

    // The build does what explain said, and afterwards every object is on disk.
    let out = mini(dir.path(), &["build", "--message-format", "json"]);
    let event: serde_json::Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(event["compiled"], json["will_compile"]);
    let json: serde_json::Value = serde_json::from_str(explain(&["--json"]).trim()).unwrap();
    let from: Vec<&serde_json::Value> = json["functions"].as_array().unwrap().iter().map(|f| &f["from"]).collect();
    assert_eq!(from, ["disk"; 4]);
    expect![[r#"
        4 cached: the next build compiles 0 of 4 functions (contracts on)
    "#]]
    .assert_eq(&explain(&[]));

    // Long groups show their first functions; --all shows every one.
    let dir = project(&[("main.mini", &many_functions(25))]);
    assert_status(&mini(dir.path(), &["build", "-q"]), 0);
    let out = mini(dir.path(), &["explain", "-O1"]);
    assert_status(&out, 0);
    expect![[r#"
        settings (26): built before with other settings only
          main.main
          main.f0
          main.f1
          main.f2
          main.f3
          main.f4
          main.f5
          main.f6
          main.f7
          main.f8
          main.f9
          main.f10
          main.f11
          main.f12
          main.f13
          main.f14
          main.f15
          main.f16
          main.f17
          main.f18
          … and 6 more (--all lists every function)
        26 settings: the next build compiles 26 of 26 functions (contracts on)
    "#]]
    .assert_eq(&stdout(&out));
    assert_eq!(stdout(&mini(dir.path(), &["explain", "-O1", "--all"])).lines().count(), 27);
}

/// `mini explain` takes what decides what a build compiles — the entry, -O, --target,
/// -g, --contracts, the cache — and nothing that only a build does.
#[test]
fn explain_offers_only_the_flags_that_apply() {
    let dir = project(&[("main.mini", HELLO)]);
    for flags in [
        &["-j", "1"][..],
        &["-o", "x"],
        &["--emit", "obj"],
        &["--no-cache"],
        &["--log-queries"],
        &["--remote-cache", "http://127.0.0.1:9/"],
        &["--deny-warnings"],
    ] {
        let mut args = vec!["explain"];
        args.extend_from_slice(flags);
        let out = mini(dir.path(), &args);
        assert_status(&out, 2);
        assert!(
            stderr(&out).starts_with(&format!("error: unexpected argument '{}' found", flags[0])),
            "{}",
            stderr(&out)
        );
    }
    let host = mini_queries::base::host_triple();
    for flags in [&["-O2", "-g"][..], &["--contracts", "off"], &["--target", host], &["--cache-dir", "elsewhere"]] {
        let mut args = vec!["explain", "-q"];
        args.extend_from_slice(flags);
        let out = mini(dir.path(), &args);
        assert_status(&out, 0);
        assert!(stdout(&out).starts_with("1 new: the next build compiles 1 of 1 function"), "{}", stdout(&out));
    }
    let help = stdout(&mini(dir.path(), &["explain", "--help"]));
    let options: Vec<&str> = help.lines().map(str::trim_start).filter(|l| l.starts_with('-')).collect();
    assert!(options.iter().any(|o| o.starts_with("--contracts")), "{help}");
    for absent in ["--jobs", "--output", "--emit", "--no-cache", "--remote", "--log-queries", "--deny-warnings"] {
        assert!(!options.iter().any(|o| o.contains(absent)), "explain --help offers {absent}:\n{help}");
    }
}
