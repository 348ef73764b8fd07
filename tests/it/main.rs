//! The one integration-test binary (each test binary is linked on its own, and the
//! shell's code is large).

mod cache;
mod cli;
mod codegen;
mod contracts;
mod diagnostics;
mod docs;
mod incremental;
mod layers;
mod lsp;
mod mutation;
mod nginx;
mod oracle;
mod prefetch;
mod programs;
mod reexecution;
mod saving;
mod remote;
mod stamps;
mod support;
mod tools;
mod warnings;
mod watch;
