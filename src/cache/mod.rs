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
/// given (`--cache-dir`), else `MINI_CACHE_DIR`, else `.mini_cache` in the entry file's
/// directory. Every command asks here — builds, `explain` and the language server
/// through `Session::new` and the command line, `mini cache` directly — so that
/// `mini cache stats ENTRY` looks where `mini build ENTRY` wrote, and the editor reads
/// the cache the build writes. (The variable is read here rather than by clap, which
/// would count it as `--cache-dir` given, and refuse it with `--no-cache`.)
pub fn directory(entry: &Path, explicit: Option<&Path>) -> PathBuf {
    let from_env = || std::env::var_os("MINI_CACHE_DIR").map(PathBuf::from);
    match explicit.map(Path::to_path_buf).or_else(from_env).filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => dir,
        None => entry.parent().unwrap_or(Path::new("")).join(".mini_cache"),
    }
}
