//! The file events of a save, gathered until the save is over — which is when the next
//! build starts. No fixed debounce: the build starts `QUIET` after the last event, as
//! long as every changed source file is there and whole.
//!
//! Editors save in steps, and a build between two of them would read a file that is
//! half written or not there at all:
//!
//! - in place (`std::fs::write`, vim by default): the file is truncated, written, then
//!   closed — a source file opened for writing is not whole until it is closed (the
//!   kernel reports the close);
//! - through a temporary file renamed over the original (most editors, `sed -i`): the
//!   source file is whole at once; the temporary file is not a source file;
//! - renaming the original away first (vim's `backupcopy=no`, JetBrains' safe write):
//!   the source file is missing until the new one is in place.
//!
//! So the burst waits while a changed source file is open for writing or missing — a
//! pause between an editor's steps (an `fsync`) does not start a build — but at most
//! `SETTLE` after the last event: a file deleted for good is an error to report, and a
//! writer may keep a file open. Events that arrive while a build runs cancel it (see
//! `run`), and it starts again with every change.
//!
//! A rename away of a path without an extension may have moved a directory (whose files
//! moved without events of their own), which means rescanning everything; `sed -i`'s
//! temporary file looks just like that. The other half of the rename (same tracker)
//! says: a file renamed onto a source file was a file.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::EventKind::{Access, Create, Modify, Remove};
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};

use super::Change;

/// How long the file system must be quiet after an event before a build starts: long
/// enough for the events of one save, written back to back, to arrive together.
pub const QUIET: Duration = Duration::from_millis(2);

/// How long a burst waits, after its last event, for a changed source file that is open
/// for writing or missing.
pub const SETTLE: Duration = Duration::from_millis(50);

/// The events since the last build started.
#[derive(Debug, Default)]
pub struct Burst {
    /// Source files that changed.
    files: BTreeSet<PathBuf>,
    /// Anything may have changed (see `Change::Everything`).
    everything: bool,
    /// Source files opened for writing and not closed since.
    writing: BTreeSet<PathBuf>,
    /// Paths renamed away that may have been directories, by the rename's tracker,
    /// until its other half arrives.
    moved_away: HashMap<usize, PathBuf>,
    /// Renames whose other half showed a file.
    files_renamed: HashSet<usize>,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// What an event meant to the burst.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Nothing the program reads.
    Nothing,
    /// A changed file was closed: it may be whole now.
    Settling,
    /// Something the next build must read changed: a build in progress is out of date.
    Changed,
}

/// What the burst says when asked whether to build.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    /// Nothing to build.
    Idle,
    /// Ask again at this time (or at the next event).
    Wait(Instant),
    /// Build now: these files changed (`None`: anything may have), the first of them at
    /// this time.
    Ready(Option<Vec<PathBuf>>, Instant),
}

impl Burst {
    /// Adds an event that arrived at `at`; `cache_dir` is the (absolute) cache, whose
    /// files are the build's own. Only after an event that is not `Added::Nothing` may
    /// `poll` say something new before the time it last said to wait for: a poll after
    /// any event could start a build between the two halves of a rename.
    pub fn add(&mut self, event: &notify::Result<notify::Event>, at: Instant, cache_dir: &Path) -> Added {
        let event = match event {
            Ok(event) => event,
            // A lost event could be anything: rebuild from scratch.
            Err(_) => {
                self.everything = true;
                self.touch(at);
                return Added::Changed;
            }
        };
        let source = |path: &Path| path.extension().is_some_and(|e| e == "mini") && !path.starts_with(cache_dir);
        let tracker = event.attrs.tracker();
        match (event.kind, tracker, &event.paths[..]) {
            (Access(AccessKind::Close(AccessMode::Write)), _, paths) => {
                // The write is over; the burst goes on from here.
                let mut closed = false;
                for path in paths {
                    closed |= self.writing.remove(path);
                }
                if !closed {
                    return Added::Nothing;
                }
                self.touch(at);
                return Added::Settling;
            }
            (Modify(ModifyKind::Name(RenameMode::From)), Some(tracker), [path])
                if !path.starts_with(cache_dir) && !source(path) && super::may_be_a_directory(path) =>
            {
                self.moved_away.insert(tracker, path.clone());
                self.touch(at);
                return Added::Changed;
            }
            (Modify(ModifyKind::Name(RenameMode::To)), Some(tracker), [path])
                if self.moved_away.contains_key(&tracker) =>
            {
                self.moved_away.remove(&tracker);
                match std::fs::symlink_metadata(path) {
                    Ok(meta) if !meta.is_dir() => {
                        self.files_renamed.insert(tracker);
                    }
                    _ => self.everything = true,
                }
            }
            // The To half said it all.
            (Modify(ModifyKind::Name(RenameMode::Both)), Some(tracker), _) if self.files_renamed.remove(&tracker) => {
                return Added::Nothing;
            }
            _ => {}
        }
        for path in event.paths.iter().filter(|path| source(path)) {
            match event.kind {
                Create(CreateKind::File) | Modify(ModifyKind::Data(_)) => {
                    self.writing.insert(path.clone());
                }
                Remove(_) | Modify(ModifyKind::Name(_)) => {
                    self.writing.remove(path);
                }
                _ => {}
            }
        }
        match Change::of(event, cache_dir) {
            Change::Nothing => return Added::Nothing,
            Change::Files(files) => self.files.extend(files),
            Change::Everything => self.everything = true,
        }
        self.touch(at);
        Added::Changed
    }

    /// Puts back the changes of a build that was cancelled, which happened from `since`.
    pub fn requeue(&mut self, changed: Option<Vec<PathBuf>>, since: Instant) {
        match changed {
            Some(files) => self.files.extend(files),
            None => self.everything = true,
        }
        self.first = Some(self.first.map_or(since, |first| first.min(since)));
        self.last.get_or_insert(since);
    }

    /// Whether to build at `now`: once the burst is quiet and settled (see the module's
    /// comment), what changed — and the burst starts over.
    pub fn poll(&mut self, now: Instant) -> Poll {
        let (Some(first), Some(last)) = (self.first, self.last) else { return Poll::Idle };
        let rescan = self.everything || !self.moved_away.is_empty();
        if self.files.is_empty() && !rescan {
            // Only writes of files that are not the program's, say.
            *self = Burst { writing: std::mem::take(&mut self.writing), ..Burst::default() };
            return Poll::Idle;
        }
        if now < last + QUIET {
            return Poll::Wait(last + QUIET);
        }
        let settled = self.writing.is_empty() && self.files.iter().all(|path| path.symlink_metadata().is_ok());
        if !settled && now < last + SETTLE {
            return Poll::Wait(last + SETTLE);
        }
        // A file still open for writing after `SETTLE` is not waited for again.
        let files = std::mem::take(&mut self.files);
        *self = Burst::default();
        Poll::Ready(if rescan { None } else { Some(files.into_iter().collect()) }, first)
    }

    fn touch(&mut self, at: Instant) {
        self.first.get_or_insert(at);
        self.last = Some(self.last.map_or(at, |last| last.max(at)));
    }
}

#[cfg(test)]
mod tests {
    use notify::EventKind;
    use notify::event::{CreateKind, DataChange, RemoveKind};

    use super::*;

    fn event(kind: EventKind, paths: &[&Path], tracker: Option<usize>) -> notify::Result<notify::Event> {
        let event = paths.iter().fold(notify::Event::new(kind), |event, path| event.add_path(path.to_path_buf()));
        Ok(match tracker {
            Some(tracker) => event.set_tracker(tracker),
            None => event,
        })
    }

    /// A directory renamed away (no other half, or one that is a directory) is
    /// everything; a file renamed over a source file is that file.
    #[test]
    fn a_rename_is_everything_unless_its_other_half_shows_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, lib, gone, moved) = (
            dir.path().join(".mini_cache"),
            dir.path().join("lib.mini"),
            dir.path().join("sedXYZ"),
            dir.path().join("pkg"),
        );
        std::fs::write(&lib, "").unwrap();
        std::fs::create_dir(&moved).unwrap();
        let t0 = Instant::now();
        let from = |path: &Path, tracker| event(Modify(ModifyKind::Name(RenameMode::From)), &[path], Some(tracker));
        let to = |path: &Path, tracker| event(Modify(ModifyKind::Name(RenameMode::To)), &[path], Some(tracker));
        let both = |a: &Path, b: &Path, t| event(Modify(ModifyKind::Name(RenameMode::Both)), &[a, b], Some(t));

        let mut burst = Burst::default();
        assert_eq!(burst.add(&from(&gone, 1), t0, &cache), Added::Changed);
        assert_eq!(burst.add(&to(&lib, 1), t0, &cache), Added::Changed);
        assert_eq!(burst.add(&both(&gone, &lib, 1), t0, &cache), Added::Nothing);
        assert_eq!(burst.poll(t0), Poll::Wait(t0 + QUIET));
        assert_eq!(burst.poll(t0 + QUIET), Poll::Ready(Some(vec![lib.clone()]), t0));

        let mut burst = Burst::default();
        burst.add(&from(&gone, 2), t0, &cache);
        burst.add(&to(&moved, 2), t0, &cache);
        assert_eq!(burst.poll(t0 + QUIET), Poll::Ready(None, t0), "a directory moved");

        let mut burst = Burst::default();
        burst.add(&from(&gone, 3), t0, &cache);
        assert_eq!(burst.poll(t0 + QUIET), Poll::Ready(None, t0), "moved out of sight");

        let mut burst = Burst::default();
        burst.add(&event(Create(CreateKind::File), &[&cache.join("tmp/x.mini")], None), t0, &cache);
        burst.add(&event(Remove(RemoveKind::File), &[&dir.path().join("4913")], None), t0, &cache);
        assert_eq!(burst.poll(t0 + SETTLE), Poll::Idle, "the cache's files and others are nothing");
    }

    /// A source file that is gone, or open for writing, is waited for — but not longer
    /// than `SETTLE` after the last event: a file deleted for good is an error to show.
    #[test]
    fn a_missing_or_open_file_is_waited_for_until_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, lib) = (dir.path().join(".mini_cache"), dir.path().join("lib.mini"));
        let t0 = Instant::now();
        let mut burst = Burst::default();
        burst.add(&event(Remove(RemoveKind::File), &[&lib], None), t0, &cache);
        assert_eq!(burst.poll(t0 + QUIET), Poll::Wait(t0 + SETTLE));
        assert_eq!(burst.poll(t0 + SETTLE), Poll::Ready(Some(vec![lib.clone()]), t0));

        std::fs::write(&lib, "").unwrap();
        let written = event(Modify(ModifyKind::Data(DataChange::Any)), &[&lib], None);
        assert_eq!(burst.add(&written, t0, &cache), Added::Changed);
        assert_eq!(burst.poll(t0 + QUIET), Poll::Wait(t0 + SETTLE), "open for writing");
        let t1 = t0 + QUIET * 3;
        let closed = event(Access(AccessKind::Close(AccessMode::Write)), &[&lib], None);
        assert_eq!(burst.add(&closed, t1, &cache), Added::Settling);
        assert_eq!(burst.poll(t1), Poll::Wait(t1 + QUIET));
        assert_eq!(burst.poll(t1 + QUIET), Poll::Ready(Some(vec![lib.clone()]), t0));
        assert_eq!(burst.add(&closed, t1, &cache), Added::Nothing, "a second close means nothing");
    }
}
