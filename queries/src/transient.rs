//! Values a one-shot build drops once it has what later stages read of them.
//!
//! A one-shot build of a large program walks its imports dropping the trees a chunk of
//! files at a time, checks it in chunks dropping each chunk's trees, ZIR, checked
//! functions and AIR, then generates code in rounds and drops each round's encoded
//! inputs and batches of objects (the shell's `driver/chunks.rs`): what later stages
//! read of them (imports, signatures, diagnostics, encoded inputs, hashes, summaries;
//! the objects the shell took) are values of their own. A value read again after it was
//! dropped is computed again, so dropping never changes a result, only what it costs.
//! The queries that may be dropped are declared with salsa's LRU at capacity 0 — which
//! tracks nothing and costs nothing — and `track` gives them a capacity of one while a
//! build wants them dropped.

use salsa::Database as _;

use crate::db::Database;

/// What `track` starts or stops remembering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transient {
    /// Parse trees, ZIR, checked functions and AIR: dropped once a file's imports are
    /// known (the walk's trees), or its diagnostics, signatures, encoded inputs and
    /// summary are made.
    FrontEnd,
    /// Encoded inputs and batches of objects: dropped once the objects are generated and
    /// taken.
    Code,
}

/// Starts or stops remembering which of `what`'s values are read, so that `evict` can
/// drop them. Off, reads cost nothing extra.
pub fn track(db: &mut Database, what: Transient, on: bool) {
    let capacity = usize::from(on);
    match what {
        Transient::FrontEnd => {
            crate::parsed::track_parse_file(db, capacity);
            crate::zir::track_fn_zir(db, capacity);
            crate::sema::track_fn_check(db, capacity);
            crate::sema::track_fn_air(db, capacity);
        }
        Transient::Code => {
            crate::hash::track_fn_input_bytes(db, capacity);
            crate::codegen::track_batch_objects(db, capacity);
        }
    }
}

/// Drops every tracked value but the one of each query read last (see `track`). Like a
/// write, it waits for the database's other handles to be dropped.
pub fn evict(db: &mut Database) {
    let _span = tracing::debug_span!("evict").entered();
    db.trigger_lru_eviction();
}
