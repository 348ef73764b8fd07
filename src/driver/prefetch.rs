//! Using both cores before a whole-program query: when a build has many files to check
//! (a cold build), the per-file queries that `program_diagnostics`, `link_plan` and the
//! index records read are first asked on several threads, each on a database handle of
//! its own; the whole-program query then finds them memoized. The answers are the
//! queries' own, so this changes when work happens, never what it computes. Also here:
//! `OwnHandle`, the handle with a fresh query stack that such work (and the index
//! records, `record.rs`) runs on.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

use mini_queries::Database;

use super::Session;

/// Below this many files read by the build, one thread does the work: threads and
/// handles are not free, and an edit's build reads a file or two.
const FEW_FILES: usize = 256;

impl Session {
    /// Asks `query` of every item on up to `jobs` threads, when the build read enough
    /// files for that to pay (`read`).
    ///
    /// Each worker has a handle of its own (`own_handle`), follows the session's
    /// cancellation before each item, stops when cancelled, and leaves the unwinding to
    /// the caller's next query, on the session's handle, which is cancelled too. A panic
    /// in a worker that is not a cancellation is a bug, and is raised again here.
    pub(super) fn prefetch<T: Copy + Sync>(
        &self,
        items: &[T],
        read: usize,
        jobs: usize,
        query: impl Fn(&Database, T) + Sync,
    ) {
        if read < FEW_FILES || jobs < 2 || items.len() < 2 {
            return;
        }
        self.ask_all(items, jobs, query);
    }

    /// Asks `query` of every item now, on up to `jobs` threads as `prefetch` does, or on
    /// one handle of its own when there is one job or one item.
    pub(super) fn ask_all<T: Copy + Sync>(&self, items: &[T], jobs: usize, query: impl Fn(&Database, T) + Sync) {
        let _span = tracing::info_span!("prefetch", items = items.len()).entered();
        if jobs < 2 || items.len() < 2 {
            let handle = self.own_handle();
            for &item in items {
                handle.follow();
                query(&handle.db, item);
            }
            return;
        }
        let next = AtomicUsize::new(0);
        let panics: Vec<Box<dyn std::any::Any + Send>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs.min(items.len()))
                .map(|_| {
                    let handle = self.own_handle();
                    let (next, query) = (&next, &query);
                    std::thread::Builder::new()
                        .name("prefetch".into())
                        // As the compiler thread: checking recurses on nested expressions.
                        .stack_size(256 << 20)
                        .spawn_scoped(scope, move || {
                            std::panic::catch_unwind(AssertUnwindSafe(|| {
                                while let Some(&item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                                    handle.follow();
                                    query(&handle.db, item);
                                }
                            }))
                        })
                        .expect("spawn a prefetch thread")
                })
                .collect();
            workers.into_iter().filter_map(|worker| worker.join().expect("caught in the worker").err()).collect()
        });
        if let Some(panic) = panics.into_iter().find(|panic| !panic.is::<salsa::Cancelled>()) {
            std::panic::resume_unwind(panic);
        }
    }
}

/// A database handle of the session's own — a fresh query stack — that the session's
/// cancellation still reaches: salsa's cancellation token is per handle, so `follow`
/// passes the session's on. Call it between items of work.
pub(super) struct OwnHandle {
    pub db: Database,
    session: salsa::CancellationToken,
    own: salsa::CancellationToken,
}

impl OwnHandle {
    /// Cancels this handle's queries if the session's are cancelled.
    pub fn follow(&self) {
        if self.session.is_cancelled() {
            self.own.cancel();
        }
    }
}

impl Session {
    pub(super) fn own_handle(&self) -> OwnHandle {
        let db = self.db.clone();
        let own = salsa::Database::cancellation_token(&db);
        OwnHandle { db, session: self.cancellation_token(), own }
    }
}
