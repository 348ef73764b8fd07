//! AIR: one function's typed, resolved IR — everything code generation reads, and
//! nothing else. Locals are slots, calls name their callee's module, name and
//! signature, literals carry their final value. No positions: moving or re-spacing a
//! function leaves its AIR equal, and its hash with it.

use crate::base::{ModulePath, Name, Type};
use crate::syntax::ast::ContractKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AExprId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AStmtId(pub u32);

/// A local slot; parameters occupy the first slots, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Local(pub u32);

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Air {
    pub module: ModulePath,
    pub name: Name,
    pub params: Vec<Type>,
    pub ret: Type,
    /// Types of every slot, parameters first.
    pub locals: Vec<Type>,
    /// Every function this one calls, each once.
    pub callees: Vec<Callee>,
    pub exprs: Vec<AExpr>,
    pub stmts: Vec<AStmt>,
    pub body: Vec<AStmtId>,
}

impl Air {
    pub fn expr(&self, id: AExprId) -> &AExpr {
        &self.exprs[id.0 as usize]
    }

    pub fn stmt(&self, id: AStmtId) -> &AStmt {
        &self.stmts[id.0 as usize]
    }
}

/// A function's checked contracts. They live apart from its body's AIR — their own
/// expressions, their own callees — so that the body's AIR, and with contracts off the
/// function's hash, is the same as if the function had none, and an edit to a contract
/// changes nothing the body's code depends on. Parameters are the body's first slots;
/// `AExprKind::Result` is the value being returned (only in `ensures`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Contracts {
    /// Every function the contracts call, each once.
    pub callees: Vec<Callee>,
    pub exprs: Vec<AExpr>,
    /// In source order.
    pub clauses: Vec<Clause>,
}

impl Contracts {
    pub fn expr(&self, id: AExprId) -> &AExpr {
        &self.exprs[id.0 as usize]
    }

    /// The clauses of one kind, in source order, with their index in `clauses`.
    pub fn of_kind(&self, kind: ContractKind) -> impl Iterator<Item = (usize, &Clause)> {
        self.clauses.iter().enumerate().filter(move |(_, c)| c.kind == kind)
    }
}

/// One `requires` or `ensures`: a `bool` expression.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Clause {
    pub kind: ContractKind,
    pub expr: AExprId,
}

/// A called function as code generation sees it: enough to declare and call it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Callee {
    pub module: ModulePath,
    pub name: Name,
    pub params: Vec<Type>,
    pub ret: Type,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AExpr {
    pub kind: AExprKind,
    pub ty: Type,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub enum AExprKind {
    /// An integer constant, sign-extended to 64 bits; its type says how wide it is.
    Int(i64),
    Bool(bool),
    Local(Local),
    /// A call; `callee` indexes `Air::callees`.
    Call {
        callee: u32,
        /// Boxed, not a vector: a call is the largest expression, and AIR is kept
        /// until code is generated.
        args: Box<[AExprId]>,
    },
    Neg(AExprId),
    Not(AExprId),
    Arith {
        op: ArithOp,
        lhs: AExprId,
        rhs: AExprId,
    },
    /// Compares two operands of the same type (integers, or booleans for `==`/`!=`).
    Compare {
        op: CmpOp,
        lhs: AExprId,
        rhs: AExprId,
    },
    And(AExprId, AExprId),
    Or(AExprId, AExprId),
    Print(AExprId),
    /// Converts between `i32` and `i64`: the operand's type to this expression's type.
    Cast(AExprId),
    /// The value being returned, in an `ensures` clause; never in a body.
    Result,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub enum AStmt {
    /// A declaration's initializer or an assignment.
    Store {
        local: Local,
        value: AExprId,
    },
    If {
        branches: Vec<(AExprId, Vec<AStmtId>)>,
        else_block: Option<Vec<AStmtId>>,
    },
    While {
        cond: AExprId,
        body: Vec<AStmtId>,
    },
    Break,
    Continue,
    Return(Option<AExprId>),
    Block(Vec<AStmtId>),
    Expr(AExprId),
}
