//! Diagnostics as data: a file, an absolute byte span and a message. Collected per file
//! and per program here; rendered only by the shell.

use std::collections::HashSet;
use std::sync::Arc;

use crate::base::Type;
use crate::db::Db;
use crate::imports::{file_read_error, import_of};
use crate::items::Function;
use crate::parsed::parse_file;
use crate::sema::{fn_check, fn_signature};
use crate::source::{SourceFile, Workspace};
use crate::summary;
use crate::syntax::Span;
use crate::syntax::ast;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub file: SourceFile,
    /// Absolute byte offsets into the file's text.
    pub span: Span,
    pub message: String,
}

/// Every error in one file, in file order: syntax errors, import errors, duplicate
/// functions, and each function's check.
///
/// Reads: the file's parse, the workspace's file map (to report missing imports) and
/// `fn_check` of each of its functions.
#[salsa::tracked(returns(ref))]
pub fn file_diagnostics(db: &dyn Db, file: SourceFile) -> Arc<[Diagnostic]> {
    let _span = tracing::debug_span!("file_diagnostics", path = %file.path(db)).entered();
    if summary::is_summarized(db, file) {
        // Summaries are only recorded for files without errors.
        return Arc::from([]);
    }
    let parsed = parse_file(db, file);
    let path = file.path(db);
    let files = Workspace::get(db).files(db);
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut error = |span: Span, message: String| out.push(Diagnostic { file, span, message });

    for e in &parsed.errors {
        error(e.span, e.message.clone());
    }

    let mut aliases = HashSet::new();
    let mut functions = HashSet::new();
    for item in &parsed.ast.items {
        match item {
            ast::Item::Import(decl) => {
                let import = import_of(path, decl);
                let Some(target) = &import.target else {
                    let message = if decl.path.is_empty() {
                        "import path is empty".to_string()
                    } else {
                        format!("import path \"{}\" must be relative to this file's directory", decl.path)
                    };
                    error(decl.path_span, message);
                    continue;
                };
                match files.get(target).map(|&f| file_read_error(db, f)) {
                    Some(None) => {}
                    Some(Some(reason)) => {
                        error(decl.path_span, format!("cannot read imported file \"{}\": {reason}", decl.path))
                    }
                    None => error(decl.path_span, format!("cannot read imported file \"{}\"", decl.path)),
                }
                if !aliases.insert(import.alias.clone()) {
                    let span = decl.alias.as_ref().map_or(decl.path_span, |(_, s)| *s);
                    error(span, format!("import alias '{}' is already declared in this file", import.alias));
                }
            }
            ast::Item::Fn(decl) => {
                if !functions.insert(decl.name.clone()) {
                    error(decl.name_span, format!("function '{}' is already declared in this file", decl.name));
                    continue;
                }
                let function = Function::new(db, file, decl.name.clone());
                for d in &fn_check(db, function).diagnostics {
                    error(d.span.shifted(decl.span.start), d.message.clone());
                }
            }
        }
    }
    out.sort_by_key(|d| (d.span.start, d.span.end));
    out.into()
}

/// Every error in the program: each file's, in program order, then the entry point's.
#[salsa::tracked(returns(ref))]
pub fn program_diagnostics(db: &dyn Db, workspace: Workspace) -> Arc<[Diagnostic]> {
    let _span = tracing::debug_span!("program_diagnostics").entered();
    let entry = workspace.entry(db);
    let mut out: Vec<Diagnostic> = Vec::new();
    for &file in crate::imports::program_files(db, workspace).iter() {
        if summary::is_summarized(db, file) {
            continue;
        }
        let start = out.len();
        out.extend(file_diagnostics(db, file).iter().cloned());
        if file == entry {
            out.extend(entry_point_error(db, entry));
            out[start..].sort_by_key(|d| d.span.start);
        }
    }
    out.into()
}

/// The entry file must define `fn main() i32` or `fn main() void`. Public for the language
/// server, which reports it with the entry file's own diagnostics.
pub fn entry_point_error(db: &dyn Db, entry: SourceFile) -> Option<Diagnostic> {
    if let Some(reason) = file_read_error(db, entry) {
        return Some(Diagnostic {
            file: entry,
            span: Span::default(),
            message: format!("cannot read entry file: {reason}"),
        });
    }
    let main = Function::new(db, entry, crate::base::Name::from("main"));
    let message = match fn_signature(db, main) {
        None => "the entry file must define 'fn main() i32' or 'fn main() void'".to_string(),
        Some(sig) => {
            let ok_ret = matches!(sig.ret, Some(Type::I32 | Type::Void) | None);
            if sig.params.is_empty() && ok_ret {
                return None;
            }
            "'main' must be declared as 'fn main() i32' or 'fn main() void'".to_string()
        }
    };
    let span = parse_file(db, entry)
        .ast
        .items
        .iter()
        .find_map(|item| match item {
            ast::Item::Fn(decl) if &*decl.name == "main" => Some(decl.name_span),
            _ => None,
        })
        .unwrap_or_default();
    Some(Diagnostic { file: entry, span, message })
}
