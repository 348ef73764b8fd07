//! The runtime (printing, runtime errors, exit), the program's start, and the entry
//! wrapper. None of them needs a C library: the runtime makes system calls itself (see
//! `runtime.ll`), so executables are static and any linker can link them.

use inkwell::AddressSpace;
use inkwell::builder::BuilderError;
use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::{Linkage, Module};
use mini_queries::base::Type;
use mini_queries::codegen::wire::Output;
use mini_queries::source::CodegenSettings;

use super::finish_module;

const RUNTIME_IR: &str = include_str!("runtime.ll");

/// The system call instruction, its operand constraints and the numbers the runtime
/// uses (write, exit_group, ioctl), for the target's architecture.
fn system_calls(target: &str) -> [(&'static str, &'static str); 5] {
    if target.starts_with("aarch64") || target.starts_with("arm64") {
        [
            ("@SYSCALL_INSTRUCTION@", "svc #0"),
            ("@SYSCALL_CONSTRAINTS@", "={x0},{x8},{x0},{x1},{x2},~{memory}"),
            ("@SYS_WRITE@", "64"),
            ("@SYS_EXIT_GROUP@", "94"),
            ("@SYS_IOCTL@", "29"),
        ]
    } else {
        [
            ("@SYSCALL_INSTRUCTION@", "syscall"),
            ("@SYSCALL_CONSTRAINTS@", "={rax},{rax},{rdi},{rsi},{rdx},~{rcx},~{r11},~{memory}"),
            ("@SYS_WRITE@", "1"),
            ("@SYS_EXIT_GROUP@", "231"),
            ("@SYS_IOCTL@", "16"),
        ]
    }
}

/// The runtime (`mini_queries::codegen::runtime_object`): buffered output, `@print` for
/// each type, the runtime error handlers and `mini_rt_start`.
pub(super) fn runtime(settings: &CodegenSettings, output: Output) -> Vec<u8> {
    let mut text = RUNTIME_IR.to_string();
    for (placeholder, value) in system_calls(&settings.target) {
        text = text.replace(placeholder, value);
    }
    let context = Context::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(text.as_bytes(), "mini_runtime");
    let module = context
        .create_module_from_ir(buffer)
        .unwrap_or_else(|e| panic!("the runtime's IR does not parse: {}", e.to_string()));
    finish_module(&module, settings, output)
}

/// The program's first instructions (`_start`): align the stack, call `mini_rt_start`.
pub(super) fn start(settings: &CodegenSettings) -> Vec<u8> {
    let assembly = if settings.target.starts_with("aarch64") || settings.target.starts_with("arm64") {
        ".text\n.globl _start\n.type _start,@function\n_start:\n  mov x29, #0\n  bl mini_rt_start\n  brk #0\n"
    } else {
        ".text\n.globl _start\n.type _start,@function\n_start:\n  xor %ebp, %ebp\n  and $-16, %rsp\n  call mini_rt_start\n  ud2\n"
    };
    let context = Context::create();
    let module = context.create_module("mini_start");
    module.set_inline_assembly(assembly);
    finish_module(&module, settings, Output::Object)
}

/// The entry wrapper: C's `main`, which calls the entry file's `main` (`target`, which
/// returns `ret`), flushes the output buffer, and returns `main`'s result, or 0.
pub(super) fn entry(settings: &CodegenSettings, target: &str, ret: Type, output: Output) -> Vec<u8> {
    let context = Context::create();
    let module = context.create_module("mini_entry");
    build_entry(&context, &module, target, ret)
        .unwrap_or_else(|e| panic!("LLVM builder failed for the entry wrapper: {e}"));
    finish_module(&module, settings, output)
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
    let flush = module.add_function("mini_rt_flush", context.void_type().fn_type(&[], false), Some(Linkage::External));
    let builder = context.create_builder();
    builder.position_at_end(context.append_basic_block(main, "entry"));
    let result = builder.build_call(target, &[], "")?.try_as_basic_value().basic();
    // Linked with a C library (`--emit obj`), nothing else would flush it.
    builder.build_call(flush, &[], "")?;
    match result {
        Some(value) => builder.build_return(Some(&value))?,
        None => builder.build_return(Some(&i32_type.const_zero()))?,
    };
    Ok(())
}
