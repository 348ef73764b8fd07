//! The abstract syntax tree, with absolute byte spans. Nodes that failed to parse are
//! kept as `Error` variants so later stages can keep going without cascading errors.

use super::Span;

use crate::base::{Name, Type};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Import(Import),
    Fn(FnDecl),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Import {
    /// The path exactly as written between the quotes.
    pub path: String,
    /// The span of the string literal, quotes included: errors about the file go here.
    pub path_span: Span,
    pub alias: Option<(Name, Span)>,
    pub span: Span,
}

/// A written type; `None` when it failed to parse (already reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TypeRef {
    pub ty: Option<Type>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FnDecl {
    pub name: Name,
    pub name_span: Span,
    pub params: Vec<Param>,
    pub ret: TypeRef,
    /// `requires`/`ensures` clauses, in source order, between the return type and the
    /// body.
    pub contracts: Vec<Contract>,
    pub body: Block,
    /// From `pub`/`fn` to the closing brace. ZIR positions are relative to `span.start`.
    pub span: Span,
    /// Whether the parameter list parsed: when it did not, `params` is what could be
    /// parsed, and a call cannot be checked against it.
    pub params_ok: bool,
    /// Whether the body parsed without an error: only then does its control flow mean
    /// what it says (a "missing return" in a body that failed to parse is a guess).
    pub body_ok: bool,
}

/// Whether a contract is checked on entry or at every return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContractKind {
    Requires,
    Ensures,
}

impl ContractKind {
    pub fn keyword(self) -> &'static str {
        match self {
            ContractKind::Requires => "requires",
            ContractKind::Ensures => "ensures",
        }
    }
}

/// One `requires(expr)` or `ensures(expr)` clause.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Contract {
    pub kind: ContractKind,
    pub expr: Expr,
    /// From the keyword to the closing parenthesis.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: Name,
    pub name_span: Span,
    pub ty: TypeRef,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }

    pub fn is_arithmetic(self) -> bool {
        matches!(self, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem)
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StmtKind {
    /// `const`/`var` declaration.
    Let {
        mutable: bool,
        name: Name,
        name_span: Span,
        ty: Option<TypeRef>,
        init: Expr,
    },
    /// `x = e` or, with `op`, `x op= e`.
    Assign {
        name: Name,
        name_span: Span,
        op: Option<BinOp>,
        value: Expr,
    },
    /// `if`, with every `else if` flattened into `branches` so that long chains do not
    /// nest.
    If {
        branches: Vec<(Expr, Block)>,
        else_block: Option<Block>,
    },
    While {
        cond: Expr,
        body: Block,
    },
    Break,
    Continue,
    Return(Option<Expr>),
    Block(Block),
    Expr(Expr),
    /// A statement that failed to parse (already reported).
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExprKind {
    /// The literal's value, or `None` if it does not fit in 64 bits.
    Int(Option<u64>),
    Bool(bool),
    Name(Name),
    /// `f(args)` or, with a namespace, `ns.f(args)`.
    Call {
        ns: Option<(Name, Span)>,
        name: Name,
        name_span: Span,
        args: Vec<Expr>,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Paren(Box<Expr>),
    Print(Box<Expr>),
    As {
        ty: TypeRef,
        value: Box<Expr>,
    },
    /// An expression that failed to parse (already reported).
    Error,
}
