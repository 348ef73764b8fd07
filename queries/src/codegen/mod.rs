//! Code generation: AIR to native objects through LLVM. The only module that touches
//! inkwell. Each function becomes its own LLVM module and object, so the unit of reuse
//! is the function. No LLVM value outlives a query: queries return owned bytes.

mod function;
mod runtime;
mod split;

use std::cell::RefCell;
use std::sync::{Arc, Once};

use inkwell::OptimizationLevel;
use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple};

use crate::base::ModulePath;
use crate::codegen_input::{CodegenInput, fn_codegen_input};
use crate::db::Db;
use crate::items::Function;
use crate::source::{BuildSettings, CodegenSettings};

pub use runtime::{entry_llvm_ir, entry_object, runtime_llvm_ir, runtime_object, start_object};

pub(crate) const RT_PRINT_I32: &str = "mini_rt_print_i32";
pub(crate) const RT_PRINT_I64: &str = "mini_rt_print_i64";
pub(crate) const RT_PRINT_BOOL: &str = "mini_rt_print_bool";
pub(crate) const RT_DIV_ZERO: &str = "mini_rt_division_by_zero";
pub(crate) const RT_DIV_OVERFLOW: &str = "mini_rt_division_overflow";
pub(crate) const RT_PRECONDITION: &str = "mini_rt_precondition_failed";
pub(crate) const RT_POSTCONDITION: &str = "mini_rt_postcondition_failed";

/// The linker symbol of a function: `mini:<module path>:<name>`. Function names never
/// contain `:`, so the last `:` splits it unambiguously; the prefix keeps it apart from
/// every C symbol; the module path is the same whoever imports the file.
pub fn symbol_name(module: &ModulePath, name: &str) -> String {
    format!("mini:{module}:{name}")
}

/// The triple LLVM itself was configured to target by default (`base::host_triple` is
/// the same, known without starting LLVM; a test keeps them equal).
pub fn llvm_default_triple() -> String {
    TargetMachine::get_default_triple().as_str().to_string_lossy().into_owned()
}

/// Checks that LLVM can generate code for `triple`, so that no query meets a bad one.
pub fn validate_target(triple: &str) -> Result<(), String> {
    initialize_llvm();
    Target::from_triple(&TargetTriple::create(triple)).map(|_| ()).map_err(|e| e.to_string())
}

fn initialize_llvm() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let config = InitializationConfig::default();
        Target::initialize_x86(&config);
        Target::initialize_aarch64(&config);
    });
}

thread_local! {
    /// Target machines are not `Send` and are costly to create: one per thread and
    /// settings.
    static MACHINES: RefCell<Vec<(CodegenSettings, TargetMachine)>> = const { RefCell::new(Vec::new()) };
}

fn with_target_machine<R>(settings: &CodegenSettings, f: impl FnOnce(&TargetMachine) -> R) -> R {
    MACHINES.with(|machines| {
        let mut machines = machines.borrow_mut();
        let index = match machines.iter().position(|(s, _)| s == settings) {
            Some(index) => index,
            None => {
                initialize_llvm();
                let triple = TargetTriple::create(&settings.target);
                let target = Target::from_triple(&triple)
                    .unwrap_or_else(|e| panic!("target '{}' was validated by the shell: {e}", settings.target));
                let level = match settings.opt_level {
                    0 => OptimizationLevel::None,
                    1 => OptimizationLevel::Less,
                    2 => OptimizationLevel::Default,
                    _ => OptimizationLevel::Aggressive,
                };
                // A generic CPU keeps objects portable, and so cacheable.
                let cpu = if settings.target.starts_with("x86_64") { "x86-64" } else { "generic" };
                let machine = target
                    .create_target_machine(&triple, cpu, "", level, RelocMode::PIC, CodeModel::Default)
                    .unwrap_or_else(|| panic!("LLVM could not create a target machine for '{}'", settings.target));
                machines.push((settings.clone(), machine));
                machines.len() - 1
            }
        };
        f(&machines[index].1)
    })
}

/// Sets the module's target, runs the optimization pipeline, and returns either the
/// object bytes or the textual IR.
fn finish_module(module: &Module, settings: &CodegenSettings, output: Output) -> Vec<u8> {
    with_target_machine(settings, |machine| {
        module.set_triple(&machine.get_triple());
        module.set_data_layout(&machine.get_target_data().get_data_layout());
        if let Err(e) = module.verify() {
            panic!("generated invalid LLVM IR: {}\n{}", e.to_string(), module.print_to_string().to_string());
        }
        if settings.opt_level > 0 {
            let passes = format!("default<O{}>", settings.opt_level.min(3));
            module
                .run_passes(&passes, machine, PassBuilderOptions::create())
                .unwrap_or_else(|e| panic!("LLVM pass pipeline failed: {e}"));
        }
        match output {
            Output::Object => machine
                .write_to_memory_buffer(module, FileType::Object)
                .unwrap_or_else(|e| panic!("LLVM could not emit an object: {e}"))
                .as_slice()
                .to_vec(),
            Output::Ir => module.print_to_string().to_bytes().to_vec(),
        }
    })
}

#[derive(Clone, Copy)]
enum Output {
    Object,
    Ir,
}

/// The function's native object. `None` if it has errors.
///
/// Reads: the function's code-generation input only — what `fn_hash` encodes, which is
/// what makes the hash a safe cache key.
#[salsa::tracked(returns(ref), lru = 4096)]
pub fn fn_object(db: &dyn Db, function: Function) -> Option<Arc<[u8]>> {
    let _span = tracing::debug_span!("fn_object", function = %function.qualified_name(db)).entered();
    let input = fn_codegen_input(db, function)?;
    if input.debug.is_some() {
        // Debug sections describe the whole module; such objects are not split.
        let context = Context::create();
        let module = function::build_module(&context, &[input], false);
        return Some(finish_module(&module, input.settings, Output::Object).into());
    }
    compile_split(&[input], input.settings).pop().map(Arc::from)
}

/// Compiles functions in one LLVM module, each in its own section, and splits the
/// object into each function's canonical object (see `split`).
fn compile_split(inputs: &[CodegenInput<'_>], settings: &CodegenSettings) -> Vec<Vec<u8>> {
    let context = Context::create();
    let module = function::build_module(&context, inputs, true);
    let object = finish_module(&module, settings, Output::Object);
    let symbols: Vec<String> = inputs.iter().map(|input| symbol_name(&input.air.module, &input.air.name)).collect();
    split::split(&object, &symbols)
}

/// A group of functions compiled together (see `batch_objects`).
#[salsa::interned(unsafe(no_lifetime), revisions = usize::MAX)]
pub struct CodegenBatch {
    #[returns(ref)]
    pub functions: Vec<Function>,
}

/// The objects of a batch of functions, in order — byte for byte those `fn_object`
/// gives one by one. Without optimization or debug info they come from one LLVM module,
/// which costs a fraction of one module per function; otherwise (where optimizations
/// could look across functions, or debug info spans the module) one by one.
///
/// Reads: the functions' code-generation inputs (and `fn_object`, when not batching).
#[salsa::tracked(returns(ref))]
pub fn batch_objects(db: &dyn Db, batch: CodegenBatch) -> Arc<[Option<Arc<[u8]>>]> {
    let functions = batch.functions(db);
    let _span = tracing::debug_span!("batch_objects", functions = functions.len()).entered();
    let settings = BuildSettings::get(db).codegen(db);
    let inputs: Option<Vec<CodegenInput<'_>>> = functions.iter().map(|&f| fn_codegen_input(db, f)).collect();
    match inputs {
        Some(inputs) if settings.opt_level == 0 && !settings.debug_info => {
            compile_split(&inputs, settings).into_iter().map(|object| Some(Arc::from(object))).collect()
        }
        _ => functions.iter().map(|&f| fn_object(db, f).clone()).collect(),
    }
}

/// The function's LLVM IR as text (`--emit llvm-ir`). `None` if it has errors.
///
/// Reads: the function's code-generation input only.
#[salsa::tracked(returns(ref), lru = 4096)]
pub fn fn_llvm_ir(db: &dyn Db, function: Function) -> Option<Arc<str>> {
    let _span = tracing::debug_span!("fn_llvm_ir", function = %function.qualified_name(db)).entered();
    let input = fn_codegen_input(db, function)?;
    let context = Context::create();
    let module = function::build_module(&context, &[input], false);
    let text = finish_module(&module, input.settings, Output::Ir);
    Some(String::from_utf8_lossy(&text).into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_triple_known_at_build_time_is_llvms_default() {
        assert_eq!(crate::base::host_triple(), super::llvm_default_triple());
    }
}
