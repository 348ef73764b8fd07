//! Showing diagnostics of files the queries did not read, and replaying warnings.
//!
//! A warning belongs to the last build that checked its file, and must not vanish when
//! the next build takes the file from the cache. Builds that run the queries get a
//! summarized file's warnings from its summary (`program_diagnostics`); the two builds
//! that do not — the no-op build, which runs no query at all, and the patch build,
//! which checks only the edited files — read them from the index here, in program
//! order, with the edited files' own diagnostics in their place. Either way the text
//! of a file that was not read is read now, for its source lines: only files with
//! something to show are.

use std::sync::Arc;

use mini_queries::base::ModulePath;
use mini_queries::diagnostics::Diagnostic;
use mini_queries::source::FileContents;
use rustc_hash::FxHashMap;

use super::Session;
use crate::cache::index::Index;
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

    /// The warnings the index recorded, file by file in program order, located; for the
    /// files in `fresh` (by position in the index), those diagnostics instead. `None` if
    /// a summary that holds warnings cannot be decoded.
    pub(super) fn replay_warnings(
        &self,
        index: &Index,
        fresh: &mut FxHashMap<usize, Vec<Located>>,
    ) -> Option<Vec<Located>> {
        let _span = tracing::info_span!("replay_warnings").entered();
        let mut texts = Texts::default();
        let mut out = Vec::new();
        for (at, entry) in index.files.iter().enumerate() {
            if let Some(located) = fresh.remove(&at) {
                out.extend(located);
                continue;
            }
            if entry.warnings == 0 {
                continue;
            }
            let summary = index.summary(at)?;
            let text = texts.of(self, &entry.path);
            let path = self.display_path(&entry.path);
            out.extend(summary.warnings.iter().map(|w| {
                let severity = mini_queries::base::Severity::Warning;
                render::locate_diagnostic(path.clone(), &text, severity, w.span, w.message.clone(), &w.notes)
            }));
        }
        Some(out)
    }
}
