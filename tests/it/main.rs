//! The one integration-test binary (every test binary links LLVM, so there is one).

mod cache;
mod cli;
mod diagnostics;
mod docs;
mod oracle;
mod programs;
mod reexecution;
mod support;
mod tools;
mod watch;
