//! Edit-to-binary timings for generated programs, in process (one long-lived session, as
//! watch mode keeps it) and through the CLI (a fresh process per build).
//!
//! ```text
//! cargo bench --bench build                    # 1,000 and 10,000 functions
//! cargo bench --bench build -- --functions 3000
//! ```
//!
//! Scenarios: a cold build (empty cache), a no-op rebuild, and a one-function body edit
//! (alternating between two bodies so each edit really changes code). Every build's
//! output is run and checked against the generator's expected result.

#[path = "support/generate.rs"]
mod generate;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use generate::{Program, Shape};
use mini::driver::{BuildRequest, Emit, Session};
use mini_queries::source::Settings;

const RUNS: usize = 5;

fn main() {
    mini::process::no_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = match args.iter().position(|a| a == "--functions") {
        Some(i) => {
            args[i + 1..].iter().take_while(|a| !a.starts_with("--")).map(|a| a.parse().expect("a number")).collect()
        }
        None => vec![1_000, 10_000],
    };
    let out_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-out/build");
    println!("(median of the runs, min–max in parentheses; the program's output is checked after each scenario)\n");
    println!("| functions | files | mode | cold | no-op | one-function edit | compiled on edit |");
    println!("|---:|---:|---|---:|---:|---:|---:|");
    for functions in sizes {
        // About three functions per file in the tree shape.
        let program = Program::generate(Shape::Tree, (functions / 3).max(1), 1);
        let dir = out_root.join(format!("f{functions}"));
        let _ = std::fs::remove_dir_all(&dir);
        program.write_mini(&dir).expect("write the program");
        in_process(&program, &dir);
        cli(&program, &dir);
    }
}

/// Edits the body of the first function of the last file; each round writes a body
/// never seen before, so nothing can come from a cache. Round `None` restores it.
fn edit(program: &Program, dir: &Path, round: Option<usize>) {
    let last = program.files.len() - 1;
    let path = dir.join(Program::module(last));
    let mut text = program.render_mini(last);
    if let Some(round) = round {
        text = text.replacen("var acc: i32 = x", &format!("var acc: i32 = {} + x", round + 1), 1);
    }
    std::fs::write(&path, text).expect("edit");
}

fn expected_stdout(program: &Program) -> String {
    format!("{}\n", program.expected_output())
}

fn check_output(exe: &Path, expected: &str) {
    let out = Command::new(exe).output().expect("program runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{} printed the wrong result", exe.display());
}

fn request(dir: &Path) -> BuildRequest {
    BuildRequest {
        emit: Emit::Exe,
        output: Some(dir.join("main")),
        settings: Settings::host(),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        log_queries: false,
        deny_warnings: false,
    }
}

fn in_process(program: &Program, dir: &Path) {
    let mut cold = Vec::new();
    let mut session = None;
    for _ in 0..3 {
        let cache = dir.join(".mini_cache");
        let _ = std::fs::remove_dir_all(&cache);
        let mut fresh = Session::new(&dir.join("main.mini")).expect("session");
        let start = Instant::now();
        let report = fresh.build(&request(dir)).expect("build");
        cold.push(start.elapsed());
        assert!(report.success());
        session = Some(fresh);
    }
    let mut session = session.expect("built");
    check_output(&dir.join("main"), &expected_stdout(program));

    let noop = time_runs(|| {
        let report = session.build(&request(dir)).expect("build");
        assert!(report.compiled.is_empty());
    });
    let mut compiled = 0;
    let mut round = 0;
    let edits = time_runs_with_setup(
        || {
            edit(program, dir, Some(round));
            round += 1;
        },
        || {
            let report = session.build(&request(dir)).expect("build");
            compiled = report.compiled.len();
        },
    );
    edit(program, dir, None);
    session.build(&request(dir)).expect("build");
    check_output(&dir.join("main"), &expected_stdout(program));
    row(program, "in-process", &cold, &noop, &edits, compiled);
}

fn mini(dir: &Path, cache: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["build", "main.mini", "--message-format=json"])
        .current_dir(dir)
        .env("MINI_CACHE_DIR", cache)
        .output()
        .expect("mini runs")
}

fn compiled_count(out: &std::process::Output) -> usize {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let last = String::from_utf8_lossy(&out.stdout).lines().last().expect("an event").to_string();
    let event: serde_json::Value = serde_json::from_str(&last).expect("JSON");
    event["compiled"].as_array().expect("a list").len()
}

fn cli(program: &Program, dir: &Path) {
    let cache: PathBuf = dir.join(".mini_cache");
    let mut cold = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&cache);
        let start = Instant::now();
        let out = mini(dir, &cache);
        cold.push(start.elapsed());
        // Every generated function, and `main`.
        assert_eq!(compiled_count(&out), program.function_count() + 1);
    }
    check_output(&dir.join("main"), &expected_stdout(program));
    let noop = time_runs(|| {
        mini(dir, &cache);
    });
    let mut compiled = 0;
    let mut round = 100;
    let edits = time_runs_with_setup(
        || {
            edit(program, dir, Some(round));
            round += 1;
        },
        || compiled = compiled_count(&mini(dir, &cache)),
    );
    edit(program, dir, None);
    mini(dir, &cache);
    check_output(&dir.join("main"), &expected_stdout(program));
    row(program, "CLI", &cold, &noop, &edits, compiled);
}

fn time_runs(mut f: impl FnMut()) -> Vec<Duration> {
    time_runs_with_setup(|| {}, &mut f)
}

fn time_runs_with_setup(mut setup: impl FnMut(), mut f: impl FnMut()) -> Vec<Duration> {
    (0..RUNS)
        .map(|_| {
            setup();
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect()
}

fn fmt(samples: &[Duration]) -> String {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    format!("{median:.1} ms ({:.1}–{:.1})", ms[0], ms[ms.len() - 1])
}

fn row(program: &Program, mode: &str, cold: &[Duration], noop: &[Duration], edit: &[Duration], compiled: usize) {
    println!(
        "| {} | {} | {mode} | {} | {} | {} | {compiled} |",
        program.function_count(),
        program.files.len(),
        fmt(cold),
        fmt(noop),
        fmt(edit)
    );
}
