//! Keys of code generation's outputs: each function's hash is blake3 over the canonical
//! encoding of its code-generation input (`codegen_input`), which names and types its
//! callees; the runtime's, `_start`'s and the entry wrapper's keys cover their settings.
//! Equal hashes mean byte-identical objects, so the hash is the cache key.

use crate::base::{COMPILER_ID, Encode, Encoder, Hash, Name};
use crate::codegen_input::{CodegenInput, DebugInfo, fn_codegen_input};
use crate::db::Db;
use crate::items::Function;
use crate::sema::air::{AExpr, AExprKind, AStmt, AStmtId, Air, ArithOp, Callee, CmpOp};
use crate::source::{BuildSettings, Workspace};

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

impl Encode for CodegenInput<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.encode(self.settings).encode(self.air).encode(&self.debug);
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
    let input = fn_codegen_input(db, function)?;
    Some(Encoder::new("mini function object").encode(&input).finish())
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

/// A hash of a function's ZIR: its own text, positions relative to itself. Within one
/// compiler build it identifies what the function says; `mini explain` compares it with
/// the previous build's to tell "this function changed" from "something it calls did".
pub fn zir_hash(zir: &crate::zir::Zir) -> Hash {
    use std::hash::{Hash as _, Hasher};
    struct Blake3(blake3::Hasher);
    impl Hasher for Blake3 {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            unreachable!("only the full hash is read")
        }
    }
    let mut hasher = Blake3(blake3::Hasher::new());
    hasher.0.update(COMPILER_ID.as_bytes());
    zir.hash(&mut hasher);
    Hash(*hasher.0.finalize().as_bytes())
}
