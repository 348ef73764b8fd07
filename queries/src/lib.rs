//! `mini-queries`: the salsa database and every stage of the mini compiler, in pipeline
//! order. Nothing here touches the file system, spawns a process or prints; the shell
//! (the `mini` binary) sets the inputs and reads the results.

pub mod codegen;
pub mod db;
pub mod diagnostics;
pub mod hash;
pub mod ide;
pub mod imports;
pub mod items;
pub mod link;
pub mod parsed;
pub mod sema;
pub mod source;
pub mod syntax;
pub mod zir;

pub use db::{Database, Db};

/// Runs `f` with enough stack for one more level of a recursive walk over a tree,
/// growing the stack on the heap when it runs low. Trees are bounded by
/// `syntax::MAX_NESTING`, but the threads that walk them may have small stacks.
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 4 * 1024 * 1024, f)
}
