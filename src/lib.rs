//! The `mini` shell: the CLI, the build driver, linking. All I/O lives here; the
//! compiler's stages are queries in `mini-queries`.

pub mod cli;
pub mod codegen;
pub mod driver;
pub mod fault;
pub mod gc;
pub mod identity;
pub mod index;
pub mod link;
pub mod lsp;
pub mod output;
pub mod process;
pub mod progress;
pub mod remote;
pub mod render;
pub mod report;
pub mod scaffold;
pub mod store;
pub mod version;
pub mod watch;
