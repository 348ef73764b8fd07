//! Contracts through the command line, each build a new process over one cache: a
//! contract-only edit, switching `--contracts`, what `mini explain` says about them, what
//! `--emit` shows, and where `-g` puts a failing check. (In-process re-execution of the
//! same edits is in `reexecution.rs`; end-to-end programs in `tests/programs/contracts_*`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use expect_test::expect;
use serde_json::Value;

use crate::support::{mini, stderr, stdout, write};

const MAIN: &str = "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.root(17));\n    return lib.twice(4);\n}\n";

/// `root` has contracts (its `ensures` on line 3); `twice` has none.
const LIB: &str = "pub fn root(n: i32) i32\n    requires(n >= 0)\n    ensures(result * result <= n)\n{\n    var r: i32 = 0;\n    while ((r + 1) * (r + 1) <= n) { r += 1; }\n    return r;\n}\n\npub fn twice(x: i32) i32 {\n    return x + x;\n}\n";

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("temporary directory");
        write(dir.path(), "main.mini", MAIN);
        write(dir.path(), "lib.mini", LIB);
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Builds with JSON messages and the executed queries; returns the
    /// `build-finished` event and the queries.
    #[track_caller]
    fn build(&self, extra: &[&str]) -> (Value, Vec<String>) {
        let mut args = vec!["build", "--message-format", "json", "--log-queries"];
        args.extend_from_slice(extra);
        let out = mini(self.path(), &args);
        assert!(out.status.success(), "build failed:\n{}{}", stdout(&out), stderr(&out));
        let events: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
        let finished = events.last().expect("a build-finished event").clone();
        assert_eq!(finished["reason"], "build-finished");
        let queries = events
            .iter()
            .filter(|e| e["reason"] == "query-executed")
            .map(|e| e["query"].as_str().unwrap().to_string())
            .collect();
        (finished, queries)
    }

    #[track_caller]
    fn run(&self) -> (String, Option<i32>) {
        let out = mini::process::output(&mut Command::new(self.file("main"))).expect("the program runs");
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
    }

    fn executable(&self) -> Vec<u8> {
        std::fs::read(self.file("main")).expect("the executable")
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.file(file)).unwrap();
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(self.file(file), text.replacen(from, to, 1)).unwrap();
    }

    #[track_caller]
    fn explain(&self, extra: &[&str]) -> String {
        let mut args = vec!["explain"];
        args.extend_from_slice(extra);
        let out = mini(self.path(), &args);
        assert!(out.status.success(), "explain failed:\n{}", stderr(&out));
        stdout(&out)
    }

    #[track_caller]
    fn text(&self, extra: &[&str]) -> String {
        let mut args = vec!["build", "-o", "-"];
        args.extend_from_slice(extra);
        let out = mini(self.path(), &args);
        assert!(out.status.success(), "build failed:\n{}", stderr(&out));
        stdout(&out)
    }
}

fn compiled(event: &Value) -> Vec<String> {
    event["compiled"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// Whether a build took the patch path (it plans no link: the index's plan is patched).
fn patched(queries: &[String]) -> bool {
    !queries.iter().any(|q| q.starts_with("link_plan") || q.starts_with("unit_plan"))
}

const EDIT: (&str, &str) = ("ensures(result * result <= n)", "ensures(result >= 0 and result * result <= n)");

#[test]
fn with_contracts_off_a_contract_edit_in_a_new_process_compiles_and_links_nothing() {
    let project = Project::new();
    project.build(&["--contracts", "off"]);
    let before = project.executable();
    project.edit("lib.mini", EDIT.0, EDIT.1);
    let (event, queries) = project.build(&["--contracts", "off"]);
    assert_eq!(compiled(&event), Vec::<String>::new());
    assert_eq!(event["linked"], false);
    assert!(patched(&queries), "a contract edit keeps every signature: {queries:?}");
    assert!(!queries.iter().any(|q| q.starts_with("fn_contracts")), "contracts are not read: {queries:?}");
    assert!(project.executable() == before, "the executable is byte for byte the one before");
    assert_eq!(project.run(), ("4\n".to_string(), Some(8)));
}

#[test]
fn with_contracts_on_a_contract_edit_in_a_new_process_recompiles_that_function_only() {
    let project = Project::new();
    project.build(&[]);
    project.edit("lib.mini", EDIT.0, EDIT.1);
    let (event, queries) = project.build(&[]);
    assert_eq!(compiled(&event), ["lib.root"], "never its caller main.main");
    assert_eq!(event["linked"], true);
    assert!(patched(&queries), "{queries:?}");
    assert_eq!(project.run(), ("4\n".to_string(), Some(8)));
}

/// Functions without contracts hash the same either way, so switching compiles only
/// the functions that have contracts — even in a new process with no index for the new
/// setting yet (their objects come from the other setting's units) — and switching back
/// compiles nothing and links the first executable again.
#[test]
fn switching_contracts_in_new_processes_compiles_only_functions_with_contracts() {
    let project = Project::new();
    let (cold, _) = project.build(&[]);
    assert_eq!(compiled(&cold), ["main.main", "lib.root", "lib.twice"]);
    let first = project.executable();

    let (off, _) = project.build(&["--contracts", "off"]);
    assert_eq!(compiled(&off), ["lib.root"]);
    assert_eq!(project.run(), ("4\n".to_string(), Some(8)));

    let (on, _) = project.build(&["--contracts", "on"]);
    assert_eq!(compiled(&on), Vec::<String>::new());
    assert!(project.executable() == first, "the first executable, byte for byte");

    // -O0 is on by default, -O2 off: `--contracts` says which.
    let (o2_on, _) = project.build(&["-O2", "--contracts", "on"]);
    assert_eq!(compiled(&o2_on).len(), 3);
    let (o2, _) = project.build(&["-O2"]);
    assert_eq!(compiled(&o2), ["lib.root"]);
}

#[test]
fn explain_reports_a_contract_only_edit_and_whether_it_compiles() {
    let project = Project::new();
    project.build(&[]);
    project.build(&["--contracts", "off"]);
    project.edit("lib.mini", EDIT.0, EDIT.1);

    expect![[r#"
        contract (1): only its contracts changed
          lib.root  (contracts are off, so nothing is compiled)
        2 cached, 1 contract: the next build compiles 0 of 3 functions (contracts off)
    "#]]
    .assert_eq(&project.explain(&["--contracts", "off"]));
    expect![[r#"
        contract (1): only its contracts changed
          lib.root  (contracts are on)
        2 cached, 1 contract: the next build compiles 1 of 3 functions (contracts on)
    "#]]
    .assert_eq(&project.explain(&[]));

    let json: Value = serde_json::from_str(project.explain(&["--json", "--contracts", "off"]).trim()).expect("JSON");
    assert_eq!(json["contracts"], "off");
    assert_eq!(json["will_compile"], serde_json::json!([]));
    assert_eq!(json["totals"]["contract"], 1);
    assert_eq!(
        json["functions"][1],
        serde_json::json!({
            "name": "lib.root", "status": "contract", "compile": false, "from": "disk",
            "because": "only its contracts changed; contracts are off, so nothing is compiled",
        })
    );
    let json: Value = serde_json::from_str(project.explain(&["--json"]).trim()).expect("JSON");
    assert_eq!(json["will_compile"], serde_json::json!(["lib.root"]));
    assert_eq!(json["functions"][1]["compile"], true);

    // And the builds do what explain said.
    assert_eq!(compiled(&project.build(&["--contracts", "off"]).0), Vec::<String>::new());
    assert_eq!(compiled(&project.build(&[]).0), ["lib.root"]);

    // Undone, the edit is still a contract change, but its code is in the cache.
    project.edit("lib.mini", EDIT.1, EDIT.0);
    let json: Value = serde_json::from_str(project.explain(&["--json"]).trim()).expect("JSON");
    assert_eq!(json["will_compile"], serde_json::json!([]));
    assert_eq!(json["functions"][1]["status"], "contract");
    assert_eq!(json["functions"][1]["because"], "only its contracts changed; their code is in the cache");
    assert_eq!(compiled(&project.build(&[]).0), Vec::<String>::new());
}

#[test]
fn emitted_zir_and_llvm_ir_show_the_checks_only_when_contracts_are_on() {
    let project = Project::new();
    let zir = project.text(&["--emit", "zir"]);
    assert!(zir.contains("fn root(n: i32) i32\n  requires (>= n 0)  ; @28..44 L+1\n  ensures "), "{zir}");
    let zir = project.text(&["--emit", "zir", "--contracts", "off"]);
    assert!(zir.contains("fn root(n: i32) i32 {\n"), "{zir}");
    assert!(!zir.contains("requires") && !zir.contains("ensures"), "{zir}");

    let ir = project.text(&["--emit", "llvm-ir"]);
    assert_eq!(ir.matches("call void @mini_rt_precondition_failed(").count(), 1, "{ir}");
    assert_eq!(ir.matches("call void @mini_rt_postcondition_failed(").count(), 1, "{ir}");
    let ir = project.text(&["--emit", "llvm-ir", "--contracts", "off"]);
    assert!(!ir.contains("call void @mini_rt_precondition_failed("), "{ir}");
    assert!(!ir.contains("call void @mini_rt_postcondition_failed("), "{ir}");
}

/// The line a `!dbg` reference points at in LLVM IR text.
fn debug_line(ir: &str, reference: &str) -> u32 {
    let definition = format!("{reference} = !DILocation(line: ");
    let at = ir.find(&definition).unwrap_or_else(|| panic!("no {definition} in:\n{ir}")) + definition.len();
    ir[at..].split(',').next().unwrap().parse().expect("a line number")
}

/// With `-g`, the call that reports a failed contract carries the contract's own line,
/// so a debugger or a backtrace shows the clause that failed.
#[test]
fn with_debug_info_a_failing_check_points_at_its_contract_line() {
    let project = Project::new();
    let ir = project.text(&["--emit", "llvm-ir", "-g"]);
    let lines: Vec<(&str, u32)> = ["precondition", "postcondition"]
        .iter()
        .map(|what| {
            let call = format!("call void @mini_rt_{what}_failed(");
            let line = ir.lines().find(|l| l.contains(&call)).unwrap_or_else(|| panic!("no {call} in:\n{ir}"));
            let reference = line.rsplit("!dbg ").next().expect("a debug location");
            (*what, debug_line(&ir, reference))
        })
        .collect();
    assert_eq!(lines, [("precondition", 2), ("postcondition", 3)]);
}

/// A `-g` build (linked by the system linker) checks contracts as any other.
#[test]
fn with_debug_info_a_failing_contract_stops_the_program_the_same_way() {
    let project = Project::new();
    project.edit("main.mini", "lib.root(17)", "lib.root(17) + lib.root(-1)");
    let out = mini(project.path(), &["run", "-g"]);
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    assert!(stderr(&out).ends_with("runtime error: precondition failed in lib.root\n"), "{}", stderr(&out));
}

/// Off means absent: with contracts off, the executable is byte for byte the one built
/// from the same program with its contracts deleted.
#[test]
fn with_contracts_off_the_executable_is_that_of_the_program_without_contracts() {
    let project = Project::new();
    project.build(&["--contracts", "off"]);
    let with = project.executable();
    project.edit("lib.mini", "\n    requires(n >= 0)\n    ensures(result * result <= n)\n", "\n");
    let (event, _) = project.build(&["--contracts", "off", "--no-cache"]);
    assert_eq!(compiled(&event).len(), 3, "a clean build");
    assert!(project.executable() == with, "the same executable, byte for byte");
}
