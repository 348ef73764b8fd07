//! `mini-queries`: the salsa database and every stage of the mini compiler, in pipeline
//! order. Nothing here touches the file system, spawns a process or prints (the crate's
//! clippy configuration forbids it); the shell (the `mini` binary) sets the inputs and
//! reads the results.
//!
//! The modules below are listed in pipeline order, and each imports only modules above
//! it: the vocabulary and the inputs at the bottom, code generation at the top.

// The shared vocabulary and the inputs.
pub mod base;
pub mod source;
pub mod db;
pub mod summary;
// The front end: text to checked, typed IR.
pub mod syntax;
pub mod parsed;
pub mod imports;
pub mod items;
pub mod zir;
pub mod sema;
pub mod diagnostics;
// Answers for editors, from the front end's queries.
pub mod ide;
// The back end: what code generation reads, its keys, the link plan, the code.
pub mod codegen_input;
pub mod hash;
pub mod record;
pub mod link;
pub mod codegen;
pub mod transient;
// Describing what ran, for logs and snapshots.
pub mod executed;

pub mod fixture;

pub use db::{Database, Db};

#[cfg(test)]
mod tests;

/// Runs `f` with enough stack for one more level of a recursive walk over a tree,
/// growing the stack on the heap when it runs low. Trees are bounded by
/// `syntax::MAX_NESTING`, but the threads that walk them may have small stacks.
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 4 * 1024 * 1024, f)
}
