//! From the link plan to linked output: find or make every unit's merged object, the
//! runtime and the entry wrapper, then link.
//!
//! A unit whose key is in the store is used as it is. A unit that is not is rebuilt
//! from its members' objects, found, in order, in this session's memory, in the
//! previous version of the same unit on disk, or else generated — on all threads.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail, ensure};
use mini_queries::base::{Hash, ModulePath};
use mini_queries::codegen::{CodegenBatch, batch_objects, entry_object, fn_object, runtime_object, start_object};
use mini_queries::hash::start_hash;
use mini_queries::imports::program_files;
use mini_queries::items::{Function, functions_of};
use mini_queries::link::{LinkPlan, link_plan};
use mini_queries::source::{CodegenSettings, SourceFile};
use mini_queries::transient::{self, Transient};

use rustc_hash::{FxHashMap, FxHashSet};

use super::Emit;
use super::plan::{Found, Member, Plan, PlannedUnit, Planner, UnitFate, Wanted};
use super::{BuildReport, BuildRequest, LinkState, Session};
use crate::cache::store::{Blob, Kind, Store, Unit};
use crate::fs::{FileStamp, absolute, lexically_normal};
use crate::link::incremental::IncrementalLinker;
use crate::link::{self, Linker};
use crate::progress::Phase;

impl Session {
    /// Produces the executable or object `request` asks for. Returns the link plan and
    /// `_start`'s key, for the index — taken here, so that recording the index in watch
    /// mode runs no query after the link.
    pub(super) fn link(
        &mut self,
        request: &BuildRequest,
        store: &Store,
        report: &mut BuildReport,
    ) -> Result<(Arc<LinkPlan>, Hash)> {
        // Every function's hash, which the unit plans read, on all cores first.
        let files = mini_queries::imports::program_files(&self.db, self.workspace()).clone();
        self.prefetch(&files, report.files_read, request.jobs, |db, file| {
            for &function in &mini_queries::items::file_functions(db, file).functions {
                mini_queries::hash::fn_hash(db, function);
            }
        });
        let plan = {
            let _span = tracing::info_span!("link_plan").entered();
            link_plan(&self.db, self.workspace()).clone().context("a program without errors has a link plan")?
        };
        report.link_units = plan.units.len();
        let output = request.output.clone().context("an executable or object needs an output path")?;
        report.output = Some(output.clone());

        // The same inputs as the executable already there: nothing to link.
        let previous = self.artifacts.link_state.take().filter(|s| s.settings == request.settings);
        if request.emit == Emit::Exe
            && let Some(state) = &previous
            && state.link_key == plan.key
            && state
                .output
                .as_ref()
                .is_some_and(|(path, stamp)| *path == absolute(&output) && FileStamp::of(&output) == Some(*stamp))
        {
            report.reused_from_disk = plan.function_count();
            self.artifacts.link_state = previous;
            let start = start_hash(&self.db, self.settings.expect("set before linking"));
            return Ok((plan, start));
        }

        let previous_units = match previous {
            Some(state) => state.units,
            None => self.sibling_units(store, &request.settings),
        };
        let mut linked = std::mem::take(&mut self.artifacts.linked);
        let mut inputs = self.unit_objects(&plan, store, &mut linked, &previous_units, request.jobs, report)?;
        let settings = self.settings.expect("set before linking");
        let (db, workspace) = (&self.db, self.workspace());
        let runtime = || runtime_object(db, settings).to_vec();
        inputs.push((
            Kind::Runtime,
            plan.runtime,
            entry_input(store, &mut linked, Kind::Runtime, plan.runtime, runtime)?,
        ));
        let entry = entry_object(db, workspace).as_deref().map(<[u8]>::to_vec);
        let entry = || entry.expect("a program without errors has a valid main");
        inputs.push((Kind::Entry, plan.entry, entry_input(store, &mut linked, Kind::Entry, plan.entry, entry)?));
        let start = start_hash(db, settings);
        if request.emit == Emit::Exe {
            let object = || start_object(db, settings).to_vec();
            inputs.push((Kind::Start, start, entry_input(store, &mut linked, Kind::Start, start, object)?));
        }
        // Keep exactly this link's inputs for the next one.
        self.artifacts.linked = inputs.iter().map(|(kind, key, input)| ((*kind, *key), input.clone())).collect();
        let keys: Vec<Hash> = inputs.iter().map(|(_, key, _)| *key).collect();
        let inputs: Vec<LinkInput> = inputs.into_iter().map(|(_, _, input)| input).collect();

        // A build that generated in rounds has dropped what it made its objects from.
        // The allocator keeps freed memory a while before it gives it back: at once, the
        // link's image and layout do not come on top of it (up to 90 MB at 100,001
        // files; ~20 ms). Rounds are decided by how many functions were generated.
        if self.in_rounds(report.compiled.len()) {
            let _span = tracing::info_span!("release_free_memory").entered();
            crate::process::release_free_memory();
        }
        self.report_phase(Phase::Linking);
        match request.emit {
            Emit::Exe => {
                let _span = tracing::info_span!("link", inputs = inputs.len()).entered();
                self.fault(crate::fault::Point::BeforeLink);
                self.link_executable(&inputs, &keys, (store, plan.key), &output, &request.settings.codegen)?;
                report.linked = true;
                self.artifacts.link_state = Some(LinkState {
                    settings: request.settings.clone(),
                    link_key: plan.key,
                    output: FileStamp::of(&output).map(|stamp| (absolute(&output), stamp)),
                    layout_base: None,
                    units: plan.units.iter().map(|u| (u.index, u.key)).collect(),
                });
            }
            _ => {
                // Entries carry a trailer after the ELF data; the merge reads only the ELF.
                let merged = link::merge_objects(inputs.iter().map(|input| &**input.bytes))?;
                crate::output::write_atomically(&output, &merged, false)?;
            }
        }
        Ok((plan, start))
    }

    /// Every unit's merged object — from the last link, the store, or built now, as the
    /// planner says — with its kind and key.
    fn unit_objects(
        &mut self,
        plan: &LinkPlan,
        store: &Store,
        linked: &mut LinkedInputs,
        previous: &FxHashMap<u32, Hash>,
        jobs: usize,
        report: &mut BuildReport,
    ) -> Result<Vec<(Kind, Hash, LinkInput)>> {
        let wanted: Vec<Wanted<'_>> =
            plan.units.iter().map(|u| Wanted { index: u.index, key: u.key, members: Some(&u.hashes) }).collect();
        let planned = Planner { store, linked, objects: &self.artifacts.objects, previous, jobs }.plan(&wanted);
        // The functions to generate, as the plan's units name them.
        let rebuilt: FxHashSet<u32> =
            planned.units.iter().filter(|u| matches!(u.fate, UnitFate::Rebuilt(_))).map(|u| u.index).collect();
        let functions: FxHashMap<Hash, Function> = plan
            .units
            .iter()
            .filter(|u| rebuilt.contains(&u.index))
            .flat_map(|u| u.members(&self.db))
            .map(|(function, hash)| (hash, function))
            .collect();
        let done = self
            .carry_out(planned, store, jobs, report, |hash| functions.get(hash).copied())?
            .expect("a build knows every unit's members");
        report.compiled = self.in_program_order(&done.compiled);
        Ok(done.units)
    }

    /// Carries out a plan: counts what was found where, generates what must be built
    /// (`function` names each such hash's function; its file is read first if it is a
    /// summary), rebuilds units and writes them to the store. Returns each unit's link
    /// input with its kind and key, in the plan's order, and the functions generated;
    /// `None` if a unit is unavailable or a function to build has no name here (the
    /// patch path then declines).
    pub(super) fn carry_out(
        &mut self,
        plan: Plan,
        store: &Store,
        jobs: usize,
        report: &mut BuildReport,
        function: impl Fn(&Hash) -> Option<Function>,
    ) -> Result<Option<CarriedOut>> {
        if !plan.is_complete() {
            return Ok(None);
        }
        let mut needed: Vec<(Function, Hash)> = Vec::new();
        for hash in plan.to_build() {
            let Some(f) = function(&hash) else { return Ok(None) };
            needed.push((f, hash));
        }
        for unit in &plan.units {
            match &unit.fate {
                UnitFate::Found(_, found) => {
                    let members = unit.members.unwrap_or(0);
                    match found {
                        Found::Disk => report.reused_from_disk += members,
                        Found::Remote => report.reused_from_remote += members,
                        Found::Memory => {}
                    }
                }
                UnitFate::Rebuilt(members) => {
                    report.link_units_relinked += 1;
                    for (_, member) in members {
                        match member {
                            Member::Cached(Found::Disk) => report.reused_from_disk += 1,
                            Member::Cached(Found::Remote) => report.reused_from_remote += 1,
                            Member::Cached(Found::Memory) | Member::Build => {}
                        }
                    }
                }
                UnitFate::Unavailable => unreachable!("checked above"),
            }
        }
        self.artifacts.objects.extend(plan.previous_objects);

        // Watch mode writes an edit's few new units to the store after the rebuild is
        // reported (see `deferred`), when what reads them reads their bytes, not their
        // files: mini's linker, or the merge of `--emit obj`. A cold build's are written
        // now, rather than kept in memory.
        let rebuilt = plan.units.iter().filter(|u| matches!(u.fate, UnitFate::Rebuilt(_))).count();
        let defer = self.mode.defers_writes()
            && self.cache.remote.is_none()
            && rebuilt <= 16
            && self.settings.is_some_and(|settings| own_linker_applies(settings.codegen(&self.db)));
        // A build that generates in rounds (see `chunks`) merges each unit as soon as its
        // members are generated — the plan lists them unit by unit — and keeps no object
        // past the last merge that reads it: the units are in the store.
        let readers = self.in_rounds(needed.len()).then(|| {
            let mut readers = FxHashMap::default();
            for unit in &plan.units {
                if let UnitFate::Rebuilt(members) = &unit.fate {
                    for &(hash, _) in members {
                        *readers.entry(hash).or_insert(0) += 1;
                    }
                }
            }
            readers
        });
        let mut merging =
            Merging { done: Vec::with_capacity(plan.units.len()), waiting: plan.units.into(), defer, readers };
        let mut merge_ready = |session: &mut Session| session.merge_ready(&mut merging, store);

        // Generate what must be built; their files may have to be read first.
        let mut compiled = HashSet::new();
        if !needed.is_empty() {
            // LLVM starts on the other core while summarized files are read.
            crate::codegen::prestart();
            let summarized: FxHashSet<ModulePath> = needed
                .iter()
                .map(|(f, _)| f.file(&self.db))
                .filter(|&file| mini_queries::summary::is_summarized(&self.db, file))
                .map(|file| file.path(&self.db).clone())
                .collect();
            for path in &summarized {
                self.hydrate_unchanged(path, report)?;
            }
            compiled = self.generate(&needed, jobs, &mut merge_ready)?;
            self.report_phase(Phase::Linking);
        }
        merge_ready(self)?;
        ensure!(merging.waiting.is_empty(), "a link unit's members were not all generated (a bug)");
        Ok(Some(CarriedOut { units: merging.done, compiled }))
    }

    /// Merges the waiting units whose members' objects are all here, in the plan's
    /// order, writing each to the store (or deferring the writing); stops at the first
    /// unit that still waits for one.
    fn merge_ready(&mut self, merging: &mut Merging, store: &Store) -> Result<()> {
        let _span = tracing::info_span!("merge", units = merging.waiting.len()).entered();
        while let Some(unit) = merging.waiting.front() {
            if let UnitFate::Rebuilt(members) = &unit.fate
                && !members.iter().all(|(hash, _)| self.artifacts.objects.contains_key(hash))
            {
                break;
            }
            let PlannedUnit { index, key, fate, .. } = merging.waiting.pop_front().expect("looked at");
            let input = match fate {
                UnitFate::Found(input, _) => input,
                UnitFate::Rebuilt(members) => {
                    let objects: Vec<(Hash, &[u8])> =
                        members.iter().map(|&(hash, _)| (hash, &*self.artifacts.objects[&hash])).collect();
                    let merged = link::merge_objects(objects.iter().map(|&(_, object)| object))
                        .with_context(|| format!("merging link unit {index}"))?;
                    // Members first: a unit entry without its members could not be rebuilt.
                    let encoded = Unit::encode_members(&objects);
                    let path = if merging.defer {
                        self.artifacts.deferred.entries.push((Kind::UnitMembers, key, encoded));
                        self.artifacts.deferred.entries.push((Kind::Unit, key, merged.clone()));
                        store.path(Store::key(Kind::Unit, key))
                    } else {
                        store.write(Kind::UnitMembers, key, &encoded)?;
                        store.write(Kind::Unit, key, &merged)?
                    };
                    if let Some(readers) = &mut merging.readers {
                        for (hash, _) in members {
                            let left = readers.get_mut(&hash).expect("counted above");
                            *left -= 1;
                            if *left == 0 {
                                self.artifacts.objects.remove(&hash);
                            }
                        }
                    }
                    LinkInput::new(path, Blob::Owned(merged))
                }
                UnitFate::Unavailable => unreachable!("checked by `carry_out`"),
            };
            merging.done.push((Kind::Unit, key, input));
        }
        Ok(())
    }

    /// The qualified names of `functions`, in program order: by file, in the order of
    /// the program's files, then as each file defines them.
    fn in_program_order(&self, functions: &HashSet<Function>) -> Vec<String> {
        let db = &self.db;
        let files: FxHashSet<SourceFile> = functions.iter().map(|f| f.file(db)).collect();
        let file_order: FxHashMap<SourceFile, usize> = program_files(db, self.workspace())
            .iter()
            .enumerate()
            .filter(|(_, file)| files.contains(*file))
            .map(|(i, &file)| (file, i))
            .collect();
        let mut ordered: Vec<(usize, usize, Function)> = Vec::with_capacity(functions.len());
        for &file in &files {
            let listed = functions_of(db, file);
            for (i, f) in listed.into_iter().enumerate().filter(|(_, f)| functions.contains(f)) {
                ordered.push((file_order.get(&file).copied().unwrap_or(usize::MAX), i, f));
            }
        }
        ordered.sort_unstable_by_key(|&(file, i, _)| (file, i));
        ordered.into_iter().map(|(_, _, f)| f.qualified_name(db)).collect()
    }

    /// Links an executable: with mini's own linker where it applies (x86-64 without
    /// debug info), else — or if it refuses the input — with the system linker.
    /// `MINI_LINKER=system` always uses the system linker, `MINI_LINKER=own` never does
    /// (a refusal is then an error: that is how the tests know the own linker ran).
    /// `keys` identify the inputs' bytes: watch mode's incremental linker patches by
    /// them. A one-shot build with mini's linker saves the executable's layout in
    /// `store` under `link_key`, so that the next build can patch the executable in place
    /// (see `patch::patch_in_place`).
    pub(super) fn link_executable(
        &mut self,
        inputs: &[LinkInput],
        keys: &[Hash],
        (store, link_key): (&Store, Hash),
        output: &Path,
        settings: &CodegenSettings,
    ) -> Result<()> {
        let choice = std::env::var("MINI_LINKER").unwrap_or_default();
        let applies = own_linker_can_link(settings);
        if choice == "own" && !applies {
            bail!("MINI_LINKER=own: mini's linker links x86-64 executables without debug info only");
        }
        if applies && choice != "system" {
            let objects: Vec<&[u8]> = inputs.iter().map(|input| &**input.bytes).collect();
            // The outer result is the linker's (a refusal falls back), the inner one the
            // writing's.
            let linked = match &self.artifacts.incremental {
                // Watch mode: patch the last executable where only some inputs changed.
                Some(linker) => {
                    let mut linker = linker.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let scratch = self.cache_dir().join("tmp");
                    linker.link(keys, &objects, "_start").map(|()| linker.publish(output, &scratch))
                }
                // One-shot: linked whole, its layout kept for the next build.
                None => {
                    let mut linker = IncrementalLinker::new();
                    let kept = self.kept_copies(output);
                    let kept = kept.map(|(kept, copies)| {
                        linker.use_copies(copies);
                        kept
                    });
                    linker.link(keys, &objects, "_start").map(|()| {
                        let mut copies = linker.take_copies();
                        // The layout is written on the other core meanwhile.
                        std::thread::scope(|scope| {
                            scope.spawn(|| save_layout(store, link_key, &linker, None));
                            let image = linker.image().expect("linked");
                            match &kept {
                                Some(kept) => kept.publish(&mut copies, image, output),
                                None => write_executable(output, image),
                            }
                        })
                    })
                }
            };
            match linked {
                Ok(written) => return written,
                Err(e) if choice == "own" => return Err(e.context("MINI_LINKER=own: mini's linker failed")),
                Err(e) => tracing::warn!("mini's linker cannot link this ({e:#}); using the system linker"),
            }
        }
        // The system linker reads files: entries this build deferred must be there.
        self.write_deferred()?;
        if self.artifacts.linker.is_none() {
            self.artifacts.linker = Some(Linker::detect()?);
        }
        let paths: Vec<PathBuf> = inputs.iter().map(|input| input.path.clone()).collect();
        // Debug information names files relative to the entry's directory (objects hold
        // no absolute path); the executable gets the directory itself.
        let comp_dir = settings.debug_info.then(|| lexically_normal(&self.absolute_root()));
        self.artifacts.linker.as_ref().expect("detected above").link_executable(&paths, output, comp_dir.as_deref())
    }

    /// Whether a one-shot build links with mini's own linker (see `own_linker_applies`):
    /// watch mode keeps its layout in memory instead.
    pub(super) fn own_linker_links(&self, settings: &CodegenSettings) -> bool {
        self.artifacts.incremental.is_none() && own_linker_applies(settings)
    }

    /// The copies of `output` kept in the cache for one-shot builds (`link::Kept`), if
    /// the cache is shared and no other build holds them.
    pub(super) fn kept_copies(&self, output: &Path) -> Option<(crate::link::Kept, crate::link::Copies)> {
        match &self.cache.dir {
            super::CacheDir::Shared(dir) => crate::link::Kept::take(&dir.join("exe"), output),
            super::CacheDir::Private(_) => None,
        }
    }

    /// Generates the objects of `functions` on `jobs` threads, in their order; returns
    /// which were generated. Many functions are compiled in batches (see
    /// `batch_objects`); a few, one by one. The code generator is started first (see
    /// `codegen`): only a build that generates code starts it. A build in rounds (see
    /// `chunks`) calls `after_round` after each.
    pub(super) fn generate(
        &mut self,
        functions: &[(Function, Hash)],
        jobs: usize,
        after_round: &mut dyn FnMut(&mut Session) -> Result<()>,
    ) -> Result<HashSet<Function>> {
        let _span = tracing::info_span!("codegen", functions = functions.len()).entered();
        if functions.is_empty() {
            return Ok(HashSet::new());
        }
        self.fault(crate::fault::Point::Codegen);
        crate::codegen::start()?;
        if let [(function, hash)] = functions {
            return Ok(self.generate_here(*function, *hash));
        }
        // Several batches per thread keep the threads busy to the end.
        let batch_size = functions.len().div_ceil(jobs * 4).clamp(1, 64);
        let (done, total) = (AtomicUsize::new(0), functions.len());
        if let Some(progress) = &self.hooks.progress {
            progress.functions(0, total);
        }
        // A large one-shot build generates in rounds and drops each round's encoded
        // inputs and batches (see `chunks`); the objects it keeps.
        let round = self.round_functions(functions.len(), batch_size);
        // Only then: tracking is a write to the database, which waits for its other
        // handles.
        let in_rounds = round < functions.len();
        if in_rounds {
            transient::track(&mut self.db, Transient::Code, true);
        }
        let mut compiled = HashSet::with_capacity(functions.len());
        for part in functions.chunks(round) {
            let results = self.generate_round(part, batch_size, jobs, &done, total);
            salsa::Database::unwind_if_revision_cancelled(&self.db);
            for (index, object) in results.into_iter().flatten() {
                self.artifacts.objects.insert(part[index].1, object);
                compiled.insert(part[index].0);
            }
            if in_rounds {
                transient::evict(&mut self.db);
                after_round(self)?;
            }
        }
        if in_rounds {
            transient::track(&mut self.db, Transient::Code, false);
        }
        Ok(compiled)
    }

    /// Generates one round's objects on `jobs` threads, by batches of `batch_size`;
    /// returns each object with its index in `functions`. `done` of `total` functions
    /// were generated before the round.
    fn generate_round(
        &self,
        functions: &[(Function, Hash)],
        batch_size: usize,
        jobs: usize,
        done: &AtomicUsize,
        total: usize,
    ) -> Vec<Vec<(usize, Arc<[u8]>)>> {
        let batches: Vec<&[(Function, Hash)]> = functions.chunks(batch_size).collect();
        let next = AtomicUsize::new(0);
        let threads = jobs.clamp(1, batches.len());
        let progress = self.hooks.progress.clone();
        // Workers stop between batches when the session's build is cancelled (watch
        // mode, on a new edit); the unwinding happens in the caller, on its thread.
        let cancelled = self.cancellation_token();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    // One database handle per thread; all are dropped before the next input
                    // change, as salsa requires.
                    let db = self.db.clone();
                    let (next, batches, cancelled) = (&next, &batches, &cancelled);
                    let progress = &progress;
                    let compiled = move |count: usize| {
                        if let Some(progress) = progress {
                            progress.functions(done.fetch_add(count, Ordering::Relaxed) + count, total);
                        }
                    };
                    std::thread::Builder::new()
                        .name("codegen".into())
                        .stack_size(16 << 20)
                        .spawn_scoped(scope, move || {
                            let mut finished = Vec::new();
                            loop {
                                let index = next.fetch_add(1, Ordering::Relaxed);
                                let Some(batch) = batches.get(index) else { break };
                                if cancelled.is_cancelled() {
                                    break;
                                }
                                let first = index * batch_size;
                                if let [(function, _)] = batch {
                                    let object = fn_object(&db, *function).clone();
                                    finished.push((first, object.expect("checked functions have code")));
                                    compiled(1);
                                    continue;
                                }
                                let members: Vec<Function> = batch.iter().map(|&(f, _)| f).collect();
                                let objects = batch_objects(&db, CodegenBatch::new(&db, members));
                                for (offset, object) in objects.iter().enumerate() {
                                    finished
                                        .push((first + offset, object.clone().expect("checked functions have code")));
                                }
                                compiled(batch.len());
                            }
                            finished
                        })
                        .expect("spawning a codegen thread")
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    }
}

impl Session {
    /// Generates one function's object on this thread: the edit of watch mode or of a
    /// one-shot build. A thread of its own costs little on an idle machine, but on a busy
    /// one waiting for it to be scheduled (and then for this one) can cost more than the
    /// compilation; and this thread keeps its target machine from one build to the next.
    /// LLVM may recurse deeply on a deeply nested expression: where this thread's stack
    /// is small (a test's), the compilation runs on a stack as big as a codegen thread's.
    fn generate_here(&mut self, function: Function, hash: Hash) -> HashSet<Function> {
        if let Some(progress) = &self.hooks.progress {
            progress.functions(0, 1);
        }
        let object = stacker::maybe_grow(8 << 20, 16 << 20, || fn_object(&self.db, function).clone());
        self.artifacts.objects.insert(hash, object.expect("checked functions have code"));
        if let Some(progress) = &self.hooks.progress {
            progress.functions(1, 1);
        }
        HashSet::from([function])
    }
}

/// Whether mini's own linker links executables with `settings` (x86-64 without debug
/// information).
fn own_linker_can_link(settings: &CodegenSettings) -> bool {
    settings.target.starts_with("x86_64") && !settings.debug_info
}

/// Saves the layout of the executable `linker` just wrote under `link_key`, for the
/// next build to patch it in place; then forgets the layouts no build of this output
/// reads again: `replaced`, the last executable's, and the whole layout the linker
/// resumed from — unless the new layout is, or replays over, one of them. A failure
/// costs the next build a full link, so it is only logged.
pub(super) fn save_layout(store: &Store, link_key: Hash, linker: &IncrementalLinker, replaced: Option<Hash>) {
    let _span = tracing::info_span!("save_layout").entered();
    let Some(saved) = linker.save() else { return };
    if let Err(e) = store.write(Kind::LinkLayout, link_key, &saved) {
        tracing::warn!("cannot save the executable's layout: {e:#}");
        return;
    }
    let needed = linker.replays_over();
    for old in [replaced, linker.base()].into_iter().flatten() {
        if old != link_key && Some(old) != needed {
            store.forget(Kind::LinkLayout, old);
        }
    }
}

/// Whether the executable will be linked by mini's own linker (unless it refuses the
/// input, which mini's objects never make it do): it can, and `MINI_LINKER` does not
/// ask for the system linker.
fn own_linker_applies(settings: &CodegenSettings) -> bool {
    own_linker_can_link(settings) && std::env::var("MINI_LINKER").unwrap_or_default() != "system"
}

/// What carrying out a plan made: each unit's link input with its kind and key, in the
/// plan's order, and the functions generated.
pub(super) struct CarriedOut {
    pub units: Vec<(Kind, Hash, LinkInput)>,
    pub compiled: HashSet<Function>,
}

/// Reads link units from the store. Reading an entry verifies its checksum, and a cold
/// process reads every unit (tens of megabytes), so this runs on `jobs` threads — on
/// more with a remote cache, where a local miss mostly waits for the server.
pub(super) fn read_units(store: &Store, keys: &[Hash], jobs: usize) -> Vec<Option<(PathBuf, Blob)>> {
    let (threads, least) = if store.remote().is_some() { (jobs.max(8), 8) } else { (jobs.max(1), 32) };
    let chunk = keys.len().div_ceil(threads).max(least);
    if keys.len() <= chunk {
        // One thread's worth (an edit's unit): here, without starting one.
        return keys.iter().map(|&key| store.read_with_path(Kind::Unit, key)).collect();
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = keys
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|&key| store.read_with_path(Kind::Unit, key)).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// An object for the final link: its store entry (for the system linker) and payload.
#[derive(Clone)]
pub(super) struct LinkInput {
    path: PathBuf,
    bytes: Arc<Blob>,
}

impl LinkInput {
    pub(super) fn new(path: PathBuf, bytes: Blob) -> LinkInput {
        LinkInput { path, bytes: Arc::new(bytes) }
    }

    /// Its bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether its file is still on disk (the system linker reads it from there).
    pub(super) fn exists(&self) -> bool {
        self.path.exists()
    }
}

/// The inputs of the last link, by kind and key, already verified: a session that links
/// again (watch mode) takes the unchanged ones from here instead of the store. Each is
/// still checked to exist on disk, as the system linker reads it from there.
pub(super) type LinkedInputs = FxHashMap<(Kind, Hash), LinkInput>;

/// A store entry as a link input: from the last link, from the store, or made and
/// written.
fn entry_input(
    store: &Store,
    previous: &mut LinkedInputs,
    kind: Kind,
    key: Hash,
    make: impl FnOnce() -> Vec<u8>,
) -> Result<LinkInput> {
    if let Some(input) = previous.remove(&(kind, key)).filter(|input| input.path.exists()) {
        return Ok(input);
    }
    if let Some((path, bytes)) = store.read_with_path(kind, key) {
        return Ok(LinkInput::new(path, bytes));
    }
    crate::codegen::start()?;
    let bytes = make();
    let path = store.write(kind, key, &bytes)?;
    Ok(LinkInput::new(path, Blob::Owned(bytes)))
}

/// Writes an executable atomically, with execute permission.
fn write_executable(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::output::write_atomically(path, bytes, true)
}

/// The units of a plan being merged as their members' objects arrive (`carry_out`).
struct Merging {
    /// Each merged unit's link input, with its kind and key, in the plan's order.
    done: Vec<(Kind, Hash, LinkInput)>,
    /// The units not merged yet, in the plan's order.
    waiting: VecDeque<PlannedUnit>,
    /// Whether new units are written after the rebuild is reported (watch mode).
    defer: bool,
    /// How many waiting units read each object, when each is dropped after its last
    /// reader (a build in rounds).
    readers: Option<FxHashMap<Hash, usize>>,
}
