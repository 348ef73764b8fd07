//! Which queries re-execute after an edit. Each test protects one row of the
//! invalidation contract in ARCHITECTURE.md: it builds, edits, rebuilds in the same
//! session, and snapshots the ordered list of queries that ran and the functions whose
//! code was generated.

use expect_test::{Expect, expect};

use crate::support::Project;

const PROGRAM: &str = r#"
//- main.mini
import "lib/math.mini" as math;

// The entry point.
fn main() i32 {
    const x = math.add(2, 3);
    @print(helper(x));
    return 0;
}

fn helper(v: i32) i32 {
    return v * 10;
}

fn unrelated() i32 {
    return 7;
}
//- lib/math.mini
pub fn add(a: i32, b: i32) i32 {
    return a + b;
}

pub fn twice(a: i32) i32 {
    return a + a;
}

pub fn three() i32 {
    return add(1, 2);
}
"#;

/// Builds `PROGRAM`, applies `edit`, rebuilds, and checks what re-ran and what the
/// program now prints.
#[track_caller]
fn check_reexecuted(edit: impl FnOnce(&mut Project), executed: Expect, compiled: Expect, stdout: &str) {
    let mut project = Project::new(PROGRAM);
    project.build();
    assert_eq!(project.run(), ("50\n".to_string(), 0));
    edit(&mut project);
    let report = project.build();
    executed.assert_eq(&report.executed.join("\n"));
    compiled.assert_eq(&report.compiled.join("\n"));
    assert_eq!(project.run().0, stdout);
}

#[test]
fn editing_a_body_recompiles_only_that_function() {
    check_reexecuted(
        |p| p.edit("main.mini", "return v * 10;", "return v * 100;"),
        expect![[r#"
            parse_file(main.mini)
            file_imports(main.mini)
            file_read_error(main.mini)
            file_diagnostics(main.mini)
            file_functions(main.mini)
            fn_zir(main.main)
            fn_zir(main.helper)
            fn_signature(main.helper)
            fn_check(main.helper)
            fn_zir(main.unrelated)
            fn_air(main.helper)
            fn_input_bytes(main.helper)
            fn_contracts(main.helper)
            fn_hash(main.helper)
            unit_plan(unit 213)
            link_plan()
            fn_object(main.helper)
            summarize(main.mini)"#]],
        expect!["main.helper"],
        "500\n",
    );
}

#[test]
fn editing_a_comment_recompiles_nothing() {
    check_reexecuted(
        |p| p.edit("main.mini", "// The entry point.", "// Where it all starts."),
        expect![[r#"
            parse_file(main.mini)
            file_imports(main.mini)
            file_read_error(main.mini)
            file_diagnostics(main.mini)
            file_functions(main.mini)
            fn_zir(main.main)
            fn_zir(main.helper)
            fn_zir(main.unrelated)"#]],
        expect![[r#""#]],
        "50\n",
    );
}

#[test]
fn changing_whitespace_recompiles_nothing() {
    check_reexecuted(
        |p| p.edit("main.mini", "return v * 10;", "return   v*10 ;"),
        expect![[r#"
            parse_file(main.mini)
            file_imports(main.mini)
            file_read_error(main.mini)
            file_diagnostics(main.mini)
            file_functions(main.mini)
            fn_zir(main.main)
            fn_zir(main.helper)
            fn_signature(main.helper)
            fn_check(main.helper)
            fn_zir(main.unrelated)
            summarize(main.mini)"#]],
        expect![[r#""#]],
        "50\n",
    );
}

#[test]
fn inserting_a_line_above_a_function_recompiles_nothing() {
    check_reexecuted(
        |p| p.edit("lib/math.mini", "pub fn add", "\n\npub fn add"),
        expect![[r#"
            parse_file(lib/math.mini)
            file_imports(lib/math.mini)
            file_read_error(lib/math.mini)
            file_functions(lib/math.mini)
            fn_zir(lib/math.add)
            file_diagnostics(lib/math.mini)
            fn_zir(lib/math.twice)
            fn_zir(lib/math.three)"#]],
        expect![[r#""#]],
        "50\n",
    );
}

#[test]
fn changing_a_signature_recompiles_direct_callers_only() {
    check_reexecuted(
        |p| {
            p.edit(
                "lib/math.mini",
                "pub fn add(a: i32, b: i32) i32 {\n    return a + b;",
                "pub fn add(a: i32, b: i64) i32 {\n    return a + @as(i32, b);",
            );
        },
        expect![[r#"
            parse_file(lib/math.mini)
            file_imports(lib/math.mini)
            file_read_error(lib/math.mini)
            file_functions(lib/math.mini)
            fn_zir(lib/math.add)
            fn_signature(lib/math.add)
            fn_check(main.main)
            file_diagnostics(main.mini)
            file_diagnostics(lib/math.mini)
            fn_check(lib/math.add)
            fn_zir(lib/math.twice)
            fn_zir(lib/math.three)
            fn_check(lib/math.three)
            fn_air(lib/math.add)
            fn_input_bytes(lib/math.add)
            fn_contracts(lib/math.add)
            fn_hash(lib/math.add)
            unit_plan(unit 8)
            fn_air(lib/math.three)
            fn_input_bytes(lib/math.three)
            fn_contracts(lib/math.three)
            fn_hash(lib/math.three)
            link_plan()
            fn_air(main.main)
            fn_input_bytes(main.main)
            fn_contracts(main.main)
            fn_hash(main.main)
            unit_plan(unit 213)
            fn_object(lib/math.add)
            fn_object(lib/math.three)
            fn_object(main.main)
            summarize(lib/math.mini)
            file_interface(lib/math.mini)"#]],
        expect![[r#"
            main.main
            lib/math.add
            lib/math.three"#]],
        "50\n",
    );
}

#[test]
fn adding_an_unrelated_function_recompiles_nothing_existing() {
    check_reexecuted(
        |p| p.edit("main.mini", "fn unrelated()", "fn brand_new() i32 {\n    return 1;\n}\n\nfn unrelated()"),
        expect![[r#"
            parse_file(main.mini)
            file_imports(main.mini)
            file_read_error(main.mini)
            file_diagnostics(main.mini)
            file_functions(main.mini)
            fn_zir(main.main)
            fn_zir(main.helper)
            fn_check(main.brand_new)
            fn_zir(main.brand_new)
            fn_zir(main.unrelated)
            unit_plan(unit 213)
            fn_hash(main.brand_new)
            fn_input_bytes(main.brand_new)
            fn_air(main.brand_new)
            fn_contracts(main.brand_new)
            link_plan()
            fn_object(main.brand_new)
            summarize(main.mini)
            fn_signature(main.brand_new)
            file_interface(main.mini)"#]],
        expect!["main.brand_new"],
        "50\n",
    );
}

#[test]
fn editing_an_imported_body_does_not_recompile_the_importer() {
    check_reexecuted(
        |p| p.edit("lib/math.mini", "return a + b;", "return b + a + 1;"),
        expect![[r#"
            parse_file(lib/math.mini)
            file_imports(lib/math.mini)
            file_read_error(lib/math.mini)
            file_functions(lib/math.mini)
            fn_zir(lib/math.add)
            fn_signature(lib/math.add)
            file_diagnostics(lib/math.mini)
            fn_check(lib/math.add)
            fn_zir(lib/math.twice)
            fn_zir(lib/math.three)
            fn_air(lib/math.add)
            fn_input_bytes(lib/math.add)
            fn_contracts(lib/math.add)
            fn_hash(lib/math.add)
            unit_plan(unit 8)
            link_plan()
            fn_object(lib/math.add)
            summarize(lib/math.mini)"#]],
        expect!["lib/math.add"],
        "60\n",
    );
}

#[test]
fn changing_the_opt_level_regenerates_every_object() {
    check_reexecuted(
        |p| p.settings.codegen.opt_level = 2,
        expect![[r#"
            fn_input_bytes(lib/math.add)
            fn_hash(lib/math.add)
            unit_plan(unit 8)
            fn_input_bytes(lib/math.twice)
            fn_hash(lib/math.twice)
            fn_input_bytes(lib/math.three)
            fn_hash(lib/math.three)
            link_plan()
            fn_input_bytes(main.main)
            fn_hash(main.main)
            unit_plan(unit 213)
            fn_input_bytes(main.helper)
            fn_hash(main.helper)
            fn_input_bytes(main.unrelated)
            fn_hash(main.unrelated)
            runtime_hash()
            entry_hash()
            batch_objects(2 functions)
            fn_object(lib/math.add)
            fn_object(lib/math.twice)
            batch_objects(2 functions)
            fn_object(lib/math.three)
            fn_object(main.main)
            batch_objects(2 functions)
            fn_object(main.helper)
            fn_object(main.unrelated)
            runtime_object()
            entry_object()
            start_hash()
            start_object()
            summarize(main.mini)
            summarize(lib/math.mini)"#]],
        expect![[r#"
            main.main
            main.helper
            main.unrelated
            lib/math.add
            lib/math.twice
            lib/math.three"#]],
        "50\n",
    );
}

/// A program with contracts: `lib/math.root` has two, `main.helper` one; `main.main`
/// calls both and has none.
const CONTRACTS: &str = r#"
//- main.mini
import "lib/math.mini" as math;

fn main() i32 {
    @print(math.root(17));
    @print(helper(3));
    return 0;
}

fn helper(v: i32) i32
    requires(v > 0)
{
    return v * 10;
}
//- lib/math.mini
pub fn root(n: i32) i32
    requires(n >= 0)
    ensures(result * result <= n)
{
    var r: i32 = 0;
    while ((r + 1) * (r + 1) <= n) { r += 1; }
    return r;
}

pub fn square(x: i32) i32 {
    return x * x;
}
"#;

/// Builds `CONTRACTS` with contracts `on`, applies `edit`, rebuilds, and checks what
/// re-ran and was compiled; returns the second build's report and whether the
/// executable is byte for byte the first one.
#[track_caller]
fn check_contract_edit(on: bool, edit: &str, executed: Expect, compiled: Expect) -> (mini::driver::BuildReport, bool) {
    let mut project = Project::new(CONTRACTS);
    project.settings.contracts = on;
    project.build();
    assert_eq!(project.run(), ("4\n30\n".to_string(), 0));
    let before = std::fs::read(project.path("main")).unwrap();
    project.edit("lib/math.mini", "ensures(result * result <= n)", edit);
    let report = project.build();
    executed.assert_eq(&report.executed.join("\n"));
    compiled.assert_eq(&report.compiled.join("\n"));
    assert_eq!(project.run(), ("4\n30\n".to_string(), 0));
    let same = std::fs::read(project.path("main")).unwrap() == before;
    (report, same)
}

#[test]
fn with_contracts_off_a_contract_edit_compiles_nothing_and_links_nothing() {
    let (report, same) = check_contract_edit(
        false,
        "ensures(result >= 0 and result * result <= n)",
        expect![[r#"
            parse_file(lib/math.mini)
            file_imports(lib/math.mini)
            file_read_error(lib/math.mini)
            file_functions(lib/math.mini)
            fn_zir(lib/math.root)
            fn_signature(lib/math.root)
            file_diagnostics(lib/math.mini)
            fn_check(lib/math.root)
            fn_zir(lib/math.square)
            fn_air(lib/math.root)
            summarize(lib/math.mini)"#]],
        expect![[r#""#]],
    );
    assert!(!report.linked, "nothing changed, so nothing is linked");
    assert!(same, "the executable is byte for byte the one before");
}

#[test]
fn with_contracts_on_a_contract_edit_recompiles_that_function_and_not_its_callers() {
    let (report, same) = check_contract_edit(
        true,
        "ensures(result >= 0 and result * result <= n)",
        expect![[r#"
            parse_file(lib/math.mini)
            file_imports(lib/math.mini)
            file_read_error(lib/math.mini)
            file_functions(lib/math.mini)
            fn_zir(lib/math.root)
            fn_signature(lib/math.root)
            file_diagnostics(lib/math.mini)
            fn_check(lib/math.root)
            fn_zir(lib/math.square)
            fn_air(lib/math.root)
            fn_contracts(lib/math.root)
            fn_input_bytes(lib/math.root)
            fn_hash(lib/math.root)
            unit_plan(unit 8)
            link_plan()
            fn_object(lib/math.root)
            summarize(lib/math.mini)"#]],
        expect!["lib/math.root"],
    );
    assert!(report.linked);
    assert!(!same, "the new check is in the executable");
}

/// Switching contracts off compiles only the functions that have some (the others'
/// objects do not depend on the setting); switching back compiles nothing: the first
/// objects are still there, and the executable is the first one again, byte for byte.
#[test]
fn switching_contracts_off_and_on_reuses_the_first_objects() {
    let mut project = Project::new(CONTRACTS);
    project.build();
    let first = std::fs::read(project.path("main")).unwrap();

    project.settings.contracts = false;
    let off = project.build();
    expect![[r#"
        fn_input_bytes(lib/math.root)
        fn_hash(lib/math.root)
        unit_plan(unit 8)
        fn_input_bytes(lib/math.square)
        link_plan()
        fn_input_bytes(main.main)
        fn_input_bytes(main.helper)
        fn_hash(main.helper)
        unit_plan(unit 213)
        fn_object(lib/math.root)
        fn_object(main.helper)
        summarize(main.mini)
        summarize(lib/math.mini)"#]]
    .assert_eq(&off.executed.join("\n"));
    expect![[r#"
        main.helper
        lib/math.root"#]]
    .assert_eq(&off.compiled.join("\n"));
    assert_ne!(std::fs::read(project.path("main")).unwrap(), first);

    project.settings.contracts = true;
    let on = project.build();
    expect![[r#"
        fn_input_bytes(lib/math.root)
        fn_hash(lib/math.root)
        unit_plan(unit 8)
        fn_input_bytes(lib/math.square)
        link_plan()
        fn_input_bytes(main.main)
        fn_input_bytes(main.helper)
        fn_hash(main.helper)
        unit_plan(unit 213)
        summarize(main.mini)
        summarize(lib/math.mini)"#]]
    .assert_eq(&on.executed.join("\n"));
    assert!(on.compiled.is_empty(), "compiled {:?}", on.compiled);
    assert_eq!(std::fs::read(project.path("main")).unwrap(), first, "the first executable, byte for byte");
}

/// A session that builds with other settings writes that settings' index with that
/// settings' summaries, never records kept from the other settings' index: a function
/// with contracts hashes differently with them on and off. A fresh process then
/// rebuilds a unit from those summaries' hashes, and must link the code of the
/// settings it builds with.
#[test]
fn an_index_written_after_the_settings_changed_holds_their_hashes() {
    // A file in `main.mini`'s link unit, so that editing it rebuilds that unit from its
    // members' recorded hashes.
    let main_unit = mini_queries::link::link_unit_of(&mini_queries::base::ModulePath::normalized("main.mini"));
    let twin = (0..)
        .map(|i| format!("m{i}.mini"))
        .find(|p| mini_queries::link::link_unit_of(&mini_queries::base::ModulePath::normalized(p)) == main_unit)
        .expect("some name shares the unit");
    let fixture = format!(
        "//- main.mini\nimport \"{twin}\" as twin;\n\nfn main() i32 {{\n    @print(helper(0));\n    @print(twin.g());\n    return 0;\n}}\n\n\
         fn helper(v: i32) i32\n    requires(v > 0)\n{{\n    return v * 10;\n}}\n\
         //- {twin}\npub fn g() i32 {{\n    return 1;\n}}\n"
    );
    let mut project = Project::new(&fixture);
    project.settings.contracts = true;
    project.build();
    assert_ne!(project.run().1, 0, "helper(0) breaks its contract");
    project.settings.contracts = false;
    project.build();
    assert_eq!(project.run(), ("0\n1\n".to_string(), 0));

    // A new process, contracts off: `main.mini` is a summary from the index just written.
    project.edit(&twin, "return 1;", "return 2;");
    project.session = mini::driver::Session::new(&project.path("main.mini")).unwrap();
    let patched = project.build();
    assert_eq!(patched.compiled, [format!("{}.g", twin.trim_end_matches(".mini"))]);
    assert_eq!(project.run(), ("0\n2\n".to_string(), 0), "helper compiled without its contract");

    // And back, in a new process: helper's contract is checked again.
    project.settings.contracts = true;
    project.session = mini::driver::Session::new(&project.path("main.mini")).unwrap();
    project.build();
    assert_ne!(project.run().1, 0, "helper(0) breaks its contract again");
}

/// The same for a session whose files are summaries of one settings' index (as a
/// watcher's after a rebase): building with other settings reads them as text again,
/// since a summary's hashes are its settings'.
#[test]
fn summaries_of_other_settings_are_not_built_from() {
    let mut project = Project::new(
        "//- main.mini\nimport \"lib.mini\";\n\nfn main() i32 {\n    @print(helper(0));\n    @print(lib.g());\n    return 0;\n}\n\n\
         fn helper(v: i32) i32\n    requires(v > 0)\n{\n    return v * 10;\n}\n\
         //- lib.mini\npub fn g() i32 {\n    return 1;\n}\n",
    );
    project.settings.contracts = true;
    project.build();
    let mut warm = project.session.fresh().unwrap().expect("a session with a cache");
    assert!(warm.warm(&project.request()).unwrap());
    assert_eq!(warm.text_files(), 0, "every file is a summary");
    project.session = warm;
    project.settings.contracts = false;
    let off = project.build();
    assert_eq!(project.run(), ("0\n1\n".to_string(), 0), "helper compiled without its contract");
    assert_eq!(off.compiled, ["main.helper"], "the one function whose code the setting changes");
}

/// A warning reaches no hash: a comment above it moves it, re-checks nothing and
/// compiles nothing, and the build reports it at its new line.
#[test]
fn a_comment_that_moves_a_warning_compiles_nothing() {
    let mut project = Project::new(
        r#"
        //- main.mini
        // The entry point.
        fn main() i32 {
            const unused = 1;
            return 0;
        }
        "#,
    );
    let root = format!("{}/", project.dir.path().display());
    let warnings = |report: &mini::driver::BuildReport| -> String {
        report.diagnostics.iter().map(|d| mini::render::human(d, false).replace(&root, "")).collect()
    };
    let first = project.build();
    expect![[r#"
        main.mini:3:11: warning: unused constant 'unused'
            const unused = 1;
                  ^~~~~~
    "#]]
    .assert_eq(&warnings(&first));
    project.edit("main.mini", "// The entry point.", "// The entry point,\n// which returns zero.");
    let moved = project.build();
    expect![[r#"
        parse_file(main.mini)
        file_imports(main.mini)
        file_read_error(main.mini)
        file_diagnostics(main.mini)
        file_functions(main.mini)
        fn_zir(main.main)
        chunk_diagnostics(files 0..1)
        program_diagnostics()
        summarize(main.mini)"#]]
    .assert_eq(&moved.executed.join("\n"));
    assert_eq!(moved.compiled, Vec::<String>::new());
    assert!(!moved.linked);
    expect![[r#"
        main.mini:4:11: warning: unused constant 'unused'
            const unused = 1;
                  ^~~~~~
    "#]]
    .assert_eq(&warnings(&moved));
}
