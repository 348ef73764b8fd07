//! A build that reads many files asks the per-file queries on all cores first
//! (`driver/prefetch.rs`). That may change when work happens, never what a build gives:
//! the same executable, the same diagnostics in the same order, and a cancellation that
//! stays a cancellation. A large one-shot build also checks its files in chunks and drops
//! each chunk's trees, ZIR and checked functions (`driver/chunks.rs`), which again changes
//! what a build costs, never what it gives.

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
        let contract = if i % 5 == 0 { " requires(x < 1000000)" } else { "" };
        let text = format!("{import}pub fn f(x: i32) i32{contract} {{\n{warning}{error}    return {call};\n}}\n");
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
    build_in_chunks(dir, request(dir, jobs), None)
}

/// A cold build of `request`, checking `chunk` files at a time (`None`: the program is
/// one chunk): its report, and the executable if there is one.
fn build_in_chunks(dir: &Path, request: BuildRequest, chunk: Option<usize>) -> (BuildReport, Option<Vec<u8>>) {
    let mut session = Session::new(&dir.join("main.mini")).expect("session");
    session.disable_cache();
    if let Some(chunk) = chunk {
        session.set_chunks(chunk, chunk);
    }
    let _ = std::fs::remove_file(request.output.as_ref().unwrap());
    let report = session.build(&request).expect("the build runs");
    let executable = std::fs::read(request.output.as_ref().unwrap()).ok();
    (report, executable)
}

/// How many times each query of `report.executed` ran, by query and key.
fn executions(report: &BuildReport) -> std::collections::BTreeMap<&str, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for query in &report.executed {
        *counts.entry(query.as_str()).or_insert(0) += 1;
    }
    counts
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

/// Checked in chunks of one, seven or 64 files and generated in rounds of about as many
/// functions, on one thread or two, with and without debug info (which reads trees and
/// checked functions for line numbers), the program builds as when it is checked and
/// generated whole: the same executable, warnings, functions. Nothing dropped is
/// computed again but the trees the import walk dropped, which the check parses again:
/// no function checked twice (chunks go callees first, so the signatures a chunk reads
/// were kept by the chunks before it), no AIR made or input encoded twice.
#[test]
fn a_program_checked_in_chunks_builds_as_one_checked_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    program(d, &[]);
    for debug_info in [false, true] {
        let request = |jobs| {
            let mut request = request(d, jobs);
            request.settings.codegen.debug_info = debug_info;
            request.log_queries = true;
            request
        };
        let (whole, whole_exe) = build_in_chunks(d, request(2), None);
        assert!(whole.success() && whole_exe.is_some(), "{:?}", diagnostics(&whole));
        assert_eq!(diagnostics(&whole).len(), FILES / 10, "the warnings");
        for (jobs, chunk) in [(1, 7), (2, 1), (2, 7), (2, 64)] {
            let what = format!("debug info {debug_info}, {jobs} jobs, chunks of {chunk}");
            let (chunked, exe) = build_in_chunks(d, request(jobs), Some(chunk));
            assert!(exe.is_some() && exe == whole_exe, "{what}: the same executable, byte for byte");
            assert_eq!(diagnostics(&chunked), diagnostics(&whole), "{what}");
            assert_eq!(chunked.compiled, whole.compiled, "{what}");
            assert_eq!(chunked.files_parsed, FILES + 1, "{what}: files, not parses");
            let counts = executions(&chunked);
            for (query, most) in [("parse_file(", 2), ("fn_check(", 1), ("fn_air(", 1), ("fn_input_bytes(", 1)] {
                let runs: Vec<_> = counts.iter().filter(|(q, _)| q.starts_with(query)).collect();
                assert_eq!(runs.len(), FILES + 1, "{what}: {query} of every file or function");
                assert!(runs.iter().all(|(_, n)| **n <= most), "{what}: more than {most}: {runs:?}");
            }
            // The trees the walk made after its last drop — at least the FILES % chunk + 1
            // files past its last whole chunk — are still there for the check's first
            // chunk: those files are parsed once.
            let parsed_once = counts.iter().filter(|(q, n)| q.starts_with("parse_file(") && **n == 1).count();
            assert!(parsed_once > FILES % chunk, "{what}: {parsed_once} parsed once");
            assert!(parsed_once < FILES + 1, "{what}: the walk dropped no tree");
        }
    }
}

/// Errors found in chunks are reported as when the program is checked whole: all of
/// them, in program order, with no executable.
#[test]
fn errors_found_in_chunks_are_reported_in_program_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    program(d, &[250, 7, 131]);
    let (whole, _) = build_in_chunks(d, request(d, 2), None);
    assert_eq!(diagnostics(&whole).iter().filter(|d| d.contains("expected")).count(), 3);
    for (jobs, chunk) in [(1, 16), (2, 5)] {
        let (chunked, exe) = build_in_chunks(d, request(d, jobs), Some(chunk));
        assert!(!chunked.success() && exe.is_none(), "chunks of {chunk}");
        assert_eq!(diagnostics(&chunked), diagnostics(&whole), "chunks of {chunk}");
    }
}

/// A session that checked in chunks and generated in rounds has dropped trees, ZIR,
/// checked functions, AIR and objects; building again after edits (a body, a signature
/// its callers must follow) recomputes what it needs and gives what a fresh, whole build
/// of the edited program gives.
#[test]
fn a_session_that_dropped_values_builds_again_as_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    program(d, &[]);
    let mut session = Session::new(&d.join("main.mini")).expect("session");
    session.disable_cache();
    session.set_chunks(7, 7);
    let request = request(d, 2);
    assert!(session.build(&request).expect("the build runs").success());
    let edits = [
        ("m150.mini", "return m151.f(x) + 150;", "return m151.f(x) + 1500;"),
        ("m299.mini", "pub fn f(x: i32) i32 {", "pub fn f(x: i32, y: i32) i32 {"),
        ("m298.mini", "m299.f(x)", "m299.f(x, 2)"),
    ];
    for (file, from, to) in edits {
        let text = std::fs::read_to_string(d.join(file)).unwrap();
        assert!(text.contains(from), "{file}: {text}");
        write(d, file, &text.replace(from, to));
    }
    let again = session.build(&request).expect("the build runs");
    assert!(again.success(), "{:?}", diagnostics(&again));
    let exe = std::fs::read(d.join("main2")).ok();
    let (fresh, fresh_exe) = cold_build(d, 1);
    assert!(fresh.success());
    assert!(exe.is_some() && exe == fresh_exe, "the fresh build's executable");
}
