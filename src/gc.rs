//! Cache housekeeping: the size cap with least-recently-used eviction, and the
//! `mini cache` commands (stats, gc, clean, verify).
//!
//! Recency is tracked per index: each index (one program and settings) is rewritten by
//! every successful build that uses it, so its modification time is when its entries
//! were last used. Eviction removes entries no index references first (old unit
//! versions, IR sections), oldest first; then, if the cache is still too big, whole
//! indexes and what only they reference, least recently used first.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use anyhow::{Context, Result};
use mini_queries::base::Hash;
use serde_json::json;

use crate::driver::{BuildReport, io_reason};
use crate::index::{Index, IndexError};
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
        store::read_regular(&stats_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let written = counters.bytes_written.load(Ordering::Relaxed);
    let mut approx = previous["approx_bytes"].as_u64().unwrap_or(0) + written;
    let cap = max_size();
    if approx > cap {
        match collect_garbage(root, cap, true) {
            Ok(Some(outcome)) => {
                approx = outcome.bytes_after;
                for problem in &outcome.problems {
                    tracing::warn!("cache garbage collection: {problem}");
                }
            }
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
    /// What could not be read or removed ("path: reason"): the sizes and the eviction
    /// are as good as what could be seen.
    pub problems: Vec<String>,
}

/// Evicts least recently used entries until the cache is at most `max_size` bytes.
/// With `try_only`, gives up (returning `None`) if a build is running.
pub fn collect_garbage(root: &Path, max_size: u64, try_only: bool) -> Result<Option<GcOutcome>> {
    // Only an exclusive lock proves that no build is using the entries.
    let store = if try_only {
        match Store::try_open_exclusive(root)? {
            Some(store) => store,
            None => return Ok(None),
        }
    } else {
        Store::open_exclusive(root)?
    };
    Ok(Some(evict(&store, |_| max_size, None)))
}

/// Makes room for a write of `needed` bytes that failed on a full disk, during a build
/// (see `Store::write_file_parts`): if no other build is running, evicts as the size
/// cap does, at least twice `needed` or a quarter of the cache, sparing the build's own
/// index and what it lists.
pub fn make_room(store: &Store, needed: u64) -> Result<GcOutcome> {
    if !store.try_upgrade()? {
        anyhow::bail!("another build is using the cache, so nothing could be evicted");
    }
    let target = |total: u64| total.saturating_sub(needed.saturating_mul(2).max(total / 4));
    // What this build (or another, before it) wrote since the store was opened is in use.
    let outcome = evict(store, target, Some(store.opened_at()));
    store.downgrade()?;
    Ok(outcome)
}

/// Evicts least recently used entries until the cache is at most `target(size)` bytes,
/// sparing entries written at or after `spare_since`. The caller holds the lock
/// exclusively.
fn evict(store: &Store, target: impl FnOnce(u64) -> u64, spare_since: Option<SystemTime>) -> GcOutcome {
    let root = store.root();
    let mut problems = Vec::new();
    let entries = store.entries(&mut problems);
    let indexes = read_indexes(root, &mut problems);
    remove_orphan_summaries(store, &mut problems);
    let bytes_before: u64 = entries.iter().map(|(_, len, _)| len).sum::<u64>() + index_bytes(root);
    let max_size = target(bytes_before);

    // Which index references each entry, and when each index was last used.
    let mut last_use: HashMap<Hash, SystemTime> = HashMap::new();
    let mut kept: HashSet<Hash> = HashSet::new();
    for (path, modified, index) in &indexes {
        // A unit is two entries under its key: the merged object and its members.
        let header = &index.header;
        let keys = header
            .units
            .iter()
            .flat_map(|&(_, key)| [Store::key(Kind::Unit, key), Store::key(Kind::UnitMembers, key)])
            .chain([
                Store::key(Kind::Runtime, header.runtime),
                Store::key(Kind::Entry, header.entry),
                Store::key(Kind::Start, header.start),
            ]);
        let keep = store.kept_index() == Some(path.as_path());
        for key in keys {
            if keep {
                kept.insert(key);
            }
            let slot = last_use.entry(key).or_insert(*modified);
            *slot = (*slot).max(*modified);
        }
    }
    // Oldest first: unreferenced entries by their own age, then referenced ones by the
    // last use of the newest index that references them.
    let mut order: Vec<(bool, SystemTime, PathBuf, u64)> = entries
        .into_iter()
        .filter(|(path, _, modified)| {
            spare_since.is_none_or(|since| *modified < since)
                && store::key_of_path(path).is_none_or(|key| !kept.contains(&key))
        })
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
        match std::fs::remove_file(&path) {
            Ok(()) => {
                total -= len;
                removed += 1;
            }
            Err(e) => problems.push(format!("cannot remove {}: {}", path.display(), io_reason(&e))),
        }
        if referenced {
            // An index whose entries are going is no longer a reliable summary of them.
            for (index_path, modified, _) in &indexes {
                if *modified <= used && store.kept_index() != Some(index_path.as_path()) && index_path.exists() {
                    remove_index(index_path, &mut problems);
                }
            }
        }
    }
    GcOutcome { removed, bytes_before, bytes_after: total, problems }
}

/// Every readable index with its modification time; what cannot be read is added to
/// `problems`. An index that is damaged or from another version lists nothing.
fn read_indexes(root: &Path, problems: &mut Vec<String>) -> Vec<(PathBuf, SystemTime, Index)> {
    let dir = root.join("index");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(format!("{}: {}", dir.display(), io_reason(&e)));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                problems.push(format!("{}: {}", dir.display(), io_reason(&e)));
                continue;
            }
        };
        let modified = match std::fs::metadata(&path).and_then(|m| m.modified()) {
            Ok(modified) => modified,
            Err(e) => {
                problems.push(format!("{}: {}", path.display(), io_reason(&e)));
                continue;
            }
        };
        match Index::read(&path) {
            Ok(index) => out.push((path, modified, index)),
            Err(IndexError::Unreadable(reason)) => problems.push(format!("{}: {reason}", path.display())),
            Err(IndexError::Damaged | IndexError::OtherVersion) => {}
        }
    }
    out
}

/// The bytes of every index: heads and their summaries.
fn index_bytes(root: &Path) -> u64 {
    ["index", "summaries"]
        .iter()
        .map(|dir| {
            std::fs::read_dir(root.join(dir))
                .map(|dir| dir.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum::<u64>())
                .unwrap_or(0)
        })
        .sum()
}

/// Removes an index: its head, then its summaries.
fn remove_index(head: &Path, problems: &mut Vec<String>) {
    for path in [head.to_path_buf(), crate::index::summaries_path(head)] {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                problems.push(format!("cannot remove {}: {}", path.display(), io_reason(&e)))
            }
            _ => {}
        }
    }
}

/// Removes summaries whose head is gone (it was removed, or a build died between
/// writing the two), except the build's own, whose head may be being written.
fn remove_orphan_summaries(store: &Store, problems: &mut Vec<String>) {
    let root = store.root();
    let Ok(dir) = std::fs::read_dir(root.join("summaries")) else { return };
    let kept = store.kept_index().map(crate::index::summaries_path);
    for entry in dir.flatten() {
        let path = entry.path();
        if root.join("index").join(entry.file_name()).exists() || kept.as_deref() == Some(path.as_path()) {
            continue;
        }
        if let Err(e) = std::fs::remove_file(&path) {
            problems.push(format!("cannot remove {}: {}", path.display(), io_reason(&e)));
        }
    }
}

/// `mini cache stats`.
pub fn stats(root: &Path) -> Result<serde_json::Value> {
    let store = Store::open(root)?;
    let mut unreadable = Vec::new();
    let entries = store.entries(&mut unreadable);
    let indexes = read_indexes(root, &mut unreadable);
    let bytes: u64 = entries.iter().map(|(_, len, _)| len).sum::<u64>() + index_bytes(root);
    let last: serde_json::Value = store::read_regular(&root.join("stats.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    Ok(json!({
        "directory": root.display().to_string(),
        "entries": entries.len(),
        "indexes": indexes.len(),
        "bytes": bytes,
        "max_bytes": max_size(),
        "last_build": last,
        "unreadable": unreadable,
    }))
}

/// `mini cache clean`: removes everything, once no build is running.
pub fn clean(root: &Path) -> Result<()> {
    if !root.exists() {
        return Ok(());
    }
    let _store = Store::open_exclusive(root)?;
    for dir in ["objects", "index", "summaries", "bin", "tmp"] {
        let path = root.join(dir);
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let _ = std::fs::remove_file(root.join("stats.json"));
    Ok(())
}

/// What `mini cache verify` found.
pub struct Verified {
    /// Entries and indexes checked.
    pub checked: usize,
    /// Those that were bad, and were removed.
    pub bad: Vec<PathBuf>,
    /// What could not be read ("path: reason"): neither checked nor removed.
    pub unreadable: Vec<String>,
}

/// `mini cache verify`: re-hashes every entry and index; removes and reports bad ones,
/// and reports what it could not read.
pub fn verify(root: &Path) -> Result<Verified> {
    let store = Store::open_exclusive(root)?;
    let mut verified = Verified { checked: 0, bad: Vec::new(), unreadable: Vec::new() };
    let remove = |path: PathBuf, verified: &mut Verified| match std::fs::remove_file(&path) {
        Ok(()) => verified.bad.push(path),
        Err(e) => {
            verified.unreadable.push(format!("{} is bad but cannot be removed: {}", path.display(), io_reason(&e)))
        }
    };
    for (path, _, _) in store.entries(&mut verified.unreadable) {
        match store::read_regular(&path) {
            Ok(bytes) => {
                verified.checked += 1;
                if store::verify(&bytes, None).is_none() || !store::entry_key_matches(&bytes, &path) {
                    remove(path, &mut verified);
                }
            }
            Err(e) => verified.unreadable.push(format!("{}: {}", path.display(), io_reason(&e))),
        }
    }
    let dir = root.join("index");
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let path = match entry {
                    Ok(entry) => entry.path(),
                    Err(e) => {
                        verified.unreadable.push(format!("{}: {}", dir.display(), io_reason(&e)));
                        continue;
                    }
                };
                // The head and every summary it points to.
                match Index::read(&path) {
                    Ok(index) => {
                        verified.checked += 1;
                        if index.records().is_none() {
                            let _ = std::fs::remove_file(crate::index::summaries_path(&path));
                            remove(path, &mut verified);
                        }
                    }
                    Err(IndexError::Unreadable(reason)) => {
                        verified.unreadable.push(format!("{}: {reason}", path.display()))
                    }
                    Err(IndexError::Damaged | IndexError::OtherVersion) => {
                        verified.checked += 1;
                        let _ = std::fs::remove_file(crate::index::summaries_path(&path));
                        remove(path, &mut verified);
                    }
                }
            }
        }
        Err(e) => verified.unreadable.push(format!("{}: {}", dir.display(), io_reason(&e))),
    }
    Ok(verified)
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
