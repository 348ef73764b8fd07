//! The runtime (printing, runtime errors) and the entry wrapper, generated with LLVM so
//! that the compiler needs no C compiler. Both link against the C library.

use std::sync::Arc;

use inkwell::AddressSpace;
use inkwell::builder::BuilderError;
use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::values::FunctionValue;

use super::{
    Output, RT_DIV_OVERFLOW, RT_DIV_ZERO, RT_PRINT_BOOL, RT_PRINT_I32, RT_PRINT_I64, finish_module, symbol_name,
};
use crate::db::Db;
use crate::items::Function;
use crate::sema::fn_signature;
use crate::source::{BuildSettings, Workspace};
use crate::syntax::ast::Type;

/// The runtime's object: `@print` for each type, and the runtime error handlers, which
/// flush standard output, print `runtime error: <what> in <module>.<function>` on
/// standard error and exit with status 101.
///
/// Reads: the build settings only.
#[salsa::tracked(returns(ref))]
pub fn runtime_object(db: &dyn Db, settings: BuildSettings) -> Arc<[u8]> {
    let _span = tracing::debug_span!("runtime_object").entered();
    runtime_output(db, settings, Output::Object).into()
}

/// The runtime as LLVM IR text (`--emit llvm-ir`).
#[salsa::tracked(returns(ref))]
pub fn runtime_llvm_ir(db: &dyn Db, settings: BuildSettings) -> Arc<str> {
    String::from_utf8_lossy(&runtime_output(db, settings, Output::Ir)).into()
}

fn runtime_output(db: &dyn Db, settings: BuildSettings, output: Output) -> Vec<u8> {
    let context = Context::create();
    let module = context.create_module("mini_runtime");
    build_runtime(&context, &module).unwrap_or_else(|e| panic!("LLVM builder failed for the runtime: {e}"));
    finish_module(&module, settings.codegen(db), output)
}

fn build_runtime<'ctx>(context: &'ctx Context, module: &Module<'ctx>) -> Result<(), BuilderError> {
    let i8_ptr = context.i8_type().ptr_type(AddressSpace::default());
    let i32_type = context.i32_type();
    let i64_type = context.i64_type();
    let void = context.void_type();
    let printf = module.add_function("printf", i32_type.fn_type(&[i8_ptr.into()], true), Some(Linkage::External));
    let fprintf = module.add_function(
        "fprintf",
        i32_type.fn_type(&[i8_ptr.into(), i8_ptr.into()], true),
        Some(Linkage::External),
    );
    let fflush = module.add_function("fflush", i32_type.fn_type(&[i8_ptr.into()], false), Some(Linkage::External));
    let exit = module.add_function("exit", void.fn_type(&[i32_type.into()], false), Some(Linkage::External));
    let stdout = module.add_global(i8_ptr, None, "stdout");
    let stderr = module.add_global(i8_ptr, None, "stderr");
    let builder = context.create_builder();

    let string = |name: &str, text: &str| -> Result<inkwell::values::PointerValue<'ctx>, BuilderError> {
        let bytes = context.const_string(text.as_bytes(), true);
        let global = module.add_global(bytes.get_type(), None, name);
        global.set_linkage(Linkage::Private);
        global.set_constant(true);
        global.set_initializer(&bytes);
        Ok(global.as_pointer_value().const_cast(i8_ptr))
    };
    let define = |name: &str, param: inkwell::types::BasicMetadataTypeEnum<'ctx>| -> FunctionValue<'ctx> {
        let function = module.add_function(name, void.fn_type(&[param], false), Some(Linkage::External));
        let entry = context.append_basic_block(function, "entry");
        builder.position_at_end(entry);
        function
    };

    for (name, ty, format) in [(RT_PRINT_I32, i32_type, "%d\n"), (RT_PRINT_I64, i64_type, "%lld\n")] {
        let format = string(&format!("{name}.format"), format)?;
        let function = define(name, ty.into());
        let value = function.get_nth_param(0).expect("one parameter");
        builder.build_call(printf, &[format.into(), value.into()], "")?;
        builder.build_return(None)?;
    }

    let true_text = string("true_text", "true\n")?;
    let false_text = string("false_text", "false\n")?;
    let function = define(RT_PRINT_BOOL, i32_type.into());
    let value = function.get_nth_param(0).expect("one parameter").into_int_value();
    let is_true = builder.build_int_compare(inkwell::IntPredicate::NE, value, i32_type.const_zero(), "")?;
    let text = builder.build_select(is_true, true_text, false_text, "")?;
    builder.build_call(printf, &[text.into()], "")?;
    builder.build_return(None)?;

    for (name, what) in [(RT_DIV_ZERO, "division by zero"), (RT_DIV_OVERFLOW, "integer overflow in division")] {
        let format = string(&format!("{name}.format"), &format!("runtime error: {what} in %s\n"))?;
        let function = define(name, i8_ptr.into());
        let location = function.get_nth_param(0).expect("one parameter");
        let out = builder.build_load(stdout.as_pointer_value(), "")?;
        builder.build_call(fflush, &[out.into()], "")?;
        let err = builder.build_load(stderr.as_pointer_value(), "")?;
        builder.build_call(fprintf, &[err.into(), format.into(), location.into()], "")?;
        builder.build_call(exit, &[i32_type.const_int(101, false).into()], "")?;
        builder.build_unreachable()?;
    }
    Ok(())
}

/// The entry wrapper: C's `main`, which calls the entry file's `main` and returns its
/// result (the kernel keeps it modulo 256), or 0 for `fn main() void`. `None` when the
/// entry file has no valid `main` (already reported).
///
/// Reads: the entry file's path, its `main` signature and the build settings.
#[salsa::tracked(returns(ref))]
pub fn entry_object(db: &dyn Db, workspace: Workspace) -> Option<Arc<[u8]>> {
    let _span = tracing::debug_span!("entry_object").entered();
    entry_output(db, workspace, Output::Object).map(Arc::from)
}

/// The entry wrapper as LLVM IR text (`--emit llvm-ir`).
#[salsa::tracked(returns(ref))]
pub fn entry_llvm_ir(db: &dyn Db, workspace: Workspace) -> Option<Arc<str>> {
    entry_output(db, workspace, Output::Ir).map(|text| String::from_utf8_lossy(&text).into())
}

fn entry_output(db: &dyn Db, workspace: Workspace, output: Output) -> Option<Vec<u8>> {
    let entry = workspace.entry(db);
    let main = Function::new(db, entry, crate::syntax::ast::Name::from("main"));
    let ret = fn_signature(db, main).as_ref()?.ret?;
    let settings = BuildSettings::get(db);
    let context = Context::create();
    let module = context.create_module("mini_entry");
    build_entry(&context, &module, &symbol_name(entry.path(db), "main"), ret)
        .unwrap_or_else(|e| panic!("LLVM builder failed for the entry wrapper: {e}"));
    Some(finish_module(&module, settings.codegen(db), output))
}

fn build_entry<'ctx>(
    context: &'ctx Context,
    module: &Module<'ctx>,
    target: &str,
    ret: Type,
) -> Result<(), BuilderError> {
    let i32_type = context.i32_type();
    let argv = context.i8_type().ptr_type(AddressSpace::default()).ptr_type(AddressSpace::default());
    let main = module.add_function("main", i32_type.fn_type(&[i32_type.into(), argv.into()], false), None);
    let target_type = match ret {
        Type::Void => context.void_type().fn_type(&[], false),
        _ => i32_type.fn_type(&[], false),
    };
    let target = module.add_function(target, target_type, Some(Linkage::External));
    let builder = context.create_builder();
    builder.position_at_end(context.append_basic_block(main, "entry"));
    let result = builder.build_call(target, &[], "")?.try_as_basic_value().basic();
    match result {
        Some(value) => builder.build_return(Some(&value))?,
        None => builder.build_return(Some(&i32_type.const_zero()))?,
    };
    Ok(())
}
