//! Diagnostics snapshots: every error kind, rendered exactly as the user sees it
//! (`file:line:col: error: message`, the source line, a caret), all errors of a run in
//! file order.

use expect_test::{Expect, expect};

use crate::support::Project;

#[track_caller]
fn check_diagnostics(fixture: &str, expected: Expect) {
    let mut project = Project::new(fixture);
    let report = project.session.check(false).expect("check runs");
    let root = format!("{}/", project.dir.path().display());
    let rendered: String =
        report.diagnostics.iter().map(|d| mini::render::human(d, false).replace(&root, "")).collect();
    expected.assert_eq(&rendered);
}

#[test]
fn lexical_errors_are_all_reported() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            const a = 1 $ 2;
            const b = #;
            return @nope(a);
        }
        "#,
        expect![[r#"
            main.mini:2:17: error: unexpected character '$'
                const a = 1 $ 2;
                            ^
            main.mini:3:15: error: unexpected character '#'
                const b = #;
                          ^
            main.mini:4:12: error: unknown builtin '@nope'
                return @nope(a);
                       ^~~~~
        "#]],
    );
}

#[test]
fn syntax_errors_recover_per_statement() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            const a = 1
            var b: i32 = ;
            b = 2 +;
            return a + b;
        }

        fn broken( i32 {
        }

        fn also_checked() bool {
            return 1 < 2 < 3;
        }
        "#,
        expect![[r#"
            main.mini:2:16: error: missing ';' at the end of the statement
                const a = 1
                           ^
            main.mini:3:18: error: expected an expression, found ';'
                var b: i32 = ;
                             ^
            main.mini:4:12: error: expected an expression, found ';'
                b = 2 +;
                       ^
            main.mini:8:12: error: expected an identifier, found 'i32'
            fn broken( i32 {
                       ^~~
            main.mini:12:18: error: comparison operators cannot be chained; use 'and' to combine comparisons
                return 1 < 2 < 3;
                             ^
        "#]],
    );
}

#[test]
fn names_must_be_declared() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib.mini" as lib;

        fn main() i32 {
            x = 1;
            const y = z + 1;
            nothing();
            other.f();
            lib.missing();
            return helper;
        }

        fn helper() i32 {
            return 1;
        }
        //- lib.mini
        pub fn f() void {}
        "#,
        expect![[r#"
            main.mini:4:5: error: undeclared name 'x'
                x = 1;
                ^
            main.mini:5:15: error: undeclared name 'z'
                const y = z + 1;
                          ^
            main.mini:6:5: error: undeclared function 'nothing'
                nothing();
                ^~~~~~~
            main.mini:7:5: error: unknown import alias 'other'
                other.f();
                ^~~~~
            main.mini:8:9: error: 'lib.mini' (imported as 'lib') has no function 'missing'
                lib.missing();
                    ^~~~~~~
            main.mini:9:12: error: 'helper' is a function; call it with 'helper(...)'
                return helper;
                       ^~~~~~
        "#]],
    );
}

#[test]
fn types_must_match() {
    check_diagnostics(
        r#"
        //- main.mini
        fn takes(a: i32, b: bool) i64 {
            if (b) {
                return a;
            }
            return 0;
        }

        fn main() i32 {
            var wide: i64 = 1;
            const narrow: i32 = wide;
            wide = true;
            const sum = narrow + wide;
            const x = takes(1, 2);
            const y = takes(1);
            if (narrow) {}
            while (1 + 1) {}
            const n = -true;
            const m = !5;
            const both = true and 1;
            return @as(bool, 1);
        }
        "#,
        expect![[r#"
            main.mini:3:16: error: mismatched types: expected i64, found i32
                    return a;
                           ^
            main.mini:10:25: error: mismatched types: expected i32, found i64
                const narrow: i32 = wide;
                                    ^~~~
            main.mini:11:12: error: mismatched types: expected i64, found bool
                wide = true;
                       ^~~~
            main.mini:12:17: error: mismatched types: i32 + i64 (no implicit conversions; use @as)
                const sum = narrow + wide;
                            ^~~~~~~~~~~~~
            main.mini:13:24: error: mismatched types: expected bool, found i32
                const x = takes(1, 2);
                                   ^
            main.mini:14:15: error: 'takes' takes 2 arguments, but 1 was given
                const y = takes(1);
                          ^~~~~
            main.mini:15:9: error: the condition of 'if' must be bool, found i32
                if (narrow) {}
                    ^~~~~~
            main.mini:16:12: error: the condition of 'while' must be bool, found i32
                while (1 + 1) {}
                       ^~~~~
            main.mini:17:15: error: operator '-' needs an integer operand, found bool
                const n = -true;
                          ^~~~~
            main.mini:18:15: error: operator '!' needs a bool operand, found i32
                const m = !5;
                          ^~
            main.mini:19:27: error: operator 'and' needs bool operands, found i32
                const both = true and 1;
                                      ^
            main.mini:20:16: error: @as converts only between i32 and i64, not to bool
                return @as(bool, 1);
                           ^~~~
        "#]],
    );
}

#[test]
fn literals_must_fit_their_type() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            const a = 2147483648;
            const b: i64 = 9_223_372_036_854_775_808;
            const c: i32 = -2147483648;
            const d = 99999999999999999999999;
            return 0;
        }
        "#,
        expect![[r#"
            main.mini:2:15: error: integer literal 2147483648 does not fit in i32
                const a = 2147483648;
                          ^~~~~~~~~~
            main.mini:3:20: error: integer literal 9223372036854775808 does not fit in i64
                const b: i64 = 9_223_372_036_854_775_808;
                               ^~~~~~~~~~~~~~~~~~~~~~~~~
            main.mini:5:15: error: integer literal does not fit in i32
                const d = 99999999999999999999999;
                          ^~~~~~~~~~~~~~~~~~~~~~~
        "#]],
    );
}

#[test]
fn assignments_need_a_var() {
    check_diagnostics(
        r#"
        //- main.mini
        fn f(p: i32) void {
            p = 1;
            const c = 2;
            c += 1;
            var flag = true;
            flag += 1;
            f = 3;
        }

        fn main() void {}
        "#,
        expect![[r#"
            main.mini:2:5: error: cannot assign to parameter 'p'
                p = 1;
                ^
            main.mini:4:5: error: cannot assign to constant 'c'
                c += 1;
                ^
            main.mini:6:5: error: operator '+=' needs an integer variable, but 'flag' is bool
                flag += 1;
                ^~~~
            main.mini:7:5: error: cannot assign to function 'f'
                f = 3;
                ^
        "#]],
    );
}

#[test]
fn names_are_declared_once_per_scope() {
    check_diagnostics(
        r#"
        //- main.mini
        import "a.mini" as util;
        import "b.mini" as util;

        fn f(a: i32, a: i32) i32 {
            const a = 1;
            var x = 1;
            {
                const x = 2;
            }
            const x = 3;
            return x;
        }

        fn sibling_blocks_may_reuse_names() void {
            { const t = 1; }
            { const t = 2; }
        }

        fn f() void {}

        fn main() void {}
        //- a.mini
        //- b.mini
        "#,
        expect![[r#"
            main.mini:2:20: error: import alias 'util' is already declared in this file
            import "b.mini" as util;
                               ^~~~
            main.mini:4:14: error: parameter 'a' is already declared
            fn f(a: i32, a: i32) i32 {
                         ^
            main.mini:5:11: error: 'a' is already declared
                const a = 1;
                      ^
            main.mini:8:15: error: 'x' is already declared
                    const x = 2;
                          ^
            main.mini:10:11: error: 'x' is already declared
                const x = 3;
                      ^
            main.mini:19:4: error: function 'f' is already declared in this file
            fn f() void {}
               ^
        "#]],
    );
}

#[test]
fn control_flow_is_checked() {
    check_diagnostics(
        r#"
        //- main.mini
        fn no_return(x: i32) i32 {
            if (x > 0) {
                return 1;
            }
        }

        fn loops_forever() i32 {
            while (true) {}
        }

        fn breaks_out() i32 {
            while (true) {
                break;
            }
        }

        fn stray() void {
            break;
            continue;
        }

        fn void_value() void {
            return 1;
        }

        fn no_value() i32 {
            return;
        }

        fn main() void {}
        "#,
        expect![[r#"
            main.mini:5:1: error: missing return at the end of 'no_return', which returns i32
            }
            ^
            main.mini:15:1: error: missing return at the end of 'breaks_out', which returns i32
            }
            ^
            main.mini:18:5: error: break outside a loop
                break;
                ^~~~~~
            main.mini:19:5: error: continue outside a loop
                continue;
                ^~~~~~~~~
            main.mini:23:12: error: 'void_value' returns void, so 'return' cannot have a value
                return 1;
                       ^
            main.mini:27:5: error: missing return value: 'no_value' returns i32
                return;
                ^~~~~~~
        "#]],
    );
}

#[test]
fn void_is_not_a_value() {
    check_diagnostics(
        r#"
        //- main.mini
        fn nothing() void {}

        fn takes(v: void) void {}

        fn main() void {
            const x = nothing();
            var y: void = nothing();
            @print(nothing());
        }
        "#,
        expect![[r#"
            main.mini:3:13: error: parameter 'v' cannot have type void
            fn takes(v: void) void {}
                        ^~~~
            main.mini:6:15: error: cannot initialize 'x' with a void value
                const x = nothing();
                          ^~~~~~~~~
            main.mini:7:12: error: variable 'y' cannot have type void
                var y: void = nothing();
                       ^~~~
            main.mini:8:12: error: @print needs an i32, i64 or bool value, found void
                @print(nothing());
                       ^~~~~~~~~
        "#]],
    );
}

#[test]
fn missing_imports_are_reported_at_the_import() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib/nowhere.mini" as gone;
        import "/etc/absolute.mini";

        fn main() i32 {
            return gone.f();
        }
        "#,
        expect![[r#"
            main.mini:1:8: error: cannot read imported file "lib/nowhere.mini": No such file or directory
            import "lib/nowhere.mini" as gone;
                   ^~~~~~~~~~~~~~~~~~
            main.mini:2:8: error: import path "/etc/absolute.mini" must be relative to this file's directory
            import "/etc/absolute.mini";
                   ^~~~~~~~~~~~~~~~~~~~
        "#]],
    );
}

#[test]
fn the_entry_file_needs_a_main() {
    check_diagnostics(
        r#"
        //- main.mini
        fn start() i32 {
            return 0;
        }
        "#,
        expect![[r#"
            main.mini:1:1: error: the entry file must define 'fn main() i32' or 'fn main() void'
            fn start() i32 {
            ^
        "#]],
    );
    check_diagnostics(
        r#"
        //- main.mini
        fn main(argc: i32) i64 {
            return 0;
        }
        "#,
        expect![[r#"
            main.mini:1:4: error: 'main' must be declared as 'fn main() i32' or 'fn main() void'
            fn main(argc: i32) i64 {
               ^~~~
        "#]],
    );
}

#[test]
fn errors_in_two_files_come_in_program_order() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib/b.mini" as b;

        fn main() i32 {
            return b.value() + missing;
        }
        //- lib/b.mini
        pub fn value() i32 {
            return true;
        }

        fn other() void {
            undefined_call();
        }
        "#,
        expect![[r#"
            main.mini:4:24: error: undeclared name 'missing'
                return b.value() + missing;
                                   ^~~~~~~
            lib/b.mini:2:12: error: mismatched types: expected i32, found bool
                return true;
                       ^~~~
            lib/b.mini:6:5: error: undeclared function 'undefined_call'
                undefined_call();
                ^~~~~~~~~~~~~~
        "#]],
    );
}

#[test]
fn contract_clauses_must_be_well_formed() {
    check_diagnostics(
        r#"
        //- main.mini
        fn no_paren(x: i32) i32 requires x > 0 {
            return x;
        }

        fn misspelled(x: i32) i32 require(x > 0) {
            return x;
        }

        fn no_return_type(x: i32) requires(x > 0) {
            return;
        }

        fn broken_clause(x: i32) i32 requires(x > ) ensures(x + ) {
            return nope;
        }

        fn unclosed(x: i32) i32 ensures(x > 0 {
            return x;
        }

        fn empty(x: i32) i32 requires() {
            return x;
        }

        fn main() i32 {
            return no_paren(1) + misspelled(1) + broken_clause(1) + unclosed(1) + empty(1);
        }
        "#,
        expect![[r#"
            main.mini:1:34: error: expected '(' after 'requires', found an identifier
            fn no_paren(x: i32) i32 requires x > 0 {
                                             ^
            main.mini:5:27: error: expected 'requires', 'ensures' or the function body, found 'require'
            fn misspelled(x: i32) i32 require(x > 0) {
                                      ^~~~~~~
            main.mini:9:27: error: expected a return type (i32, i64, bool or void) before 'requires'
            fn no_return_type(x: i32) requires(x > 0) {
                                      ^~~~~~~~
            main.mini:13:43: error: expected an expression, found ')'
            fn broken_clause(x: i32) i32 requires(x > ) ensures(x + ) {
                                                      ^
            main.mini:13:57: error: expected an expression, found ')'
            fn broken_clause(x: i32) i32 requires(x > ) ensures(x + ) {
                                                                    ^
            main.mini:14:12: error: undeclared name 'nope'
                return nope;
                       ^~~~
            main.mini:17:39: error: expected ')', found '{'
            fn unclosed(x: i32) i32 ensures(x > 0 {
                                                  ^
            main.mini:21:31: error: expected an expression, found ')'
            fn empty(x: i32) i32 requires() {
                                          ^
        "#]],
    );
}

#[test]
fn contracts_are_type_checked_like_bodies() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib.mini" as lib;

        fn not_bool(x: i32) i32
            requires(x)
            ensures(result + 1)
        {
            return x;
        }

        fn void_clause(x: i32) i32 requires(lib.log(x)) {
            return x;
        }

        fn names(x: i32) i32
            requires(y > 0)
            requires(lib.missing(x))
            ensures(helper(x, x) and local_only > 0)
        {
            const local_only = 1;
            return x + local_only;
        }

        fn helper(a: i32) bool {
            return a > 0;
        }

        fn main() i32 {
            return not_bool(1) + void_clause(1) + names(1);
        }
        //- lib.mini
        pub fn log(x: i32) void {
            @print(x);
        }
        "#,
        expect![[r#"
            main.mini:4:14: error: the condition of 'requires' must be bool, found i32
                requires(x)
                         ^
            main.mini:5:13: error: the condition of 'ensures' must be bool, found i32
                ensures(result + 1)
                        ^~~~~~~~~~
            main.mini:10:37: error: the condition of 'requires' must be bool, found void
            fn void_clause(x: i32) i32 requires(lib.log(x)) {
                                                ^~~~~~~~~~
            main.mini:15:14: error: undeclared name 'y'
                requires(y > 0)
                         ^
            main.mini:16:18: error: 'lib.mini' (imported as 'lib') has no function 'missing'
                requires(lib.missing(x))
                             ^~~~~~~
            main.mini:17:13: error: 'helper' takes 1 argument, but 2 were given
                ensures(helper(x, x) and local_only > 0)
                        ^~~~~~
            main.mini:17:30: error: undeclared name 'local_only'
                ensures(helper(x, x) and local_only > 0)
                                         ^~~~~~~~~~
        "#]],
    );
}

#[test]
fn result_means_the_returned_value_only_in_ensures() {
    check_diagnostics(
        r#"
        //- main.mini
        fn shadowed(result: i32) i32
            requires(result > 0)
            ensures(result > 1)
        {
            return result;
        }

        fn nothing(x: i32) void ensures(result > 0) {
            @print(x);
        }

        fn too_early(x: i32) i32 requires(result > x) {
            return x;
        }

        fn main() i32 {
            nothing(1);
            return shadowed(1) + too_early(1);
        }
        "#,
        expect![[r#"
            main.mini:3:13: error: 'result' in 'ensures' is ambiguous: 'shadowed' has a parameter named 'result' (rename the parameter)
                ensures(result > 1)
                        ^~~~~~
            main.mini:8:33: error: 'nothing' returns void, so its 'ensures' has no 'result'
            fn nothing(x: i32) void ensures(result > 0) {
                                            ^~~~~~
            main.mini:12:35: error: 'result' is the returned value only in 'ensures', not in 'requires'
            fn too_early(x: i32) i32 requires(result > x) {
                                              ^~~~~~
        "#]],
    );
}

/// A broken contract is one error: its function's callers, its body and the other
/// functions of the program report nothing because of it.
#[test]
fn a_broken_contract_is_reported_once() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib.mini" as lib;

        fn main() i32 {
            return lib.f(1) + lib.g(2);
        }
        //- lib.mini
        pub fn f(x: i32) i32 requires(undefined(x) and x +) {
            return x * 2;
        }

        pub fn g(x: i32) i32 ensures(result == f(x) + true) {
            return f(x);
        }
        "#,
        expect![[r#"
            lib.mini:1:31: error: undeclared function 'undefined'
            pub fn f(x: i32) i32 requires(undefined(x) and x +) {
                                          ^~~~~~~~~
            lib.mini:1:51: error: expected an expression, found ')'
            pub fn f(x: i32) i32 requires(undefined(x) and x +) {
                                                              ^
            lib.mini:5:40: error: mismatched types: i32 + bool (no implicit conversions; use @as)
            pub fn g(x: i32) i32 ensures(result == f(x) + true) {
                                                   ^~~~~~~~~~~
        "#]],
    );
}
