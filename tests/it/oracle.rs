//! The oracle: random edit sequences over a multi-file program. After every edit the
//! incrementally rebuilt program must be indistinguishable from a clean build in a fresh
//! session with an empty cache — same output, same status, byte-identical objects and
//! executable.

use std::fmt::Write as _;
use std::path::Path;

use mini::driver::{BuildReport, BuildRequest, Emit, Session};
use mini_queries::base::ModulePath;
use mini_queries::link::link_unit_of;
use mini_queries::source::Settings;

use crate::support::{Project, Rng};

#[derive(Clone)]
struct Func {
    name: String,
    wide_param: bool,
    a: i32,
    b: i32,
    /// Another function this one calls: (file index, function index), always "lower"
    /// so that the call graph has no cycles.
    callee: Option<(usize, usize)>,
    comment: Option<String>,
    /// Contract clauses, each (form, constant); every form holds for the values the
    /// program passes (see `Model::clause`).
    contracts: Vec<(usize, i32)>,
    /// An error the function has, if any (see `Model::edit_with_errors`).
    error: Option<Breakage>,
}

/// Errors a random edit may introduce, each later fixed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Breakage {
    /// A misspelled parameter type (`x: bool6`): the signature itself has an error, so
    /// every call of the function is untyped without an error of the caller's own.
    ParamType,
    /// A type error in the body.
    Body,
    /// A call of a name that does not exist.
    UnknownName,
}

/// What a random edit changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EditKind {
    Body,
    Comment,
    BlankLines,
    Signature,
    Callee,
    NewFunction,
    OptLevel,
    /// Only a function's contracts changed (a clause added, removed or edited).
    Contract,
    /// Contracts switched on or off.
    Contracts,
    /// An error introduced into a function (`edit_with_errors` only).
    Break,
    /// An error fixed.
    Fix,
    /// A constant in `main` changed: the entry file, first in program order, is edited.
    MainBody,
}

/// The number in the file name of library `lib`: its own, but for the fourth
/// (`Model::with_twin`), which is named to share the first one's link unit.
fn file_number(lib: usize) -> usize {
    if lib == 3 { 173 } else { lib }
}

/// The program as data; edits change the model, the files are rendered from it, so
/// every edit keeps the program valid.
struct Model {
    /// `files[0]` is `lib0.mini`, …; `main.mini` is rendered separately.
    libs: Vec<Vec<Func>>,
    header_lines: Vec<usize>,
    opt_level: u8,
    contracts: bool,
    next_name: usize,
    /// Added to `main`'s total.
    main_base: i32,
}

impl Model {
    fn new() -> Model {
        Model::with_libs(3)
    }

    /// Three libraries and a fourth, `lib/lib173.mini` (see `file_number`), in the same
    /// link unit as `lib/lib0.mini`: rebuilding that unit after an edit of one takes the
    /// other's functions from its summary, hashes included.
    fn with_twin() -> Model {
        let unit = |n: usize| link_unit_of(&ModulePath::normalized(&format!("lib/lib{n}.mini")));
        assert_eq!(unit(file_number(0)), unit(file_number(3)), "the twin shares lib0's link unit");
        Model::with_libs(4)
    }

    fn with_libs(libs: usize) -> Model {
        let mut model = Model {
            libs: vec![Vec::new(); libs],
            header_lines: vec![0; libs],
            opt_level: 0,
            contracts: true,
            next_name: 0,
            main_base: 0,
        };
        for lib in 0..libs {
            for _ in 0..3 {
                model.add_function(lib, None);
            }
        }
        model
    }

    fn add_function(&mut self, lib: usize, callee: Option<(usize, usize)>) {
        let name = format!("f{}", self.next_name);
        self.next_name += 1;
        let n = self.next_name as i32;
        let contracts = if n % 3 == 0 { vec![(n as usize % 4, n)] } else { Vec::new() };
        self.libs[lib].push(Func {
            name,
            wide_param: n % 2 == 0,
            a: n,
            b: 100 - n,
            callee,
            comment: None,
            contracts,
            error: None,
        });
    }

    fn settings(&self) -> Settings {
        let mut settings = Settings::host();
        settings.codegen.opt_level = self.opt_level;
        settings.contracts = self.contracts;
        settings
    }

    /// One contract clause of `f` (in `lib`). Every function is called with 3, directly
    /// or through its callers, so each form holds: a failing check would end the
    /// program early, which the oracle would notice but not explain.
    fn clause(&self, lib: usize, f: &Func, (form, k): (usize, i32)) -> String {
        match form {
            0 => format!("requires(x != {})", 1000 + k.abs()),
            1 => format!("ensures(result + {k} - {k} == result)"),
            2 => match f.callee {
                // A contract may call functions, here the one the body calls.
                Some(callee) => {
                    let call = self.call(lib, callee, "@as(i32, x)");
                    format!("requires({call} == {call} and x >= -{})", k.abs())
                }
                None => format!("requires(x >= -{})", k.abs()),
            },
            _ => format!("ensures(result != {})", 1_000_000 + k.abs()),
        }
    }

    fn call(&self, from_lib: usize, (lib, index): (usize, usize), arg: &str) -> String {
        let f = &self.libs[lib][index];
        let arg = if f.wide_param { format!("@as(i64, {arg})") } else { arg.to_string() };
        if lib == from_lib { format!("{}({arg})", f.name) } else { format!("l{lib}.{}({arg})", f.name) }
    }

    fn render_lib(&self, lib: usize) -> String {
        let mut out = "\n".repeat(self.header_lines[lib]);
        for lower in 0..lib {
            let _ = writeln!(out, "import \"lib{}.mini\" as l{lower};", file_number(lower));
        }
        for f in &self.libs[lib] {
            if let Some(comment) = &f.comment {
                let _ = writeln!(out, "// {comment}");
            }
            let param = match f.error {
                Some(Breakage::ParamType) => "bool6",
                _ if f.wide_param => "i64",
                _ => "i32",
            };
            let _ = write!(out, "pub fn {}(x: {param}) i32", f.name);
            for &clause in &f.contracts {
                let _ = write!(out, "\n    {}", self.clause(lib, f, clause));
            }
            let _ = writeln!(out, "{}{{", if f.contracts.is_empty() { " " } else { "\n" });
            let _ = writeln!(out, "    const v: i32 = @as(i32, x);");
            let call = f.callee.map(|c| format!(" + {}", self.call(lib, c, "v"))).unwrap_or_default();
            let error = match f.error {
                Some(Breakage::Body) => " + true",
                Some(Breakage::UnknownName) => " + no_such_name(v)",
                _ => "",
            };
            let _ = writeln!(out, "    return v * {} + {}{call}{error};\n}}\n", f.a, f.b);
        }
        out
    }

    fn render_main(&self) -> String {
        let mut out = String::new();
        for lib in 0..self.libs.len() {
            let _ = writeln!(out, "import \"lib/lib{}.mini\" as l{lib};", file_number(lib));
        }
        let _ = write!(out, "\nfn main() i32 {{\n    var total: i32 = {};\n", self.main_base);
        for (lib, funcs) in self.libs.iter().enumerate() {
            for index in 0..funcs.len() {
                let call = self.call(usize::MAX, (lib, index), "3");
                let _ = writeln!(out, "    @print({call});\n    total += {call};");
            }
        }
        out.push_str("    return total;\n}\n");
        out
    }

    fn write(&self, project: &Project) {
        project.write("main.mini", &self.render_main());
        for lib in 0..self.libs.len() {
            project.write(&format!("lib/lib{}.mini", file_number(lib)), &self.render_lib(lib));
        }
    }

    fn random_function(&self, rng: &mut Rng) -> (usize, usize) {
        let lib = rng.below(self.libs.len());
        (lib, rng.below(self.libs[lib].len()))
    }

    /// Applies one random edit; returns its kind and what it was, for failure messages.
    fn edit(&mut self, rng: &mut Rng) -> (EditKind, String) {
        let (lib, index) = self.random_function(rng);
        match rng.below(10) {
            0 | 1 => {
                self.libs[lib][index].a = rng.below(1000) as i32 - 500;
                (EditKind::Body, format!("body of lib{lib}.{}", self.libs[lib][index].name))
            }
            2 => {
                self.libs[lib][index].comment = Some(format!("note {}", rng.next() % 1000));
                (EditKind::Comment, format!("comment in lib{lib}"))
            }
            3 => {
                self.header_lines[lib] = rng.below(4);
                (EditKind::BlankLines, format!("blank lines atop lib{lib}"))
            }
            4 => {
                let f = &mut self.libs[lib][index];
                f.wide_param = !f.wide_param;
                (EditKind::Signature, format!("signature of lib{lib}.{}", f.name))
            }
            5 => {
                // A call to a function of a lower file, or an earlier one in this file.
                let target_lib = rng.below(lib + 1);
                let limit = if target_lib == lib { index } else { self.libs[target_lib].len() };
                let callee = (limit > 0).then(|| (target_lib, rng.below(limit)));
                self.libs[lib][index].callee = callee;
                (EditKind::Callee, format!("callee of lib{lib}.{}", self.libs[lib][index].name))
            }
            6 => {
                self.add_function(lib, None);
                (EditKind::NewFunction, format!("new function in lib{lib}"))
            }
            7 | 8 => {
                let f = &mut self.libs[lib][index];
                let clause = (rng.below(4), rng.below(500) as i32);
                match rng.below(3) {
                    0 => f.contracts.push(clause),
                    1 if !f.contracts.is_empty() => {
                        f.contracts.remove(rng.below(f.contracts.len()));
                    }
                    _ if !f.contracts.is_empty() => {
                        let at = rng.below(f.contracts.len());
                        f.contracts[at] = clause;
                    }
                    _ => f.contracts.push(clause),
                }
                // The qualified name first: the oracle checks that nothing else compiles.
                (EditKind::Contract, format!("lib/lib{}.{}: contracts {:?}", file_number(lib), f.name, f.contracts))
            }
            _ if rng.below(2) == 0 => {
                self.contracts = !self.contracts;
                (EditKind::Contracts, format!("contracts {}", if self.contracts { "on" } else { "off" }))
            }
            _ => {
                self.opt_level = if self.opt_level == 0 { 1 } else { 0 };
                (EditKind::OptLevel, format!("opt level {}", self.opt_level))
            }
        }
    }

    /// The broken functions.
    fn broken(&self) -> Vec<(usize, usize)> {
        let all = self.libs.iter().enumerate().flat_map(|(lib, funcs)| (0..funcs.len()).map(move |i| (lib, i)));
        all.filter(|&(lib, i)| self.libs[lib][i].error.is_some()).collect()
    }

    /// Like `edit`, but some edits introduce an error, and some fix one; while errors
    /// stay, the other edits go on, and `main` (which calls every function, and comes
    /// first in program order) is edited too.
    fn edit_with_errors(&mut self, rng: &mut Rng) -> (EditKind, String) {
        let broken = self.broken();
        match rng.below(8) {
            0..=2 if !broken.is_empty() => {
                let (lib, index) = broken[rng.below(broken.len())];
                self.libs[lib][index].error = None;
                (EditKind::Fix, format!("fix lib{lib}.{}", self.libs[lib][index].name))
            }
            3 => {
                let (lib, index) = self.random_function(rng);
                let error =
                    [Breakage::ParamType, Breakage::ParamType, Breakage::Body, Breakage::UnknownName][rng.below(4)];
                self.libs[lib][index].error = Some(error);
                (EditKind::Break, format!("{error:?} error in lib{lib}.{}", self.libs[lib][index].name))
            }
            4 => {
                self.main_base = rng.below(100) as i32;
                (EditKind::MainBody, format!("main's base {}", self.main_base))
            }
            _ => self.edit(rng),
        }
    }
}

/// A build in a new session, as a new process would run it, into `output`; with
/// `cache`, over that cache instead of the project's `.mini_cache`.
fn one_shot_build(project: &Project, cache: Option<&Path>, settings: Settings, output: &str) -> (Session, BuildReport) {
    let (session, report) = one_shot_attempt(project, cache, settings, output);
    assert!(report.success(), "{:#?}", report.diagnostics);
    (session, report)
}

/// A build in a new session that may report errors (but must not fail otherwise).
fn one_shot_attempt(
    project: &Project,
    cache: Option<&Path>,
    settings: Settings,
    output: &str,
) -> (Session, BuildReport) {
    let mut session = Session::new(&project.path("main.mini")).expect("session");
    if let Some(cache) = cache {
        session.set_cache_dir(cache.to_path_buf());
    }
    let request = BuildRequest {
        emit: Emit::Exe,
        output: Some(project.path(output)),
        settings,
        jobs: 2,
        log_queries: true,
        deny_warnings: false,
    };
    let report = session.build(&request).expect("the build runs");
    (session, report)
}

/// A clean build into `clean`, with an empty cache.
fn clean_build(project: &Project, settings: Settings) -> (Session, tempfile::TempDir) {
    let cache = tempfile::tempdir().expect("temporary directory");
    let (session, _) = one_shot_build(project, Some(cache.path()), settings, "clean");
    (session, cache)
}

fn run(path: &std::path::Path) -> (String, Option<i32>) {
    let out = mini::process::output(&mut std::process::Command::new(path)).expect("program runs");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

/// What a contract-only edit of the function `what` names may do: with contracts off,
/// compile nothing and link nothing (the executable is unchanged, byte for byte); with
/// contracts on, compile that function alone — never its callers.
#[track_caller]
fn check_contract_edit(report: &BuildReport, what: &str, on: bool, before: &[u8], project: &Project, context: &str) {
    let edited = what.split(':').next().expect("the edited function");
    if on {
        assert!(report.compiled.iter().all(|f| f == edited), "{context}: compiled {:?}", report.compiled);
    } else {
        assert!(report.compiled.is_empty(), "{context}: compiled {:?}", report.compiled);
        assert!(!report.linked, "{context}: linked");
        assert!(std::fs::read(project.path("main")).unwrap() == before, "{context}: the executable changed");
    }
}

#[test]
fn incremental_builds_match_clean_builds_after_random_edits() {
    for seed in [0x5eed_u64, 0xdecaf, 0xc0ffee, 0xb0a710ad] {
        let mut rng = Rng(seed);
        let mut model = Model::with_twin();
        let mut project = Project::new("//- main.mini\n");
        model.write(&project);
        project.build();
        let mut history = Vec::new();
        // Whether a new process has built over this session's cache: ever, and since
        // this session's last build (which then links again: the index names the other
        // process's output).
        let (mut interleaved, mut just_interleaved) = (false, false);
        for _ in 0..20 {
            let (kind, what) = model.edit(&mut rng);
            history.push(what.clone());
            model.write(&project);
            project.settings = model.settings();
            let before = std::fs::read(project.path("main")).unwrap();
            let report = project.build();
            let context = format!("seed {seed:#x}, edits: {history:?}");
            if kind == EditKind::Contract && !just_interleaved {
                check_contract_edit(&report, &what, model.contracts, &before, &project, &context);
            }
            just_interleaved = false;
            let (clean, _cache) = clean_build(&project, model.settings());
            assert_eq!(run(&project.path("main")), run(&project.path("clean")), "{context}");
            // Every object this session holds is the clean build's. (After a new process
            // built some, this session may take their units from the cache whole, and hold
            // no object of those functions.)
            let (objects, clean_objects) = (project.session.function_objects(), clean.function_objects());
            assert_eq!(objects.len(), clean_objects.len(), "functions differ: {context}");
            for ((name, object), (clean_name, clean_object)) in objects.iter().zip(&clean_objects) {
                assert_eq!(name, clean_name, "functions differ: {context}");
                if object.is_some() || !interleaved {
                    assert!(object == clean_object, "the objects of {name} differ: {context}");
                }
            }
            let incremental = std::fs::read(project.path("main")).unwrap();
            let fresh = std::fs::read(project.path("clean")).unwrap();
            assert!(incremental == fresh, "executables differ: {context}");

            // Now and then, a new process after one more edit, over the cache and the
            // index this session wrote (which must hold the settings' own hashes): it
            // builds from the unchanged files' summaries.
            if rng.below(3) == 0 {
                (interleaved, just_interleaved) = (true, true);
                let (_, what) = model.edit(&mut rng);
                history.push(format!("{what} (then a new process)"));
                model.write(&project);
                let context = format!("seed {seed:#x}, edits: {history:?}");
                one_shot_build(&project, None, model.settings(), "fresh");
                clean_build(&project, model.settings());
                assert_eq!(run(&project.path("fresh")), run(&project.path("clean")), "{context}");
                let from_summaries = std::fs::read(project.path("fresh")).unwrap();
                let clean = std::fs::read(project.path("clean")).unwrap();
                assert!(from_summaries == clean, "a new process's executable differs: {context}");
            }
        }
    }
}

/// One-shot builds, each in a new session as a new process would run it, over a
/// persistent cache: after an edit that keeps every file's imports — a body, a comment,
/// a signature, a new function — the session patches the index (`driver/patch.rs`,
/// `driver/importers.rs`) instead of re-creating the program, and what it links must
/// still be the clean build's executable, byte for byte.
#[test]
fn fresh_sessions_match_clean_builds_after_random_edits() {
    for seed in [0xfaded_u64, 0x0b5e55ed] {
        let mut rng = Rng(seed);
        let mut model = Model::new();
        let project = Project::new("//- main.mini\n");
        model.write(&project);
        one_shot_build(&project, None, model.settings(), "main");
        let mut history = Vec::new();
        let (mut patched, mut interface_patched, mut in_place) = (0, 0, 0);
        for _ in 0..20 {
            let (kind, what) = model.edit(&mut rng);
            history.push(what.clone());
            model.write(&project);
            let before = std::fs::read(project.path("main")).unwrap();
            let (_, report) = one_shot_build(&project, None, model.settings(), "main");
            let context = format!("seed {seed:#x}, edits: {history:?}");
            in_place += usize::from(report.linked_in_place);
            // A full build plans the link; the patch reuses the index's plan.
            let planned = report.executed.iter().any(|query| query.starts_with("link_plan"));
            match kind {
                EditKind::Body
                | EditKind::Comment
                | EditKind::BlankLines
                | EditKind::Callee
                | EditKind::Contract
                | EditKind::Signature
                | EditKind::NewFunction => {
                    assert!(!planned, "{context}: expected a patched build, executed {:?}", report.executed);
                    patched += 1;
                    if matches!(kind, EditKind::Signature | EditKind::NewFunction) {
                        interface_patched += 1;
                    }
                }
                // New settings have no index yet; `edit` never makes the others.
                EditKind::OptLevel | EditKind::Contracts | EditKind::Break | EditKind::Fix | EditKind::MainBody => {}
            }
            if kind == EditKind::Contract {
                check_contract_edit(&report, &what, model.contracts, &before, &project, &context);
            }
            let (_clean, _cache) = clean_build(&project, model.settings());
            assert_eq!(run(&project.path("main")), run(&project.path("clean")), "{context}");
            let incremental = std::fs::read(project.path("main")).unwrap();
            let fresh = std::fs::read(project.path("clean")).unwrap();
            assert!(incremental == fresh, "executables differ: {context}");
        }
        assert!(patched >= 5, "seed {seed:#x}: only {patched} patched builds");
        assert!(interface_patched >= 2, "seed {seed:#x}: only {interface_patched} signature or new-function edits");
        assert!(in_place >= 3, "seed {seed:#x}: only {in_place} executables patched in place");
    }
}

/// One-shot builds over a persistent cache, as in the test above, through edits that
/// introduce errors — a misspelled parameter type among them — and later fix them while
/// other files (`main`, first in program order, too) keep changing. While the program
/// has errors, each build must report exactly the errors a clean build reports (and not
/// crash: the patch path once summarized a caller of a function whose signature had an
/// error); once they are fixed, it must link the clean build's executable, byte for byte.
#[test]
fn fresh_sessions_match_clean_builds_through_errors_and_fixes() {
    for seed in [0xbad5eed_u64, 0xf1ced] {
        let mut rng = Rng(seed);
        let mut model = Model::new();
        let project = Project::new("//- main.mini\n");
        model.write(&project);
        one_shot_build(&project, None, model.settings(), "main");
        let mut history = Vec::new();
        let (mut broken_builds, mut fixed_builds) = (0, 0);
        for _ in 0..24 {
            history.push(model.edit_with_errors(&mut rng).1);
            model.write(&project);
            let context = format!("seed {seed:#x}, edits: {history:?}");
            let (_, report) = one_shot_attempt(&project, None, model.settings(), "main");
            let cache = tempfile::tempdir().expect("temporary directory");
            let (_, clean) = one_shot_attempt(&project, Some(cache.path()), model.settings(), "clean");
            assert_eq!(report.diagnostics, clean.diagnostics, "{context}");
            if model.broken().is_empty() {
                assert!(report.success(), "{context}: {:#?}", report.diagnostics);
                assert_eq!(run(&project.path("main")), run(&project.path("clean")), "{context}");
                let incremental = std::fs::read(project.path("main")).unwrap();
                let fresh = std::fs::read(project.path("clean")).unwrap();
                assert!(incremental == fresh, "executables differ: {context}");
                fixed_builds += 1;
            } else {
                assert!(!report.success(), "{context}: a broken program built");
                broken_builds += 1;
            }
        }
        assert!(
            broken_builds >= 4 && fixed_builds >= 4,
            "seed {seed:#x}: {broken_builds} broken, {fixed_builds} fixed"
        );
    }
}

/// `mini explain` must predict exactly what the next `mini build` compiles: after each
/// random edit, explain (JSON) then build (JSON) in fresh processes, and compare.
#[test]
fn explain_agrees_with_the_next_build_after_random_edits() {
    use crate::support::{mini, stdout};

    for seed in [0x1234_u64, 0xfeed] {
        let mut rng = Rng(seed);
        let mut model = Model::new();
        let project = Project::new("//- main.mini\n");
        model.write(&project);
        let mut history = Vec::new();
        for step in 0..12 {
            if step > 0 {
                history.push(model.edit(&mut rng).1);
                model.write(&project);
            }
            let opt = format!("-O{}", model.opt_level);
            let contracts = if model.contracts { "on" } else { "off" };
            let explain = mini(project.dir.path(), &["explain", "--json", &opt, "--contracts", contracts]);
            assert!(explain.status.success(), "{}", crate::support::stderr(&explain));
            let explained: serde_json::Value = serde_json::from_str(stdout(&explain).trim()).expect("JSON");
            let mut predicted: Vec<String> = serde_json::from_value(explained["will_compile"].clone()).unwrap();
            let build =
                mini(project.dir.path(), &["build", "--message-format", "json", &opt, "--contracts", contracts]);
            assert!(build.status.success(), "{}", crate::support::stderr(&build));
            let finished: serde_json::Value =
                serde_json::from_str(stdout(&build).lines().last().expect("an event")).expect("JSON");
            let mut compiled: Vec<String> = serde_json::from_value(finished["compiled"].clone()).unwrap();
            predicted.sort();
            compiled.sort();
            assert_eq!(predicted, compiled, "seed {seed:#x}, edits {history:?}, explain said {explained}");
        }
    }
}
