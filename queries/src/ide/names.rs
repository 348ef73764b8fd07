//! Name resolution with positions: every name written in a file — definitions and uses —
//! and what it refers to. Nothing here resolves a name: inside functions, every answer
//! is what the checker recorded as it resolved the name (`CheckedFn::names`, addressed
//! by ZIR node), placed at its absolute position; the file-level facts — import
//! declarations and their aliases, function definitions — come from the syntax tree.
//! So the language's scoping rules live in one place, `sema/check.rs`.

use std::sync::Arc;

use crate::base::{Name, Type};
use crate::db::Db;
use crate::imports::import_of;
use crate::items::{Function, file_functions};
use crate::parsed::{ParsedFile, parse_file};
use crate::sema::names::{Access, NameSite, Resolution};
use crate::sema::{CheckedFn, check_unmemoized, fn_check};
use crate::source::{SourceFile, Workspace};
use crate::syntax::Span;
use crate::syntax::ast;
use crate::zir::{self, Zir, fn_zir};

pub use crate::sema::LocalKind;

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Symbol {
    /// A function that exists (in this file or an imported one).
    Function(Function),
    /// A parameter or local variable of the function that is item `item` of `file`;
    /// `index` is its slot in the checker (parameters first).
    Local { file: SourceFile, item: u32, index: u32 },
    /// `result` in an `ensures` clause of the function that is item `item` of `file`.
    Result { file: SourceFile, item: u32 },
    /// An import alias of `file`.
    Alias { file: SourceFile, name: Name },
    /// A file, named by an import's path.
    Module(SourceFile),
}

/// How a name is used where it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Definition,
    Read,
    Write,
}

/// One written name and what it refers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Occurrence {
    pub span: Span,
    pub symbol: Symbol,
    pub role: Role,
}

/// A parameter or local declaration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalDecl {
    pub name: Name,
    /// The name where it is declared.
    pub span: Span,
    pub kind: LocalKind,
    /// The checker's type for it; `None` where that is an error.
    pub ty: Option<Type>,
    pub item: u32,
    pub index: u32,
    /// The scope it is declared in (an index into `FileNames::scopes`).
    pub scope: u32,
    /// Where it becomes visible in its scope: the end of its declaration (a parameter:
    /// the start of the scope).
    pub from: u32,
}

/// A scope the checker opened, placed in the file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScopeRange {
    pub item: u32,
    /// A block from `{` to `}`; the parameters' scope runs from the first contract
    /// clause (or the body) to the end of the body.
    pub span: Span,
    /// The enclosing scope (an index into `FileNames::scopes`).
    pub parent: Option<u32>,
}

/// What `result` is in a function's `ensures`: its return type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReturnDecl {
    pub item: u32,
    pub function: Name,
    /// The written return type.
    pub span: Span,
    pub ty: Option<Type>,
}

/// One import declaration of the file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImportDecl {
    pub alias: Name,
    /// The written alias, or `None` when the alias is the file's stem.
    pub alias_span: Option<Span>,
    /// The path string, quotes included.
    pub path_span: Span,
    pub target: Option<SourceFile>,
}

/// Every name of a file, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileNames {
    /// Sorted by start; spans never overlap.
    pub occurrences: Vec<Occurrence>,
    /// Sorted by item, then index.
    pub locals: Vec<LocalDecl>,
    /// Each function's, its parameters' scope first; a parent before its children.
    pub scopes: Vec<ScopeRange>,
    /// One for each function.
    pub returns: Vec<ReturnDecl>,
    pub imports: Vec<ImportDecl>,
}

impl FileNames {
    /// The occurrence under `offset`: one that contains it, or else one that ends there
    /// (the cursor just after a name).
    pub fn at(&self, offset: u32) -> Option<&Occurrence> {
        let after = self.occurrences.partition_point(|o| o.span.start <= offset);
        let candidates = &self.occurrences[..after];
        let last = candidates.last()?;
        (offset <= last.span.end).then_some(last)
    }

    pub fn local(&self, item: u32, index: u32) -> Option<&LocalDecl> {
        let at = self.locals.binary_search_by_key(&(item, index), |l| (l.item, l.index)).ok()?;
        Some(&self.locals[at])
    }

    pub fn returns(&self, item: u32) -> Option<&ReturnDecl> {
        self.returns.iter().find(|r| r.item == item)
    }

    /// The parameters and locals visible at `offset`, by the scopes the checker
    /// recorded: those of the innermost scope around it and of the scopes enclosing that
    /// one, each once it is declared. The latest declared first, so an inner name comes
    /// before an outer one of the same name it hides.
    pub fn in_scope(&self, offset: u32) -> Vec<&LocalDecl> {
        let contains = |s: &ScopeRange| s.span.start <= offset && offset <= s.span.end;
        // Scopes nest, and a child comes after its parent: the last one around `offset`
        // is the innermost.
        let Some(innermost) = self.scopes.iter().rposition(contains) else { return Vec::new() };
        let mut chain = Vec::new();
        let mut scope = Some(innermost as u32);
        while let Some(s) = scope {
            chain.push(s);
            scope = self.scopes[s as usize].parent;
        }
        let mut visible: Vec<&LocalDecl> =
            self.locals.iter().filter(|l| chain.contains(&l.scope) && l.from <= offset).collect();
        visible.sort_by_key(|l| std::cmp::Reverse(l.from));
        visible
    }
}

/// The names of a file held as text.
///
/// Reads: the file's parse and function index, and each function's `fn_zir` and
/// `fn_check` (a second definition of a name, which no query checks, is checked here).
/// Nothing in the compiler reads it, so it invalidates nothing.
#[salsa::tracked(returns(ref))]
pub fn file_names(db: &dyn Db, file: SourceFile) -> Arc<FileNames> {
    let _span = tracing::debug_span!("file_names", path = %file.path(db)).entered();
    Arc::new(resolve(db, file, parse_file(db, file), true))
}

/// Places every name of `file`, parsed as `parsed`. With `in_database`, the file's text
/// is the database's and its functions' checks are the memoized `fn_check`; without, the
/// file is held as a summary (its text read from disk by the shell) and each function
/// is lowered and checked here, by the same checker.
pub fn resolve(db: &dyn Db, file: SourceFile, parsed: &ParsedFile, in_database: bool) -> FileNames {
    let mut out = FileNames::default();
    let files = Workspace::get(db).files(db);
    let path = file.path(db);
    for (item, decl) in parsed.ast.items.iter().enumerate() {
        match decl {
            ast::Item::Import(import) => {
                let resolved = import_of(path, import);
                let target = resolved.target.as_ref().and_then(|t| files.get(t)).copied();
                if let Some(target) = target {
                    out.occurrences.push(Occurrence {
                        span: import.path_span,
                        symbol: Symbol::Module(target),
                        role: Role::Read,
                    });
                }
                if let Some((name, span)) = &import.alias {
                    out.occurrences.push(Occurrence {
                        span: *span,
                        symbol: Symbol::Alias { file, name: name.clone() },
                        role: Role::Definition,
                    });
                }
                out.imports.push(ImportDecl {
                    alias: resolved.alias,
                    alias_span: import.alias.as_ref().map(|(_, s)| *s),
                    path_span: import.path_span,
                    target,
                });
            }
            ast::Item::Fn(decl) => {
                let function = Function::new(db, file, decl.name.clone());
                out.occurrences.push(Occurrence {
                    span: decl.name_span,
                    symbol: Symbol::Function(function),
                    role: Role::Definition,
                });
                let memoized = in_database && file_functions(db, file).item_index(&decl.name) == Some(item);
                match memoized.then(|| fn_zir(db, function).as_ref()).flatten() {
                    Some(zir) => place(file, item as u32, decl.span.start, zir, fn_check(db, function), &mut out),
                    None => {
                        let zir = zir::lower(decl, &parsed.lines);
                        let checked = check_unmemoized(db, function, &zir);
                        place(file, item as u32, decl.span.start, &zir, &checked, &mut out);
                    }
                }
            }
        }
    }
    out.occurrences.sort_by_key(|o| (o.span.start, o.span.end));
    out.occurrences.dedup();
    out
}

/// Adds the names the checker recorded for the function that is item `item`, whose ZIR
/// is `zir` and which starts at byte `base`.
fn place(file: SourceFile, item: u32, base: u32, zir: &Zir, checked: &CheckedFn, out: &mut FileNames) {
    let names = &checked.names;
    let at = |span: Span| span.shifted(base);
    out.returns.push(ReturnDecl { item, function: zir.name.clone(), span: at(zir.ret_span), ty: zir.ret });

    // Scopes, renumbered into the file's list.
    let first_scope = out.scopes.len() as u32;
    let clauses = zir.contracts.iter().map(|c| c.span.start);
    let params_start = clauses.chain([zir.body.span.start]).min().unwrap_or(zir.body.span.start);
    for scope in &names.scopes {
        let span = match scope.block {
            None => Span::new(params_start, zir.body.span.end),
            Some(block) => block.block(zir).map_or(Span::default(), |b| b.span),
        };
        out.scopes.push(ScopeRange { item, span: at(span), parent: scope.parent.map(|p| first_scope + p) });
    }

    for (index, local) in names.locals.iter().enumerate() {
        let (Some(span), Some(name)) = (local.site.span(zir), local.site.text(zir)) else { continue };
        let from = match local.site {
            NameSite::Let(stmt) => zir.stmt(stmt).span.end,
            _ => params_start,
        };
        let index = index as u32;
        out.locals.push(LocalDecl {
            name: Name::from(name),
            span: at(span),
            kind: local.kind,
            ty: local.ty,
            item,
            index,
            scope: first_scope + local.scope,
            from: from + base,
        });
        out.occurrences.push(Occurrence {
            span: at(span),
            symbol: Symbol::Local { file, item, index },
            role: Role::Definition,
        });
    }

    for name in &names.uses {
        let Some(span) = name.site.span(zir) else { continue };
        let symbol = match &name.to {
            Resolution::Local(local) => Symbol::Local { file, item, index: local.0 },
            Resolution::Result => Symbol::Result { file, item },
            Resolution::Function(function) => Symbol::Function(*function),
            Resolution::Alias => match name.site.text(zir) {
                Some(alias) => Symbol::Alias { file, name: Name::from(alias) },
                None => continue,
            },
        };
        let role = match name.access {
            Access::Read => Role::Read,
            Access::Write => Role::Write,
        };
        out.occurrences.push(Occurrence { span: at(span), symbol, role });
    }
}
