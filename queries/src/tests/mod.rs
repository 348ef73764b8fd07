//! Tests at the query boundary: a database made from a fixture string, with no files,
//! no shell and no cache, so that a change to a query is tested where it is made.
//! `check_diagnostics` snapshots what a program reports; `check_reexecuted` snapshots
//! which queries re-ran after an edit. Update snapshots with `UPDATE_EXPECT=1 cargo test`.

mod contracts;
mod diagnostics;
mod names;
mod reexecution;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use expect_test::Expect;
use salsa::Setter;

use crate::Database;
use crate::base::{Hash, ModulePath};
use crate::codegen::fn_object;
use crate::codegen::wire::{self, Decoded, Request};
use crate::db::Backend;
use crate::diagnostics::program_diagnostics;
use crate::fixture::parse_fixture;
use crate::link::link_plan;
use crate::source::{BuildSettings, CodegenSettings, FileContents, SourceFile, Workspace};
use crate::syntax::LineIndex;

/// A program held in a database, as the shell would set it up, minus the disk.
pub(crate) struct TestDb {
    db: Database,
    files: BTreeMap<ModulePath, SourceFile>,
    workspace: Workspace,
    /// Hashes whose objects this "session" already made, as the shell keeps them.
    compiled: HashSet<Hash>,
}

/// The code generator of query-level tests. This crate has no LLVM (the shell's helper
/// process does); what these tests check is which queries run, so a stand-in object
/// will do: the hash of the function's input bytes, equal for equal inputs. Every
/// request must decode, and encode back to exactly the bytes that were sent — the wire
/// format round-trips for every function the tests compile.
struct Decoding;

impl Backend for Decoding {
    fn generate(&self, request: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let stand_in = |bytes: &[u8]| blake3::hash(bytes).as_bytes().to_vec();
        match wire::decode(request).map_err(|e| e.to_string())? {
            Decoded::Objects(inputs) => {
                let encoded: Vec<Vec<u8>> =
                    inputs.iter().map(|input| crate::hash::input_bytes(&input.view())).collect();
                let views: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
                assert_eq!(Request::Objects(&views).encode(), request, "a request round-trips");
                Ok(views.iter().map(|input| stand_in(input)).collect())
            }
            _ => Ok(vec![stand_in(request)]),
        }
    }
}

impl TestDb {
    /// The fixture's files as inputs; `main.mini` is the entry.
    pub(crate) fn new(fixture: &str) -> TestDb {
        let db = Database::new(Arc::new(Decoding));
        let mut files = BTreeMap::new();
        for (path, text) in parse_fixture(fixture) {
            let path = ModulePath::new(&path).expect("fixture paths are relative");
            let contents = FileContents::Text(Arc::from(text.into_bytes()));
            files.insert(path.clone(), SourceFile::new(&db, path, contents, None));
        }
        let entry = *files.get(&ModulePath::new("main.mini").unwrap()).expect("fixtures have a main.mini");
        let workspace = Workspace::new(&db, entry, Arc::new(files.clone()));
        BuildSettings::new(&db, CodegenSettings::host(), true);
        TestDb { db, files, workspace, compiled: HashSet::new() }
    }

    fn file(&self, path: &str) -> SourceFile {
        *self.files.get(&ModulePath::new(path).unwrap()).unwrap_or_else(|| panic!("no file {path} in the fixture"))
    }

    /// Replaces the first `from` in `path` with `to`, as an editor's save would.
    #[track_caller]
    pub(crate) fn edit(&mut self, path: &str, from: &str, to: &str) {
        let file = self.file(path);
        let FileContents::Text(text) = file.contents(&self.db) else { panic!("{path} has text") };
        let text = String::from_utf8_lossy(text).into_owned();
        assert!(text.contains(from), "{path} does not contain {from:?}");
        let edited = text.replacen(from, to, 1);
        file.set_contents(&mut self.db).to(FileContents::Text(Arc::from(edited.into_bytes())));
    }

    /// Switches contracts on or off, as the shell does for `--contracts`.
    pub(crate) fn set_contracts(&mut self, on: bool) {
        BuildSettings::get(&self.db).set_contracts(&mut self.db).to(on);
    }

    /// The hash of `name` in `path`.
    pub(crate) fn hash(&self, path: &str, name: &str) -> Option<Hash> {
        crate::hash::fn_hash(
            &self.db,
            crate::items::Function::new(&self.db, self.file(path), crate::base::Name::from(name)),
        )
    }

    /// Every diagnostic as `path:line:column: severity: message`, in the program's
    /// order, each note under it as `    note line:column: message`.
    pub(crate) fn diagnostics(&self) -> String {
        let db = &self.db;
        let mut out = String::new();
        for d in program_diagnostics(db, self.workspace).iter() {
            let FileContents::Text(text) = d.file.contents(db) else { continue };
            let lines = LineIndex::new(text);
            let line = lines.line(d.span.start);
            let column = |offset: u32| {
                let start = lines.line_start(lines.line(offset)) as usize;
                String::from_utf8_lossy(&text[start..offset as usize]).chars().count() + 1
            };
            let (path, severity) = (d.file.path(db), d.severity.name());
            out += &format!("{path}:{}:{}: {severity}: {}\n", line + 1, column(d.span.start), d.message);
            for note in &d.notes {
                out += &format!(
                    "    note {}:{}: {}\n",
                    lines.line(note.span.start) + 1,
                    column(note.span.start),
                    note.message
                );
            }
        }
        out
    }

    /// What a build asks of the queries: the diagnostics, the link plan, and the object
    /// of every function whose hash this database has not compiled yet (the shell keeps
    /// objects by hash, and the store has the rest). Returns the functions compiled.
    pub(crate) fn build(&mut self) -> Vec<String> {
        let db = &self.db;
        let errors = program_diagnostics(db, self.workspace).iter().any(|d| d.is_error());
        assert!(!errors, "unexpected errors:\n{}", self.diagnostics());
        let plan = link_plan(db, self.workspace).clone().expect("a program without errors has a link plan");
        let mut compiled = Vec::new();
        for unit in &plan.units {
            for (function, hash) in unit.members(db) {
                if self.compiled.insert(hash) {
                    assert!(fn_object(db, function).is_some(), "a checked function has code");
                    compiled.push(function.qualified_name(db));
                }
            }
        }
        compiled
    }

    /// The queries that executed since the last call, each as `query(key)`.
    pub(crate) fn executed(&self) -> Vec<String> {
        self.db.take_executions()
    }
}

/// Snapshots every diagnostic of the fixture's program.
#[track_caller]
pub(crate) fn check_diagnostics(fixture: &str, expect: Expect) {
    expect.assert_eq(&TestDb::new(fixture).diagnostics());
}

/// Builds the fixture's program, applies `edit`, builds again, and snapshots the queries
/// that re-ran (in order) and the functions compiled by the second build.
#[track_caller]
pub(crate) fn check_reexecuted(fixture: &str, edit: impl FnOnce(&mut TestDb), executed: Expect, compiled: Expect) {
    let mut db = TestDb::new(fixture);
    db.build();
    db.db.record_executions(true);
    edit(&mut db);
    let built = db.build();
    executed.assert_eq(&db.executed().join("\n"));
    compiled.assert_eq(&built.join("\n"));
}
