//! Watch mode: one living database across edits.
//!
//! `Watcher` is the loop without the file system: tell it which files changed, it
//! rebuilds and says what it did — tests and benchmarks drive it directly. `run` wires
//! it to real file events (`notify`), gathered until a save is over (`burst`: a build
//! starts 2 ms after the last event, once every changed file is whole), Ctrl-C, and
//! `--run`.
//!
//! Threads: the compiler runs on its own thread and owns the session; the main thread
//! collects events. An edit arriving during a build cancels it (salsa cancellation: the
//! build's next query unwinds), and a new build starts with every change so far.
//!
//! No failure of the compiler thread is silent. Each round (`Watcher::round`) runs every
//! query-running step — the build, the index write, the rebase — inside the handling of
//! cancellation, which can land in any of them; a panic is reported as an internal
//! error (status 101), and so is the thread ending any other way (`Farewell`) or a
//! build request finding it gone. Events that were lost (the kernel's queue
//! overflowed) or that name a directory rebuild from scratch (`Change`).
//!
//! Files the database holds as text cost memory, and each one's first edit makes salsa
//! revalidate everything that depends on any of them (lowering an input's durability
//! counts as a change at its old durability). Files it holds as summaries from the disk
//! cache cost little of either. So after a rebuild has been reported, once more than
//! `rebase_at` files are text — after the cold build, say — the watcher moves to a new
//! session started from the disk cache (`Session::rebased`), as a fresh process would.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher as _};

use crate::driver::{BuildReport, BuildRequest, Session};
use crate::progress::Terminal;
use crate::render::{plural, thousands};
use crate::report::{ErrorEvent, Level, MessageFormat, Reporter, ms};

pub mod burst;

use burst::{Added, Burst, Poll};

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

    /// One round of the compiler thread: rebuilds after `changed` (as `rebuild`), hands
    /// the outcome to `report` as soon as it is known, then, after a successful build,
    /// writes the index and perhaps starts over from the disk cache (`flush`).
    ///
    /// Every step that runs queries is inside the cancellation handling — a newer edit
    /// cancels whatever runs: during the build, the outcome is `Cancelled` (build again
    /// with everything); during the index write, the index stays pending and the next
    /// build writes it before anything else; during the rebase, the watcher keeps its
    /// session. Any other failure is reported, never swallowed: a build that cannot run
    /// is `Failed`, an index that cannot be written is a warning, and a panic — a bug —
    /// ends the round with `Err(Crash)`, after which the watcher must not be used.
    pub fn round(&mut self, changed: Option<&[PathBuf]>, report: impl FnOnce(&Watcher, Outcome)) -> Result<(), Crash> {
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| self.rebuild(changed))) {
            Ok(Ok(built)) => Outcome::Built(built),
            Ok(Err(error)) => Outcome::Failed(error),
            Err(panic) if panic.is::<salsa::Cancelled>() => Outcome::Cancelled,
            Err(panic) => return Err(Crash::from_panic(panic.as_ref())),
        };
        let success = matches!(&outcome, Outcome::Built(built) if built.success());
        report(self, outcome);
        if !success {
            return Ok(());
        }
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.flush())) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                tracing::warn!("writing the cache index: {error:#}");
                Ok(())
            }
            Err(panic) if panic.is::<salsa::Cancelled>() => {
                tracing::debug!("writing the index was cancelled; the next build writes it");
                Ok(())
            }
            Err(panic) => Err(Crash::from_panic(panic.as_ref())),
        }
    }

    /// Ends the watcher: writes the index of the last successful build if a
    /// cancellation stopped its writing, so that a later one-shot build starts from it.
    pub fn finish(mut self) -> Result<(), Crash> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.session.write_pending_index())) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                tracing::warn!("writing the cache index: {error:#}");
                Ok(())
            }
            Err(panic) if panic.is::<salsa::Cancelled>() => Ok(()),
            Err(panic) => Err(Crash::from_panic(panic.as_ref())),
        }
    }

    /// Writes what the last build left for the disk cache, then starts over from it if
    /// too many files are text. Returns whether it did. A cancellation unwinds out of
    /// the index write (`round` catches it); the index then stays pending.
    pub fn flush(&mut self) -> Result<bool> {
        self.session.flush_index()?;
        if self.session.text_files() <= self.rebase_at {
            return Ok(false);
        }
        let _span = tracing::info_span!("rebase", text_files = self.session.text_files()).entered();
        let Some(mut fresh) = self.session.fresh()? else { return Ok(false) };
        self.set_token(fresh.cancellation_token());
        // Cancelled (Ctrl-C) or failed: keep the old session, and try again next time.
        match std::panic::catch_unwind(AssertUnwindSafe(|| fresh.warm(&self.request))) {
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
        let root = crate::fs::lexically_normal(&self.session.absolute_root());
        let mut dirs = BTreeSet::from([(root.clone(), true)]);
        // Only files outside the entry's directory: the others are watched with it, and
        // going over ten thousand of them took milliseconds before every rebuild's report.
        for file in self.session.files_outside_root() {
            let file = crate::fs::lexically_normal(&crate::fs::absolute(&file));
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            if !dir.starts_with(&root) && dir.is_dir() {
                dirs.insert((dir, false));
            }
        }
        dirs
    }
}

/// What a rebuild came to (see `Watcher::round`).
#[derive(Debug)]
pub enum Outcome {
    /// The build ran: the program, or its errors.
    Built(BuildReport),
    /// The build could not run (an unreadable entry file, a full disk…).
    Failed(anyhow::Error),
    /// A newer edit cancelled it: build again with everything.
    Cancelled,
}

/// A panic in the compiler thread — a bug — with its message.
#[derive(Debug)]
pub struct Crash(pub String);

impl Crash {
    fn from_panic(panic: &(dyn std::any::Any + Send)) -> Crash {
        let message = match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
            (Some(text), _) => text.to_string(),
            (_, Some(text)) => text.clone(),
            _ => "a panic".to_string(),
        };
        Crash(message)
    }
}

/// What a file event means for the next build.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing a program can read.
    Nothing,
    /// These source files changed.
    Files(Vec<PathBuf>),
    /// Anything may have changed: events were lost, or a directory appeared, vanished or
    /// moved — the files in it moved with it, without events of their own.
    Everything,
}

impl Change {
    /// What `event` means, `cache_dir` being the (absolute) cache, whose files are ours.
    pub fn of(event: &notify::Event, cache_dir: &Path) -> Change {
        use notify::EventKind::{Access, Create, Modify, Remove};
        use notify::event::{CreateKind, ModifyKind, RemoveKind};
        // Opening and reading files (the build itself does) changes nothing.
        if matches!(event.kind, Access(_)) {
            return Change::Nothing;
        }
        // The kernel's queue overflowed, or the watcher says it missed something.
        if event.need_rescan() || event.paths.is_empty() {
            return Change::Everything;
        }
        let mut files = Vec::new();
        for path in event.paths.iter().filter(|p| !p.starts_with(cache_dir)) {
            if path.extension().is_some_and(|e| e == "mini") {
                files.push(path.clone());
                continue;
            }
            let directory = match event.kind {
                Create(CreateKind::Folder) | Remove(RemoveKind::Folder) => true,
                // A rename names the directory, not the files under it.
                Modify(ModifyKind::Name(_)) => may_be_a_directory(path),
                _ => false,
            };
            if directory {
                return Change::Everything;
            }
        }
        if files.is_empty() { Change::Nothing } else { Change::Files(files) }
    }
}

/// Whether a path that was renamed may be a directory: it is one now, or it is gone and
/// named like one (no extension).
fn may_be_a_directory(path: &Path) -> bool {
    path.is_dir() || (path.extension().is_none() && !path.exists())
}

enum Message {
    /// What the file system reported, when.
    Event(notify::Result<notify::Event>, Instant),
    Interrupt,
    Built(Outcome, BTreeSet<(PathBuf, bool)>),
    /// The compiler thread panicked.
    Crashed(Crash),
    /// The compiler thread ended (sent by its last act, however it ends).
    CompilerGone,
    Exited(std::process::ExitStatus),
}

/// Where the main loop asks the compiler thread for builds: the files that changed, or
/// `None` for "anything may have".
type BuildRequests = Sender<Option<Vec<PathBuf>>>;

/// Tells the main loop that the compiler thread ended, however it ends: a thread that
/// disappears silently would leave the watcher waiting for builds that never come.
struct Farewell(Sender<Message>);

impl Drop for Farewell {
    fn drop(&mut self) {
        let _ = self.0.send(Message::CompilerGone);
    }
}

/// `mini watch`: build, then rebuild on every change until Ctrl-C (status 130).
/// `first_build` is the progress display the session reports to, if any: it shows the
/// first (cold) build, and is finished before anything about it is printed.
pub fn run(
    watcher: Watcher,
    reporter: Reporter,
    run_program: bool,
    first_build: Option<Arc<Terminal<std::io::Stderr>>>,
) -> Result<ExitCode> {
    let (tx, rx) = mpsc::channel::<Message>();
    {
        let tx = tx.clone();
        ctrlc::set_handler(move || {
            let _ = tx.send(Message::Interrupt);
        })
        .context("installing the Ctrl-C handler")?;
    }
    let cache_dir = crate::fs::absolute(watcher.session().cache_dir());
    let root = crate::fs::lexically_normal(&watcher.session().absolute_root());
    let entry = watcher.session().entry_path();
    let output = watcher.request.output.clone().filter(|_| run_program);
    let canceller = watcher.canceller();
    let (build_tx, compiler) = spawn_compiler(watcher, &tx)?;
    // Watch before the first build reads anything, so that no edit falls in between.
    let mut fs_watcher = file_watcher(&tx, &cache_dir)?;
    fs_watcher.watch(&root, RecursiveMode::Recursive).with_context(|| format!("watching {}", root.display()))?;
    if reporter.says(Level::Normal) {
        eprintln!(
            "Watching {} and the files it imports: .mini files under {} (Ctrl-C to stop)",
            entry.display(),
            root.display()
        );
    }
    let mut state = Loop {
        build_tx,
        burst: Burst::default(),
        in_flight: None,
        running: None,
        tx,
        canceller,
        reporter,
        program: output,
        cache_dir,
        fs_watcher,
        watched: BTreeSet::from([(root, true)]),
        first_build,
    };
    state.main_loop(rx, compiler)
}

/// Starts the compiler thread: it owns the watcher and its session, builds on request,
/// and says how each round went; its last act, however it ends, is `CompilerGone`.
fn spawn_compiler(watcher: Watcher, tx: &Sender<Message>) -> Result<(BuildRequests, std::thread::JoinHandle<()>)> {
    let (build_tx, build_rx) = mpsc::channel::<Option<Vec<PathBuf>>>();
    let tx = tx.clone();
    let compiler = std::thread::Builder::new().name("compiler".into()).stack_size(256 << 20).spawn(move || {
        let _farewell = Farewell(tx.clone());
        let mut watcher = watcher;
        while let Ok(changed) = build_rx.recv() {
            let round = watcher.round(changed.as_deref(), |watcher, outcome| {
                let _ = tx.send(Message::Built(outcome, watcher.directories()));
            });
            if let Err(crash) = round {
                let _ = tx.send(Message::Crashed(crash));
                return;
            }
        }
        // The main loop let go (Ctrl-C): leave the disk cache current.
        if let Err(crash) = watcher.finish() {
            let _ = tx.send(Message::Crashed(crash));
        }
    })?;
    Ok((build_tx, compiler))
}

/// The file system's watcher, sending its events to the main loop — but for opening
/// files (the build's own reads) and the cache's files, which are nothing to the burst.
fn file_watcher(tx: &Sender<Message>, cache_dir: &Path) -> Result<notify::RecommendedWatcher> {
    let tx = tx.clone();
    let cache_dir = cache_dir.to_path_buf();
    notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let nothing = event.as_ref().is_ok_and(|event| {
            matches!(event.kind, notify::EventKind::Access(notify::event::AccessKind::Open(_)))
                || (!event.need_rescan()
                    && !event.paths.is_empty()
                    && event.paths.iter().all(|path| path.starts_with(&cache_dir)))
        });
        if !nothing {
            let _ = tx.send(Message::Event(event, Instant::now()));
        }
    })
    .context("starting the file watcher")
}

/// The compiler thread ended without a word: a bug, said as one.
fn compiler_gone(state: &mut Loop) -> ExitCode {
    internal_error(&state.reporter, "the compiler thread stopped");
    state.stop_program();
    ExitCode::from(101)
}

/// Says that the compiler failed, a bug: a line, and under JSON output the failure event.
fn internal_error(reporter: &Reporter, what: &str) {
    let error = format!("internal compiler error: {what} (this is a bug in mini; please report it)");
    let event = (reporter.format == MessageFormat::Json)
        .then_some(ErrorEvent { reason: "rebuild-finished", to_stderr: reporter.json_to_stderr });
    crate::report::fail(event, &format!("mini: {error}"), &error);
}

/// The main loop's state: the builds it asks for and the events it has seen, the
/// program it runs, and how it reports.
struct Loop {
    build_tx: BuildRequests,
    /// The events since the last build started.
    burst: Burst,
    /// The changes being built, and when the first of them happened.
    in_flight: Option<(Option<Vec<PathBuf>>, Instant)>,
    /// The program of `--run`, while it runs: a stop flag and its thread.
    running: Option<(Arc<AtomicBool>, std::thread::JoinHandle<bool>)>,
    /// Where the compiler thread, the file watcher and runs send their messages.
    tx: Sender<Message>,
    canceller: Canceller,
    reporter: Reporter,
    /// With `--run`, the executable to run after each successful build.
    program: Option<PathBuf>,
    cache_dir: PathBuf,
    fs_watcher: notify::RecommendedWatcher,
    /// The directories watched, and whether recursively.
    watched: BTreeSet<(PathBuf, bool)>,
    /// The first build's progress display, until anything about it is printed.
    first_build: Option<Arc<Terminal<std::io::Stderr>>>,
}

impl Loop {
    /// Waits for messages and acts on them until Ctrl-C or a failure of the compiler.
    fn main_loop(&mut self, rx: Receiver<Message>, compiler: std::thread::JoinHandle<()>) -> Result<ExitCode> {
        if !self.start(None, Instant::now()) {
            return Ok(compiler_gone(self));
        }
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
            // Whatever comes but file events and cancelled builds is said after the first
            // build's progress line is gone.
            if !matches!(message, None | Some(Message::Event(..)) | Some(Message::Built(Outcome::Cancelled, _))) {
                self.first_build_done();
            }
            // Whether the burst may have something new to say (see `Burst::add`).
            let recheck = match message {
                None => true,
                Some(Message::Event(event, at)) => self.on_event(&event, at),
                Some(Message::Built(outcome, dirs)) => {
                    self.watch_new_directories(dirs);
                    self.on_built(outcome);
                    true
                }
                Some(Message::Crashed(Crash(message))) => {
                    internal_error(&self.reporter, &message);
                    self.stop_program();
                    return Ok(ExitCode::from(101));
                }
                Some(Message::CompilerGone) => return Ok(compiler_gone(self)),
                Some(Message::Exited(status)) => {
                    self.on_exited(status);
                    false
                }
                Some(Message::Interrupt) => {
                    self.canceller.cancel();
                    self.stop_program();
                    // Let a running build stop; whatever it wrote to the cache is complete.
                    let (build_tx, _) = mpsc::channel();
                    drop(std::mem::replace(&mut self.build_tx, build_tx));
                    let _ = compiler.join();
                    return Ok(ExitCode::from(130));
                }
            };
            if recheck {
                match self.start_when_settled() {
                    Some(at) => deadline = at,
                    None => return Ok(compiler_gone(self)),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Ends the first build's progress line, once.
    fn first_build_done(&mut self) {
        if let Some(progress) = self.first_build.take() {
            progress.finish();
        }
    }

    /// A file event: into the burst, cancelling a build that runs if something changed.
    /// Returns whether the burst may have something new to say.
    fn on_event(&mut self, event: &notify::Result<notify::Event>, at: Instant) -> bool {
        match self.burst.add(event, at, &self.cache_dir) {
            Added::Changed if self.in_flight.is_some() => {
                self.canceller.cancel();
                true
            }
            Added::Changed | Added::Settling => true,
            Added::Nothing => false,
        }
    }

    /// Watches the directories of imported files outside the entry's directory, before
    /// anything is reported: an edit there right after the summary line counts.
    fn watch_new_directories(&mut self, dirs: BTreeSet<(PathBuf, bool)>) {
        for dir in dirs.difference(&self.watched) {
            let mode = if dir.1 { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
            match self.fs_watcher.watch(&dir.0, mode) {
                Ok(()) if self.reporter.says(Level::Normal) => {
                    eprintln!("Watching also {} (imported files outside the entry's directory)", dir.0.display())
                }
                Ok(()) => {}
                Err(e) => tracing::warn!("cannot watch {}: {e}", dir.0.display()),
            }
        }
        self.watched.extend(dirs);
    }

    /// A round ended: report it (and run the program), or queue a cancelled build's
    /// changes again.
    fn on_built(&mut self, outcome: Outcome) {
        let (changed, since) = self.in_flight.take().expect("a build was running");
        match outcome {
            Outcome::Built(report) => {
                report_rebuild(&self.reporter, &report, since.elapsed());
                if report.success()
                    && let Some(program) = self.program.clone()
                {
                    if self.stop_program() && self.reporter.says(Level::Normal) {
                        eprintln!("[stopped the previous run: the program was rebuilt]");
                    }
                    self.run(&program);
                }
            }
            Outcome::Failed(error) => self.reporter.error("rebuild-finished", &format!("{error:#}")),
            // A newer edit cancelled this build: rebuild with everything.
            Outcome::Cancelled => self.burst.requeue(changed, since),
        }
    }

    /// The program of `--run` ended by itself.
    fn on_exited(&self, status: std::process::ExitStatus) {
        use std::os::unix::process::ExitStatusExt;
        // With -q only a failure is worth a line.
        match (status.code(), status.signal()) {
            (Some(0), _) if !self.reporter.says(Level::Normal) => {}
            (Some(code), _) => eprintln!("[program exited with status {code}]"),
            (None, Some(signal)) => eprintln!("[{}]", crate::report::terminated_by(signal)),
            (None, None) => eprintln!("[program stopped: {status}]"),
        }
    }

    /// Starts a build when the burst of events is over and no build runs. Returns when
    /// to look again (`Some(None)`: at the next message), or `None` if the compiler
    /// thread is gone.
    fn start_when_settled(&mut self) -> Option<Option<Instant>> {
        if self.in_flight.is_some() {
            return Some(None);
        }
        match self.burst.poll(Instant::now()) {
            Poll::Idle => Some(None),
            Poll::Wait(at) => Some(Some(at)),
            Poll::Ready(changed, since) => self.start(changed, since).then_some(None),
        }
    }

    /// Asks the compiler thread for a build; false if it is gone.
    #[must_use]
    fn start(&mut self, changed: Option<Vec<PathBuf>>, since: Instant) -> bool {
        self.in_flight = Some((changed.clone(), since));
        self.build_tx.send(changed).is_ok()
    }

    /// Runs the program (the caller stops a previous run first).
    fn run(&mut self, program: &Path) {
        self.stop_program();
        let path = crate::fs::absolute(program);
        let mut child = match crate::process::spawn(&mut Command::new(&path)) {
            Ok(child) => child,
            Err(e) => {
                eprintln!("mini: cannot run {}: {e}", path.display());
                return;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let tx = self.tx.clone();
        let stopping = Arc::clone(&stop);
        // The run's own thread owns the child: it reports the exit, or kills the child
        // when the next build is ready (and says whether it had to).
        let handle = std::thread::spawn(move || {
            loop {
                if stopping.load(Ordering::Relaxed) {
                    let running = matches!(child.try_wait(), Ok(None));
                    let _ = child.kill();
                    let _ = child.wait();
                    return running;
                }
                match child.try_wait() {
                    Ok(Some(status)) => {
                        let _ = tx.send(Message::Exited(status));
                        return false;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => return false,
                }
            }
        });
        self.running = Some((stop, handle));
    }

    /// Stops the program of the last run; returns whether it was still running.
    fn stop_program(&mut self) -> bool {
        let Some((stop, handle)) = self.running.take() else { return false };
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap_or(false)
    }
}

fn report_rebuild(reporter: &Reporter, report: &BuildReport, latency: Duration) {
    reporter.diagnostics(report);
    reporter.queries(report);
    reporter.remote_warning(report);
    let latency_ms = ms(latency);
    match reporter.format {
        MessageFormat::Human if reporter.level == Level::Quiet => {}
        MessageFormat::Human if report.success() => {
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
        MessageFormat::Human => eprintln!("Watching for changes…"),
        MessageFormat::Json => reporter.event(serde_json::json!({
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use notify::EventKind;
    use notify::event::{AccessKind, CreateKind, DataChange, Flag, ModifyKind, RemoveKind, RenameMode};

    use super::Change;

    fn event(kind: EventKind, paths: &[&PathBuf]) -> notify::Event {
        paths.iter().fold(notify::Event::new(kind), |event, path| event.add_path((*path).clone()))
    }

    /// Lost events and directories that appear, vanish or move rebuild from scratch:
    /// the files under a moved directory move without events of their own. Files that
    /// are not sources, and the cache's own, change nothing.
    #[test]
    fn lost_events_and_directory_changes_mean_everything_may_have_changed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join(".mini_cache");
        let (renamed, gone, source) = (dir.path().join("lib2"), dir.path().join("lib"), dir.path().join("a.mini"));
        std::fs::create_dir(&renamed).unwrap();
        let everything = [
            notify::Event::new(EventKind::Other).set_flag(Flag::Rescan),
            event(EventKind::Modify(ModifyKind::Any), &[]),
            event(EventKind::Modify(ModifyKind::Name(RenameMode::To)), &[&renamed]),
            event(EventKind::Modify(ModifyKind::Name(RenameMode::From)), &[&gone]),
            event(EventKind::Modify(ModifyKind::Name(RenameMode::Both)), &[&gone, &renamed]),
            event(EventKind::Remove(RemoveKind::Folder), &[&gone]),
            event(EventKind::Create(CreateKind::Folder), &[&renamed]),
        ];
        for e in &everything {
            assert_eq!(Change::of(e, &cache), Change::Everything, "{e:?}");
        }
        let data = event(EventKind::Modify(ModifyKind::Data(DataChange::Any)), &[&source]);
        assert_eq!(Change::of(&data, &cache), Change::Files(vec![source.clone()]));

        let (probe, notes, entry) = (dir.path().join("4913"), dir.path().join("notes.txt"), cache.join("x.mini"));
        let nothing = [
            event(EventKind::Create(CreateKind::File), &[&probe]),
            event(EventKind::Remove(RemoveKind::File), &[&probe]),
            event(EventKind::Modify(ModifyKind::Data(DataChange::Any)), &[&notes]),
            event(EventKind::Modify(ModifyKind::Name(RenameMode::To)), &[&notes]),
            event(EventKind::Modify(ModifyKind::Data(DataChange::Any)), &[&entry]),
            event(EventKind::Access(AccessKind::Any), &[&source]),
        ];
        for e in &nothing {
            assert_eq!(Change::of(e, &cache), Change::Nothing, "{e:?}");
        }
    }
}
