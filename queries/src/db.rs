//! The salsa database, the code generator it calls (`Backend`), and the record of which
//! queries executed (described, with their keys, in `executed`).

use std::sync::{Arc, Mutex};

use rustc_hash::{FxHashMap, FxHashSet};
use salsa::{Database as _, DatabaseKeyIndex, EventKind, IngredientIndex};

/// The database trait every query takes: this compiler's database rather than any
/// database, and the code generator it was given.
#[salsa::db]
pub trait Db: salsa::Database {
    /// The code generator the code-generation queries call (see `Backend`).
    fn backend(&self) -> &dyn Backend;
}

/// The code generator, as the queries see it: a request's bytes in (`codegen::wire`),
/// its outputs out. LLVM is not part of this crate: the shell installs a backend in the
/// database — a helper process that links LLVM, started on first need — as
/// rust-analyzer installs its proc-macro server. The queries stay pure functions of
/// their inputs because a backend's answer is a function of the request's bytes alone;
/// it is a service, not an input, and salsa does not track it.
pub trait Backend: Send + Sync {
    /// The outputs for one encoded request, in order; `Err` with the reason when the
    /// code generator failed (a bug, or a helper that died), which the queries report
    /// by panicking: it is never the user's input.
    fn generate(&self, request: &[u8]) -> Result<Vec<Vec<u8>>, String>;
}

/// The backend of a database nobody gave one: asking it for code is a bug in the caller.
struct NoBackend;

impl Backend for NoBackend {
    fn generate(&self, _: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        Err("this database was made without a code generator (`Database::new`)".to_string())
    }
}

/// The one database implementation. Cheap to clone: clones share storage, which is how
/// code generation fans out over threads (one clone per thread).
#[salsa::db]
#[derive(Clone)]
pub struct Database {
    storage: salsa::Storage<Self>,
    executed: Arc<Mutex<Option<Executions>>>,
    backend: Arc<dyn Backend>,
}

impl Default for Database {
    /// A database without a code generator: for everything but generating code.
    fn default() -> Self {
        Database::new(Arc::new(NoBackend))
    }
}

impl Database {
    /// A database whose code-generation queries call `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        let executed: Arc<Mutex<Option<Executions>>> = Arc::default();
        let hook = {
            let executed = Arc::clone(&executed);
            move |event: salsa::Event| {
                if let EventKind::WillExecute { database_key } = event.kind {
                    tracing::trace!(?database_key, "will execute");
                    if let Some(record) = executed.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                        record.add(database_key);
                    }
                }
            }
        };
        Database { storage: salsa::Storage::new(Some(Box::new(hook))), executed, backend }
    }
}

/// What was recorded of the queries that executed (`Database::record_executions`): how
/// many times each query executed, and with `keys`, which keys, in order.
#[derive(Debug, Default)]
pub struct Executions {
    counts: FxHashMap<IngredientIndex, usize>,
    keys: Option<Vec<DatabaseKeyIndex>>,
}

impl Executions {
    fn add(&mut self, key: DatabaseKeyIndex) {
        *self.counts.entry(key.ingredient_index()).or_default() += 1;
        if let Some(keys) = &mut self.keys {
            keys.push(key);
        }
    }

    /// How many keys of the query named `query` executed. With keys recorded, distinct
    /// keys: a query whose value was dropped (`transient::evict`) may execute twice for
    /// one key. Without, executions.
    pub fn count(&self, db: &Database, query: &str) -> usize {
        let of_query = |ingredient| db.ingredient_debug_name(ingredient) == query;
        match &self.keys {
            Some(keys) => {
                let distinct: FxHashSet<_> = keys.iter().filter(|key| of_query(key.ingredient_index())).collect();
                distinct.len()
            }
            None => self.counts.iter().filter(|(ingredient, _)| of_query(**ingredient)).map(|(_, n)| n).sum(),
        }
    }

    /// The executed keys, oldest first; empty unless keys were recorded.
    pub fn into_keys(self) -> Vec<DatabaseKeyIndex> {
        self.keys.unwrap_or_default()
    }
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {
    fn backend(&self) -> &dyn Backend {
        &*self.backend
    }
}

impl Database {
    /// Starts (or restarts) recording which queries execute, and with `keys` their keys
    /// as well. Without, only how many times each query executed is counted: a cold build
    /// of 300,000 functions executes millions of queries, and their keys would take
    /// tens of megabytes that only `--log-queries` and tests read.
    pub fn record_executions(&self, keys: bool) {
        let record = Executions { counts: FxHashMap::default(), keys: keys.then(Vec::new) };
        *self.executed.lock().unwrap_or_else(|e| e.into_inner()) = Some(record);
    }

    /// What was recorded since recording started; recording continues afresh, as it was.
    pub fn take_execution_record(&self) -> Executions {
        let mut executed = self.executed.lock().unwrap_or_else(|e| e.into_inner());
        let Some(record) = executed.as_mut() else { return Executions::default() };
        let fresh = Executions { counts: FxHashMap::default(), keys: record.keys.as_ref().map(|_| Vec::new()) };
        std::mem::replace(record, fresh)
    }

    /// The executed queries' keys, oldest first (cheap: nothing is formatted).
    pub fn take_execution_keys(&self) -> Vec<DatabaseKeyIndex> {
        self.take_execution_record().into_keys()
    }
}
