//! Lowers functions' AIR to LLVM IR: one function per module, or a batch of functions
//! per module, each in its own section so that `split` can take the object apart.

use inkwell::basic_block::BasicBlock;
use inkwell::builder::{Builder, BuilderError};
use inkwell::context::Context;
use inkwell::debug_info::{
    AsDIScope, DIFlags, DIFlagsConstants, DIScope, DWARFEmissionKind, DWARFSourceLanguage, DebugInfoBuilder,
};
use inkwell::module::{FlagBehavior, Linkage, Module};
use inkwell::types::{BasicMetadataTypeEnum, BasicType, BasicTypeEnum};
use inkwell::values::{BasicMetadataValueEnum, BasicValueEnum, FunctionValue, IntValue, PointerValue};
use inkwell::{AddressSpace, IntPredicate};

use super::{
    RT_DIV_OVERFLOW, RT_DIV_ZERO, RT_POSTCONDITION, RT_PRECONDITION, RT_PRINT_BOOL, RT_PRINT_I32, RT_PRINT_I64,
    symbol_name,
};
use mini_queries::base::Type;
use mini_queries::codegen_input::{CodegenInput, ContractInput, DebugInfo};
use mini_queries::sema::air::{AExpr, AExprId, AExprKind, AStmt, AStmtId, Air, ArithOp, Callee, CmpOp, Local};
use mini_queries::syntax::ast::ContractKind;

type Result<T> = std::result::Result<T, BuilderError>;

/// Builds a module holding `functions` (plus declarations of what they call). With
/// `sections`, each function and its data get sections of their own, named after it.
/// Debug info describes the whole module: only a module of one function has any.
pub(super) fn build_module<'ctx>(
    context: &'ctx Context,
    functions: &[CodegenInput<'_>],
    sections: bool,
) -> Module<'ctx> {
    debug_assert!(functions.len() == 1 || functions.iter().all(|f| f.debug.is_none()));
    let name = functions.first().map_or_else(|| "empty".to_string(), |f| symbol_name(&f.air.module, &f.air.name));
    let module = context.create_module(&name);
    for function in functions {
        let symbol = symbol_name(&function.air.module, &function.air.name);
        let emitter = Emitter::new(context, &module, function, sections);
        emitter.emit(&symbol).unwrap_or_else(|e| panic!("LLVM builder failed for '{symbol}': {e}"));
    }
    module
}

/// The expressions and callees being emitted: the body's, or the contracts'.
#[derive(Clone, Copy)]
struct Arena<'a> {
    exprs: &'a [AExpr],
    callees: &'a [Callee],
}

impl<'a> Arena<'a> {
    fn expr(&self, id: AExprId) -> &'a AExpr {
        &self.exprs[id.0 as usize]
    }
}

/// The section a function's code goes to, when functions get sections of their own.
pub(super) fn text_section(symbol: &str) -> String {
    format!(".text.{symbol}")
}

struct Emitter<'ctx, 'a> {
    context: &'ctx Context,
    module: &'a Module<'ctx>,
    builder: Builder<'ctx>,
    air: &'a Air,
    /// The contracts to check, when they are on.
    contracts: Option<ContractInput<'a>>,
    /// Where expressions and callees are looked up: the body's arena, or the contracts'
    /// while their checks are emitted.
    arena: Arena<'a>,
    /// The value being returned, while `ensures` checks are emitted.
    result: Option<BasicValueEnum<'ctx>>,
    /// With `ensures`: the block every return goes to, where they are checked, and the
    /// slot holding the returned value (for non-void functions).
    exit: Option<(BasicBlock<'ctx>, Option<PointerValue<'ctx>>)>,
    debug: Option<&'a DebugInfo>,
    sections: bool,
    function: Option<FunctionValue<'ctx>>,
    slots: Vec<PointerValue<'ctx>>,
    /// For each enclosing loop: where `continue` and `break` go.
    loops: Vec<(BasicBlock<'ctx>, BasicBlock<'ctx>)>,
    /// The `module.function` string for runtime error messages, made on first use.
    location: Option<PointerValue<'ctx>>,
    /// With `-g`: the debug info builder (finalized when the emitter is dropped) and the
    /// function's scope.
    di: Option<(DebugInfoBuilder<'ctx>, DIScope<'ctx>)>,
}

impl<'ctx, 'a> Emitter<'ctx, 'a> {
    fn new(context: &'ctx Context, module: &'a Module<'ctx>, input: &CodegenInput<'a>, sections: bool) -> Self {
        let air = input.air;
        Emitter {
            context,
            module,
            builder: context.create_builder(),
            air,
            contracts: input.contracts,
            arena: Arena { exprs: &air.exprs, callees: &air.callees },
            result: None,
            exit: None,
            debug: input.debug,
            sections,
            function: None,
            slots: Vec::new(),
            loops: Vec::new(),
            location: None,
            di: None,
        }
    }

    fn llvm_type(&self, ty: Type) -> Option<BasicTypeEnum<'ctx>> {
        match ty {
            Type::I32 => Some(self.context.i32_type().into()),
            Type::I64 => Some(self.context.i64_type().into()),
            Type::Bool => Some(self.context.bool_type().into()),
            Type::Void => None,
        }
    }

    fn declare(&self, symbol: &str, params: &[Type], ret: Type) -> FunctionValue<'ctx> {
        if let Some(existing) = self.module.get_function(symbol) {
            return existing;
        }
        let params: Vec<BasicMetadataTypeEnum> =
            params.iter().map(|t| self.llvm_type(*t).expect("parameters are never void").into()).collect();
        let fn_type = match self.llvm_type(ret) {
            Some(ret) => ret.fn_type(&params, false),
            None => self.context.void_type().fn_type(&params, false),
        };
        let function = self.module.add_function(symbol, fn_type, Some(Linkage::External));
        let nounwind =
            self.context.create_enum_attribute(inkwell::attributes::Attribute::get_named_enum_kind_id("nounwind"), 0);
        function.add_attribute(inkwell::attributes::AttributeLoc::Function, nounwind);
        function
    }

    fn runtime(&self, name: &str, param: BasicMetadataTypeEnum<'ctx>, noreturn: bool) -> FunctionValue<'ctx> {
        if let Some(existing) = self.module.get_function(name) {
            return existing;
        }
        let fn_type = self.context.void_type().fn_type(&[param], false);
        let function = self.module.add_function(name, fn_type, Some(Linkage::External));
        if noreturn {
            let kind = inkwell::attributes::Attribute::get_named_enum_kind_id("noreturn");
            function.add_attribute(
                inkwell::attributes::AttributeLoc::Function,
                self.context.create_enum_attribute(kind, 0),
            );
        }
        function
    }

    fn emit(mut self, symbol: &str) -> Result<()> {
        let air = self.air;
        let function = self.declare(symbol, &air.params, air.ret);
        if self.sections {
            function.set_section(Some(&text_section(symbol)));
        }
        self.function = Some(function);
        self.attach_debug_info(function, symbol);

        let entry = self.context.append_basic_block(function, "entry");
        self.builder.position_at_end(entry);
        self.set_line(0);
        for (index, ty) in air.locals.iter().enumerate() {
            let ty = self.llvm_type(*ty).expect("locals are never void");
            self.slots.push(self.builder.build_alloca(ty, &format!("local{index}"))?);
        }
        let ensures = self.contracts.is_some_and(|c| c.contracts.of_kind(ContractKind::Ensures).next().is_some());
        if ensures {
            let slot = match self.llvm_type(air.ret) {
                Some(ty) => Some(self.builder.build_alloca(ty, "result")?),
                None => None,
            };
            self.exit = Some((self.context.append_basic_block(function, "ensures"), slot));
        }
        for (index, param) in function.get_param_iter().enumerate() {
            self.builder.build_store(self.slots[index], param)?;
        }
        self.check_contracts(ContractKind::Requires, RT_PRECONDITION)?;
        self.block(&air.body)?;
        if self.is_open() {
            match (air.ret, self.exit) {
                (Type::Void, Some((exit, _))) => self.builder.build_unconditional_branch(exit)?,
                (Type::Void, None) => self.builder.build_return(None)?,
                // Sema proved every path returns; the end is unreachable.
                _ => self.builder.build_unreachable()?,
            };
        }
        if let Some((exit, slot)) = self.exit {
            // Last, after the body, where a reader of the IR looks for it.
            if let Some(last) = function.get_last_basic_block().filter(|&last| last != exit) {
                exit.move_after(last).expect("both blocks are in the function");
            }
            self.builder.position_at_end(exit);
            self.result = match slot {
                Some(slot) => Some(self.builder.build_load(slot, "result")?),
                None => None,
            };
            self.check_contracts(ContractKind::Ensures, RT_POSTCONDITION)?;
            match self.result {
                Some(value) => self.builder.build_return(Some(&value))?,
                None => self.builder.build_return(None)?,
            };
        }
        Ok(())
    }

    /// Emits the clauses of one kind in order, each pointing its line at the clause; a
    /// false one calls `handler`, which does not return.
    fn check_contracts(&mut self, kind: ContractKind, handler: &str) -> Result<()> {
        let Some(code) = self.contracts else { return Ok(()) };
        let body = self.arena;
        self.arena = Arena { exprs: &code.contracts.exprs, callees: &code.contracts.callees };
        for (index, clause) in code.contracts.of_kind(kind) {
            if let Some(lines) = code.lines {
                self.set_line(lines.get(index).copied().unwrap_or(0));
            }
            let holds = self.int(clause.expr)?;
            self.call_handler_unless(holds, handler)?;
        }
        self.arena = body;
        Ok(())
    }

    fn attach_debug_info(&mut self, function: FunctionValue<'ctx>, symbol: &str) {
        let Some(debug) = self.debug else { return };
        let (builder, unit) = self.module.create_debug_info_builder(
            true,
            DWARFSourceLanguage::C,
            &debug.file,
            ".",
            "mini",
            false,
            "",
            0,
            "",
            DWARFEmissionKind::LineTablesOnly,
            0,
            false,
            false,
            "",
            "",
        );
        let file = unit.get_file();
        let subroutine = builder.create_subroutine_type(file, None, &[], DIFlags::PUBLIC);
        let line = debug.base_line + 1;
        let subprogram = builder.create_function(
            unit.as_debug_info_scope(),
            &format!("{}.{}", self.air.module.without_extension(), self.air.name),
            Some(symbol),
            file,
            line,
            subroutine,
            false,
            true,
            line,
            DIFlags::PUBLIC,
            false,
        );
        function.set_subprogram(subprogram);
        let version = self.context.i32_type().const_int(3, false);
        self.module.add_basic_value_flag("Debug Info Version", FlagBehavior::Warning, version);
        let dwarf = self.context.i32_type().const_int(4, false);
        self.module.add_basic_value_flag("Dwarf Version", FlagBehavior::Warning, dwarf);
        self.di = Some((builder, subprogram.as_debug_info_scope()));
    }

    /// Points the builder's debug location at a line relative to the function start.
    fn set_line(&self, relative_line: u32) {
        let (Some(debug), Some((di, scope))) = (self.debug, &self.di) else {
            return;
        };
        let line = debug.base_line + relative_line + 1;
        let location = di.create_debug_location(self.context, line, 1, *scope, None);
        self.builder.set_current_debug_location(location);
    }

    fn current_function(&self) -> FunctionValue<'ctx> {
        self.function.expect("set before emitting the body")
    }

    fn is_open(&self) -> bool {
        self.builder.get_insert_block().is_some_and(|b| b.get_terminator().is_none())
    }

    /// Code after `return`, `break` or `continue` is unreachable but still has to live
    /// in some block: give it a fresh one with no predecessors.
    fn ensure_open(&self) {
        if !self.is_open() {
            let dead = self.context.append_basic_block(self.current_function(), "dead");
            self.builder.position_at_end(dead);
        }
    }

    fn new_block(&self, name: &str) -> BasicBlock<'ctx> {
        self.context.append_basic_block(self.current_function(), name)
    }

    fn branch_to(&self, target: BasicBlock<'ctx>) -> Result<()> {
        if self.is_open() {
            self.builder.build_unconditional_branch(target)?;
        }
        Ok(())
    }

    // ---- statements -------------------------------------------------------------------

    fn block(&mut self, stmts: &[AStmtId]) -> Result<()> {
        for &stmt in stmts {
            self.stmt(stmt)?;
        }
        Ok(())
    }

    fn stmt(&mut self, id: AStmtId) -> Result<()> {
        crate::with_stack(|| self.stmt_inner(id))
    }

    fn stmt_inner(&mut self, id: AStmtId) -> Result<()> {
        self.ensure_open();
        if let Some(debug) = self.debug {
            self.set_line(debug.lines.get(id.0 as usize).copied().unwrap_or(0));
        }
        let air = self.air;
        match air.stmt(id) {
            AStmt::Store { local, value } => {
                let value = self.expr(*value)?.expect("stored values are never void");
                self.builder.build_store(self.slot(*local), value)?;
            }
            AStmt::If { branches, else_block } => {
                let merge = self.new_block("endif");
                for (cond, body) in branches {
                    let cond = self.int(*cond)?;
                    let then = self.new_block("then");
                    let next = self.new_block("else");
                    self.builder.build_conditional_branch(cond, then, next)?;
                    self.builder.position_at_end(then);
                    self.block(body)?;
                    self.branch_to(merge)?;
                    self.builder.position_at_end(next);
                }
                if let Some(body) = else_block {
                    self.block(body)?;
                }
                self.branch_to(merge)?;
                self.builder.position_at_end(merge);
            }
            AStmt::While { cond, body } => {
                let head = self.new_block("while");
                let body_block = self.new_block("body");
                let exit = self.new_block("endwhile");
                self.builder.build_unconditional_branch(head)?;
                self.builder.position_at_end(head);
                let cond = self.int(*cond)?;
                self.builder.build_conditional_branch(cond, body_block, exit)?;
                self.builder.position_at_end(body_block);
                self.loops.push((head, exit));
                self.block(body)?;
                self.loops.pop();
                self.branch_to(head)?;
                self.builder.position_at_end(exit);
            }
            AStmt::Break => {
                let (_, exit) = *self.loops.last().expect("sema rejects break outside a loop");
                self.builder.build_unconditional_branch(exit)?;
            }
            AStmt::Continue => {
                let (head, _) = *self.loops.last().expect("sema rejects continue outside a loop");
                self.builder.build_unconditional_branch(head)?;
            }
            AStmt::Return(value) => {
                let value = match value {
                    Some(value) => Some(self.expr(*value)?.expect("returned values are never void")),
                    None => None,
                };
                match (self.exit, value) {
                    // With `ensures`, every return goes through the block that checks them.
                    (Some((exit, slot)), value) => {
                        if let (Some(slot), Some(value)) = (slot, value) {
                            self.builder.build_store(slot, value)?;
                        }
                        self.builder.build_unconditional_branch(exit)?;
                    }
                    (None, Some(value)) => {
                        self.builder.build_return(Some(&value))?;
                    }
                    (None, None) => {
                        self.builder.build_return(None)?;
                    }
                }
            }
            AStmt::Block(body) => self.block(body)?,
            AStmt::Expr(expr) => {
                self.expr(*expr)?;
            }
        }
        Ok(())
    }

    fn slot(&self, local: Local) -> PointerValue<'ctx> {
        self.slots[local.0 as usize]
    }

    // ---- expressions ------------------------------------------------------------------

    fn int(&mut self, id: AExprId) -> Result<IntValue<'ctx>> {
        Ok(self.expr(id)?.expect("operand is never void").into_int_value())
    }

    /// Emits an expression; `None` for a void call or `@print`.
    fn expr(&mut self, id: AExprId) -> Result<Option<BasicValueEnum<'ctx>>> {
        crate::with_stack(|| self.expr_inner(id))
    }

    fn expr_inner(&mut self, id: AExprId) -> Result<Option<BasicValueEnum<'ctx>>> {
        let arena = self.arena;
        let expr = arena.expr(id);
        let value: BasicValueEnum = match &expr.kind {
            AExprKind::Int(value) => {
                let ty = self.llvm_type(expr.ty).expect("integer").into_int_type();
                ty.const_int(*value as u64, true).into()
            }
            AExprKind::Bool(value) => self.context.bool_type().const_int(u64::from(*value), false).into(),
            AExprKind::Local(local) => self.builder.build_load(self.slot(*local), "")?,
            AExprKind::Call { callee, args } => {
                let callee = &arena.callees[*callee as usize];
                let function = self.declare(&symbol_name(&callee.module, &callee.name), &callee.params, callee.ret);
                let mut values: Vec<BasicMetadataValueEnum> = Vec::with_capacity(args.len());
                for &arg in args {
                    values.push(self.expr(arg)?.expect("arguments are never void").into());
                }
                let call = self.builder.build_call(function, &values, "")?;
                return Ok(call.try_as_basic_value().basic());
            }
            AExprKind::Neg(operand) => {
                let value = self.int(*operand)?;
                self.builder.build_int_neg(value, "")?.into()
            }
            AExprKind::Not(operand) => {
                let value = self.int(*operand)?;
                self.builder.build_not(value, "")?.into()
            }
            AExprKind::Arith { op, lhs, rhs } => {
                let lhs = self.int(*lhs)?;
                let rhs = self.int(*rhs)?;
                self.arith(*op, lhs, rhs)?.into()
            }
            AExprKind::Compare { op, lhs, rhs } => {
                let lhs = self.int(*lhs)?;
                let rhs = self.int(*rhs)?;
                let predicate = match op {
                    CmpOp::Eq => IntPredicate::EQ,
                    CmpOp::Ne => IntPredicate::NE,
                    CmpOp::Lt => IntPredicate::SLT,
                    CmpOp::Le => IntPredicate::SLE,
                    CmpOp::Gt => IntPredicate::SGT,
                    CmpOp::Ge => IntPredicate::SGE,
                };
                self.builder.build_int_compare(predicate, lhs, rhs, "")?.into()
            }
            AExprKind::And(lhs, rhs) => self.short_circuit(*lhs, *rhs, true)?.into(),
            AExprKind::Or(lhs, rhs) => self.short_circuit(*lhs, *rhs, false)?.into(),
            AExprKind::Print(value) => {
                let operand = arena.expr(*value).ty;
                let value = self.int(*value)?;
                let i32_type = self.context.i32_type();
                let (name, arg): (&str, IntValue) = match operand {
                    Type::I32 => (RT_PRINT_I32, value),
                    Type::I64 => (RT_PRINT_I64, value),
                    _ => (RT_PRINT_BOOL, self.builder.build_int_z_extend(value, i32_type, "")?),
                };
                let function = self.runtime(name, arg.get_type().into(), false);
                self.builder.build_call(function, &[arg.into()], "")?;
                return Ok(None);
            }
            AExprKind::Cast(operand) => {
                let from = arena.expr(*operand).ty;
                let value = self.int(*operand)?;
                let to = self.llvm_type(expr.ty).expect("integer").into_int_type();
                match (from, expr.ty) {
                    (Type::I32, Type::I64) => self.builder.build_int_s_extend(value, to, "")?.into(),
                    (Type::I64, Type::I32) => self.builder.build_int_truncate(value, to, "")?.into(),
                    _ => value.into(),
                }
            }
            AExprKind::Result => self.result.expect("`result` is only read where ensures are checked"),
        };
        Ok(Some(value))
    }

    fn short_circuit(&mut self, lhs: AExprId, rhs: AExprId, is_and: bool) -> Result<IntValue<'ctx>> {
        let lhs = self.int(lhs)?;
        let lhs_end = self.builder.get_insert_block().expect("positioned");
        let rhs_block = self.new_block(if is_and { "and.rhs" } else { "or.rhs" });
        let merge = self.new_block(if is_and { "and.end" } else { "or.end" });
        if is_and {
            self.builder.build_conditional_branch(lhs, rhs_block, merge)?;
        } else {
            self.builder.build_conditional_branch(lhs, merge, rhs_block)?;
        }
        self.builder.position_at_end(rhs_block);
        let rhs = self.int(rhs)?;
        let rhs_end = self.builder.get_insert_block().expect("positioned");
        self.builder.build_unconditional_branch(merge)?;
        self.builder.position_at_end(merge);
        let bool_type = self.context.bool_type();
        let phi = self.builder.build_phi(bool_type, "")?;
        let short = bool_type.const_int(u64::from(!is_and), false);
        phi.add_incoming(&[(&short, lhs_end), (&rhs, rhs_end)]);
        Ok(phi.as_basic_value().into_int_value())
    }

    fn arith(&mut self, op: ArithOp, lhs: IntValue<'ctx>, rhs: IntValue<'ctx>) -> Result<IntValue<'ctx>> {
        // No `nsw`/`nuw` flags: `+ - *` wrap, as the language says.
        Ok(match op {
            ArithOp::Add => self.builder.build_int_add(lhs, rhs, "")?,
            ArithOp::Sub => self.builder.build_int_sub(lhs, rhs, "")?,
            ArithOp::Mul => self.builder.build_int_mul(lhs, rhs, "")?,
            ArithOp::Div | ArithOp::Rem => {
                let ty = lhs.get_type();
                // A constant divisor needs only the checks it can fail.
                let constant = rhs.get_sign_extended_constant();
                if constant.is_some_and(|d| d != 0 && d != -1) {
                    return Ok(if op == ArithOp::Div {
                        self.builder.build_int_signed_div(lhs, rhs, "")?
                    } else {
                        self.builder.build_int_signed_rem(lhs, rhs, "")?
                    });
                }
                let zero = ty.const_zero();
                let minus_one = ty.const_all_ones();
                let is_zero = self.builder.build_int_compare(IntPredicate::EQ, rhs, zero, "")?;
                self.trap_if(is_zero, RT_DIV_ZERO)?;
                let is_minus_one = self.builder.build_int_compare(IntPredicate::EQ, rhs, minus_one, "")?;
                if op == ArithOp::Div {
                    let bits = ty.get_bit_width();
                    let min = ty.const_int(1u64 << (bits - 1), false);
                    let is_min = self.builder.build_int_compare(IntPredicate::EQ, lhs, min, "")?;
                    let overflows = self.builder.build_and(is_min, is_minus_one, "")?;
                    self.trap_if(overflows, RT_DIV_OVERFLOW)?;
                    self.builder.build_int_signed_div(lhs, rhs, "")?
                } else {
                    // `x % -1` is 0 for every x; dividing MIN by -1 would trap in hardware.
                    let one = ty.const_int(1, false);
                    let divisor = self.builder.build_select(is_minus_one, one, rhs, "")?.into_int_value();
                    self.builder.build_int_signed_rem(lhs, divisor, "")?
                }
            }
        })
    }

    /// Calls the runtime error `handler` (which does not return) when `condition` holds.
    fn trap_if(&mut self, condition: IntValue<'ctx>, handler: &str) -> Result<()> {
        let fail = self.new_block("rt.error");
        let ok = self.new_block("rt.ok");
        self.builder.build_conditional_branch(condition, fail, ok)?;
        self.fail_then_continue(fail, ok, handler)
    }

    /// Calls the runtime error `handler` (which does not return) unless `condition` holds.
    fn call_handler_unless(&mut self, condition: IntValue<'ctx>, handler: &str) -> Result<()> {
        let ok = self.new_block("contract.ok");
        let fail = self.new_block("contract.failed");
        self.builder.build_conditional_branch(condition, ok, fail)?;
        self.fail_then_continue(fail, ok, handler)
    }

    /// Fills `fail` with a call to `handler` and continues in `ok`.
    fn fail_then_continue(&mut self, fail: BasicBlock<'ctx>, ok: BasicBlock<'ctx>, handler: &str) -> Result<()> {
        self.builder.position_at_end(fail);
        let location = self.location()?;
        let ptr_type = self.context.i8_type().ptr_type(AddressSpace::default());
        let function = self.runtime(handler, ptr_type.into(), true);
        self.builder.build_call(function, &[location.into()], "")?;
        self.builder.build_unreachable()?;
        self.builder.position_at_end(ok);
        Ok(())
    }

    /// A pointer to `"module.function\0"` for runtime error messages.
    fn location(&mut self) -> Result<PointerValue<'ctx>> {
        if let Some(location) = self.location {
            return Ok(location);
        }
        let text = format!("{}.{}", self.air.module.without_extension(), self.air.name);
        let bytes = self.context.const_string(text.as_bytes(), true);
        // Named after the function, so that modules printed together stay distinct.
        let name = format!("{}.location", symbol_name(&self.air.module, &self.air.name));
        let global = self.module.add_global(bytes.get_type(), None, &name);
        global.set_linkage(Linkage::Private);
        global.set_constant(true);
        global.set_initializer(&bytes);
        if self.sections {
            global.set_section(Some(&format!(".rodata.{name}")));
        }
        let ptr_type = self.context.i8_type().ptr_type(AddressSpace::default());
        let ptr = global.as_pointer_value().const_cast(ptr_type);
        self.location = Some(ptr);
        Ok(ptr)
    }
}
