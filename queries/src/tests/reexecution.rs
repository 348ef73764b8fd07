//! Which queries re-run after an edit, checked at the query boundary (the shell's
//! `tests/it/reexecution.rs` checks the same contract through a whole build).

use expect_test::expect;

use super::{TestDb, check_reexecuted};

const PROGRAM: &str = r#"
//- main.mini
import "lib.mini";

fn main() i32 {
    return lib.add(1, 2) + local();
}

fn local() i32 {
    return 4;
}
//- lib.mini
// Arithmetic.
pub fn add(a: i32, b: i32) i32 {
    return a + b;
}

pub fn unused() i32 {
    return 0;
}
"#;

#[test]
fn editing_a_body_regenerates_only_that_function() {
    check_reexecuted(
        PROGRAM,
        |db| db.edit("lib.mini", "return a + b;", "return b + a;"),
        expect![[r#"
            file_read_error(lib.mini)
            parse_file(lib.mini)
            file_imports(lib.mini)
            file_functions(lib.mini)
            fn_zir(lib.add)
            fn_signature(lib.add)
            file_diagnostics(lib.mini)
            fn_check(lib.add)
            fn_zir(lib.unused)
            fn_air(lib.add)
            fn_input_bytes(lib.add)
            fn_contracts(lib.add)
            fn_hash(lib.add)
            unit_plan(unit 69)
            link_plan()
            fn_object(lib.add)"#]],
        expect!["lib.add"],
    );
}

#[test]
fn editing_a_comment_regenerates_nothing() {
    check_reexecuted(
        PROGRAM,
        |db| db.edit("lib.mini", "// Arithmetic.", "// Sums."),
        expect![[r#"
            file_read_error(lib.mini)
            parse_file(lib.mini)
            file_imports(lib.mini)
            file_functions(lib.mini)
            fn_zir(lib.add)
            file_diagnostics(lib.mini)
            fn_zir(lib.unused)"#]],
        expect![[r#""#]],
    );
}

#[test]
fn changing_a_signature_regenerates_it_and_its_callers_only() {
    check_reexecuted(
        PROGRAM,
        |db| {
            db.edit(
                "lib.mini",
                "pub fn add(a: i32, b: i32) i32 {\n    return a + b;",
                "pub fn add(a: i32, b: i64) i32 {\n    return a + @as(i32, b);",
            );
        },
        expect![[r#"
            file_read_error(lib.mini)
            parse_file(lib.mini)
            file_imports(lib.mini)
            file_functions(lib.mini)
            fn_zir(lib.add)
            fn_signature(lib.add)
            fn_check(main.main)
            file_diagnostics(main.mini)
            file_diagnostics(lib.mini)
            fn_check(lib.add)
            fn_zir(lib.unused)
            fn_air(lib.add)
            fn_input_bytes(lib.add)
            fn_contracts(lib.add)
            fn_hash(lib.add)
            unit_plan(unit 69)
            link_plan()
            fn_air(main.main)
            fn_input_bytes(main.main)
            fn_contracts(main.main)
            fn_hash(main.main)
            unit_plan(unit 213)
            fn_object(lib.add)
            fn_object(main.main)"#]],
        expect![[r#"
            lib.add
            main.main"#]],
    );
}

const WARNED: &str = r#"
//- main.mini
import "lib.mini";

fn main() i32 {
    return lib.add(1, 2);
}
//- lib.mini
// Arithmetic.
pub fn add(a: i32, b: i32) i32 {
    const unused = a;
    return a + b;
}
"#;

/// A warning is not part of any hash: a comment that moves it re-checks nothing and
/// regenerates nothing, and the warning is reported where it moved.
#[test]
fn a_comment_that_moves_a_warning_regenerates_nothing() {
    let mut db = TestDb::new(WARNED);
    db.build();
    expect![[r#"
        lib.mini:3:11: warning: unused constant 'unused'
    "#]]
    .assert_eq(&db.diagnostics());
    db.executed();
    db.edit("lib.mini", "// Arithmetic.", "// Arithmetic,\n// on two lines.");
    let compiled = db.build();
    expect![""].assert_eq(&db.executed().join("\n"));
    assert_eq!(compiled, Vec::<String>::new());
    expect![[r#"
        lib.mini:4:11: warning: unused constant 'unused'
    "#]]
    .assert_eq(&db.diagnostics());
}

/// Fixing a warning's cause is an edit of its function like any other: that function
/// is re-checked (and, its code having changed, regenerated), and the warning is gone.
#[test]
fn fixing_a_warnings_cause_rechecks_only_its_function() {
    let mut db = TestDb::new(WARNED);
    db.build();
    db.executed();
    db.edit("lib.mini", "    const unused = a;\n", "");
    let compiled = db.build();
    expect![""].assert_eq(&db.executed().join("\n"));
    assert_eq!(compiled, ["lib.add"]);
    assert_eq!(db.diagnostics(), "");
}
