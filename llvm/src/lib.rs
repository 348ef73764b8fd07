//! `mini-llvm`: code generation, AIR to native objects through LLVM — the only crate
//! that links LLVM. The queries (`mini_queries::codegen`) encode what they ask
//! (`wire`); `answer` decodes a request and returns its outputs' bytes; `serve` answers
//! requests over standard input and output, which is all the `mini-codegen` helper
//! process does. The `mini` shell starts that process only when code must be generated,
//! so a build that generates none (a no-op, a comment edit) never loads LLVM.
//!
//! Each function is compiled in its own section and split into a canonical object of its
//! own (`split`), so the unit of reuse is the function. No LLVM value outlives a request:
//! answers are owned bytes.

mod function;
mod runtime;
pub mod serve;
mod split;

use std::cell::RefCell;
use std::sync::Once;

use inkwell::OptimizationLevel;
use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple};
use mini_queries::codegen::symbol_name;
use mini_queries::codegen::wire::{self, Decoded, Input, Output};
use mini_queries::codegen_input::CodegenInput;
use mini_queries::source::CodegenSettings;

pub(crate) const RT_PRINT_I32: &str = "mini_rt_print_i32";
pub(crate) const RT_PRINT_I64: &str = "mini_rt_print_i64";
pub(crate) const RT_PRINT_BOOL: &str = "mini_rt_print_bool";
pub(crate) const RT_DIV_ZERO: &str = "mini_rt_division_by_zero";
pub(crate) const RT_DIV_OVERFLOW: &str = "mini_rt_division_overflow";
pub(crate) const RT_PRECONDITION: &str = "mini_rt_precondition_failed";
pub(crate) const RT_POSTCONDITION: &str = "mini_rt_postcondition_failed";

/// The outputs of one encoded request (`wire::Request`), in order, or why there are
/// none: the request does not decode, or names a target LLVM cannot generate code for.
/// A bug in code generation panics (`serve` reports the panic as a failure).
pub fn answer(request: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let decoded = wire::decode(request).map_err(|e| format!("a request the code generator cannot read: {e}"))?;
    Ok(match decoded {
        Decoded::Objects(inputs) => {
            check_targets(inputs.iter().map(|input| &input.settings))?;
            objects(&inputs)
        }
        Decoded::FunctionIr(input) => {
            check_targets([&input.settings])?;
            let input = input.view();
            let context = Context::create();
            let module = function::build_module(&context, &[input], false);
            vec![finish_module(&module, input.settings, Output::Ir)]
        }
        Decoded::Runtime { settings, output } => {
            check_targets([&settings])?;
            vec![runtime::runtime(&settings, output)]
        }
        Decoded::Start { settings } => {
            check_targets([&settings])?;
            vec![runtime::start(&settings)]
        }
        Decoded::Entry { settings, symbol, ret, output } => {
            check_targets([&settings])?;
            vec![runtime::entry(&settings, &symbol, ret, output)]
        }
    })
}

/// The objects of functions (`wire::Request::Objects`): with `-g`, one function's whole
/// module (debug sections describe the whole module; such objects are not split);
/// otherwise one module for all of them, split into each function's canonical object.
fn objects(inputs: &[Input]) -> Vec<Vec<u8>> {
    let views: Vec<CodegenInput<'_>> = inputs.iter().map(Input::view).collect();
    let Some(first) = views.first() else { return Vec::new() };
    if first.debug.is_some() {
        return views
            .iter()
            .map(|&input| {
                let context = Context::create();
                let module = function::build_module(&context, &[input], false);
                finish_module(&module, input.settings, Output::Object)
            })
            .collect();
    }
    let context = Context::create();
    let module = function::build_module(&context, &views, true);
    let object = finish_module(&module, first.settings, Output::Object);
    let symbols: Vec<String> = views.iter().map(|input| symbol_name(&input.air.module, &input.air.name)).collect();
    split::split(&object, &symbols)
}

/// Refuses targets the shell should have refused (`base::validate_target`), so that no
/// target machine is asked for one LLVM has no backend for.
fn check_targets<'a>(settings: impl IntoIterator<Item = &'a CodegenSettings>) -> Result<(), String> {
    for settings in settings {
        mini_queries::base::validate_target(&settings.target)?;
    }
    Ok(())
}

/// The triple LLVM itself was configured to target by default (`base::host_triple` is
/// the same, known without starting LLVM; a test keeps them equal).
pub fn llvm_default_triple() -> String {
    TargetMachine::get_default_triple().as_str().to_string_lossy().into_owned()
}

/// Whether LLVM has a backend for `triple` (the check `base::validate_target` makes
/// without LLVM; a test keeps the two in agreement).
pub fn llvm_accepts_target(triple: &str) -> Result<(), String> {
    initialize_llvm();
    Target::from_triple(&TargetTriple::create(triple)).map(|_| ()).map_err(|e| e.to_string())
}

/// Prepares this thread for the most common request: LLVM's targets, and a target
/// machine for this machine at `-O0`.
pub(crate) fn warm_up() {
    with_target_machine(&CodegenSettings::host(), |_| ());
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

/// Runs `f` with enough stack for one more level of a recursive walk over AIR, growing
/// the stack on the heap when it runs low (AIR is bounded by the parser's nesting
/// limit, but worker threads may have small stacks).
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 4 * 1024 * 1024, f)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use mini_queries::Database;
    use mini_queries::base::{ModulePath, validate_target};
    use mini_queries::codegen::wire::Request;
    use mini_queries::hash::fn_input_bytes;
    use mini_queries::items::program_functions;
    use mini_queries::source::{BuildSettings, CodegenSettings, FileContents, SourceFile, Workspace};
    use object::{Object as _, ObjectSection as _};

    use super::answer;

    /// A database holding `fixture`'s program (`main.mini` is the entry), with `settings`.
    fn program(fixture: &str, settings: CodegenSettings) -> (Database, Workspace) {
        let db = Database::default();
        let mut files = BTreeMap::new();
        for (path, text) in mini_queries::fixture::parse_fixture(fixture) {
            let path = ModulePath::new(&path).unwrap();
            files.insert(path.clone(), SourceFile::new(&db, path, FileContents::Text(text.into_bytes().into()), None));
        }
        let entry = files[&ModulePath::new("main.mini").unwrap()];
        let workspace = Workspace::new(&db, entry, Arc::new(files));
        BuildSettings::new(&db, settings, false);
        (db, workspace)
    }

    const PROGRAM: &str = r#"
        //- main.mini
        import "lib.mini" as lib;
        fn main() i32 {
            @print(lib.twice(21));
            return lib.pick(true);
        }
        //- lib.mini
        pub fn twice(x: i32) i32 {
            return x * 2;
        }
        pub fn pick(b: bool) i32 {
            if (b) {
                return 1;
            }
            return 0;
        }
    "#;

    #[test]
    fn the_host_triple_known_at_build_time_is_llvms_default() {
        assert_eq!(mini_queries::base::host_triple(), super::llvm_default_triple());
    }

    /// `base::validate_target` decides without LLVM; LLVM must agree. Every triple it
    /// accepts, LLVM accepts and makes ELF objects for; every triple it says LLVM has no
    /// backend for, LLVM refuses with the same words.
    #[test]
    fn every_target_mini_accepts_gets_elf_objects_from_llvm() {
        let triples = [
            "x86_64-pc-linux-gnu",
            "x86_64-unknown-linux-gnu",
            "amd64-unknown-freebsd",
            "x86_64h-linux-gnu",
            "x86_64",
            "aarch64-unknown-linux-gnu",
            "arm64-linux",
            "aarch64-linux-android",
            "x86_64-unknown-linux-gnu-elf",
            "no-such-target",
            "riscv64-linux-gnu",
            "",
            "i686-unknown-linux-gnu",
            "aarch64_be-linux-gnu",
            "arm64_32-apple-ios",
            "x86_64-apple-darwin",
            "aarch64-apple-macos",
            "x86_64-pc-windows-msvc",
            "x86_64-pc-windows-gnu",
            "x86_64-unknown-linux-macho",
            "aarch64-none-elf",
        ];
        for triple in triples {
            match validate_target(triple) {
                Ok(()) => {
                    assert_eq!(super::llvm_accepts_target(triple), Ok(()), "{triple}");
                    let settings = CodegenSettings { opt_level: 0, target: triple.into(), debug_info: false };
                    let (db, workspace) = program(PROGRAM, settings);
                    let functions = program_functions(&db, workspace);
                    let inputs: Vec<&[u8]> =
                        functions.iter().map(|&f| fn_input_bytes(&db, f).as_deref().unwrap()).collect();
                    let objects = answer(&Request::Objects(&inputs).encode()).unwrap();
                    for object in objects {
                        let file = object::File::parse(&*object).unwrap_or_else(|e| panic!("{triple}: {e}"));
                        assert_eq!(file.format(), object::BinaryFormat::Elf, "{triple}");
                        assert!(file.is_64() && file.is_little_endian(), "{triple}");
                    }
                }
                Err(reason) if reason.starts_with("No available targets") => {
                    assert_eq!(super::llvm_accepts_target(triple), Err(reason), "{triple}");
                }
                Err(_) => {}
            }
        }
    }

    /// Cold builds compile functions in batches, and the cache keeps one object per
    /// function: a function's object must not depend on its batch.
    #[test]
    fn a_function_compiled_in_a_batch_gets_the_bytes_it_gets_alone() {
        let (db, workspace) = program(PROGRAM, CodegenSettings::host());
        let functions = program_functions(&db, workspace);
        let inputs: Vec<&[u8]> = functions.iter().map(|&f| fn_input_bytes(&db, f).as_deref().unwrap()).collect();
        let batch = answer(&Request::Objects(&inputs).encode()).unwrap();
        assert_eq!(batch.len(), inputs.len());
        for ((input, batched), function) in inputs.iter().zip(&batch).zip(functions.iter()) {
            let alone = answer(&Request::Objects(&[*input]).encode()).unwrap();
            assert_eq!(alone, vec![batched.clone()], "{}", function.name(&db));
            let object = object::File::parse(&**batched).unwrap();
            assert!(object.section_by_name(".text").is_some_and(|s| s.size() > 0));
        }
    }

    #[test]
    fn a_request_that_does_not_decode_is_refused() {
        let error = answer(b"\x09garbage").unwrap_err();
        assert!(error.starts_with("a request the code generator cannot read"), "{error}");
    }
}
