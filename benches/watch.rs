//! Watch mode, driven programmatically: one `Watcher` on a generated program, edits
//! applied by writing files and telling the watcher which (no file-system events), and
//! for each edit the time from `rebuild` to a linked executable — what `mini watch`
//! reports as "time from the file event to the linked executable", minus the 2 ms the
//! burst of events waits (the `peers` bench times the real `mini watch` on real files).
//!
//! ```text
//! cargo bench --bench watch                          # 10,001 files, 200 edits
//! cargo bench --bench watch -- --edits 1000          # resident memory over 1,000 edits
//! cargo bench --bench watch -- --files 1001 --edits 40
//! MINI_LOG=info cargo bench --bench watch            # every rebuild's phases, as they close
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
//!
//! Body edits take turns among three ways of linking, so that they are compared side by
//! side on the same machine at the same time: the incremental linker patching the
//! executable and a copy of it in place (what `mini watch` does); patching, but writing
//! the whole executable to a new file; and a full link written whole (what watch mode did
//! before, and a one-shot build does). For the first, the time of each phase of the
//! rebuild is shown too (from the `tracing` spans), and how the link went.

#[path = "support/generate.rs"]
mod generate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use generate::{Program, Shape};
use mini::driver::{BuildRequest, Emit, Session};
use mini::link::incremental::{How, Mode};
use mini::watch::Watcher;
use mini_queries::source::Settings;

struct Options {
    files: usize,
    edits: usize,
}

fn options() -> Options {
    let mut o = Options { files: 10_001, edits: 200 };
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
    let phases = Phases::default();
    {
        use tracing_subscriber::prelude::*;
        let log = std::env::var_os("MINI_LOG").is_some().then(|| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
                .with_filter(tracing_subscriber::EnvFilter::from_env("MINI_LOG"))
        });
        let phases = phases.clone().with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        tracing_subscriber::registry().with(phases).with(log).init();
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
    let linker = watcher.session().incremental_linker().expect("a watcher links incrementally");
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
    // Body edits of files edited before, by way of linking: the rebuild, and the link
    // with the executable's writing.
    let mut by_mode: [(Vec<Duration>, Vec<Duration>); 3] = Default::default();
    // Each phase's times in body edits linked incrementally: [file edited before, first edit].
    let mut phase_samples: BTreeMap<&'static str, [Vec<Duration>; 2]> = BTreeMap::new();
    let mut hows: BTreeMap<String, usize> = BTreeMap::new();
    let mut body_edits = 0;
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
        // Body edits of files edited before take turns among the ways of linking, in
        // blocks; the first edit of a block is not counted, as it pays for the last
        // block's way (a whole executable replaced, say).
        let (mode, counted) = if is_body && !first {
            body_edits += 1;
            (MODES[(body_edits / BLOCK) % MODES.len()], body_edits % BLOCK != 0)
        } else {
            (Mode::Incremental, true)
        };
        linker.lock().unwrap().set_mode(mode);
        let paths: Vec<PathBuf> = changed.iter().map(|&i| dir.join(Program::module(i))).collect();
        for &i in &changed {
            std::fs::write(dir.join(Program::module(i)), program.render_mini(i)).expect("write the edit");
        }
        phases.clear();
        let start = Instant::now();
        let report = watcher.rebuild(Some(&paths)).expect("the rebuild");
        let took = start.elapsed();
        if is_body && mode == Mode::Incremental && counted {
            for (name, time) in phases.totals() {
                phase_samples.entry(name).or_default()[usize::from(first)].push(time);
            }
        }
        if is_body && !first && counted {
            let last = linker.lock().unwrap().last().cloned().expect("linked");
            let mode_index = MODES.iter().position(|&m| m == mode).unwrap();
            by_mode[mode_index].0.push(took);
            by_mode[mode_index].1.push(last.link + last.publish);
            if mode == Mode::Incremental {
                let how = match &last.how {
                    How::Patched { .. } if last.in_place => "patched, copy patched in place".to_string(),
                    How::Patched { .. } => "patched, copy written whole".to_string(),
                    other => format!("{other:?}"),
                };
                *hows.entry(how).or_default() += 1;
            }
        }
        let start = Instant::now();
        if watcher.flush().expect("write the index") {
            text.clear();
        }
        flush.push(start.elapsed());
        assert!(report.success(), "edit {edit} has errors: {:?}", report.diagnostics);
        let expected = usize::from(is_body);
        assert_eq!(report.compiled.len(), expected, "edit {edit} compiled {:?}", report.compiled);
        assert_eq!(report.linked, is_body, "edit {edit}: linked is {}", report.linked);
        if mode == Mode::Incremental && counted {
            samples[usize::from(!is_body)][usize::from(!first)].push(took);
        }
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
    println!("\nBody edits of files edited before, by way of linking (rebuild, and within it the link with the");
    println!("executable's writing):\n");
    println!("| link | edits | rebuild median | p90 | link + write median | p90 |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (mode, (rebuilds, links)) in MODES.iter().zip(&by_mode) {
        if rebuilds.is_empty() {
            continue;
        }
        let (r, l) = (Stats::of(rebuilds), Stats::of(links));
        let name = match mode {
            Mode::Incremental => "patch the executable and a copy in place (mini watch)",
            Mode::WriteWhole => "patch the executable, write it whole",
            Mode::Full => "full link, written whole (one-shot builds; watch mode before)",
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            rebuilds.len(),
            ms(r.median),
            ms(r.p90),
            ms(l.median),
            ms(l.p90)
        );
    }
    let hows: Vec<String> = hows.iter().map(|(how, n)| format!("{how}: {n}")).collect();
    println!("\nHow the incremental links went: {}.", hows.join("; "));
    println!("\nWhere the time of body edits linked incrementally goes (median and p90 per phase; a nested phase");
    println!("is part of the one it is in: `patch` of `link`):\n");
    println!("| phase | file edited before | p90 | first edit of the file | p90 |");
    println!("|---|---:|---:|---:|---:|");
    for (name, [again, first]) in &phase_samples {
        let cells = |samples: &Vec<Duration>| match samples.is_empty() {
            true => "— | —".to_string(),
            false => {
                let s = Stats::of(samples);
                format!("{} | {}", ms(s.median), ms(s.p90))
            }
        };
        println!("| {name} | {} | {} |", cells(again), cells(first));
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

/// The ways of linking body edits take turns among, in blocks of `BLOCK` edits.
const MODES: [Mode; 3] = [Mode::Incremental, Mode::WriteWhole, Mode::Full];
const BLOCK: usize = 5;

/// A `tracing` layer that adds up the time spent in each span, by name, between two
/// `clear`s: the phases of a rebuild.
#[derive(Clone, Default)]
struct Phases(Arc<Mutex<HashMap<&'static str, Duration>>>);

impl Phases {
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    fn totals(&self) -> Vec<(&'static str, Duration)> {
        self.0.lock().unwrap().iter().map(|(&name, &time)| (name, time)).collect()
    }
}

impl<S> tracing_subscriber::Layer<S> for Phases
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().replace(Instant::now());
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(entered) = span.extensions_mut().remove::<Instant>() else { return };
        *self.0.lock().unwrap().entry(span.name()).or_default() += entered.elapsed();
    }
}
