//! The patch path (`patch.rs`) after an edit that changed a file's interface — a
//! signature, a function added or removed: the direct importers of that file are
//! checked again.
//!
//! A file's summary depends on its own text and on the interfaces of the files it
//! imports: its functions' hashes name each callee's signature, and whether it has
//! errors depends on what its imports define. Nothing else of another file reaches it
//! (a callee's body does not; an import's imports do not). So when a changed file's
//! interface changed, the summaries that may no longer hold are exactly those of the
//! files that import it; every other summary in the index still does. Those importers
//! are read (their bytes must be the ones the index recorded), given to the database as
//! text — with what they import as summaries — checked, and summarized again. Then the
//! patch goes on as for any edit: the units whose hashes changed get new keys, the
//! others keep the index's, and equal keys mean equal objects.
//!
//! An importer with an error (a call of a function that went away, or with the old
//! number of arguments), one that cannot be read or no longer has its recorded bytes,
//! or too many of them, declines: the ordinary build reports or handles it.

use std::sync::Arc;

use anyhow::Result;
use mini_queries::base::{Hash, ModulePath};
use mini_queries::diagnostics::{Diagnostic, file_diagnostics};
use mini_queries::source::{FileContents, SourceFile};
use rustc_hash::FxHashMap;
use salsa::Setter;

use super::patch::{Edited, declined};
use super::scan::FileState;
use super::{BuildReport, Session};
use crate::cache::index::Index;
use crate::fs::FileStamp;

/// More files to check again than this (changed files and their importers), and the
/// ordinary build is the better plan.
const MAX_CHECKED_FILES: usize = 64;

impl Session {
    /// Adds the direct importers of every file in `edited` whose interface changed to
    /// the database, as text, checks them and adds them to `edited` with their new
    /// summaries. Returns false to decline (see the module's comment).
    pub(super) fn check_importers(
        &mut self,
        index: &Index,
        position: &FxHashMap<&ModulePath, usize>,
        edited: &mut Vec<Edited>,
        report: &mut BuildReport,
    ) -> Result<bool> {
        let _span = tracing::info_span!("check_importers").entered();
        let Some(importers) = index.importers() else { return declined("the import graph is damaged") };
        let mut wanted: Vec<usize> = edited
            .iter()
            .filter(|e| e.interface != index.files[e.at].interface)
            .flat_map(|e| importers[e.at].iter().copied())
            .filter(|at| !edited.iter().any(|e| e.at == *at))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(true);
        }
        if edited.len() + wanted.len() > MAX_CHECKED_FILES {
            return declined("too many importers");
        }

        // Each importer as text — its recorded bytes — and what it imports.
        let mut olds = Vec::with_capacity(wanted.len());
        for &at in &wanted {
            let entry = &index.files[at];
            let path = self.disk_path(&entry.path);
            let (Some(stamp), Ok(bytes)) = (FileStamp::of(&path), crate::cache::store::read_regular(&path)) else {
                return declined("an importer cannot be read");
            };
            report.files_read += 1;
            if Hash(*blake3::hash(&bytes).as_bytes()) != entry.content {
                // It changed after the stat that proved it unchanged: the ordinary
                // build reads it again.
                return declined("an importer changed");
            }
            let Some(old) = index.summary(at) else { return declined("an importer's summary is damaged") };
            let text = FileContents::Text(Arc::from(bytes));
            match self.input(&entry.path) {
                Some(file) => {
                    // A summary so far (a changed file imports it): text from now on.
                    file.set_summary(&mut self.db).to(None);
                    file.set_contents(&mut self.db).to(text);
                }
                None => {
                    let file = SourceFile::new(&self.db, entry.path.clone(), text, None);
                    self.files.insert(entry.path.clone(), FileState::new(file));
                }
            }
            for target in old.imports.iter().filter_map(|i| i.target.clone()) {
                if self.files.contains_key(&target) {
                    continue;
                }
                let Some(summary) = position.get(&target).and_then(|&at| index.summary(at)) else {
                    return declined("an import's summary is damaged");
                };
                let file = SourceFile::new(&self.db, target.clone(), FileContents::Unread, Some(summary));
                self.files.insert(target, FileState::new(file));
            }
            olds.push((at, stamp, old));
        }
        let workspace = self.workspace();
        let files = self.inputs();
        workspace.set_files(&mut self.db).to(files);

        // Checked before any is summarized, as the changed files are (see `patch`).
        let files: Vec<SourceFile> = wanted.iter().map(|&at| self.files[&index.files[at].path].input).collect();
        if files.iter().any(|&file| file_diagnostics(&self.db, file).iter().any(Diagnostic::is_error)) {
            return declined("an importer has errors");
        }
        for ((at, stamp, old), file) in olds.into_iter().zip(files) {
            let entry = &index.files[at];
            let Some(record) = super::scan::record_of(&self.db, file, stamp, entry.content) else {
                return declined("an importer cannot be summarized");
            };
            // Its own text is the recorded one, so its imports and interface are too.
            if record.summary.imports != old.imports || record.entry.interface != entry.interface {
                return declined("an importer's interface changed");
            }
            let interface = record.entry.interface;
            edited.push(Edited { at, file, stamp, content: entry.content, interface, old, new: record.summary });
        }
        Ok(true)
    }
}
