//! Keys of code generation's outputs: each function's hash is blake3 over the canonical
//! encoding of its code-generation input (`codegen_input`), which names and types its
//! callees; the runtime's, `_start`'s and the entry wrapper's keys cover their settings.
//! Equal hashes mean byte-identical objects, so the hash is the cache key.

use std::sync::Arc;

use crate::base::{Encode, Encoder, Hash, Name};
use crate::codegen_input::{CodegenInput, ContractInput, DebugInfo, fn_codegen_input};
use crate::db::Db;
use crate::items::Function;
use crate::sema::air::{AExpr, AExprKind, AStmt, AStmtId, Air, ArithOp, Callee, CmpOp, Contracts};
use crate::source::{BuildSettings, Workspace};
use crate::syntax::ast::{BinOp, ContractKind, UnOp};
use crate::zir::{self, Zir};

impl Encode for DebugInfo {
    fn encode(&self, e: &mut Encoder) {
        e.str(&self.file).u32(self.base_line).u64(self.lines.len() as u64);
        for line in self.lines.iter() {
            e.u32(*line);
        }
    }
}

impl Encode for Callee {
    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.module).str(&self.name).encode(&self.params).encode(&self.ret);
    }
}

impl Encode for AStmtId {
    fn encode(&self, e: &mut Encoder) {
        e.u32(self.0);
    }
}

impl Encode for Air {
    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.module).str(&self.name).encode(&self.params).encode(&self.ret);
        e.encode(&self.locals).encode(&self.callees).encode(&self.exprs).encode(&self.stmts).encode(&self.body);
    }
}

impl Encode for AExpr {
    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.ty);
        match &self.kind {
            AExprKind::Int(value) => e.u8(1).u64(*value as u64),
            AExprKind::Bool(value) => e.u8(2).u8(u8::from(*value)),
            AExprKind::Local(local) => e.u8(3).u32(local.0),
            AExprKind::Call { callee, args } => {
                e.u8(4).u32(*callee).u64(args.len() as u64);
                for arg in args {
                    e.u32(arg.0);
                }
                e
            }
            AExprKind::Neg(x) => e.u8(5).u32(x.0),
            AExprKind::Not(x) => e.u8(6).u32(x.0),
            AExprKind::Arith { op, lhs, rhs } => {
                let op = match op {
                    ArithOp::Add => 1,
                    ArithOp::Sub => 2,
                    ArithOp::Mul => 3,
                    ArithOp::Div => 4,
                    ArithOp::Rem => 5,
                };
                e.u8(7).u8(op).u32(lhs.0).u32(rhs.0)
            }
            AExprKind::Compare { op, lhs, rhs } => {
                let op = match op {
                    CmpOp::Eq => 1,
                    CmpOp::Ne => 2,
                    CmpOp::Lt => 3,
                    CmpOp::Le => 4,
                    CmpOp::Gt => 5,
                    CmpOp::Ge => 6,
                };
                e.u8(8).u8(op).u32(lhs.0).u32(rhs.0)
            }
            AExprKind::And(l, r) => e.u8(9).u32(l.0).u32(r.0),
            AExprKind::Or(l, r) => e.u8(10).u32(l.0).u32(r.0),
            AExprKind::Print(x) => e.u8(11).u32(x.0),
            AExprKind::Cast(x) => e.u8(12).u32(x.0),
            AExprKind::Result => e.u8(13),
        };
    }
}

impl Encode for AStmt {
    fn encode(&self, e: &mut Encoder) {
        match self {
            AStmt::Store { local, value } => {
                e.u8(1).u32(local.0).u32(value.0);
            }
            AStmt::If { branches, else_block } => {
                e.u8(2).u64(branches.len() as u64);
                for (cond, body) in branches {
                    e.u32(cond.0).encode(body);
                }
                e.encode(else_block);
            }
            AStmt::While { cond, body } => {
                e.u8(3).u32(cond.0).encode(body);
            }
            AStmt::Break => {
                e.u8(4);
            }
            AStmt::Continue => {
                e.u8(5);
            }
            AStmt::Return(value) => {
                e.u8(6).encode(&value.map(|v| v.0));
            }
            AStmt::Block(body) => {
                e.u8(7).encode(body);
            }
            AStmt::Expr(value) => {
                e.u8(8).u32(value.0);
            }
        }
    }
}

impl Encode for Contracts {
    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.callees).encode(&self.exprs).u64(self.clauses.len() as u64);
        for clause in &self.clauses {
            e.encode(&clause.kind).u32(clause.expr.0);
        }
    }
}

impl Encode for ContractKind {
    fn encode(&self, e: &mut Encoder) {
        e.u8(match self {
            ContractKind::Requires => 1,
            ContractKind::Ensures => 2,
        });
    }
}

impl Encode for ContractInput<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.str("contracts").encode(self.contracts);
        // Present exactly when the settings (encoded first) ask for debug info.
        if let Some(lines) = self.lines {
            e.encode(lines);
        }
    }
}

impl Encode for CodegenInput<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.encode(self.settings).encode(self.air).encode(&self.debug);
        // Last, and only when present: a function whose contracts are off, or that has
        // none, encodes exactly as it would without any — nothing else can follow.
        if let Some(contracts) = &self.contracts {
            e.encode(contracts);
        }
    }
}

/// The function's hash, or `None` if it has errors.
///
/// Reads: the function's code-generation input and nothing else (see `codegen_input`):
/// not its position (without `-g`), not its comments, not other functions' bodies.
#[salsa::tracked(returns(copy))]
pub fn fn_hash(db: &dyn Db, function: Function) -> Option<Hash> {
    let _span = tracing::debug_span!("fn_hash", function = %function.qualified_name(db)).entered();
    if let Some(hash) = crate::summary::function_hash(db, function.file(db), function.name(db)) {
        return hash;
    }
    let input = fn_input_bytes(db, function).as_deref()?;
    Some(Encoder::new("mini function object").raw(input).finish())
}

/// The function's code-generation input, encoded (`input_bytes`); `None` if it has
/// errors. What its hash covers and what the code generator is sent, encoded once for
/// both — and what a large one-shot build keeps of a function once it is checked: a
/// few hundred bytes, where its AIR took a kilobyte or more (`transient`).
///
/// Reads: the function's code-generation input (`codegen_input`) and nothing else.
/// Evictable (`transient`) once the function's object is made.
#[salsa::tracked(returns(ref), lru = 0)]
pub fn fn_input_bytes(db: &dyn Db, function: Function) -> Option<Arc<[u8]>> {
    let _span = tracing::debug_span!("fn_input_bytes", function = %function.qualified_name(db)).entered();
    Some(input_bytes(&fn_codegen_input(db, function)?).into())
}

/// Sets how many `fn_input_bytes` values `transient::evict` keeps (0: none are tracked).
pub(crate) fn track_fn_input_bytes(db: &mut dyn Db, capacity: usize) {
    fn_input_bytes::set_lru_capacity(db, capacity);
}

/// The canonical encoding of a function's code-generation input: what its hash covers,
/// and — byte for byte — what the code generator is sent to compile it (`codegen::wire`).
pub fn input_bytes(input: &CodegenInput<'_>) -> Vec<u8> {
    let mut e = Encoder::wire();
    e.encode(input);
    e.into_bytes()
}

/// The key of the runtime's object: it depends on the settings alone.
#[salsa::tracked(returns(copy))]
pub fn runtime_hash(db: &dyn Db, settings: BuildSettings) -> Hash {
    Encoder::new("mini runtime object").encode(settings.codegen(db)).finish()
}

/// The key of `_start`'s object.
#[salsa::tracked(returns(copy))]
pub fn start_hash(db: &dyn Db, settings: BuildSettings) -> Hash {
    Encoder::new("mini start object").encode(settings.codegen(db)).finish()
}

/// The key of the entry wrapper's object: the entry module and `main`'s return type.
#[salsa::tracked(returns(copy))]
pub fn entry_hash(db: &dyn Db, workspace: Workspace) -> Option<Hash> {
    let entry = workspace.entry(db);
    let main = Function::new(db, entry, Name::from("main"));
    let ret = crate::sema::fn_signature(db, main).as_ref()?.ret?;
    let settings = BuildSettings::get(db).codegen(db);
    Some(Encoder::new("mini entry object").encode(settings).encode(entry.path(db)).encode(&ret).finish())
}

/// What a function says, as two hashes — its signature and body, and its contracts —
/// for `mini explain` to tell "this function changed", "only its contracts changed" and
/// "something it calls did" apart, comparing with the previous build's. Positions are
/// left out: the contracts come before the body, so an edit to them moves the body
/// without changing what it says. Within one compiler build, equal hashes mean equal
/// ZIR up to positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextHashes {
    pub body: Hash,
    pub contracts: Hash,
}

pub fn text_hashes(zir: &Zir) -> TextHashes {
    let mut body = Encoder::new("mini function text");
    body.str(&zir.name).u64(zir.params.len() as u64);
    for param in &zir.params {
        body.str(&param.name).encode(&param.ty);
    }
    body.encode(&zir.ret);
    ZirText { zir, e: &mut body }.block(&zir.body);
    let mut contracts = Encoder::new("mini function contracts");
    contracts.u64(zir.contracts.len() as u64);
    for contract in &zir.contracts {
        contracts.encode(&contract.kind);
        ZirText { zir, e: &mut contracts }.expr(contract.expr);
    }
    TextHashes { body: body.finish(), contracts: contracts.finish() }
}

/// Encodes ZIR as a tree, in canonical form, without positions.
struct ZirText<'a, 'e> {
    zir: &'a Zir,
    e: &'e mut Encoder,
}

impl ZirText<'_, '_> {
    fn block(&mut self, block: &zir::Block) {
        self.e.u64(block.stmts.len() as u64);
        for &stmt in &block.stmts {
            crate::with_stack(|| self.stmt(stmt));
        }
    }

    fn stmt(&mut self, id: zir::StmtId) {
        match &self.zir.stmt(id).kind {
            zir::StmtKind::Let { mutable, name, ty, init, .. } => {
                self.e.u8(1).u8(u8::from(*mutable)).str(name).encode(&ty.map(|(t, _)| t));
                self.expr(*init);
            }
            zir::StmtKind::Assign { name, op, value, .. } => {
                self.e.u8(2).str(name).str(op.map_or("=", BinOp::symbol));
                self.expr(*value);
            }
            zir::StmtKind::If { branches, else_block } => {
                self.e.u8(3).u64(branches.len() as u64);
                for (cond, block) in branches {
                    self.expr(*cond);
                    self.block(block);
                }
                match else_block {
                    Some(block) => {
                        self.e.u8(1);
                        self.block(block);
                    }
                    None => {
                        self.e.u8(0);
                    }
                }
            }
            zir::StmtKind::While { cond, body } => {
                self.e.u8(4);
                self.expr(*cond);
                self.block(body);
            }
            zir::StmtKind::Break => {
                self.e.u8(5);
            }
            zir::StmtKind::Continue => {
                self.e.u8(6);
            }
            zir::StmtKind::Return(value) => {
                self.e.u8(7).u8(u8::from(value.is_some()));
                if let Some(value) = value {
                    self.expr(*value);
                }
            }
            zir::StmtKind::Block(block) => {
                self.e.u8(8);
                self.block(block);
            }
            zir::StmtKind::Expr(value) => {
                self.e.u8(9);
                self.expr(*value);
            }
            zir::StmtKind::Error => {
                self.e.u8(10);
            }
        }
    }

    fn expr(&mut self, id: zir::ExprId) {
        crate::with_stack(|| self.expr_inner(id));
    }

    fn expr_inner(&mut self, id: zir::ExprId) {
        match &self.zir.expr(id).kind {
            zir::ExprKind::Int(Some(value)) => {
                self.e.u8(1).u64(*value);
            }
            zir::ExprKind::Int(None) => {
                self.e.u8(11);
            }
            zir::ExprKind::Bool(value) => {
                self.e.u8(2).u8(u8::from(*value));
            }
            zir::ExprKind::Name(name) => {
                self.e.u8(3).str(name);
            }
            zir::ExprKind::Call { ns, name, args, .. } => {
                self.e.u8(4).str(ns.as_ref().map_or("", |(ns, _)| ns)).str(name).u64(args.len() as u64);
                for &arg in args {
                    self.expr(arg);
                }
            }
            zir::ExprKind::Unary { op, operand } => {
                self.e.u8(5).u8(match op {
                    UnOp::Neg => 1,
                    UnOp::Not => 2,
                });
                self.expr(*operand);
            }
            zir::ExprKind::Binary { op, lhs, rhs } => {
                self.e.u8(6).str(op.symbol());
                self.expr(*lhs);
                self.expr(*rhs);
            }
            zir::ExprKind::Paren(inner) => {
                self.e.u8(7);
                self.expr(*inner);
            }
            zir::ExprKind::Print(value) => {
                self.e.u8(8);
                self.expr(*value);
            }
            zir::ExprKind::As { ty, value, .. } => {
                self.e.u8(9).encode(ty);
                self.expr(*value);
            }
            zir::ExprKind::Error => {
                self.e.u8(10);
            }
        }
    }
}
