//! Watch mode's deferred writes: what a rebuild leaves for the disk cache besides the
//! index — its new store entries and its statistics — written after the rebuild is
//! reported, before the index that lists the entries.

use anyhow::Result;
use mini_queries::base::Hash;

use super::{BuildReport, Session};
use crate::cache::gc::BuildSummary;
use crate::cache::remote::RemoteReport;
use crate::cache::store::{Counters, Kind};

/// Writes to the disk cache that watch mode makes after reporting a rebuild rather than
/// before: an edit's latency should be its build, and a metadata operation (creating or
/// renaming a file) can wait milliseconds for the file system's journal.
#[derive(Default)]
pub(super) struct Deferred {
    /// New store entries: kind, key, payload. The link had their bytes.
    pub entries: Vec<(Kind, Hash, Vec<u8>)>,
    /// The build's statistics for `stats.json` and the size cap (see `cache::gc::after_build`).
    pub stats: Option<(Counters, Summary)>,
}

/// What `gc::after_build` reads of a build report (`BuildSummary`), owned.
pub(super) struct Summary {
    functions: usize,
    compiled: usize,
    reused_from_disk: usize,
    reused_from_remote: usize,
    link_units_relinked: usize,
    remote: Option<Box<RemoteReport>>,
}

impl Deferred {
    pub fn is_pending(&self) -> bool {
        !self.entries.is_empty() || self.stats.is_some()
    }

    /// Keeps a build's statistics, added to those of builds whose statistics are not
    /// written yet.
    pub fn stats(&mut self, counters: Counters, report: &BuildReport) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some((pending, _)) = &self.stats {
            for (total, more) in [
                (&counters.hits, &pending.hits),
                (&counters.misses, &pending.misses),
                (&counters.corrupt, &pending.corrupt),
                (&counters.bytes_written, &pending.bytes_written),
            ] {
                total.fetch_add(more.load(Relaxed), Relaxed);
            }
        }
        let summary = Summary {
            functions: report.functions,
            compiled: report.compiled.len(),
            reused_from_disk: report.reused_from_disk,
            reused_from_remote: report.reused_from_remote,
            link_units_relinked: report.link_units_relinked,
            remote: report.remote.clone(),
        };
        self.stats = Some((counters, summary));
    }
}

impl Session {
    /// Writes what watch mode deferred (`Deferred`): the new store entries — before the
    /// index that lists them — and the statistics. An entry that cannot be written is an
    /// error, and the entries after it are dropped: an index listing a unit the store does
    /// not have only makes a later build make that unit again.
    pub(super) fn write_deferred(&mut self) -> Result<()> {
        if let Some((counters, s)) = self.artifacts.deferred.stats.take() {
            let summary = BuildSummary {
                functions: s.functions,
                compiled: s.compiled,
                reused_from_disk: s.reused_from_disk,
                reused_from_remote: s.reused_from_remote,
                link_units_relinked: s.link_units_relinked,
                remote: s.remote.as_deref(),
            };
            crate::cache::gc::after_build(self.cache_dir(), &counters, &summary);
        }
        if self.artifacts.deferred.entries.is_empty() {
            return Ok(());
        }
        let _span = tracing::info_span!("write_entries", entries = self.artifacts.deferred.entries.len()).entered();
        let store = self.open_store()?;
        for (kind, key, payload) in std::mem::take(&mut self.artifacts.deferred.entries) {
            store.write(kind, key, &payload)?;
        }
        Ok(())
    }
}
