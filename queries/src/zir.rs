//! ZIR: one function's untyped IR, lowered from its syntax tree.
//!
//! Every position in ZIR is relative to the start of the function (its `pub`/`fn`
//! keyword), and every line is relative to the function's first line. Inserting text
//! above a function, or editing another function of the same file, therefore leaves its
//! ZIR equal, and salsa's early cutoff stops the edit here.
//!
//! Nodes live in flat arenas indexed by `ExprId`/`StmtId`; names are not resolved yet.

use std::sync::Arc;

use crate::base::{Name, Type};
use crate::db::Db;
use crate::items::{Function, file_functions};
use crate::parsed::parse_file;
use crate::syntax::ast::{self, BinOp, ContractKind, UnOp};
use crate::syntax::{LineIndex, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExprId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StmtId(pub u32);

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Zir {
    pub name: Name,
    pub name_span: Span,
    pub params: Vec<Param>,
    /// `None` when the written type did not parse (already reported).
    pub ret: Option<Type>,
    pub ret_span: Span,
    /// The `requires`/`ensures` clauses in source order; their expressions share
    /// `exprs` with the body and are lowered after it, so the body's ids do not depend
    /// on them.
    pub contracts: Vec<Contract>,
    pub body: Block,
    pub exprs: Vec<Expr>,
    pub stmts: Vec<Stmt>,
    /// Whether the parameter list parsed (see `ast::FnDecl::params_ok`).
    pub params_ok: bool,
    /// Whether the body parsed without an error (see `ast::FnDecl::body_ok`).
    pub body_ok: bool,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Contract {
    pub kind: ContractKind,
    pub expr: ExprId,
    /// From the keyword to the closing parenthesis.
    pub span: Span,
    /// Line of the keyword, relative to the function's first line.
    pub line: u32,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: Name,
    pub span: Span,
    pub ty: Option<Type>,
    pub ty_span: Span,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Block {
    pub stmts: Vec<StmtId>,
    /// From `{` to `}`.
    pub span: Span,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
    /// Line of the statement's first token, relative to the function's first line.
    pub line: u32,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub enum StmtKind {
    Let { mutable: bool, name: Name, name_span: Span, ty: Option<(Option<Type>, Span)>, init: ExprId },
    Assign { name: Name, name_span: Span, op: Option<BinOp>, value: ExprId },
    If { branches: Vec<(ExprId, Block)>, else_block: Option<Block> },
    While { cond: ExprId, body: Block },
    Break,
    Continue,
    Return(Option<ExprId>),
    Block(Block),
    Expr(ExprId),
    Error,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub enum ExprKind {
    Int(Option<u64>),
    Bool(bool),
    Name(Name),
    Call { ns: Option<(Name, Span)>, name: Name, name_span: Span, args: Vec<ExprId> },
    Unary { op: UnOp, operand: ExprId },
    Binary { op: BinOp, lhs: ExprId, rhs: ExprId },
    Paren(ExprId),
    Print(ExprId),
    As { ty: Option<Type>, ty_span: Span, value: ExprId },
    Error,
}

impl Zir {
    pub fn expr(&self, id: ExprId) -> &Expr {
        &self.exprs[id.0 as usize]
    }

    pub fn stmt(&self, id: StmtId) -> &Stmt {
        &self.stmts[id.0 as usize]
    }
}

/// The function's ZIR, or `None` if the file defines no function of that name.
///
/// Reads: the file's parse and function index. Re-runs on every edit to the file and is
/// backdated unless this function's own text changed (positions are relative).
/// Evictable, as the parse is.
#[salsa::tracked(returns(ref), lru = 0)]
pub fn fn_zir(db: &dyn Db, function: Function) -> Option<Arc<Zir>> {
    let _span = tracing::debug_span!("fn_zir", function = %function.qualified_name(db)).entered();
    let file = function.file(db);
    let index = file_functions(db, file).item_index(function.name(db))?;
    let parsed = parse_file(db, file);
    let ast::Item::Fn(decl) = &parsed.ast.items[index] else { unreachable!("file_functions indexes only functions") };
    Some(Arc::new(lower(decl, &parsed.lines)))
}

/// Sets how many `fn_zir` values `transient::evict` keeps (0: none are tracked).
pub(crate) fn track_fn_zir(db: &mut dyn Db, capacity: usize) {
    fn_zir::set_lru_capacity(db, capacity);
}

/// Lowers a function's syntax tree to ZIR.
pub fn lower(decl: &ast::FnDecl, lines: &LineIndex) -> Zir {
    let base = decl.span.start;
    let mut lowering = Lowering { base, base_line: lines.line(base), lines, exprs: Vec::new(), stmts: Vec::new() };
    let params = decl
        .params
        .iter()
        .map(|p| Param {
            name: p.name.clone(),
            span: lowering.rel(p.name_span),
            ty: p.ty.ty,
            ty_span: lowering.rel(p.ty.span),
        })
        .collect();
    let body = lowering.block(&decl.body);
    let contracts = decl
        .contracts
        .iter()
        .map(|c| Contract {
            kind: c.kind,
            expr: lowering.expr(&c.expr),
            span: lowering.rel(c.span),
            line: lines.line(c.span.start) - lowering.base_line,
        })
        .collect();
    Zir {
        name: decl.name.clone(),
        name_span: lowering.rel(decl.name_span),
        params,
        ret: decl.ret.ty,
        ret_span: lowering.rel(decl.ret.span),
        contracts,
        body,
        exprs: lowering.exprs,
        stmts: lowering.stmts,
        params_ok: decl.params_ok,
        body_ok: decl.body_ok,
    }
}

struct Lowering<'a> {
    base: u32,
    base_line: u32,
    lines: &'a LineIndex,
    exprs: Vec<Expr>,
    stmts: Vec<Stmt>,
}

impl Lowering<'_> {
    fn rel(&self, span: Span) -> Span {
        span.relative_to(self.base)
    }

    fn block(&mut self, block: &ast::Block) -> Block {
        let stmts = block.stmts.iter().map(|s| self.stmt(s)).collect();
        Block { stmts, span: self.rel(block.span) }
    }

    fn stmt(&mut self, stmt: &ast::Stmt) -> StmtId {
        crate::with_stack(|| self.stmt_inner(stmt))
    }

    fn stmt_inner(&mut self, stmt: &ast::Stmt) -> StmtId {
        let kind = match &stmt.kind {
            ast::StmtKind::Let { mutable, name, name_span, ty, init } => StmtKind::Let {
                mutable: *mutable,
                name: name.clone(),
                name_span: self.rel(*name_span),
                ty: ty.map(|t| (t.ty, self.rel(t.span))),
                init: self.expr(init),
            },
            ast::StmtKind::Assign { name, name_span, op, value } => StmtKind::Assign {
                name: name.clone(),
                name_span: self.rel(*name_span),
                op: *op,
                value: self.expr(value),
            },
            ast::StmtKind::If { branches, else_block } => StmtKind::If {
                branches: branches.iter().map(|(c, b)| (self.expr(c), self.block(b))).collect(),
                else_block: else_block.as_ref().map(|b| self.block(b)),
            },
            ast::StmtKind::While { cond, body } => StmtKind::While { cond: self.expr(cond), body: self.block(body) },
            ast::StmtKind::Break => StmtKind::Break,
            ast::StmtKind::Continue => StmtKind::Continue,
            ast::StmtKind::Return(value) => StmtKind::Return(value.as_ref().map(|v| self.expr(v))),
            ast::StmtKind::Block(block) => StmtKind::Block(self.block(block)),
            ast::StmtKind::Expr(expr) => StmtKind::Expr(self.expr(expr)),
            ast::StmtKind::Error => StmtKind::Error,
        };
        let line = self.lines.line(stmt.span.start) - self.base_line;
        let id = StmtId(self.stmts.len() as u32);
        self.stmts.push(Stmt { kind, span: self.rel(stmt.span), line });
        id
    }

    fn expr(&mut self, expr: &ast::Expr) -> ExprId {
        crate::with_stack(|| self.expr_inner(expr))
    }

    fn expr_inner(&mut self, expr: &ast::Expr) -> ExprId {
        let kind = match &expr.kind {
            ast::ExprKind::Int(value) => ExprKind::Int(*value),
            ast::ExprKind::Bool(value) => ExprKind::Bool(*value),
            ast::ExprKind::Name(name) => ExprKind::Name(name.clone()),
            ast::ExprKind::Call { ns, name, name_span, args } => ExprKind::Call {
                ns: ns.as_ref().map(|(n, s)| (n.clone(), self.rel(*s))),
                name: name.clone(),
                name_span: self.rel(*name_span),
                args: args.iter().map(|a| self.expr(a)).collect(),
            },
            ast::ExprKind::Unary { op, operand } => ExprKind::Unary { op: *op, operand: self.expr(operand) },
            ast::ExprKind::Binary { op, lhs, rhs } => {
                ExprKind::Binary { op: *op, lhs: self.expr(lhs), rhs: self.expr(rhs) }
            }
            ast::ExprKind::Paren(inner) => ExprKind::Paren(self.expr(inner)),
            ast::ExprKind::Print(value) => ExprKind::Print(self.expr(value)),
            ast::ExprKind::As { ty, value } => {
                ExprKind::As { ty: ty.ty, ty_span: self.rel(ty.span), value: self.expr(value) }
            }
            ast::ExprKind::Error => ExprKind::Error,
        };
        let id = ExprId(self.exprs.len() as u32);
        self.exprs.push(Expr { kind, span: self.rel(expr.span) });
        id
    }
}

/// ZIR as text (`--emit zir`): one line per statement, expressions as s-expressions,
/// positions relative to the function. The contract clauses are shown when `contracts`
/// (they are checked at run time), one per line between the header and the body.
pub fn dump(zir: &Zir, contracts: bool) -> String {
    let mut out = String::new();
    let params: Vec<String> =
        zir.params.iter().map(|p| format!("{}: {}", p.name, p.ty.map_or("?", Type::name))).collect();
    out.push_str(&format!("fn {}({}) {}", zir.name, params.join(", "), zir.ret.map_or("?", Type::name)));
    if contracts && !zir.contracts.is_empty() {
        out.push('\n');
        for c in &zir.contracts {
            let at = format!("@{}..{} L+{}", c.span.start, c.span.end, c.line);
            out.push_str(&format!("  {} {}  ; {at}\n", c.kind.keyword(), dump_expr(zir, c.expr)));
        }
        out.push_str("{\n");
    } else {
        out.push_str(" {\n");
    }
    dump_block(zir, &zir.body, 1, &mut out);
    out.push_str("}\n");
    out
}

fn dump_block(zir: &Zir, block: &Block, depth: usize, out: &mut String) {
    for &id in &block.stmts {
        crate::with_stack(|| dump_stmt(zir, id, depth, out));
    }
}

fn dump_stmt(zir: &Zir, id: StmtId, depth: usize, out: &mut String) {
    let stmt = zir.stmt(id);
    let indent = "  ".repeat(depth);
    let at = format!("@{}..{} L+{}", stmt.span.start, stmt.span.end, stmt.line);
    let e = |id: ExprId| dump_expr(zir, id);
    match &stmt.kind {
        StmtKind::Let { mutable, name, ty, init, .. } => {
            let keyword = if *mutable { "var" } else { "const" };
            let ty = ty.map(|(t, _)| format!(": {}", t.map_or("?", Type::name))).unwrap_or_default();
            out.push_str(&format!("{indent}{keyword} {name}{ty} = {}  ; {at}\n", e(*init)));
        }
        StmtKind::Assign { name, op, value, .. } => {
            let op = op.map_or(String::new(), |op| op.symbol().to_string());
            out.push_str(&format!("{indent}{name} {op}= {}  ; {at}\n", e(*value)));
        }
        StmtKind::If { branches, else_block } => {
            for (i, (cond, block)) in branches.iter().enumerate() {
                let keyword = if i == 0 { "if" } else { "else if" };
                out.push_str(&format!("{indent}{keyword} {} {{  ; {at}\n", e(*cond)));
                dump_block(zir, block, depth + 1, out);
                out.push_str(&format!("{indent}}}\n"));
            }
            if let Some(block) = else_block {
                out.push_str(&format!("{indent}else {{\n"));
                dump_block(zir, block, depth + 1, out);
                out.push_str(&format!("{indent}}}\n"));
            }
        }
        StmtKind::While { cond, body } => {
            out.push_str(&format!("{indent}while {} {{  ; {at}\n", e(*cond)));
            dump_block(zir, body, depth + 1, out);
            out.push_str(&format!("{indent}}}\n"));
        }
        StmtKind::Break => out.push_str(&format!("{indent}break  ; {at}\n")),
        StmtKind::Continue => out.push_str(&format!("{indent}continue  ; {at}\n")),
        StmtKind::Return(value) => {
            let value = value.map(|v| format!(" {}", e(v))).unwrap_or_default();
            out.push_str(&format!("{indent}return{value}  ; {at}\n"));
        }
        StmtKind::Block(block) => {
            out.push_str(&format!("{indent}{{  ; {at}\n"));
            dump_block(zir, block, depth + 1, out);
            out.push_str(&format!("{indent}}}\n"));
        }
        StmtKind::Expr(value) => out.push_str(&format!("{indent}{}  ; {at}\n", e(*value))),
        StmtKind::Error => out.push_str(&format!("{indent}<error>  ; {at}\n")),
    }
}

fn dump_expr(zir: &Zir, id: ExprId) -> String {
    crate::with_stack(|| match &zir.expr(id).kind {
        ExprKind::Int(Some(v)) => v.to_string(),
        ExprKind::Int(None) => "<too large>".to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Name(name) => name.to_string(),
        ExprKind::Call { ns, name, args, .. } => {
            let args: Vec<String> = args.iter().map(|a| dump_expr(zir, *a)).collect();
            let ns = ns.as_ref().map(|(n, _)| format!("{n}.")).unwrap_or_default();
            format!("(call {ns}{name} {})", args.join(" "))
        }
        ExprKind::Unary { op, operand } => {
            let op = match op {
                UnOp::Neg => "-",
                UnOp::Not => "!",
            };
            format!("({op} {})", dump_expr(zir, *operand))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.symbol(), dump_expr(zir, *lhs), dump_expr(zir, *rhs))
        }
        ExprKind::Paren(inner) => dump_expr(zir, *inner),
        ExprKind::Print(value) => format!("(@print {})", dump_expr(zir, *value)),
        ExprKind::As { ty, value, .. } => format!("(@as {} {})", ty.map_or("?", Type::name), dump_expr(zir, *value)),
        ExprKind::Error => "<error>".to_string(),
    })
}
