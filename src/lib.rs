//! The `mini` shell: the CLI, the build driver, linking. All I/O lives here; the
//! compiler's stages are queries in `mini-queries`.

pub mod cli;
pub mod driver;
pub mod gc;
pub mod identity;
pub mod index;
pub mod link;
pub mod process;
pub mod remote;
pub mod render;
pub mod report;
pub mod store;
pub mod watch;
