//! `mini lsp`: a Language Server Protocol server over standard input and output, on the
//! compiler's own database and queries (the IDE layer is `mini_queries::ide`).
//!
//! `server` owns the main loop and the state (the session, open documents, requests in
//! flight); `handlers` answers requests from database snapshots on worker threads;
//! `convert` turns protocol positions and URIs into byte offsets and paths and back.

pub mod convert;
mod handlers;
mod server;

use std::process::ExitCode;

pub use server::{Hooks, Options, QUIET, serve};

/// Runs the server over standard input and output until the client says `exit`.
pub fn run_stdio() -> ExitCode {
    let (connection, io_threads) = lsp_server::Connection::stdio();
    let status = serve(connection, Options::default());
    // The reader stops at `exit` or at the end of input, the writer when the server's
    // sender is gone; a client that went away mid-message is not the server's error.
    if let Err(error) = io_threads.join() {
        tracing::info!("the connection ended with an error: {error}");
    }
    ExitCode::from(status)
}
