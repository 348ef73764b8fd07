//! Semantic analysis: signatures, name resolution, type checking and control-flow
//! checks, producing AIR (see `air`) and diagnostics with function-relative spans.

pub mod air;
mod check;
pub mod names;

use std::sync::Arc;

use crate::base::{Encoder, Hash, Name, Note, Severity, Signature, Type};
use crate::db::Db;
use crate::items::{Function, file_functions};
use crate::source::SourceFile;
use crate::syntax::Span;
use crate::zir::{Zir, fn_zir};

pub use air::{Air, Contracts};
pub use names::{FnNames, LocalKind};

/// The function's signature, or `None` if no such function exists.
///
/// Reads: the function's ZIR. Callers depend on this rather than on the callee's body,
/// so editing a body never re-checks a caller.
#[salsa::tracked(returns(ref))]
pub fn fn_signature(db: &dyn Db, function: Function) -> Option<Signature> {
    let _span = tracing::debug_span!("fn_signature", function = %function.qualified_name(db)).entered();
    if let Some(signature) = crate::summary::signature(db, function.file(db), function.name(db)) {
        return signature.cloned();
    }
    let zir = fn_zir(db, function).as_ref()?;
    let params = zir.params.iter().map(|p| p.ty.filter(|t| *t != Type::Void)).collect();
    Some(Signature { params, ret: zir.ret, complete: zir.params_ok })
}

/// A diagnostic inside a function, positioned relative to the function's start (its
/// notes too), so that moving the function leaves it equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FnDiagnostic {
    pub severity: Severity,
    pub span: Span,
    pub message: String,
    pub notes: Vec<Note>,
}

/// The outcome of checking one function.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct CheckedFn {
    /// The typed IR; `None` if the function has errors.
    pub air: Option<Arc<Air>>,
    /// For each AIR statement, its line relative to the function's first line.
    pub lines: Arc<[u32]>,
    /// The checked contracts, apart from the AIR; `None` if there are none, or errors.
    pub contracts: Option<Arc<Contracts>>,
    /// For each contract clause, its line relative to the function's first line.
    pub contract_lines: Arc<[u32]>,
    /// Errors and warnings. Only errors keep the function from having AIR: warnings
    /// live here and in the diagnostics built from here, never in AIR, so they reach no
    /// hash (`fn_air` is the firewall).
    pub diagnostics: Vec<FnDiagnostic>,
    /// The import aliases the function (body and contracts) calls through, sorted: a
    /// file's unused imports are those no function uses.
    pub used_aliases: Vec<Name>,
    /// What each written name resolved to, every local and every scope, as the checker
    /// found them (see `names`). Addressed by ZIR node, so that an edit that only moves
    /// text keeps this equal. Read by the editor (`ide`), never by code generation.
    pub names: FnNames,
}

/// Type-checks one function.
///
/// Reads: the function's ZIR, its file's import scope, and the signatures of the names
/// it calls. Not the callees' bodies, not other functions of the file. Evictable, as the
/// parse is: what later stages read of it has firewalls of its own (`fn_air`,
/// `fn_contracts`, `file_diagnostics`).
#[salsa::tracked(returns(ref), lru = 0)]
pub fn fn_check(db: &dyn Db, function: Function) -> Arc<CheckedFn> {
    let _span = tracing::debug_span!("fn_check", function = %function.qualified_name(db)).entered();
    match fn_zir(db, function) {
        Some(zir) => Arc::new(check::check_function(db, function, zir)),
        None => Arc::default(),
    }
}

/// Sets how many `fn_check` values `transient::evict` keeps (0: none are tracked).
pub(crate) fn track_fn_check(db: &mut dyn Db, capacity: usize) {
    fn_check::set_lru_capacity(db, capacity);
}

/// Checks a function's ZIR outside the query system, with the same checker: for what
/// `fn_check` does not cover — a second definition of a name (reported, never compiled)
/// or a function of a file the database holds as a summary, whose text the editor reads
/// from disk. Reads what `fn_check` reads; memoizes nothing.
pub fn check_unmemoized(db: &dyn Db, function: Function, zir: &Zir) -> CheckedFn {
    check::check_function(db, function, zir)
}

/// The function's AIR alone: a firewall in front of hashing and code generation, so
/// that a change in diagnostics or line numbers alone does not reach them. Evictable
/// (`transient`) once the function's input is encoded (`fn_input_bytes`).
#[salsa::tracked(returns(ref), lru = 0)]
pub fn fn_air(db: &dyn Db, function: Function) -> Option<Arc<Air>> {
    let _span = tracing::debug_span!("fn_air", function = %function.qualified_name(db)).entered();
    fn_check(db, function).air.clone()
}

/// Sets how many `fn_air` values `transient::evict` keeps (0: none are tracked).
pub(crate) fn track_fn_air(db: &mut dyn Db, capacity: usize) {
    fn_air::set_lru_capacity(db, capacity);
}

/// The function's checked contracts alone, `None` if it has none (or errors): a
/// firewall like `fn_air`, so that only code generation with contracts on reads them,
/// and an edit to a body does not reach them (nor an edit to a contract the body).
#[salsa::tracked(returns(ref))]
pub fn fn_contracts(db: &dyn Db, function: Function) -> Option<Arc<Contracts>> {
    let _span = tracing::debug_span!("fn_contracts", function = %function.qualified_name(db)).entered();
    fn_check(db, function).contracts.clone()
}

/// What other files see of a file: its functions' names and signatures. Files whose
/// interface did not change cannot change the hashes of their importers' functions.
#[derive(Debug, PartialEq, Eq)]
pub struct Interface {
    /// Sorted by name.
    pub functions: Vec<(Name, Signature)>,
    pub hash: Hash,
}

/// The file's interface.
///
/// Reads: the file's function list and each function's signature (from its summary,
/// for a file that has one).
#[salsa::tracked(returns(ref))]
pub fn file_interface(db: &dyn Db, file: SourceFile) -> Arc<Interface> {
    let _span = tracing::debug_span!("file_interface", path = %file.path(db)).entered();
    let mut functions: Vec<(Name, Signature)> = file_functions(db, file)
        .functions
        .iter()
        .filter_map(|&f| Some((f.name(db).clone(), fn_signature(db, f).clone()?)))
        .collect();
    functions.sort_by(|a, b| a.0.cmp(&b.0));
    let mut e = Encoder::new("mini file interface");
    e.u64(functions.len() as u64);
    for (name, signature) in &functions {
        e.str(name).u64(signature.params.len() as u64);
        for param in &signature.params {
            e.encode(param);
        }
        e.encode(&signature.ret).u8(u8::from(signature.complete));
    }
    Arc::new(Interface { hash: e.finish(), functions })
}
