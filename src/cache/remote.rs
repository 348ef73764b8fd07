//! The shared remote cache: a second tier under the store, spoken to over Bazel's HTTP
//! cache protocol (`GET`/`PUT` on `<base>/ac/<64 lowercase hex>`), so that any server
//! that speaks it — nginx with WebDAV, bazel-remote, a bucket behind such a proxy — can
//! hold a team's build results.
//!
//! What goes there (see ARCHITECTURE.md, "The shared remote cache"):
//! - store entries a fresh checkout needs, byte for byte as the local store holds them
//!   (payload and trailer), under their store key: link units and their members, the
//!   runtime, the entry wrapper, `_start`;
//! - a *shared index*: the local index without anything only this machine knows (no
//!   stamps, no inodes, no output path), keyed by the entry's module path, the entry
//!   file's content, the settings and the compiler. A fresh checkout uses it as a local
//!   index whose stamps prove nothing: every file is read and hashed, and a file's
//!   summary is used only if its content hash matches and its imports' interfaces are
//!   the recorded ones — the local index's own rules.
//!
//! Every download is verified as a local read is (`store::verify`: length, blake3, key,
//! kind, format version) before it reaches the local store through a temporary file and
//! a rename; a bad one is a miss, counted, and replaced by the locally built entry when
//! writing is allowed. A half-sent upload is therefore harmless whatever the server keeps.
//!
//! Failure is cheap and quiet: a 404 is a miss; a refused connection, a timeout, a 5xx,
//! 401, 403 or any other answer the protocol does not have turns the remote off for the
//! rest of the build (one warning line naming the server, never its credentials), so a
//! dead server costs at most one timeout per build. A long-lived session (watch mode)
//! tries again after `retry_after`. Uploads run on background threads while the build
//! goes on, and the build waits for the last of them at its end.
//!
//! The interface is small on purpose: `Remote` (per session) hands out a `Tier` per
//! build; the store asks the tier on a local miss (`get`) and gives it what it wrote
//! (`put`, `put_index`); the driver asks it for the shared index (`fetch_index`) and for
//! its report at the end (`finish`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use mini_queries::base::{Encoder, Hash, ModulePath};
use mini_queries::source::Settings;

use super::index::Index;
use super::store::{self, Kind, Store};

/// How long a session waits before trying a remote that failed again (watch mode).
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Uploads in flight at once.
const UPLOAD_THREADS: usize = 2;

/// The largest entry a download may be.
const MAX_ENTRY: u64 = 1 << 30;

/// How a session reaches its remote cache.
#[derive(Clone)]
pub struct RemoteSettings {
    /// `http://[user:password@]host[:port][/path/]`, as the user gave it (secret).
    pub url: String,
    /// Download only, never upload.
    pub read_only: bool,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long one request may take, from connecting to the last byte.
    pub timeout: Duration,
    /// After the remote failed, how long a session (watch mode) waits before using it
    /// again.
    pub retry_after: Duration,
}

/// Without the URL's credentials.
impl std::fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("url", &redact(&self.url))
            .field("read_only", &self.read_only)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl RemoteSettings {
    pub fn new(url: &str) -> RemoteSettings {
        RemoteSettings {
            url: url.to_string(),
            read_only: false,
            connect_timeout: Duration::from_millis(250),
            timeout: Duration::from_secs(5),
            retry_after: RETRY_AFTER,
        }
    }
}

/// Where the server is and how to authenticate: the URL split into a base without
/// credentials, which is all that is ever printed or logged, and the header.
struct Endpoint {
    /// `http://host:port/path/`, ending in `/`.
    base: String,
    authorization: Option<String>,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!("'{}' is not an http:// URL", redact(url));
        };
        if scheme.eq_ignore_ascii_case("https") {
            bail!(
                "'{}': this build of mini speaks plain http only; reach an https server through a local TLS proxy",
                redact(url)
            );
        }
        if !scheme.eq_ignore_ascii_case("http") {
            bail!("'{}' is not an http:// URL", redact(url));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
            bail!("'{}' has no valid host", redact(url));
        }
        if path.contains(['?', '#']) || path.chars().any(char::is_whitespace) {
            bail!("'{}': the path must be a plain directory path", redact(url));
        }
        let authorization = match userinfo {
            None => None,
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                let (Some(user), Some(password)) = (percent_decode(user), percent_decode(password)) else {
                    bail!("'{}' has a badly escaped user name or password", redact(url));
                };
                Some(format!("Basic {}", base64(format!("{user}:{password}").as_bytes())))
            }
        };
        let mut base = format!("http://{host}{path}");
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Endpoint { base, authorization })
    }

    fn url(&self, key: Hash) -> String {
        format!("{}ac/{}", self.base, key.to_hex())
    }
}

/// A URL with its user information replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: say nothing of it that could be a secret.
        return "<the configured URL>".into();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Parses a duration such as `250ms`, `5s` or `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        return Err(format!("'{text}' is not a duration (try 250ms or 5s)"));
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("'{text}' is not a duration (try 250ms or 5s)"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 86_400.0 {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// What the remote did in one build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteReport {
    /// The server, without credentials.
    pub server: String,
    /// Entries downloaded and verified.
    pub hits: u64,
    /// Entries the server did not have, or had bad (`bad` of them).
    pub misses: u64,
    /// Entries the server stored.
    pub uploads: u64,
    /// Failed requests and bad entries.
    pub errors: u64,
    /// Downloads that failed verification.
    pub bad: u64,
    pub bytes_down: u64,
    pub bytes_up: u64,
    /// Why the remote was turned off during this build: one line, without credentials.
    pub warning: Option<String>,
    /// How long the build waited for uploads at its end.
    pub upload_wait: Duration,
}

impl RemoteReport {
    /// The lines to warn about: why the remote was turned off, and how many of its
    /// entries were bad.
    pub fn warnings(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.warning.iter().cloned().collect();
        if self.bad > 0 {
            lines.push(format!(
                "remote cache {}: {} entr{} failed verification and {} built here instead",
                self.server,
                self.bad,
                if self.bad == 1 { "y" } else { "ies" },
                if self.bad == 1 { "was" } else { "were" }
            ));
        }
        lines
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"hits": self.hits, "misses": self.misses, "uploads": self.uploads, "errors": self.errors})
    }
}

/// A request the remote made, for `Remote::set_hook`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
}

type Hook = Arc<dyn Fn(Method) + Send + Sync>;

/// One session's remote cache: the server, its connections (kept alive between builds
/// in watch mode), and whether it failed recently.
pub struct Remote {
    endpoint: Endpoint,
    settings: RemoteSettings,
    agent: ureq::Agent,
    /// Set when a build turned the remote off: later builds leave it alone until then.
    off_until: Mutex<Option<Instant>>,
    hook: Mutex<Option<Hook>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.endpoint.base)
    }
}

impl Remote {
    /// A remote cache as `settings` say; an error if the URL is not one mini can use.
    pub fn new(settings: RemoteSettings) -> Result<Remote> {
        let endpoint = Endpoint::parse(&settings.url)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("mini/", env!("CARGO_PKG_VERSION")))
            .timeout_resolve(Some(settings.timeout))
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_per_call(Some(settings.timeout))
            .max_idle_connections_per_host(UPLOAD_THREADS + 8)
            .build();
        Ok(Remote {
            endpoint,
            agent: config.new_agent(),
            settings,
            off_until: Mutex::new(None),
            hook: Mutex::new(None),
        })
    }

    /// The server, without credentials.
    pub fn server(&self) -> &str {
        &self.endpoint.base
    }

    pub fn read_only(&self) -> bool {
        self.settings.read_only
    }

    /// Calls `hook` after every request, with its method: tests use it to act at a
    /// chosen point of a build (stopping the server, say).
    pub fn set_hook(&self, hook: impl Fn(Method) + Send + Sync + 'static) {
        *lock(&self.hook) = Some(Arc::new(hook));
    }

    /// The tier for one build; `None` while the remote is resting after a failure.
    pub fn begin(self: &Arc<Self>) -> Option<Arc<Tier>> {
        if lock(&self.off_until).is_some_and(|until| Instant::now() < until) {
            tracing::info!(server = %self.endpoint.base, "the remote cache failed recently; not using it in this build");
            return None;
        }
        Some(Arc::new(Tier {
            shared: Arc::new(Shared {
                remote: Arc::clone(self),
                off: AtomicBool::new(false),
                warning: Mutex::new(None),
                stats: Stats::default(),
                index_digest: Mutex::new(None),
            }),
            uploader: Mutex::new(None),
            finished: Mutex::new(None),
        }))
    }

    /// GET: the body, `None` for a 404, or why the remote must be turned off.
    fn get(&self, url: &str) -> Result<Option<Vec<u8>>, String> {
        let mut request = self.agent.get(url);
        if let Some(auth) = &self.endpoint.authorization {
            request = request.header("Authorization", auth);
        }
        let result = match request.call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let body = response.body_mut().with_config().limit(MAX_ENTRY).read_to_vec();
                match (status, body) {
                    (200, Ok(body)) => Ok(Some(body)),
                    (200, Err(e)) => Err(describe_error(&e, &self.settings)),
                    (404, _) => Ok(None),
                    (status, _) => Err(describe_status(status)),
                }
            }
            Err(e) => Err(describe_error(&e, &self.settings)),
        };
        self.after(Method::Get);
        result
    }

    /// PUT: whether the server stored it (`false`: it refused this entry alone, 413), or
    /// why the remote must be turned off.
    fn put(&self, url: &str, bytes: &[u8]) -> Result<bool, String> {
        let mut request = self.agent.put(url).content_type("application/octet-stream");
        if let Some(auth) = &self.endpoint.authorization {
            request = request.header("Authorization", auth);
        }
        let result = match request.send(bytes) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                // Read the (small) answer, so the connection can be used again.
                let _ = response.body_mut().with_config().limit(1 << 16).read_to_vec();
                match status {
                    200..=299 => Ok(true),
                    413 => Ok(false),
                    status => Err(describe_status(status)),
                }
            }
            Err(e) => Err(describe_error(&e, &self.settings)),
        };
        self.after(Method::Put);
        result
    }

    fn after(&self, method: Method) {
        let hook = lock(&self.hook).clone();
        if let Some(hook) = hook {
            hook(method);
        }
    }
}

fn describe_status(status: u16) -> String {
    match status {
        401 => "401 Unauthorized (check the user name and password in the URL)".into(),
        403 => "403 Forbidden".into(),
        405 => "405 Method Not Allowed (does the server accept PUT? nginx needs `dav_methods PUT`)".into(),
        400 => "400 Bad Request (bazel-remote needs --disable_http_ac_validation for mini's entries)".into(),
        500..=599 => format!("server error {status}"),
        _ => format!("unexpected status {status}"),
    }
}

fn describe_error(error: &ureq::Error, settings: &RemoteSettings) -> String {
    let ms = |d: Duration| format!("{} ms", d.as_millis());
    match error {
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            format!("no connection within {}", ms(settings.connect_timeout))
        }
        ureq::Error::Timeout(_) => format!("no answer within {}", ms(settings.timeout)),
        ureq::Error::Io(e) => crate::fs::io_reason(e).to_lowercase(),
        ureq::Error::HostNotFound => "host not found".into(),
        other => other.to_string(),
    }
}

/// Counters of one build.
#[derive(Default)]
struct Stats {
    hits: AtomicU64,
    misses: AtomicU64,
    uploads: AtomicU64,
    errors: AtomicU64,
    bad: AtomicU64,
    bytes_down: AtomicU64,
    bytes_up: AtomicU64,
    get_ns: AtomicU64,
    put_ns: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// What the build and its upload threads share.
struct Shared {
    remote: Arc<Remote>,
    off: AtomicBool,
    warning: Mutex<Option<String>>,
    stats: Stats,
    /// The checksum of the shared index this build downloaded: uploading the same again
    /// is skipped.
    index_digest: Mutex<Option<Hash>>,
}

impl Shared {
    fn is_off(&self) -> bool {
        self.off.load(Ordering::Acquire)
    }

    /// Turns the remote off for the rest of the build; the first reason is the warning.
    fn turn_off(&self, reason: String) {
        add(&self.stats.errors, 1);
        if !self.off.swap(true, Ordering::AcqRel) {
            let server = &self.remote.endpoint.base;
            tracing::info!(%server, %reason, "remote cache turned off for this build");
            *lock(&self.warning) = Some(format!("remote cache {server}: {reason}; building without it"));
        }
    }

    fn upload(&self, job: Job) {
        if self.is_off() {
            return;
        }
        let (key, bytes) = match job {
            Job::Entry { kind, inner, path } => match std::fs::read(&path) {
                Ok(bytes) => (Store::key(kind, inner), bytes),
                Err(e) => {
                    tracing::debug!(path = %path.display(), "not uploading an entry that cannot be read: {e}");
                    return;
                }
            },
            Job::Index { path } => match self.portable_index(&path) {
                Some(found) => found,
                None => return,
            },
        };
        let start = Instant::now();
        let result = self.remote.put(&self.remote.endpoint.url(key), &bytes);
        let elapsed = start.elapsed();
        add(&self.stats.put_ns, elapsed.as_nanos() as u64);
        tracing::debug!(key = %&key.to_hex()[..16], bytes = bytes.len(), ms = elapsed.as_secs_f64() * 1e3, ?result, "remote PUT");
        match result {
            Ok(true) => {
                add(&self.stats.uploads, 1);
                add(&self.stats.bytes_up, bytes.len() as u64);
            }
            Ok(false) => {
                tracing::info!(key = %key.to_hex(), bytes = bytes.len(), "the remote cache refused an entry as too large");
                add(&self.stats.errors, 1);
            }
            Err(reason) => self.turn_off(reason),
        }
    }

    /// The shared index made from the local index at `path`, as an entry, and its key;
    /// `None` if it cannot be read or is the one this build downloaded.
    fn portable_index(&self, path: &Path) -> Option<(Hash, Vec<u8>)> {
        let _span = tracing::debug_span!("portable_index").entered();
        let index = Index::read(path).ok()?;
        let entry = index.files.iter().find(|f| f.path.as_str() == index.header.entry_path)?;
        let inner = shared_index_key(&entry.path, entry.content, &index.header.settings);
        let payload = index.portable()?;
        let digest = Hash(*blake3::hash(&payload).as_bytes());
        if *lock(&self.index_digest) == Some(digest) {
            tracing::debug!("the shared index is unchanged; not uploading it");
            return None;
        }
        Some((Store::key(Kind::SharedIndex, inner), store::entry_bytes(Kind::SharedIndex, inner, &payload)))
    }
}

/// An upload waiting for a thread.
enum Job {
    /// A store entry, read from its file.
    Entry { kind: Kind, inner: Hash, path: PathBuf },
    /// The shared index, made from the local index file.
    Index { path: PathBuf },
}

struct Uploader {
    jobs: mpsc::Sender<Job>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// The remote for one build (see the module's comment).
pub struct Tier {
    shared: Arc<Shared>,
    /// Started with the first upload.
    uploader: Mutex<Option<Uploader>>,
    finished: Mutex<Option<RemoteReport>>,
}

impl Tier {
    /// Whether entries of this kind are shared.
    pub fn shares(kind: Kind) -> bool {
        matches!(kind, Kind::Unit | Kind::UnitMembers | Kind::Runtime | Kind::Entry | Kind::Start)
    }

    pub fn read_only(&self) -> bool {
        self.shared.remote.settings.read_only
    }

    /// The entry `(kind, inner)` from the server — payload and trailer, verified — and
    /// its payload's length; `None` for a miss, a bad entry, or when the remote is off.
    pub fn get(&self, kind: Kind, inner: Hash) -> Option<(Vec<u8>, usize)> {
        let shared = &self.shared;
        if shared.is_off() {
            return None;
        }
        let key = Store::key(kind, inner);
        let start = Instant::now();
        let result = shared.remote.get(&shared.remote.endpoint.url(key));
        let elapsed = start.elapsed();
        add(&shared.stats.get_ns, elapsed.as_nanos() as u64);
        let bytes = match result {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                tracing::debug!(?kind, key = %&key.to_hex()[..16], ms = elapsed.as_secs_f64() * 1e3, "remote miss");
                add(&shared.stats.misses, 1);
                return None;
            }
            Err(reason) => {
                shared.turn_off(reason);
                return None;
            }
        };
        add(&shared.stats.bytes_down, bytes.len() as u64);
        let Some(len) = store::verify(&bytes, Some((kind, key))) else {
            // Reported once, with the count, at the end of the build (`RemoteReport::warnings`).
            tracing::debug!(?kind, key = %key.to_hex(), "the remote cache holds a bad entry; rebuilding it");
            add(&shared.stats.bad, 1);
            add(&shared.stats.errors, 1);
            add(&shared.stats.misses, 1);
            return None;
        };
        tracing::debug!(?kind, key = %&key.to_hex()[..16], bytes = bytes.len(), ms = elapsed.as_secs_f64() * 1e3, "remote hit");
        add(&shared.stats.hits, 1);
        Some((bytes, len))
    }

    /// Uploads the store entry just written at `path`, in the background (unless
    /// read-only, off, or not a shared kind).
    pub fn put(&self, kind: Kind, inner: Hash, path: &Path) {
        if Self::shares(kind) {
            self.enqueue(Job::Entry { kind, inner, path: path.to_path_buf() });
        }
    }

    /// Uploads the shared index made from the local index just written at `path`.
    pub fn put_index(&self, path: &Path) {
        self.enqueue(Job::Index { path: path.to_path_buf() });
    }

    fn enqueue(&self, job: Job) {
        if self.read_only() || self.shared.is_off() {
            return;
        }
        let mut uploader = lock(&self.uploader);
        let uploader = uploader.get_or_insert_with(|| {
            let (jobs, queue) = mpsc::channel::<Job>();
            let queue = Arc::new(Mutex::new(queue));
            let threads = (0..UPLOAD_THREADS)
                .filter_map(|_| {
                    let (queue, shared) = (Arc::clone(&queue), Arc::clone(&self.shared));
                    std::thread::Builder::new()
                        .name("remote-upload".into())
                        .spawn(move || {
                            loop {
                                let job = lock(&queue).recv();
                                match job {
                                    Ok(job) => shared.upload(job),
                                    Err(_) => return,
                                }
                            }
                        })
                        .ok()
                })
                .collect();
            Uploader { jobs, threads }
        });
        let _ = uploader.jobs.send(job);
    }

    /// The shared index for the program whose entry is `entry` (its file at
    /// `entry_file`), built with `settings`; `None` if the server has none (or a bad one).
    pub fn fetch_index(&self, entry: &ModulePath, entry_file: &Path, settings: &Settings) -> Option<Index> {
        let _span = tracing::info_span!("fetch_shared_index").entered();
        let text = std::fs::read(entry_file).ok()?;
        let inner = shared_index_key(entry, Hash(*blake3::hash(&text).as_bytes()), settings);
        let (mut bytes, len) = self.get(Kind::SharedIndex, inner)?;
        bytes.truncate(len);
        let index = match Index::decode(&bytes) {
            Ok(index) => {
                *lock(&self.shared.index_digest) = Some(Hash(*blake3::hash(&bytes).as_bytes()));
                Some(index)
            }
            Err(_) => {
                // Its checksum held, so it was written by another version of mini.
                tracing::info!("the remote's shared index is from another version of mini; ignoring it");
                None
            }
        };
        tracing::info!(bytes = bytes.len(), files = index.as_ref().map_or(0, |i| i.files.len()), "shared index");
        index
    }

    /// Waits for the uploads, and says what the remote did in this build. Later calls
    /// return the same report.
    pub fn finish(&self) -> RemoteReport {
        let mut finished = lock(&self.finished);
        if let Some(report) = &*finished {
            return report.clone();
        }
        let start = Instant::now();
        if let Some(Uploader { jobs, threads }) = lock(&self.uploader).take() {
            let _span = tracing::info_span!("remote_uploads").entered();
            drop(jobs);
            for thread in threads {
                let _ = thread.join();
            }
        }
        let shared = &self.shared;
        let stats = &shared.stats;
        let report = RemoteReport {
            server: shared.remote.endpoint.base.clone(),
            hits: load(&stats.hits),
            misses: load(&stats.misses),
            uploads: load(&stats.uploads),
            errors: load(&stats.errors),
            bad: load(&stats.bad),
            bytes_down: load(&stats.bytes_down),
            bytes_up: load(&stats.bytes_up),
            warning: lock(&shared.warning).clone(),
            upload_wait: start.elapsed(),
        };
        if shared.is_off() {
            *lock(&shared.remote.off_until) = Some(Instant::now() + shared.remote.settings.retry_after);
        }
        tracing::info!(
            "remote {}: {} hits, {} misses ({} bad), {} uploads, {} errors; {:.1} MB down in {:.1} ms of requests, {:.1} MB up in {:.1} ms; waited {:.1} ms for uploads at the end",
            report.server,
            report.hits,
            report.misses,
            report.bad,
            report.uploads,
            report.errors,
            report.bytes_down as f64 / 1e6,
            load(&stats.get_ns) as f64 / 1e6,
            report.bytes_up as f64 / 1e6,
            load(&stats.put_ns) as f64 / 1e6,
            report.upload_wait.as_secs_f64() * 1e3,
        );
        *finished = Some(report.clone());
        report
    }
}

impl Drop for Tier {
    /// A build that ends early (an error) still waits for its uploads: no thread
    /// outlives the build.
    fn drop(&mut self) {
        self.finish();
    }
}

/// The shared index's key: the program (its entry's module path and content), the
/// settings; `Encoder::new` adds the compiler's identity.
pub fn shared_index_key(entry: &ModulePath, content: Hash, settings: &Settings) -> Hash {
    Encoder::new("mini shared index")
        .encode(entry)
        .bytes(&content.0)
        .encode(&settings.codegen)
        .u8(u8::from(settings.contracts))
        .finish()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Undoes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Standard base64 with padding, for the basic-auth header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_a_printable_base_and_credentials() {
        let e = Endpoint::parse("http://ci:s%40cret@cache.example:8080/mini").unwrap();
        assert_eq!(e.base, "http://cache.example:8080/mini/");
        assert_eq!(e.authorization.as_deref(), Some(format!("Basic {}", base64(b"ci:s@cret")).as_str()));
        assert_eq!(e.url(Hash([0xab; 32])), format!("http://cache.example:8080/mini/ac/{}", "ab".repeat(32)));
        let plain = Endpoint::parse("HTTP://127.0.0.1:1").unwrap();
        assert_eq!((plain.base.as_str(), plain.authorization), ("http://127.0.0.1:1/", None));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_credentials() {
        for url in ["https://u:topsecret@host/", "ftp://u:topsecret@host/", "u:topsecret@host", "http://u:topsecret@/x"]
        {
            let error = Endpoint::parse(url).err().expect("refused").to_string();
            assert!(!error.contains("topsecret"), "{error}");
        }
        assert_eq!(redact("http://u:p@h:1/a@b"), "http://***@h:1/a@b");
        assert_eq!(redact("http://h:1/"), "http://h:1/");
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"martin:secret"), "bWFydGluOnNlY3JldA==");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
