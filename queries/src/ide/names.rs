//! Name resolution with positions: every name written in a file — definitions and uses —
//! and what it refers to. The compiler resolves names inside `fn_check` without keeping
//! where they were written; the editor needs exactly that, so this walk follows the
//! checker's scoping rules (sema/check.rs) over the syntax tree, and numbers locals the
//! way the checker does so that `CheckedFn::names` gives their types.

use std::sync::Arc;

use crate::base::Name;
use crate::db::Db;
use crate::imports::{FileScope, file_scope, import_of};
use crate::items::Function;
use crate::parsed::parse_file;
use crate::sema::fn_signature;
use crate::source::{SourceFile, Workspace};
use crate::syntax::Span;
use crate::syntax::ast;

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Symbol {
    /// A function that exists (in this file or an imported one).
    Function(Function),
    /// A parameter or local variable of the function that is item `item` of `file`;
    /// `index` numbers them as the checker does: parameters first, then each
    /// declaration in the order of a preorder walk of the body.
    Local { file: SourceFile, item: u32, index: u32 },
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalKind {
    Param,
    Const,
    Var,
}

/// A parameter or local declaration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalDecl {
    pub name: Name,
    /// The name where it is declared.
    pub span: Span,
    pub kind: LocalKind,
    pub item: u32,
    pub index: u32,
    /// Where the name is visible: from the end of its declaration to the end of its block
    /// (for a parameter, the whole body).
    pub visible: Span,
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
    pub locals: Vec<LocalDecl>,
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
        self.locals.iter().find(|l| l.item == item && l.index == index)
    }
}

/// The names of a file held as text.
///
/// Reads: the file's parse, its import scope, and the signatures of the names it calls
/// (as `fn_check` does). Nothing in the compiler reads it, so it invalidates nothing.
#[salsa::tracked(returns(ref))]
pub fn file_names(db: &dyn Db, file: SourceFile) -> Arc<FileNames> {
    let _span = tracing::debug_span!("file_names", path = %file.path(db)).entered();
    Arc::new(resolve(db, file, &parse_file(db, file).ast))
}

/// Resolves every name of `file`, whose syntax tree is `tree`. A pure function of the
/// tree and the queries it calls, for files whose tree is not in the database (a file
/// the shell holds as a summary).
pub fn resolve(db: &dyn Db, file: SourceFile, tree: &ast::File) -> FileNames {
    let mut out = FileNames::default();
    let scope = file_scope(db, file);
    let files = Workspace::get(db).files(db);
    let path = file.path(db);
    for (item, decl) in tree.items.iter().enumerate() {
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
                out.occurrences.push(Occurrence {
                    span: decl.name_span,
                    symbol: Symbol::Function(Function::new(db, file, decl.name.clone())),
                    role: Role::Definition,
                });
                let mut walk =
                    Walk { db, file, scope, item: item as u32, scopes: vec![Vec::new()], next: 0, out: &mut out };
                for param in &decl.params {
                    walk.declare(param.name.clone(), param.name_span, LocalKind::Param, decl.body.span);
                }
                walk.block(&decl.body);
            }
        }
    }
    out.occurrences.sort_by_key(|o| (o.span.start, o.span.end));
    out
}

struct Walk<'a> {
    db: &'a dyn Db,
    file: SourceFile,
    scope: &'a FileScope,
    item: u32,
    /// Names visible in each enclosing block, innermost last, as in the checker.
    scopes: Vec<Vec<(Name, u32)>>,
    next: u32,
    out: &'a mut FileNames,
}

impl Walk<'_> {
    fn lookup(&self, name: &str) -> Option<u32> {
        self.scopes.iter().rev().flat_map(|s| s.iter().rev()).find(|(n, _)| &**n == name).map(|(_, i)| *i)
    }

    fn declare(&mut self, name: Name, span: Span, kind: LocalKind, visible: Span) {
        let index = self.next;
        self.next += 1;
        self.scopes.last_mut().expect("a scope is always open").push((name.clone(), index));
        self.out.locals.push(LocalDecl { name, span, kind, item: self.item, index, visible });
        self.push(span, self.local(index), Role::Definition);
    }

    fn local(&self, index: u32) -> Symbol {
        Symbol::Local { file: self.file, item: self.item, index }
    }

    fn push(&mut self, span: Span, symbol: Symbol, role: Role) {
        self.out.occurrences.push(Occurrence { span, symbol, role });
    }

    /// The function `name` of `file`, if it exists.
    fn function(&self, file: SourceFile, name: &str) -> Option<Function> {
        let function = Function::new(self.db, file, Name::from(name));
        fn_signature(self.db, function).is_some().then_some(function)
    }

    fn block(&mut self, block: &ast::Block) {
        self.scopes.push(Vec::new());
        for stmt in &block.stmts {
            crate::with_stack(|| self.stmt(stmt, block.span));
        }
        self.scopes.pop();
    }

    fn stmt(&mut self, stmt: &ast::Stmt, block: Span) {
        match &stmt.kind {
            ast::StmtKind::Let { mutable, name, name_span, init, .. } => {
                self.expr(init);
                let kind = if *mutable { LocalKind::Var } else { LocalKind::Const };
                self.declare(name.clone(), *name_span, kind, Span::new(stmt.span.end, block.end));
            }
            ast::StmtKind::Assign { name, name_span, value, op } => {
                self.expr(value);
                if let Some(index) = self.lookup(name) {
                    let symbol = self.local(index);
                    // `x += 1` reads `x` as well; the write is what a highlight shows.
                    let _ = op;
                    self.push(*name_span, symbol, Role::Write);
                }
            }
            ast::StmtKind::If { branches, else_block } => {
                for (cond, body) in branches {
                    self.expr(cond);
                    self.block(body);
                }
                if let Some(body) = else_block {
                    self.block(body);
                }
            }
            ast::StmtKind::While { cond, body } => {
                self.expr(cond);
                self.block(body);
            }
            ast::StmtKind::Return(Some(value)) | ast::StmtKind::Expr(value) => self.expr(value),
            ast::StmtKind::Block(body) => self.block(body),
            ast::StmtKind::Return(None) | ast::StmtKind::Break | ast::StmtKind::Continue | ast::StmtKind::Error => {}
        }
    }

    fn expr(&mut self, expr: &ast::Expr) {
        crate::with_stack(|| self.expr_inner(expr));
    }

    fn expr_inner(&mut self, expr: &ast::Expr) {
        match &expr.kind {
            ast::ExprKind::Name(name) => {
                if let Some(index) = self.lookup(name) {
                    self.push(expr.span, self.local(index), Role::Read);
                } else if let Some(function) = self.function(self.file, name) {
                    self.push(expr.span, Symbol::Function(function), Role::Read);
                }
            }
            ast::ExprKind::Call { ns, name, name_span, args } => {
                self.call(ns.as_ref(), name, *name_span);
                for arg in args {
                    self.expr(arg);
                }
            }
            ast::ExprKind::Unary { operand, .. } => self.expr(operand),
            ast::ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ast::ExprKind::Paren(inner) | ast::ExprKind::Print(inner) => self.expr(inner),
            ast::ExprKind::As { value, .. } => self.expr(value),
            ast::ExprKind::Int(_) | ast::ExprKind::Bool(_) | ast::ExprKind::Error => {}
        }
    }

    /// A call's names, resolved as `Checker::resolve_call` does.
    fn call(&mut self, ns: Option<&(Name, Span)>, name: &Name, name_span: Span) {
        if let Some((ns, ns_span)) = ns {
            match self.scope.aliases.get(ns) {
                Some(target) => {
                    self.push(*ns_span, Symbol::Alias { file: self.file, name: ns.clone() }, Role::Read);
                    if let Some(function) = target.and_then(|t| self.function(t, name)) {
                        self.push(name_span, Symbol::Function(function), Role::Read);
                    }
                }
                None => {
                    if let Some(index) = self.lookup(ns) {
                        self.push(*ns_span, self.local(index), Role::Read);
                    }
                }
            }
            return;
        }
        if let Some(index) = self.lookup(name) {
            self.push(name_span, self.local(index), Role::Read);
            return;
        }
        if let Some(function) = self.function(self.file, name) {
            self.push(name_span, Symbol::Function(function), Role::Read);
            return;
        }
        // The tutorial's spelling `ns_f(…)`: an alias occurrence and a function occurrence
        // side by side, so that renaming either edits only its part.
        for (split, _) in name.match_indices('_') {
            let (alias, rest) = (&name[..split], &name[split + 1..]);
            if rest.is_empty() {
                continue;
            }
            match self.scope.aliases.get(alias) {
                Some(Some(target)) => {
                    if let Some(function) = self.function(*target, rest) {
                        let split = name_span.start + split as u32;
                        let alias_symbol = Symbol::Alias { file: self.file, name: Name::from(alias) };
                        self.push(Span::new(name_span.start, split), alias_symbol, Role::Read);
                        self.push(Span::new(split + 1, name_span.end), Symbol::Function(function), Role::Read);
                        return;
                    }
                }
                Some(None) => return,
                None => {}
            }
        }
    }
}
