//! Answers from summaries. A file unchanged since a successful build can stand in for its
//! text with the summary that build recorded (`source::FileSummary`): its imports, and
//! each function's name, signature and hash. The queries that a summary can answer ask
//! here first, and this module is the only reader of `SourceFile::summary`, so what a
//! summary may answer — and so what the shell must prove before it gives a file one —
//! is written down in one place:
//!
//! - its imports (`file_imports`, and the walks `imports_of`);
//! - its functions' names, in source order (`file_functions`, `functions_of`);
//! - each function's signature (`fn_signature`) and hash (`fn_hash`, `unit_plan`);
//! - that it has no errors, and its warnings (`file_diagnostics`, `chunk_diagnostics`),
//!   and that it was readable.
//!
//! Nothing else: a query that needs the text (a body, a position) finds none, which is
//! why the shell hydrates a summarized file before asking for its objects or its IR.
//! The queries over groups of files (`group_imports`, `chunk_diagnostics`, `unit_plan`)
//! call these functions directly rather than a per-file query, so an unchanged program
//! of ten thousand files costs no per-file query execution; the summary is a separate
//! input field from the text, so text edits never re-run them.

use std::sync::Arc;

use crate::base::{Hash, Import, Name, Signature};
use crate::db::Db;
use crate::source::{SourceFile, SummaryWarning};

/// Whether the file stands in as a summary: read by an earlier build, without errors.
pub fn is_summarized(db: &dyn Db, file: SourceFile) -> bool {
    file.summary(db).is_some()
}

/// The file's imports, if it is summarized.
pub fn imports(db: &dyn Db, file: SourceFile) -> Option<Arc<[Import]>> {
    Some(file.summary(db).as_ref()?.imports.clone())
}

/// The names of the file's functions in source order, if it is summarized.
pub fn function_names(db: &dyn Db, file: SourceFile) -> Option<impl Iterator<Item = &Name>> {
    Some(file.summary(db).as_ref()?.functions.iter().map(|f| &f.name))
}

/// The hashes of the file's functions in source order, if it is summarized.
pub fn function_hashes(db: &dyn Db, file: SourceFile) -> Option<impl Iterator<Item = Hash> + '_> {
    Some(file.summary(db).as_ref()?.functions.iter().map(|f| f.hash))
}

/// A function's signature, if its file is summarized: `Some(None)` when the summary
/// has no such function.
pub fn signature<'db>(db: &'db dyn Db, file: SourceFile, name: &str) -> Option<Option<&'db Signature>> {
    Some(file.summary(db).as_ref()?.function(name).map(|f| &f.signature))
}

/// A function's hash, if its file is summarized: `Some(None)` when the summary has no
/// such function.
pub fn function_hash(db: &dyn Db, file: SourceFile, name: &str) -> Option<Option<Hash>> {
    Some(file.summary(db).as_ref()?.function(name).map(|f| f.hash))
}

/// The file's warnings as its summary recorded them (a summarized file has no errors),
/// if it is summarized.
pub fn warnings(db: &dyn Db, file: SourceFile) -> Option<&[SummaryWarning]> {
    Some(&file.summary(db).as_ref()?.warnings)
}
