//! Contracts at the query boundary: what reaches a function's hash, and what re-runs
//! after a contract edit or a switch of the setting.

use expect_test::expect;

use super::{TestDb, check_reexecuted};

const PROGRAM: &str = r#"
//- main.mini
import "lib.mini";

fn main() i32 {
    return lib.root(17) + lib.plain(1);
}
//- lib.mini
pub fn root(n: i32) i32
    requires(n >= 0)
    ensures(result * result <= n and plain(result) > 0)
{
    var r: i32 = 0;
    while ((r + 1) * (r + 1) <= n) { r += 1; }
    return r;
}

pub fn plain(x: i32) i32 {
    return x + 1;
}
"#;

/// `PROGRAM` with the contract clauses deleted.
fn without_contracts() -> String {
    PROGRAM
        .replace("    requires(n >= 0)\n", "")
        .replace("    ensures(result * result <= n and plain(result) > 0)\n", "")
}

/// Off means absent: with contracts off, a function hashes exactly as it would
/// without its contracts; with them on, only functions that have some hash otherwise.
#[test]
fn with_contracts_off_a_function_hashes_as_if_it_had_none() {
    let mut with = TestDb::new(PROGRAM);
    let mut bare = TestDb::new(&without_contracts());
    bare.set_contracts(false);
    with.set_contracts(false);
    let off = with.hash("lib.mini", "root");
    assert!(off.is_some());
    assert_eq!(off, bare.hash("lib.mini", "root"), "contracts off: as if it had none");
    with.set_contracts(true);
    assert_ne!(with.hash("lib.mini", "root"), off, "contracts on: its checks are in its code");
    bare.set_contracts(true);
    assert_eq!(bare.hash("lib.mini", "root"), off, "a function without contracts ignores the setting");
    for (file, name) in [("lib.mini", "plain"), ("main.mini", "main")] {
        assert_eq!(with.hash(file, name), bare.hash(file, name), "{name} has no contracts");
    }
}

#[test]
fn with_contracts_off_a_contract_edit_reaches_no_hash() {
    check_reexecuted(
        PROGRAM,
        |db| {
            db.set_contracts(false);
            db.build();
            db.executed();
            db.edit("lib.mini", "requires(n >= 0)", "requires(n >= 0 and n < 1000)");
        },
        expect![[r#"
            file_read_error(lib.mini)
            parse_file(lib.mini)
            file_imports(lib.mini)
            file_functions(lib.mini)
            fn_zir(lib.root)
            fn_signature(lib.root)
            fn_zir(lib.plain)
            file_diagnostics(lib.mini)
            fn_check(lib.root)
            fn_air(lib.root)"#]],
        expect![[r#""#]],
    );
}

#[test]
fn with_contracts_on_a_contract_edit_regenerates_that_function_only() {
    check_reexecuted(
        PROGRAM,
        |db| db.edit("lib.mini", "requires(n >= 0)", "requires(n >= 0 and n < 1000)"),
        expect![[r#"
            file_read_error(lib.mini)
            parse_file(lib.mini)
            file_imports(lib.mini)
            file_functions(lib.mini)
            fn_zir(lib.root)
            fn_signature(lib.root)
            fn_zir(lib.plain)
            file_diagnostics(lib.mini)
            fn_check(lib.root)
            fn_air(lib.root)
            fn_contracts(lib.root)
            fn_input_bytes(lib.root)
            fn_hash(lib.root)
            unit_plan(unit 69)
            link_plan()
            fn_object(lib.root)"#]],
        expect!["lib.root"],
    );
}
