//! The bottom layer: the vocabulary every stage, the shell and the on-disk cache share —
//! hashes and the canonical encoder, names and types, signatures, imports, spans and
//! severities of diagnostics, and the compiler's identity. It imports nothing else of
//! this crate, so any stage may use it and it can never depend on one (as
//! rust-analyzer's `base-db` sits under its stages).

mod diagnostic;
mod encoding;
mod identity;
mod names;
mod path;
pub mod suggest;

pub use diagnostic::{Note, Severity, Span};
pub use encoding::{Encode, Encoder, Hash};
pub use identity::{COMPILER_ID, host_triple, llvm_version};
pub use names::{Import, Name, Signature, Type};
pub use path::ModulePath;
