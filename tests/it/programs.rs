//! End-to-end programs as data: every directory under `tests/programs/` is a program
//! (`main.mini` and the files it imports) with an `expected` file beside it:
//!
//! ```text
//! args: -O2 --contracts on                      (optional; more arguments for `mini build`)
//! status: 101                                   (optional; default 0)
//! stderr: runtime error: division by zero in main.main   (optional; exact)
//! ---
//! the exact standard output
//! ```
//!
//! Each program is built by the real binary and run; stdout, stderr and status must match.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::stderr;

struct Expected {
    args: Vec<String>,
    status: i32,
    stderr: Option<String>,
    stdout: String,
}

fn parse_expected(text: &str) -> Expected {
    let (header, stdout) = text.split_once("---\n").unwrap_or(("", text));
    let mut expected = Expected { args: Vec::new(), status: 0, stderr: None, stdout: stdout.to_string() };
    for line in header.lines() {
        if let Some(args) = line.strip_prefix("args:") {
            expected.args = args.split_whitespace().map(str::to_string).collect();
        } else if let Some(status) = line.strip_prefix("status:") {
            expected.status = status.trim().parse().expect("status is a number");
        } else if let Some(text) = line.strip_prefix("stderr:") {
            expected.stderr = Some(format!("{}\n", text.trim()));
        } else if !line.trim().is_empty() {
            panic!("unknown header line in expected: {line:?}");
        }
    }
    expected
}

fn program_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/programs exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("readable directory") {
        let path = entry.expect("readable entry").path();
        let target = to.join(path.file_name().expect("named"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy file");
        }
    }
}

/// Builds and runs one program directory, linked by `linker` (mini's own unless
/// "system"); returns a description of every mismatch.
fn check_program(dir: &Path, linker: &str) -> Result<(), String> {
    let name = dir.file_name().expect("named").to_string_lossy().into_owned();
    let expected_text =
        std::fs::read_to_string(dir.join("expected")).map_err(|e| format!("{name}: missing expected file: {e}"))?;
    let expected = parse_expected(&expected_text);
    let work = tempfile::tempdir().expect("temporary directory");
    copy_dir(dir, work.path());
    let build = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["build", "main.mini", "-o", "prog"])
        .args(&expected.args)
        .current_dir(work.path())
        .env_remove("MINI_LOG")
        .env("MINI_LINKER", linker)
        .output()
        .expect("the mini binary runs");
    if !build.status.success() {
        return Err(format!("{name}: build failed ({}):\n{}", build.status, stderr(&build)));
    }
    let run =
        mini::process::output(Command::new(work.path().join("prog")).current_dir(work.path())).expect("program runs");
    let mut problems = Vec::new();
    let stdout = String::from_utf8_lossy(&run.stdout);
    if stdout != expected.stdout {
        problems.push(format!("stdout:\n--- expected\n{}--- actual\n{stdout}", expected.stdout));
    }
    if run.status.code() != Some(expected.status) {
        problems.push(format!("status: expected {}, got {:?}", expected.status, run.status));
    }
    if let Some(want) = &expected.stderr {
        let got = String::from_utf8_lossy(&run.stderr);
        if &*got != want {
            problems.push(format!("stderr: expected {want:?}, got {got:?}"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("{name}: {}", problems.join("\n"))) }
}

#[test]
fn every_program_prints_and_exits_as_expected() {
    let dirs = program_dirs();
    assert!(dirs.len() >= 10, "the program corpus went missing");
    let failures: Vec<String> = dirs.iter().filter_map(|dir| check_program(dir, "own").err()).collect();
    assert!(failures.is_empty(), "{} of {} programs failed:\n\n{}", failures.len(), dirs.len(), failures.join("\n\n"));
}

/// mini links with its own linker; the system linker, its fallback (and the linker of
/// `-g` builds), must give programs that behave the same.
#[test]
fn every_program_behaves_the_same_linked_by_the_system_linker() {
    let dirs = program_dirs();
    let failures: Vec<String> = dirs.iter().filter_map(|dir| check_program(dir, "system").err()).collect();
    assert!(failures.is_empty(), "{} of {} programs failed:\n\n{}", failures.len(), dirs.len(), failures.join("\n\n"));
}
