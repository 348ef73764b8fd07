//! Watch mode, driven programmatically: one `Watcher` on a generated program, edits
//! applied by writing files and telling the watcher which (no file-system events), and
//! for each edit the time from `rebuild` to a linked executable — what `mini watch`
//! reports as "time from the file event to the linked executable", minus the debounce.
//!
//! ```text
//! cargo bench --bench watch                          # 10,001 files, 100 edits
//! cargo bench --bench watch -- --files 1001 --edits 40
//! MINI_LOG=info cargo bench --bench watch            # where each rebuild's time goes
//! ```
//!
//! Edits alternate between a body edit of a leaf function (a new addend each time, so
//! nothing comes from a cache: one function compiled, one unit relinked) and a
//! comment-only edit of another file (nothing compiled, nothing linked): half of the
//! comment edits go to a few files in turn, the others each to a file not edited before.
//! A file's first edit in a session costs more — the file turns from a summary into
//! text, which re-runs the walk over the program's files — so each kind is reported
//! twice: first edits, and edits of a file already edited. Every rebuild's
//! compiled count is checked; the executable's output is checked at the end. Resident
//! memory is sampled after the cold build and every ten edits, to show whether it grows.
//! The disk cache is written after each rebuild is reported (`flush`), as `mini watch`
//! does; that time is shown separately.

#[path = "support/generate.rs"]
mod generate;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use generate::{Program, Shape};
use mini::driver::{BuildRequest, Emit, Session};
use mini::watch::Watcher;
use mini_queries::source::Settings;

struct Options {
    files: usize,
    edits: usize,
}

fn options() -> Options {
    let mut o = Options { files: 10_001, edits: 100 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let number = |i: usize| -> usize {
            args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("watch: {} takes a number", args[i]);
                std::process::exit(2)
            })
        };
        match args[i].as_str() {
            "--bench" => i += 1,
            "--files" => {
                o.files = number(i).max(3);
                i += 2;
            }
            "--edits" => {
                o.edits = number(i).max(2);
                i += 2;
            }
            other => {
                eprintln!(
                    "watch: unknown argument {other}\nusage: cargo bench --bench watch -- [--files N] [--edits N]"
                );
                std::process::exit(2)
            }
        }
    }
    o
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --benches` runs benchmark binaries without `--bench`: stay quick.
        println!("watch: run me with `cargo bench --bench watch`");
        return;
    }
    if std::env::var_os("MINI_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("MINI_LOG"))
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .init();
    }
    mini::process::no_huge_pages();
    let o = options();
    let mut program = Program::generate(Shape::Tree, o.files, 1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-out/watch/tree-{}", o.files));
    let _ = std::fs::remove_dir_all(&dir);
    program.write_mini(&dir).expect("write the program");
    let executable = dir.join("main");

    let session = Session::new(&dir.join("main.mini")).expect("a session");
    let request = BuildRequest {
        emit: Emit::Exe,
        output: Some(executable.clone()),
        settings: Settings::host(),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        log_queries: false,
        deny_warnings: false,
    };
    let mut watcher = Watcher::new(session, request);
    let start = Instant::now();
    let cold = watcher.rebuild(None).expect("the cold build");
    assert!(cold.success(), "the generated program has errors: {:?}", cold.diagnostics);
    watcher.flush().expect("write the index");
    let cold_time = start.elapsed();
    let mut rss = vec![(0, rss_mib())];

    // A few leaves, taken in turn, and files for comment edits away from them.
    let leaves: Vec<(usize, usize)> = leaves(&program, 8);
    // [body, comment] × [first edit of the file, file edited before]
    let mut samples: [[Vec<Duration>; 2]; 2] = Default::default();
    let mut flush = Vec::new();
    // The files that are text in the watcher's session (a rebase makes them summaries).
    let mut text: HashSet<usize> = HashSet::new();
    for edit in 1..=o.edits {
        let is_body = edit % 2 == 1;
        let changed = if is_body {
            let leaf = leaves[(edit / 2) % leaves.len()];
            program.set_addend(leaf, 1000 + edit as i32)
        } else if edit % 4 == 0 {
            program.edit_comment(1 + (edit / 4) % 4)
        } else {
            program.edit_comment(5 + edit % (program.files.len() - 5))
        };
        let first = changed.iter().any(|i| !text.contains(i));
        text.extend(&changed);
        let paths: Vec<PathBuf> = changed.iter().map(|&i| dir.join(Program::module(i))).collect();
        for &i in &changed {
            std::fs::write(dir.join(Program::module(i)), program.render_mini(i)).expect("write the edit");
        }
        let start = Instant::now();
        let report = watcher.rebuild(Some(&paths)).expect("the rebuild");
        let took = start.elapsed();
        let start = Instant::now();
        if watcher.flush().expect("write the index") {
            text.clear();
        }
        flush.push(start.elapsed());
        assert!(report.success(), "edit {edit} has errors: {:?}", report.diagnostics);
        let expected = usize::from(is_body);
        assert_eq!(report.compiled.len(), expected, "edit {edit} compiled {:?}", report.compiled);
        assert_eq!(report.linked, is_body, "edit {edit}: linked is {}", report.linked);
        samples[usize::from(!is_body)][usize::from(!first)].push(took);
        if edit % 10 == 0 {
            rss.push((edit, rss_mib()));
        }
    }

    let output = Command::new(&executable).output().expect("run the program");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(printed.trim(), program.expected_output().to_string(), "the program's output after the edits");

    println!(
        "### mini watch: tree of {} files, {} functions; cold build {} ms\n",
        o.files,
        program.function_count(),
        cold_time.as_millis()
    );
    println!("| rebuild after | edits | median | p90 | min–max |");
    println!("|---|---:|---:|---:|---:|");
    let [[body_first, body_again], [comment_first, comment_again]] = &samples;
    for (name, samples) in [
        ("body edit of a leaf (1 compiled, linked), file edited before", body_again),
        ("body edit of a leaf, first edit of the file", body_first),
        ("comment-only edit (nothing compiled or linked), file edited before", comment_again),
        ("comment-only edit, first edit of the file", comment_first),
        ("afterwards: index write, and rebase when due (flush)", &flush),
    ] {
        if samples.is_empty() {
            continue;
        }
        let s = Stats::of(samples);
        println!("| {name} | {} | {} | {} | {}–{} |", samples.len(), ms(s.median), ms(s.p90), ms(s.min), ms(s.max));
    }
    println!("\nResident memory (MiB) after the cold build and every ten edits:\n");
    let cells: Vec<String> = rss.iter().map(|(edit, mib)| format!("{edit}: {mib}")).collect();
    println!("{}", cells.join(" · "));
    let after_ten = rss.iter().find(|(edit, _)| *edit >= 10).map(|&(_, mib)| mib);
    if let (Some(first), Some(&(_, last))) = (after_ten, rss.last()) {
        println!("\nGrowth from edit 10 to edit {}: {} MiB", o.edits, last as i64 - first as i64);
    }
}

/// Up to `n` functions that call nothing, from the end of the program.
fn leaves(program: &Program, n: usize) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (i, file) in program.files.iter().enumerate().rev().skip(1) {
        if let Some(k) = file.functions.iter().rposition(|f| f.calls.is_empty()) {
            found.push((i, k));
            if found.len() == n {
                break;
            }
        }
    }
    found
}

struct Stats {
    median: Duration,
    p90: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        Stats { median: at(0.5), p90: at(0.9), min: sorted[0], max: sorted[sorted.len() - 1] }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// This process's resident set and its code generator's (`mini-codegen`, which holds
/// LLVM's memory), in MiB.
fn rss_mib() -> u64 {
    let rss = |pid: &str| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let helper = mini::codegen::helper_pid().map_or(0, |pid| rss(&pid.to_string()));
    (rss("self") + helper) / 1024
}
