//! The one integration-test binary (every test binary links LLVM, so there is one).

mod cache;
mod cli;
mod contracts;
mod diagnostics;
mod oracle;
mod programs;
mod reexecution;
mod support;
mod warnings;
mod watch;
