//! What code generation reads for one function, and nothing else: its AIR, the build
//! settings, with `-g` where it is, and with contracts on its contracts. `fn_hash`
//! encodes exactly this and `fn_object`, `batch_objects` and `fn_llvm_ir` compile
//! exactly this, so "equal hashes mean equal objects" holds by construction rather than
//! by keeping two lists of reads in step.

use std::sync::Arc;

use crate::db::Db;
use crate::items::{Function, file_functions};
use crate::parsed::parse_file;
use crate::sema::{Air, Contracts, fn_air, fn_check, fn_contracts};
use crate::source::{BuildSettings, CodegenSettings};
use crate::syntax::ast;

/// A function's code-generation input. Borrowed from the memos it is made of: it is a
/// view over `fn_air`, the settings input and `fn_debug_info`, not a query of its own —
/// a memo would copy `fn_air`'s and cost one more query per function on a cold build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodegenInput<'db> {
    pub air: &'db Air,
    pub settings: &'db CodegenSettings,
    /// Present exactly when `settings.debug_info` is on.
    pub debug: Option<&'db DebugInfo>,
    /// Present exactly when contracts are on and the function has some.
    pub contracts: Option<ContractInput<'db>>,
}

/// What contracts add to a function's code: its checked clauses — apart from its AIR —
/// and, with `-g`, each clause's line relative to the function's first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContractInput<'db> {
    pub contracts: &'db Contracts,
    pub lines: Option<&'db [u32]>,
}

/// The function's code-generation input; `None` if it has errors.
///
/// Reads: `fn_air`, the build settings, and `fn_debug_info` only when `-g` is on — so
/// without `-g`, neither comments, nor whitespace, nor the function's position reach
/// code generation. Then the contracts setting, and `fn_contracts` only when it is on:
/// with contracts off, code generation reads nothing of them — an edit to a contract
/// re-runs nothing here, and a function's input is what it would be without any.
pub fn fn_codegen_input(db: &dyn Db, function: Function) -> Option<CodegenInput<'_>> {
    let air = fn_air(db, function).as_deref()?;
    let build = BuildSettings::get(db);
    let settings = build.codegen(db);
    let debug = if settings.debug_info { Some(fn_debug_info(db, function).as_ref()?) } else { None };
    let contracts = match build.contracts(db) {
        true => fn_contracts(db, function).as_deref().map(|contracts| ContractInput {
            contracts,
            lines: settings.debug_info.then(|| &**fn_contract_lines(db, function)),
        }),
        false => None,
    };
    Some(CodegenInput { air, settings, debug, contracts })
}

/// What `-g` adds to a function's code: where it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DebugInfo {
    pub file: String,
    /// 0-based line of the function's first token.
    pub base_line: u32,
    /// Line of each AIR statement relative to `base_line`.
    pub lines: Arc<[u32]>,
}

/// Each contract clause's line, relative to the function's first line: a firewall like
/// `fn_air`. Asked only when debug info and contracts are on.
///
/// Reads: the function's check.
#[salsa::tracked(returns(ref))]
pub fn fn_contract_lines(db: &dyn Db, function: Function) -> Arc<[u32]> {
    let _span = tracing::debug_span!("fn_contract_lines", function = %function.qualified_name(db)).entered();
    fn_check(db, function).contract_lines.clone()
}

/// The function's position for debug info. Asked only when debug info is on.
///
/// Reads: the function's check (for statement lines) and its file's parse (for its
/// first line) — so with `-g`, inserting a line above a function regenerates it.
#[salsa::tracked(returns(ref))]
pub fn fn_debug_info(db: &dyn Db, function: Function) -> Option<DebugInfo> {
    let _span = tracing::debug_span!("fn_debug_info", function = %function.qualified_name(db)).entered();
    let file = function.file(db);
    let parsed = parse_file(db, file);
    let index = file_functions(db, file).item_index(function.name(db))?;
    let ast::Item::Fn(decl) = &parsed.ast.items[index] else {
        return None;
    };
    Some(DebugInfo {
        file: file.path(db).to_string(),
        base_line: parsed.lines.line(decl.span.start),
        lines: fn_check(db, function).lines.clone(),
    })
}
