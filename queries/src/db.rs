//! The salsa database, the code generator it calls (`Backend`), and the record of which
//! queries executed (described, with their keys, in `executed`).

use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
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

/// What was recorded of the queries that executed (`Database::record_executions`): which
/// keys of each query executed, and with `keys`, every execution's key, in order.
#[derive(Debug, Default)]
pub struct Executions {
    distinct: FxHashMap<IngredientIndex, KeySet>,
    keys: Option<Vec<DatabaseKeyIndex>>,
}

impl Executions {
    fn add(&mut self, key: DatabaseKeyIndex) {
        self.distinct.entry(key.ingredient_index()).or_default().insert(key.key_index().index());
        if let Some(keys) = &mut self.keys {
            keys.push(key);
        }
    }

    /// How many keys of the query named `query` executed: distinct keys, since a query
    /// whose value was dropped (`transient::evict`) may execute twice for one key.
    pub fn count(&self, db: &Database, query: &str) -> usize {
        let of_query = |ingredient: &IngredientIndex| db.ingredient_debug_name(*ingredient) == query;
        self.distinct.iter().filter(|(ingredient, _)| of_query(ingredient)).map(|(_, keys)| keys.len()).sum()
    }

    /// The executed keys, oldest first; empty unless keys were recorded.
    pub fn into_keys(self) -> Vec<DatabaseKeyIndex> {
        self.keys.unwrap_or_default()
    }
}

/// A set of salsa ids' indices, as bits: they are dense (slots of the database's pages),
/// so a cold build's millions of executions take a few megabytes, not tens.
#[derive(Debug, Default)]
struct KeySet(Vec<u64>);

impl KeySet {
    fn insert(&mut self, index: u32) {
        let (word, bit) = (index as usize / 64, index % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    fn len(&self) -> usize {
        self.0.iter().map(|word| word.count_ones() as usize).sum()
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
    /// Starts (or restarts) recording which queries execute, and with `keys` every
    /// execution's key, in order. Without, only which keys of each query executed, as
    /// bits: a cold build of 300,000 functions executes millions of queries, and a list
    /// of their keys took 50 MB that only `--log-queries` and tests read.
    pub fn record_executions(&self, keys: bool) {
        let record = Executions { distinct: FxHashMap::default(), keys: keys.then(Vec::new) };
        *self.executed.lock().unwrap_or_else(|e| e.into_inner()) = Some(record);
    }

    /// What was recorded since recording started; recording continues afresh, as it was.
    pub fn take_execution_record(&self) -> Executions {
        let mut executed = self.executed.lock().unwrap_or_else(|e| e.into_inner());
        let Some(record) = executed.as_mut() else { return Executions::default() };
        let fresh = Executions { distinct: FxHashMap::default(), keys: record.keys.as_ref().map(|_| Vec::new()) };
        std::mem::replace(record, fresh)
    }

    /// The executed queries' keys, oldest first (cheap: nothing is formatted).
    pub fn take_execution_keys(&self) -> Vec<DatabaseKeyIndex> {
        self.take_execution_record().into_keys()
    }
}
