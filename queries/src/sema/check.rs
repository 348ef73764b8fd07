//! The type checker: walks one function's ZIR, resolves names, infers and checks types,
//! checks control flow, and builds the function's AIR — and finds what deserves a
//! warning: unused locals, unreachable statements, division by a constant zero.
//!
//! Types are `Option<Type>`: `None` is the error type. An expression of the error type
//! was already reported, and nothing built on it reports again.
//!
//! Nothing here may report a guess. A name that does not resolve gets a suggestion only
//! from the names that would have been right in its place; a function whose parameter
//! list or body failed to parse is not held to what the parser could not read (its
//! undeclared names and its "missing return" stay quiet); and warnings about what is
//! unused are left out when the function has errors, since an error can hide a use.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::air::{AExpr, AExprId, AExprKind, AStmt, AStmtId, Air, ArithOp, Callee, Clause, CmpOp, Contracts, Local};
use super::names::{Access, BlockSite, FnNames, LocalDecl, LocalKind, NameSite, NameUse, Resolution, Scope};
use super::{CheckedFn, FnDiagnostic, fn_signature};
use crate::base::{ModulePath, Name, Note, Severity, Type, suggest};
use crate::db::Db;
use crate::imports::{FileScope, file_scope};
use crate::items::{Function, file_functions, functions_of};
use crate::source::SourceFile;
use crate::syntax::Span;
use crate::syntax::ast::{BinOp, ContractKind, UnOp};
use crate::zir::{Block, ExprId, ExprKind, StmtId, StmtKind, Zir};

pub(super) fn check_function(db: &dyn Db, function: Function, zir: &Zir) -> CheckedFn {
    let file = function.file(db);
    // Sized once: recording names must not make a cold build slower by growing vectors.
    let (locals, most_uses, scopes) = name_capacity(zir);
    let mut checker = Checker {
        db,
        file,
        scope: file_scope(db, file),
        zir,
        locals: Vec::with_capacity(locals),
        usage: Vec::with_capacity(locals),
        scopes: vec![Vec::new()],
        current_scope: 0,
        recorded_scopes: Vec::new(),
        uses: Vec::new(),
        loops: Vec::new(),
        poisoned: false,
        diagnostics: Vec::new(),
        exprs: Vec::new(),
        stmts: Vec::new(),
        lines: Vec::new(),
        callees: Vec::new(),
        callee_slots: HashMap::new(),
        contract: None,
        assigning: None,
        dead: 0,
        used_aliases: BTreeSet::new(),
    };
    checker.uses.reserve_exact(most_uses);
    checker.recorded_scopes.reserve_exact(scopes);
    checker.recorded_scopes.push(Scope { block: None, parent: None });

    let mut params = Vec::new();
    for (index, param) in zir.params.iter().enumerate() {
        let ty = match param.ty {
            Some(Type::Void) => {
                checker.error(param.ty_span, format!("parameter '{}' cannot have type void", param.name));
                None
            }
            ty => ty,
        };
        if let Some(first) = checker.lookup_first(&param.name) {
            let note = checker.first_declared(first, &param.name);
            checker.error_noted(param.span, format!("parameter '{}' is already declared", param.name), vec![note]);
        }
        checker.declare(param.name.clone(), NameSite::Param(index as u32), param.span, ty, LocalKind::Param);
        params.push(ty);
    }

    let (body, completes) = checker.block(&zir.body, BlockSite::Body);
    // A body that failed to parse may have lost the very `return` this would ask for.
    if completes && zir.body_ok && zir.ret.is_some_and(|t| t != Type::Void) {
        let end = zir.body.span.end;
        checker.error(
            Span::new(end.saturating_sub(1), end),
            format!(
                "missing return at the end of '{}', which returns {}",
                zir.name,
                zir.ret.map_or("a value", Type::name)
            ),
        );
    }

    let contracts = checker.contracts();
    checker.unused_locals();

    let Checker {
        diagnostics,
        poisoned,
        locals,
        callees,
        exprs,
        stmts,
        lines,
        used_aliases,
        uses,
        recorded_scopes,
        ..
    } = checker;
    let params: Option<Vec<Type>> = params.into_iter().collect();
    let slots: Option<Vec<Type>> = locals.iter().map(|l| l.ty).collect();
    let names = FnNames { uses, locals, scopes: recorded_scopes };
    let ok = !diagnostics.iter().any(|d| d.severity == Severity::Error) && !poisoned;
    let contract_lines = zir.contracts.iter().map(|c| c.line).collect();
    let contracts = contracts.filter(|_| ok).map(Arc::new);
    let air = match (ok, params, slots, zir.ret) {
        (true, Some(params), Some(locals), Some(ret)) => Some(Arc::new(Air {
            module: file.path(db).clone(),
            name: zir.name.clone(),
            params,
            ret,
            locals: exact(locals),
            callees: exact(callees),
            exprs: exact(exprs),
            stmts: exact(stmts),
            body: exact(body),
        })),
        _ => None,
    };
    let used_aliases = used_aliases.into_iter().collect();
    CheckedFn { air, lines: lines.into(), contracts, contract_lines, diagnostics, used_aliases, names }
}

/// What the checker alone needs to know of a local, beside its record (`LocalDecl`).
struct LocalUsage {
    name: Name,
    /// The name in its declaration, for diagnostics.
    span: Span,
    /// Whether its value is ever read, other than in its own assignment (`x = x + 1`).
    read: bool,
    /// Whether it is ever assigned to after its declaration.
    assigned: bool,
    /// Declared in a statement that never runs (already reported as unreachable).
    dead: bool,
}

/// A checked expression: its AIR node and its type (`None`: error, already reported).
#[derive(Clone, Copy)]
struct Typed {
    id: AExprId,
    ty: Option<Type>,
}

struct Checker<'a> {
    db: &'a dyn Db,
    file: SourceFile,
    scope: &'a FileScope,
    zir: &'a Zir,
    /// Every local as the editor sees it (`FnNames::locals`), by slot.
    locals: Vec<LocalDecl>,
    /// How each local is used, by slot, for diagnostics.
    usage: Vec<LocalUsage>,
    /// Names visible in each enclosing block, innermost last.
    scopes: Vec<Vec<(Name, Local)>>,
    /// The innermost open scope (an index into `recorded_scopes`).
    current_scope: u32,
    /// Every scope opened so far, for the editor (`FnNames::scopes`).
    recorded_scopes: Vec<Scope>,
    /// Every name resolved so far and what it resolved to, for the editor.
    uses: Vec<NameUse>,
    /// For each enclosing loop, whether a `break` targets it.
    loops: Vec<bool>,
    /// Set when an already-reported error (a syntax error, a bad signature elsewhere)
    /// leaves this function without a meaning: no AIR is produced.
    poisoned: bool,
    diagnostics: Vec<FnDiagnostic>,
    exprs: Vec<AExpr>,
    stmts: Vec<AStmt>,
    lines: Vec<u32>,
    callees: Vec<Callee>,
    callee_slots: HashMap<(ModulePath, Name), u32>,
    /// The kind of contract clause being checked, if any: `result` means the returned
    /// value only in `ensures`.
    contract: Option<ContractKind>,
    /// The variable whose assignment is being checked: reading it there (`x = x + 1`)
    /// is not a use of its value.
    assigning: Option<Local>,
    /// How many enclosing statements never run: unreachable code inside them is not
    /// reported again.
    dead: u32,
    /// The import aliases this function calls through (for unused imports).
    used_aliases: BTreeSet<Name>,
}

impl<'a> Checker<'a> {
    fn error(&mut self, span: Span, message: String) {
        self.error_noted(span, message, Vec::new());
    }

    fn error_noted(&mut self, span: Span, message: String, notes: Vec<Note>) {
        self.diagnostics.push(FnDiagnostic { severity: Severity::Error, span, message, notes });
    }

    fn warning(&mut self, span: Span, message: String, notes: Vec<Note>) {
        self.diagnostics.push(FnDiagnostic { severity: Severity::Warning, span, message, notes });
    }

    fn has_errors(&self) -> bool {
        self.poisoned || self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// The note that points at the first declaration of a name declared again.
    fn first_declared(&self, first: Local, name: &Name) -> Note {
        let what = if self.local(first).kind == LocalKind::Param { "parameter" } else { "local" };
        Note::new(self.declared_at(first), format!("the {what} '{name}' is first declared here"))
    }

    /// ", did you mean 'x'?" when one of `candidates` is close to `name`; else nothing.
    fn did_you_mean<'n>(name: &str, candidates: impl IntoIterator<Item = &'n str>) -> String {
        match suggest::closest(name, candidates) {
            Some(candidate) => format!("; did you mean '{candidate}'?"),
            None => String::new(),
        }
    }

    /// The names of the locals and parameters in scope.
    fn names_in_scope(&self) -> Vec<&str> {
        self.scopes.iter().flatten().map(|(name, _)| &**name).collect()
    }

    /// The import aliases of this file whose file exists.
    fn aliases(&self) -> impl Iterator<Item = (&Name, SourceFile)> {
        self.scope.aliases.iter().filter_map(|(alias, target)| Some((alias, (*target)?)))
    }

    /// Reports locals whose value is never read. Only for a function that parsed and
    /// checked without errors: an error can hide a use (a misspelled name is a use of
    /// the name it meant).
    fn unused_locals(&mut self) {
        if !self.zir.body_ok || self.has_errors() {
            return;
        }
        let mut unused = Vec::new();
        for (info, usage) in self.locals.iter().zip(&self.usage) {
            let name = &usage.name;
            if info.kind == LocalKind::Param || usage.read || usage.dead {
                continue;
            }
            let message = match (info.kind, usage.assigned) {
                (LocalKind::Var, true) => {
                    format!("variable '{name}' is assigned to, but its value is never read")
                }
                (LocalKind::Var, false) => format!("unused variable '{name}'"),
                _ => format!("unused constant '{name}'"),
            };
            unused.push((usage.span, message));
        }
        for (span, message) in unused {
            self.warning(span, message, Vec::new());
        }
    }

    fn span(&self, id: ExprId) -> Span {
        self.zir.expr(id).span
    }

    // ---- scopes -----------------------------------------------------------------------

    fn lookup(&self, name: &str) -> Option<Local> {
        self.scopes.iter().rev().flat_map(|s| s.iter().rev()).find(|(n, _)| &**n == name).map(|(_, l)| *l)
    }

    /// The earliest declaration of `name` still in scope (for "first declared here").
    fn lookup_first(&self, name: &str) -> Option<Local> {
        self.scopes.iter().flatten().find(|(n, _)| &**n == name).map(|(_, l)| *l)
    }

    fn declare(&mut self, name: Name, site: NameSite, span: Span, ty: Option<Type>, kind: LocalKind) -> Local {
        let local = Local(self.locals.len() as u32);
        let dead = self.dead > 0;
        let scope = self.current_scope;
        self.locals.push(LocalDecl { kind, ty, site, scope });
        self.usage.push(LocalUsage { name: name.clone(), span, read: false, assigned: false, dead });
        self.scopes.last_mut().expect("a scope is always open").push((name, local));
        local
    }

    fn local(&self, local: Local) -> &LocalDecl {
        &self.locals[local.0 as usize]
    }

    /// The local's name in its declaration.
    fn declared_at(&self, local: Local) -> Span {
        self.usage[local.0 as usize].span
    }

    /// Records what the name written at `site` resolved to.
    fn resolved(&mut self, site: NameSite, to: Resolution, access: Access) {
        self.uses.push(NameUse { site, to, access });
    }

    /// Whether this file defines a function of that name.
    fn is_function(&self, name: &Name) -> bool {
        self.own_function(name).is_some()
    }

    /// The function of this file of that name, if it defines one.
    fn own_function(&self, name: &Name) -> Option<Function> {
        let function = Function::new(self.db, self.file, name.clone());
        fn_signature(self.db, function).is_some().then_some(function)
    }

    // ---- AIR building -----------------------------------------------------------------

    fn push(&mut self, kind: AExprKind, ty: Type) -> Typed {
        let id = AExprId(self.exprs.len() as u32);
        self.exprs.push(AExpr { kind, ty });
        Typed { id, ty: Some(ty) }
    }

    /// A placeholder for an expression of the error type.
    fn poison(&mut self) -> Typed {
        self.poisoned = true;
        let Typed { id, .. } = self.push(AExprKind::Int(0), Type::I32);
        Typed { id, ty: None }
    }

    fn push_stmt(&mut self, stmt: AStmt, line: u32) -> AStmtId {
        let id = AStmtId(self.stmts.len() as u32);
        self.stmts.push(stmt);
        self.lines.push(line);
        id
    }

    fn callee_slot(&mut self, target: SourceFile, name: &Name, params: Vec<Type>, ret: Type) -> u32 {
        let module = target.path(self.db).clone();
        let key = (module.clone(), name.clone());
        if let Some(&slot) = self.callee_slots.get(&key) {
            return slot;
        }
        let slot = self.callees.len() as u32;
        self.callees.push(Callee { module, name: name.clone(), params, ret });
        self.callee_slots.insert(key, slot);
        slot
    }

    // ---- contracts --------------------------------------------------------------------

    /// Checks the contract clauses, after the body, in the scope of the parameters alone.
    /// Their expressions and callees go to arenas of their own (see `Contracts`); `None`
    /// when the function has no clauses.
    fn contracts(&mut self) -> Option<Contracts> {
        let zir = self.zir;
        if zir.contracts.is_empty() {
            return None;
        }
        let body_exprs = std::mem::take(&mut self.exprs);
        let body_callees = std::mem::take(&mut self.callees);
        let body_slots = std::mem::take(&mut self.callee_slots);
        let mut clauses = Vec::with_capacity(zir.contracts.len());
        for contract in &zir.contracts {
            self.contract = Some(contract.kind);
            let expr = self.condition(contract.expr, contract.kind.keyword());
            clauses.push(Clause { kind: contract.kind, expr });
        }
        self.contract = None;
        let exprs = std::mem::replace(&mut self.exprs, body_exprs);
        let callees = std::mem::replace(&mut self.callees, body_callees);
        self.callee_slots = body_slots;
        Some(Contracts { callees, exprs, clauses })
    }

    /// `result` inside a contract clause: the returned value in `ensures` (an error when
    /// a parameter has that name, or the function returns void), a hint in `requires`.
    /// `None` where `result` is an ordinary name.
    fn result(&mut self, id: ExprId, span: Span, name: &Name) -> Option<Typed> {
        if &**name != "result" {
            return None;
        }
        let function = &self.zir.name;
        match self.contract? {
            ContractKind::Ensures if self.lookup(name).is_some() => {
                self.error(
                    span,
                    format!(
                        "'result' in 'ensures' is ambiguous: '{function}' has a parameter named 'result' (rename the parameter)"
                    ),
                );
                Some(self.poison())
            }
            ContractKind::Ensures => Some(match self.zir.ret {
                Some(Type::Void) => {
                    self.error(span, format!("'{function}' returns void, so its 'ensures' has no 'result'"));
                    self.poison()
                }
                Some(ty) => {
                    self.resolved(NameSite::Name(id), Resolution::Result, Access::Read);
                    self.push(AExprKind::Result, ty)
                }
                None => {
                    self.resolved(NameSite::Name(id), Resolution::Result, Access::Read);
                    self.poison()
                }
            }),
            ContractKind::Requires if self.lookup(name).is_none() && !self.is_function(name) => {
                self.error(span, "'result' is the returned value only in 'ensures', not in 'requires'".to_string());
                Some(self.poison())
            }
            ContractKind::Requires => None,
        }
    }

    // ---- statements -------------------------------------------------------------------

    /// Checks a block in a new scope. Returns its statements and whether control can
    /// reach its end.
    fn block(&mut self, block: &Block, site: BlockSite) -> (Vec<AStmtId>, bool) {
        self.scopes.push(Vec::new());
        let parent = self.current_scope;
        self.current_scope = self.recorded_scopes.len() as u32;
        self.recorded_scopes.push(Scope { block: Some(site), parent: Some(parent) });
        let mut completes = true;
        let mut stmts = Vec::with_capacity(block.stmts.len());
        // The statement after which control never goes on, once there is one.
        let mut end: Option<StmtId> = None;
        let dead = self.dead;
        for &id in &block.stmts {
            if let Some(end) = end
                && self.dead == dead
            {
                // Reported once, at the first statement, and never inside dead code.
                if dead == 0 {
                    self.unreachable(id, end);
                }
                self.dead += 1;
            }
            let (stmt, stmt_completes) = self.stmt(id);
            stmts.extend(stmt);
            if !stmt_completes && end.is_none() {
                end = Some(id);
            }
            completes &= stmt_completes;
        }
        self.dead = dead;
        self.scopes.pop();
        self.current_scope = parent;
        (stmts, completes)
    }

    /// Warns that `stmt` never runs because of `end`, the statement before it that never
    /// completes. Statements after a `return` are allowed (LANGUAGE.md section 8); they
    /// are a warning, and only in a body that parsed: a broken one may have lost a `}`.
    fn unreachable(&mut self, stmt: StmtId, end: StmtId) {
        if !self.zir.body_ok {
            return;
        }
        let end = self.zir.stmt(end);
        let (keyword, why) = match &end.kind {
            StmtKind::Return(_) => ("return", "any code after this 'return' never runs"),
            StmtKind::Break => ("break", "any code after this 'break' never runs"),
            StmtKind::Continue => ("continue", "any code after this 'continue' never runs"),
            StmtKind::While { .. } => ("while", "this loop never ends: it is 'while (true)' with no 'break'"),
            StmtKind::If { .. } => ("if", "no branch of this 'if' reaches its end"),
            _ => ("{", "control never reaches the end of this block"),
        };
        let note = Note::new(Span::new(end.span.start, end.span.start + keyword.len() as u32), why);
        self.warning(self.zir.stmt(stmt).span, "unreachable statement".to_string(), vec![note]);
    }

    /// Checks a statement. Returns its AIR (if it has one) and whether control can reach
    /// the statement after it.
    fn stmt(&mut self, id: StmtId) -> (Option<AStmtId>, bool) {
        crate::with_stack(|| self.stmt_inner(id))
    }

    fn stmt_inner(&mut self, id: StmtId) -> (Option<AStmtId>, bool) {
        let zir = self.zir;
        let stmt = zir.stmt(id);
        let (air, completes) = match &stmt.kind {
            StmtKind::Let { mutable, name, name_span, ty, init } => {
                let declared = match ty {
                    Some((Some(Type::Void), span)) => {
                        self.error(*span, format!("variable '{name}' cannot have type void"));
                        None
                    }
                    Some((ty, _)) => {
                        if ty.is_none() {
                            self.poisoned = true;
                        }
                        *ty
                    }
                    None => None,
                };
                let value = self.expr(*init, declared);
                let local_ty = match ty {
                    Some(_) => {
                        self.expect_type(*init, value, declared);
                        declared
                    }
                    None if value.ty == Some(Type::Void) => {
                        let span = self.span(*init);
                        self.error(span, format!("cannot initialize '{name}' with a void value"));
                        None
                    }
                    None => value.ty,
                };
                if let Some(first) = self.lookup_first(name) {
                    let note = self.first_declared(first, name);
                    self.error_noted(*name_span, format!("'{name}' is already declared"), vec![note]);
                }
                let kind = if *mutable { LocalKind::Var } else { LocalKind::Const };
                let local = self.declare(name.clone(), NameSite::Let(id), *name_span, local_ty, kind);
                (Some(AStmt::Store { local, value: value.id }), true)
            }
            StmtKind::Assign { name, name_span, op, value } => (self.assign(id, name, *name_span, *op, *value), true),
            StmtKind::If { branches, else_block } => {
                let mut completes = else_block.is_none();
                let mut air_branches = Vec::with_capacity(branches.len());
                for (n, (cond, block)) in branches.iter().enumerate() {
                    let cond = self.condition(*cond, "if");
                    let (body, body_completes) = self.block(block, BlockSite::Branch(id, n as u32));
                    completes |= body_completes;
                    air_branches.push((cond, body));
                }
                let air_else = else_block.as_ref().map(|block| {
                    let (body, body_completes) = self.block(block, BlockSite::Else(id));
                    completes |= body_completes;
                    body
                });
                (Some(AStmt::If { branches: air_branches, else_block: air_else }), completes)
            }
            StmtKind::While { cond, body } => {
                let infinite = self.is_literal_true(*cond);
                let cond = self.condition(*cond, "while");
                self.loops.push(false);
                let (body, _) = self.block(body, BlockSite::Loop(id));
                let has_break = self.loops.pop().expect("pushed above");
                (Some(AStmt::While { cond, body }), !infinite || has_break)
            }
            StmtKind::Break | StmtKind::Continue => {
                let is_break = matches!(stmt.kind, StmtKind::Break);
                let in_loop = match self.loops.last_mut() {
                    Some(has_break) => {
                        *has_break |= is_break;
                        true
                    }
                    None => {
                        let keyword = if is_break { "break" } else { "continue" };
                        self.error(stmt.span, format!("{keyword} outside a loop"));
                        false
                    }
                };
                // Outside a loop it goes nowhere: the code after it is not unreachable
                // because of it (no second diagnostic for one mistake).
                (Some(if is_break { AStmt::Break } else { AStmt::Continue }), !in_loop)
            }
            StmtKind::Return(value) => (Some(self.ret(stmt.span, stmt.line, *value)), false),
            StmtKind::Block(block) => {
                let (body, completes) = self.block(block, BlockSite::Nested(id));
                (Some(AStmt::Block(body)), completes)
            }
            StmtKind::Expr(expr) => {
                let value = self.expr(*expr, None);
                (Some(AStmt::Expr(value.id)), true)
            }
            StmtKind::Error => {
                self.poisoned = true;
                (None, true)
            }
        };
        (air.map(|air| self.push_stmt(air, stmt.line)), completes)
    }

    fn assign(&mut self, id: StmtId, name: &Name, name_span: Span, op: Option<BinOp>, value: ExprId) -> Option<AStmt> {
        let Some(local) = self.lookup(name) else {
            if let Some(function) = self.own_function(name) {
                self.resolved(NameSite::Assign(id), Resolution::Function(function), Access::Write);
                self.error(name_span, format!("cannot assign to function '{name}'"));
            } else if !self.zir.params_ok {
                // Perhaps one of the parameters the parser could not read.
                self.poisoned = true;
            } else {
                let hint = Self::did_you_mean(name, self.names_in_scope());
                self.error(name_span, format!("undeclared name '{name}'{hint}"));
            }
            self.expr(value, None);
            return None;
        };
        self.resolved(NameSite::Assign(id), Resolution::Local(local), Access::Write);
        let (ty, kind, declared) = {
            let info = self.local(local);
            (info.ty, info.kind, self.declared_at(local))
        };
        match kind {
            LocalKind::Param => self.error_noted(
                name_span,
                format!("cannot assign to parameter '{name}'"),
                vec![Note::new(declared, format!("'{name}' is a parameter; parameters cannot be changed"))],
            ),
            LocalKind::Const => self.error_noted(
                name_span,
                format!("cannot assign to constant '{name}'"),
                vec![Note::new(
                    declared,
                    format!("'{name}' is declared with 'const'; declare it with 'var' to change it"),
                )],
            ),
            LocalKind::Var => {}
        }
        self.usage[local.0 as usize].assigned = true;
        if let Some(op @ (BinOp::Div | BinOp::Rem)) = op {
            self.division_by_zero(name_span.to(self.span(value)), op, value, ty);
        }
        let outer = self.assigning.replace(local);
        let stored = self.assigned_value(local, name, name_span, op, value, ty);
        self.assigning = outer;
        Some(AStmt::Store { local, value: stored })
    }

    /// The value an assignment stores: the right-hand side, or for `x op= e` the
    /// result of `x op e`.
    fn assigned_value(
        &mut self,
        local: Local,
        name: &Name,
        name_span: Span,
        op: Option<BinOp>,
        value: ExprId,
        ty: Option<Type>,
    ) -> AExprId {
        match (op, ty) {
            (None, _) => {
                let typed = self.expr(value, ty);
                self.expect_type(value, typed, ty);
                typed.id
            }
            (Some(op), Some(t)) if t.is_integer() => {
                let typed = self.expr(value, ty);
                self.expect_type(value, typed, ty);
                let current = self.push(AExprKind::Local(local), t);
                self.push(AExprKind::Arith { op: arith_op(op), lhs: current.id, rhs: typed.id }, t).id
            }
            (Some(op), Some(t)) => {
                self.error(
                    name_span,
                    format!("operator '{}=' needs an integer variable, but '{name}' is {}", op.symbol(), t.name()),
                );
                self.expr(value, None).id
            }
            (Some(_), None) => self.expr(value, None).id,
        }
    }

    fn ret(&mut self, span: Span, line: u32, value: Option<ExprId>) -> AStmt {
        let ret = self.zir.ret;
        match (value, ret) {
            (None, Some(Type::Void) | None) => AStmt::Return(None),
            (None, Some(t)) => {
                self.error(span, format!("missing return value: '{}' returns {}", self.zir.name, t.name()));
                AStmt::Return(None)
            }
            (Some(value), Some(Type::Void)) => {
                let typed = self.expr(value, None);
                if typed.ty.is_some_and(|t| t != Type::Void) {
                    let span = self.span(value);
                    self.error(span, format!("'{}' returns void, so 'return' cannot have a value", self.zir.name));
                }
                // `return f();` with a void `f` runs the call, then returns.
                AStmt::Block(vec![
                    self.push_stmt(AStmt::Expr(typed.id), line),
                    self.push_stmt(AStmt::Return(None), line),
                ])
            }
            (Some(value), ret) => {
                let typed = self.expr(value, ret);
                self.expect_type(value, typed, ret);
                AStmt::Return(Some(typed.id))
            }
        }
    }

    fn condition(&mut self, cond: ExprId, keyword: &str) -> AExprId {
        let typed = self.expr(cond, Some(Type::Bool));
        if let Some(ty) = typed.ty.filter(|t| *t != Type::Bool) {
            let span = self.span(cond);
            self.error(span, format!("the condition of '{keyword}' must be bool, found {}", ty.name()));
        }
        typed.id
    }

    fn is_literal_true(&self, mut id: ExprId) -> bool {
        loop {
            match &self.zir.expr(id).kind {
                ExprKind::Paren(inner) => id = *inner,
                ExprKind::Bool(true) => return true,
                _ => return false,
            }
        }
    }

    /// Reports a mismatch between what an expression is and what its context needs.
    fn expect_type(&mut self, expr: ExprId, typed: Typed, expected: Option<Type>) {
        if let (Some(found), Some(expected)) = (typed.ty, expected)
            && found != expected
        {
            let span = self.span(expr);
            // Only integers convert, and only with `@as`.
            let hint = if found.is_integer() && expected.is_integer() {
                format!(" (no implicit conversions; use @as({}, …))", expected.name())
            } else {
                String::new()
            };
            self.error(span, format!("mismatched types: expected {}, found {}{hint}", expected.name(), found.name()));
        }
    }

    // ---- expressions ------------------------------------------------------------------

    /// Whether an expression is made only of integer literals, so that its type comes
    /// from its context.
    fn is_literal(&self, id: ExprId) -> bool {
        match &self.zir.expr(id).kind {
            ExprKind::Int(_) => true,
            ExprKind::Paren(inner) => self.is_literal(*inner),
            ExprKind::Unary { op: UnOp::Neg, operand } => self.is_literal(*operand),
            ExprKind::Binary { op, lhs, rhs } if op.is_arithmetic() => self.is_literal(*lhs) && self.is_literal(*rhs),
            _ => false,
        }
    }

    /// Checks an expression. `expected` is the type the context wants; it only decides
    /// the type of integer literals — mismatches are reported by the caller.
    fn expr(&mut self, id: ExprId, expected: Option<Type>) -> Typed {
        crate::with_stack(|| self.expr_inner(id, expected))
    }

    fn expr_inner(&mut self, id: ExprId, expected: Option<Type>) -> Typed {
        let zir = self.zir;
        let expr = zir.expr(id);
        let int_hint = expected.filter(|t| t.is_integer());
        match &expr.kind {
            ExprKind::Int(value) => self.int_literal(expr.span, *value, false, int_hint),
            ExprKind::Bool(value) => self.push(AExprKind::Bool(*value), Type::Bool),
            ExprKind::Name(name) => self.name(id, expr.span, name),
            ExprKind::Call { ns, name, name_span, args } => self.call(id, ns.as_ref(), name, *name_span, args),
            ExprKind::Unary { op: UnOp::Neg, operand } => {
                if let ExprKind::Int(value) = zir.expr(*operand).kind {
                    return self.int_literal(expr.span, value, true, int_hint);
                }
                let typed = self.expr(*operand, int_hint);
                match typed.ty {
                    Some(t) if t.is_integer() => self.push(AExprKind::Neg(typed.id), t),
                    Some(t) => {
                        self.error(expr.span, format!("operator '-' needs an integer operand, found {}", t.name()));
                        self.poison()
                    }
                    None => self.poison(),
                }
            }
            ExprKind::Unary { op: UnOp::Not, operand } => {
                let typed = self.expr(*operand, Some(Type::Bool));
                match typed.ty {
                    Some(Type::Bool) => self.push(AExprKind::Not(typed.id), Type::Bool),
                    Some(t) => {
                        self.error(expr.span, format!("operator '!' needs a bool operand, found {}", t.name()));
                        self.poison()
                    }
                    None => self.poison(),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(expr.span, *op, *lhs, *rhs, int_hint),
            ExprKind::Paren(inner) => self.expr(*inner, expected),
            ExprKind::Print(value) => {
                let typed = self.expr(*value, None);
                match typed.ty {
                    Some(Type::Void) => {
                        let span = self.span(*value);
                        self.error(span, "@print needs an i32, i64 or bool value, found void".to_string());
                        self.poison();
                    }
                    Some(_) => {}
                    None => {
                        self.poison();
                    }
                }
                self.push(AExprKind::Print(typed.id), Type::Void)
            }
            ExprKind::As { ty, ty_span, value } => self.cast(*ty, *ty_span, *value),
            ExprKind::Error => self.poison(),
        }
    }

    fn int_literal(&mut self, span: Span, value: Option<u64>, negated: bool, hint: Option<Type>) -> Typed {
        let ty = hint.unwrap_or(Type::I32);
        let max = match ty {
            Type::I64 => i64::MAX as u64,
            _ => i32::MAX as u64,
        };
        // `-2147483648` is the literal 2147483648 negated; it fits, as in Zig.
        let limit = if negated { max + 1 } else { max };
        match value {
            Some(v) if v <= limit => {
                let v = v as i128;
                self.push(AExprKind::Int(if negated { -v } else { v } as i64), ty)
            }
            _ => {
                let shown = match (value, negated) {
                    (Some(v), false) => format!("integer literal {v}"),
                    (Some(v), true) => format!("integer literal -{v}"),
                    (None, _) => "integer literal".to_string(),
                };
                self.error(span, format!("{shown} does not fit in {}", ty.name()));
                self.poison()
            }
        }
    }

    fn name(&mut self, id: ExprId, span: Span, name: &Name) -> Typed {
        if let Some(result) = self.result(id, span, name) {
            return result;
        }
        if let Some(local) = self.lookup(name) {
            self.resolved(NameSite::Name(id), Resolution::Local(local), Access::Read);
            if self.assigning != Some(local) {
                self.usage[local.0 as usize].read = true;
            }
            return match self.local(local).ty {
                Some(ty) => self.push(AExprKind::Local(local), ty),
                None => self.poison(),
            };
        }
        let message = if let Some(function) = self.own_function(name) {
            self.resolved(NameSite::Name(id), Resolution::Function(function), Access::Read);
            format!("'{name}' is a function; call it with '{name}(...)'")
        } else if !self.zir.params_ok {
            // Perhaps one of the parameters the parser could not read.
            return self.poison();
        } else {
            let hint = Self::did_you_mean(name, self.names_in_scope());
            format!("undeclared name '{name}'{hint}")
        };
        self.error(span, message);
        self.poison()
    }

    /// Checks both operands of a binary operator that needs them to have one type. An
    /// operand made only of literals takes the other operand's type.
    fn operands(&mut self, lhs: ExprId, rhs: ExprId, hint: Option<Type>) -> (Typed, Typed) {
        if hint.is_some() {
            let l = self.expr(lhs, hint);
            let r = self.expr(rhs, hint);
            (l, r)
        } else if self.is_literal(lhs) && !self.is_literal(rhs) {
            let r = self.expr(rhs, None);
            let l = self.expr(lhs, r.ty.filter(|t| t.is_integer()));
            (l, r)
        } else {
            let l = self.expr(lhs, None);
            let r = self.expr(rhs, l.ty.filter(|t| t.is_integer()));
            (l, r)
        }
    }

    fn binary(&mut self, span: Span, op: BinOp, lhs: ExprId, rhs: ExprId, hint: Option<Type>) -> Typed {
        if matches!(op, BinOp::And | BinOp::Or) {
            let l = self.expr(lhs, Some(Type::Bool));
            let r = self.expr(rhs, Some(Type::Bool));
            for (operand, typed) in [(lhs, l), (rhs, r)] {
                if let Some(t) = typed.ty.filter(|t| *t != Type::Bool) {
                    let span = self.span(operand);
                    self.error(span, format!("operator '{}' needs bool operands, found {}", op.symbol(), t.name()));
                }
            }
            return match (l.ty, r.ty) {
                (Some(Type::Bool), Some(Type::Bool)) => {
                    let kind = if op == BinOp::And { AExprKind::And(l.id, r.id) } else { AExprKind::Or(l.id, r.id) };
                    self.push(kind, Type::Bool)
                }
                _ => self.poison(),
            };
        }

        let (l, r) = self.operands(lhs, rhs, if op.is_arithmetic() { hint } else { None });
        let (Some(lt), Some(rt)) = (l.ty, r.ty) else {
            return self.poison();
        };
        let allowed = |t: Type| match op {
            BinOp::Eq | BinOp::Ne => t != Type::Void,
            _ => t.is_integer(),
        };
        // The operand that cannot be one, the left first.
        if let Some(bad) = [lt, rt].into_iter().find(|&t| !allowed(t)) {
            let needs = if matches!(op, BinOp::Eq | BinOp::Ne) { "values" } else { "integer operands" };
            self.error(span, format!("operator '{}' needs {needs}, found {}", op.symbol(), bad.name()));
            return self.poison();
        }
        if lt != rt {
            // Only integers convert, and only with `@as`: no hint for a bool.
            let hint = if lt.is_integer() && rt.is_integer() { " (no implicit conversions; use @as)" } else { "" };
            self.error(span, format!("mismatched types: {} {} {}{hint}", lt.name(), op.symbol(), rt.name()));
            return self.poison();
        }
        if matches!(op, BinOp::Div | BinOp::Rem) {
            self.division_by_zero(span, op, rhs, Some(lt));
        }
        let kind = match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                return self.push(AExprKind::Arith { op: arith_op(op), lhs: l.id, rhs: r.id }, lt);
            }
            BinOp::Eq => CmpOp::Eq,
            BinOp::Ne => CmpOp::Ne,
            BinOp::Lt => CmpOp::Lt,
            BinOp::Le => CmpOp::Le,
            BinOp::Gt => CmpOp::Gt,
            BinOp::Ge => CmpOp::Ge,
            BinOp::And | BinOp::Or => unreachable!("handled above"),
        };
        self.push(AExprKind::Compare { op: kind, lhs: l.id, rhs: r.id }, Type::Bool)
    }

    fn cast(&mut self, ty: Option<Type>, ty_span: Span, value: ExprId) -> Typed {
        let target = match ty {
            Some(t) if t.is_integer() => Some(t),
            Some(t) => {
                self.error(ty_span, format!("@as converts only between i32 and i64, not to {}", t.name()));
                None
            }
            None => None,
        };
        let hint = if self.is_literal(value) { target } else { None };
        let typed = self.expr(value, hint);
        let (Some(target), Some(from)) = (target, typed.ty) else {
            return self.poison();
        };
        if !from.is_integer() {
            let span = self.span(value);
            self.error(span, format!("@as converts only between i32 and i64, not from {}", from.name()));
            return self.poison();
        }
        self.push(AExprKind::Cast(typed.id), target)
    }

    fn call(&mut self, id: ExprId, ns: Option<&(Name, Span)>, name: &Name, name_span: Span, args: &[ExprId]) -> Typed {
        let Some((target, callee_name)) = self.resolve_call(id, ns, name, name_span) else {
            for &arg in args {
                self.expr(arg, None);
            }
            return self.poison();
        };
        let signature = fn_signature(self.db, Function::new(self.db, target, callee_name.clone()))
            .clone()
            .expect("resolve_call checked that the function exists");
        if !signature.complete {
            // Its parameter list did not parse (reported there): nothing to check against.
            for &arg in args {
                self.expr(arg, None);
            }
            return self.poison();
        }
        if args.len() != signature.params.len() {
            let shown = match ns {
                Some((ns, _)) => format!("{ns}.{name}"),
                None => name.to_string(),
            };
            let plural = if signature.params.len() == 1 { "" } else { "s" };
            self.error(
                name_span,
                format!(
                    "'{shown}' takes {} argument{plural}, but {} {} given",
                    signature.params.len(),
                    args.len(),
                    if args.len() == 1 { "was" } else { "were" }
                ),
            );
            for &arg in args {
                self.expr(arg, None);
            }
            return self.poison();
        }
        let mut arg_ids = Vec::with_capacity(args.len());
        for (&arg, &param) in args.iter().zip(&signature.params) {
            let typed = self.expr(arg, param);
            self.expect_type(arg, typed, param);
            if typed.ty == Some(Type::Void) && param.is_none() {
                self.poisoned = true;
            }
            arg_ids.push(typed.id);
        }
        let (Some(params), Some(ret)) = (signature.params.iter().copied().collect::<Option<Vec<_>>>(), signature.ret)
        else {
            return self.poison();
        };
        let callee = self.callee_slot(target, &callee_name, params, ret);
        self.push(AExprKind::Call { callee, args: arg_ids.into_boxed_slice() }, ret)
    }

    /// Finds the file and name a call refers to; reports and returns `None` if nothing
    /// matches (or quietly, if the import it goes through is already reported).
    fn resolve_call(
        &mut self,
        id: ExprId,
        ns: Option<&(Name, Span)>,
        name: &Name,
        name_span: Span,
    ) -> Option<(SourceFile, Name)> {
        if let Some((ns, ns_span)) = ns {
            if self.scope.aliases.contains_key(ns) {
                self.used_aliases.insert(ns.clone());
                self.resolved(NameSite::Namespace(id), Resolution::Alias, Access::Read);
            }
            return match self.scope.aliases.get(ns) {
                Some(Some(target)) => {
                    let target = *target;
                    let function = Function::new(self.db, target, name.clone());
                    if fn_signature(self.db, function).is_some() {
                        self.resolved(NameSite::Callee(id), Resolution::Function(function), Access::Read);
                        Some((target, name.clone()))
                    } else {
                        let module = target.path(self.db).clone();
                        let functions = functions_of(self.db, target);
                        let hint = Self::did_you_mean(name, functions.iter().map(|f| &**f.name(self.db)));
                        self.error(
                            name_span,
                            format!("'{module}' (imported as '{ns}') has no function '{name}'{hint}"),
                        );
                        None
                    }
                }
                Some(None) => {
                    self.poisoned = true;
                    None
                }
                None => {
                    if let Some(local) = self.lookup(ns) {
                        self.resolved(NameSite::Namespace(id), Resolution::Local(local), Access::Read);
                        let declared = self.declared_at(local);
                        self.error_noted(
                            *ns_span,
                            format!("'{ns}' is a local variable, not an import alias"),
                            vec![Note::new(declared, format!("'{ns}' is declared here"))],
                        );
                    } else {
                        let hint = Self::did_you_mean(ns, self.scope.aliases.keys().map(|a| &**a));
                        self.error(*ns_span, format!("unknown import alias '{ns}'{hint}"));
                    }
                    None
                }
            };
        }
        if let Some(local) = self.lookup(name) {
            self.resolved(NameSite::Callee(id), Resolution::Local(local), Access::Read);
            let declared = self.declared_at(local);
            self.error_noted(
                name_span,
                format!("'{name}' is a local variable, not a function"),
                vec![Note::new(declared, format!("'{name}' is declared here, and hides any function of that name"))],
            );
            return None;
        }
        if let Some(function) = self.own_function(name) {
            self.resolved(NameSite::Callee(id), Resolution::Function(function), Access::Read);
            return Some((self.file, name.clone()));
        }
        // The tutorial's spelling: `ns_f(…)` for `ns.f(…)`.
        for (split, _) in name.match_indices('_') {
            let (alias, rest) = (&name[..split], &name[split + 1..]);
            if rest.is_empty() {
                continue;
            }
            match self.scope.aliases.get(alias) {
                Some(Some(target)) => {
                    let target = *target;
                    let rest: Name = rest.into();
                    let function = Function::new(self.db, target, rest.clone());
                    if fn_signature(self.db, function).is_some() {
                        self.used_aliases.insert(alias.into());
                        // Two names side by side, so that renaming either edits only its part.
                        self.resolved(NameSite::AliasPrefix(id, split as u32), Resolution::Alias, Access::Read);
                        let suffix = NameSite::FunctionSuffix(id, split as u32 + 1);
                        self.resolved(suffix, Resolution::Function(function), Access::Read);
                        return Some((target, rest));
                    }
                }
                Some(None) => {
                    self.used_aliases.insert(alias.into());
                    self.poisoned = true;
                    return None;
                }
                None => {}
            }
        }
        let hint = self.function_suggestion(name);
        self.error(name_span, format!("undeclared function '{name}'{hint}"));
        None
    }

    /// For a call of an undeclared function: an imported function of exactly that name
    /// (`geo.square` for `square`), else the closest function of this file. Reading the
    /// file's function list makes this check depend on it — only on this error path,
    /// where adding the function the call means must re-check it anyway.
    fn function_suggestion(&self, name: &Name) -> String {
        for (alias, target) in self.aliases() {
            if functions_of(self.db, target).iter().any(|f| f.name(self.db) == name) {
                return format!("; did you mean '{alias}.{name}'?");
            }
        }
        let functions = file_functions(self.db, self.file);
        Self::did_you_mean(name, functions.functions.iter().map(|f| &**f.name(self.db)))
    }

    /// Warns about `x / 0` and `x % 0` (and `/=`, `%=`) whose divisor is made of
    /// literals only and is zero: valid code, but a runtime error whenever it runs.
    fn division_by_zero(&mut self, span: Span, op: BinOp, divisor: ExprId, ty: Option<Type>) {
        let Some(ty) = ty.filter(|t| t.is_integer()) else { return };
        if self.is_literal(divisor) && self.literal_value(divisor, ty) == Some(0) {
            let what = if op == BinOp::Div { "division" } else { "remainder" };
            self.warning(span, format!("{what} by zero: this fails at run time whenever it runs"), Vec::new());
        }
    }

    /// The value of an expression made of literals only, computed as the program would
    /// in `ty` (wrapping); `None` where that would fail or a literal does not fit.
    fn literal_value(&self, id: ExprId, ty: Type) -> Option<i64> {
        let wrap = |v: i64| if ty == Type::I32 { i64::from(v as i32) } else { v };
        crate::with_stack(|| match &self.zir.expr(id).kind {
            ExprKind::Int(value) => Some(wrap(i64::try_from((*value)?).ok()?)),
            ExprKind::Paren(inner) => self.literal_value(*inner, ty),
            ExprKind::Unary { op: UnOp::Neg, operand } => Some(wrap(self.literal_value(*operand, ty)?.wrapping_neg())),
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.literal_value(*lhs, ty)?, self.literal_value(*rhs, ty)?);
                let min = if ty == Type::I32 { i64::from(i32::MIN) } else { i64::MIN };
                match op {
                    BinOp::Add => Some(wrap(l.wrapping_add(r))),
                    BinOp::Sub => Some(wrap(l.wrapping_sub(r))),
                    BinOp::Mul => Some(wrap(l.wrapping_mul(r))),
                    BinOp::Div if r == 0 || (l == min && r == -1) => None,
                    BinOp::Div => Some(l / r),
                    BinOp::Rem if r == 0 => None,
                    BinOp::Rem if r == -1 => Some(0),
                    BinOp::Rem => Some(l % r),
                    _ => None,
                }
            }
            _ => None,
        })
    }
}

/// How many locals the checker declares for `zir`, how many names it may record (a name
/// expression, an assignment: one; a call: two, `ns` and `f`) and how many scopes it
/// opens (the parameters', one per block).
fn name_capacity(zir: &Zir) -> (usize, usize, usize) {
    let uses = zir
        .exprs
        .iter()
        .map(|e| match e.kind {
            ExprKind::Name(_) => 1,
            ExprKind::Call { .. } => 2,
            _ => 0,
        })
        .sum::<usize>();
    let (mut lets, mut assigns, mut blocks) = (0, 0, 2);
    for stmt in &zir.stmts {
        match &stmt.kind {
            StmtKind::Let { .. } => lets += 1,
            StmtKind::Assign { .. } => assigns += 1,
            StmtKind::If { branches, else_block } => blocks += branches.len() + usize::from(else_block.is_some()),
            StmtKind::While { .. } | StmtKind::Block(_) => blocks += 1,
            _ => {}
        }
    }
    (zir.params.len() + lets, uses + assigns, blocks)
}

fn arith_op(op: BinOp) -> ArithOp {
    match op {
        BinOp::Add => ArithOp::Add,
        BinOp::Sub => ArithOp::Sub,
        BinOp::Mul => ArithOp::Mul,
        BinOp::Div => ArithOp::Div,
        BinOp::Rem => ArithOp::Rem,
        _ => unreachable!("not an arithmetic operator: {op:?}"),
    }
}

/// `items` in an allocation of exactly their number: AIR is kept until its code is
/// generated, and a vector grown by pushing holds up to twice what it needs. A copy, not
/// `shrink_to_fit`: the allocator leaves a block that shrinks by less than half where it
/// is, at its old size.
fn exact<T>(items: Vec<T>) -> Vec<T> {
    if items.capacity() == items.len() {
        return items;
    }
    let mut exact = Vec::with_capacity(items.len());
    exact.extend(items);
    exact
}
