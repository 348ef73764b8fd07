//! The parse query: one file's bytes to its syntax tree and syntax errors.

use std::sync::Arc;

use crate::db::Db;
use crate::source::{FileContents, SourceFile};
use crate::syntax::{self, LineIndex, SyntaxError, ast};

/// A parsed file: the tree, its syntax errors in file order, and its line index.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct ParsedFile {
    pub ast: ast::File,
    pub errors: Vec<SyntaxError>,
    pub lines: LineIndex,
}

/// Parses one file.
///
/// Reads: the file's contents. Re-runs on any edit to that file, comments included; the
/// per-function queries below it are what stop the edit from spreading.
///
/// Evictable (`transient`): a large one-shot build drops trees once their files are
/// checked.
#[salsa::tracked(returns(ref), lru = 0)]
pub fn parse_file(db: &dyn Db, file: SourceFile) -> Arc<ParsedFile> {
    let _span = tracing::debug_span!("parse_file", path = %file.path(db)).entered();
    match file.contents(db) {
        FileContents::Text(text) => {
            let (ast, errors) = syntax::parse(text);
            Arc::new(ParsedFile { ast, errors, lines: LineIndex::new(text) })
        }
        FileContents::Missing(_) | FileContents::Unread => Arc::new(ParsedFile::default()),
    }
}

/// Sets how many `parse_file` values `transient::evict` keeps (0: none are tracked).
pub(crate) fn track_parse_file(db: &mut dyn Db, capacity: usize) {
    parse_file::set_lru_capacity(db, capacity);
}
