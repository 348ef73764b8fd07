//! The code generator, outside this process: `mini-codegen`, a helper executable that
//! links LLVM (the `mini-llvm` crate), installed next to `mini`. `mini` itself does not
//! link LLVM, so a process that generates no code — a no-op build, a comment edit,
//! `check`, `explain`, the language server — never loads or initialises it.
//!
//! The helper is started when code is first needed and kept for the life of this
//! process: one build, a watch session, a language server, a test binary. Requests from
//! every thread share it, each with an id, over a pipe each way (`wire`'s frames); it
//! answers them concurrently. The database calls it through `mini_queries::db::Backend`
//! (`Helper` implements it), so the queries, their hashes and their caching are the
//! same as if LLVM ran in place.
//!
//! Where it is found: `MINI_CODEGEN` if set; else next to the running executable; else,
//! for test and bench binaries (which cargo puts in `target/<profile>/deps/`), in the
//! directory above. Under `cargo run`, which builds only `mini`, a missing helper is
//! built with that cargo first. Anything else missing is an error that says where it
//! looked. The helper greets with its identity; one from another build of mini is
//! refused — it would store objects under keys that do not describe them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use mini_queries::codegen::wire::{self, ANSWER, FAILED, FRAME_HEADER};
use mini_queries::db::Backend;

/// The helper's executable name.
pub const HELPER: &str = "mini-codegen";

/// How long a starting helper may take to greet. Starting LLVM takes milliseconds; a
/// program that is not the helper may never say anything.
const GREETING_TIMEOUT: Duration = Duration::from_secs(20);

type Answer = std::result::Result<Vec<Vec<u8>>, String>;

/// The process-wide code generator, started on first need.
pub fn shared() -> Arc<Helper> {
    static HELPER: OnceLock<Arc<Helper>> = OnceLock::new();
    Arc::clone(HELPER.get_or_init(|| Arc::new(Helper { running: Mutex::new(None) })))
}

/// Makes sure the code generator runs, starting it if needed: a build calls this before
/// it asks the queries for code, so that a missing or foreign helper is an error that
/// says so rather than a failed query.
pub fn start() -> Result<()> {
    shared().connection().map(drop)
}

/// Starts the code generator in the background, for a build that now knows it will
/// generate code but has other work to do first (reading link units, say): LLVM starts
/// on the other core meanwhile. A failure is not reported here; `start` reports it.
pub fn prestart() {
    let helper = shared();
    if helper.running.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|c| c.failed().is_none()) {
        return;
    }
    let _ = std::thread::Builder::new().name("codegen-start".into()).spawn(move || {
        let _ = helper.connection();
    });
}

/// The process id of this process's code generator, if one runs: for benchmarks, which
/// count its memory with this process's.
pub fn helper_pid() -> Option<u32> {
    let helper = shared();
    let running = helper.running.lock().unwrap_or_else(|e| e.into_inner());
    let connection = running.as_ref().filter(|c| c.failed().is_none())?;
    Some(connection.child.lock().unwrap_or_else(|e| e.into_inner()).id())
}

/// A client of the `mini-codegen` process (see the module's comment).
pub struct Helper {
    running: Mutex<Option<Arc<Connection>>>,
}

struct Connection {
    /// The helper's standard input: requests, one whole frame at a time.
    input: Mutex<ChildStdin>,
    next_id: AtomicU64,
    waiting: Mutex<Waiting>,
    child: Mutex<Child>,
}

#[derive(Default)]
struct Waiting {
    answers: HashMap<u64, SyncSender<Answer>>,
    /// Why the helper stopped answering, once it has.
    failed: Option<String>,
}

impl Backend for Helper {
    fn generate(&self, request: &[u8]) -> Answer {
        let connection = self.connection().map_err(|e| format!("{e:#}"))?;
        connection.ask(request)
    }
}

impl Helper {
    /// The running helper, started now if there is none (or the last one died).
    fn connection(&self) -> Result<Arc<Connection>> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(connection) = running.as_ref() {
            if connection.failed().is_none() {
                return Ok(Arc::clone(connection));
            }
            connection.reap();
        }
        let connection = Connection::start(&locate()?)?;
        *running = Some(Arc::clone(&connection));
        Ok(connection)
    }
}

impl Connection {
    fn start(path: &Path) -> Result<Arc<Connection>> {
        let _span = tracing::info_span!("start_codegen").entered();
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start mini's code generator {}", path.display()))?;
        let (stdin, stdout) = (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"));
        let connection = Arc::new(Connection {
            input: Mutex::new(stdin),
            next_id: AtomicU64::new(1),
            waiting: Mutex::default(),
            child: Mutex::new(child),
        });
        let (greeted, greeting) = sync_channel(1);
        let reader = Arc::clone(&connection);
        std::thread::Builder::new()
            .name("codegen-answers".into())
            .spawn(move || reader.read_answers(stdout, greeted))
            .context("starting the thread that reads the code generator's answers")?;
        // Say who is asking: a program that echoes its input is not mistaken for the
        // helper, which answers with a greeting of its own. If this fails, the program
        // has exited: the reader says how.
        let _ = connection.send(0, &wire::shell_greeting());
        let refused = |why: String| anyhow!("{} is not a code generator mini can use: {why}", path.display());
        match greeting.recv_timeout(GREETING_TIMEOUT) {
            Ok(Ok(())) => Ok(connection),
            Ok(Err(why)) => {
                connection.reap();
                Err(refused(why))
            }
            Err(_) => {
                connection.kill();
                Err(refused(format!("it did not greet within {} seconds", GREETING_TIMEOUT.as_secs())))
            }
        }
    }

    /// Sends one request and waits for its answer.
    fn ask(&self, request: &[u8]) -> Answer {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, answer): (SyncSender<Answer>, Receiver<Answer>) = sync_channel(1);
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(why) = &waiting.failed {
                return Err(why.clone());
            }
            waiting.answers.insert(id, sender);
        }
        self.send(id, request)?;
        answer.recv().unwrap_or_else(|_| Err(self.failed().unwrap_or_else(|| "the code generator is gone".into())))
    }

    fn send(&self, id: u64, payload: &[u8]) -> std::result::Result<(), String> {
        let frame = wire::frame(id, payload);
        let mut input = self.input.lock().unwrap_or_else(|e| e.into_inner());
        input.write_all(&frame).map_err(|e| {
            let why = format!("the code generator stopped reading requests: {e}");
            self.fail(why.clone());
            why
        })
    }

    fn failed(&self) -> Option<String> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).failed.clone()
    }

    /// Marks the helper as gone and fails every request still waiting.
    fn fail(&self, why: String) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.failed.get_or_insert(why.clone());
        for (_, sender) in waiting.answers.drain() {
            let _ = sender.try_send(Err(why.clone()));
        }
    }

    /// The reader thread: routes each answer to the request waiting for it, until the
    /// helper's output ends.
    fn read_answers(&self, mut output: ChildStdout, greeted: SyncSender<std::result::Result<(), String>>) {
        let mut greeted = Some(greeted);
        let why = loop {
            let mut header = [0u8; FRAME_HEADER];
            if let Err(e) = output.read_exact(&mut header) {
                break self.exit_reason(e);
            }
            let (len, id) = wire::frame_header(&header);
            let mut payload = vec![0u8; len];
            if let Err(e) = output.read_exact(&mut payload) {
                break self.exit_reason(e);
            }
            if id == 0 {
                let checked = wire::check_greeting(&payload);
                if let Some(greeted) = greeted.take() {
                    let _ = greeted.send(checked.clone());
                }
                if let Err(why) = checked {
                    break why;
                }
                continue;
            }
            let answer = match payload.split_first() {
                Some((&ANSWER, rest)) => {
                    wire::decode_answer(rest).map_err(|e| format!("an answer mini cannot read: {e}"))
                }
                Some((&FAILED, rest)) => Err(String::from_utf8_lossy(rest).into_owned()),
                _ => Err("an answer mini cannot read".to_string()),
            };
            let sender = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).answers.remove(&id);
            if let Some(sender) = sender {
                let _ = sender.try_send(answer);
            }
        };
        if let Some(greeted) = greeted.take() {
            let _ = greeted.send(Err(why.clone()));
        }
        self.fail(why);
    }

    /// Why the helper's output ended: how it exited, if it has.
    fn exit_reason(&self, error: std::io::Error) -> String {
        let status = {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            // Its output closed: it is exiting, or has.
            (0..100).find_map(|_| match child.try_wait() {
                Ok(Some(status)) => Some(status),
                Ok(None) => {
                    std::thread::sleep(Duration::from_millis(2));
                    None
                }
                Err(_) => None,
            })
        };
        match status {
            Some(status) => format!("the code generator exited ({status})"),
            None => format!("the code generator's output ended: {error}"),
        }
    }

    fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Collects the exit status of a helper that stopped, so that it leaves no zombie.
    fn reap(&self) {
        self.kill();
    }
}

/// Where the helper is (see the module's comment).
fn locate() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MINI_CODEGEN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("MINI_CODEGEN names {}, which is not a file", path.display());
        }
        return Ok(path);
    }
    let exe = std::env::current_exe().context("finding mini's own executable, next to which its code generator is")?;
    let dir = exe.parent().context("mini's executable has no directory")?;
    let mut candidates = vec![dir.join(HELPER)];
    if dir.file_name().is_some_and(|name| name == "deps")
        && let Some(up) = dir.parent()
    {
        candidates.push(up.join(HELPER));
    }
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }
    if let Some(built) = build_with_cargo(dir)? {
        return Ok(built);
    }
    bail!(
        "mini's code generator is missing: there is no {} next to {} (it is built and installed with mini: \
         `cargo build`, `cargo install --path .`; MINI_CODEGEN=/path/to/{HELPER} names another place)",
        candidates[0].display(),
        exe.display()
    )
}

/// Under `cargo run` — which builds only the binary it runs — builds the helper next to
/// `mini` with that cargo and the same profile. `None` when not run by cargo for this
/// package.
fn build_with_cargo(dir: &Path) -> Result<Option<PathBuf>> {
    let (Some(cargo), Some(manifest_dir)) = (std::env::var_os("CARGO"), std::env::var_os("CARGO_MANIFEST_DIR")) else {
        return Ok(None);
    };
    if std::env::var("CARGO_PKG_NAME").as_deref() != Ok("mini") {
        return Ok(None);
    }
    let profile = match dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => return Ok(None),
    };
    let manifest = Path::new(&manifest_dir).join("Cargo.toml");
    eprintln!("mini: building its code generator ({HELPER}), which `cargo run` does not build");
    let status = Command::new(cargo)
        .args(["build", "--profile", profile, "--bin", HELPER, "--manifest-path"])
        .arg(&manifest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("running cargo to build mini's code generator")?;
    let built = dir.join(HELPER);
    if !status.success() || !built.is_file() {
        bail!("building mini's code generator with cargo failed ({status}); `cargo build` builds it");
    }
    Ok(Some(built))
}
