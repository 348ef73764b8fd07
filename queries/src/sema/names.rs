//! What the checker resolved each written name of a function to, recorded as it
//! resolves it: the one place the language's scoping rules live, read by the editor
//! (`ide`) rather than re-implemented there.
//!
//! A name is addressed by its ZIR node (`NameSite`), not by its span. The node's span is
//! in the function's ZIR, relative to the function; the address itself does not move
//! when text inside the function moves, so an edit that only re-spaces a body leaves
//! `fn_check` equal and backdated, as it was before the checker recorded names (spans
//! here would make such an edit re-run `fn_air`, `fn_contracts` and, with `-g`, more).

use super::air::Local;
use crate::base::Type;
use crate::items::Function;
use crate::syntax::Span;
use crate::zir::{Block, ExprId, ExprKind, StmtId, StmtKind, Zir};

/// Where a name is written in a function's ZIR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameSite {
    /// The name of parameter `n`.
    Param(u32),
    /// The name a `const` or `var` statement declares.
    Let(StmtId),
    /// The variable an assignment writes.
    Assign(StmtId),
    /// A name expression.
    Name(ExprId),
    /// A call's function name: `f` in `f(…)` and in `ns.f(…)`.
    Callee(ExprId),
    /// A call's alias: `ns` in `ns.f(…)`.
    Namespace(ExprId),
    /// The alias in the tutorial's `ns_f(…)`: the call's name up to byte `len`.
    AliasPrefix(ExprId, u32),
    /// The function in `ns_f(…)`: the call's name from byte `skip` on.
    FunctionSuffix(ExprId, u32),
}

impl NameSite {
    /// The name as written at the site.
    /// `None` only if `zir` is not the ZIR the site was recorded from.
    pub fn text(self, zir: &Zir) -> Option<&str> {
        let stmt = |id: StmtId| zir.stmts.get(id.0 as usize).map(|s| &s.kind);
        let call = |id: ExprId| match &zir.exprs.get(id.0 as usize)?.kind {
            ExprKind::Call { ns, name, .. } => Some((ns.as_ref().map(|(n, _)| n), name)),
            _ => None,
        };
        match self {
            NameSite::Param(n) => zir.params.get(n as usize).map(|p| &*p.name),
            NameSite::Let(id) => match stmt(id)? {
                StmtKind::Let { name, .. } => Some(name),
                _ => None,
            },
            NameSite::Assign(id) => match stmt(id)? {
                StmtKind::Assign { name, .. } => Some(name),
                _ => None,
            },
            NameSite::Name(id) => match &zir.exprs.get(id.0 as usize)?.kind {
                ExprKind::Name(name) => Some(name),
                _ => None,
            },
            NameSite::Callee(id) => call(id).map(|(_, name)| &**name),
            NameSite::Namespace(id) => call(id)?.0.map(|ns| &**ns),
            NameSite::AliasPrefix(id, len) => call(id)?.1.get(..len as usize),
            NameSite::FunctionSuffix(id, skip) => call(id)?.1.get(skip as usize..),
        }
    }

    /// The span of the name, relative to the function like every span of its ZIR.
    /// `None` only if `zir` is not the ZIR the site was recorded from.
    pub fn span(self, zir: &Zir) -> Option<Span> {
        let stmt = |id: StmtId| zir.stmts.get(id.0 as usize).map(|s| &s.kind);
        let expr = |id: ExprId| zir.exprs.get(id.0 as usize);
        let call = |id: ExprId| match &expr(id)?.kind {
            ExprKind::Call { ns, name_span, .. } => Some((ns.as_ref().map(|(_, s)| *s), *name_span)),
            _ => None,
        };
        match self {
            NameSite::Param(n) => zir.params.get(n as usize).map(|p| p.span),
            NameSite::Let(id) => match stmt(id)? {
                StmtKind::Let { name_span, .. } => Some(*name_span),
                _ => None,
            },
            NameSite::Assign(id) => match stmt(id)? {
                StmtKind::Assign { name_span, .. } => Some(*name_span),
                _ => None,
            },
            NameSite::Name(id) => expr(id).map(|e| e.span),
            NameSite::Callee(id) => call(id).map(|(_, name)| name),
            NameSite::Namespace(id) => call(id)?.0,
            NameSite::AliasPrefix(id, len) => {
                let (_, name) = call(id)?;
                Some(Span::new(name.start, name.start + len))
            }
            NameSite::FunctionSuffix(id, skip) => {
                let (_, name) = call(id)?;
                Some(Span::new(name.start + skip, name.end))
            }
        }
    }
}

/// What a written name refers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// A parameter or local: its slot, as in AIR (parameters first).
    Local(Local),
    /// `result` in an `ensures` clause: the value the function returns.
    Result,
    /// A function of this file or, through an import alias, of an imported one.
    Function(Function),
    /// An import alias of this file: the name written at the site.
    Alias,
}

/// Whether a use of a name reads it or writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
}

/// One written name the checker resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NameUse {
    pub site: NameSite,
    pub to: Resolution,
    pub access: Access,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalKind {
    Param,
    Const,
    Var,
}

/// A parameter or local, as the checker declared it; its name is the one written at
/// `site`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalDecl {
    pub kind: LocalKind,
    /// `None` where the type is an error.
    pub ty: Option<Type>,
    /// Where it is declared: a `Param` or a `Let`.
    pub site: NameSite,
    /// The scope it is declared in (an index into `FnNames::scopes`).
    pub scope: u32,
}

/// A block the checker opened a scope for, by the statement that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockSite {
    /// The function's body.
    Body,
    /// The block of branch `n` of an `if` (`if` first, then each `else if`).
    Branch(StmtId, u32),
    /// An `if`'s `else` block.
    Else(StmtId),
    /// A `while` loop's body.
    Loop(StmtId),
    /// A block statement.
    Nested(StmtId),
}

impl BlockSite {
    /// The block in `zir`; `None` only if `zir` is not the ZIR the site was recorded from.
    pub fn block(self, zir: &Zir) -> Option<&Block> {
        let stmt = |id: StmtId| zir.stmts.get(id.0 as usize).map(|s| &s.kind);
        match self {
            BlockSite::Body => Some(&zir.body),
            BlockSite::Branch(id, n) => match stmt(id)? {
                StmtKind::If { branches, .. } => branches.get(n as usize).map(|(_, b)| b),
                _ => None,
            },
            BlockSite::Else(id) => match stmt(id)? {
                StmtKind::If { else_block, .. } => else_block.as_ref(),
                _ => None,
            },
            BlockSite::Loop(id) => match stmt(id)? {
                StmtKind::While { body, .. } => Some(body),
                _ => None,
            },
            BlockSite::Nested(id) => match stmt(id)? {
                StmtKind::Block(block) => Some(block),
                _ => None,
            },
        }
    }
}

/// A scope the checker opened. A local is visible in its scope, from the end of the
/// statement that declares it (a parameter: everywhere in it), and in the scopes inside.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The block; `None` for the parameters' scope, which holds the body and the
    /// contract clauses (they see the parameters alone).
    pub block: Option<BlockSite>,
    /// The enclosing scope; `None` only for the parameters'.
    pub parent: Option<u32>,
}

/// Every name of one function as the checker resolved it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FnNames {
    /// Each use of a name that resolved (or that resolved to the wrong kind of thing,
    /// as `f` in `f = 1`), in the order the checker met them; declarations are in
    /// `locals`.
    pub uses: Vec<NameUse>,
    /// Every parameter and local, by slot (`Local`).
    pub locals: Vec<LocalDecl>,
    /// Every scope, the parameters' first; each after its parent.
    pub scopes: Vec<Scope>,
}
