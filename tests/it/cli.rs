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
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    let dir = project(&[("main.mini", &many_functions(50))]);
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills in two new descriptors, which are then owned here.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["build", "-j", "1"])
        .current_dir(dir.path())
        .env("MINI_PROGRESS_DELAY_MS", "0")
        .env_remove("MINI_LOG")
        .stderr(std::process::Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut terminal = std::fs::File::from(master);
    let mut shown = Vec::new();
    let mut buffer = [0u8; 4096];
    // Reading ends with EIO once the child, the last holder of the slave, has exited.
    while let Ok(n @ 1..) = terminal.read(&mut buffer) {
        shown.extend_from_slice(&buffer[..n]);
    }
    assert!(child.wait().unwrap().success());
    let shown = String::from_utf8_lossy(&shown);
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
