//! Showing diagnostics of files the queries did not read.
//!
//! A warning belongs to the last build that checked its file, and must not vanish when
//! the next build takes the file from the cache: builds that run the queries get a
//! summarized file's warnings from its summary (`program_diagnostics`). The text of a
//! file that was not read is read here, for its source lines: only files with
//! something to show are.

use std::sync::Arc;

use mini_queries::base::ModulePath;
use mini_queries::diagnostics::Diagnostic;
use mini_queries::source::FileContents;
use rustc_hash::FxHashMap;

use super::Session;
use crate::render::{self, Located};

/// Texts of files read only to show their diagnostics, each read once per build.
#[derive(Default)]
pub(super) struct Texts(FxHashMap<ModulePath, Arc<[u8]>>);

impl Texts {
    /// The file's text as it is on disk (empty if it cannot be read: the diagnostic is
    /// then shown without its source line, never lost).
    fn of(&mut self, session: &Session, path: &ModulePath) -> Arc<[u8]> {
        self.0
            .entry(path.clone())
            .or_insert_with(|| std::fs::read(session.disk_path(path)).map_or_else(|_| Arc::from(&[][..]), Arc::from))
            .clone()
    }
}

impl Session {
    /// A diagnostic of the database, located in its file's text — read from disk when
    /// the database holds the file as a summary.
    pub(super) fn locate(&self, d: &Diagnostic, texts: &mut Texts) -> Located {
        let db = &self.db;
        let path = d.file.path(db);
        let text = match d.file.contents(db) {
            FileContents::Text(text) => text.clone(),
            FileContents::Unread => texts.of(self, path),
            FileContents::Missing(_) => Arc::from(&[][..]),
        };
        render::locate_diagnostic(self.display_path(path), &text, d.severity, d.span, d.message.clone(), &d.notes)
    }
}
