//! The salsa database, the code generator it calls (`Backend`), and the record of which
//! queries executed (described, with their keys, in `executed`).

use std::sync::{Arc, Mutex};

use salsa::{Database as _, DatabaseKeyIndex, EventKind};

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
    executed: Arc<Mutex<Option<Vec<DatabaseKeyIndex>>>>,
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
        let executed: Arc<Mutex<Option<Vec<DatabaseKeyIndex>>>> = Arc::default();
        let hook = {
            let executed = Arc::clone(&executed);
            move |event: salsa::Event| {
                if let EventKind::WillExecute { database_key } = event.kind {
                    tracing::trace!(?database_key, "will execute");
                    if let Some(log) = executed.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                        log.push(database_key);
                    }
                }
            }
        };
        Database { storage: salsa::Storage::new(Some(Box::new(hook))), executed, backend }
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
    /// Starts (or restarts) recording which queries execute.
    pub fn record_executions(&self) {
        *self.executed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    }

    /// The executed queries as keys, without formatting them (cheap).
    pub fn take_execution_keys(&self) -> Vec<DatabaseKeyIndex> {
        self.executed.lock().unwrap_or_else(|e| e.into_inner()).as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// How many distinct keys of the query named `query` executed among `keys`: a query
    /// whose value was dropped (`transient::evict`) may execute twice for one key.
    pub fn count_executions(&self, keys: &[DatabaseKeyIndex], query: &str) -> usize {
        let of_query = keys.iter().filter(|key| self.ingredient_debug_name(key.ingredient_index()) == query);
        of_query.collect::<rustc_hash::FxHashSet<_>>().len()
    }
}
