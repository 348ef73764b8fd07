//! The `mini` shell: the CLI, the build driver, linking. All I/O lives here; the
//! compiler's stages are queries in `mini-queries`.

pub mod bytes;
pub mod cache;
pub mod cli;
pub mod codegen;
pub mod driver;
pub mod fault;
pub mod fs;
pub mod link;
pub mod lsp;
pub mod output;
pub mod process;
pub mod progress;
pub mod render;
pub mod report;
pub mod scaffold;
pub mod version;
pub mod watch;
