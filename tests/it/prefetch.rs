//! A build that reads many files asks the per-file queries on all cores first
//! (`driver/prefetch.rs`). That may change when work happens, never what a build gives:
//! the same executable, the same diagnostics in the same order, and a cancellation that
//! stays a cancellation.

use std::path::Path;

use mini::driver::{BuildReport, BuildRequest, Emit, Session};
use mini::fault::{Action, Point};
use mini::watch::{Outcome, Watcher};
use mini_queries::source::Settings;

use crate::support::write;

/// More files than the prefetch's threshold (256 read): file `m{i}` calls `m{i + 1}`.
const FILES: usize = 300;

/// Writes the program; `broken` files get an error, and every tenth file an unused
/// variable's warning.
fn program(dir: &Path, broken: &[usize]) {
    write(dir, "main.mini", "import \"m0.mini\";\n\nfn main() i32 {\n    @print(m0.f(1));\n    return 0;\n}\n");
    for i in 0..FILES {
        let (import, call) = match i + 1 < FILES {
            true => (format!("import \"m{}.mini\";\n\n", i + 1), format!("m{}.f(x) + {i}", i + 1)),
            false => (String::new(), "x".to_string()),
        };
        let warning = if i % 10 == 0 { "    var unused: i32 = 1;\n" } else { "" };
        let error = if broken.contains(&i) { "    var wrong: bool = 3;\n" } else { "" };
        let text = format!("{import}pub fn f(x: i32) i32 {{\n{warning}{error}    return {call};\n}}\n");
        write(dir, &format!("m{i}.mini"), &text);
    }
}

fn request(dir: &Path, jobs: usize) -> BuildRequest {
    BuildRequest {
        emit: Emit::Exe,
        output: Some(dir.join(format!("main{jobs}"))),
        settings: Settings::host(),
        jobs,
        log_queries: false,
        deny_warnings: false,
    }
}

/// A cold build with `jobs` threads: its report, and the executable if there is one.
fn cold_build(dir: &Path, jobs: usize) -> (BuildReport, Option<Vec<u8>>) {
    let mut session = Session::new(&dir.join("main.mini")).expect("session");
    session.disable_cache();
    let report = session.build(&request(dir, jobs)).expect("the build runs");
    let executable = std::fs::read(dir.join(format!("main{jobs}"))).ok();
    (report, executable)
}

/// Each diagnostic as `path:line:column: message` (the path is absolute).
fn diagnostics(report: &BuildReport) -> Vec<String> {
    report.diagnostics.iter().map(|d| format!("{}:{}:{}: {}", d.path, d.line, d.column, d.message)).collect()
}

#[test]
fn a_build_on_two_threads_gives_what_one_thread_gives() {
    let dir = tempfile::tempdir().unwrap();
    program(dir.path(), &[]);
    let (one, one_exe) = cold_build(dir.path(), 1);
    let (two, two_exe) = cold_build(dir.path(), 2);
    assert!(one.success() && two.success(), "{:?}", diagnostics(&two));
    assert_eq!(one.files_read, FILES + 1, "every file was read");
    assert_eq!(diagnostics(&two), diagnostics(&one));
    assert_eq!(diagnostics(&two).len(), FILES / 10, "the warnings");
    assert_eq!(two.compiled, one.compiled, "the same functions, in program order");
    assert!(two_exe.is_some() && two_exe == one_exe, "the same executable, byte for byte");
}

#[test]
fn errors_found_on_two_threads_are_reported_in_program_order() {
    let dir = tempfile::tempdir().unwrap();
    program(dir.path(), &[250, 7, 131]);
    let (one, _) = cold_build(dir.path(), 1);
    let (two, exe) = cold_build(dir.path(), 2);
    assert!(!two.success());
    assert!(exe.is_none(), "no executable for a program with errors");
    let errors: Vec<String> = diagnostics(&two).into_iter().filter(|d| d.contains("expected")).collect();
    assert_eq!(errors.len(), 3, "{:?}", diagnostics(&two));
    for (error, file) in errors.iter().zip(["/m7.mini:", "/m131.mini:", "/m250.mini:"]) {
        assert!(error.contains(file), "{errors:?}");
    }
    assert_eq!(diagnostics(&two), diagnostics(&one));
}

/// A watcher's first build reads every file, so it prefetches; a cancellation then
/// (a new edit) must unwind as one — the round is `Cancelled`, not a crash — and the
/// build that follows gives the clean build's executable.
#[test]
fn a_cancellation_while_prefetching_is_a_cancellation() {
    for point in [Point::AfterScan, Point::AfterDiagnostics] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        program(d, &[]);
        let mut w = Watcher::new(Session::new(&d.join("main.mini")).expect("session"), request(d, 2));
        w.session().faults().arm(point, Action::Cancel);
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            w.round(None, |_, outcome| outcomes.push(outcome)).expect("no crash");
        }
        assert!(matches!(outcomes[0], Outcome::Cancelled), "{point:?}: {:?}", outcomes[0]);
        assert!(matches!(&outcomes[1], Outcome::Built(report) if report.success()), "{point:?}");
        let (_, clean) = cold_build(d, 1);
        assert!(std::fs::read(d.join("main2")).ok() == clean, "{point:?}: the clean build's executable");
    }
}
