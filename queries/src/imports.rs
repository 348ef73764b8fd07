//! Imports and the module graph: what each file imports, how aliases resolve to files,
//! and which files make up the program.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::base::{Import, ModulePath, Name};
use crate::db::Db;
use crate::parsed::parse_file;
use crate::source::{FileContents, SourceFile, Workspace};
use crate::summary;
use crate::syntax::ast;

/// The file's imports in source order.
///
/// Reads: the file's parse. Backdated when the list is unchanged, so only an edit to
/// the imports themselves reaches the module graph.
#[salsa::tracked(returns(ref))]
pub fn file_imports(db: &dyn Db, file: SourceFile) -> Arc<[Import]> {
    let _span = tracing::debug_span!("file_imports", path = %file.path(db)).entered();
    if let Some(imports) = summary::imports(db, file) {
        return imports;
    }
    let path = file.path(db);
    parse_file(db, file)
        .ast
        .items
        .iter()
        .filter_map(|item| match item {
            ast::Item::Import(import) => Some(import_of(path, import)),
            ast::Item::Fn(_) => None,
        })
        .collect()
}

/// The alias and target of one import declaration.
pub fn import_of(importer: &ModulePath, import: &ast::Import) -> Import {
    let target = importer.join(&import.path);
    let alias = match (&import.alias, &target) {
        (Some((alias, _)), _) => alias.clone(),
        (None, Some(target)) => Name::from(target.default_alias()),
        (None, None) => Name::from(""),
    };
    Import { alias, target }
}

/// The names an import makes visible in one file: alias → imported file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileScope {
    /// `None` for an alias whose file is missing or unreadable; that is reported at the
    /// import, and calls through the alias stay quiet.
    pub aliases: BTreeMap<Name, Option<SourceFile>>,
}

/// Resolves the file's import aliases to files. The first import of an alias wins; a
/// clash is reported by `file_diagnostics`.
///
/// Reads: the file's imports and the workspace's file map. Re-runs whenever a file is
/// added to the program, and is backdated unless this file's aliases changed.
#[salsa::tracked(returns(ref))]
pub fn file_scope(db: &dyn Db, file: SourceFile) -> Arc<FileScope> {
    let _span = tracing::debug_span!("file_scope", path = %file.path(db)).entered();
    let files = Workspace::get(db).files(db);
    let mut aliases = BTreeMap::new();
    for import in file_imports(db, file).iter() {
        let target = import.target.as_ref().and_then(|t| files.get(t)).copied().filter(|f| f.is_readable(db));
        aliases.entry(import.alias.clone()).or_insert(target);
    }
    Arc::new(FileScope { aliases })
}

/// A file's imports: read straight from its summary when it has one, so that walking an
/// unchanged program executes no per-file query.
pub fn imports_of(db: &dyn Db, file: SourceFile) -> Arc<[Import]> {
    summary::imports(db, file).unwrap_or_else(|| file_imports(db, file).clone())
}

/// How many groups the program walk reads the workspace's files in. A body edit, or a
/// file turning from its summary into its text, re-runs one group's query; the walk
/// itself is verified through one edge per group, not one (or two) per file.
pub const FILE_GROUPS: u32 = 1024;

/// The group of a file, by a hash of its path: stable while other files come and go.
fn file_group_of(path: &ModulePath) -> u32 {
    // FNV-1a: cheap on 100,000 short paths, and the same in every process.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.as_str().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(FILE_GROUPS)) as u32
}

/// Some of the workspace's files, read together by `group_imports`. Interned with its
/// files, so a group's query reads the inputs of its own files only.
#[salsa::interned(unsafe(no_lifetime), revisions = usize::MAX, debug)]
pub struct FileGroup {
    #[returns(copy)]
    pub index: u32,
    #[returns(ref)]
    pub files: Arc<[SourceFile]>,
}

/// The workspace's files in groups (`file_group_of`), each group's in path order.
///
/// Reads: the workspace's file map. Adding a file re-interns its group only; the other
/// groups, and their queries' memos, are the ones already there.
#[salsa::tracked(returns(ref))]
pub fn file_groups(db: &dyn Db, workspace: Workspace) -> Arc<[FileGroup]> {
    let mut groups: BTreeMap<u32, Vec<SourceFile>> = BTreeMap::new();
    for (path, &file) in workspace.files(db).iter() {
        groups.entry(file_group_of(path)).or_default().push(file);
    }
    groups.into_iter().map(|(index, files)| FileGroup::new(db, index, Arc::<[SourceFile]>::from(files))).collect()
}

/// Where a file is among the groups: its group's position in `file_groups`, and its
/// own in that group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    pub group: u32,
    pub file: u32,
}

/// The slot of every file of the map, by path.
///
/// Reads: the groups. Re-runs only when the file map changes.
#[salsa::tracked(returns(ref))]
pub fn file_slots(db: &dyn Db, workspace: Workspace) -> Arc<FxHashMap<ModulePath, Slot>> {
    let mut slots = FxHashMap::default();
    slots.reserve(workspace.files(db).len());
    for (group, files) in file_groups(db, workspace).iter().enumerate() {
        for (file, source) in files.files(db).iter().enumerate() {
            slots.insert(source.path(db).clone(), Slot { group: group as u32, file: file as u32 });
        }
    }
    Arc::new(slots)
}

/// What the program walk needs of one file: whether it can be read, and the slots of the
/// files its imports name that the workspace has (readable or not), in source order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkStep {
    pub readable: bool,
    pub targets: Arc<[Slot]>,
}

/// What the program walk needs of each file of a group, in the group's order.
///
/// Reads: each file's summary, or else whether it could be read and its imports; and the
/// files' slots, to resolve them. Backdated when no file of the group changed its
/// imports or readability, which a body edit leaves alone. (A file trading its summary
/// for its text, the first time it is edited in a watch session, makes its inputs less
/// durable; salsa does not backdate across that, so the walk re-runs once — over these
/// answers, with no query and no hashing per file.)
#[salsa::tracked(returns(ref))]
pub fn group_imports(db: &dyn Db, group: FileGroup) -> Arc<[WalkStep]> {
    let _span = tracing::debug_span!("group_imports", group = group.index(db)).entered();
    let slots = file_slots(db, Workspace::get(db));
    let step = |file: SourceFile| {
        if !file.is_readable(db) {
            return WalkStep { readable: false, targets: Arc::new([]) };
        }
        let imports = imports_of(db, file);
        let targets = imports.iter().filter_map(|import| slots.get(import.target.as_ref()?).copied()).collect();
        WalkStep { readable: true, targets }
    };
    group.files(db).iter().map(|&file| step(file)).collect()
}

/// Every file of the program: the entry, then its imports breadth-first in source order.
/// Files that cannot be read are left out (the importer reports them).
///
/// Reads: the workspace, the groups and their walk steps (`group_imports`); the walk
/// itself goes from slot to slot.
#[salsa::tracked(returns(ref))]
pub fn program_files(db: &dyn Db, workspace: Workspace) -> Arc<[SourceFile]> {
    let _span = tracing::debug_span!("program_files").entered();
    let entry = workspace.entry(db);
    let groups = file_groups(db, workspace);
    // The entry is in the file map, as every file the shell read; one missing from it
    // imports nothing.
    let Some(&start) = file_slots(db, workspace).get(entry.path(db)) else { return Arc::new([entry]) };
    let files: Vec<&[SourceFile]> = groups.iter().map(|group| &group.files(db)[..]).collect();
    let steps: Vec<&[WalkStep]> = groups.iter().map(|&group| &group_imports(db, group)[..]).collect();
    let mut seen: Vec<Vec<bool>> = files.iter().map(|files| vec![false; files.len()]).collect();
    seen[start.group as usize][start.file as usize] = true;
    let mut queue = VecDeque::from([start]);
    let mut order = Vec::new();
    while let Some(slot) = queue.pop_front() {
        order.push(files[slot.group as usize][slot.file as usize]);
        for &target in steps[slot.group as usize][slot.file as usize].targets.iter() {
            let (group, file) = (target.group as usize, target.file as usize);
            if steps[group][file].readable && !seen[group][file] {
                seen[group][file] = true;
                queue.push_back(target);
            }
        }
    }
    order.into()
}

/// Why the file could not be read, or `None` if it was.
///
/// Reads: the file's contents. A firewall: importers need to know whether a file exists,
/// and must not re-run whenever its text changes.
#[salsa::tracked(returns(ref))]
pub fn file_read_error(db: &dyn Db, file: SourceFile) -> Option<Arc<str>> {
    match file.contents(db) {
        FileContents::Text(_) | FileContents::Unread => None,
        FileContents::Missing(reason) => Some(reason.clone()),
    }
}

impl SourceFile {
    pub fn is_readable(self, db: &dyn Db) -> bool {
        // A summarized file was read by an earlier build; no query per unchanged file.
        summary::is_summarized(db, self) || file_read_error(db, self).is_none()
    }
}
