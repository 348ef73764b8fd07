//! Turning files on disk into inputs, doing as little I/O as possible.
//!
//! Each reachable file is classified once per build:
//! - known to this session, and its stamp unchanged since it was read (and not racy):
//!   its input stays as it is, nothing is read;
//! - new to this session, with a record in the on-disk index whose stamp proves it
//!   unchanged (or whose content hash matches after re-reading): it becomes a summary;
//! - otherwise it is read, and its input is set — only if the bytes really changed,
//!   since every set starts a new salsa revision.
//!
//! A summary is only valid while the interfaces of the files it imports are the ones it
//! was recorded against; `validate_summaries` turns stale ones back into text.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use anyhow::{Context, Result};
use mini_queries::Db;
use mini_queries::base::{Hash, ModulePath};
use mini_queries::imports::imports_of;
use mini_queries::record::{Summarized, summarize};
use mini_queries::sema::file_interface;
use mini_queries::source::{FileContents, SourceFile, Workspace};
use mini_queries::transient::{self, Transient};
use rustc_hash::{FxHashMap, FxHashSet};
use salsa::{Durability, Setter};

use super::{BuildReport, Session};
use crate::cache::index::{FileEntry, FileRecord, Index};
use crate::fs::{FileStamp, absolute, io_reason, now_ns};

/// What a session holds and knows of one file: its input, and why that input is what
/// it is. One record per file, so that what is known of a file goes with it.
pub(crate) struct FileState {
    pub input: SourceFile,
    /// What this session last saw of it on disk, if it looked.
    pub seen: Option<Seen>,
    /// While it is a summary: why it may be one. Boxed, as is `record`, to keep a file's
    /// state small: a session holds one per file of the program.
    pub basis: Option<Box<Basis>>,
    /// Its record in the last index this session wrote, kept so that an unchanged file
    /// is not summarized again.
    pub record: Option<Box<FileRecord>>,
}

impl FileState {
    pub fn new(input: SourceFile) -> FileState {
        FileState { input, seen: None, basis: None, record: None }
    }
}

/// What the session last saw of a file on disk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    pub stamp: Option<FileStamp>,
    /// blake3 of the bytes; `None` when the file could not be read.
    pub content: Option<Hash>,
    /// A time no later than the stat that took `stamp`, for the racy-timestamp rule.
    pub checked_at_ns: i64,
}

/// Why a file is a summary: its index record, and the interfaces the files it imports
/// had when that record was written — the summary stays valid while they still do.
#[derive(Clone, Debug)]
pub(crate) struct Basis {
    pub record: FileRecord,
    pub import_interfaces: Vec<(ModulePath, Option<Hash>)>,
}

impl Basis {
    fn new(record: &FileRecord, records: &FxHashMap<&ModulePath, &FileRecord>) -> Basis {
        let import_interfaces = record
            .summary
            .imports
            .iter()
            .filter_map(|i| i.target.clone())
            .map(|target| {
                let interface = records.get(&target).map(|r| r.entry.interface);
                (target, interface)
            })
            .collect();
        Basis { record: record.clone(), import_interfaces }
    }
}

impl Seen {
    /// Whether `now` proves the file unchanged since it was seen.
    fn unchanged(&self, now: Option<FileStamp>) -> bool {
        self.stamp.is_some_and(|then| then.proves_unchanged(now, self.checked_at_ns))
    }
}

/// The contents of a file read from disk, and its hash.
fn read(path: &std::path::Path) -> (FileContents, Option<Hash>) {
    // Not a FIFO or a device: reading one could block forever.
    match crate::cache::store::read_regular(path) {
        Ok(bytes) if bytes.len() > u32::MAX as usize => {
            (FileContents::Missing("file is larger than 4 GiB".into()), None)
        }
        Ok(bytes) => {
            let hash = Hash(*blake3::hash(&bytes).as_bytes());
            (FileContents::Text(bytes.into()), Some(hash))
        }
        Err(e) => (FileContents::Missing(io_reason(&e).into()), None),
    }
}

impl Session {
    /// Brings the inputs up to date with the files on disk: the entry file and
    /// everything it imports, transitively. Fails only if the entry cannot be read.
    /// With `drop_trees` (a build that checks in chunks, `chunks.rs`), the walk drops
    /// the trees it parsed a chunk at a time.
    pub(super) fn scan(
        &mut self,
        index: Option<&Index>,
        stamps: &FxHashMap<ModulePath, Option<FileStamp>>,
        started_at_ns: i64,
        report: &mut BuildReport,
        drop_trees: bool,
    ) -> Result<()> {
        let _span = tracing::info_span!("scan").entered();
        if let Some(changed) = self.told.changed.take()
            && self.refresh_changed(&changed, stamps, started_at_ns, report)
        {
            return Ok(());
        }
        let all_records = {
            let _span = tracing::info_span!("decode_summaries").entered();
            index.and_then(Index::records).unwrap_or_default()
        };
        let records: FxHashMap<&ModulePath, &FileRecord> = all_records.iter().map(|r| (&r.entry.path, r)).collect();
        let walk = tracing::info_span!("walk").entered();
        let index_started_at = index.map_or(i64::MIN, |i| i.header.started_at_ns);

        let entry = self.refresh(self.entry.clone(), &records, stamps, index_started_at, started_at_ns, report);
        // A missing entry still gets a workspace, so that the language server can check
        // other files; the build reports the error after the walk.
        let entry_error = match entry.contents(&self.db) {
            FileContents::Missing(reason) => Some(reason.clone()),
            _ => None,
        };
        let mut queue = VecDeque::from([entry]);
        let mut visited = FxHashSet::from_iter([self.entry.clone()]);
        for root in self.told.extra_roots.clone() {
            if visited.insert(root.clone()) {
                let file = self.refresh(root, &records, stamps, index_started_at, started_at_ns, report);
                if !matches!(file.contents(&self.db), FileContents::Missing(_)) {
                    queue.push_back(file);
                }
            }
        }
        let chunk = self.chunk_files();
        let mut parsed = 0;
        if drop_trees {
            transient::track(&mut self.db, Transient::FrontEnd, true);
        }
        while let Some(file) = queue.pop_front() {
            if drop_trees && matches!(file.contents(&self.db), FileContents::Text(_)) {
                // Only past a chunk, when the check will go in chunks too.
                parsed += 1;
                if parsed > chunk && (parsed - 1) % chunk == 0 {
                    transient::evict(&mut self.db);
                }
            }
            let imports = imports_of(&self.db, file);
            for target in imports.iter().filter_map(|i| i.target.clone()) {
                if visited.insert(target.clone()) {
                    let imported = self.refresh(target, &records, stamps, index_started_at, started_at_ns, report);
                    if !matches!(imported.contents(&self.db), FileContents::Missing(_)) {
                        queue.push_back(imported);
                    }
                }
            }
        }

        if drop_trees {
            transient::track(&mut self.db, Transient::FrontEnd, false);
        }
        drop(walk);
        // Files are only ever added, under stable inputs, so a changed size is the only
        // way the map can have changed.
        match self.workspace {
            None => {
                let files = self.inputs();
                let durability = self.initial_durability();
                let workspace = Workspace::builder(entry, files)
                    .entry_durability(durability)
                    .files_durability(durability)
                    .new(&self.db);
                self.workspace = Some(workspace);
            }
            Some(workspace) => {
                if workspace.files(&self.db).len() != self.files.len() {
                    let durability = self.initial_durability();
                    let files = self.inputs();
                    workspace.set_files(&mut self.db).with_durability(durability).to(files);
                }
            }
        }
        self.validate_summaries(&visited, report);
        if let Some(reason) = entry_error {
            let path = self.disk_path(&self.entry);
            return Err(anyhow::anyhow!("{reason}")).with_context(|| format!("cannot read '{}'", path.display()));
        }
        Ok(())
    }

    /// Watch mode's scan: only the files the watcher reported are looked at. Returns
    /// false when that is not enough — a file is new, or some import changed — and the
    /// whole graph must be walked.
    fn refresh_changed(
        &mut self,
        changed: &FxHashSet<ModulePath>,
        stamps: &FxHashMap<ModulePath, Option<FileStamp>>,
        now: i64,
        report: &mut BuildReport,
    ) -> bool {
        if self.workspace.is_none() {
            return false;
        }
        let no_records = FxHashMap::default();
        let mut same_graph = true;
        let mut same_interfaces = true;
        for path in changed {
            let Some(file) = self.input(path) else {
                same_graph = false;
                continue;
            };
            let before = imports_of(&self.db, file);
            let interface = self.current_interface(path);
            let was_missing = matches!(file.contents(&self.db), FileContents::Missing(_));
            self.refresh(path.clone(), &no_records, stamps, i64::MIN, now, report);
            let is_missing = matches!(file.contents(&self.db), FileContents::Missing(_));
            same_graph &= was_missing == is_missing && imports_of(&self.db, file) == before;
            same_interfaces &= self.current_interface(path) == interface;
        }
        // Summaries only go stale when a file they import changes its interface.
        if same_graph && !same_interfaces {
            let reachable: FxHashSet<ModulePath> = self.summarized().collect();
            self.validate_summaries(&reachable, report);
        }
        same_graph
    }

    /// The input for one file, brought up to date.
    fn refresh(
        &mut self,
        path: ModulePath,
        records: &FxHashMap<&ModulePath, &FileRecord>,
        stamps: &FxHashMap<ModulePath, Option<FileStamp>>,
        index_started_at: i64,
        now: i64,
        report: &mut BuildReport,
    ) -> SourceFile {
        if let Some(text) = self.told.overlays.get(&path).cloned() {
            return self.overlaid(path, text);
        }
        let disk = self.disk_path(&path);
        let stamp = match stamps.get(&path) {
            Some(stamp) => *stamp,
            None => FileStamp::of(&disk),
        };
        if let Some(state) = self.files.get_mut(&path)
            && let Some(seen) = state.seen
        {
            let file = state.input;
            if seen.unchanged(stamp) {
                return file;
            }
            let (contents, content) = read(&disk);
            report.files_read += 1;
            let unchanged = content.is_some() && content == seen.content;
            state.seen = Some(Seen { stamp, content, checked_at_ns: now });
            if !unchanged {
                state.basis = None;
                self.set_text(file, contents);
            }
            return file;
        }

        // New to this session: perhaps the index knows it.
        let record = records.get(&path).copied();
        let (contents, summary, seen, basis) = match record {
            Some(record) if record.entry.stamp_proves_unchanged(stamp, index_started_at) => {
                let seen = Seen { stamp, content: Some(record.entry.content), checked_at_ns: now };
                (FileContents::Unread, Some(record.summary.clone()), seen, Some(Basis::new(record, records)))
            }
            _ => {
                let (contents, content) = read(&disk);
                report.files_read += 1;
                let seen = Seen { stamp, content, checked_at_ns: now };
                match record {
                    Some(record) if content == Some(record.entry.content) => {
                        (FileContents::Unread, Some(record.summary.clone()), seen, Some(Basis::new(record, records)))
                    }
                    _ => (contents, None, seen, None),
                }
            }
        };
        // In watch mode files start out durable: queries that only depend on files nobody
        // edited are then revalidated without walking their dependencies. (A file's first
        // edit lowers its durability, which salsa does not backdate across: its
        // dependents re-run once.)
        let durability = self.initial_durability();
        let file = SourceFile::builder(path.clone(), contents, summary)
            .path_durability(durability)
            .contents_durability(durability)
            .summary_durability(durability)
            .new(&self.db);
        self.files.insert(path, FileState { input: file, seen: Some(seen), basis: basis.map(Box::new), record: None });
        file
    }

    /// The input of a file whose text an editor holds: that text, never a summary.
    fn overlaid(&mut self, path: ModulePath, text: Arc<[u8]>) -> SourceFile {
        let contents = FileContents::Text(text);
        if let Some(state) = self.files.get_mut(&path) {
            state.basis = None;
            let file = state.input;
            self.set_text(file, contents);
            return file;
        }
        let file = SourceFile::builder(path.clone(), contents, None).new(&self.db);
        self.files.insert(path, FileState::new(file));
        file
    }

    /// Gives the file at `path` the text an editor holds for it, or with `None` returns it
    /// to its text on disk. Files not loaded yet get the overlay when a scan loads them.
    /// Returns the file's module path, and whether its imports changed (then a scan must
    /// walk the import graph again).
    pub fn set_overlay(&mut self, path: &std::path::Path, text: Option<Arc<[u8]>>) -> Option<(ModulePath, bool)> {
        let module = self.module_of(path)?;
        let file = self.input(&module);
        let before = file.map(|f| imports_of(&self.db, f));
        match text {
            Some(text) => {
                self.told.overlays.insert(module.clone(), text.clone());
                if file.is_some() {
                    self.overlaid(module.clone(), text);
                }
            }
            None => {
                self.told.overlays.remove(&module);
                if let Some(file) = file {
                    let (contents, content) = read(&self.disk_path(&module));
                    let stamp = FileStamp::of(&self.disk_path(&module));
                    let state = self.files.get_mut(&module).expect("a loaded file has a state");
                    state.seen = Some(Seen { stamp, content, checked_at_ns: now_ns() });
                    state.basis = None;
                    self.set_text(file, contents);
                }
            }
        }
        let imports_changed = match (file, before) {
            (Some(file), Some(before)) => imports_of(&self.db, file) != before,
            _ => true,
        };
        Some((module, imports_changed))
    }

    /// Makes the files at `paths` part of this session besides the entry's program (files
    /// open in an editor): scans load them and what they import. Returns their module
    /// paths (paths that cannot be one are left out).
    pub fn set_extra_roots(&mut self, paths: &[std::path::PathBuf]) -> Vec<ModulePath> {
        self.told.extra_roots = paths.iter().filter_map(|p| self.module_of(p)).collect();
        self.told.extra_roots.clone()
    }

    /// The module path of a file on disk, relative to the entry's directory.
    pub fn module_of(&self, path: &std::path::Path) -> Option<ModulePath> {
        module_path_of(&self.absolute_root(), path)
    }

    fn initial_durability(&self) -> Durability {
        if self.mode.durable_inputs() { Durability::HIGH } else { Durability::LOW }
    }

    /// Gives a file its text (dropping any summary) — setting only what changed, since
    /// every set starts a new revision.
    fn set_text(&mut self, file: SourceFile, contents: FileContents) {
        if mini_queries::summary::is_summarized(&self.db, file) {
            file.set_summary(&mut self.db).with_durability(Durability::LOW).to(None);
        }
        if *file.contents(&self.db) != contents {
            file.set_contents(&mut self.db).with_durability(Durability::LOW).to(contents);
        }
    }

    /// Turns summaries whose imports' interfaces changed back into text, until every
    /// remaining summary is valid. Hydrating a file does not change its interface (its
    /// content is the same), so this settles in one or two rounds.
    fn validate_summaries(&mut self, reachable: &FxHashSet<ModulePath>, report: &mut BuildReport) {
        let _span = tracing::info_span!("validate_summaries").entered();
        loop {
            let stale: Vec<ModulePath> = self
                .files
                .iter()
                .filter_map(|(path, state)| Some((path, state.basis.as_ref()?)))
                .filter(|(path, _)| reachable.contains(*path))
                .filter(|(_, basis)| {
                    basis
                        .import_interfaces
                        .iter()
                        .any(|(target, recorded)| recorded.is_none() || *recorded != self.current_interface(target))
                })
                .map(|(path, _)| path.clone())
                .collect();
            if stale.is_empty() {
                return;
            }
            for path in stale {
                self.hydrate(&path, report);
            }
        }
    }

    /// The interface hash a file has now, or `None` if it is missing.
    fn current_interface(&self, path: &ModulePath) -> Option<Hash> {
        let state = self.files.get(path)?;
        if let Some(basis) = &state.basis {
            return Some(basis.record.entry.interface);
        }
        let file = state.input;
        match file.contents(&self.db) {
            FileContents::Missing(_) => None,
            _ => Some(file_interface(&self.db, file).hash),
        }
    }

    /// Replaces a file's summary with its text, read from disk.
    pub(super) fn hydrate(&mut self, path: &ModulePath, report: &mut BuildReport) {
        self.hydrate_file(path, false, report);
    }

    /// Replaces a file's summary with its text, read from disk, after the build planned
    /// with the summary's hashes: only if the bytes are the ones the summary was made
    /// from. Generating code from other bytes would store it under the old code's keys
    /// (and link it with callers checked against the old signatures), so a file edited
    /// since this build decided it was unchanged stops the build; it starts over.
    pub(super) fn hydrate_unchanged(&mut self, path: &ModulePath, report: &mut BuildReport) -> Result<()> {
        if self.hydrate_file(path, true, report) {
            Ok(())
        } else {
            Err(ChangedDuringBuild(self.display_path(path)).into())
        }
    }

    /// Hydrates `path`; with `unchanged_only`, only if its bytes are the summarized
    /// ones. Returns whether it did, or the file was not a summary.
    fn hydrate_file(&mut self, path: &ModulePath, unchanged_only: bool, report: &mut BuildReport) -> bool {
        let Some(state) = self.files.get(path) else { return true };
        let file = state.input;
        if !mini_queries::summary::is_summarized(&self.db, file) {
            return true;
        }
        let summarized = state.basis.as_ref().map(|basis| basis.record.entry.content);
        if let Some(text) = self.told.overlays.get(path).cloned() {
            let content = Hash(*blake3::hash(&text).as_bytes());
            if unchanged_only && Some(content) != summarized {
                return false;
            }
            self.overlaid(path.clone(), text);
            return true;
        }
        let disk = self.disk_path(path);
        // The time first, then the stamp, then the bytes: see `Seen::checked_at_ns`.
        let checked_at_ns = now_ns();
        let stamp = FileStamp::of(&disk);
        let (contents, content) = read(&disk);
        report.files_read += 1;
        if unchanged_only && content != summarized {
            tracing::info!(path = %path, "a summarized file changed during the build");
            return false;
        }
        tracing::debug!(path = %path, "reading a summarized file");
        let state = self.files.get_mut(path).expect("found above");
        state.seen = Some(Seen { stamp, content, checked_at_ns });
        state.basis = None;
        self.set_text(file, contents);
        true
    }

    /// Hydrates every summarized file (for outputs that need every file's text).
    pub(super) fn hydrate_all(&mut self, report: &mut BuildReport) -> Result<()> {
        let paths: Vec<ModulePath> = self.summarized().collect();
        for path in paths {
            self.hydrate_unchanged(&path, report)?;
        }
        Ok(())
    }

    /// The input of a loaded file.
    pub(super) fn input(&self, path: &ModulePath) -> Option<SourceFile> {
        self.files.get(path).map(|state| state.input)
    }

    /// Every loaded file's input, for the workspace.
    pub(super) fn inputs(&self) -> Arc<BTreeMap<ModulePath, SourceFile>> {
        Arc::new(self.files.iter().map(|(path, state)| (path.clone(), state.input)).collect())
    }

    /// The files that are summaries now.
    pub(super) fn summarized(&self) -> impl Iterator<Item = ModulePath> + '_ {
        self.files.iter().filter(|(_, state)| state.basis.is_some()).map(|(path, _)| path.clone())
    }
}

/// A file the build took for unchanged changed while it ran (see `hydrate_unchanged`):
/// `Session::build` starts over.
#[derive(Debug)]
pub(crate) struct ChangedDuringBuild(pub String);

impl std::fmt::Display for ChangedDuringBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' kept changing while it was being built", self.0)
    }
}

impl std::error::Error for ChangedDuringBuild {}

/// The index record of a file that has text — its warnings too, so that a build that
/// does not check it again still reports them; `None` if the file has errors, or some
/// function of it has no signature, hash or ZIR — it calls a function whose signature
/// has an error. Callers record files only after checking that the program (or, when
/// patching, every file in the database) has no errors, so `None` means "do not
/// record", never a crash.
pub(super) fn record_of(db: &dyn Db, file: SourceFile, stamp: FileStamp, content: Hash) -> Option<FileRecord> {
    summarize(db, file).as_ref().map(|summarized| record_from(db, file, summarized, stamp, content))
}

/// A file's index record from its summary (`summarize`), stamp and content hash.
pub(super) fn record_from(
    db: &dyn Db,
    file: SourceFile,
    summarized: &Summarized,
    stamp: FileStamp,
    content: Hash,
) -> FileRecord {
    FileRecord {
        entry: FileEntry {
            path: file.path(db).clone(),
            stamp,
            content,
            interface: summarized.interface,
            warnings: summarized.summary.warnings.len() as u32,
        },
        summary: summarized.summary.clone(),
    }
}

/// The module path of the file at `path`, relative to the directory `root` (absolute):
/// `lib/m.mini`, or `../x.mini` for a file beside it.
pub fn module_path_of(root: &std::path::Path, path: &std::path::Path) -> Option<ModulePath> {
    let path = absolute(path);
    let mut relative = std::path::PathBuf::new();
    // Climb from the root until the file is below it.
    let mut base = root;
    loop {
        if let Ok(rest) = path.strip_prefix(base) {
            relative.push(rest);
            break;
        }
        relative.push("..");
        base = base.parent()?;
    }
    ModulePath::new(relative.to_str()?)
}
