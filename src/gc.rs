//! Cache housekeeping: the size cap with least-recently-used eviction, and the
//! `mini cache` commands (stats, gc, clean, verify).
//!
//! Recency is tracked per index: each index (one program and settings) is rewritten by
//! every successful build that uses it, so its modification time is when its entries
//! were last used. Eviction removes entries no index references first (old unit
//! versions, IR sections), oldest first; then, if the cache is still too big, whole
//! indexes and what only they reference, least recently used first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use anyhow::{Context, Result};
use mini_queries::hash::Hash;
use serde_json::json;

use crate::driver::BuildReport;
use crate::index::Index;
use crate::store::{self, Counters, Kind, Store};

/// The default size cap: 2 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

/// The size cap: `MINI_CACHE_MAX_SIZE` (e.g. `500M`, `2G`) or the default.
pub fn max_size() -> u64 {
    std::env::var("MINI_CACHE_MAX_SIZE").ok().and_then(|s| parse_size(&s).ok()).unwrap_or(DEFAULT_MAX_SIZE)
}

/// Parses a size: a number with an optional K, M, G (powers of 1024) suffix.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let upper = text.to_ascii_uppercase();
    let trimmed = upper.trim_end_matches("IB").trim_end_matches('B');
    let (digits, shift) = match trimmed.chars().last() {
        Some('K') => (&trimmed[..trimmed.len() - 1], 10),
        Some('M') => (&trimmed[..trimmed.len() - 1], 20),
        Some('G') => (&trimmed[..trimmed.len() - 1], 30),
        Some('T') => (&trimmed[..trimmed.len() - 1], 40),
        _ => (trimmed, 0),
    };
    let value: u64 = digits.trim().parse().map_err(|_| format!("'{text}' is not a size (try 500M or 2G)"))?;
    value.checked_mul(1 << shift).ok_or_else(|| format!("'{text}' is too large"))
}

/// Records the build's counters for `mini cache stats`, and enforces the size cap. Runs
/// after the build released its lock on the cache.
pub fn after_build(root: &Path, counters: &Counters, report: &BuildReport) {
    let stats_path = root.join("stats.json");
    let previous: serde_json::Value =
        std::fs::read(&stats_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let written = counters.bytes_written.load(Ordering::Relaxed);
    let mut approx = previous["approx_bytes"].as_u64().unwrap_or(0) + written;
    let cap = max_size();
    if approx > cap {
        match collect_garbage(root, cap, true) {
            Ok(Some(outcome)) => approx = outcome.bytes_after,
            Ok(None) => {} // another build holds the cache; the next build will try again
            Err(e) => tracing::warn!("cache garbage collection failed: {e:#}"),
        }
    }
    let stats = json!({
        "hits": counters.hits.load(Ordering::Relaxed),
        "misses": counters.misses.load(Ordering::Relaxed),
        "corrupt": counters.corrupt.load(Ordering::Relaxed),
        "bytes_written": written,
        "functions": report.functions,
        "compiled": report.compiled.len(),
        "reused_from_disk": report.reused_from_disk,
        "link_units_relinked": report.link_units_relinked,
        "approx_bytes": approx,
        "remote": report.remote.as_ref().map(|r| json!({
            "server": r.server,
            "hits": r.hits,
            "misses": r.misses,
            "uploads": r.uploads,
            "errors": r.errors,
            "bad": r.bad,
            "bytes_down": r.bytes_down,
            "bytes_up": r.bytes_up,
            "warning": r.warning,
            "reused_functions": report.reused_from_remote,
        })),
    });
    let _ = crate::driver::write_atomically(&stats_path, stats.to_string().as_bytes());
}

pub struct GcOutcome {
    pub removed: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Evicts least recently used entries until the cache is at most `max_size` bytes.
/// With `try_only`, gives up (returning `None`) if a build is running.
pub fn collect_garbage(root: &Path, max_size: u64, try_only: bool) -> Result<Option<GcOutcome>> {
    let lock = std::fs::File::options().create(true).truncate(false).write(true).open(root.join("lock"))?;
    if try_only {
        // Only an exclusive lock proves that no build is using the entries.
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
    } else {
        lock.lock()?;
    }
    let store = Store::open_unlocked(root)?;
    let entries = store.entries();
    let bytes_before: u64 = entries.iter().map(|(_, len, _)| len).sum::<u64>() + index_bytes(root);

    // Which index references each entry, and when each index was last used.
    let indexes = read_indexes(root);
    let mut last_use: HashMap<Hash, SystemTime> = HashMap::new();
    for (_, modified, index) in &indexes {
        // A unit is two entries under its key: the merged object and its members.
        let header = &index.header;
        let keys = header
            .units
            .iter()
            .flat_map(|&(_, key)| [Store::key(Kind::Unit, key), Store::key(Kind::UnitMembers, key)])
            .chain([Store::key(Kind::Runtime, header.runtime), Store::key(Kind::Entry, header.entry)]);
        for key in keys {
            let slot = last_use.entry(key).or_insert(*modified);
            *slot = (*slot).max(*modified);
        }
    }
    // Oldest first: unreferenced entries by their own age, then referenced ones by the
    // last use of the newest index that references them.
    let mut order: Vec<(bool, SystemTime, PathBuf, u64)> = entries
        .into_iter()
        .map(|(path, len, modified)| {
            let used = store::key_of_path(&path).and_then(|k| last_use.get(&k).copied());
            (used.is_some(), used.unwrap_or(modified), path, len)
        })
        .collect();
    order.sort_by_key(|a| (a.0, a.1));

    let mut total = bytes_before;
    let mut removed = 0;
    for (referenced, used, path, len) in order {
        if total <= max_size {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            removed += 1;
        }
        if referenced {
            // An index whose entries are going is no longer a reliable summary of them.
            for (index_path, modified, _) in &indexes {
                if *modified <= used {
                    let _ = std::fs::remove_file(index_path);
                }
            }
        }
    }
    drop(lock);
    Ok(Some(GcOutcome { removed, bytes_before, bytes_after: total }))
}

fn read_indexes(root: &Path) -> Vec<(PathBuf, SystemTime, Index)> {
    let Ok(dir) = std::fs::read_dir(root.join("index")) else { return Vec::new() };
    dir.flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let modified = entry.metadata().ok()?.modified().ok()?;
            let index = Index::read(&path)?;
            Some((path, modified, index))
        })
        .collect()
}

fn index_bytes(root: &Path) -> u64 {
    std::fs::read_dir(root.join("index"))
        .map(|dir| dir.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// `mini cache stats`.
pub fn stats(root: &Path) -> Result<serde_json::Value> {
    let store = Store::open(root)?;
    let entries = store.entries();
    let bytes: u64 = entries.iter().map(|(_, len, _)| len).sum::<u64>() + index_bytes(root);
    let last: serde_json::Value =
        std::fs::read(root.join("stats.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    Ok(json!({
        "directory": root.display().to_string(),
        "entries": entries.len(),
        "indexes": read_indexes(root).len(),
        "bytes": bytes,
        "max_bytes": max_size(),
        "last_build": last,
    }))
}

/// `mini cache clean`: removes everything, once no build is running.
pub fn clean(root: &Path) -> Result<()> {
    if !root.exists() {
        return Ok(());
    }
    let _store = Store::open_exclusive(root)?;
    for dir in ["objects", "index", "bin", "tmp"] {
        let path = root.join(dir);
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let _ = std::fs::remove_file(root.join("stats.json"));
    Ok(())
}

/// `mini cache verify`: re-hashes every entry and index; removes and reports bad ones.
pub fn verify(root: &Path) -> Result<(usize, Vec<PathBuf>)> {
    let store = Store::open_exclusive(root)?;
    let mut checked = 0;
    let mut bad = Vec::new();
    for (path, _, _) in store.entries() {
        checked += 1;
        let ok = std::fs::read(&path)
            .ok()
            .is_some_and(|bytes| store::verify(&bytes, None).is_some() && store::entry_key_matches(&bytes, &path));
        if !ok {
            let _ = std::fs::remove_file(&path);
            bad.push(path);
        }
    }
    if let Ok(dir) = std::fs::read_dir(root.join("index")) {
        for entry in dir.flatten() {
            checked += 1;
            let path = entry.path();
            if std::fs::read(&path).ok().and_then(|b| Index::decode(&b)).is_none() {
                let _ = std::fs::remove_file(&path);
                bad.push(path);
            }
        }
    }
    Ok((checked, bad))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("lots").is_err());
    }
}
