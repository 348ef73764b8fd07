//! Watch mode: one living database across edits.
//!
//! `Watcher` is the loop without the file system: tell it which files changed, it
//! rebuilds and says what it did — tests and benchmarks drive it directly. `run` wires
//! it to real file events (`notify`), a 50 ms debounce, Ctrl-C, and `--run`.
//!
//! Threads: the compiler runs on its own thread and owns the session; the main thread
//! collects events. An edit arriving during a build cancels it (salsa cancellation: the
//! build's next query unwinds), and a new build starts with every change so far.
//!
//! Files the database holds as text cost memory, and each one's first edit makes salsa
//! revalidate everything that depends on any of them (lowering an input's durability
//! counts as a change at its old durability). Files it holds as summaries from the disk
//! cache cost little of either. So after a rebuild has been reported, once more than
//! `rebase_at` files are text — after the cold build, say — the watcher moves to a new
//! session started from the disk cache (`Session::rebased`), as a fresh process would.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher as _};

use crate::driver::{BuildReport, BuildRequest, Session};
use crate::report::{Reporter, ms, plural, thousands};

/// How long the file system must be quiet before a rebuild starts.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// A session that rebuilds on demand, for changes it is told about.
pub struct Watcher {
    session: Session,
    request: BuildRequest,
    canceller: Canceller,
    rebase_at: usize,
}

/// Cancels the watcher's build in progress, from another thread. It follows the watcher
/// to each new session.
#[derive(Clone)]
pub struct Canceller(Arc<Mutex<salsa::CancellationToken>>);

impl Canceller {
    pub fn cancel(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).cancel();
    }
}

/// How many files may be text before the watcher starts over from the disk cache.
pub const REBASE_AT: usize = 64;

impl Watcher {
    pub fn new(mut session: Session, request: BuildRequest) -> Watcher {
        session.for_watching();
        let canceller = Canceller(Arc::new(Mutex::new(session.cancellation_token())));
        Watcher { session, request, canceller, rebase_at: REBASE_AT }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Starts over from the disk cache once more than `files` files are text (tests use
    /// small numbers).
    pub fn set_rebase_at(&mut self, files: usize) {
        self.rebase_at = files;
    }

    /// Rebuilds after `changed` files (paths on disk) changed; `None` for "anything may
    /// have changed" (the first build, or after a watcher overflow). The index is written
    /// after the build; call `flush` when the result has been reported.
    pub fn rebuild(&mut self, changed: Option<&[PathBuf]>) -> Result<BuildReport> {
        if let Some(changed) = changed {
            self.session.assume_changed(changed);
        }
        self.session.build(&self.request)
    }

    fn set_token(&self, token: salsa::CancellationToken) {
        *self.canceller.0.lock().unwrap_or_else(PoisonError::into_inner) = token;
    }

    /// Writes what the last build left for the disk cache, then starts over from it if
    /// too many files are text. Returns whether it did.
    pub fn flush(&mut self) -> Result<bool> {
        self.session.flush_index()?;
        if self.session.text_files() <= self.rebase_at {
            return Ok(false);
        }
        let _span = tracing::info_span!("rebase", text_files = self.session.text_files()).entered();
        let Some(mut fresh) = self.session.fresh()? else { return Ok(false) };
        self.set_token(fresh.cancellation_token());
        // Cancelled (Ctrl-C) or failed: keep the old session, and try again next time.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fresh.warm(&self.request))) {
            Ok(Ok(true)) => {}
            outcome => {
                self.set_token(self.session.cancellation_token());
                match outcome {
                    Ok(result) => return result.map(|_| false),
                    Err(panic) if panic.is::<salsa::Cancelled>() => return Ok(false),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        }
        self.session = fresh;
        crate::process::release_free_memory();
        Ok(true)
    }

    /// The directories whose `.mini` files matter: the entry's, recursively, and those
    /// of imported files elsewhere.
    pub fn directories(&self) -> BTreeSet<(PathBuf, bool)> {
        let root = self.session.absolute_root();
        let mut dirs = BTreeSet::from([(root.clone(), true)]);
        for file in self.session.known_files() {
            let dir = crate::driver::absolute(&file).parent().map(Path::to_path_buf).unwrap_or_default();
            if !dir.starts_with(&root) && dir.is_dir() {
                dirs.insert((dir, false));
            }
        }
        dirs
    }
}

enum Message {
    /// Paths the file system reported, when.
    Files(Vec<PathBuf>, Instant),
    Interrupt,
    Built(std::thread::Result<Result<BuildReport>>, BTreeSet<(PathBuf, bool)>),
    Exited(std::process::ExitStatus),
}

/// `mini watch`: build, then rebuild on every change until Ctrl-C (status 130).
pub fn run(watcher: Watcher, reporter: Reporter, run_program: bool) -> Result<ExitCode> {
    let (tx, rx) = mpsc::channel::<Message>();
    {
        let tx = tx.clone();
        ctrlc::set_handler(move || {
            let _ = tx.send(Message::Interrupt);
        })
        .context("installing the Ctrl-C handler")?;
    }
    let cache_dir = crate::driver::absolute(watcher.session().cache_dir());
    let watcher_root = watcher.session().absolute_root();
    let output = watcher.request.output.clone();
    let canceller = watcher.canceller();

    // The compiler thread: owns the session, builds on request.
    let (build_tx, build_rx) = mpsc::channel::<Option<Vec<PathBuf>>>();
    let compiler = {
        let tx = tx.clone();
        std::thread::Builder::new().name("compiler".into()).stack_size(256 << 20).spawn(move || {
            let mut watcher = watcher;
            while let Ok(changed) = build_rx.recv() {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| watcher.rebuild(changed.as_deref())));
                let dirs = watcher.directories();
                let done = matches!(result, Ok(Ok(_)));
                if tx.send(Message::Built(result, dirs)).is_err() {
                    break;
                }
                if done && let Err(e) = watcher.flush() {
                    tracing::warn!("writing the cache index: {e:#}");
                }
            }
        })?
    };

    let mut fs_watcher = {
        let tx = tx.clone();
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            // Opening and reading files (the build itself does) changes nothing.
            Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => {}
            Ok(event) => {
                let _ = tx.send(Message::Files(event.paths, Instant::now()));
            }
            // A lost event could be anything: rebuild from scratch.
            Err(_) => {
                let _ = tx.send(Message::Files(Vec::new(), Instant::now()));
            }
        })
        .context("starting the file watcher")?
    };
    // Watch before the first build reads anything, so that no edit falls in between.
    let root = (watcher_root, true);
    fs_watcher.watch(&root.0, RecursiveMode::Recursive).with_context(|| format!("watching {}", root.0.display()))?;
    let mut watched: BTreeSet<(PathBuf, bool)> = BTreeSet::from([root]);

    let mut state =
        Loop { build_tx, pending: Vec::new(), rescan: false, first_event: None, in_flight: None, running: None };
    state.start(None, Instant::now());
    let mut deadline: Option<Instant> = None;
    loop {
        let message = match deadline {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(message) => Some(message),
                Err(_) => break,
            },
        };
        match message {
            None => {
                deadline = None;
                if state.in_flight.is_none() && (state.rescan || !state.pending.is_empty()) {
                    let changed = if state.rescan { None } else { Some(std::mem::take(&mut state.pending)) };
                    state.rescan = false;
                    state.pending.clear();
                    state.start(changed, state.first_event.unwrap_or_else(Instant::now));
                }
            }
            Some(Message::Files(paths, at)) => {
                let relevant: Vec<PathBuf> = paths
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "mini") && !p.starts_with(&cache_dir))
                    .collect();
                if relevant.is_empty() && !state.rescan {
                    // Paths-less events are overflows: rescan everything.
                    continue;
                }
                state.first_event.get_or_insert(at);
                state.pending.extend(relevant);
                deadline = Some(Instant::now() + DEBOUNCE);
                if state.in_flight.is_some() {
                    canceller.cancel();
                }
            }
            Some(Message::Built(result, dirs)) => {
                let since = state.first_event.take();
                let in_flight = state.in_flight.take().expect("a build was running");
                match result {
                    Ok(Ok(report)) => {
                        report_rebuild(&reporter, &report, since.map(|t| t.elapsed()));
                        if run_program
                            && report.success()
                            && let Some(output) = &output
                        {
                            state.run(output, &tx);
                        }
                    }
                    Ok(Err(error)) => eprintln!("mini: error: {error:#}"),
                    Err(panic) if panic.is::<salsa::Cancelled>() => {
                        // A newer edit cancelled this build: rebuild with everything.
                        match in_flight.0 {
                            Some(paths) => state.pending.extend(paths),
                            None => state.rescan = true,
                        }
                        state.first_event = Some(since.unwrap_or(in_flight.1));
                        deadline = Some(Instant::now());
                    }
                    Err(_) => {
                        eprintln!("mini: internal compiler error (this is a bug in mini; please report it)");
                        return Ok(ExitCode::from(101));
                    }
                }
                for dir in dirs.difference(&watched) {
                    let mode = if dir.1 { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
                    if let Err(e) = fs_watcher.watch(&dir.0, mode) {
                        tracing::warn!("cannot watch {}: {e}", dir.0.display());
                    }
                }
                watched.extend(dirs);
                if state.in_flight.is_none() && !state.pending.is_empty() && deadline.is_none() {
                    deadline = Some(Instant::now() + DEBOUNCE);
                }
            }
            Some(Message::Exited(status)) => match status.code() {
                Some(code) => eprintln!("[program exited with status {code}]"),
                None => eprintln!("[program stopped: {status}]"),
            },
            Some(Message::Interrupt) => {
                canceller.cancel();
                state.stop_program();
                drop(state.build_tx);
                // Let a running build stop; whatever it wrote to the cache is complete.
                let _ = compiler.join();
                return Ok(ExitCode::from(130));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct Loop {
    build_tx: Sender<Option<Vec<PathBuf>>>,
    pending: Vec<PathBuf>,
    rescan: bool,
    first_event: Option<Instant>,
    /// The changes being built, and when the first of them happened.
    in_flight: Option<(Option<Vec<PathBuf>>, Instant)>,
    /// The program of `--run`, while it runs: a stop flag and its thread.
    running: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Loop {
    fn start(&mut self, changed: Option<Vec<PathBuf>>, since: Instant) {
        self.first_event.get_or_insert(since);
        self.in_flight = Some((changed.clone(), since));
        let _ = self.build_tx.send(changed);
    }

    /// Runs the program, stopping a previous run that is still going.
    fn run(&mut self, program: &Path, tx: &Sender<Message>) {
        self.stop_program();
        let path = crate::driver::absolute(program);
        let mut child = match Command::new(&path).spawn() {
            Ok(child) => child,
            Err(e) => {
                eprintln!("mini: cannot run {}: {e}", path.display());
                return;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let tx = tx.clone();
        let stopping = Arc::clone(&stop);
        // The run's own thread owns the child: it reports the exit, or kills the child
        // when the next build is ready.
        let handle = std::thread::spawn(move || {
            loop {
                if stopping.load(Ordering::Relaxed) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
                match child.try_wait() {
                    Ok(Some(status)) => {
                        let _ = tx.send(Message::Exited(status));
                        return;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => return,
                }
            }
        });
        self.running = Some((stop, handle));
    }

    fn stop_program(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

fn report_rebuild(reporter: &Reporter, report: &BuildReport, latency: Option<Duration>) {
    reporter.diagnostics(report);
    reporter.queries(report);
    reporter.remote_warning(report);
    let latency_ms = latency.map_or(ms(report.duration), ms);
    match reporter.format {
        crate::cli::MessageFormat::Human if report.success() => {
            let compiled = report.compiled.len();
            let names =
                if (1..=5).contains(&compiled) { format!(" ({})", report.compiled.join(", ")) } else { String::new() };
            eprintln!(
                "Rebuilt in {} ms: {} of {} function{} compiled{names}, {}{}",
                latency_ms.round(),
                thousands(compiled),
                thousands(report.functions),
                plural(report.functions),
                if report.linked { "linked" } else { "nothing to link" },
                crate::report::remote_summary(report),
            );
        }
        crate::cli::MessageFormat::Human => eprintln!("Watching for changes…"),
        crate::cli::MessageFormat::Json => reporter.event(serde_json::json!({
            "reason": "rebuild-finished",
            "success": report.success(),
            "functions": report.functions,
            "compiled": report.compiled,
            "linked": report.linked,
            "remote": report.remote.as_deref().cloned().unwrap_or_default().to_json(),
            "latency_ms": latency_ms,
            "duration_ms": ms(report.duration),
        })),
    }
}
