//! The editor's questions — where is this defined, what is it, who uses it, what may come
//! here — answered from the compiler's own queries. Results are byte spans in files; the
//! language server (`src/lsp`) turns them into protocol positions.
//!
//! Files the shell holds as summaries from the disk cache have no text in the database.
//! When an answer needs one (a definition in an unopened file, a caller to rename), the
//! shell supplies its text through [`Sources`]: this layer does no I/O.

mod completion;
pub mod names;
mod tokens;

use std::sync::Arc;

pub use completion::{Completion, CompletionKind, SignatureHelp, completions, signature_help};
pub use names::{FileNames, LocalKind, Occurrence, Role, Symbol, file_names};
pub use tokens::{TokenModifier, TokenType, semantic_tokens};

use crate::base::{Name, Type};
use crate::db::Db;
use crate::imports::imports_of;
use crate::parsed::{ParsedFile, parse_file};
use crate::source::{FileContents, SourceFile, Workspace};
use crate::syntax::ast;
use crate::syntax::{self, LineIndex, Span};

/// Texts of files that the database holds no text for (summaries), supplied by the shell.
pub trait Sources {
    /// The file's bytes on disk, or `None` if they cannot be read.
    fn read(&self, file: SourceFile) -> Option<Arc<[u8]>>;
}

/// A `Sources` that knows no file outside the database.
pub struct NoSources;

impl Sources for NoSources {
    fn read(&self, _: SourceFile) -> Option<Arc<[u8]>> {
        None
    }
}

/// A file's text and syntax tree.
pub struct Source {
    pub text: Arc<[u8]>,
    pub parsed: Arc<ParsedFile>,
}

/// The text and tree of `file`: from the database when it holds the text, else parsed
/// from what `sources` reads.
pub fn source(db: &dyn Db, sources: &dyn Sources, file: SourceFile) -> Option<Source> {
    match file.contents(db) {
        FileContents::Text(text) => Some(Source { text: text.clone(), parsed: parse_file(db, file).clone() }),
        FileContents::Missing(_) => None,
        FileContents::Unread => {
            let text = sources.read(file)?;
            let (ast, errors) = syntax::parse(&text);
            let lines = LineIndex::new(&text);
            Some(Source { parsed: Arc::new(ParsedFile { ast, errors, lines }), text })
        }
    }
}

/// The resolved names of `file`.
pub fn names(db: &dyn Db, sources: &dyn Sources, file: SourceFile) -> Option<Arc<FileNames>> {
    match file.contents(db) {
        FileContents::Text(_) => Some(file_names(db, file).clone()),
        FileContents::Missing(_) => None,
        FileContents::Unread => {
            let source = source(db, sources, file)?;
            Some(Arc::new(names::resolve(db, file, &source.parsed, false)))
        }
    }
}

/// A place to go to: a file and the span to select there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub file: SourceFile,
    pub span: Span,
}

/// The first definition of a function in its file's tree.
fn fn_decl<'a>(tree: &'a ast::File, name: &str) -> Option<(u32, &'a ast::FnDecl)> {
    tree.items.iter().enumerate().find_map(|(i, item)| match item {
        ast::Item::Fn(decl) if &*decl.name == name => Some((i as u32, decl)),
        _ => None,
    })
}

/// Where `symbol` is defined. An import alias and an import's path lead to the imported
/// file.
pub fn definition(db: &dyn Db, sources: &dyn Sources, from: &FileNames, symbol: &Symbol) -> Option<Target> {
    match symbol {
        Symbol::Function(function) => {
            let file = function.file(db);
            let source = source(db, sources, file)?;
            let (_, decl) = fn_decl(&source.parsed.ast, function.name(db))?;
            Some(Target { file, span: decl.name_span })
        }
        Symbol::Local { file, item, index } => Some(Target { file: *file, span: from.local(*item, *index)?.span }),
        // What `result` stands for is written in one place: the return type.
        Symbol::Result { file, item } => Some(Target { file: *file, span: from.returns(*item)?.span }),
        Symbol::Alias { file, name } => {
            let import = from.imports.iter().find(|i| i.alias == *name)?;
            match import.target {
                Some(target) => Some(Target { file: target, span: Span::default() }),
                None => Some(Target { file: *file, span: import.alias_span.unwrap_or(import.path_span) }),
            }
        }
        Symbol::Module(target) => Some(Target { file: *target, span: Span::default() }),
    }
}

/// `fn name(a: i32, b: i64) i32`, and where each parameter is in it.
pub fn signature_label(decl: &ast::FnDecl) -> (String, Vec<(u32, u32)>) {
    let mut label = format!("fn {}(", decl.name);
    let mut params = Vec::with_capacity(decl.params.len());
    for (i, param) in decl.params.iter().enumerate() {
        if i > 0 {
            label.push_str(", ");
        }
        let start = label.len() as u32;
        label.push_str(&format!("{}: {}", param.name, type_name(param.ty.ty)));
        params.push((start, label.len() as u32));
    }
    label.push_str(&format!(") {}", type_name(decl.ret.ty)));
    (label, params)
}

fn type_name(ty: Option<Type>) -> &'static str {
    ty.map_or("?", Type::name)
}

/// The `//` lines directly above byte `start` (no blank line between), without the
/// slashes and one space after them.
pub fn doc_comment(text: &[u8], lines: &LineIndex, start: u32) -> Option<String> {
    let mut line = lines.line(start);
    let mut found: Vec<String> = Vec::new();
    while line > 0 {
        line -= 1;
        let from = lines.line_start(line) as usize;
        let to = lines.line_start(line + 1) as usize;
        let text = String::from_utf8_lossy(&text[from..to.min(text.len())]);
        let Some(comment) = text.trim().strip_prefix("//") else { break };
        found.push(comment.strip_prefix(' ').unwrap_or(comment).trim_end().to_string());
    }
    found.reverse();
    (!found.is_empty()).then(|| found.join("\n"))
}

/// What hovering over a name shows, as Markdown.
pub fn hover(db: &dyn Db, sources: &dyn Sources, from: &FileNames, symbol: &Symbol) -> Option<String> {
    let code = |text: &str| format!("```mini\n{text}\n```");
    match symbol {
        Symbol::Function(function) => {
            let file = function.file(db);
            let source = source(db, sources, file)?;
            let (_, decl) = fn_decl(&source.parsed.ast, function.name(db))?;
            let mut out = code(&signature_label(decl).0);
            out.push_str(&format!("\n\nin `{}`", file.path(db)));
            if let Some(doc) = doc_comment(&source.text, &source.parsed.lines, decl.span.start) {
                out.push_str("\n\n");
                out.push_str(&doc);
            }
            Some(out)
        }
        Symbol::Local { item, index, .. } => {
            let local = from.local(*item, *index)?;
            let ty = type_name(local.ty);
            let text = match local.kind {
                LocalKind::Param => format!("{}: {ty}", local.name),
                LocalKind::Const => format!("const {}: {ty}", local.name),
                LocalKind::Var => format!("var {}: {ty}", local.name),
            };
            Some(code(&text))
        }
        Symbol::Result { item, .. } => {
            let returns = from.returns(*item)?;
            let ty = type_name(returns.ty);
            Some(format!("{}\n\nthe value `{}` returns", code(&format!("result: {ty}")), returns.function))
        }
        Symbol::Alias { name, .. } => {
            let import = from.imports.iter().find(|i| i.alias == *name)?;
            let module =
                import.target.map_or_else(|| "a file that cannot be read".to_string(), |t| format!("`{}`", t.path(db)));
            Some(format!("{}\n\nimports {module}", code(&format!("import as {name}"))))
        }
        Symbol::Module(target) => Some(format!("module `{}`", target.path(db))),
    }
}

/// The files that may mention `symbol`: for a function, its file and every file that
/// imports it; for anything else, the file it belongs to.
fn files_mentioning(db: &dyn Db, symbol: &Symbol) -> Vec<SourceFile> {
    match symbol {
        Symbol::Function(function) => {
            let home = function.file(db);
            let path = home.path(db);
            let mut files = vec![home];
            for &file in Workspace::get(db).files(db).values() {
                if file != home
                    && file.is_readable(db)
                    && imports_of(db, file).iter().any(|i| i.target.as_ref() == Some(path))
                {
                    files.push(file);
                }
            }
            files
        }
        Symbol::Local { file, .. } | Symbol::Result { file, .. } | Symbol::Alias { file, .. } => vec![*file],
        Symbol::Module(_) => Vec::new(),
    }
}

/// Every occurrence of `symbol`, file by file.
pub fn references(
    db: &dyn Db,
    sources: &dyn Sources,
    symbol: &Symbol,
    include_declaration: bool,
) -> Vec<(SourceFile, Occurrence)> {
    let mut out = Vec::new();
    for file in files_mentioning(db, symbol) {
        let Some(names) = names(db, sources, file) else { continue };
        out.extend(
            names
                .occurrences
                .iter()
                .filter(|o| o.symbol == *symbol && (include_declaration || o.role != Role::Definition))
                .map(|o| (file, o.clone())),
        );
    }
    out
}

/// A function of a file, for symbol lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FnSymbol {
    pub name: Name,
    /// The whole function.
    pub span: Span,
    pub name_span: Span,
    pub detail: String,
}

/// The functions of a file, in source order.
pub fn file_symbols(tree: &ast::File) -> Vec<FnSymbol> {
    tree.items
        .iter()
        .filter_map(|item| match item {
            ast::Item::Fn(decl) => Some(FnSymbol {
                name: decl.name.clone(),
                span: decl.span,
                name_span: decl.name_span,
                detail: signature_label(decl).0,
            }),
            ast::Item::Import(_) => None,
        })
        .collect()
}

/// Functions of every loaded file whose name contains `query` (ignoring case), up to
/// `limit`, in module path order.
pub fn workspace_symbols(db: &dyn Db, sources: &dyn Sources, query: &str, limit: usize) -> Vec<(SourceFile, FnSymbol)> {
    let query = query.to_lowercase();
    let matches = |name: &str| name.to_lowercase().contains(&query);
    let mut out = Vec::new();
    for &file in Workspace::get(db).files(db).values() {
        if out.len() >= limit {
            break;
        }
        // A summary lists its functions without the text: read it only if one matches.
        if let Some(mut names) = crate::summary::function_names(db, file)
            && !names.any(|name| matches(name))
        {
            continue;
        }
        let Some(source) = source(db, sources, file) else { continue };
        for symbol in file_symbols(&source.parsed.ast) {
            if matches(&symbol.name) && out.len() < limit {
                out.push((file, symbol));
            }
        }
    }
    out
}

/// Why a name cannot be given to something, or `None` if it can.
pub fn invalid_name(name: &str) -> Option<String> {
    let (tokens, errors) = syntax::lex(name.as_bytes());
    match tokens.as_slice() {
        [token, _eof] if errors.is_empty() && token.span == Span::new(0, name.len() as u32) => match token.kind {
            syntax::TokenKind::Ident => None,
            _ => Some(format!("'{name}' is a keyword")),
        },
        _ => {
            Some(format!("'{name}' is not a valid name: names are letters, digits and '_', not starting with a digit"))
        }
    }
}

/// The span to rename at `offset`, or why there is nothing to rename there.
pub fn prepare_rename(from: &FileNames, offset: u32) -> Result<Occurrence, String> {
    let occurrence = from.at(offset).ok_or_else(|| "there is no name here to rename".to_string())?;
    match refusal(&occurrence.symbol) {
        Some(why) => Err(why),
        None => Ok(occurrence.clone()),
    }
}

/// Why `symbol` cannot be renamed, or `None` if it can.
fn refusal(symbol: &Symbol) -> Option<String> {
    match symbol {
        Symbol::Module(_) => Some("an import's path names a file; rename the file instead".to_string()),
        Symbol::Result { .. } => Some("'result' is the language's name for the value a function returns".to_string()),
        _ => None,
    }
}

/// The edits that rename `symbol` to `new_name`: (file, span, replacement). An import
/// without `as` gets one, so that its alias can change without renaming the file.
pub fn rename(
    db: &dyn Db,
    sources: &dyn Sources,
    from: &FileNames,
    symbol: &Symbol,
    new_name: &str,
) -> Result<Vec<(SourceFile, Span, String)>, String> {
    if let Some(why) = invalid_name(new_name) {
        return Err(why);
    }
    if let Some(why) = refusal(symbol) {
        return Err(why);
    }
    let mut edits: Vec<(SourceFile, Span, String)> = references(db, sources, symbol, true)
        .into_iter()
        .map(|(file, o)| (file, o.span, new_name.to_string()))
        .collect();
    if let Symbol::Alias { file, name } = symbol {
        for import in from.imports.iter().filter(|i| i.alias == *name && i.alias_span.is_none()) {
            let end = import.path_span.end;
            edits.push((*file, Span::new(end, end), format!(" as {new_name}")));
        }
    }
    edits.sort_by_key(|(file, span, _)| (file.path(db).clone(), span.start));
    edits.dedup();
    Ok(edits)
}
