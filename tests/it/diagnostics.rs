//! Diagnostics snapshots: every error and warning kind, rendered exactly as the user
//! sees it (`file:line:col: error: message`, the source line, a caret, and each note the
//! same way), all diagnostics of a run in file order. One mistake is one error: the
//! tests named after a mistake show that nothing else is reported because of it.

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
            @prnt(b);
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
            main.mini:4:5: error: unknown builtin '@prnt'; did you mean '@print'?
                @prnt(b);
                ^~~~~
            main.mini:5:12: error: unknown builtin '@nope'
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
            main.mini:3:16: error: mismatched types: expected i64, found i32 (no implicit conversions; use @as(i64, …))
                    return a;
                           ^
            main.mini:10:25: error: mismatched types: expected i32, found i64 (no implicit conversions; use @as(i32, …))
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
            main.mini:1:6: note: 'p' is a parameter; parameters cannot be changed
            fn f(p: i32) void {
                 ^
            main.mini:4:5: error: cannot assign to constant 'c'
                c += 1;
                ^
            main.mini:3:11: note: 'c' is declared with 'const'; declare it with 'var' to change it
                const c = 2;
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
            { const t = 1; @print(t); }
            { const t = 2; @print(t); }
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
            main.mini:1:20: note: 'util' is first declared here
            import "a.mini" as util;
                               ^~~~
            main.mini:4:14: error: parameter 'a' is already declared
            fn f(a: i32, a: i32) i32 {
                         ^
            main.mini:4:6: note: the parameter 'a' is first declared here
            fn f(a: i32, a: i32) i32 {
                 ^
            main.mini:5:11: error: 'a' is already declared
                const a = 1;
                      ^
            main.mini:4:6: note: the parameter 'a' is first declared here
            fn f(a: i32, a: i32) i32 {
                 ^
            main.mini:8:15: error: 'x' is already declared
                    const x = 2;
                          ^
            main.mini:6:9: note: the local 'x' is first declared here
                var x = 1;
                    ^
            main.mini:10:11: error: 'x' is already declared
                const x = 3;
                      ^
            main.mini:6:9: note: the local 'x' is first declared here
                var x = 1;
                    ^
            main.mini:19:4: error: function 'f' is already declared in this file
            fn f() void {}
               ^
            main.mini:4:4: note: 'f' is first declared here
            fn f(a: i32, a: i32) i32 {
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
            main.mini:5:27: error: expected 'requires', 'ensures' or the function body, found 'require'; did you mean 'requires'?
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
            lib.mini:5:40: error: operator '+' needs integer operands, found bool
            pub fn g(x: i32) i32 ensures(result == f(x) + true) {
                                                   ^~~~~~~~~~~
        "#]],
    );
}

#[test]
fn a_condition_without_parentheses_is_one_error() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            const x = 3;
            if x > 2 {
                return 1;
            }
            while x < 2 {
                return 2;
            }
            return 0;
        }
        "#,
        expect![[r#"
            main.mini:3:8: error: expected '(' after 'if', found an identifier
                if x > 2 {
                   ^
            main.mini:6:11: error: expected '(' after 'while', found an identifier
                while x < 2 {
                      ^
        "#]],
    );
}

#[test]
fn a_misspelled_keyword_is_one_error() {
    check_diagnostics(
        r#"
        //- main.mini
        fn f(a: i32) i32 {
            retrun a;
        }

        fn g(a: i32) i32 {
            cosnt b = a;
            return b;
        }

        fn main() i32 {
            return f(1) + g(2);
        }
        "#,
        expect![[r#"
            main.mini:2:5: error: 'retrun' is not a keyword; did you mean 'return'?
                retrun a;
                ^~~~~~
            main.mini:6:5: error: 'cosnt' is not a keyword; did you mean 'const'?
                cosnt b = a;
                ^~~~~
        "#]],
    );
}

#[test]
fn an_unclosed_parenthesis_is_one_error() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            var x: i32 = (1 + 2;
            x += 1;
            return x;
        }
        "#,
        expect![[r#"
            main.mini:2:24: error: expected ')', found ';'
                var x: i32 = (1 + 2;
                                   ^
        "#]],
    );
}

/// A function whose header has a syntax error is still a function: calling it is not
/// an error, here or in another file.
#[test]
fn a_broken_header_keeps_its_function_callable() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib.mini" as lib;

        fn f(a: i32 i32 {
            return a;
        }

        fn main() i32 {
            return f(1) + lib.g(2, 3, 4) + lib.h(1, 2);
        }
        //- lib.mini
        pub fn g(a: i32, 3) i32 {
            return a + b;
        }

        pub fn h(x: i32 y: i32) i32 {
            return x + y;
        }
        "#,
        expect![[r#"
            main.mini:3:13: error: expected ')' after the parameters, found 'i32'
            fn f(a: i32 i32 {
                        ^~~
            lib.mini:1:18: error: expected an identifier, found an integer literal
            pub fn g(a: i32, 3) i32 {
                             ^
            lib.mini:5:17: error: expected ',' between parameters
            pub fn h(x: i32 y: i32) i32 {
                            ^
        "#]],
    );
}

#[test]
fn a_chained_comparison_is_one_error() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            if (1 < 2 < 3) {
                return 1;
            }
            return 0;
        }
        "#,
        expect![[r#"
            main.mini:2:15: error: comparison operators cannot be chained; use 'and' to combine comparisons
                if (1 < 2 < 3) {
                          ^
        "#]],
    );
}

/// Mistakes whose fix is unambiguous are reported, and the rest is parsed as if fixed.
#[test]
fn a_mistake_with_one_fix_is_one_error() {
    check_diagnostics(
        r#"
        //- main.mini
        improt "lib.mini" as lib;

        fun helper(a i32) i32 {
            var x i32 = a;
            if (x = 1) {
                return 0;
            }
            if (x > 2 {
                x += 1;
            }
            return x;
        }

        fn main() i32 {
            return helper(1) + lib.k();
        }
        //- lib.mini
        pub fn k() i32 {
            return 1;
        }
        "#,
        expect![[r#"
            main.mini:1:1: error: 'improt' is not a keyword: imports start with 'import'
            improt "lib.mini" as lib;
            ^~~~~~
            main.mini:3:1: error: 'fun' is not a keyword: functions are declared with 'fn'
            fun helper(a i32) i32 {
            ^~~
            main.mini:3:14: error: expected ':' between 'a' and its type
            fun helper(a i32) i32 {
                         ^~~
            main.mini:4:11: error: expected ':' between 'x' and its type
                var x i32 = a;
                      ^~~
            main.mini:5:11: error: expected ')', found '='; to compare two values, use '=='
                if (x = 1) {
                      ^
            main.mini:8:15: error: expected ')', found '{'
                if (x > 2 {
                          ^
        "#]],
    );
}

/// A body that failed to parse may have lost its `return`: no "missing return" for it,
/// and no unreachable code either (a lost `}` moves statements into a branch).
#[test]
fn a_body_that_failed_to_parse_reports_no_missing_return() {
    check_diagnostics(
        r#"
        //- main.mini
        fn f(x: i32) i32 {
            if (x > 0)
                return 1;
            return 0 0;
        }

        fn g(x: i32) i32 {
            if (x > 0) {
                return 1;
            @print(x);
            return 2;
        }

        fn main() i32 {
            return f(1) + g(2);
        }
        "#,
        expect![[r#"
            main.mini:3:9: error: expected '{', found 'return'
                    return 1;
                    ^~~~~~
            main.mini:4:14: error: expected ';', found an integer literal
                return 0 0;
                         ^
            main.mini:14:1: error: expected '}', found 'fn'
            fn main() i32 {
            ^~
        "#]],
    );
}

/// Syntax errors in a contract clause or a function header are reported once: not in
/// the function's body, its callers, or another file.
#[test]
fn a_syntax_error_in_a_contract_or_a_header_reports_nothing_elsewhere() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib.mini" as lib;

        fn main() i32 {
            return lib.clamp(5, 0, 9) + lib.scale(2) + lib.sum(1, 2);
        }
        //- lib.mini
        pub fn clamp(x: i32, lo: i32, hi: i32) i32
            requires(lo <= hi and)
            ensures(result >= lo and result <= hi)
        {
            if (x < lo) { return lo; }
            if (x > hi) { return hi; }
            return x;
        }

        pub fn scale(x: i32) i32 requires(x >= 0 {
            return x * 2;
        }

        pub fn sum(a: i32, b: i32 {
            return a + b;
        }
        "#,
        expect![[r#"
            lib.mini:2:26: error: expected an expression, found ')'
                requires(lo <= hi and)
                                     ^
            lib.mini:10:42: error: expected ')', found '{'
            pub fn scale(x: i32) i32 requires(x >= 0 {
                                                     ^
            lib.mini:14:27: error: expected ')' after the parameters, found '{'
            pub fn sum(a: i32, b: i32 {
                                      ^
        "#]],
    );
}

#[test]
fn misspelled_names_get_a_suggestion() {
    check_diagnostics(
        r#"
        //- main.mini
        import "bank.mini" as bank;

        fn main() i32 {
            const balance = 10;
            var total = balance;
            totl = 3;
            @print(balanse);
            @print(bank.withdrew(total, 1));
            @print(bnak.deposit(1));
            @print(deposit(1));
            @print(mian());
            return total;
        }
        //- bank.mini
        pub fn withdraw(balance: i32, amount: i32) i32 {
            return balance - amount;
        }

        pub fn deposit(amount: i32) i32 {
            return amount;
        }
        "#,
        expect![[r#"
            main.mini:6:5: error: undeclared name 'totl'; did you mean 'total'?
                totl = 3;
                ^~~~
            main.mini:7:12: error: undeclared name 'balanse'; did you mean 'balance'?
                @print(balanse);
                       ^~~~~~~
            main.mini:8:17: error: 'bank.mini' (imported as 'bank') has no function 'withdrew'; did you mean 'withdraw'?
                @print(bank.withdrew(total, 1));
                            ^~~~~~~~
            main.mini:9:12: error: unknown import alias 'bnak'; did you mean 'bank'?
                @print(bnak.deposit(1));
                       ^~~~
            main.mini:10:12: error: undeclared function 'deposit'; did you mean 'bank.deposit'?
                @print(deposit(1));
                       ^~~~~~~
            main.mini:11:12: error: undeclared function 'mian'; did you mean 'main'?
                @print(mian());
                       ^~~~
        "#]],
    );
}

/// A hint says what to do only where doing it would work: `@as` converts integers, so
/// it is suggested for an i32 against an i64, never for a bool.
#[test]
fn hints_are_never_wrong() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            const wide: i64 = 5;
            const flag = true;
            const a = wide + 1;
            const b = 1 + flag;
            const c = flag + 1;
            const d = wide == flag;
            const e = wide < 1;
            const n: i32 = wide;
            const m: i32 = flag;
            @print(a);
            return 0;
        }
        "#,
        expect![[r#"
            main.mini:5:15: error: operator '+' needs integer operands, found bool
                const b = 1 + flag;
                          ^~~~~~~~
            main.mini:6:15: error: operator '+' needs integer operands, found bool
                const c = flag + 1;
                          ^~~~~~~~
            main.mini:7:15: error: mismatched types: i64 == bool
                const d = wide == flag;
                          ^~~~~~~~~~~~
            main.mini:9:20: error: mismatched types: expected i32, found i64 (no implicit conversions; use @as(i32, …))
                const n: i32 = wide;
                               ^~~~
            main.mini:10:20: error: mismatched types: expected i32, found bool
                const m: i32 = flag;
                               ^~~~
        "#]],
    );
}

#[test]
fn unused_locals_are_warnings() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            const unused = 1;
            var never_read = 2;
            never_read = 3;
            var counter = 0;
            counter += 1;
            var only_itself = 0;
            only_itself = only_itself + 1;
            var used = 0;
            while (used < 3) {
                used += 1;
            }
            return used;
        }

        fn parameters_are_never_reported(x: i32) void {}
        "#,
        expect![[r#"
            main.mini:2:11: warning: unused constant 'unused'
                const unused = 1;
                      ^~~~~~
            main.mini:3:9: warning: variable 'never_read' is assigned to, but its value is never read
                var never_read = 2;
                    ^~~~~~~~~~
            main.mini:5:9: warning: variable 'counter' is assigned to, but its value is never read
                var counter = 0;
                    ^~~~~~~
            main.mini:7:9: warning: variable 'only_itself' is assigned to, but its value is never read
                var only_itself = 0;
                    ^~~~~~~~~~~
        "#]],
    );
}

#[test]
fn unused_imports_are_warnings() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib/used.mini" as used;
        import "lib/unused.mini" as unused;
        import "lib/also.mini";
        import "lib/tutorial.mini";
        import "lib/contract.mini" as contract;
        import "lib/my-lib.mini";

        fn main() i32 requires(contract.ok()) {
            return used.f() + tutorial_f();
        }
        //- lib/used.mini
        pub fn f() i32 { return 1; }
        //- lib/unused.mini
        pub fn f() i32 { return 1; }
        //- lib/also.mini
        pub fn f() i32 { return 1; }
        //- lib/tutorial.mini
        pub fn f() i32 { return 1; }
        //- lib/contract.mini
        pub fn ok() bool { return true; }
        //- lib/my-lib.mini
        pub fn f() i32 { return 1; }
        "#,
        expect![[r#"
            main.mini:2:1: warning: unused import 'unused'
            import "lib/unused.mini" as unused;
            ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
            main.mini:3:1: warning: unused import 'also'
            import "lib/also.mini";
            ^~~~~~~~~~~~~~~~~~~~~~~
            main.mini:6:1: warning: unused import "lib/my-lib.mini": its file name is not an identifier, so it can only be called with an alias ('as')
            import "lib/my-lib.mini";
            ^~~~~~~~~~~~~~~~~~~~~~~~~
        "#]],
    );
}

/// Code after a `return`, `break` or `continue`, after a `while (true)` without a
/// `break`, or after an `if` none of whose branches reaches its end, never runs.
#[test]
fn unreachable_statements_are_warnings() {
    check_diagnostics(
        r#"
        //- main.mini
        fn f(x: i32) i32 {
            while (x > 0) {
                if (x == 1) {
                    break;
                    @print(1);
                }
                continue;
                @print(2);
            }
            if (x > 5) {
                return 1;
            } else {
                return 2;
            }
            @print(3);
            @print(4);
            return 0;
        }

        fn forever() i32 {
            while (true) {}
            const late = 1;
            return late;
        }

        fn main() i32 {
            return f(1) + forever();
            if (true) {
                return 1;
                @print(5);
            }
        }
        "#,
        expect![[r#"
            main.mini:5:13: warning: unreachable statement
                        @print(1);
                        ^~~~~~~~~~
            main.mini:4:13: note: any code after this 'break' never runs
                        break;
                        ^~~~~
            main.mini:8:9: warning: unreachable statement
                    @print(2);
                    ^~~~~~~~~~
            main.mini:7:9: note: any code after this 'continue' never runs
                    continue;
                    ^~~~~~~~
            main.mini:15:5: warning: unreachable statement
                @print(3);
                ^~~~~~~~~~
            main.mini:10:5: note: no branch of this 'if' reaches its end
                if (x > 5) {
                ^~
            main.mini:22:5: warning: unreachable statement
                const late = 1;
                ^~~~~~~~~~~~~~~
            main.mini:21:5: note: this loop never ends: it is 'while (true)' with no 'break'
                while (true) {}
                ^~~~~
            main.mini:28:5: warning: unreachable statement
                if (true) {
                ^~~~~~~~~~~
            main.mini:27:5: note: any code after this 'return' never runs
                return f(1) + forever();
                ^~~~~~
        "#]],
    );
}

#[test]
fn division_by_a_constant_zero_is_a_warning() {
    check_diagnostics(
        r#"
        //- main.mini
        fn main() i32 {
            var x = 10;
            const a = x / 0;
            const b = x % (1 - 1);
            const c: i64 = 7 / -0;
            x /= 0;
            x %= 0;
            const fine = x / 2 + x % (0 + 3);
            const wraps = x / (65536 * 65536);
            return a + b + @as(i32, c) + fine + wraps;
        }
        "#,
        expect![[r#"
            main.mini:3:15: warning: division by zero: this fails at run time whenever it runs
                const a = x / 0;
                          ^~~~~
            main.mini:4:15: warning: remainder by zero: this fails at run time whenever it runs
                const b = x % (1 - 1);
                          ^~~~~~~~~~~
            main.mini:5:20: warning: division by zero: this fails at run time whenever it runs
                const c: i64 = 7 / -0;
                               ^~~~~~
            main.mini:6:5: warning: division by zero: this fails at run time whenever it runs
                x /= 0;
                ^~~~~~
            main.mini:7:5: warning: remainder by zero: this fails at run time whenever it runs
                x %= 0;
                ^~~~~~
            main.mini:9:19: warning: division by zero: this fails at run time whenever it runs
                const wraps = x / (65536 * 65536);
                              ^~~~~~~~~~~~~~~~~~~
        "#]],
    );
}

/// An error can hide a use — a misspelled name is a use of the name it meant — so a
/// function with errors says nothing about unused locals, and a file with errors
/// nothing about unused imports.
#[test]
fn unused_warnings_wait_for_the_errors_to_be_fixed() {
    check_diagnostics(
        r#"
        //- main.mini
        import "lib.mini" as lib;

        fn main() i32 {
            const total = 1;
            return totla + lbi.f();
        }

        fn fine() void {
            const unused = 1;
        }
        //- lib.mini
        pub fn f() i32 { return 1; }
        "#,
        expect![[r#"
            main.mini:5:12: error: undeclared name 'totla'; did you mean 'total'?
                return totla + lbi.f();
                       ^~~~~
            main.mini:5:20: error: unknown import alias 'lbi'; did you mean 'lib'?
                return totla + lbi.f();
                               ^~~
            main.mini:9:11: warning: unused constant 'unused'
                const unused = 1;
                      ^~~~~~
        "#]],
    );
}
