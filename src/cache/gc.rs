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

use super::index::{Index, IndexError};
use super::store::{self, Counters, Kind, Store};
use crate::fs::io_reason;

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
/// What a build did, as `mini cache stats` reports it.
pub struct BuildSummary<'a> {
    pub functions: usize,
    pub compiled: usize,
    pub reused_from_disk: usize,
    pub reused_from_remote: usize,
    pub link_units_relinked: usize,
    pub remote: Option<&'a super::remote::RemoteReport>,
}

pub fn after_build(root: &Path, counters: &Counters, build: &BuildSummary<'_>) {
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
        "functions": build.functions,
        "compiled": build.compiled,
        "reused_from_disk": build.reused_from_disk,
        "link_units_relinked": build.link_units_relinked,
        "approx_bytes": approx,
        "remote": build.remote.map(|r| json!({
            "server": r.server,
            "hits": r.hits,
            "misses": r.misses,
            "uploads": r.uploads,
            "errors": r.errors,
            "bad": r.bad,
            "bytes_down": r.bytes_down,
            "bytes_up": r.bytes_up,
            "warning": r.warning,
            "reused_functions": build.reused_from_remote,
        })),
    });
    let _ = crate::output::write_atomically(&stats_path, stats.to_string().as_bytes(), false);
}

/// What the cache holds, as one listing that `stats`, `gc` and `verify` all count: every
/// entry (`objects/`) and every index (`index/`, its size counting its summaries in
/// `summaries/`), with its size and modification time, and what could not be read
/// ("path: reason").
pub struct Listing {
    pub entries: Vec<Item>,
    pub indexes: Vec<Item>,
    pub unreadable: Vec<String>,
}

/// A file of the cache.
#[derive(Clone, Debug)]
pub struct Item {
    pub path: PathBuf,
    pub len: u64,
    pub modified: SystemTime,
}

impl Listing {
    /// Every entry and index of the store at `root` (the caller holds its lock).
    pub fn of(store: &Store) -> Listing {
        let mut unreadable = Vec::new();
        let entries = store
            .entries(&mut unreadable)
            .into_iter()
            .map(|(path, len, modified)| Item { path, len, modified })
            .collect();
        let indexes = list_indexes(store.root(), &mut unreadable);
        Listing { entries, indexes, unreadable }
    }

    /// What the entries and indexes take: the size the cap limits.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().chain(&self.indexes).map(|item| item.len).sum()
    }
}

fn list_indexes(root: &Path, unreadable: &mut Vec<String>) -> Vec<Item> {
    let dir = root.join("index");
    let listing = match std::fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) => {
            unreadable.push(format!("{}: {}", dir.display(), io_reason(&e)));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in listing {
        let item = entry.and_then(|entry| {
            let metadata = entry.metadata()?;
            let path = entry.path();
            let summaries = std::fs::metadata(super::index::summaries_path(&path)).map_or(0, |m| m.len());
            Ok(Item { path, len: metadata.len() + summaries, modified: metadata.modified()? })
        });
        match item {
            Ok(item) => out.push(item),
            Err(e) => unreadable.push(format!("{}: {}", dir.display(), io_reason(&e))),
        }
    }
    out
}

/// Whether a directory holds a cache of mini's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// It does: it has the CACHEDIR.TAG every store writes when it opens.
    Cache,
    /// Nothing is there.
    Missing,
    /// Something else is there (a directory without mini's tag, a file): the cache
    /// commands must not create, count or remove anything in it.
    Other,
}

/// What is at `root`.
pub fn presence(root: &Path) -> Presence {
    match std::fs::symlink_metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Presence::Missing,
        _ => {}
    }
    // The tag as `Store::open` writes it: the standard signature (which other tools'
    // caches have too — cargo's `target/`) and mini's own line.
    let tag = store::read_regular(&root.join("CACHEDIR.TAG")).unwrap_or_default();
    let tag = String::from_utf8_lossy(&tag);
    if tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55") && tag.contains("mini's build cache") {
        Presence::Cache
    } else {
        Presence::Other
    }
}

/// Fails unless `root` holds a cache: "no cache at …", or "… is not a cache of mini's".
pub fn require_cache(root: &Path) -> Result<()> {
    match presence(root) {
        Presence::Cache => Ok(()),
        Presence::Missing => anyhow::bail!("{}", no_cache_at(root)),
        Presence::Other => anyhow::bail!(
            "{} is not a cache of mini's (it has no CACHEDIR.TAG written by mini), so it is left alone",
            root.display()
        ),
    }
}

/// `no cache at .mini_cache`.
pub fn no_cache_at(root: &Path) -> String {
    format!("no cache at {}", root.display())
}

pub struct GcOutcome {
    /// Entries removed.
    pub removed: usize,
    /// Indexes removed: those that listed removed entries, and unusable ones.
    pub removed_indexes: usize,
    pub bytes_before: u64,
    /// What the entries and indexes left take, as measured while removing them.
    pub bytes_after: u64,
    /// Entries and indexes left.
    pub entries_after: usize,
    pub indexes_after: usize,
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

/// What eviction may remove, oldest first within each group.
enum Victim {
    /// An entry: whether an index references it, and when it was last used (the newest
    /// referencing index's time, or its own).
    Entry { item: Item, referenced: bool, used: SystemTime },
    /// An index no build of this mini can use (damaged, or another version's): as
    /// useless as an unreferenced entry, and it counts towards the size as much.
    UnusableIndex(Item),
}

/// Evicts least recently used entries until the cache is at most `target(size)` bytes,
/// sparing entries written at or after `spare_since`. The caller holds the lock
/// exclusively. Entries and indexes are counted alike (`Listing::bytes`), and every
/// removal — an entry, or an index it takes with it — comes off the count, so it ends
/// at or under the target unless what is left is spared or could not be removed.
fn evict(store: &Store, target: impl FnOnce(u64) -> u64, spare_since: Option<SystemTime>) -> GcOutcome {
    let mut orphans = Vec::new();
    remove_orphan_summaries(store, &mut orphans);
    let listing = Listing::of(store);
    let bytes_before = listing.bytes();
    let max_size = target(bytes_before);
    let Listing { entries, indexes, unreadable: mut problems } = listing;
    problems.extend(orphans);
    let (entries_before, indexes_before) = (entries.len(), indexes.len());
    let spared = |item: &Item| spare_since.is_some_and(|since| item.modified >= since);

    // Which index references each entry, and when each index was last used.
    let (readable, unusable) = read_indexes(indexes, &mut problems);
    let mut last_use: HashMap<Hash, SystemTime> = HashMap::new();
    let mut kept: HashSet<Hash> = HashSet::new();
    for (item, index) in &readable {
        // A unit is two entries under its key: the merged object and its members. A
        // layout saved as a replay needs the whole layout it replays over.
        let header = &index.header;
        let keys = header
            .units
            .iter()
            .flat_map(|&(_, key)| [Store::key(Kind::Unit, key), Store::key(Kind::UnitMembers, key)])
            .chain([
                Store::key(Kind::Runtime, header.runtime),
                Store::key(Kind::Entry, header.entry),
                Store::key(Kind::Start, header.start),
                Store::key(Kind::LinkLayout, header.link_key),
            ])
            .chain(header.layout_base.map(|base| Store::key(Kind::LinkLayout, base)));
        let keep = store.kept_index() == Some(item.path.as_path());
        for key in keys {
            if keep {
                kept.insert(key);
            }
            let slot = last_use.entry(key).or_insert(item.modified);
            *slot = (*slot).max(item.modified);
        }
    }
    // Oldest first: unreferenced entries and unusable indexes by their own age, then
    // referenced entries by the last use of the newest index that references them.
    let mut order: Vec<Victim> = entries
        .into_iter()
        .filter(|item| !spared(item) && store::key_of_path(&item.path).is_none_or(|key| !kept.contains(&key)))
        .map(|item| {
            let used = store::key_of_path(&item.path).and_then(|k| last_use.get(&k).copied());
            Victim::Entry { referenced: used.is_some(), used: used.unwrap_or(item.modified), item }
        })
        .chain(unusable.into_iter().filter(|item| !spared(item)).map(Victim::UnusableIndex))
        .collect();
    order.sort_by_key(|victim| match victim {
        Victim::Entry { referenced, used, .. } => (*referenced, *used),
        Victim::UnusableIndex(item) => (false, item.modified),
    });

    let mut total = bytes_before;
    let (mut removed, mut removed_indexes) = (0, 0);
    let mut index_alive = vec![true; readable.len()];
    let remove = |item: &Item, total: &mut u64, problems: &mut Vec<String>| match remove_item(&item.path) {
        Ok(()) => {
            *total -= item.len;
            true
        }
        Err(e) => {
            problems.push(format!("cannot remove {}: {}", item.path.display(), io_reason(&e)));
            false
        }
    };
    for victim in order {
        if total <= max_size {
            break;
        }
        match victim {
            Victim::UnusableIndex(item) => removed_indexes += usize::from(remove(&item, &mut total, &mut problems)),
            Victim::Entry { item, referenced, used } => {
                removed += usize::from(remove(&item, &mut total, &mut problems));
                if !referenced {
                    continue;
                }
                // An index whose entries are going is no longer a reliable summary of them.
                for ((index, _), alive) in readable.iter().zip(&mut index_alive) {
                    if *alive && index.modified <= used && store.kept_index() != Some(index.path.as_path()) {
                        *alive = false;
                        removed_indexes += usize::from(remove(index, &mut total, &mut problems));
                    }
                }
            }
        }
    }
    GcOutcome {
        removed,
        removed_indexes,
        bytes_before,
        bytes_after: total,
        entries_after: entries_before - removed,
        indexes_after: indexes_before - removed_indexes,
        problems,
    }
}

/// Removes an entry, or an index: its head, then its summaries.
fn remove_item(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    if path.parent().and_then(Path::file_name).is_some_and(|dir| dir == "index") {
        match std::fs::remove_file(super::index::summaries_path(path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Removes summaries whose head is gone (it was removed, or a build died between
/// writing the two), except the build's own, whose head may be being written.
fn remove_orphan_summaries(store: &Store, problems: &mut Vec<String>) {
    let root = store.root();
    let Ok(dir) = std::fs::read_dir(root.join("summaries")) else { return };
    let kept = store.kept_index().map(super::index::summaries_path);
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

/// The indexes that can be read, decoded, and the unusable ones (damaged, or from
/// another version); what cannot be read at all is added to `problems`.
fn read_indexes(indexes: Vec<Item>, problems: &mut Vec<String>) -> (Vec<(Item, Index)>, Vec<Item>) {
    let (mut readable, mut unusable) = (Vec::new(), Vec::new());
    for item in indexes {
        match Index::read(&item.path) {
            Ok(index) => readable.push((item, index)),
            Err(IndexError::Unreadable(reason)) => problems.push(format!("{}: {reason}", item.path.display())),
            Err(IndexError::Damaged | IndexError::OtherVersion) => unusable.push(item),
        }
    }
    (readable, unusable)
}

/// What `mini cache stats` reports.
pub struct Stats {
    pub entries: usize,
    pub indexes: usize,
    pub bytes: u64,
    pub max_bytes: u64,
    /// What the last build hit and missed (its `stats.json`), if one was recorded.
    pub last_build: serde_json::Value,
    pub unreadable: Vec<String>,
}

/// `mini cache stats` of the cache at `root`, which must exist (`require_cache`).
pub fn stats(root: &Path) -> Result<Stats> {
    let store = Store::open(root)?;
    let listing = Listing::of(&store);
    let last_build: serde_json::Value = store::read_regular(&root.join("stats.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    Ok(Stats {
        entries: listing.entries.len(),
        indexes: listing.indexes.len(),
        bytes: listing.bytes(),
        max_bytes: max_size(),
        last_build,
        unreadable: listing.unreadable,
    })
}

/// What `mini cache clean` removed.
pub struct Cleaned {
    pub entries: usize,
    pub indexes: usize,
    pub bytes: u64,
}

/// `mini cache clean`: removes everything, once no build is running. The cache at
/// `root` must exist (`require_cache`).
pub fn clean(root: &Path) -> Result<Cleaned> {
    let store = Store::open_exclusive(root)?;
    let listing = Listing::of(&store);
    let cleaned = Cleaned { entries: listing.entries.len(), indexes: listing.indexes.len(), bytes: listing.bytes() };
    for dir in ["objects", "index", "summaries", "bin", "tmp", "exe"] {
        let path = root.join(dir);
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let _ = std::fs::remove_file(root.join("stats.json"));
    Ok(cleaned)
}

/// What `mini cache verify` found.
pub struct Verified {
    /// Entries and indexes in the cache before it removed the bad ones (`Listing`).
    pub entries: usize,
    pub indexes: usize,
    /// Entries and indexes read and checked.
    pub checked: usize,
    /// Those that were bad, and were removed.
    pub bad: Vec<PathBuf>,
    /// Entries and indexes left after the bad ones went, and what they take.
    pub entries_after: usize,
    pub indexes_after: usize,
    pub bytes_after: u64,
    /// What could not be read ("path: reason"): neither checked nor removed.
    pub unreadable: Vec<String>,
}

/// `mini cache verify`: re-hashes every entry and index; removes and reports bad ones,
/// and reports what it could not read. The cache at `root` must exist
/// (`require_cache`).
pub fn verify(root: &Path) -> Result<Verified> {
    let store = Store::open_exclusive(root)?;
    let listing = Listing::of(&store);
    let mut verified = Verified {
        entries: listing.entries.len(),
        indexes: listing.indexes.len(),
        checked: 0,
        bad: Vec::new(),
        entries_after: listing.entries.len(),
        indexes_after: listing.indexes.len(),
        bytes_after: listing.bytes(),
        unreadable: listing.unreadable,
    };
    let checks =
        listing.entries.into_iter().map(|item| (item, true)).chain(listing.indexes.into_iter().map(|i| (i, false)));
    for (item, is_entry) in checks {
        let bytes = match store::read_regular(&item.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                verified.unreadable.push(format!("{}: {}", item.path.display(), io_reason(&e)));
                continue;
            }
        };
        verified.checked += 1;
        let good = if is_entry {
            store::verify(&bytes, None).is_some() && store::entry_key_matches(&bytes, &item.path)
        } else {
            // The head, and every summary it points to.
            Index::read(&item.path).is_ok_and(|index| index.records().is_some())
        };
        if good {
            continue;
        }
        match remove_item(&item.path) {
            Ok(()) => {
                verified.bytes_after -= item.len;
                if is_entry {
                    verified.entries_after -= 1;
                } else {
                    verified.indexes_after -= 1;
                }
                verified.bad.push(item.path);
            }
            Err(e) => verified.unreadable.push(format!(
                "{} is bad but cannot be removed: {}",
                item.path.display(),
                io_reason(&e)
            )),
        }
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
