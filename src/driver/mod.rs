//! The build driver: owns the database, turns files on disk into inputs (`scan`), asks
//! the queries for diagnostics and the link plan, fills in missing objects and links
//! (`objects`), and records what it did in the on-disk index. All of the compiler's I/O
//! happens here or below (`link`, `store`).

mod chunks;
mod deferred;
mod emit;
mod explain;
mod importers;
mod objects;
mod patch;
mod plan;
mod prefetch;
mod record;
mod request;
mod scan;
mod warnings;

pub use explain::{Compared, Explained, Explanation, Found, Status};
pub use request::{BuildReport, BuildRequest, Emit};
pub use scan::module_path_of;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use mini_queries::Database;
use mini_queries::base::{Hash, ModulePath};
use mini_queries::diagnostics::program_diagnostics;
use mini_queries::hash::fn_hash;
use mini_queries::items::program_functions;
use mini_queries::source::{BuildSettings, Settings, Workspace};
use rustc_hash::{FxHashMap, FxHashSet};
use salsa::Setter;

use crate::cache::index::{Header, Index};
use crate::cache::store::Store;
use crate::fault::{Action, Faults, Point};
use crate::fs::{FileStamp, absolute, lexically_normal, now_ns, relative_to, stamps_of};
use crate::link::Linker;
use crate::link::incremental::IncrementalLinker;
use crate::progress::{Phase, Progress};
use crate::render::Located;

/// Where build results are kept between builds and processes.
#[derive(Clone)]
struct Cache {
    dir: CacheDir,
    /// The shared remote cache, if any: a tier under the store in every build.
    remote: Option<Arc<crate::cache::remote::Remote>>,
}

/// The cache's directory.
#[derive(Clone)]
enum CacheDir {
    /// A `.mini_cache`-style store that outlives this process.
    Shared(PathBuf),
    /// `--no-cache`: a private directory, removed when the session ends.
    Private(PathBuf),
}

/// What a session is told beyond what it reads on disk: by a watcher, or by an editor.
#[derive(Default)]
struct Told {
    /// By a watcher: the only files that may have changed since the last build.
    changed: Option<FxHashSet<ModulePath>>,
    /// By an editor: the texts of its open buffers, which stand for the files on disk
    /// wherever the session would read them.
    overlays: FxHashMap<ModulePath, Arc<[u8]>>,
    /// By an editor: files open besides the entry and what it imports; scans load them
    /// and their imports too.
    extra_roots: Vec<ModulePath>,
}

/// What builds made and keep for the next one.
#[derive(Default)]
struct Artifacts {
    /// Function objects generated or loaded in this session, by function hash.
    objects: FxHashMap<Hash, Arc<[u8]>>,
    /// The inputs of the last link (see `objects::LinkedInputs`).
    linked: objects::LinkedInputs,
    /// What the last successful link (or the index) left: what to skip and rebuild from.
    link_state: Option<LinkState>,
    /// The system linker, once one was needed.
    linker: Option<Linker>,
    /// Watch mode's incremental linker: the last image's layout, patched after an edit.
    incremental: Option<Arc<std::sync::Mutex<IncrementalLinker>>>,
    /// In watch mode, the index to write after the rebuild is reported: where, what
    /// was linked (the file records are taken then), and the build's jobs.
    pending_index: Option<(PathBuf, Header, usize)>,
    /// The head of the index this session last wrote, or read before its first scan:
    /// where, and its `Index::identity`. While the head there is still that one, every
    /// record the session kept is that head's own, entry and summary, so writing the
    /// index again only appends the new records' summaries (`record::write_index`).
    index_on_disk: Option<(PathBuf, Hash)>,
    /// In watch mode, the store entries and statistics to write after the report.
    deferred: deferred::Deferred,
}

/// What tests and the display attach to a session's builds.
#[derive(Clone, Default)]
struct Hooks {
    /// Faults tests armed (see `fault`).
    faults: Faults,
    /// Told what the build is doing (a terminal's progress line).
    progress: Option<Arc<dyn Progress>>,
    /// How many files a large one-shot build checks at a time, and how many functions
    /// it generates at a time (`chunks`), when a test chose them.
    chunks: Option<(usize, usize)>,
}

/// What a session is for. It decides, in one place, what used to be flags set together:
/// how durable new inputs are, when the index and other cache writes happen, and
/// whether a build may patch the index instead of loading the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One command in a process that then exits (`build`, `run`, `check`, `explain`),
    /// or a test's session: inputs are made as the build needs them, the index is
    /// written with the build, and a new session after a small edit patches the index
    /// (`patch`).
    OneShot,
    /// `mini watch`: one database across edits. New inputs start durable (files nobody
    /// edits are then revalidated cheaply); the index and an edit's new store entries
    /// are written after the rebuild is reported; the database is always whole, so it
    /// never patches; executables are linked incrementally.
    Watch,
    /// The language server: one database across an editor's changes, loaded from the
    /// index but never building, so it writes nothing to the cache.
    Editor,
}

impl Mode {
    /// Whether new inputs are created with high durability.
    pub fn durable_inputs(self) -> bool {
        self == Mode::Watch
    }

    /// Whether a build's index and new entries are written after it is reported.
    pub fn defers_writes(self) -> bool {
        self == Mode::Watch
    }

    /// Whether a new session may patch the index after a small edit.
    pub fn may_patch(self) -> bool {
        self == Mode::OneShot
    }
}

/// One program's compilation state. Lives for one CLI command, or across edits in
/// watch mode, in the language server and in tests.
pub struct Session {
    /// What the session is for (see `Mode`).
    mode: Mode,
    /// The entry file's directory, as the user spelled it; module paths are relative to it.
    root: PathBuf,
    entry: ModulePath,
    /// The database, and the inputs this session set in it.
    db: Database,
    workspace: Option<Workspace>,
    settings: Option<BuildSettings>,
    /// Every file this session has loaded: its input, and what the session knows of it.
    files: BTreeMap<ModulePath, scan::FileState>,
    /// The database holds part of the program only (see `patch`): the next build starts
    /// with a new one.
    partial: bool,
    /// What the session is told beyond what it reads on disk.
    told: Told,
    /// Where build results are kept.
    cache: Cache,
    /// What builds made and keep for the next one.
    artifacts: Artifacts,
    /// Faults tests armed, and the progress display.
    hooks: Hooks,
}

/// The last link of this program with some settings.
#[derive(Clone, Debug)]
pub(crate) struct LinkState {
    settings: Settings,
    link_key: Hash,
    /// The executable and its stamp right after linking.
    output: Option<(PathBuf, FileStamp)>,
    /// The whole layout the executable's saved layout replays over (`Header::
    /// layout_base`).
    layout_base: Option<Hash>,
    /// Each unit's key, by unit index: the previous version of a unit being rebuilt.
    units: FxHashMap<u32, Hash>,
}

impl LinkState {
    fn from_index(index: &Index, settings: &Settings) -> LinkState {
        LinkState {
            settings: settings.clone(),
            link_key: index.header.link_key,
            output: index.header.output.clone(),
            layout_base: index.header.layout_base,
            units: index.header.units.iter().copied().collect(),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let CacheDir::Private(dir) = &self.cache.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Session {
    /// Ends a session in a process about to exit: removes a private cache, and leaves the
    /// database to the operating system — freeing tens of thousands of memos one by one
    /// is a few milliseconds of a one-shot build's time for nothing.
    pub fn finish(self) {
        if let CacheDir::Private(dir) = &self.cache.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::mem::forget(self);
    }

    /// A session for the program whose entry file is `entry`, caching in `.mini_cache`
    /// next to it.
    pub fn new(entry: &Path) -> Result<Session> {
        let name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("'{}' is not a file name", entry.display()))?;
        let module =
            ModulePath::new(name).with_context(|| format!("'{}' is not a valid file name", entry.display()))?;
        let root = entry.parent().map(Path::to_path_buf).unwrap_or_default();
        let cache = Cache { dir: CacheDir::Shared(crate::cache::directory(entry, None)), remote: None };
        Ok(Session {
            mode: Mode::OneShot,
            root,
            entry: module,
            db: Database::new(crate::codegen::shared()),
            workspace: None,
            settings: None,
            files: BTreeMap::new(),
            partial: false,
            told: Told::default(),
            cache,
            artifacts: Artifacts::default(),
            hooks: Hooks::default(),
        })
    }

    /// Walks and checks programs of more than `files` files in chunks of that many (the
    /// walk dropping its trees a chunk at a time), and generates
    /// more than `functions` functions in rounds of about that many (see `chunks`):
    /// tests make them small.
    pub fn set_chunks(&mut self, files: usize, functions: usize) {
        self.hooks.chunks = Some((files, functions));
    }

    /// Reports this session's builds to `progress` from now on.
    pub fn set_progress(&mut self, progress: Arc<dyn Progress>) {
        self.hooks.progress = Some(progress);
    }

    fn report_phase(&self, phase: Phase) {
        if let Some(progress) = &self.hooks.progress {
            progress.phase(phase);
        }
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Tells the next build that only these files (paths on disk) may have changed, as
    /// a file watcher reports. Files outside the program are ignored; the build still
    /// walks the whole import graph when a file is new or an import changed.
    pub fn assume_changed(&mut self, paths: &[PathBuf]) {
        let root = lexically_normal(&self.absolute_root());
        let changed = self.told.changed.get_or_insert_with(FxHashSet::default);
        for path in paths {
            // Files imported from outside the entry's directory are `../…` modules.
            let relative = relative_to(&lexically_normal(&absolute(path)), &root);
            if let Some(module) = relative.to_str().and_then(ModulePath::new) {
                changed.insert(module);
            }
        }
    }

    /// A token that cancels this session's build in progress, from another thread: its
    /// next query unwinds with `salsa::Cancelled`.
    pub fn cancellation_token(&self) -> salsa::CancellationToken {
        salsa::Database::cancellation_token(&self.db)
    }

    /// The faults armed for this session's builds, for tests (see `fault`).
    pub fn faults(&self) -> &Faults {
        &self.hooks.faults
    }

    /// Fires the fault armed at `point`, if any.
    pub(crate) fn fault(&self, point: Point) {
        match self.hooks.faults.take(point) {
            Some(Action::Cancel) => self.cancellation_token().cancel(),
            Some(Action::Panic) => panic!("injected fault at {}", point.name()),
            Some(Action::Run(code)) => code(),
            Some(Action::NoSpace) | None => {}
        }
    }

    /// The entry file's path, as the user can open it.
    pub fn entry_path(&self) -> PathBuf {
        self.disk_path(&self.entry)
    }

    /// The entry file's directory, as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry file's directory as an absolute path.
    pub fn absolute_root(&self) -> PathBuf {
        if self.root.as_os_str().is_empty() { absolute(Path::new(".")) } else { absolute(&self.root) }
    }

    /// Every file this session has loaded (paths on disk), missing ones included.
    pub fn known_files(&self) -> Vec<PathBuf> {
        self.files.keys().map(|path| self.disk_path(path)).collect()
    }

    /// The files this session has loaded from outside the entry's directory (paths on
    /// disk), missing ones included: those whose module path climbs out of it (`../`).
    pub fn files_outside_root(&self) -> Vec<PathBuf> {
        self.files.keys().filter(|path| path.as_str().starts_with("../")).map(|path| self.disk_path(path)).collect()
    }

    /// Keeps the cache in `dir` instead of the entry directory's `.mini_cache`.
    pub fn set_cache_dir(&mut self, dir: PathBuf) {
        self.cache.dir = CacheDir::Shared(dir);
    }

    /// Shares build results through `remote` (see `remote`).
    pub fn set_remote(&mut self, remote: crate::cache::remote::Remote) {
        self.cache.remote = Some(Arc::new(remote));
    }

    /// Keeps no cache beyond this session (`--no-cache`).
    pub fn disable_cache(&mut self) {
        let dir = std::env::temp_dir().join(format!("mini-no-cache-{}-{}", std::process::id(), now_ns()));
        self.cache.dir = CacheDir::Private(dir);
    }

    /// Where this program's cache lives.
    pub fn cache_dir(&self) -> &Path {
        match &self.cache.dir {
            CacheDir::Shared(dir) | CacheDir::Private(dir) => dir,
        }
    }

    fn open_store(&self) -> Result<Store> {
        Ok(Store::open(self.cache_dir())?.with_faults(self.hooks.faults.clone()))
    }

    /// The path of a module as the user can open it.
    pub fn display_path(&self, module: &ModulePath) -> String {
        if self.root.as_os_str().is_empty() {
            module.to_string()
        } else {
            self.root.join(module.as_str()).to_string_lossy().into_owned()
        }
    }

    fn disk_path(&self, module: &ModulePath) -> PathBuf {
        if self.root.as_os_str().is_empty() { PathBuf::from(module.as_str()) } else { self.root.join(module.as_str()) }
    }

    /// Sets the build settings input, field by field, where they changed.
    pub fn set_settings(&mut self, settings: &Settings) {
        let Some(input) = self.settings else {
            self.settings = Some(BuildSettings::new(&self.db, settings.codegen.clone(), settings.contracts));
            return;
        };
        let codegen = *input.codegen(&self.db) != settings.codegen;
        let contracts = input.contracts(&self.db) != settings.contracts;
        if codegen {
            input.set_codegen(&mut self.db).with_durability(salsa::Durability::HIGH).to(settings.codegen.clone());
        }
        if contracts {
            input.set_contracts(&mut self.db).with_durability(salsa::Durability::HIGH).to(settings.contracts);
        }
        if codegen || contracts {
            // Summaries and index records hold function hashes, which the settings are
            // part of: the other settings' ones would stand for code these settings do
            // not generate. Files turn back into text, and nothing is kept for the index.
            let summarized: Vec<ModulePath> = self.summarized().collect();
            for path in summarized {
                self.hydrate(&path, &mut BuildReport::default());
            }
            for state in self.files.values_mut() {
                state.record = None;
            }
        }
    }

    fn workspace(&self) -> Workspace {
        self.workspace.expect("scan() runs before any query")
    }

    /// Every diagnostic of the program, located and in order.
    pub fn diagnostics(&self) -> Vec<Located> {
        let _span = tracing::info_span!("diagnostics").entered();
        let mut texts = warnings::Texts::default();
        program_diagnostics(&self.db, self.workspace()).iter().map(|d| self.locate(d, &mut texts)).collect()
    }

    /// A cancellation that arrived after the last build's final query (while it linked,
    /// say) is still pending, and would cancel the next build's first query although that
    /// build reads the files after it. Attaching and detaching the database clears it.
    fn forget_stale_cancellation(&self) {
        salsa::Database::attach(&self.db, |_| ());
    }

    /// Starts over with an empty database, keeping what does not depend on it: the
    /// settings of the session, objects by hash, what was linked.
    fn reset_database(&mut self) {
        self.db = Database::new(crate::codegen::shared());
        self.files.clear();
        self.workspace = None;
        self.settings = None;
        self.partial = false;
    }

    /// The settings of the last build, or the defaults before the first.
    fn current_settings(&self) -> Settings {
        self.settings.map_or_else(Settings::host, |s| Settings {
            codegen: s.codegen(&self.db).clone(),
            contracts: s.contracts(&self.db),
        })
    }

    /// Loads the program — the entry, what it imports, and any extra roots — as inputs,
    /// without checking or building: files that the on-disk index proves unchanged become
    /// summaries. Nothing is written (the language server's start). An entry that cannot
    /// be read is an error, but the other files are loaded all the same.
    pub fn load(&mut self) -> Result<()> {
        let _span = tracing::info_span!("load").entered();
        self.forget_stale_cancellation();
        let settings = self.current_settings();
        let index = match &self.cache.dir {
            CacheDir::Shared(dir) => {
                let path = self.index_path_under(dir, &settings);
                record::read_index_file(&path)
            }
            CacheDir::Private(_) => None,
        };
        self.set_settings(&settings);
        let stamps = self.stamps(index.as_ref());
        self.scan(index.as_ref(), &stamps, now_ns(), &mut BuildReport::default(), false)
    }

    /// Brings the inputs up to date with the disk after `load`: only the files said to
    /// have changed (`assume_changed`), or every loaded file when none were; the import
    /// graph is walked again when it may have changed. Files with an overlay keep it.
    pub fn refresh_inputs(&mut self) -> Result<()> {
        let _span = tracing::info_span!("refresh_inputs").entered();
        self.scan(None, &FxHashMap::default(), now_ns(), &mut BuildReport::default(), false)
    }

    /// Checks the program without generating code.
    pub fn check(&mut self, log_queries: bool) -> Result<BuildReport> {
        let start = Instant::now();
        let started_at_ns = now_ns();
        self.forget_stale_cancellation();
        self.db.record_executions(log_queries);
        let settings = self.current_settings();
        let index = if self.cache_dir().exists() {
            let store = self.open_store()?;
            self.read_index(&store, &settings)
        } else {
            None
        };
        self.set_settings(&settings);
        let mut report = BuildReport::default();
        let stamps = self.stamps(index.as_ref());
        self.scan(index.as_ref(), &stamps, started_at_ns, &mut report, false)?;
        report.diagnostics = self.diagnostics();
        report.functions = program_functions(&self.db, self.workspace()).len();
        self.finish_report(&mut report, log_queries, start);
        Ok(report)
    }

    /// Builds the program as `request` says.
    pub fn build(&mut self, request: &BuildRequest) -> Result<BuildReport> {
        // A file this build took for unchanged was edited before its code was generated
        // (see `scan::ChangedDuringBuild`): build again, with what is on disk now. The
        // next attempt sees the file's new stamp; an attempt writes nothing it would have
        // to take back before it fails this way.
        let mut attempts = 1;
        loop {
            match self.build_once(request) {
                Err(error) if attempts < 3 && error.is::<scan::ChangedDuringBuild>() => {
                    tracing::info!("{error}; building again");
                    attempts += 1;
                }
                result => return result,
            }
        }
    }

    fn build_once(&mut self, request: &BuildRequest) -> Result<BuildReport> {
        anyhow::ensure!(self.mode != Mode::Editor, "the language server's session never builds");
        let start = Instant::now();
        let started_at_ns = now_ns();
        if self.partial {
            self.reset_database();
        }
        self.forget_stale_cancellation();
        // The last build's index, if a cancellation stopped its writing (watch mode): the
        // database is still as that build left it.
        if (self.artifacts.pending_index.is_some() || self.artifacts.deferred.is_pending())
            && let Err(error) = self.flush_index()
        {
            tracing::warn!("writing the cache index: {error:#}");
        }
        self.db.record_executions(request.log_queries);
        let target = &request.settings.codegen.target;
        mini_queries::base::validate_target(target)
            .map_err(|e| anyhow::anyhow!("unsupported target '{target}': {e}"))?;
        if request.emit == Emit::Exe && **target != *mini_queries::base::host_triple() {
            anyhow::bail!("cannot link an executable for '{target}' on this machine; use --emit obj");
        }
        let mut store = self.open_store()?;
        store.keep_index(self.index_path(&store, &request.settings));
        store.set_remote(self.cache.remote.as_ref().and_then(|remote| remote.begin()));
        // With a watcher saying what changed, neither the index nor the stamps are needed.
        let watching = self.told.changed.is_some()
            && self.workspace.is_some()
            && self.artifacts.link_state.as_ref().is_some_and(|s| s.settings == request.settings);
        let index = if watching { None } else { self.read_index(&store, &request.settings) };
        // Before the session's first scan: every summary it takes will be this head's.
        if self.workspace.is_none() {
            let head = self.index_path(&store, &request.settings);
            self.artifacts.index_on_disk = index.as_ref().map(|index| (head, index.identity()));
        }
        // No index here (a fresh checkout): the remote's shared index, if it has one.
        let index = match (index, store.remote()) {
            (None, Some(remote)) if !watching => {
                remote.fetch_index(&self.entry, &self.disk_path(&self.entry), &request.settings)
            }
            (index, _) => index,
        };
        if let Some(index) = &index {
            self.artifacts.link_state = Some(LinkState::from_index(index, &request.settings));
        }
        let stamps = if watching { FxHashMap::default() } else { self.stamps(index.as_ref()) };
        self.fault(Point::AfterStat);
        let mut report = BuildReport::default();

        if !watching && let Some(report) = self.no_op(request, index.as_ref(), &stamps, start) {
            self.told.changed = None;
            return Ok(report);
        }

        // A fresh one-shot session after a small edit: patch the index (see `patch`).
        if let Some(index) = &index
            && self.workspace.is_none()
            && self.mode.may_patch()
            && request.emit == Emit::Exe
        {
            if self.patch(request, &store, index, &stamps, started_at_ns, &mut report)? {
                return Ok(self.finish_build(report, request, store, start));
            }
            self.reset_database();
            self.db.record_executions(request.log_queries);
            report = BuildReport::default();
        }

        self.report_phase(Phase::Checking);
        self.set_settings(&request.settings);
        self.scan(index.as_ref(), &stamps, started_at_ns, &mut report, self.checks_in_chunks(request.emit))?;
        self.fault(Point::AfterScan);
        let files = mini_queries::imports::program_files(&self.db, self.workspace()).clone();
        self.check_program(&files, report.files_read, request.emit, request.jobs);
        report.diagnostics = self.diagnostics();
        self.fault(Point::AfterDiagnostics);
        if request.deny_warnings {
            report.deny_warnings();
        }
        if report.success() {
            match request.emit {
                Emit::Exe | Emit::Obj => {
                    let (plan, start) = self.link(request, &store, &mut report)?;
                    // Counted from the plan: listing every function would intern each.
                    report.functions = plan.function_count();
                    self.record_index(&store, request, started_at_ns, &plan, start)?;
                }
                Emit::LlvmIr => {
                    let text = self.llvm_ir_text(&store, &mut report)?;
                    self.emit_text(request, text, &mut report)?;
                    report.functions = program_functions(&self.db, self.workspace()).len();
                }
                Emit::Zir => {
                    let text = self.zir_text(&mut report)?;
                    self.emit_text(request, text, &mut report)?;
                    report.functions = program_functions(&self.db, self.workspace()).len();
                }
            }
        }
        Ok(self.finish_build(report, request, store, start))
    }

    /// What every build does last: the report's common parts, the store's statistics and
    /// eviction.
    fn finish_build(
        &mut self,
        mut report: BuildReport,
        request: &BuildRequest,
        store: Store,
        start: Instant,
    ) -> BuildReport {
        report.remote = store.finish_remote().map(Box::new);
        self.finish_report(&mut report, request.log_queries, start);
        let counters = store.close();
        if matches!(self.cache.dir, CacheDir::Shared(_)) {
            if self.mode.defers_writes() {
                self.artifacts.deferred.stats(counters, &report);
            } else {
                let summary = crate::cache::gc::BuildSummary {
                    functions: report.functions,
                    compiled: report.compiled.len(),
                    reused_from_disk: report.reused_from_disk,
                    reused_from_remote: report.reused_from_remote,
                    link_units_relinked: report.link_units_relinked,
                    remote: report.remote.as_deref(),
                };
                crate::cache::gc::after_build(self.cache_dir(), &counters, &summary);
            }
        }
        report
    }

    /// Fills in what every build reports at the end.
    fn finish_report(&mut self, report: &mut BuildReport, log_queries: bool, start: Instant) {
        let executed = self.db.take_execution_record();
        report.files_parsed = executed.count(&self.db, "parse_file");
        if log_queries {
            report.executed = executed.into_keys().into_iter().map(|key| self.db.describe_query(key)).collect();
        }
        report.duration = start.elapsed();
    }

    /// The current stamps of the files the index knows, taken once for the whole build.
    fn stamps(&self, index: Option<&Index>) -> FxHashMap<ModulePath, Option<FileStamp>> {
        let _span = tracing::info_span!("stat").entered();
        let Some(index) = index else { return FxHashMap::default() };
        let paths: Vec<PathBuf> = index.files.iter().map(|r| self.disk_path(&r.path)).collect();
        index.files.iter().map(|r| r.path.clone()).zip(stamps_of(&paths)).collect()
    }

    /// Sets the session up for watch mode (see `Mode::Watch`).
    pub fn for_watching(&mut self) {
        self.mode = Mode::Watch;
        self.artifacts.incremental = Some(Arc::default());
    }

    /// Sets the session up for the language server (see `Mode::Editor`).
    pub fn for_editor(&mut self) {
        self.mode = Mode::Editor;
    }

    /// What the session is for.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Watch mode's incremental linker, for tests and benchmarks to ask how it linked.
    pub fn incremental_linker(&self) -> Option<Arc<std::sync::Mutex<IncrementalLinker>>> {
        self.artifacts.incremental.clone()
    }

    /// Files held as text — parsed and checked, every query's result in memory — rather
    /// than as summaries backed by the disk cache.
    pub fn text_files(&self) -> usize {
        self.files.values().filter(|state| state.basis.is_none()).count()
    }

    /// A new session for the same program, to start from the disk cache as a fresh
    /// process would (`warm`); `None` when this one keeps no cache (`--no-cache`). Watch
    /// mode moves to it when many files have become text (see `Watcher`): that frees
    /// their syntax trees and checked bodies, and shrinks what salsa revalidates after
    /// the next edit.
    pub fn fresh(&self) -> Result<Option<Session>> {
        if matches!(self.cache.dir, CacheDir::Private(_)) {
            return Ok(None);
        }
        let mut fresh = Session::new(&self.root.join(self.entry.as_str()))?;
        fresh.mode = self.mode;
        fresh.cache = self.cache.clone();
        fresh.hooks = self.hooks.clone();
        // What outlives a database: the last link (its inputs, the linkers), not the
        // objects, which the disk cache has.
        fresh.artifacts.linker = self.artifacts.linker.clone();
        fresh.artifacts.linked = self.artifacts.linked.clone();
        fresh.artifacts.incremental = self.artifacts.incremental.clone();
        Ok(Some(fresh))
    }

    /// Loads the program from the index written by the last build — every file whose
    /// record still holds is a summary — and runs the queries a build asks first, so that
    /// the next build only revalidates them. Returns false if there is no index.
    pub fn warm(&mut self, request: &BuildRequest) -> Result<bool> {
        let _span = tracing::info_span!("warm").entered();
        let started_at_ns = now_ns();
        let store = self.open_store()?;
        let Some(index) = self.read_index(&store, &request.settings) else { return Ok(false) };
        self.artifacts.link_state = Some(LinkState::from_index(&index, &request.settings));
        self.artifacts.index_on_disk = Some((self.index_path(&store, &request.settings), index.identity()));
        self.fault(Point::Rebase);
        let stamps = self.stamps(Some(&index));
        self.set_settings(&request.settings);
        self.scan(Some(&index), &stamps, started_at_ns, &mut BuildReport::default(), false)?;
        self.diagnostics();
        let _ = mini_queries::link::link_plan(&self.db, self.workspace());
        Ok(true)
    }

    fn emit_text(&self, request: &BuildRequest, text: String, report: &mut BuildReport) -> Result<()> {
        match &request.output {
            Some(path) => {
                crate::output::write_atomically(path, text.as_bytes(), false)?;
                report.output = Some(path.clone());
            }
            None => report.text = Some(text),
        }
        Ok(())
    }

    /// Each function of the program (after a successful build) with its object's bytes,
    /// in program order. For tests that compare builds byte for byte.
    pub fn function_objects(&self) -> Vec<(String, Option<Arc<[u8]>>)> {
        let db = &self.db;
        program_functions(db, self.workspace())
            .iter()
            .map(|&f| {
                let object = fn_hash(db, f).and_then(|hash| self.artifacts.objects.get(&hash).cloned());
                (f.qualified_name(db), object)
            })
            .collect()
    }
}
