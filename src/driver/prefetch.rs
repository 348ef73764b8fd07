//! Using both cores before a whole-program query: when a build has many files to check
//! (a cold build), the per-file queries that `program_diagnostics`, `link_plan` and the
//! index records read are first asked on several threads, each on a database handle of
//! its own; the whole-program query then finds them memoized. The answers are the
//! queries' own, so this changes when work happens, never what it computes.

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
    /// Each worker has a handle of its own, whose cancellation token is not the
    /// session's: a worker passes the session's on before each item, stops when
    /// cancelled, and leaves the unwinding to the caller's next query, on the session's
    /// handle, which is cancelled too. A panic in a worker that is not a cancellation is
    /// a bug, and is raised again here.
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
        let _span = tracing::info_span!("prefetch", items = items.len()).entered();
        let next = AtomicUsize::new(0);
        let session = self.cancellation_token();
        let panics: Vec<Box<dyn std::any::Any + Send>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs.min(items.len()))
                .map(|_| {
                    let db = self.db.clone();
                    let (next, session, query) = (&next, &session, &query);
                    std::thread::Builder::new()
                        .name("prefetch".into())
                        // As the compiler thread: checking recurses on nested expressions.
                        .stack_size(256 << 20)
                        .spawn_scoped(scope, move || {
                            let own = salsa::Database::cancellation_token(&db);
                            std::panic::catch_unwind(AssertUnwindSafe(|| {
                                while let Some(&item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                                    if session.is_cancelled() {
                                        own.cancel();
                                    }
                                    query(&db, item);
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
