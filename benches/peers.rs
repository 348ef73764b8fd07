//! Edit-to-binary time of mini next to the tools people already use, on the same machine
//! in one run: the same generated program as mini, C (make + gcc -O0), Zig (`zig build`,
//! and `zig build --watch -fincremental`) and Rust (`cargo build`, debug, incremental) —
//! and next to the floor of any one-shot build, `find` listing every source file's
//! modification time, measured in the same run whenever mini is.
//!
//! ```text
//! cargo bench --bench peers                                  # tree, 1,001 files
//! cargo bench --bench peers -- --files 10001 --shape star
//! cargo bench --bench peers -- --files 31 --runs 3 --tools mini,c
//! ```
//!
//! Every tool goes through the same scenarios on its twin of the program: a cold build
//! (empty caches), a no-op rebuild, `touch`, a comment-only edit, a body edit of a leaf
//! function, a body edit that moves the lines of the functions below it, a signature
//! change of a load-bearing function (with its callers updated), adding a function, and
//! reverting that. After every build the executable runs, and its output and exit status
//! must be the model's (so every twin agrees with mini); for mini the number of functions
//! compiled must be the one the scenario calls for. Any mismatch is reported and makes
//! the run exit with status 1.
//!
//! Prints a markdown table (median wall time, min–max, peak RSS from GNU time, mini ÷ peer) and writes
//! the samples as JSON to `target/bench-out/peers-<shape>-<files>.json`. A missing peer is
//! skipped with a note on how to install it.

#[path = "support/generate.rs"]
mod generate;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use generate::{Lang, Program, Shape};
use mini::driver::{BuildRequest, Emit, Session};
use mini::watch::Watcher;
use mini_queries::source::Settings;
use serde_json::json;

// ---------------------------------------------------------------------------------------
// Options

struct Options {
    files: usize,
    shape: Shape,
    runs: usize,
    cold_runs: usize,
    seed: u64,
    tools: Vec<String>,
    jobs: usize,
}

const ALL_TOOLS: [&str; 8] = ["mini", "floor", "mini-watch", "mini-watch-events", "c", "zig", "zig-watch", "rust"];

const USAGE: &str = "\
usage: cargo bench --bench peers -- [--files N] [--shape tree|chain|star|wide] [--runs N]
                                    [--cold-runs N] [--seed N] [--tools LIST] [--jobs N]
  --files N      files in the program (default 1001)
  --shape S      tree (default: file i imports 2i+1 and 2i+2), chain, star, wide
  --runs N       samples per incremental scenario (default 5)
  --cold-runs N  samples of the cold build (default 3)
  --seed N       the generator's seed (default 1)
  --tools LIST   comma-separated, from mini,floor,mini-watch,mini-watch-events,c,zig,zig-watch,rust
                 (default all; floor, `find . -name '*.mini' -printf '%T@\\n'`, comes with mini)
  --jobs N       parallel jobs for make (default: the number of CPUs)";

fn options() -> Options {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut o = Options {
        files: 1001,
        shape: Shape::Tree,
        runs: 5,
        cold_runs: 3,
        seed: 1,
        tools: ALL_TOOLS.iter().map(|s| s.to_string()).collect(),
        jobs: cpus,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let value = |i: usize| -> &str {
        args.get(i + 1).map(String::as_str).unwrap_or_else(|| fail_usage(&format!("{} needs a value", args[i])))
    };
    let number =
        |i: usize| -> usize { value(i).parse().unwrap_or_else(|_| fail_usage(&format!("{} takes a number", args[i]))) };
    while i < args.len() {
        match args[i].as_str() {
            // What cargo passes to every benchmark binary.
            "--bench" => {}
            "--files" => o.files = number(i),
            "--shape" => o.shape = Shape::parse(value(i)).unwrap_or_else(|| fail_usage("unknown shape")),
            "--runs" => o.runs = number(i),
            "--cold-runs" => o.cold_runs = number(i),
            "--seed" => o.seed = number(i) as u64,
            "--jobs" => o.jobs = number(i),
            "--tools" => {
                o.tools = value(i).split(',').map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect();
                for t in &o.tools {
                    if !ALL_TOOLS.contains(&t.as_str()) {
                        fail_usage(&format!("unknown tool {t}"));
                    }
                }
                // mini's one-shot rows are read against the floor, measured beside them.
                if o.tools.iter().any(|t| t == "mini") && !o.tools.iter().any(|t| t == "floor") {
                    o.tools.push("floor".into());
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => fail_usage(&format!("unknown argument {other}")),
        }
        i += if args[i] == "--bench" { 1 } else { 2 };
    }
    if o.files < 3 || o.runs == 0 || o.cold_runs == 0 || o.jobs == 0 {
        fail_usage("--files must be at least 3, --runs, --cold-runs and --jobs at least 1");
    }
    o
}

fn fail_usage(message: &str) -> ! {
    eprintln!("peers: {message}\n{USAGE}");
    std::process::exit(2);
}

// ---------------------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Cold,
    Noop,
    Touch,
    Comment,
    LeafBody,
    ShiftingBody,
    Signature,
    AddFunction,
    Revert,
}

impl Scenario {
    const ALL: [Scenario; 9] = [
        Scenario::Cold,
        Scenario::Noop,
        Scenario::Touch,
        Scenario::Comment,
        Scenario::LeafBody,
        Scenario::ShiftingBody,
        Scenario::Signature,
        Scenario::AddFunction,
        Scenario::Revert,
    ];

    fn key(self) -> &'static str {
        match self {
            Scenario::Cold => "cold",
            Scenario::Noop => "no-op",
            Scenario::Touch => "touch",
            Scenario::Comment => "comment",
            Scenario::LeafBody => "leaf-body",
            Scenario::ShiftingBody => "shifting-body",
            Scenario::Signature => "signature",
            Scenario::AddFunction => "add-function",
            Scenario::Revert => "revert",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Scenario::Cold => "cold (empty caches)",
            Scenario::Noop => "no-op",
            Scenario::Touch => "`touch` one file",
            Scenario::Comment => "comment-only edit",
            Scenario::LeafBody => "body edit, leaf function",
            Scenario::ShiftingBody => "body edit that shifts later lines",
            Scenario::Signature => "signature change, load-bearing fn",
            Scenario::AddFunction => "add a function",
            Scenario::Revert => "revert the previous edit",
        }
    }
}

/// What a round of a scenario does to the program, the same for every tool.
struct Plan {
    /// The file edited by the one-file scenarios: the last one.
    file: usize,
    leaf: (usize, usize),
    shifted: (usize, usize),
    load_bearing: (usize, usize),
}

impl Plan {
    fn new(program: &Program) -> Plan {
        let file = program.files.len() - 1;
        Plan { file, leaf: program.leaf(), shifted: (file, 0), load_bearing: program.load_bearing() }
    }

    /// Applies round `round` of `scenario` to the model; returns the modules whose files
    /// changed. Every round writes code never seen before in this run, except `Revert`,
    /// which undoes the `AddFunction` rounds one by one (newest first).
    fn apply(&self, program: &mut Program, scenario: Scenario, round: usize) -> Vec<usize> {
        let round_value = round as i32;
        match scenario {
            Scenario::Cold | Scenario::Noop | Scenario::Touch => Vec::new(),
            Scenario::Comment => program.edit_comment(self.file),
            Scenario::LeafBody => program.set_addend(self.leaf, 1000 + round_value),
            Scenario::ShiftingBody => program.insert_statement(self.shifted, 10 + round_value),
            Scenario::Signature => program.add_parameter(self.load_bearing),
            Scenario::AddFunction => {
                program.add_function(self.file, 3, 500 + round_value);
                vec![self.file]
            }
            Scenario::Revert => program.remove_last_function(self.file),
        }
    }

    /// How many functions mini must compile for a round of `scenario` (with `main`).
    fn expected_compiled(&self, program: &Program, scenario: Scenario) -> usize {
        match scenario {
            Scenario::Cold => program.function_count() + 1,
            Scenario::Noop | Scenario::Touch | Scenario::Comment | Scenario::Revert => 0,
            Scenario::LeafBody | Scenario::ShiftingBody | Scenario::AddFunction => 1,
            Scenario::Signature => {
                let target = self.load_bearing;
                1 + program.callers(target).len() + usize::from(target == (0, 0))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Twins on disk

/// One tool's copy of the program, and what has been written of it.
struct Twin {
    lang: Lang,
    dir: PathBuf,
    written: HashMap<String, String>,
}

/// Files to write and to touch before a build.
#[derive(Default)]
struct Change {
    writes: Vec<(PathBuf, String)>,
    touches: Vec<PathBuf>,
}

impl Change {
    fn apply(&self) {
        for (path, text) in &self.writes {
            std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
        for path in &self.touches {
            let file = std::fs::OpenOptions::new().write(true).open(path).expect("open to touch");
            file.set_modified(std::time::SystemTime::now()).expect("touch");
        }
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.writes.iter().map(|(p, _)| p.clone()).chain(self.touches.iter().cloned()).collect()
    }
}

impl Twin {
    fn create(lang: Lang, dir: PathBuf, program: &Program) -> Twin {
        let _ = std::fs::remove_dir_all(&dir);
        program.write_twin(lang, &dir).expect("write the program");
        let written = (0..program.files.len()).flat_map(|i| program.render(lang, i)).collect();
        Twin { lang, dir, written }
    }

    /// The files of `modules` whose text differs from what was written.
    fn change(&mut self, program: &Program, modules: &[usize]) -> Change {
        let mut change = Change::default();
        for &i in modules {
            for (path, text) in program.render(self.lang, i) {
                if self.written.get(&path) != Some(&text) {
                    change.writes.push((self.dir.join(&path), text.clone()));
                    self.written.insert(path, text);
                }
            }
        }
        change
    }

    fn touch(&self, module: usize) -> Change {
        Change { writes: Vec::new(), touches: vec![self.dir.join(Program::source_path(self.lang, module))] }
    }

    fn executable(&self) -> PathBuf {
        self.dir.join(Program::executable(self.lang))
    }
}

// ---------------------------------------------------------------------------------------
// Measuring processes

struct Measured {
    wall: Duration,
    /// The largest resident set of any process of the command, from GNU time.
    peak_rss_kib: Option<u64>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// GNU time, which reports the peak RSS of the command it runs. (A child's own rusage
/// will not do: a process spawned by this one counts this one's resident set, which
/// holds mini's in-process watch session, until it calls `exec`.)
fn gnu_time() -> Option<&'static Path> {
    static TIME: std::sync::OnceLock<Option<&'static Path>> = std::sync::OnceLock::new();
    *TIME.get_or_init(|| {
        let time = Path::new("/usr/bin/time");
        let ok = Command::new(time)
            .args(["-f", "%M", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(time)
    })
}

/// Runs `program args` in `dir` to completion, timing it (the time includes starting
/// GNU time, about a millisecond).
fn measure(program: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)], logs: &str) -> Result<Measured, String> {
    let logs = dir.parent().expect("twins live in the run's directory").join(logs);
    let out_path = logs.with_extension("stdout");
    let err_path = logs.with_extension("stderr");
    let rss_path = logs.with_extension("rss");
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut command = match gnu_time() {
        Some(time) => {
            let mut c = Command::new(time);
            c.args(["-f", "%M", "-o"]).arg(&rss_path).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    };
    command.args(args).current_dir(dir).envs(env.iter().copied()).stdin(Stdio::null()).stdout(out).stderr(err);
    scrub(&mut command);
    let start = Instant::now();
    let status = command.status().map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let wall = start.elapsed();
    // GNU time writes "Command exited with non-zero status N" first when it did.
    let peak_rss_kib = std::fs::read_to_string(&rss_path)
        .ok()
        .and_then(|text| text.lines().last().and_then(|l| l.trim().parse().ok()));
    Ok(Measured {
        wall,
        peak_rss_kib,
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// The last lines of a tool's output, for error messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn failed(what: &str, m: &Measured) -> String {
    format!("{what} failed ({}):\n{}\n{}", m.status, tail(&m.stdout), tail(&m.stderr))
}

/// Clears a process's peak resident set (Linux ≥ 4.0), so that `VmHWM` covers what follows.
fn reset_peak(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn peak_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Processes in process group `pgid`.
fn group_members(pgid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            // Fields after the command name (which may contain spaces): state ppid pgrp …
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return false };
            rest.split_whitespace().nth(2) == Some(&pgid.to_string())
        })
        .collect()
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// The environment variables of the benchmark's own cargo that must not leak into the
/// tools (a make jobserver, another target directory, wrappers).
fn scrub(command: &mut Command) -> &mut Command {
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "MINI_CACHE_DIR",
        "MINI_LOG",
        "ZIG_LOCAL_CACHE_DIR",
    ] {
        command.env_remove(var);
    }
    command
}

// ---------------------------------------------------------------------------------------
// Tools

struct Sample {
    wall: Duration,
    peak_rss_kib: Option<u64>,
    compiled: Option<usize>,
}

trait Tool {
    fn name(&self) -> String;
    fn key(&self) -> &'static str;
    fn twin(&mut self) -> &mut Twin;
    /// The tool whose median this one's is divided by in the "mini ÷ tool" column; none
    /// for mini's own rows.
    fn compare_with(&self) -> Option<&'static str> {
        None
    }
    fn supports(&self, _scenario: Scenario) -> Result<(), &'static str> {
        Ok(())
    }
    /// Empties every cache of the program (not the tool's own, global, caches).
    fn clean(&mut self);
    /// Whether a build leaves an executable whose output is checked (the floor does not).
    fn makes_executable(&self) -> bool {
        true
    }
    /// Applies `change` (untimed) and builds (timed); the executable is to print and exit
    /// with `expected` (which the caller checks; a watcher uses it to know which rebuild
    /// is the edit's).
    fn build(&mut self, scenario: Scenario, change: &Change, expected: &(String, i32)) -> Result<Sample, String>;
    fn stop(&mut self) {}
}

/// What a watcher can be timed on: every scenario but the no-op, after which it has
/// nothing to do.
fn watcher_supports(scenario: Scenario) -> Result<(), &'static str> {
    match scenario {
        Scenario::Noop => Err("nothing changed, so a watcher does nothing"),
        _ => Ok(()),
    }
}

struct MiniCli {
    twin: Twin,
    exe: PathBuf,
}

impl Tool for MiniCli {
    fn name(&self) -> String {
        "mini".into()
    }
    fn key(&self) -> &'static str {
        "mini"
    }
    fn twin(&mut self) -> &mut Twin {
        &mut self.twin
    }
    fn clean(&mut self) {
        remove(&self.twin.dir.join(".mini_cache"));
        remove(&self.twin.executable());
    }
    fn build(&mut self, _: Scenario, change: &Change, _: &(String, i32)) -> Result<Sample, String> {
        change.apply();
        let dir = &self.twin.dir;
        let m = measure(&self.exe, &["build", "main.mini", "--message-format", "json"], dir, &[], "mini-build")?;
        if !m.status.success() {
            return Err(failed("mini build", &m));
        }
        let last = m.stdout.lines().last().ok_or("mini printed no build-finished event")?;
        let event: serde_json::Value = serde_json::from_str(last).map_err(|e| format!("{e}: {last}"))?;
        if event["reason"] != "build-finished" || event["success"] != true {
            return Err(format!("unexpected last event: {last}"));
        }
        let compiled = event["compiled"].as_array().ok_or("no `compiled` list")?.len();
        Ok(Sample { wall: m.wall, peak_rss_kib: m.peak_rss_kib, compiled: Some(compiled) })
    }
}

/// The floor of a one-shot build: `find` listing the modification time of every source
/// file — the least any build that looks at every file does (walking the directories and
/// one `stat` per file), started as a process as `mini` is. Its twin follows every edit.
struct Floor {
    twin: Twin,
}

impl Tool for Floor {
    fn name(&self) -> String {
        "floor: `find . -name '*.mini' -printf '%T@\\n'`".into()
    }
    fn key(&self) -> &'static str {
        "floor"
    }
    fn twin(&mut self) -> &mut Twin {
        &mut self.twin
    }
    fn compare_with(&self) -> Option<&'static str> {
        Some("mini")
    }
    fn clean(&mut self) {}
    fn makes_executable(&self) -> bool {
        false
    }
    fn build(&mut self, _: Scenario, change: &Change, _: &(String, i32)) -> Result<Sample, String> {
        change.apply();
        let args = [".", "-name", "*.mini", "-printf", "%T@\n"];
        let m = measure(Path::new("find"), &args, &self.twin.dir, &[], "floor")?;
        if !m.status.success() {
            return Err(failed("find", &m));
        }
        Ok(Sample { wall: m.wall, peak_rss_kib: m.peak_rss_kib, compiled: None })
    }
}

/// mini's watch mode, driven in process: the watcher is told which files changed, as
/// `mini watch` is by file events (whose delivery and 2 ms quiet period are not included).
struct MiniWatch {
    twin: Twin,
    watcher: Option<Watcher>,
}

impl MiniWatch {
    fn request(&self) -> BuildRequest {
        BuildRequest {
            emit: Emit::Exe,
            output: Some(self.twin.executable()),
            settings: Settings::host(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            log_queries: false,
            deny_warnings: false,
        }
    }
}

impl Tool for MiniWatch {
    fn name(&self) -> String {
        "mini watch (in process)".into()
    }
    fn key(&self) -> &'static str {
        "mini-watch"
    }
    fn twin(&mut self) -> &mut Twin {
        &mut self.twin
    }
    fn supports(&self, scenario: Scenario) -> Result<(), &'static str> {
        watcher_supports(scenario)
    }
    fn clean(&mut self) {
        self.watcher = None;
        remove(&self.twin.dir.join(".mini_cache"));
        remove(&self.twin.executable());
    }
    fn build(&mut self, scenario: Scenario, change: &Change, _: &(String, i32)) -> Result<Sample, String> {
        change.apply();
        let paths = change.paths();
        reset_peak("self");
        let helper = mini::codegen::helper_pid().map(|pid| pid.to_string());
        if let Some(pid) = &helper {
            reset_peak(pid);
        }
        let start = Instant::now();
        let report = match self.watcher.as_mut() {
            Some(watcher) if scenario != Scenario::Cold => watcher.rebuild(Some(&paths)),
            _ => {
                let session = Session::new(&self.twin.dir.join("main.mini")).map_err(|e| format!("{e:#}"))?;
                let request = self.request();
                self.watcher.insert(Watcher::new(session, request)).rebuild(None)
            }
        }
        .map_err(|e| format!("{e:#}"))?;
        let wall = start.elapsed();
        if !report.success() {
            return Err(format!("mini watch: errors: {:?}", report.diagnostics));
        }
        self.watcher.as_mut().expect("a watcher").flush().map_err(|e| format!("{e:#}"))?;
        // With the code generator's: LLVM's memory is there (an upper bound: the two
        // peaks need not be at the same moment).
        let helper = mini::codegen::helper_pid().and_then(|pid| peak_kib(&pid.to_string()));
        let peak = peak_kib("self").map(|own| own + helper.unwrap_or(0));
        Ok(Sample { wall, peak_rss_kib: peak, compiled: Some(report.compiled.len()) })
    }
}

/// The real `mini watch` on real files: a long-running process told of edits by the
/// kernel's file events, as a user runs it. A sample is the time from just before the
/// edit's files are written to the moment the executable is replaced with one that
/// prints what the model says (seen through a file event of its own); for the edits
/// that link nothing, to the rebuild's `rebuild-finished` event.
struct MiniWatchEvents {
    twin: Twin,
    exe: PathBuf,
    running: Option<WatchProcess>,
}

/// A `mini watch` process, what it prints (JSON events, one per line) and when the
/// executable changed, each with the time it was seen.
struct WatchProcess {
    child: std::process::Child,
    events: Receiver<(Instant, serde_json::Value)>,
    replaced: Receiver<Instant>,
    _notify: notify::RecommendedWatcher,
}

impl MiniWatchEvents {
    fn start(&mut self) -> Result<(), String> {
        use notify::Watcher as _;
        let dir = &self.twin.dir;
        let exe = self.twin.executable();
        let (tx, replaced) = std::sync::mpsc::channel();
        let watched = exe.clone();
        let mut notify = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && !matches!(event.kind, notify::EventKind::Access(_))
                && event.paths.contains(&watched)
            {
                let _ = tx.send(Instant::now());
            }
        })
        .map_err(|e| e.to_string())?;
        notify.watch(dir, notify::RecursiveMode::NonRecursive).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.parent().expect("in the run's directory").join("mini-watch.stderr"))
            .map_err(|e| e.to_string())?;
        let mut child = scrub(Command::new(&self.exe).args(["watch", "main.mini", "--message-format", "json"]))
            .current_dir(dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run mini watch: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str(&line) else { continue };
                if tx.send((Instant::now(), value)).is_err() {
                    break;
                }
            }
        });
        self.running = Some(WatchProcess { child, events, replaced, _notify: notify });
        Ok(())
    }

    /// Waits for the successful rebuild after which the executable prints `expected`;
    /// returns when the executable was last replaced before it, or when it was reported
    /// if the executable was not replaced since `since`.
    fn wait_for_build(
        &mut self,
        since: Instant,
        expected: &(String, i32),
        timeout: Duration,
    ) -> Result<Instant, String> {
        let process = self.running.as_ref().ok_or("mini watch is not running")?;
        let deadline = Instant::now() + timeout;
        let mut replaced: Option<Instant> = None;
        loop {
            let (at, event) = match process.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => return Err(format!("mini watch did not rebuild in {timeout:?}")),
                Err(RecvTimeoutError::Disconnected) => return Err("mini watch exited".into()),
            };
            while let Ok(at) = process.replaced.try_recv() {
                replaced = replaced.max(Some(at).filter(|&at| at >= since));
            }
            if event["reason"] != "rebuild-finished" || event["success"] != true {
                continue;
            }
            if check_output(&self.twin.executable(), expected).is_ok() {
                return Ok(replaced.unwrap_or(at));
            }
        }
    }
}

impl Tool for MiniWatchEvents {
    fn name(&self) -> String {
        "mini watch (real file events)".into()
    }
    fn key(&self) -> &'static str {
        "mini-watch-events"
    }
    fn twin(&mut self) -> &mut Twin {
        &mut self.twin
    }
    fn supports(&self, scenario: Scenario) -> Result<(), &'static str> {
        watcher_supports(scenario)
    }
    fn clean(&mut self) {
        self.stop();
        remove(&self.twin.dir.join(".mini_cache"));
        remove(&self.twin.executable());
    }
    fn build(&mut self, scenario: Scenario, change: &Change, expected: &(String, i32)) -> Result<Sample, String> {
        let timeout = Duration::from_secs(if scenario == Scenario::Cold { 1800 } else { 600 });
        if let Some(process) = &self.running {
            // What came before this edit is not its.
            while process.events.try_recv().is_ok() || process.replaced.try_recv().is_ok() {}
            reset_peak(&process.child.id().to_string());
        }
        let start = Instant::now();
        change.apply();
        if self.running.is_none() {
            self.start()?;
        }
        let end = self.wait_for_build(start, expected, timeout)?;
        let pid = self.running.as_ref().map(|p| p.child.id().to_string());
        Ok(Sample { wall: end - start, peak_rss_kib: pid.and_then(|pid| peak_kib(&pid)), compiled: None })
    }
    fn stop(&mut self) {
        if let Some(mut process) = self.running.take() {
            // SAFETY: signalling a process group this benchmark created.
            unsafe { libc::kill(-(process.child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = process.child.wait();
        }
    }
}

impl Drop for MiniWatchEvents {
    fn drop(&mut self) {
        self.stop();
    }
}

struct C {
    twin: Twin,
    jobs: usize,
}

impl Tool for C {
    fn name(&self) -> String {
        format!("C (make -j{}, gcc -O0)", self.jobs)
    }
    fn key(&self) -> &'static str {
        "c"
    }
    fn twin(&mut self) -> &mut Twin {
        &mut self.twin
    }
    fn compare_with(&self) -> Option<&'static str> {
        Some("mini")
    }
    fn clean(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.twin.dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "o" || e == "d") {
                remove(&path);
            }
        }
        remove(&self.twin.executable());
    }
    fn build(&mut self, _: Scenario, change: &Change, _: &(String, i32)) -> Result<Sample, String> {
        change.apply();
        let dir = &self.twin.dir;
        let m = measure(Path::new("make"), &[&format!("-j{}", self.jobs)], dir, &[], "c-build")?;
        if !m.status.success() {
            return Err(failed("make", &m));
        }
        Ok(Sample { wall: m.wall, peak_rss_kib: m.peak_rss_kib, compiled: None })
    }
}

struct Zig {
    twin: Twin,
    zig: PathBuf,
}

impl Tool for Zig {
    fn name(&self) -> String {
        "Zig (zig build, Debug)".into()
    }
    fn key(&self) -> &'static str {
        "zig"
    }
    fn twin(&mut self) -> &mut Twin {
        &mut self.twin
    }
    fn compare_with(&self) -> Option<&'static str> {
        Some("mini")
    }
    fn clean(&mut self) {
        remove(&self.twin.dir.join(".zig-cache"));
        remove(&self.twin.dir.join("zig-out"));
    }
    fn build(&mut self, _: Scenario, change: &Change, _: &(String, i32)) -> Result<Sample, String> {
        change.apply();
        let dir = &self.twin.dir;
        let m = measure(&self.zig, &["build"], dir, &[], "zig-build")?;
        if !m.status.success() {
            return Err(failed("zig build", &m));
        }
        Ok(Sample { wall: m.wall, peak_rss_kib: m.peak_rss_kib, compiled: None })
    }
}

/// `zig build --watch -fincremental`: a long-running process; a rebuild is over when it
/// prints its build summary. The time includes Zig's file-event latency and its debounce.
struct ZigWatch {
    twin: Twin,
    zig: PathBuf,
    child: Option<(std::process::Child, Receiver<String>)>,
}

const ZIG_DEBOUNCE_MS: u32 = 10;

impl ZigWatch {
    fn start(&mut self) -> Result<(), String> {
        let mut child = scrub(
            Command::new(&self.zig)
                .args(["build", "--watch", "-fincremental", "--debounce", &ZIG_DEBOUNCE_MS.to_string()])
                .current_dir(&self.twin.dir),
        )
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run zig: {e}"))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.child = Some((child, rx));
        Ok(())
    }

    /// Waits for the next build summary; returns the summary block.
    fn wait_for_build(&mut self, timeout: Duration) -> Result<String, String> {
        let (_, rx) = self.child.as_ref().ok_or("zig watch is not running")?;
        let deadline = Instant::now() + timeout;
        let mut block = String::new();
        let mut in_summary = false;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    in_summary |= line.starts_with("Build Summary:");
                    if in_summary && line.trim().is_empty() {
                        return Ok(block);
                    }
                    block.push_str(&line);
                    block.push('\n');
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("zig watch did not finish a build in {timeout:?}:\n{}", tail(&block)));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(format!("zig watch exited:\n{}", tail(&block))),
            }
        }
    }

    fn pgid(&self) -> Option<u32> {
        self.child.as_ref().map(|(c, _)| c.id())
    }

    fn group_peak(&self) -> Option<u64> {
        let members = group_members(self.pgid()?);
        members.iter().filter_map(|pid| peak_kib(pid)).max()
    }

    fn reset_group_peak(&self) {
        if let Some(pgid) = self.pgid() {
            group_members(pgid).iter().for_each(|pid| reset_peak(pid));
        }
    }
}

impl Tool for ZigWatch {
    fn name(&self) -> String {
        format!("Zig watch (--watch -fincremental, {ZIG_DEBOUNCE_MS} ms debounce)")
    }
    fn key(&self) -> &'static str {
        "zig-watch"
    }
    fn twin(&mut self) -> &mut Twin {
        &mut self.twin
    }
    fn compare_with(&self) -> Option<&'static str> {
        // Both timed from the write, through real file events.
        Some("mini-watch-events")
    }
    fn supports(&self, scenario: Scenario) -> Result<(), &'static str> {
        watcher_supports(scenario)
    }
    fn clean(&mut self) {
        self.stop();
        remove(&self.twin.dir.join(".zig-cache"));
        remove(&self.twin.dir.join("zig-out"));
    }
    fn build(&mut self, scenario: Scenario, change: &Change, _: &(String, i32)) -> Result<Sample, String> {
        change.apply();
        let timeout = Duration::from_secs(if scenario == Scenario::Cold { 1800 } else { 600 });
        let start = Instant::now();
        if self.child.is_none() {
            self.start()?;
        } else {
            self.reset_group_peak();
        }
        let failed = |summary: &str| {
            let first = summary.lines().find(|l| l.starts_with("Build Summary:")).unwrap_or("");
            first.contains("failed") || summary.contains("error:")
        };
        let mut summary = self.wait_for_build(timeout)?;
        // A rebuild that started while the files of a many-file edit were still being
        // written fails; Zig then rebuilds with the rest. Its time counts.
        while failed(&summary) {
            summary = self
                .wait_for_build(Duration::from_secs(30))
                .map_err(|e| format!("zig watch build failed:\n{summary}\nand did not rebuild: {e}"))?;
        }
        let wall = start.elapsed();
        Ok(Sample { wall, peak_rss_kib: self.group_peak(), compiled: None })
    }
    fn stop(&mut self) {
        if let Some((mut child, _)) = self.child.take() {
            // The whole group: the build runner and the compiler it started.
            // SAFETY: signalling a process group this benchmark created.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

impl Drop for ZigWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Rust {
    twin: Twin,
    cargo: PathBuf,
}

impl Tool for Rust {
    fn name(&self) -> String {
        "Rust (cargo build, debug)".into()
    }
    fn key(&self) -> &'static str {
        "rust"
    }
    fn twin(&mut self) -> &mut Twin {
        &mut self.twin
    }
    fn compare_with(&self) -> Option<&'static str> {
        Some("mini")
    }
    fn clean(&mut self) {
        remove(&self.twin.dir.join("target"));
    }
    fn build(&mut self, _: Scenario, change: &Change, _: &(String, i32)) -> Result<Sample, String> {
        change.apply();
        let dir = &self.twin.dir;
        let m = measure(&self.cargo, &["build", "--offline"], dir, &[("CARGO_INCREMENTAL", "1")], "rust-build")?;
        if !m.status.success() {
            return Err(failed("cargo build", &m));
        }
        Ok(Sample { wall: m.wall, peak_rss_kib: m.peak_rss_kib, compiled: None })
    }
}

// ---------------------------------------------------------------------------------------
// Finding the peers

/// The first line a program prints for `args`, if it runs and succeeds.
fn version(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_string())
}

/// `$ZIG`, `zig` on the PATH, or the binary of the `ziglang` Python package.
fn find_zig() -> Option<(PathBuf, String)> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("ZIG").map(PathBuf::from).into_iter().collect();
    candidates.push(PathBuf::from("zig"));
    if let Ok(out) = Command::new("python3")
        .args(["-c", "import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), 'zig'))"])
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    candidates.into_iter().find_map(|zig| version(&zig, &["version"]).map(|v| (zig, v)))
}

/// Builds a tiny project once so that Zig's global cache (its build runner, compiler_rt)
/// is warm: the cold scenario measures the program, not Zig's one-time set-up, as Rust's
/// cold build does not rebuild the standard library.
fn warm_zig(zig: &Path, root: &Path) -> Result<(), String> {
    let program = Program::generate(Shape::Tree, 3, 7);
    let dir = root.join("zig-warm-up");
    let _ = std::fs::remove_dir_all(&dir);
    program.write_twin(Lang::Zig, &dir).map_err(|e| e.to_string())?;
    eprintln!("warming Zig's global cache (the first time on a machine takes a few minutes)…");
    let out = scrub(Command::new(zig).arg("build").current_dir(&dir)).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("zig build of a 3-file program failed:\n{}", tail(&String::from_utf8_lossy(&out.stderr))));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Running

struct Row {
    scenario: Scenario,
    tool: String,
    tool_key: &'static str,
    compare_with: Option<&'static str>,
    samples: Vec<Sample>,
    expected_compiled: Vec<usize>,
    note: Option<String>,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --benches` runs benchmark binaries without `--bench`: stay quick.
        println!("peers: run me with `cargo bench --bench peers` (see --help)");
        return;
    }
    mini::process::no_huge_pages();
    let o = options();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-out");
    let out = root.join(format!("peers/{}-{}", o.shape.name(), o.files));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create the output directory");

    let mut program = Program::generate(o.shape, o.files, o.seed).with_large_multipliers(o.seed);
    let plan = Plan::new(&program);
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut versions: Vec<(String, String)> = Vec::new();
    let wanted = |t: &str| o.tools.iter().any(|w| w == t);

    let mut tools: Vec<Box<dyn Tool>> = Vec::new();
    if wanted("mini") {
        tools.push(Box::new(MiniCli {
            twin: Twin::create(Lang::Mini, out.join("mini"), &program),
            exe: PathBuf::from(env!("CARGO_BIN_EXE_mini")),
        }));
    }
    if wanted("floor") {
        tools.push(Box::new(Floor { twin: Twin::create(Lang::Mini, out.join("floor"), &program) }));
    }
    if wanted("mini-watch") {
        tools.push(Box::new(MiniWatch {
            twin: Twin::create(Lang::Mini, out.join("mini-watch"), &program),
            watcher: None,
        }));
    }
    if wanted("mini-watch-events") {
        tools.push(Box::new(MiniWatchEvents {
            twin: Twin::create(Lang::Mini, out.join("mini-watch-events"), &program),
            exe: PathBuf::from(env!("CARGO_BIN_EXE_mini")),
            running: None,
        }));
    }
    if wanted("c") {
        let gcc = version(Path::new("gcc"), &["--version"]);
        let make = version(Path::new("make"), &["--version"]);
        match (gcc, make) {
            (Some(gcc), Some(make)) => {
                versions.push(("gcc".into(), gcc));
                versions.push(("make".into(), make));
                tools.push(Box::new(C { twin: Twin::create(Lang::C, out.join("c"), &program), jobs: o.jobs }));
            }
            _ => skipped.push((
                "C".into(),
                "gcc or make not found: install them (Debian/Ubuntu: `apt-get install gcc make`)".into(),
            )),
        }
    }
    if wanted("zig") || wanted("zig-watch") {
        match find_zig() {
            None => skipped.push((
                "Zig".into(),
                "zig not found: `pip install ziglang` (Zig 0.17), or put zig on the PATH, or set ZIG=/path/to/zig"
                    .into(),
            )),
            Some((_, v)) if !v.starts_with("0.17.") => skipped.push((
                "Zig".into(),
                format!("found Zig {v}; the twin is written for Zig 0.17's std: `pip install ziglang==0.17.0`"),
            )),
            Some((zig, v)) => match warm_zig(&zig, &out) {
                Err(e) => skipped.push(("Zig".into(), format!("Zig {v} does not build a small program: {e}"))),
                Ok(()) => {
                    versions.push(("zig".into(), v));
                    if wanted("zig") {
                        tools.push(Box::new(Zig {
                            twin: Twin::create(Lang::Zig, out.join("zig"), &program),
                            zig: zig.clone(),
                        }));
                    }
                    if wanted("zig-watch") {
                        tools.push(Box::new(ZigWatch {
                            twin: Twin::create(Lang::Zig, out.join("zig-watch"), &program),
                            zig,
                            child: None,
                        }));
                    }
                }
            },
        }
    }
    if wanted("rust") {
        let cargo = [PathBuf::from("cargo")]
            .into_iter()
            .chain(std::env::var_os("CARGO").map(PathBuf::from))
            .find_map(|c| version(&c, &["--version"]).map(|v| (c, v)));
        match cargo {
            Some((cargo, v)) => {
                versions.push(("cargo".into(), v));
                if let Some(rustc) = version(Path::new("rustc"), &["--version"]) {
                    versions.push(("rustc".into(), rustc));
                }
                tools.push(Box::new(Rust { twin: Twin::create(Lang::Rust, out.join("rust"), &program), cargo }));
            }
            None => {
                skipped.push(("Rust".into(), "cargo not found: install Rust with rustup (https://rustup.rs)".into()))
            }
        }
    }
    if gnu_time().is_none() {
        skipped.push((
            "peak RSS of the command-line tools".into(),
            "GNU time (/usr/bin/time) not found: install it (Debian/Ubuntu: `apt-get install time`)".into(),
        ));
    }
    for (tool, why) in &skipped {
        eprintln!("peers: skipping {tool}: {why}");
    }

    let (wraps, negative) = program.arithmetic_stats();
    eprintln!(
        "peers: {} shape, {} files, {} functions (a run wraps {wraps} times and takes {negative} remainders of \
         negative numbers); tools: {}",
        o.shape.name(),
        program.files.len(),
        program.function_count(),
        tools.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
    );
    let mut rows: Vec<Row> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut broken = vec![false; tools.len()];
    for scenario in Scenario::ALL {
        let first_row = rows.len();
        for tool in &tools {
            let mut row = Row {
                scenario,
                tool: tool.name(),
                tool_key: tool.key(),
                compare_with: tool.compare_with(),
                samples: Vec::new(),
                expected_compiled: Vec::new(),
                note: None,
            };
            if let Err(why) = tool.supports(scenario) {
                row.note = Some(why.to_string());
            }
            rows.push(row);
        }
        let rounds = if scenario == Scenario::Cold { o.cold_runs } else { o.runs };
        for round in 0..rounds {
            let modules = plan.apply(&mut program, scenario, round);
            let expected = (format!("{}\n", program.expected_output()), program.expected_status());
            let expected_compiled = plan.expected_compiled(&program, scenario);
            for (t, tool) in tools.iter_mut().enumerate() {
                let row = &mut rows[first_row + t];
                // Every twin follows every edit, even where its tool sits a scenario out.
                let change = match scenario {
                    Scenario::Touch => tool.twin().touch(plan.file),
                    _ => tool.twin().change(&program, &modules),
                };
                if broken[t] || row.note.is_some() {
                    change.apply();
                    continue;
                }
                progress(&format!("{} · {} · run {}/{rounds}", scenario.label(), tool.name(), round + 1));
                if scenario == Scenario::Cold {
                    tool.clean();
                }
                let result = tool.build(scenario, &change, &expected).and_then(|sample| {
                    if tool.makes_executable() {
                        check_output(&tool.twin().executable(), &expected)?;
                    }
                    if let Some(compiled) = sample.compiled
                        && compiled != expected_compiled
                    {
                        return Err(format!("compiled {compiled} functions, expected {expected_compiled}"));
                    }
                    Ok(sample)
                });
                match result {
                    Ok(sample) => {
                        row.samples.push(sample);
                        row.expected_compiled.push(expected_compiled);
                    }
                    Err(e) => {
                        let message = format!("{} · {} · run {}: {e}", scenario.label(), tool.name(), round + 1);
                        progress("");
                        eprintln!("\npeers: FAILED: {message}");
                        failures.push(message);
                        row.note = Some("FAILED (see below)".into());
                        broken[t] = true;
                        tool.stop();
                    }
                }
            }
        }
    }
    progress("");
    for tool in &mut tools {
        tool.stop();
    }

    let title = format!(
        "{} shape, {} files, {} functions, seed {}; {} runs per scenario ({} cold)",
        o.shape.name(),
        program.files.len(),
        program.function_count(),
        o.seed,
        o.runs,
        o.cold_runs
    );
    let markdown = render_markdown(&title, &rows, &versions, &skipped, &failures);
    println!("{markdown}");
    let base = root.join(format!("peers-{}-{}", o.shape.name(), o.files));
    std::fs::write(base.with_extension("md"), &markdown).expect("write the markdown");
    let report = render_json(&o, &program, &rows, &versions, &skipped, &failures);
    std::fs::write(base.with_extension("json"), serde_json::to_string_pretty(&report).unwrap()).expect("write JSON");
    eprintln!("peers: wrote {} and .md", base.with_extension("json").display());
    if !failures.is_empty() {
        eprintln!("peers: {} FAILURE(S):", failures.len());
        for f in &failures {
            eprintln!("  - {f}");
        }
        std::process::exit(1);
    }
}

/// Shows what runs: on one rewritten line on a terminal, else a line per step.
fn progress(what: &str) {
    use std::io::IsTerminal as _;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K{what}");
    } else if !what.is_empty() {
        eprintln!("peers: {what}");
    }
}

/// Runs a built program and checks what it printed and its exit status.
fn check_output(exe: &Path, (stdout, status): &(String, i32)) -> Result<(), String> {
    let out =
        Command::new(exe).stdin(Stdio::null()).output().map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let printed = String::from_utf8_lossy(&out.stdout);
    if printed != *stdout || out.status.code() != Some(*status) {
        return Err(format!(
            "WRONG OUTPUT: {} printed {printed:?} and exited with {}; mini's program prints {stdout:?} and exits with {status}",
            exe.display(),
            out.status
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reporting

fn median(samples: &[Sample]) -> Option<Duration> {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    walls.get(walls.len() / 2).copied()
}

/// The 90th percentile (nearest rank).
fn p90(samples: &[Sample]) -> Option<Duration> {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    walls.get((walls.len() * 9).div_ceil(10).saturating_sub(1)).copied()
}

fn time(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1e3)
    } else if ms >= 1_000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(rows: &[Row], row: &Row) -> String {
    let Some(other) = row.compare_with else { return "—".into() };
    let mine = rows.iter().find(|r| r.scenario == row.scenario && r.tool_key == other).and_then(|r| median(&r.samples));
    match (mine, median(&row.samples)) {
        (Some(m), Some(p)) if !p.is_zero() => format!("{:.2}", m.as_secs_f64() / p.as_secs_f64()),
        _ => "—".into(),
    }
}

fn render_markdown(
    title: &str,
    rows: &[Row],
    versions: &[(String, String)],
    skipped: &[(String, String)],
    failures: &[String],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "### mini and its peers: {title}\n");
    let _ = writeln!(
        md,
        "Wall time of the build command after each edit (median, 90th percentile, min–max), the largest resident set \
         of any process of the build, and mini's median divided by the peer's (below 1: mini is faster; Zig's watch \
         mode is compared with `mini watch` on real file events). Every executable's output and exit status were \
         checked.\n"
    );
    let _ = writeln!(md, "| scenario | tool | median | p90 | min–max | peak RSS | mini ÷ tool | mini compiled |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let label = if rows.iter().position(|r| r.scenario == row.scenario).is_some_and(|i| std::ptr::eq(&rows[i], row))
        {
            row.scenario.label()
        } else {
            ""
        };
        let Some(med) = median(&row.samples) else {
            let note = row.note.clone().unwrap_or_else(|| "not run".into());
            let _ = writeln!(md, "| {label} | {} | — | | {note} | | | |", row.tool);
            continue;
        };
        let min = row.samples.iter().map(|s| s.wall).min().unwrap();
        let max = row.samples.iter().map(|s| s.wall).max().unwrap();
        let rss = row.samples.iter().filter_map(|s| s.peak_rss_kib).max().map_or("—".into(), mib);
        let compiled = match (row.samples.last().and_then(|s| s.compiled), row.expected_compiled.last()) {
            (Some(c), Some(e)) if c == *e => thousands(c),
            (Some(c), Some(e)) => format!("{c} (expected {e})"),
            _ => String::new(),
        };
        let failed = if row.note.is_some() { " (then FAILED)" } else { "" };
        let _ = writeln!(
            md,
            "| {label} | {}{failed} | {} | {} | {}–{} | {rss} | {} | {compiled} |",
            row.tool,
            time(med),
            time(p90(&row.samples).unwrap_or(med)),
            time(min),
            time(max),
            ratio(rows, row)
        );
    }
    if !versions.is_empty() {
        let list: Vec<String> = versions.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(md, "\nVersions: {}.", list.join("; "));
    }
    for (tool, why) in skipped {
        let _ = writeln!(md, "\nSkipped {tool}: {why}.");
    }
    for f in failures {
        let _ = writeln!(md, "\n**FAILED**: {f}");
    }
    md
}

fn render_json(
    o: &Options,
    program: &Program,
    rows: &[Row],
    versions: &[(String, String)],
    skipped: &[(String, String)],
    failures: &[String],
) -> serde_json::Value {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    json!({
        "shape": o.shape.name(),
        "files": program.files.len(),
        "functions": program.function_count(),
        "seed": o.seed,
        "runs": o.runs,
        "cold_runs": o.cold_runs,
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "versions": versions.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "skipped": skipped.iter().map(|(t, why)| json!({"tool": t, "reason": why})).collect::<Vec<_>>(),
        "failures": failures,
        "results": rows.iter().map(|row| json!({
            "scenario": row.scenario.key(),
            "tool": row.tool_key,
            "tool_name": row.tool,
            "note": row.note,
            "median_ms": median(&row.samples).map(ms),
            "p90_ms": p90(&row.samples).map(ms),
            "samples_ms": row.samples.iter().map(|s| ms(s.wall)).collect::<Vec<_>>(),
            "peak_rss_kib": row.samples.iter().map(|s| s.peak_rss_kib).collect::<Vec<_>>(),
            "compiled": row.samples.iter().map(|s| s.compiled).collect::<Vec<_>>(),
            "expected_compiled": if row.tool_key.starts_with("mini") { json!(row.expected_compiled) } else { json!(null) },
            "mini_over_tool": ratio(rows, row).parse::<f64>().ok(),
        })).collect::<Vec<_>>(),
    })
}
