//! The summary a file's text earns (`summarize`): what the shell records in its index
//! for an error-free file, so that a later build can stand the summary in for the text
//! (`summary`). It is made from the queries a build already ran — each function's name,
//! signature, hash and what its text says, the file's warnings, imports and interface.
//!
//! Why a query rather than the shell calling each function's queries itself: salsa
//! keeps one frame per depth of its query stack and reuses it, clearing it on every pop
//! in time proportional to the most edges any query at that depth ever had. The shell's
//! own calls run at depth zero, where a whole-program query (an edge per file) or a large
//! file's diagnostics (an edge per function) has already been, so a loop of small
//! executions there paid that size each time: quadratic in a large file. Under
//! `summarize` the per-function executions run one level down, and the shell summarizes
//! on a handle of its own (`Session::file_records`), whose stack starts empty.

use std::sync::Arc;

use crate::base::Hash;
use crate::db::Db;
use crate::diagnostics::file_diagnostics;
use crate::hash::{fn_hash, text_hashes};
use crate::imports::file_imports;
use crate::items::file_functions;
use crate::sema::{file_interface, fn_signature};
use crate::source::{FileSummary, SourceFile, SummaryFunction, SummaryWarning};
use crate::zir::fn_zir;

/// A file's summary and its interface's hash: its record in the index, but for what
/// only the shell knows (its stamp and content hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summarized {
    pub summary: Arc<FileSummary>,
    pub interface: Hash,
}

/// The summary of a file that has text; `None` if it has errors, or some function of it
/// has no signature, hash or ZIR (it calls a function whose signature has an error):
/// such a file is not recorded.
///
/// Reads: the file's function list, each function's ZIR, signature and hash, the file's
/// diagnostics, imports and interface — what a build of the file computed anyway.
#[salsa::tracked(returns(ref))]
pub fn summarize(db: &dyn Db, file: SourceFile) -> Option<Summarized> {
    let _span = tracing::debug_span!("summarize", path = %file.path(db)).entered();
    let functions: Vec<SummaryFunction> = file_functions(db, file)
        .functions
        .iter()
        .map(|&f| {
            let text = text_hashes(fn_zir(db, f).as_deref()?);
            Some(SummaryFunction {
                name: f.name(db).clone(),
                signature: fn_signature(db, f).clone()?,
                hash: fn_hash(db, f)?,
                zir: text.body,
                contracts: text.contracts,
            })
        })
        .collect::<Option<_>>()?;
    let diagnostics = file_diagnostics(db, file);
    if diagnostics.iter().any(|d| d.is_error()) {
        return None;
    }
    let warnings = diagnostics
        .iter()
        .map(|d| SummaryWarning { span: d.span, message: d.message.clone(), notes: d.notes.clone() })
        .collect();
    Some(Summarized {
        summary: Arc::new(FileSummary::new(file_imports(db, file).clone(), functions, warnings)),
        interface: file_interface(db, file).hash,
    })
}
