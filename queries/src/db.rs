//! The salsa database, and the record of which queries executed (described, with
//! their keys, in `executed`).

use std::sync::{Arc, Mutex};

use salsa::{Database as _, DatabaseKeyIndex, EventKind};

/// The database trait every query takes. It adds nothing to `salsa::Database`; it exists
/// so that the query signatures name this compiler's database rather than any database.
#[salsa::db]
pub trait Db: salsa::Database {}

/// The one database implementation. Cheap to clone: clones share storage, which is how
/// code generation fans out over threads (one clone per thread).
#[salsa::db]
#[derive(Clone)]
pub struct Database {
    storage: salsa::Storage<Self>,
    executed: Arc<Mutex<Option<Vec<DatabaseKeyIndex>>>>,
}

impl Default for Database {
    fn default() -> Self {
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
        Database { storage: salsa::Storage::new(Some(Box::new(hook))), executed }
    }
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {}

impl Database {
    /// Starts (or restarts) recording which queries execute.
    pub fn record_executions(&self) {
        *self.executed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    }

    /// The executed queries as keys, without formatting them (cheap).
    pub fn take_execution_keys(&self) -> Vec<DatabaseKeyIndex> {
        self.executed.lock().unwrap_or_else(|e| e.into_inner()).as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// How many of `keys` are executions of the query named `query`.
    pub fn count_executions(&self, keys: &[DatabaseKeyIndex], query: &str) -> usize {
        keys.iter().filter(|key| self.ingredient_debug_name(key.ingredient_index()) == query).count()
    }
}
