//! What programs report, checked at the query boundary.

use expect_test::expect;

use super::check_diagnostics;

#[test]
fn a_type_error_is_reported_at_its_expression() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            return true;
        }
        "#,
        expect![[r#"
            main.mini:2:12: error: mismatched types: expected i32, found bool
        "#]],
    );
}

#[test]
fn errors_of_every_file_are_reported_in_program_order() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib.mini";
        fn main() i32 {
            return lib.twice(1, 2) + missing();
        }
        //- lib.mini
        pub fn twice(x: i32) i32 {
            return x + flag;
        }
        "#,
        expect![[r#"
            main.mini:3:16: error: 'lib.twice' takes 1 argument, but 2 were given
            main.mini:3:30: error: undeclared function 'missing'
            lib.mini:2:16: error: undeclared name 'flag'
        "#]],
    );
}

#[test]
fn a_missing_import_is_an_error_at_its_path() {
    check_diagnostics(
        r#"
        //- main.mini
        import "nowhere.mini" as n;
        fn main() i32 {
            return n.f();
        }
        "#,
        expect![[r#"
            main.mini:1:8: error: cannot read imported file "nowhere.mini"
        "#]],
    );
}
