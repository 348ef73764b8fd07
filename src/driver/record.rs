//! What the on-disk index says about this program, and what a build records in it: the
//! index's path for the settings, reading it (and saying why it cannot be used), the
//! no-op fast path it allows, and each file's record written after a build — at once,
//! or in watch mode after the rebuild is reported.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use mini_queries::base::{Encoder, Hash, ModulePath};
use mini_queries::source::{Settings, SourceFile};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{BuildReport, BuildRequest, CacheDir, Emit, Session, scan};
use crate::cache::index::{FileEntry, FileRecord, Header, Index, IndexError};
use crate::cache::store::Store;
use crate::fault::Point;
use crate::fs::{FileStamp, absolute};

impl Session {
    /// The index file for this program and these settings.
    pub(super) fn index_path(&self, store: &Store, settings: &Settings) -> PathBuf {
        self.index_path_under(store.root(), settings)
    }

    pub(super) fn index_path_under(&self, cache: &Path, settings: &Settings) -> PathBuf {
        let key = Encoder::new("mini index")
            .str(self.entry.as_str())
            .encode(&settings.codegen)
            .u8(u8::from(settings.contracts))
            .finish();
        cache.join("index").join(key.to_hex())
    }

    pub(super) fn read_index(&self, store: &Store, settings: &Settings) -> Option<Index> {
        if matches!(self.cache.dir, CacheDir::Private(_)) {
            return None;
        }
        read_index_file(&self.index_path(store, settings))
    }

    /// With no previous build for `settings`: the units of the last build with the same
    /// code generation settings and contracts switched the other way, to reuse members
    /// from. A function without contracts has the same hash, and so the same object,
    /// either way: switching contracts compiles only the functions that have some.
    pub(super) fn sibling_units(&self, store: &Store, settings: &Settings) -> FxHashMap<u32, Hash> {
        let sibling = Settings { contracts: !settings.contracts, ..settings.clone() };
        let index = self.read_index(store, &sibling);
        index.map(|index| index.header.units.iter().copied().collect()).unwrap_or_default()
    }

    /// The no-op fast path: when the last successful build with these settings linked
    /// this very output, and no source file's stamp changed since, there is nothing to
    /// do — not even starting the queries.
    pub(super) fn no_op(
        &self,
        request: &BuildRequest,
        index: Option<&Index>,
        stamps: &FxHashMap<ModulePath, Option<FileStamp>>,
        start: Instant,
    ) -> Option<BuildReport> {
        let index = index?;
        if request.emit != Emit::Exe {
            return None;
        }
        let output = absolute(request.output.as_deref()?);
        let (linked, stamp) = index.header.output.as_ref()?;
        if *linked != output || FileStamp::of(&output) != Some(*stamp) {
            return None;
        }
        let unchanged = index.files.iter().all(|record| {
            record.stamp_proves_unchanged(stamps.get(&record.path).copied().flatten(), index.header.started_at_ns)
        });
        if !unchanged {
            return None;
        }
        // Nothing is built, but the warnings of the last build are still there: say them
        // again, as cargo does.
        let diagnostics = self.replay_warnings(index, &mut FxHashMap::default())?;
        let functions = index.header.functions as usize;
        let mut report = BuildReport {
            diagnostics,
            functions,
            reused_from_disk: functions,
            link_units: index.header.units.len(),
            output: request.output.clone(),
            duration: start.elapsed(),
            ..BuildReport::default()
        };
        if request.deny_warnings && report.warnings() > 0 {
            // The executable is the last build's; this build made nothing.
            report.deny_warnings();
            report.output = None;
        }
        Some(report)
    }

    /// Writes the index for this program and settings: each file's record and what was
    /// linked.
    pub(super) fn record_index(
        &mut self,
        store: &Store,
        request: &BuildRequest,
        started_at_ns: i64,
        plan: &mini_queries::link::LinkPlan,
        start: Hash,
    ) -> Result<()> {
        if matches!(self.cache.dir, CacheDir::Private(_)) {
            return Ok(());
        }
        let _span = tracing::info_span!("record_index").entered();
        let output = match (request.emit, &request.output) {
            (Emit::Exe, Some(path)) => FileStamp::of(path).map(|stamp| (absolute(path), stamp)),
            _ => None,
        };
        let mut header = Header {
            entry_path: self.entry.to_string(),
            settings: request.settings.clone(),
            started_at_ns,
            functions: plan.function_count() as u32,
            link_key: plan.key,
            // Saved by an earlier build if this one linked nothing (a patching build
            // may have saved a replay); a link saves the whole layout.
            layout_base: (self.artifacts.link_state.as_ref())
                .filter(|state| state.link_key == plan.key && state.settings == request.settings)
                .and_then(|state| state.layout_base),
            runtime: plan.runtime,
            entry: plan.entry,
            start,
            units: plan.units.iter().map(|u| (u.index, u.key)).collect(),
            output,
        };
        let path = self.index_path(store, &request.settings);
        if self.mode.defers_writes() {
            self.artifacts.pending_index = Some((path, header, request.jobs));
            Ok(())
        } else {
            self.fault(Point::IndexWrite);
            match self.file_records(&mut header, request.jobs) {
                Some(records) => self.write_index(store, &path, &header, &records),
                None => Ok(()),
            }
        }
    }

    /// Writes an index whose write was deferred and is still pending — a cancellation
    /// stopped it — as a watcher that is going away must: a cancellation that arrived
    /// before this call does not stop it.
    pub fn write_pending_index(&mut self) -> Result<()> {
        self.forget_stale_cancellation();
        self.flush_index()
    }

    /// Writes an index whose write was deferred.
    ///
    /// The records are taken from the database as the build left it, so this must run
    /// before the next build changes an input. A cancellation unwinds out of it (the
    /// records are queries) and leaves the index pending: the next build writes it
    /// first (`build`). Once it has been tried to the end, it is no longer pending,
    /// written or not.
    pub fn flush_index(&mut self) -> Result<()> {
        self.write_deferred()?;
        let Some((path, header, jobs)) = &self.artifacts.pending_index else { return Ok(()) };
        let (path, mut header, jobs) = (path.clone(), header.clone(), *jobs);
        let _span = tracing::info_span!("write_index").entered();
        self.fault(Point::IndexWrite);
        let records = self.file_records(&mut header, jobs);
        self.artifacts.pending_index = None;
        let Some(records) = records else { return Ok(()) };
        let mut store = self.open_store()?;
        store.keep_index(path.clone());
        self.write_index(&store, &path, &header, &records)
    }

    /// Writes the index at `head`. While the head there is still the one this session
    /// last wrote (or read before its first scan), every kept record is that head's own,
    /// entry and summary, so only the fresh records' summaries are appended and the
    /// head's entries patched (`Index::write_patched`): a watcher's flush after a small
    /// edit writes the head and a few summaries, not every summary of the program.
    /// Anything else — another build's head, other files, changed imports — writes it
    /// whole.
    fn write_index(&mut self, store: &Store, head: &Path, header: &Header, records: &Records) -> Result<()> {
        let known = self.artifacts.index_on_disk.take().filter(|(path, _)| path == head);
        let patched = match known.and_then(|(_, identity)| read_index_file(head).filter(|i| i.identity() == identity)) {
            Some(index) => patch_index(store, head, header, &index, records)?,
            None => None,
        };
        let identity = match patched {
            Some(identity) => identity,
            None => Index::write(store, head, header, &records.files)?,
        };
        self.artifacts.index_on_disk = Some((head.to_path_buf(), identity));
        Ok(())
    }

    /// Each program file's index record, reusing last build's where the file's input is
    /// the same. `None` if some file cannot be recorded (it has no stamp, or no code):
    /// an index must list every file of the program, or a later build would not notice
    /// that the missing one changed, so then none is written.
    ///
    /// The records' stamps were taken by this build or, in watch mode, earlier ones: the
    /// header's start becomes the earliest of their `checked_at_ns`, so that the
    /// racy-clean rule judges each stamp against a time before it was taken.
    pub(super) fn file_records(&mut self, header: &mut Header, jobs: usize) -> Option<Records> {
        // A handle of its own, so a fresh query stack: salsa reuses one frame per depth
        // of its stack and clears it, on every pop, in time proportional to the most
        // edges any query at that depth ever had. On the build's handle, depth 0 has held
        // the whole-program queries (an edge per file or function), so summarizing ten
        // thousand files there cost ten thousand such clears, and the functions of a
        // large file, whose `file_diagnostics` had an edge per function, paid it each.
        // It follows the session's cancellation (a watcher's next edit) at every file.
        let handle = self.own_handle();
        let db = &handle.db;
        let files: Vec<SourceFile> = mini_queries::imports::program_files(db, self.workspace()).to_vec();
        // Each file's record as the last index had it, or what a new one is made from —
        // one look at the file's state each.
        let mut oldest_check = header.started_at_ns;
        let mut plans: Vec<(SourceFile, Plan)> = Vec::with_capacity(files.len());
        for file in files {
            let path = file.path(db);
            let seen = self.files.get(path).and_then(|state| Some((state, state.seen?)));
            let Some((state, seen)) = seen else { return self.unrecordable(path) };
            oldest_check = oldest_check.min(seen.checked_at_ns);
            let (Some(stamp), Some(content)) = (seen.stamp, seen.content) else { return self.unrecordable(path) };
            let plan = match kept_record(state, content) {
                Some(kept) => Plan::Kept(restamped(kept, stamp)),
                None => Plan::New(stamp, content),
            };
            plans.push((file, plan));
        }
        // The files that need a new summary (all of them, after a cold build), on all cores.
        let new: Vec<SourceFile> =
            plans.iter().filter(|(_, plan)| matches!(plan, Plan::New(..))).map(|&(file, _)| file).collect();
        self.prefetch(&new, new.len(), jobs, |db, file| {
            mini_queries::record::summarize(db, file);
        });
        let mut records = Vec::with_capacity(plans.len());
        let mut fresh = Vec::new();
        for (file, plan) in plans {
            handle.follow();
            let record = match plan {
                Plan::Kept(record) => record,
                Plan::New(stamp, content) => {
                    fresh.push(records.len());
                    match scan::record_of(db, file, stamp, content) {
                        Some(record) => record,
                        None => return self.unrecordable(file.path(db)),
                    }
                }
            };
            records.push(record);
        }
        // Each file keeps its record of this index; a file no longer in the program, none.
        if self.files.len() != records.len() {
            let program: FxHashSet<&ModulePath> = records.iter().map(|r| &r.entry.path).collect();
            for (path, state) in &mut self.files {
                if !program.contains(path) {
                    state.record = None;
                }
            }
        }
        for record in &records {
            if let Some(state) = self.files.get_mut(&record.entry.path) {
                state.record = Some(Box::new(record.clone()));
            }
        }
        header.started_at_ns = oldest_check;
        Some(Records { files: records, fresh })
    }

    /// No index is written when a file cannot be recorded (see `file_records`): says which.
    fn unrecordable<T>(&self, path: &ModulePath) -> Option<T> {
        tracing::warn!("not writing the cache index: '{}' could not be recorded", self.display_path(path));
        None
    }
}

/// Where a file's index record comes from: the last index this session wrote or read
/// (restamped), or a new one, made from the file's summary and what the build saw.
enum Plan {
    Kept(FileRecord),
    New(FileStamp, Hash),
}

/// Every file's record for an index, in program order, and which of them are new: not
/// kept from the last index this session wrote or read.
pub(super) struct Records {
    pub files: Vec<FileRecord>,
    pub fresh: Vec<usize>,
}

/// Writes `records` as a patch of `index`, the head this session last wrote or read,
/// and returns the new head's identity; `None`, writing nothing, when the patch cannot
/// express them: other files or another order, a fresh record whose imports changed
/// (the head's import graph is copied), or a summary to copy that is damaged.
fn patch_index(store: &Store, head: &Path, header: &Header, index: &Index, records: &Records) -> Result<Option<Hash>> {
    let same_files = index.files.len() == records.files.len()
        && index.files.iter().zip(&records.files).all(|(old, new)| old.path == new.entry.path);
    if !same_files {
        return Ok(None);
    }
    let mut changed: FxHashMap<usize, Vec<u8>> = FxHashMap::default();
    for &i in &records.fresh {
        let new = &records.files[i].summary;
        match index.summary(i) {
            Some(old) if old.imports == new.imports => {}
            _ => return Ok(None),
        }
        changed.insert(i, crate::cache::index::encode_summary(new));
    }
    // A kept record is the head's own; one that is not (a damaged session state would
    // be the only way) gets its own summary written rather than the head's.
    for (i, (old, new)) in index.files.iter().zip(&records.files).enumerate() {
        if (old.content, old.interface, old.warnings) != (new.entry.content, new.entry.interface, new.entry.warnings) {
            changed.entry(i).or_insert_with(|| crate::cache::index::encode_summary(&new.summary));
        }
    }
    let entries: Vec<FileEntry> = records.files.iter().map(|r| r.entry.clone()).collect();
    let _span = tracing::info_span!("patch_index", summaries = changed.len()).entered();
    index.write_patched(store, head, header, &entries, &changed)
}

/// The index at `path`, or `None` — saying why, unless there is none.
pub(super) fn read_index_file(path: &Path) -> Option<Index> {
    let _span = tracing::info_span!("read_index").entered();
    if !path.exists() {
        return None;
    }
    match Index::read(path) {
        Ok(index) => Some(index),
        Err(IndexError::Unreadable(reason)) => {
            tracing::warn!("cannot read the cache index {}: {reason}; building without it", path.display());
            None
        }
        Err(IndexError::Damaged) => {
            tracing::warn!("the cache index {} is damaged; rebuilding it", path.display());
            None
        }
        Err(IndexError::OtherVersion) => {
            // Every new build of the compiler meets the previous one's index.
            tracing::info!("the cache index {} is from another version of mini; rebuilding it", path.display());
            None
        }
    }
}

/// The file's record in the last index, if its content is still the one recorded: the
/// session's own record, or the index's that the build started from.
fn kept_record(state: &scan::FileState, content: Hash) -> Option<&FileRecord> {
    match (state.record.as_deref(), state.basis.as_deref()) {
        (Some(old), _) if old.entry.content == content => Some(old),
        (_, Some(basis)) if basis.record.entry.content == content => Some(&basis.record),
        _ => None,
    }
}

fn restamped(record: &FileRecord, stamp: FileStamp) -> FileRecord {
    let mut record = record.clone();
    record.entry.stamp = stamp;
    record
}
