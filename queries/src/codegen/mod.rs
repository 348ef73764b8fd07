//! Code generation as queries: each function's object (`fn_object`), batches of them
//! (`batch_objects`), IR for `--emit llvm-ir`, the runtime, `_start` and the entry
//! wrapper. LLVM itself is not here — it lives in `mini-llvm`, which the shell runs in a
//! helper process — so a query encodes what it asks (`wire`), hands the bytes to the
//! database's `Backend` and returns the bytes it gets back. The query graph, the hashes
//! and the caching are as if LLVM were called in place; a process that generates no
//! code never starts LLVM at all.

pub mod wire;

use std::sync::Arc;

use crate::base::ModulePath;
use crate::db::Db;
use crate::hash::fn_input_bytes;
use crate::items::Function;
use crate::sema::fn_signature;
use crate::source::{BuildSettings, Workspace};
use wire::{Output, Request};

/// The linker symbol of a function: `mini:<module path>:<name>`. Function names never
/// contain `:`, so the last `:` splits it unambiguously; the prefix keeps it apart from
/// every C symbol; the module path is the same whoever imports the file.
pub fn symbol_name(module: &ModulePath, name: &str) -> String {
    format!("mini:{module}:{name}")
}

/// Asks the database's code generator; `expected` outputs must come back.
///
/// A failure is a bug (in mini, or a code generator that died), never the user's input:
/// it panics, and the shell reports an internal error. The shell starts the code
/// generator before it asks for code, so that a missing one is an ordinary error.
fn generate(db: &dyn Db, request: Request<'_>, expected: usize) -> Vec<Vec<u8>> {
    let bytes = request.encode();
    match db.backend().generate(&bytes) {
        Ok(outputs) if outputs.len() == expected => outputs,
        Ok(outputs) => panic!("the code generator answered {} outputs for {expected}", outputs.len()),
        Err(reason) => panic!("code generation failed: {reason}"),
    }
}

fn one(db: &dyn Db, request: Request<'_>) -> Vec<u8> {
    generate(db, request, 1).pop().expect("one output")
}

/// The function's native object. `None` if it has errors.
///
/// Reads: the function's code-generation input only — what `fn_hash` encodes, and
/// exactly the bytes the code generator is sent, which is what makes the hash a safe
/// cache key.
#[salsa::tracked(returns(ref), lru = 4096)]
pub fn fn_object(db: &dyn Db, function: Function) -> Option<Arc<[u8]>> {
    let _span = tracing::debug_span!("fn_object", function = %function.qualified_name(db)).entered();
    let input = fn_input_bytes(db, function).as_deref()?;
    Some(one(db, Request::Objects(&[input])).into())
}

/// A group of functions compiled together (see `batch_objects`).
#[salsa::interned(unsafe(no_lifetime), revisions = usize::MAX)]
pub struct CodegenBatch {
    #[returns(ref)]
    pub functions: Vec<Function>,
}

/// The objects of a batch of functions, in order — byte for byte those `fn_object`
/// gives one by one. Without optimization or debug info they come from one LLVM module,
/// which costs a fraction of one module per function (the code generator splits the
/// module's object into each function's canonical one); otherwise (where optimizations
/// could look across functions, or debug info spans the module) one by one.
///
/// Reads: the functions' code-generation inputs (and `fn_object`, when not batching).
/// Evictable (`transient`): the shell keeps the objects it takes.
#[salsa::tracked(returns(ref), lru = 0)]
pub fn batch_objects(db: &dyn Db, batch: CodegenBatch) -> Arc<[Option<Arc<[u8]>>]> {
    let functions = batch.functions(db);
    let _span = tracing::debug_span!("batch_objects", functions = functions.len()).entered();
    let settings = BuildSettings::get(db).codegen(db);
    let inputs: Option<Vec<&[u8]>> = functions.iter().map(|&f| fn_input_bytes(db, f).as_deref()).collect();
    match inputs {
        Some(inputs) if settings.opt_level == 0 && !settings.debug_info => {
            let objects = generate(db, Request::Objects(&inputs), inputs.len());
            objects.into_iter().map(|object| Some(Arc::from(object))).collect()
        }
        _ => functions.iter().map(|&f| fn_object(db, f).clone()).collect(),
    }
}

/// Sets how many `batch_objects` values `transient::evict` keeps (0: none are tracked).
pub(crate) fn track_batch_objects(db: &mut dyn Db, capacity: usize) {
    batch_objects::set_lru_capacity(db, capacity);
}

/// The function's LLVM IR as text (`--emit llvm-ir`). `None` if it has errors.
///
/// Reads: the function's code-generation input only.
#[salsa::tracked(returns(ref), lru = 4096)]
pub fn fn_llvm_ir(db: &dyn Db, function: Function) -> Option<Arc<str>> {
    let _span = tracing::debug_span!("fn_llvm_ir", function = %function.qualified_name(db)).entered();
    let input = fn_input_bytes(db, function).as_deref()?;
    Some(String::from_utf8_lossy(&one(db, Request::FunctionIr(input))).into())
}

/// The runtime's object: buffered output, `@print` for each type, the runtime error
/// handlers (flush standard output, print `runtime error: <what> in <module>.<function>`
/// on standard error, exit with status 101) and `mini_rt_start`.
///
/// Reads: the build settings only.
#[salsa::tracked(returns(ref))]
pub fn runtime_object(db: &dyn Db, settings: BuildSettings) -> Arc<[u8]> {
    let _span = tracing::debug_span!("runtime_object").entered();
    one(db, Request::Runtime { settings: settings.codegen(db), output: Output::Object }).into()
}

/// The runtime as LLVM IR text (`--emit llvm-ir`).
#[salsa::tracked(returns(ref))]
pub fn runtime_llvm_ir(db: &dyn Db, settings: BuildSettings) -> Arc<str> {
    let text = one(db, Request::Runtime { settings: settings.codegen(db), output: Output::Ir });
    String::from_utf8_lossy(&text).into()
}

/// The program's first instructions (`_start`): align the stack, call
/// `mini_rt_start`. Only executables get it — an object from `--emit obj` is linked
/// with a C library's start instead.
#[salsa::tracked(returns(ref))]
pub fn start_object(db: &dyn Db, settings: BuildSettings) -> Arc<[u8]> {
    one(db, Request::Start { settings: settings.codegen(db) }).into()
}

/// The entry wrapper: C's `main`, which calls the entry file's `main`, flushes the
/// output buffer, and returns `main`'s result (the kernel keeps it modulo 256), or 0 for
/// `fn main() void`. `None` when the entry file has no valid `main` (already reported).
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
    let main = Function::new(db, entry, crate::base::Name::from("main"));
    let ret = fn_signature(db, main).as_ref()?.ret?;
    let settings = BuildSettings::get(db).codegen(db);
    let symbol = symbol_name(entry.path(db), "main");
    Some(one(db, Request::Entry { settings, symbol, ret, output }))
}
