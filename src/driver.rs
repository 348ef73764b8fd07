//! The build driver: owns the database, reads files into inputs, asks the queries for
//! diagnostics, hashes and objects, and links. All of the compiler's I/O happens here
//! or below (`link`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mini_queries::Database;
use mini_queries::codegen::{self, entry_object, fn_llvm_ir, fn_object, runtime_object};
use mini_queries::diagnostics::program_diagnostics;
use mini_queries::hash::{Encoder, Hash, entry_hash, fn_hash, runtime_hash};
use mini_queries::imports::{file_imports, program_files};
use mini_queries::items::{Function, file_functions, program_functions};
use mini_queries::source::{BuildSettings, CodegenSettings, FileContents, ModulePath, SourceFile, Workspace};
use mini_queries::zir::fn_zir;
use salsa::Setter;

use crate::cli::Emit;
use crate::link::{self, Linker};
use crate::render::{self, Located};

/// Functions are grouped into this many link units by module path, so that the final
/// link has a bounded number of inputs and an edit relinks one unit.
const LINK_UNITS: u32 = 256;

/// What to build and how.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    pub emit: Emit,
    /// Where the output goes; `None` for text outputs means standard output.
    pub output: Option<PathBuf>,
    pub settings: CodegenSettings,
    pub jobs: usize,
    pub log_queries: bool,
}

/// The outcome of one build.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub diagnostics: Vec<Located>,
    /// Functions in the program.
    pub functions: usize,
    /// Qualified names of the functions whose code was generated in this build.
    pub compiled: Vec<String>,
    pub output: Option<PathBuf>,
    /// Text output (llvm-ir or zir) when written to standard output.
    pub text: Option<String>,
    pub duration: Duration,
    /// The queries that executed, in order (with `--log-queries`).
    pub executed: Vec<String>,
    pub linked: bool,
}

impl BuildReport {
    pub fn success(&self) -> bool {
        self.diagnostics.is_empty()
    }
}

/// One program's compilation state. Lives for one CLI command, or across edits in
/// watch mode and in tests.
pub struct Session {
    db: Database,
    /// The entry file's directory, as the user spelled it; module paths are relative to it.
    root: PathBuf,
    entry: ModulePath,
    files: BTreeMap<ModulePath, SourceFile>,
    workspace: Option<Workspace>,
    settings: Option<BuildSettings>,
    /// Objects generated in this session, by function hash.
    objects: HashMap<Hash, Arc<[u8]>>,
    cache_dir: PathBuf,
    linker: Option<Linker>,
    /// The last executable this session linked, to skip relinking identical inputs.
    last_link: Option<LinkRecord>,
}

struct LinkRecord {
    inputs: Vec<PathBuf>,
    output: PathBuf,
    stamp: Option<FileStamp>,
}

/// Enough of a file's metadata to notice that someone replaced it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileStamp {
    pub len: u64,
    pub mtime_ns: i128,
    pub inode: u64,
}

impl FileStamp {
    pub fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            inode: meta.ino(),
        })
    }
}

impl Session {
    /// A session for the program whose entry file is `entry`.
    pub fn new(entry: &Path) -> Result<Session> {
        let name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("'{}' is not a file name", entry.display()))?;
        let module =
            ModulePath::new(name).with_context(|| format!("'{}' is not a valid file name", entry.display()))?;
        let root = entry.parent().map(Path::to_path_buf).unwrap_or_default();
        let cache_dir = root.join(".mini_cache");
        Ok(Session {
            db: Database::default(),
            root,
            entry: module,
            files: BTreeMap::new(),
            workspace: None,
            settings: None,
            objects: HashMap::new(),
            cache_dir,
            linker: None,
            last_link: None,
        })
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn root(&self) -> &Path {
        &self.root
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

    /// Sets the build settings input, if they changed.
    pub fn set_settings(&mut self, settings: &CodegenSettings) {
        match self.settings {
            None => self.settings = Some(BuildSettings::new(&self.db, settings.clone())),
            Some(input) if input.codegen(&self.db) != settings => {
                input.set_codegen(&mut self.db).with_durability(salsa::Durability::HIGH).to(settings.clone());
            }
            Some(_) => {}
        }
    }

    /// Reads the entry file and everything it imports, transitively, and updates the
    /// inputs whose contents changed. Fails only if the entry file cannot be read.
    pub fn load(&mut self) -> Result<()> {
        let _span = tracing::info_span!("load").entered();
        let entry_path = self.disk_path(&self.entry);
        let entry_text =
            std::fs::read(&entry_path).with_context(|| format!("cannot read '{}'", entry_path.display()))?;
        let entry = self.sync_file(self.entry.clone(), FileContents::Text(entry_text.into()));

        let mut queue = VecDeque::from([entry]);
        let mut visited = HashSet::from([entry]);
        while let Some(file) = queue.pop_front() {
            let targets: Vec<ModulePath> =
                file_imports(&self.db, file).iter().filter_map(|import| import.target.clone()).collect();
            for target in targets {
                let contents = read_source(&self.disk_path(&target));
                let imported = self.sync_file(target, contents);
                if visited.insert(imported) && imported.is_readable(&self.db) {
                    queue.push_back(imported);
                }
            }
        }

        // Files are only ever added, under stable inputs, so a changed size is the only
        // way the map can have changed.
        match self.workspace {
            None => self.workspace = Some(Workspace::new(&self.db, entry, Arc::new(self.files.clone()))),
            Some(workspace) => {
                if workspace.files(&self.db).len() != self.files.len() {
                    workspace.set_files(&mut self.db).to(Arc::new(self.files.clone()));
                }
            }
        }
        Ok(())
    }

    /// The input for `path`, created or updated to `contents` — set only when the
    /// contents really changed, since every set starts a new revision.
    fn sync_file(&mut self, path: ModulePath, contents: FileContents) -> SourceFile {
        match self.files.get(&path) {
            Some(&file) => {
                if *file.contents(&self.db) != contents {
                    file.set_contents(&mut self.db).to(contents);
                }
                file
            }
            None => {
                let file = SourceFile::new(&self.db, path.clone(), contents);
                self.files.insert(path, file);
                file
            }
        }
    }

    fn workspace(&self) -> Workspace {
        self.workspace.expect("load() runs before any query")
    }

    /// Every diagnostic of the program, located and in order.
    pub fn diagnostics(&self) -> Vec<Located> {
        let _span = tracing::info_span!("diagnostics").entered();
        let db = &self.db;
        program_diagnostics(db, self.workspace())
            .iter()
            .map(|d| {
                let text = match d.file.contents(db) {
                    FileContents::Text(text) => text.clone(),
                    FileContents::Missing(_) => Arc::from(&[][..]),
                };
                render::locate(self.display_path(d.file.path(db)), &text, d.span, d.message.clone())
            })
            .collect()
    }

    /// Checks the program without generating code.
    pub fn check(&mut self, log_queries: bool) -> Result<BuildReport> {
        let start = Instant::now();
        if log_queries {
            self.db.record_executions();
        }
        self.load()?;
        let diagnostics = self.diagnostics();
        let functions = program_functions(&self.db, self.workspace()).len();
        Ok(BuildReport {
            diagnostics,
            functions,
            duration: start.elapsed(),
            executed: if log_queries { self.db.take_executions() } else { Vec::new() },
            ..BuildReport::default()
        })
    }

    /// Builds the program as `request` says.
    pub fn build(&mut self, request: &BuildRequest) -> Result<BuildReport> {
        let start = Instant::now();
        if request.log_queries {
            self.db.record_executions();
        }
        codegen::validate_target(&request.settings.target)
            .map_err(|e| anyhow::anyhow!("unsupported target '{}': {e}", request.settings.target))?;
        self.set_settings(&request.settings);
        self.load()?;

        let mut report = BuildReport { diagnostics: self.diagnostics(), ..BuildReport::default() };
        let functions: Vec<Function> = program_functions(&self.db, self.workspace()).to_vec();
        report.functions = functions.len();
        if report.success() {
            match request.emit {
                Emit::Exe => self.build_executable(request, &functions, &mut report)?,
                Emit::Obj => self.build_object(request, &functions, &mut report)?,
                Emit::LlvmIr => self.emit_text(request, self.llvm_ir_text(), &mut report)?,
                Emit::Zir => self.emit_text(request, self.zir_text(), &mut report)?,
            }
        }
        report.duration = start.elapsed();
        if request.log_queries {
            report.executed = self.db.take_executions();
        }
        Ok(report)
    }

    /// Generates the objects of `functions` that this session does not have yet, on
    /// `jobs` threads, and records their names in the report.
    fn generate(&mut self, functions: &[(Function, Hash)], jobs: usize, compiled: &mut HashSet<Function>) {
        let _span = tracing::info_span!("codegen", functions = functions.len()).entered();
        let missing: Vec<(Function, Hash)> =
            functions.iter().copied().filter(|(_, hash)| !self.objects.contains_key(hash)).collect();
        if missing.is_empty() {
            return;
        }
        let next = AtomicUsize::new(0);
        let threads = jobs.clamp(1, missing.len());
        let results: Vec<Vec<(usize, Arc<[u8]>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let db = self.db.clone();
                    let (next, missing) = (&next, &missing);
                    std::thread::Builder::new()
                        .name("codegen".into())
                        .stack_size(16 << 20)
                        .spawn_scoped(scope, move || {
                            let mut done = Vec::new();
                            loop {
                                let index = next.fetch_add(1, Ordering::Relaxed);
                                let Some(&(function, _)) = missing.get(index) else {
                                    break;
                                };
                                let object = fn_object(&db, function).clone().expect("checked functions have code");
                                done.push((index, object));
                            }
                            done
                        })
                        .expect("spawning a codegen thread")
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        for (index, object) in results.into_iter().flatten() {
            self.objects.insert(missing[index].1, object);
            compiled.insert(missing[index].0);
        }
    }

    fn hashes(&self, functions: &[Function]) -> Vec<(Function, Hash)> {
        functions
            .iter()
            .map(|&f| (f, fn_hash(&self.db, f).expect("a program without diagnostics hashes every function")))
            .collect()
    }

    /// The link inputs of the program: one merged object per link unit, the runtime and
    /// the entry wrapper, written under the cache directory.
    fn link_inputs(
        &mut self,
        request: &BuildRequest,
        functions: &[Function],
        report: &mut BuildReport,
    ) -> Result<Vec<PathBuf>> {
        let hashed = {
            let _span = tracing::info_span!("hash").entered();
            self.hashes(functions)
        };
        let mut units: BTreeMap<u32, Vec<(Function, Hash)>> = BTreeMap::new();
        for &(function, hash) in &hashed {
            let unit = link_unit_of(function.file(&self.db).path(&self.db));
            units.entry(unit).or_default().push((function, hash));
        }
        let link_dir = self.cache_dir.join("link");
        std::fs::create_dir_all(&link_dir).with_context(|| format!("creating {}", link_dir.display()))?;

        // Only units whose merged object is missing need their members' objects.
        let mut inputs = Vec::new();
        let mut to_merge = Vec::new();
        for members in units.values_mut() {
            members.sort_by_key(|&(_, hash)| hash);
            let mut key = Encoder::new("mini link unit");
            for (_, hash) in members.iter() {
                key.u64(0).bytes(&hash.0);
            }
            let path = link_dir.join(format!("{}.o", key.finish()));
            if !path.exists() {
                to_merge.push((path.clone(), members.clone()));
            }
            inputs.push(path);
        }
        // Generated in program order, so that logs do not depend on hash values.
        let in_missing_units: HashSet<Function> =
            to_merge.iter().flat_map(|(_, members)| members.iter().map(|&(f, _)| f)).collect();
        let needed: Vec<(Function, Hash)> =
            hashed.iter().copied().filter(|(f, _)| in_missing_units.contains(f)).collect();
        let mut compiled = HashSet::new();
        self.generate(&needed, request.jobs, &mut compiled);
        report.compiled =
            functions.iter().filter(|f| compiled.contains(f)).map(|f| f.qualified_name(&self.db)).collect();
        let _span = tracing::info_span!("merge", units = to_merge.len()).entered();
        for (path, members) in &to_merge {
            let merged = link::merge_objects(members.iter().map(|(_, hash)| &*self.objects[hash]))
                .with_context(|| format!("merging link unit {}", path.display()))?;
            write_atomically(path, &merged)?;
        }

        let db = &self.db;
        let settings = self.settings.expect("set before building");
        let runtime = link_dir.join(format!("{}.o", runtime_hash(db, settings)));
        if !runtime.exists() {
            write_atomically(&runtime, runtime_object(db, settings))?;
        }
        inputs.push(runtime);
        let entry_key = entry_hash(db, self.workspace()).context("the entry file has a valid main")?;
        let entry = link_dir.join(format!("{entry_key}.o"));
        if !entry.exists() {
            let object = entry_object(db, self.workspace()).clone().context("the entry file has a valid main")?;
            write_atomically(&entry, &object)?;
        }
        inputs.push(entry);
        Ok(inputs)
    }

    fn build_executable(
        &mut self,
        request: &BuildRequest,
        functions: &[Function],
        report: &mut BuildReport,
    ) -> Result<()> {
        if *request.settings.target != codegen::host_triple() {
            bail!("cannot link an executable for '{}' on this machine; use --emit obj", request.settings.target);
        }
        let inputs = self.link_inputs(request, functions, report)?;
        let output = request.output.clone().context("an executable needs an output path")?;
        let link = LinkRecord { inputs, output: output.clone(), stamp: None };
        report.output = Some(output.clone());
        // Same inputs, and the output is still the file this session linked: done.
        if let Some(last) = &self.last_link
            && last.inputs == link.inputs
            && last.output == link.output
            && last.stamp.is_some()
            && last.stamp == FileStamp::of(&output)
        {
            return Ok(());
        }
        if self.linker.is_none() {
            self.linker = Some(Linker::detect()?);
        }
        let _span = tracing::info_span!("link", inputs = link.inputs.len()).entered();
        self.linker.as_ref().expect("detected above").link_executable(&link.inputs, &output)?;
        report.linked = true;
        self.last_link = Some(LinkRecord { stamp: FileStamp::of(&output), ..link });
        Ok(())
    }

    fn build_object(&mut self, request: &BuildRequest, functions: &[Function], report: &mut BuildReport) -> Result<()> {
        let inputs = self.link_inputs(request, functions, report)?;
        let objects = inputs
            .iter()
            .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
            .collect::<Result<Vec<_>>>()?;
        let merged = link::merge_objects(objects.iter().map(Vec::as_slice))?;
        let output = request.output.clone().context("an object needs an output path")?;
        write_atomically(&output, &merged)?;
        report.output = Some(output);
        Ok(())
    }

    fn emit_text(&self, request: &BuildRequest, text: String, report: &mut BuildReport) -> Result<()> {
        match &request.output {
            Some(path) => {
                write_atomically(path, text.as_bytes())?;
                report.output = Some(path.clone());
            }
            None => report.text = Some(text),
        }
        Ok(())
    }

    /// The program's LLVM IR: each file's functions, under a header naming the file.
    fn llvm_ir_text(&self) -> String {
        let db = &self.db;
        let mut out = String::new();
        for &file in program_files(db, self.workspace()).iter() {
            let functions = &file_functions(db, file).functions;
            let mut key = Encoder::new("mini file section");
            for &f in functions {
                key.bytes(&fn_hash(db, f).map(|h| h.0).unwrap_or_default());
            }
            out.push_str(&format!("; ==== FILE: {}:{} ====\n", file.path(db), key.finish()));
            for &f in functions {
                if let Some(ir) = fn_llvm_ir(db, f) {
                    out.push_str(ir);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// The program's ZIR, function by function.
    fn zir_text(&self) -> String {
        let db = &self.db;
        let mut out = String::new();
        for &f in program_functions(db, self.workspace()).iter() {
            if let Some(zir) = fn_zir(db, f) {
                out.push_str(&format!("; {}\n", f.qualified_name(db)));
                out.push_str(&mini_queries::zir::dump(zir));
                out.push('\n');
            }
        }
        out
    }
}

/// Reads a source file; an unreadable file becomes `Missing` with the reason.
fn read_source(path: &Path) -> FileContents {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() > u32::MAX as usize => FileContents::Missing("file is larger than 4 GiB".into()),
        Ok(bytes) => FileContents::Text(bytes.into()),
        Err(e) => FileContents::Missing(io_reason(&e).into()),
    }
}

/// An I/O error's reason without the "(os error N)" suffix.
pub fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The link unit a module's functions go to: stable under edits to other modules.
fn link_unit_of(module: &ModulePath) -> u32 {
    let hash = blake3::hash(module.as_str().as_bytes());
    u32::from_le_bytes(hash.as_bytes()[..4].try_into().expect("4 bytes")) % LINK_UNITS
}

/// Writes a file so that readers see the old contents or the new, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = link::temp_sibling(path);
    std::fs::write(&temp, bytes).with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

impl Session {
    /// Where this program's cached objects and `mini run` executables live.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Keeps cached objects in `dir` instead of the entry directory's `.mini_cache`.
    pub fn set_cache_dir(&mut self, dir: PathBuf) {
        self.cache_dir = dir;
    }

    /// Each function of the program (after a successful build) with its object's bytes,
    /// in program order. For tests that compare builds byte for byte.
    pub fn function_objects(&self) -> Vec<(String, Option<Arc<[u8]>>)> {
        let db = &self.db;
        program_functions(db, self.workspace())
            .iter()
            .map(|&f| {
                let object = fn_hash(db, f).and_then(|hash| self.objects.get(&hash).cloned());
                (f.qualified_name(db), object)
            })
            .collect()
    }
}
