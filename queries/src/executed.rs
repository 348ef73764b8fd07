//! Executed queries described for people and snapshots: `fn_check(lib/math.add)`,
//! `parse_file(main.mini)`, `unit_plan(unit 69)`, `group_imports(group 7)`,
//! `chunk_diagnostics(files 0..128)`. Listed last among the modules: a key is
//! shown through the salsa struct of the stage that defines it.

use salsa::plumbing::FromId;
use salsa::{Database as _, DatabaseKeyIndex};

use crate::codegen::CodegenBatch;
use crate::db::Database;
use crate::diagnostics::FileChunk;
use crate::imports::FileGroup;
use crate::items::Function;
use crate::link::LinkUnit;
use crate::source::SourceFile;

impl Database {
    /// The queries that executed since recording started, oldest first, each as
    /// `query(key)` with a readable key: a qualified function name or a module path.
    /// Recording continues with an empty list.
    pub fn take_executions(&self) -> Vec<String> {
        self.take_execution_keys().into_iter().map(|key| self.describe_query(key)).collect()
    }

    pub fn describe_query(&self, key: DatabaseKeyIndex) -> String {
        let name = self.ingredient_debug_name(key.ingredient_index());
        let id = key.key_index();
        let arg = match query_key_kind(&name) {
            KeyKind::Function => Function::from_id(id).qualified_name(self),
            KeyKind::File => SourceFile::from_id(id).path(self).to_string(),
            KeyKind::Unit => format!("unit {}", LinkUnit::from_id(id).index(self)),
            KeyKind::Group => format!("group {}", FileGroup::from_id(id).index(self)),
            KeyKind::Chunk => {
                let chunk = FileChunk::from_id(id);
                let start = chunk.start(self) as usize;
                format!("files {start}..{}", start + chunk.files(self).len())
            }
            KeyKind::Batch => {
                format!("{} functions", CodegenBatch::from_id(id).functions(self).len())
            }
            KeyKind::Singleton => String::new(),
        };
        format!("{name}({arg})")
    }
}

enum KeyKind {
    Function,
    Unit,
    Group,
    Chunk,
    Batch,
    File,
    Singleton,
}

/// What each tracked function is keyed by, so a logged execution can show its key.
/// Every tracked function takes exactly one salsa struct; a test checks this table
/// against the queries a full build runs.
fn query_key_kind(query: &str) -> KeyKind {
    match query {
        "fn_zir" | "fn_signature" | "fn_check" | "fn_air" | "fn_contracts" | "fn_debug_info" | "fn_contract_lines"
        | "fn_hash" | "fn_input_bytes" | "fn_object" | "fn_llvm_ir" => KeyKind::Function,
        "parse_file" | "file_imports" | "file_read_error" | "file_scope" | "file_functions" | "file_diagnostics"
        | "file_interface" | "file_names" | "summarize" => KeyKind::File,
        "unit_plan" => KeyKind::Unit,
        "group_imports" | "group_units" => KeyKind::Group,
        "chunk_diagnostics" => KeyKind::Chunk,
        "batch_objects" => KeyKind::Batch,
        _ => KeyKind::Singleton,
    }
}
