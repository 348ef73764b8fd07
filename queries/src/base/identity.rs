//! Who compiled a cache entry: the compiler's identity, the LLVM it generates code with,
//! and the machine's own target triple — all known when this crate is built, so none of
//! them needs LLVM at run time.

/// Identifies the compiler build: the crate version and a hash of this crate's sources,
/// so that any change to the compiler invalidates every cached object.
pub const COMPILER_ID: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("MINI_SOURCE_HASH"));

/// LLVM's version, part of every cache key.
pub fn llvm_version() -> &'static str {
    env!("MINI_LLVM_VERSION")
}

/// The triple of the machine the compiler was built for, as LLVM names it (the default
/// target of code generation). A test checks it against LLVM's own default triple.
pub fn host_triple() -> &'static str {
    env!("MINI_HOST_TRIPLE")
}
