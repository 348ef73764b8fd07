//! Function hashes: blake3 over a canonical, length-prefixed encoding of everything code
//! generation reads for a function — its AIR (which names and types its callees), the
//! build settings, debug positions when `-g` is on — plus the compiler and LLVM
//! versions. Equal hashes mean byte-identical objects, so the hash is the cache key.

use std::fmt;

use crate::codegen::{ContractCode, DebugInfo, contract_code, fn_debug_info, llvm_version};
use crate::db::Db;
use crate::items::Function;
use crate::sema::air::{AExpr, AExprKind, AStmt, AStmtId, Air, ArithOp, Callee, CmpOp, Contracts};
use crate::sema::fn_air;
use crate::source::{BuildSettings, CodegenSettings, ModulePath, Workspace};
use crate::syntax::ast::{BinOp, ContractKind, Type, UnOp};
use crate::zir::{self, Zir};

/// Identifies the compiler build: the crate version and a hash of this crate's sources,
/// so that any change to the compiler invalidates every cached object.
pub const COMPILER_ID: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("MINI_SOURCE_HASH"));

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub fn to_hex(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_string()[..12])
    }
}

/// A canonical encoder feeding blake3. Every variable-length item is length-prefixed and
/// every enum variant tagged, so distinct values can never encode to the same bytes.
pub struct Encoder {
    hasher: blake3::Hasher,
}

impl Encoder {
    /// An encoder for one kind of key; `domain` keeps different kinds apart.
    pub fn new(domain: &str) -> Encoder {
        let mut encoder = Encoder { hasher: blake3::Hasher::new() };
        encoder.str(domain);
        encoder.str(COMPILER_ID);
        encoder.str(llvm_version());
        encoder
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.hasher.update(&[value]);
        self
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.hasher.update(&value.to_le_bytes());
        self
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.hasher.update(&value.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.u64(value.len() as u64);
        self.hasher.update(value);
        self
    }

    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    pub fn encode(&mut self, value: &impl Encode) -> &mut Self {
        value.encode(self);
        self
    }

    pub fn finish(&self) -> Hash {
        Hash(*self.hasher.finalize().as_bytes())
    }
}

pub trait Encode {
    fn encode(&self, e: &mut Encoder);
}

impl<T: Encode> Encode for [T] {
    fn encode(&self, e: &mut Encoder) {
        e.u64(self.len() as u64);
        for item in self {
            item.encode(e);
        }
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, e: &mut Encoder) {
        self.as_slice().encode(e);
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            None => e.u8(0),
            Some(value) => e.u8(1).encode(value),
        };
    }
}

impl Encode for u32 {
    fn encode(&self, e: &mut Encoder) {
        e.u32(*self);
    }
}

impl Encode for ModulePath {
    fn encode(&self, e: &mut Encoder) {
        e.str(self.as_str());
    }
}

impl Encode for Type {
    fn encode(&self, e: &mut Encoder) {
        e.u8(match self {
            Type::I32 => 1,
            Type::I64 => 2,
            Type::Bool => 3,
            Type::Void => 4,
        });
    }
}

impl Encode for CodegenSettings {
    fn encode(&self, e: &mut Encoder) {
        e.u8(self.opt_level).str(&self.target).u8(u8::from(self.debug_info));
    }
}

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

impl Encode for Contracts {
    fn encode(&self, e: &mut Encoder) {
        e.encode(&self.callees).encode(&self.exprs).u64(self.clauses.len() as u64);
        for clause in &self.clauses {
            e.encode(&clause.kind).u32(clause.expr.0);
        }
    }
}

impl Encode for ContractCode {
    fn encode(&self, e: &mut Encoder) {
        e.str("contracts").encode(&*self.contracts);
        if let Some(lines) = &self.lines {
            e.u64(lines.len() as u64);
            for line in lines.iter() {
                e.u32(*line);
            }
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

/// The function's hash, or `None` if it has errors.
///
/// Reads: the function's AIR, the build settings, and with `-g` its debug info —
/// exactly what `fn_object` reads. Not its position (without `-g`), not its comments,
/// not other functions' bodies.
#[salsa::tracked(returns(copy))]
pub fn fn_hash(db: &dyn Db, function: Function) -> Option<Hash> {
    let _span = tracing::debug_span!("fn_hash", function = %function.qualified_name(db)).entered();
    if let Some(summary) = function.file(db).summary(db) {
        return summary.function(function.name(db)).map(|f| f.hash);
    }
    let air = fn_air(db, function).as_ref()?;
    let settings = BuildSettings::get(db).codegen(db);
    let mut e = Encoder::new("mini function object");
    e.encode(settings).encode(&**air);
    if settings.debug_info {
        e.encode(fn_debug_info(db, function));
    }
    // Last and only when present, so that a function whose contracts are off (or that
    // has none) hashes exactly as it would without any: the settings say whether debug
    // info precedes, and nothing else can follow.
    if let Some(contracts) = contract_code(db, function, settings) {
        e.encode(&contracts);
    }
    Some(e.finish())
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
    let main = Function::new(db, entry, crate::syntax::ast::Name::from("main"));
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
