//! The item index: which functions a file defines. Functions are identified by
//! (file, name), not by position, so moving or editing one never renames another.

use std::collections::HashMap;
use std::sync::Arc;

use crate::base::Name;
use crate::db::Db;
use crate::parsed::parse_file;
use crate::source::SourceFile;
use crate::summary;
use crate::syntax::ast;

/// A function, identified by its file and name. It may name a function that does not
/// exist (a call to an undefined name interns one); `fn_zir` then returns `None`.
#[salsa::interned(unsafe(no_lifetime), revisions = usize::MAX, debug)]
pub struct Function {
    #[returns(copy)]
    pub file: SourceFile,
    #[returns(ref)]
    pub name: Name,
}

impl Function {
    /// `lib/math.add`: the module path without `.mini`, a dot, the name. Used in
    /// diagnostics, runtime errors, logs and JSON output.
    pub fn qualified_name(self, db: &dyn Db) -> String {
        format!("{}.{}", self.file(db).path(db).without_extension(), self.name(db))
    }
}

/// The functions a file defines, in source order.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct FileFunctions {
    pub functions: Vec<Function>,
    /// Index into the file's AST items of each function's (first) definition.
    items: HashMap<Name, usize>,
}

impl FileFunctions {
    pub fn item_index(&self, name: &str) -> Option<usize> {
        self.items.get(name).copied()
    }
}

/// The file's functions. A name defined twice keeps its first definition; the second is
/// reported by `file_diagnostics`.
///
/// Reads: the file's parse. Adding a function changes this list, but no function's
/// check reads it (callers read `fn_signature` of the names they call), so adding a
/// function recompiles nothing else.
#[salsa::tracked(returns(ref))]
pub fn file_functions(db: &dyn Db, file: SourceFile) -> Arc<FileFunctions> {
    let _span = tracing::debug_span!("file_functions", path = %file.path(db)).entered();
    let mut result = FileFunctions::default();
    if let Some(names) = summary::function_names(db, file) {
        result.functions = names.map(|name| Function::new(db, file, name.clone())).collect();
        return Arc::new(result);
    }
    for (index, item) in parse_file(db, file).ast.items.iter().enumerate() {
        if let ast::Item::Fn(decl) = item
            && !result.items.contains_key(&decl.name)
        {
            result.items.insert(decl.name.clone(), index);
            result.functions.push(Function::new(db, file, decl.name.clone()));
        }
    }
    Arc::new(result)
}

/// Every function of the program, file by file in program order, each file's in source
/// order.
///
/// Reads: the program's files and each file's function list.
#[salsa::tracked(returns(ref))]
pub fn program_functions(db: &dyn Db, workspace: crate::source::Workspace) -> Arc<[Function]> {
    let _span = tracing::debug_span!("program_functions").entered();
    let mut functions = Vec::new();
    for &file in crate::imports::program_files(db, workspace).iter() {
        functions.extend(functions_of(db, file));
    }
    functions.into()
}

/// A file's functions: from its summary when it has one, so that listing an unchanged
/// program executes no per-file query.
pub fn functions_of(db: &dyn Db, file: SourceFile) -> Vec<Function> {
    match summary::function_names(db, file) {
        Some(names) => names.map(|name| Function::new(db, file, name.clone())).collect(),
        None => file_functions(db, file).functions.clone(),
    }
}
