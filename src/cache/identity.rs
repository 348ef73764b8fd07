//! The shell's part of the compiler's identity: a hash of the shell sources that shape
//! bytes kept in the cache.
//!
//! `COMPILER_ID` hashes `queries/src` and `llvm/src`, which make every object; but a link
//! unit's bytes are made here, by `link/merge.rs` (with the `object` crate's writer), and
//! the store's and the index's layouts live in `store.rs` and `index.rs` (encoded with
//! `bytes.rs`). Two builds of
//! mini that differ in any of them must not share entry keys, locally or through a remote
//! cache, so the store mixes this hash into every key (`store::Store::key`).
//!
//! This file is also compiled into the build script (`build.rs`), which computes the
//! hash and passes it as `MINI_SHELL_HASH`; so it uses nothing but `std` and `blake3`.

use std::path::Path;

/// The shell sources whose text shapes stored bytes, relative to the package root.
pub const SHAPING_SOURCES: &[&str] = &["src/link/merge.rs", "src/cache/store.rs", "src/cache/index.rs", "src/bytes.rs"];

/// The dependencies whose code shapes stored bytes: `object` writes the merged units.
pub const SHAPING_CRATES: &[&str] = &["object"];

/// The sources of mini's own linker, whose layout of an executable a later build may
/// patch in place (`Kind::LinkLayout`): a layout is used only by the linker that made it.
pub const LINKER_SOURCES: &[&str] = &["src/link/image.rs", "src/link/incremental.rs", "src/link/saved.rs"];

/// The hash of the shaping sources under `root` and of the shaping crates' versions in
/// `root/Cargo.lock`, as 16 hex digits; `None` if a source cannot be read.
pub fn shell_hash(root: &Path) -> Option<String> {
    sources_hash(root, SHAPING_SOURCES)
}

/// `shell_hash` for the linker's sources (`LINKER_SOURCES`).
pub fn linker_hash(root: &Path) -> Option<String> {
    sources_hash(root, LINKER_SOURCES)
}

fn sources_hash(root: &Path, sources: &[&str]) -> Option<String> {
    let mut hasher = blake3::Hasher::new();
    for file in sources {
        let text = std::fs::read(root.join(file)).ok()?;
        hasher.update(&(file.len() as u64).to_le_bytes());
        hasher.update(file.as_bytes());
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(&text);
    }
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    for version in locked_versions(&lock, SHAPING_CRATES) {
        hasher.update(&(version.len() as u64).to_le_bytes());
        hasher.update(version.as_bytes());
    }
    Some(hasher.finalize().to_hex()[..16].to_string())
}

/// `name version` of every locked package named in `crates`, in lock-file order.
pub fn locked_versions(lock: &str, crates: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut name: Option<&str> = None;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            name = None;
        } else if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"'));
        } else if let (Some(value), Some(current)) = (line.strip_prefix("version = "), name)
            && crates.contains(&current)
        {
            out.push(format!("{current} {}", value.trim_matches('"')));
        }
    }
    out
}
