//! The server's main loop and state.
//!
//! The main thread owns the session — the database and its inputs — and is the only one
//! that changes it: open buffers become overlays, file events refresh inputs. Requests run
//! on a few worker threads, each against a clone of the database (a snapshot). Changing an
//! input cancels every snapshot in flight (salsa makes their next query unwind with
//! `Cancelled`, and the setter waits until they are dropped); a cancelled request is
//! retried on a new snapshot, and after a few tries answered `ContentModified`.
//! Diagnostics of open files are computed on the workers too, 50 ms after the last change,
//! tagged with the document's version; a result for an older version is dropped.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use mini_queries::source::Settings;
use serde_json::{Value, json};

use super::convert::{Encoding, Lines, Position, path_of};
use super::handlers::{self, DiskTexts, Snapshot};
use crate::driver::Session;

/// How long the buffers must be quiet before diagnostics are computed.
pub const QUIET: Duration = Duration::from_millis(50);

/// A cancelled request is tried again this many times before it is answered
/// `ContentModified`.
const RETRIES: u32 = 3;

/// Test hooks: code the server runs at fixed points, so that tests can force an order of
/// events (a request that is in flight when an edit arrives) without sleeping.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Runs on the worker before a request is answered, with the method and the request's
    /// snapshot. A panic in it is a panic in the request.
    #[allow(clippy::type_complexity)]
    pub before_request: Option<Arc<dyn Fn(&str, &mini_queries::Database) + Send + Sync>>,
}

/// How to run a server.
#[derive(Clone)]
pub struct Options {
    /// Threads that answer requests and compute diagnostics.
    pub workers: usize,
    pub hooks: Hooks,
}

impl Default for Options {
    fn default() -> Options {
        Options { workers: 2, hooks: Hooks::default() }
    }
}

/// Runs a language server over `connection` until the client says `exit` or goes away.
/// Returns the process's exit status: 0 after `shutdown` then `exit`, 1 otherwise (as the
/// protocol says).
pub fn serve(connection: Connection, options: Options) -> u8 {
    let Some((id, params)) = wait_for_initialize(&connection) else { return 1 };
    let mut server = Server::new(connection, &params, options);
    let result = json!({
        "capabilities": server.capabilities(),
        "serverInfo": {"name": "mini", "version": env!("CARGO_PKG_VERSION")},
    });
    server.send(Response::new_ok(id, result).into());
    server.load();
    server.run()
}

/// Answers everything but `initialize` with `ServerNotInitialized` until it comes.
fn wait_for_initialize(connection: &Connection) -> Option<(RequestId, Value)> {
    loop {
        match connection.receiver.recv().ok()? {
            Message::Request(request) if request.method == "initialize" => return Some((request.id, request.params)),
            Message::Request(request) => {
                let response = Response::new_err(
                    request.id,
                    ErrorCode::ServerNotInitialized as i32,
                    "the server is not initialized yet".to_string(),
                );
                let _ = connection.sender.send(response.into());
            }
            Message::Notification(notification) if notification.method == "exit" => return None,
            Message::Notification(_) | Message::Response(_) => {}
        }
    }
}

/// An open document.
struct Doc {
    version: i32,
    path: PathBuf,
    text: Arc<[u8]>,
}

/// A request being answered on a worker.
struct Pending {
    token: salsa::CancellationToken,
    retries: u32,
}

/// What workers send back to the main loop.
enum Task {
    Response(Response),
    /// The request's snapshot was cancelled by an edit.
    Retry(Request),
    /// The diagnostics of a document at a version; `None` if cancelled.
    Diagnostics {
        uri: String,
        version: i32,
        diagnostics: Option<Vec<Value>>,
    },
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads.
struct Pool {
    sender: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(workers: usize) -> Pool {
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let threads = (0..workers.max(1))
            .map(|i| {
                let receiver = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("mini-lsp-{i}"))
                    .stack_size(16 << 20)
                    .spawn(move || {
                        for job in receiver {
                            job();
                        }
                    })
                    .expect("cannot start a worker thread")
            })
            .collect();
        Pool { sender: Some(sender), threads }
    }

    fn spawn(&self, job: Job) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(job);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.sender = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

struct Server {
    sender: Sender<Message>,
    receiver: Receiver<Message>,
    session: Session,
    /// The entry's directory, absolute.
    root: PathBuf,
    encoding: Encoding,
    /// Whether the client reports file changes (`workspace/didChangeWatchedFiles`); if
    /// not, files on disk are looked at again when a buffer is opened or saved.
    watches_files: bool,
    /// Open documents by URI, as the client spells it.
    docs: HashMap<String, Doc>,
    /// The diagnostics last published for each open document.
    published: HashMap<String, (i32, Vec<Value>)>,
    /// Documents whose diagnostics must be computed again.
    dirty: BTreeSet<String>,
    diagnostics_due: Option<Instant>,
    pending: HashMap<RequestId, Pending>,
    tasks: (Sender<Task>, Receiver<Task>),
    disk: Arc<DiskTexts>,
    hooks: Hooks,
    shutdown: bool,
    pool: Pool,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

impl Server {
    fn new(connection: Connection, params: &Value, options: Options) -> Server {
        let folder = params.pointer("/workspaceFolders/0/uri").and_then(Value::as_str).and_then(path_of);
        let root_uri = params.get("rootUri").and_then(Value::as_str).and_then(path_of);
        let root_path = params.get("rootPath").and_then(Value::as_str).map(PathBuf::from);
        let root = folder
            .or(root_uri)
            .or(root_path)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("/"));
        let entry = match params.pointer("/initializationOptions/entry").and_then(Value::as_str) {
            Some(entry) => root.join(entry),
            None => root.join("main.mini"),
        };
        let offered: Vec<String> = params
            .pointer("/capabilities/general/positionEncodings")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|e| e.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let watches_files = params
            .pointer("/capabilities/workspace/didChangeWatchedFiles/dynamicRegistration")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut session =
            Session::new(&entry).or_else(|_| Session::new(&root.join("main.mini"))).expect("a file name for the entry");
        session.for_editor();
        let root = session.absolute_root();
        tracing::info!(root = %root.display(), entry = %entry.display(), "language server starting");
        let Connection { sender, receiver } = connection;
        Server {
            sender,
            receiver,
            session,
            root,
            encoding: Encoding::negotiate(&offered),
            watches_files,
            docs: HashMap::new(),
            published: HashMap::new(),
            dirty: BTreeSet::new(),
            diagnostics_due: None,
            pending: HashMap::new(),
            tasks: crossbeam_channel::unbounded(),
            disk: Arc::default(),
            hooks: options.hooks,
            shutdown: false,
            pool: Pool::new(options.workers),
        }
    }

    fn capabilities(&self) -> Value {
        json!({
            "positionEncoding": self.encoding.name(),
            // Incremental changes (2); saves are noticed, their text is not needed.
            "textDocumentSync": {"openClose": true, "change": 2, "save": {"includeText": false}},
            "hoverProvider": true,
            "definitionProvider": true,
            "referencesProvider": true,
            "documentHighlightProvider": true,
            "documentSymbolProvider": true,
            "workspaceSymbolProvider": true,
            "completionProvider": {"triggerCharacters": ["."]},
            "renameProvider": {"prepareProvider": true},
            "semanticTokensProvider": {"legend": handlers::semantic_tokens_legend(), "full": true},
            "signatureHelpProvider": {"triggerCharacters": ["(", ","]},
        })
    }

    /// Loads the program: the disk cache's summaries for unchanged files, the others read.
    fn load(&mut self) {
        let start = Instant::now();
        if let Err(error) = self.session.load() {
            tracing::warn!("{error:#}");
        }
        tracing::info!(ms = start.elapsed().as_millis() as u64, "program loaded");
        if self.watches_files {
            let registration = json!({"registrations": [{
                "id": "mini-files",
                "method": "workspace/didChangeWatchedFiles",
                "registerOptions": {"watchers": [{"globPattern": "**/*.mini"}]},
            }]});
            let request = Request::new(
                RequestId::from("mini-watch".to_string()),
                "client/registerCapability".into(),
                registration,
            );
            self.send(request.into());
        }
    }

    fn send(&self, message: Message) {
        // A client that went away is noticed by the main loop's receive.
        let _ = self.sender.send(message);
    }

    fn respond(&self, response: Response) {
        self.send(response.into());
    }

    fn notify(&self, method: &str, params: Value) {
        self.send(Notification::new(method.to_string(), params).into());
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            db: self.session.db().clone(),
            root: self.root.clone(),
            encoding: self.encoding,
            disk: self.disk.clone(),
        }
    }

    fn run(mut self) -> u8 {
        loop {
            let due = self.diagnostics_due.map_or_else(crossbeam_channel::never, crossbeam_channel::at);
            let event = select! {
                recv(self.receiver) -> message => match message {
                    Ok(message) => Event::Message(message),
                    Err(_) => {
                        tracing::info!("the client went away without 'exit'");
                        return 1;
                    }
                },
                recv(self.tasks.1) -> task => Event::Task(task.expect("the server holds a sender")),
                recv(due) -> _ => Event::Diagnostics,
            };
            // A bug in handling one event must not take the server down.
            match catch_unwind(AssertUnwindSafe(|| self.handle(event))) {
                Ok(Some(status)) => return status,
                Ok(None) => {}
                Err(panic) => tracing::error!("the server panicked and goes on: {}", panic_message(&*panic)),
            }
        }
    }

    fn handle(&mut self, event: Event) -> Option<u8> {
        match event {
            Event::Message(Message::Request(request)) => self.on_request(request),
            Event::Message(Message::Notification(notification)) => return self.on_notification(notification),
            Event::Message(Message::Response(_)) => {}
            Event::Task(task) => self.on_task(task),
            Event::Diagnostics => self.start_diagnostics(),
        }
        None
    }

    fn on_request(&mut self, request: Request) {
        if self.shutdown {
            let message = "the server is shutting down".to_string();
            return self.respond(Response::new_err(request.id, ErrorCode::InvalidRequest as i32, message));
        }
        match request.method.as_str() {
            "shutdown" => {
                self.shutdown = true;
                for pending in self.pending.values() {
                    pending.token.cancel();
                }
                self.respond(Response::new_ok(request.id, Value::Null));
            }
            "initialize" => {
                let message = "the server is already initialized".to_string();
                self.respond(Response::new_err(request.id, ErrorCode::InvalidRequest as i32, message));
            }
            "mini/explain" => self.explain(request),
            method if handlers::METHODS.contains(&method) => self.spawn_request(request, 0),
            method => {
                let message = format!("unknown request {method}");
                self.respond(Response::new_err(request.id, ErrorCode::MethodNotFound as i32, message));
            }
        }
    }

    /// Answers a request on a worker, against a snapshot of the database as it is now.
    fn spawn_request(&mut self, request: Request, retries: u32) {
        let snapshot = self.snapshot();
        let token = salsa::Database::cancellation_token(&snapshot.db);
        self.pending.insert(request.id.clone(), Pending { token, retries });
        let tasks = self.tasks.0.clone();
        let hooks = self.hooks.clone();
        self.pool.spawn(Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                if let Some(hook) = &hooks.before_request {
                    hook(&request.method, &snapshot.db);
                }
                handlers::handle(&snapshot, &request.method, &request.params)
            }));
            // The main thread's next edit waits for every snapshot to be dropped.
            drop(snapshot);
            let task = match outcome {
                Ok(Ok(result)) => Task::Response(Response::new_ok(request.id, result)),
                Ok(Err(error)) => Task::Response(Response::new_err(request.id, error.code, error.message)),
                Err(panic) if panic.is::<salsa::Cancelled>() => Task::Retry(request),
                Err(panic) => {
                    let message = panic_message(&*panic);
                    tracing::error!(method = %request.method, "a request panicked: {message}");
                    let message = format!("internal error in {}: {message}", request.method);
                    Task::Response(Response::new_err(request.id, ErrorCode::InternalError as i32, message))
                }
            };
            let _ = tasks.send(task);
        }));
    }

    fn on_task(&mut self, task: Task) {
        match task {
            Task::Response(response) => {
                // A request cancelled by the client was answered already.
                if self.pending.remove(&response.id).is_some() {
                    self.respond(response);
                }
            }
            Task::Retry(request) => {
                let Some(pending) = self.pending.remove(&request.id) else { return };
                if pending.retries >= RETRIES || self.shutdown {
                    let message = "the document changed while the request was answered".to_string();
                    self.respond(Response::new_err(request.id, ErrorCode::ContentModified as i32, message));
                } else {
                    self.spawn_request(request, pending.retries + 1);
                }
            }
            Task::Diagnostics { uri, version, diagnostics } => {
                let Some(doc) = self.docs.get(&uri) else { return };
                if doc.version != version {
                    return;
                }
                let Some(diagnostics) = diagnostics else {
                    // Cancelled by a change that did not concern documents: compute again.
                    self.mark_dirty([uri]);
                    return;
                };
                let unchanged = self.published.get(&uri).is_some_and(|(v, d)| *v == version && *d == diagnostics);
                if !unchanged {
                    self.notify(
                        "textDocument/publishDiagnostics",
                        json!({"uri": uri, "version": version, "diagnostics": diagnostics}),
                    );
                    self.published.insert(uri, (version, diagnostics));
                }
            }
        }
    }

    fn mark_dirty(&mut self, uris: impl IntoIterator<Item = String>) {
        self.dirty.extend(uris);
        self.diagnostics_due = Some(Instant::now() + QUIET);
    }

    fn mark_all_dirty(&mut self) {
        let uris: Vec<String> = self.docs.keys().cloned().collect();
        self.mark_dirty(uris);
    }

    /// The quiet period is over: compute the diagnostics of every document that changed,
    /// each on a worker.
    fn start_diagnostics(&mut self) {
        self.diagnostics_due = None;
        for uri in std::mem::take(&mut self.dirty) {
            let Some(doc) = self.docs.get(&uri) else { continue };
            let version = doc.version;
            let snapshot = self.snapshot();
            let tasks = self.tasks.0.clone();
            self.pool.spawn(Box::new(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    let file = snapshot.file(&uri)?;
                    Some(handlers::diagnostics(&snapshot, file))
                }));
                drop(snapshot);
                let diagnostics = match outcome {
                    Ok(found) => Some(found.unwrap_or_default()),
                    Err(panic) if panic.is::<salsa::Cancelled>() => None,
                    Err(panic) => {
                        tracing::error!(uri = %uri, "computing diagnostics panicked: {}", panic_message(&*panic));
                        Some(Vec::new())
                    }
                };
                let _ = tasks.send(Task::Diagnostics { uri, version, diagnostics });
            }));
        }
    }

    fn on_notification(&mut self, notification: Notification) -> Option<u8> {
        let params = &notification.params;
        match notification.method.as_str() {
            "exit" => return Some(if self.shutdown { 0 } else { 1 }),
            "$/cancelRequest" => {
                let id = params.get("id").cloned().and_then(|id| serde_json::from_value::<RequestId>(id).ok());
                if let Some(id) = id
                    && let Some(pending) = self.pending.remove(&id)
                {
                    pending.token.cancel();
                    let message = "cancelled by the client".to_string();
                    self.respond(Response::new_err(id, ErrorCode::RequestCanceled as i32, message));
                }
            }
            "textDocument/didOpen" => self.did_open(params),
            "textDocument/didChange" => self.did_change(params),
            "textDocument/didClose" => self.did_close(params),
            "textDocument/didSave" if !self.watches_files => self.refresh_inputs(),
            "workspace/didChangeWatchedFiles" => self.did_change_watched_files(params),
            _ => {}
        }
        None
    }

    fn did_open(&mut self, params: &Value) {
        let (Some(uri), Some(text)) = (
            params.pointer("/textDocument/uri").and_then(Value::as_str),
            params.pointer("/textDocument/text").and_then(Value::as_str),
        ) else {
            return tracing::warn!("didOpen without a document");
        };
        let Some(path) = path_of(uri) else { return tracing::info!(uri, "not a file: ignored") };
        // Clients that start one server for plain text send other files too.
        if path.extension().is_none_or(|e| e != "mini") {
            return tracing::info!(uri, "not a .mini file: ignored");
        }
        let version = params.pointer("/textDocument/version").and_then(Value::as_i64).unwrap_or(0) as i32;
        let text: Arc<[u8]> = Arc::from(text.as_bytes());
        self.docs.insert(uri.to_string(), Doc { version, path: path.clone(), text: text.clone() });
        if !self.watches_files {
            // Nobody tells this server about files changed elsewhere: look now.
            self.refresh_inputs();
        }
        self.set_overlay(&path, Some(text));
        self.mark_all_dirty();
    }

    fn did_change(&mut self, params: &Value) {
        let Some(uri) = params.pointer("/textDocument/uri").and_then(Value::as_str) else { return };
        let encoding = self.encoding;
        let Some(doc) = self.docs.get_mut(uri) else { return tracing::warn!(uri, "didChange of a closed document") };
        let mut text: Vec<u8> = doc.text.to_vec();
        for change in params.get("contentChanges").and_then(Value::as_array).into_iter().flatten() {
            let Some(new_text) = change.get("text").and_then(Value::as_str) else { continue };
            match change.get("range") {
                Some(range) => {
                    let (Some(start), Some(end)) = (
                        range.get("start").and_then(Position::from_json),
                        range.get("end").and_then(Position::from_json),
                    ) else {
                        continue;
                    };
                    let lines = Lines::new(&text, encoding);
                    let (start, end) = (lines.offset(start) as usize, lines.offset(end) as usize);
                    let (start, end) = (start.min(end), end.max(start));
                    text.splice(start..end, new_text.bytes());
                }
                None => text = new_text.as_bytes().to_vec(),
            }
        }
        if let Some(version) = params.pointer("/textDocument/version").and_then(Value::as_i64) {
            doc.version = version as i32;
        }
        let text: Arc<[u8]> = text.into();
        doc.text = text.clone();
        let path = doc.path.clone();
        self.set_overlay(&path, Some(text));
        self.mark_all_dirty();
    }

    fn did_close(&mut self, params: &Value) {
        let Some(uri) = params.pointer("/textDocument/uri").and_then(Value::as_str) else { return };
        let Some(doc) = self.docs.remove(uri) else { return };
        self.set_overlay(&doc.path, None);
        self.dirty.remove(uri);
        if self.published.remove(uri).is_some_and(|(_, d)| !d.is_empty()) {
            self.notify("textDocument/publishDiagnostics", json!({"uri": uri, "diagnostics": []}));
        }
        self.mark_all_dirty();
    }

    fn did_change_watched_files(&mut self, params: &Value) {
        let paths: Vec<PathBuf> = params
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|change| path_of(change.get("uri")?.as_str()?))
            .collect();
        for path in &paths {
            if let Some(module) = self.session.module_of(path) {
                self.disk.forget(&module);
            }
        }
        self.session.assume_changed(&paths);
        self.refresh_inputs();
        self.mark_all_dirty();
    }

    /// Gives a file its buffer's text (or its disk text back), and loads what it imports
    /// when that changed.
    fn set_overlay(&mut self, path: &std::path::Path, text: Option<Arc<[u8]>>) {
        let Some((module, imports_changed)) = self.session.set_overlay(path, text) else {
            return tracing::info!(path = %path.display(), "not a file this server can check");
        };
        self.disk.forget(&module);
        if imports_changed {
            let open: Vec<PathBuf> = self.docs.values().map(|d| d.path.clone()).collect();
            self.session.set_extra_roots(&open);
            self.refresh_inputs();
        }
    }

    fn refresh_inputs(&mut self) {
        if let Err(error) = self.session.refresh_inputs() {
            tracing::debug!("{error:#}");
        }
    }

    /// `mini/explain`: what the next build would compile, and why, from the living
    /// database. It refreshes inputs from disk (the cache may have changed under a build
    /// run elsewhere), so it runs on the main thread.
    fn explain(&mut self, request: Request) {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.session.explain(&Settings::host())));
        let response = match outcome {
            // The object `mini explain --message-format json` prints: the prediction, or
            // the errors that prevent one.
            Ok(Ok(explanation)) => Response::new_ok(request.id, explanation.to_json()),
            Ok(Err(error)) => Response::new_err(request.id, ErrorCode::RequestFailed as i32, format!("{error:#}")),
            Err(panic) => {
                let message = panic_message(&*panic);
                tracing::error!("mini/explain panicked: {message}");
                Response::new_err(request.id, ErrorCode::InternalError as i32, format!("internal error: {message}"))
            }
        };
        self.respond(response);
        // The scan may have found files changed on disk.
        self.mark_all_dirty();
    }
}

enum Event {
    Message(Message),
    Task(Task),
    Diagnostics,
}
