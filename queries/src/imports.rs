//! Imports and the module graph: what each file imports, how aliases resolve to files,
//! and which files make up the program.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

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

/// Every file of the program: the entry, then its imports breadth-first in source order.
/// Files that cannot be read are left out (the importer reports them).
///
/// Reads: the workspace and every reachable file's imports.
#[salsa::tracked(returns(ref))]
pub fn program_files(db: &dyn Db, workspace: Workspace) -> Arc<[SourceFile]> {
    let _span = tracing::debug_span!("program_files").entered();
    let files = workspace.files(db);
    let entry = workspace.entry(db);
    let mut seen = HashSet::from([entry]);
    let mut queue = VecDeque::from([entry]);
    let mut order = Vec::new();
    while let Some(file) = queue.pop_front() {
        order.push(file);
        for import in imports_of(db, file).iter() {
            let Some(target) = import.target.as_ref().and_then(|t| files.get(t)) else {
                continue;
            };
            if target.is_readable(db) && seen.insert(*target) {
                queue.push_back(*target);
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
