//! The on-disk cache, as a layer of its own under the driver (as rustc keeps its in
//! `rustc_incremental::persist`): the content-addressed store of objects and link units
//! (`store`), the per-program file index (`index`), the size cap and the `mini cache`
//! commands (`gc`), the shared remote tier (`remote`), and the shell's part of every key
//! (`identity`). It knows files, bytes and keys — nothing of the driver, the database's
//! sessions or the command line: the driver tells it what to keep and asks what it has.

pub mod gc;
pub mod identity;
pub mod index;
pub mod remote;
pub mod store;

use std::path::{Path, PathBuf};

/// The cache directory of the program whose entry file is `entry`: `explicit` when
/// given (`--cache-dir`, or `MINI_CACHE_DIR`, which clap reads for every command that
/// takes the flag), else `.mini_cache` in the entry file's directory. Every command asks
/// here — builds through `Session::new` and the command line, `mini cache` directly —
/// so that `mini cache stats ENTRY` looks where `mini build ENTRY` wrote.
pub fn directory(entry: &Path, explicit: Option<&Path>) -> PathBuf {
    match explicit.filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => entry.parent().unwrap_or(Path::new("")).join(".mini_cache"),
    }
}
