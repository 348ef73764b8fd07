//! Diagnostics as data: a file, a severity, an absolute byte span, a message and notes
//! (secondary positions in the same file). Collected per file and per program here;
//! rendered only by the shell.
//!
//! Errors and warnings come from the same queries: a function's from `fn_check`, a
//! file's own (syntax, imports, duplicate functions, unused imports) from
//! `file_diagnostics`. A summarized file has no errors, and its warnings are the ones
//! the summary recorded — so a warning does not vanish when its file comes from the
//! cache, and none of it is ever part of a hash.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::base::{Name, Note, Severity, Type};
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
    pub severity: Severity,
    /// Absolute byte offsets into the file's text.
    pub span: Span,
    pub message: String,
    /// More positions in the same file, absolute too ("first declared here").
    pub notes: Vec<Note>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Every error and warning in one file, in file order: syntax errors, import errors,
/// duplicate functions, each function's check, and unused imports.
///
/// Reads: the file's parse, the workspace's file map (to report missing imports) and
/// `fn_check` of each of its functions — or, for a summarized file, the warnings its
/// summary recorded.
#[salsa::tracked(returns(ref))]
pub fn file_diagnostics(db: &dyn Db, file: SourceFile) -> Arc<[Diagnostic]> {
    let _span = tracing::debug_span!("file_diagnostics", path = %file.path(db)).entered();
    if let Some(warnings) = summarized_warnings(db, file) {
        return warnings.into();
    }
    let parsed = parse_file(db, file);
    let path = file.path(db);
    let files = Workspace::get(db).files(db);
    let mut out: Vec<Diagnostic> = Vec::new();
    let error = |out: &mut Vec<Diagnostic>, span: Span, message: String, notes: Vec<Note>| {
        out.push(Diagnostic { file, severity: Severity::Error, span, message, notes })
    };

    for e in &parsed.errors {
        error(&mut out, e.span, e.message.clone(), Vec::new());
    }

    // Where each alias and function is first declared.
    let mut aliases: HashMap<Name, Span> = HashMap::new();
    let mut functions: HashMap<Name, Span> = HashMap::new();
    let mut used_aliases: BTreeSet<Name> = BTreeSet::new();
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
                    error(&mut out, decl.path_span, message, Vec::new());
                    continue;
                };
                match files.get(target).map(|&f| file_read_error(db, f)) {
                    Some(None) => {}
                    Some(Some(reason)) => error(
                        &mut out,
                        decl.path_span,
                        format!("cannot read imported file \"{}\": {reason}", decl.path),
                        Vec::new(),
                    ),
                    None => error(
                        &mut out,
                        decl.path_span,
                        format!("cannot read imported file \"{}\"", decl.path),
                        Vec::new(),
                    ),
                }
                let span = decl.alias.as_ref().map_or(decl.path_span, |(_, s)| *s);
                if let Some(&first) = aliases.get(&import.alias) {
                    let note = Note::new(first, format!("'{}' is first declared here", import.alias));
                    error(
                        &mut out,
                        span,
                        format!("import alias '{}' is already declared in this file", import.alias),
                        vec![note],
                    );
                } else {
                    aliases.insert(import.alias.clone(), span);
                }
            }
            ast::Item::Fn(decl) => {
                if let Some(&first) = functions.get(&decl.name) {
                    let note = Note::new(first, format!("'{}' is first declared here", decl.name));
                    error(
                        &mut out,
                        decl.name_span,
                        format!("function '{}' is already declared in this file", decl.name),
                        vec![note],
                    );
                    continue;
                }
                functions.insert(decl.name.clone(), decl.name_span);
                let function = Function::new(db, file, decl.name.clone());
                let checked = fn_check(db, function);
                used_aliases.extend(checked.used_aliases.iter().cloned());
                let base = decl.span.start;
                out.extend(checked.diagnostics.iter().map(|d| Diagnostic {
                    file,
                    severity: d.severity,
                    span: d.span.shifted(base),
                    message: d.message.clone(),
                    notes: d.notes.iter().map(|n| n.shifted(base)).collect(),
                }));
            }
        }
    }
    // An error can hide a use of an import (a misspelled alias is a use of the one it
    // meant), so unused imports are reported only in a file without errors.
    if !out.iter().any(Diagnostic::is_error) {
        out.extend(unused_imports(db, file, &parsed.ast, &used_aliases));
    }
    out.sort_by_key(|d| (d.span.start, d.span.end));
    out.into()
}

/// A warning for each import no function of the file calls through. An import that is
/// never used still makes its file part of the program; the warning says the line can
/// go (or that the file cannot be called without an alias).
fn unused_imports(db: &dyn Db, file: SourceFile, ast: &ast::File, used: &BTreeSet<Name>) -> Vec<Diagnostic> {
    let path = file.path(db);
    let mut out = Vec::new();
    for item in &ast.items {
        let ast::Item::Import(decl) = item else { continue };
        let import = import_of(path, decl);
        if used.contains(&import.alias) {
            continue;
        }
        let message = if crate::syntax::is_identifier(&import.alias) {
            format!("unused import '{}'", import.alias)
        } else {
            format!(
                "unused import \"{}\": its file name is not an identifier, so it can only be called with an alias ('as')",
                decl.path
            )
        };
        out.push(Diagnostic { file, severity: Severity::Warning, span: decl.span, message, notes: Vec::new() });
    }
    out
}

/// A summarized file's diagnostics: the warnings its summary recorded (a summary is
/// only recorded for a file without errors). `None` if the file is not summarized.
fn summarized_warnings(db: &dyn Db, file: SourceFile) -> Option<Vec<Diagnostic>> {
    let warnings = summary::warnings(db, file)?;
    Some(
        warnings
            .iter()
            .map(|w| Diagnostic {
                file,
                severity: Severity::Warning,
                span: w.span,
                message: w.message.clone(),
                notes: w.notes.clone(),
            })
            .collect(),
    )
}

/// How many of the program's files, in program order, `chunk_diagnostics` reads
/// together.
pub const DIAGNOSTIC_CHUNK: usize = 128;

/// A run of the program's files, in program order, whose diagnostics are collected
/// together. Interned with its files, so a chunk's query depends only on its own files.
#[salsa::interned(unsafe(no_lifetime), revisions = usize::MAX, debug)]
pub struct FileChunk {
    /// The position of the chunk's first file in the program.
    #[returns(copy)]
    pub start: u32,
    #[returns(ref)]
    pub files: Arc<[SourceFile]>,
}

/// The program's files in chunks of `DIAGNOSTIC_CHUNK`.
///
/// Reads: the program's files. A chunk whose files did not move is the one interned
/// before, so its diagnostics stay memoized.
#[salsa::tracked(returns(ref))]
pub fn program_chunks(db: &dyn Db, workspace: Workspace) -> Arc<[FileChunk]> {
    let files = crate::imports::program_files(db, workspace);
    files
        .chunks(DIAGNOSTIC_CHUNK)
        .enumerate()
        .map(|(i, chunk)| FileChunk::new(db, (i * DIAGNOSTIC_CHUNK) as u32, Arc::<[SourceFile]>::from(chunk)))
        .collect()
}

/// The errors and warnings of a chunk's files, in order; the entry file's include the
/// entry point's.
///
/// Reads: each file's diagnostics — a summarized file's straight from its summary, so
/// that an unchanged program costs no per-file query — and the workspace's entry.
#[salsa::tracked(returns(ref))]
pub fn chunk_diagnostics(db: &dyn Db, chunk: FileChunk) -> Arc<[Diagnostic]> {
    let _span = tracing::debug_span!("chunk_diagnostics", start = chunk.start(db)).entered();
    let entry = Workspace::get(db).entry(db);
    let mut out: Vec<Diagnostic> = Vec::new();
    for &file in chunk.files(db).iter() {
        if let Some(warnings) = summarized_warnings(db, file) {
            out.extend(warnings);
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

/// Every error and warning in the program: each file's, in program order, the entry
/// file's with the entry point's.
///
/// Reads: each chunk's diagnostics (`chunk_diagnostics`): an edit re-runs one chunk's
/// query, and the rest is verified through one edge per chunk.
#[salsa::tracked(returns(ref))]
pub fn program_diagnostics(db: &dyn Db, workspace: Workspace) -> Arc<[Diagnostic]> {
    let _span = tracing::debug_span!("program_diagnostics").entered();
    let chunks = program_chunks(db, workspace);
    chunks.iter().flat_map(|&chunk| chunk_diagnostics(db, chunk).iter().cloned()).collect()
}

/// The entry file must define `fn main() i32` or `fn main() void`. Public for the language
/// server, which reports it with the entry file's own diagnostics.
pub fn entry_point_error(db: &dyn Db, entry: SourceFile) -> Option<Diagnostic> {
    if let Some(reason) = file_read_error(db, entry) {
        return Some(Diagnostic {
            file: entry,
            severity: Severity::Error,
            span: Span::default(),
            message: format!("cannot read entry file: {reason}"),
            notes: Vec::new(),
        });
    }
    let main = Function::new(db, entry, crate::base::Name::from("main"));
    let message = match fn_signature(db, main) {
        None => "the entry file must define 'fn main() i32' or 'fn main() void'".to_string(),
        Some(sig) => {
            let ok_ret = matches!(sig.ret, Some(Type::I32 | Type::Void) | None);
            // A header that did not parse was reported; what it says is not known.
            if (sig.params.is_empty() && ok_ret) || !sig.complete {
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
    Some(Diagnostic { file: entry, severity: Severity::Error, span, message, notes: Vec::new() })
}
