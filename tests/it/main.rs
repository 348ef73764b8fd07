//! The one integration-test binary (every test binary links LLVM, so there is one).

mod cache;
mod cli;
mod contracts;
mod diagnostics;
mod docs;
mod incremental;
mod layers;
mod lsp;
mod mutation;
mod nginx;
mod oracle;
mod programs;
mod reexecution;
mod saving;
mod remote;
mod stamps;
mod support;
mod tools;
mod warnings;
mod watch;
