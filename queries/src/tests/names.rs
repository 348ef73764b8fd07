//! The editor's names at the query boundary: every name is placed where the checker
//! resolved it — bodies and contract clauses alike — and comes from the compiler's own
//! `fn_check`, not from a second resolution.

use expect_test::expect;

use super::TestDb;
use crate::ide::{Role, Symbol, file_names};
use crate::source::FileContents;
use crate::syntax::LineIndex;

impl TestDb {
    /// Every name of `path` as `line:column-column text role symbol` (1-based), then each
    /// local with its type, then what the scopes make visible at each `|` of `probes`
    /// (the first occurrence of the probe's text, without the `|`).
    fn names(&self, path: &str, probes: &[&str]) -> String {
        let db = &self.db;
        let file = self.file(path);
        let FileContents::Text(text) = file.contents(db) else { panic!("{path} has text") };
        let lines = LineIndex::new(text);
        let names = file_names(db, file);
        let at = |offset: u32| {
            let line = lines.line(offset);
            (line + 1, offset - lines.line_start(line) + 1)
        };
        let mut out = String::new();
        for o in &names.occurrences {
            let (line, column) = at(o.span.start);
            let written = String::from_utf8_lossy(&text[o.span.start as usize..o.span.end as usize]);
            let symbol = match &o.symbol {
                Symbol::Function(f) => format!("fn {}", f.qualified_name(db)),
                Symbol::Local { item, index, .. } => format!("local {item}#{index}"),
                Symbol::Result { item, .. } => format!("result of item {item}"),
                Symbol::Alias { name, .. } => format!("alias {name}"),
                Symbol::Module(f) => format!("module {}", f.path(db)),
            };
            let role = match o.role {
                Role::Definition => "def",
                Role::Read => "read",
                Role::Write => "write",
            };
            out += &format!("{line}:{column}-{} {written} {role} {symbol}\n", at(o.span.end).1);
        }
        for l in &names.locals {
            out +=
                &format!("local {}#{} {} {:?}: {}\n", l.item, l.index, l.name, l.kind, l.ty.map_or("?", |t| t.name()));
        }
        let source = String::from_utf8_lossy(text);
        for probe in probes {
            let offset =
                source.find(&probe.replace('|', "")).expect("the probe is in the file") + probe.find('|').unwrap();
            let visible: Vec<&str> = names.in_scope(offset as u32).iter().map(|l| &*l.name).collect();
            out += &format!("in scope at {probe:?}: {}\n", visible.join(" "));
        }
        out
    }
}

const PROGRAM: &str = r#"
//- main.mini
import "lib.mini";

fn main() i32 {
    return lib.root(17) + lib_root(4);
}
//- lib.mini
pub fn root(n: i32) i32
    requires(n >= 0 and positive(n + 1))
    ensures(result * result <= n)
{
    var r: i32 = 0;
    while ((r + 1) * (r + 1) <= n) { const next = r + 1; r = next; }
    return r;
}

fn positive(x: i32) bool {
    return x > 0;
}
"#;

/// Parameters used in `requires` and `ensures`, `result`, a call in a clause, locals in
/// nested blocks, and calls through an alias both ways: each one placed, with what the
/// checker resolved it to, and the scopes it recorded.
#[test]
fn every_name_the_checker_resolves_is_placed_contract_clauses_included() {
    let db = TestDb::new(PROGRAM);
    expect![[r#"
        1:8-12 root def fn lib.root
        1:13-14 n def local 0#0
        2:14-15 n read local 0#0
        2:25-33 positive read fn lib.positive
        2:34-35 n read local 0#0
        3:13-19 result read result of item 0
        3:22-28 result read result of item 0
        3:32-33 n read local 0#0
        5:9-10 r def local 0#1
        6:13-14 r read local 0#1
        6:23-24 r read local 0#1
        6:33-34 n read local 0#0
        6:44-48 next def local 0#2
        6:51-52 r read local 0#1
        6:58-59 r write local 0#1
        6:62-66 next read local 0#2
        7:12-13 r read local 0#1
        10:4-12 positive def fn lib.positive
        10:13-14 x def local 1#0
        11:12-13 x read local 1#0
        local 0#0 n Param: i32
        local 0#1 r Var: i32
        local 0#2 next Const: i32
        local 1#0 x Param: i32
        in scope at "requires(|n": n
        in scope at "{ |const next": r n
        in scope at "r = |next": next r n
        in scope at "return |r": r n
    "#]]
    .assert_eq(&db.names("lib.mini", &["requires(|n", "{ |const next", "r = |next", "return |r"]));
    expect![[r#"
        1:8-18 "lib.mini" read module lib.mini
        3:4-8 main def fn main.main
        4:12-15 lib read alias lib
        4:16-20 root read fn lib.root
        4:27-30 lib read alias lib
        4:31-35 root read fn lib.root
    "#]]
    .assert_eq(&db.names("main.mini", &[]));
}

/// The editor asks the compiler's memoized checks: after a build, placing a file's
/// names runs no check. An edit that only re-spaces a body re-checks that function,
/// and its names move with the text, yet the check is equal (names are addressed by
/// ZIR node) so nothing behind `fn_air` re-runs.
#[test]
fn names_come_from_the_compilers_checks_and_follow_a_respaced_body() {
    let mut db = TestDb::new(PROGRAM);
    db.build();
    db.db.record_executions(true);
    db.names("lib.mini", &[]);
    expect!["file_names(lib.mini)"].assert_eq(&db.executed().join("\n"));
    db.edit("lib.mini", "return r;", "return    r;");
    assert_eq!(db.build(), Vec::<String>::new());
    let names = db.names("lib.mini", &[]);
    expect![[r#"
        file_read_error(lib.mini)
        parse_file(lib.mini)
        file_imports(lib.mini)
        file_functions(lib.mini)
        fn_zir(lib.root)
        fn_signature(lib.root)
        file_diagnostics(lib.mini)
        fn_check(lib.root)
        fn_zir(lib.positive)
        file_names(lib.mini)"#]]
    .assert_eq(&db.executed().join("\n"));
    assert!(names.contains("7:15-16 r read local 0#1\n"), "{names}");
}

/// A second definition of a name is reported and never compiled, yet its names are the
/// checker's too (checked outside the query system), its locals apart from the first's.
#[test]
fn a_second_definition_of_a_name_has_its_names_placed_too() {
    let db = TestDb::new(
        r#"
//- main.mini
fn main() i32 {
    const a = 1;
    return a;
}

fn main() i32 {
    var b: i64 = 2;
    b += 1;
    return main();
}
"#,
    );
    expect![[r#"
        1:4-8 main def fn main.main
        2:11-12 a def local 0#0
        3:12-13 a read local 0#0
        6:4-8 main def fn main.main
        7:9-10 b def local 1#0
        8:5-6 b write local 1#0
        9:12-16 main read fn main.main
        local 0#0 a Const: i32
        local 1#0 b Var: i64
        in scope at "return |main()": b
    "#]]
    .assert_eq(&db.names("main.mini", &["return |main()"]));
}
