//! The one integration-test binary (every test binary links LLVM, so there is one).

mod cache;
mod cli;
mod diagnostics;
mod nginx;
mod oracle;
mod programs;
mod reexecution;
mod remote;
mod support;
mod watch;
