//! The persistent cache, across processes: every test runs the real binary several
//! times on one project and checks what each build did (the JSON `build-finished`
//! event) and that the program still behaves.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{mini, spawn_mini, stderr, stdout, write};

/// A program of several files, each function printing something, so that a stale
/// object would show in the output.
const PROGRAM: &[(&str, &str)] = &[
    (
        "main.mini",
        "import \"lib/math.mini\" as math;\nimport \"lib/text.mini\" as text;\n\nfn main() i32 {\n    @print(math.add(2, 3));\n    @print(math.mul(4, 5));\n    @print(text.code());\n    return 7;\n}\n",
    ),
    (
        "lib/math.mini",
        "pub fn add(a: i32, b: i32) i32 {\n    return a + b;\n}\n\npub fn mul(a: i32, b: i32) i32 {\n    return a * b;\n}\n",
    ),
    ("lib/text.mini", "// Codes.\npub fn code() i32 {\n    return 65;\n}\n"),
];

const OUTPUT: &str = "5\n20\n65\n";

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (path, text) in PROGRAM {
            write(dir.path(), path, text);
        }
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Builds with JSON messages and returns the `build-finished` event.
    #[track_caller]
    fn build(&self, extra: &[&str]) -> Value {
        let mut args = vec!["build", "--message-format", "json"];
        args.extend_from_slice(extra);
        let out = mini(self.path(), &args);
        assert!(out.status.success(), "build failed:\n{}{}", stdout(&out), stderr(&out));
        last_event(&stdout(&out))
    }

    #[track_caller]
    fn run(&self) -> String {
        let out = mini::process::output(&mut Command::new(self.file("main"))).expect("the program runs");
        assert_eq!(out.status.code(), Some(7));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.file(file)).unwrap();
        assert!(text.contains(from));
        std::fs::write(self.file(file), text.replacen(from, to, 1)).unwrap();
    }

    /// Every entry file in the store.
    fn entries(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(self.file(".mini_cache/objects")).unwrap().flatten() {
            out.extend(std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.path()));
        }
        out.sort();
        out
    }

    fn index_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.file(".mini_cache/index")).unwrap().flatten().map(|e| e.path()).collect()
    }
}

fn last_event(stdout: &str) -> Value {
    let line = stdout.lines().last().expect("a build-finished event");
    let event: Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(event["reason"], "build-finished");
    event
}

fn compiled(event: &Value) -> Vec<String> {
    event["compiled"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// Waits until every file last changed safely before the next build, as if it ran a
/// while after the files were written, so that stamps alone prove them unchanged.
fn age_files(project: &Project) {
    crate::support::settle(project.path());
}

#[test]
fn an_unchanged_rebuild_compiles_nothing_reads_nothing_and_does_not_link() {
    let project = Project::new();
    age_files(&project);
    let cold = project.build(&[]);
    assert_eq!(compiled(&cold), ["main.main", "lib/math.add", "lib/math.mul", "lib/text.code"]);
    assert_eq!(project.run(), OUTPUT);

    let again = project.build(&[]);
    assert_eq!(compiled(&again), Vec::<String>::new());
    assert_eq!(again["files_read"], 0);
    assert_eq!(again["files_parsed"], 0);
    assert_eq!(again["linked"], false);
    assert_eq!(again["reused_from_disk"], 4);
    assert_eq!(project.run(), OUTPUT);
}

#[test]
fn a_one_function_edit_compiles_that_function_and_reverting_it_compiles_nothing() {
    let project = Project::new();
    project.build(&[]);
    project.edit("lib/math.mini", "return a * b;", "return a * b + 1;");
    let edit = project.build(&[]);
    assert_eq!(compiled(&edit), ["lib/math.mul"]);
    assert_eq!(edit["files_parsed"], 1, "only the edited file is parsed");
    assert_eq!(edit["link_units_relinked"], 1);
    assert_eq!(edit["linked"], true);
    assert_eq!(project.run(), "5\n21\n65\n");

    project.edit("lib/math.mini", "return a * b + 1;", "return a * b;");
    let revert = project.build(&[]);
    assert_eq!(compiled(&revert), Vec::<String>::new(), "the original objects are still cached");
    assert_eq!(project.run(), OUTPUT);
}

#[test]
fn touching_or_editing_comments_compiles_nothing() {
    let project = Project::new();
    project.build(&[]);
    let file = std::fs::File::options().write(true).open(project.file("lib/text.mini")).unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    let touched = project.build(&[]);
    assert_eq!(compiled(&touched), Vec::<String>::new());
    assert_eq!(touched["linked"], false);

    project.edit("lib/text.mini", "// Codes.", "// Character codes, one day.");
    let comment = project.build(&[]);
    assert_eq!(compiled(&comment), Vec::<String>::new());
    assert_eq!(comment["files_parsed"], 1);
    assert_eq!(comment["linked"], false);
    assert_eq!(project.run(), OUTPUT);
}

/// The queries a build ran, from its `--log-queries` JSON events.
fn executed_queries(stdout: &str) -> Vec<String> {
    let events = stdout.lines().map(|line| serde_json::from_str::<Value>(line).expect("JSON"));
    events.filter(|e| e["reason"] == "query-executed").map(|e| e["query"].as_str().unwrap().to_string()).collect()
}

/// A new process after a body edit checks the edited file alone: the others are known
/// from the index, and so is the link plan (`driver/patch.rs`).
#[test]
fn a_body_edit_in_a_new_process_checks_only_the_edited_file() {
    let project = Project::new();
    project.build(&[]);
    project.edit("lib/math.mini", "return a * b;", "return a * b + 1;");
    let out = mini(project.path(), &["build", "--message-format", "json", "--log-queries"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let queries = executed_queries(&stdout(&out));
    let parsed: Vec<&String> = queries.iter().filter(|q| q.starts_with("parse_file")).collect();
    assert_eq!(parsed, ["parse_file(lib/math.mini)"]);
    let planned = queries.iter().filter(|q| q.starts_with("link_plan") || q.starts_with("unit_plan"));
    assert_eq!(planned.count(), 0, "{queries:?}");
    let objects: Vec<&String> = queries.iter().filter(|q| q.starts_with("fn_object")).collect();
    assert_eq!(objects, ["fn_object(lib/math.mul)"]);
    assert_eq!(compiled(&last_event(&stdout(&out))), ["lib/math.mul"]);
    assert_eq!(project.run(), "5\n21\n65\n");
}

/// A new process after an edit that changes a file's interface — a function added,
/// then removed again — checks that file and the files that import it, and nothing
/// else; the link plan is still the index's (`driver/importers.rs`).
#[test]
fn an_interface_edit_in_a_new_process_checks_the_file_and_its_importers_only() {
    let project = Project::new();
    project.build(&[]);
    let added = "\npub fn sub(a: i32, b: i32) i32 {\n    return a - b;\n}\n";
    let math = std::fs::read_to_string(project.file("lib/math.mini")).unwrap();
    std::fs::write(project.file("lib/math.mini"), format!("{math}{added}")).unwrap();
    let out = mini(project.path(), &["build", "--message-format", "json", "--log-queries"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let queries = executed_queries(&stdout(&out));
    let parsed: Vec<&String> = queries.iter().filter(|q| q.starts_with("parse_file")).collect();
    assert_eq!(parsed, ["parse_file(lib/math.mini)", "parse_file(main.mini)"], "the file and its importer");
    let planned = queries.iter().filter(|q| q.starts_with("link_plan") || q.starts_with("unit_plan"));
    assert_eq!(planned.count(), 0, "{queries:?}");
    assert_eq!(compiled(&last_event(&stdout(&out))), ["lib/math.sub"]);
    assert_eq!(project.run(), OUTPUT);

    // Reverting: the unit it had before is in the store.
    std::fs::write(project.file("lib/math.mini"), &math).unwrap();
    let out = mini(project.path(), &["build", "--message-format", "json", "--log-queries"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let queries = executed_queries(&stdout(&out));
    assert!(!queries.iter().any(|q| q.starts_with("link_plan")), "{queries:?}");
    let event = last_event(&stdout(&out));
    assert_eq!((compiled(&event), event["linked"].as_bool()), (vec![], Some(true)));
    assert_eq!(project.run(), OUTPUT);
}

/// Removing a function that an unchanged file calls makes that file wrong: the new
/// process reports the error there (the importer is checked, not trusted), and putting
/// the function back builds the program it was.
#[test]
fn removing_a_function_an_unchanged_importer_calls_is_reported_there() {
    let project = Project::new();
    project.build(&[]);
    let mul = "\npub fn mul(a: i32, b: i32) i32 {\n    return a * b;\n}\n";
    project.edit("lib/math.mini", mul, "\n");
    let broken = mini(project.path(), &["build"]);
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    assert!(stderr(&broken).contains("main.mini:6:"), "{}", stderr(&broken));
    project.edit("lib/math.mini", "}\n\n", &format!("}}\n{mul}"));
    let fixed = project.build(&[]);
    assert_eq!(compiled(&fixed), Vec::<String>::new());
    assert_eq!(project.run(), OUTPUT);
}

/// An error after a cached build is reported like any other, and fixing it builds the
/// fixed program.
#[test]
fn an_error_after_a_cached_build_is_reported_and_the_fix_builds() {
    let project = Project::new();
    project.build(&[]);
    project.edit("lib/math.mini", "return a * b;", "return a * true;");
    let broken = mini(project.path(), &["build"]);
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    assert!(stderr(&broken).contains("lib/math.mini:6:"), "{}", stderr(&broken));
    project.edit("lib/math.mini", "return a * true;", "return a * b - 1;");
    let fixed = project.build(&[]);
    assert_eq!(compiled(&fixed), ["lib/math.mul"]);
    assert_eq!(project.run(), "5\n19\n65\n");
}

/// A misspelled parameter type in one file, while another file that calls it has an
/// unrelated edit: the caller has no errors of its own, but its call cannot be typed, so
/// it has no code. The new process must report the error (status 1), not record a
/// summary of the caller and crash, and the fix must build the right program.
#[test]
fn an_error_in_a_callee_with_an_edited_caller_is_reported_and_the_fix_builds() {
    let project = Project::new();
    project.build(&[]);
    project.edit("lib/math.mini", "pub fn add(a: i32, b: i32)", "pub fn add(a: i32, b: bool6)");
    project.edit("main.mini", "@print(math.mul(4, 5));", "@print(math.mul(4, 6));");
    for _ in 0..2 {
        let broken = mini(project.path(), &["build"]);
        assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
        assert!(stderr(&broken).contains("lib/math.mini:1:23: error: unknown type 'bool6'"), "{}", stderr(&broken));
    }
    project.edit("lib/math.mini", "b: bool6", "b: i32");
    let fixed = project.build(&[]);
    assert_eq!(compiled(&fixed), ["main.main"]);
    assert_eq!(project.run(), "5\n24\n65\n");
}

#[test]
fn a_signature_change_recompiles_its_callers_in_other_files() {
    let project = Project::new();
    project.build(&[]);
    project.edit("lib/text.mini", "pub fn code() i32 {\n    return 65;", "pub fn code() i64 {\n    return 65;");
    project.edit("main.mini", "@print(text.code());", "@print(text.code() + 1);");
    let event = project.build(&[]);
    assert_eq!(compiled(&event), ["main.main", "lib/text.code"]);
    assert_eq!(project.run(), "5\n20\n66\n");
}

#[test]
fn settings_switches_keep_each_settings_objects() {
    let project = Project::new();
    project.build(&[]);
    assert_eq!(compiled(&project.build(&["-O2"])).len(), 4);
    assert_eq!(project.run(), OUTPUT);
    let back = project.build(&[]);
    assert_eq!(compiled(&back), Vec::<String>::new(), "-O0 objects survive the -O2 build");
    assert_eq!(project.run(), OUTPUT);
    assert_eq!(project.index_files().len(), 2, "one index per settings");
}

#[test]
fn moving_the_project_keeps_every_hit() {
    let project = Project::new();
    project.build(&[]);
    let moved = tempfile::tempdir().unwrap();
    let target = moved.path().join("elsewhere");
    std::fs::rename(project.path(), &target).unwrap();
    let out = mini(&target, &["build", "--message-format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let event = last_event(&stdout(&out));
    assert_eq!(compiled(&event), Vec::<String>::new());
    let run = mini::process::output(&mut Command::new(target.join("main"))).unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), OUTPUT);
    // The temporary directory is gone; put something back for its cleanup.
    std::fs::create_dir_all(project.path()).unwrap();
}

/// Damages the cache in some way, then checks that the next build still produces the
/// right program and leaves a cache that verifies clean.
#[track_caller]
fn check_recovers_from(damage: impl FnOnce(&Project)) {
    let project = Project::new();
    project.build(&[]);
    std::fs::remove_file(project.file("main")).unwrap();
    damage(&project);
    project.build(&[]);
    assert_eq!(project.run(), OUTPUT);
    let verify = mini(project.path(), &["cache", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(stderr(&verify).contains(" 0 bad"), "the cache was repaired: {}", stderr(&verify));
    // And the repaired cache is used.
    std::fs::remove_file(project.file("main")).unwrap();
    let again = project.build(&[]);
    assert_eq!(compiled(&again), Vec::<String>::new());
    assert_eq!(project.run(), OUTPUT);
}

#[test]
fn a_truncated_entry_is_rebuilt() {
    check_recovers_from(|p| {
        for entry in p.entries() {
            let bytes = std::fs::read(&entry).unwrap();
            std::fs::write(&entry, &bytes[..bytes.len() / 2]).unwrap();
        }
    });
}

#[test]
fn a_garbage_entry_is_rebuilt() {
    check_recovers_from(|p| {
        for entry in p.entries() {
            let len = std::fs::metadata(&entry).unwrap().len() as usize;
            std::fs::write(&entry, vec![0x5a; len]).unwrap();
        }
    });
}

#[test]
fn a_flipped_bit_is_rebuilt() {
    check_recovers_from(|p| {
        for entry in p.entries() {
            let mut bytes = std::fs::read(&entry).unwrap();
            let at = bytes.len() / 3;
            bytes[at] ^= 0x10;
            std::fs::write(&entry, &bytes).unwrap();
        }
    });
}

#[test]
fn a_deleted_entry_is_rebuilt() {
    check_recovers_from(|p| {
        for entry in p.entries() {
            std::fs::remove_file(entry).unwrap();
        }
    });
}

#[test]
fn a_garbage_index_is_ignored_and_rewritten() {
    check_recovers_from(|p| {
        for index in p.index_files() {
            std::fs::write(index, b"not an index at all").unwrap();
        }
    });
}

#[test]
fn an_index_from_another_version_is_ignored() {
    check_recovers_from(|p| {
        for index in p.index_files() {
            let mut bytes = std::fs::read(&index).unwrap();
            // The format version follows the 10-byte magic.
            bytes[10] = bytes[10].wrapping_add(1);
            std::fs::write(index, &bytes).unwrap();
        }
    });
}

/// Summaries live beside the index's head, checked one by one against it: a damaged
/// one is a summary the build does not have — the file is read instead — never a wrong
/// one; `mini cache verify` finds it and removes that index.
#[test]
fn damaged_summaries_are_a_miss_and_verify_removes_their_index() {
    let project = Project::new();
    project.build(&[]);
    let summaries: Vec<PathBuf> =
        std::fs::read_dir(project.file(".mini_cache/summaries")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(summaries.len(), 1, "one summaries file per index");
    let damage = || {
        let mut bytes = std::fs::read(&summaries[0]).unwrap();
        for byte in bytes.iter_mut() {
            *byte ^= 0x20;
        }
        std::fs::write(&summaries[0], &bytes).unwrap();
    };
    damage();
    // An edit whose build needs the summaries of the files it did not change.
    project.edit("lib/text.mini", "return 65;", "return 66;");
    let event = project.build(&[]);
    assert_eq!(compiled(&event), ["lib/text.code"]);
    assert_eq!(project.run(), "5\n20\n66\n");

    damage();
    let verify = mini(project.path(), &["cache", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(stderr(&verify).contains(" 1 bad"), "{}", stderr(&verify));
    assert_eq!(project.index_files().len(), 0, "the index is gone");
    assert!(!summaries[0].exists(), "and its summaries");
    std::fs::remove_file(project.file("main")).unwrap();
    let event = project.build(&[]);
    assert_eq!(compiled(&event), Vec::<String>::new(), "every object is still in the store");
    assert_eq!(project.run(), "5\n20\n66\n");
    let verify = mini(project.path(), &["cache", "verify"]);
    assert!(stderr(&verify).contains(" 0 bad"), "{}", stderr(&verify));
}

#[test]
fn two_builds_at_once_both_succeed() {
    let project = Project::new();
    let spawn = || spawn_mini(project.path(), &["build", "--message-format", "json"]);
    let (first, second) = (spawn(), spawn());
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(project.run(), OUTPUT);
    let verify = mini(project.path(), &["cache", "verify"]);
    assert!(stderr(&verify).contains(" 0 bad"), "{}", stderr(&verify));
}

#[test]
fn a_killed_build_leaves_a_usable_cache() {
    // A program big enough that the build is still running when it is killed.
    let dir = tempfile::tempdir().unwrap();
    let mut main = String::from("fn main() i32 {\n    var t: i32 = 0;\n");
    for i in 0..400 {
        write(dir.path(), &format!("m{i}.mini"), &format!("pub fn f(x: i32) i32 {{\n    return x * {i} + 1;\n}}\n"));
        main = format!("import \"m{i}.mini\" as m{i};\n{main}    t += m{i}.f({i});\n");
    }
    main.push_str("    @print(t);\n    return 0;\n}\n");
    write(dir.path(), "main.mini", &main);
    let expected: i32 = (0..400).map(|i: i32| i * i + 1).sum();

    for delay_ms in [5, 40, 120] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mini"))
            .args(["build", "-j", "1"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = mini(dir.path(), &["build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = mini::process::output(&mut Command::new(dir.path().join("main"))).unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), format!("{expected}\n"));
    let verify = mini(dir.path(), &["cache", "verify"]);
    assert!(stderr(&verify).contains(" 0 bad"), "{}", stderr(&verify));
}

#[test]
fn no_cache_keeps_nothing() {
    let project = Project::new();
    let event = project.build(&["--no-cache"]);
    assert_eq!(compiled(&event).len(), 4);
    assert_eq!(project.run(), OUTPUT);
    assert!(!project.file(".mini_cache").exists());
}

/// `mini cache …` with `--json`: its status and its one object.
#[track_caller]
fn cache_json(dir: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["cache"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = mini(dir, &all);
    let value = serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|_| panic!("one object: {}", stdout(&out)));
    (out.status.code(), value)
}

/// What the entries and indexes (with their summaries) of the cache at `root` take on
/// disk, and how many each.
fn measured(root: &Path) -> (u64, usize, usize) {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root.join("objects")).unwrap().flatten() {
        files.extend(std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.path()));
    }
    let entries = files.len();
    let indexes: Vec<PathBuf> = std::fs::read_dir(root.join("index")).unwrap().flatten().map(|e| e.path()).collect();
    let count = indexes.len();
    files.extend(indexes);
    // An index's summaries are counted with it.
    if let Ok(summaries) = std::fs::read_dir(root.join("summaries")) {
        files.extend(summaries.flatten().map(|e| e.path()));
    }
    (files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum(), entries, count)
}

#[test]
fn cache_commands_report_and_clean() {
    let project = Project::new();
    project.build(&[]);
    let (status, stats) = cache_json(project.path(), &["stats"]);
    assert_eq!(status, Some(0), "{stats}");
    let (bytes, entries, indexes) = measured(&project.file(".mini_cache"));
    assert_eq!((&stats["reason"], &stats["success"]), (&"cache-stats".into(), &true.into()));
    assert_eq!((stats["bytes"].as_u64(), stats["entries"].as_u64()), (Some(bytes), Some(entries as u64)), "{stats}");
    assert_eq!(stats["indexes"], indexes);
    assert_eq!(stats["last_build"]["compiled"], 4);
    // For people, in binary units.
    let out = mini(project.path(), &["cache", "stats"]);
    assert!(out.status.success());
    let first = stdout(&out).lines().next().unwrap().to_string();
    let size = mini::render::size(bytes);
    assert_eq!(first, format!(".mini_cache: {entries} entries and 1 index, {size} (capped at 2.0 GiB)"));
    assert!(
        stdout(&out).contains("\nLast build: 4 of 4 functions compiled, 0 reused from disk; store: "),
        "{}",
        stdout(&out)
    );

    let gc = mini(project.path(), &["cache", "gc", "--max-size", "0"]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    assert_eq!(
        stderr(&gc),
        format!(
            "Removed {entries} entries and 1 index from .mini_cache: {size} -> 0 B (limit 0 B), 0 entries and 0 indexes left\n"
        )
    );
    assert_eq!(project.entries().len(), 0, "a zero limit evicts everything");
    assert_eq!(project.index_files().len(), 0, "and the indexes that listed it");
    assert_eq!(std::fs::read_dir(project.file(".mini_cache/summaries")).unwrap().count(), 0, "with their summaries");
    let rebuilt = project.build(&[]);
    assert_eq!(compiled(&rebuilt).len(), 4, "evicted objects are rebuilt");
    assert_eq!(project.run(), OUTPUT);

    let clean = mini(project.path(), &["cache", "clean"]);
    assert!(clean.status.success());
    assert_eq!(stderr(&clean), format!("Removed everything in .mini_cache: {entries} entries and 1 index, {size}\n"));
    assert!(!project.file(".mini_cache/objects").exists());
}

/// `mini cache` finds the cache `mini build ENTRY` used: next to the entry file, or
/// where `--cache-dir` or `MINI_CACHE_DIR` says. It used to look in the current
/// directory only, and report an empty cache (creating it) when the build's was
/// elsewhere.
#[test]
fn cache_commands_use_the_cache_of_the_entry_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in PROGRAM {
        write(&dir.path().join("app"), path, text);
    }
    assert!(mini(dir.path(), &["build", "-q", "app/main.mini"]).status.success());
    let (_, entries, _) = measured(&dir.path().join("app/.mini_cache"));
    let (status, stats) = cache_json(dir.path(), &["stats", "app/main.mini"]);
    assert_eq!(status, Some(0), "{stats}");
    assert_eq!((&stats["directory"], &stats["entries"]), (&"app/.mini_cache".into(), &entries.into()));
    let (_, here) = cache_json(&dir.path().join("app"), &["stats"]);
    assert_eq!((&here["directory"], &here["entries"]), (&".mini_cache".into(), &entries.into()));
    let (status, verified) = cache_json(dir.path(), &["verify", "app/main.mini"]);
    assert_eq!((status, &verified["entries"], &verified["bad"]), (Some(0), &entries.into(), &serde_json::json!([])));

    // --cache-dir, and MINI_CACHE_DIR, for the build and the cache commands alike.
    assert!(mini(dir.path(), &["build", "-q", "app/main.mini", "--cache-dir", "shared"]).status.success());
    let (_, shared) = cache_json(dir.path(), &["stats", "app/main.mini", "--cache-dir", "shared"]);
    assert_eq!((&shared["directory"], &shared["entries"]), (&"shared".into(), &entries.into()));
    let out = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["cache", "gc", "app/main.mini", "--max-size", "0", "--json"])
        .current_dir(dir.path())
        .env("MINI_CACHE_DIR", "shared")
        .output()
        .unwrap();
    let gc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        (&gc["directory"], &gc["removed_entries"], &gc["entries"]),
        (&"shared".into(), &entries.into(), &0.into())
    );
    assert_eq!(measured(&dir.path().join("shared")).0, 0);
    assert_eq!(measured(&dir.path().join("app/.mini_cache")).1, entries, "the other cache is untouched");
}

/// `MINI_CACHE_DIR` is a default: every command that uses the cache finds it, and
/// `--cache-dir` and `--no-cache` override it (clap used to read it as `--cache-dir`
/// given, and refuse `--no-cache` with it).
#[test]
fn the_cache_variable_is_a_default_that_the_flags_override() {
    let project = Project::new();
    let with_variable = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mini"))
            .args(args)
            .current_dir(project.path())
            .env("MINI_CACHE_DIR", "shared")
            .env_remove("MINI_LOG")
            .output()
            .unwrap()
    };
    let run = with_variable(&["run", "-q", "--no-cache"]);
    assert_eq!((run.status.code(), stdout(&run).as_str()), (Some(7), OUTPUT), "{}", stderr(&run));
    assert!(!project.file("shared").exists() && !project.file(".mini_cache").exists());
    assert!(with_variable(&["build", "-q"]).status.success());
    let (_, entries, _) = measured(&project.file("shared"));
    let stats = with_variable(&["cache", "stats", "--json"]);
    let stats: Value = serde_json::from_str(stdout(&stats).trim()).unwrap();
    assert_eq!((&stats["directory"], &stats["entries"]), (&"shared".into(), &entries.into()));
    let explain = with_variable(&["explain", "-q"]);
    assert_eq!(stdout(&explain), "4 cached: the next build compiles 0 of 4 functions (contracts on)\n");
    let other = with_variable(&["cache", "stats", "--cache-dir", "other"]);
    assert_eq!((other.status.code(), stderr(&other).as_str()), (Some(2), "mini: error: no cache at other\n"));
}

/// A cache that is not there is said to be missing — never counted as empty, created,
/// or "removed" — and a directory that is not a cache of mini's is left alone.
#[test]
fn a_missing_cache_is_reported_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["stats", "gc", "verify"] {
        let out = mini(dir.path(), &["cache", command]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        assert_eq!(stderr(&out), "mini: error: no cache at .mini_cache\n", "{command}");
    }
    let out = mini(dir.path(), &["cache", "clean"]);
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(0), "No cache at .mini_cache: nothing to remove\n"));
    let (status, clean) = cache_json(dir.path(), &["clean", "--cache-dir", "gone"]);
    assert_eq!(status, Some(0));
    assert_eq!(clean["existed"], false, "{clean}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");

    // Something else, even with objects/ and index/ in it, is not touched.
    write(dir.path(), "mine/objects/keep.txt", "precious");
    write(dir.path(), "mine/index/notes", "precious");
    for command in ["stats", "gc", "verify", "clean"] {
        let out = mini(dir.path(), &["cache", command, "--cache-dir", "mine"]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "mini: error: mine is not a cache of mini's (it has no CACHEDIR.TAG written by mini), so it is left alone\n"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path().join("mine")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(dir.path().join("mine/objects/keep.txt").exists() && dir.path().join("mine/index/notes").exists());
}

/// `stats`, `gc` and `verify` list the cache the same way, so they count the same
/// entries and indexes — an unusable index included (stats used to leave it out of its
/// count but not of its size).
#[test]
fn stats_verify_and_gc_count_the_same_entries() {
    let project = Project::new();
    project.build(&[]);
    std::fs::write(project.file(".mini_cache/index/0123abcd"), vec![7u8; 3000]).unwrap();
    let (bytes, entries, indexes) = measured(&project.file(".mini_cache"));
    assert_eq!(indexes, 2);
    let (_, stats) = cache_json(project.path(), &["stats"]);
    let (_, gc) = cache_json(project.path(), &["gc", "--max-size", "1G"]);
    let (_, verify) = cache_json(project.path(), &["verify"]);
    for counted in [&stats, &gc] {
        assert_eq!((&counted["entries"], &counted["indexes"]), (&entries.into(), &2.into()), "{counted}");
    }
    assert_eq!((&stats["bytes"], &gc["bytes"], &gc["removed_entries"]), (&bytes.into(), &bytes.into(), &0.into()));
    // verify checks all of them, and says what is left.
    assert_eq!(verify["checked"], entries + 2);
    assert_eq!(verify["bad"], serde_json::json!([".mini_cache/index/0123abcd"]));
    assert_eq!((&verify["entries"], &verify["indexes"]), (&entries.into(), &1.into()), "{verify}");
    assert_eq!(verify["bytes"], bytes - 3000);
    let (_, after) = cache_json(project.path(), &["stats"]);
    assert_eq!(
        (&after["entries"], &after["indexes"], &after["bytes"]),
        (&verify["entries"], &1.into(), &verify["bytes"])
    );
}

/// `gc --max-size N` ends at or under N whatever N is — between two entries' sizes, or
/// under the size of an index no build can use, which it used to count without ever
/// removing — and says what is left.
#[test]
fn gc_ends_at_or_under_the_size_it_was_given() {
    let project = Project::new();
    project.build(&[]);
    // Older versions of units, which no index lists any more; and an unusable index.
    for n in 0..3 {
        project.edit("lib/text.mini", &format!("return {};", 65 + n), &format!("return {};", 66 + n));
        project.build(&[]);
    }
    std::fs::write(project.file(".mini_cache/index/0123abcd"), vec![7u8; 5000]).unwrap();
    let root = project.file(".mini_cache");
    let (total, entries, _) = measured(&root);
    // Sizes between entries': one byte under the total, then about half, then nothing.
    let mut left = total;
    for limit in [total - 1, total / 2, 0] {
        let (status, gc) = cache_json(project.path(), &["gc", "--max-size", &limit.to_string()]);
        assert_eq!(status, Some(0), "{gc}");
        let (bytes, entries_left, indexes_left) = measured(&root);
        assert!(bytes <= limit, "{bytes} bytes are left over a limit of {limit}: {gc}");
        assert!(bytes < left, "something was removed at {limit}: {gc}");
        assert_eq!((gc["bytes"].as_u64(), gc["entries"].as_u64()), (Some(bytes), Some(entries_left as u64)), "{gc}");
        assert_eq!(gc["indexes"], indexes_left);
        if limit > 0 {
            assert!(entries_left > 0, "a limit of {limit} keeps some of the {entries} entries: {gc}");
        }
        left = bytes;
    }
    assert_eq!(left, 0);
}

#[test]
fn the_size_cap_evicts_old_entries() {
    let project = Project::new();
    project.build(&[]);
    for n in 0..5 {
        project.edit("lib/text.mini", &format!("return {};", 65 + n), &format!("return {};", 66 + n));
        let out = Command::new(env!("CARGO_BIN_EXE_mini"))
            .args(["build"])
            .current_dir(project.path())
            .env("MINI_CACHE_MAX_SIZE", "6K")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let bytes: u64 = project.entries().iter().map(|e| std::fs::metadata(e).unwrap().len()).sum();
    assert!(bytes <= 6 * 1024 + 4096, "{bytes} bytes after eviction");
    let out = mini::process::output(&mut Command::new(project.file("main"))).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "5\n20\n70\n");
}

/// Eviction keeps what the last build references, unit members included, so the next
/// edit still compiles just the edited function.
#[test]
fn eviction_keeps_what_the_last_build_references() {
    let project = Project::new();
    let build = |cap: &str| {
        let args = ["build", "--message-format", "json"];
        let out = Command::new(env!("CARGO_BIN_EXE_mini"))
            .args(args)
            .current_dir(project.path())
            .env("MINI_CACHE_MAX_SIZE", cap)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        last_event(&stdout(&out))
    };
    build("1M");
    let referenced: u64 = project.entries().iter().map(|e| std::fs::metadata(e).unwrap().len()).sum();
    // Room for one build's entries and a little more: older units must go.
    let cap = format!("{}K", referenced * 3 / 2 / 1024 + 1);
    for n in 0..6 {
        project.edit("lib/text.mini", &format!("return {};", 65 + n), &format!("return {};", 66 + n));
        build(&cap);
    }
    project.edit("lib/math.mini", "return a * b;", "return a * b + 1;");
    let edit = build(&cap);
    assert_eq!(compiled(&edit), ["lib/math.mul"]);
    assert_eq!(project.run(), "5\n21\n71\n");
}

#[test]
fn llvm_ir_is_one_valid_module_assembled_from_cached_sections() {
    let project = Project::new();
    let out = mini(project.path(), &["build", "--emit", "llvm-ir", "--message-format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ir = std::fs::read_to_string(project.file("main.ll")).unwrap();
    for header in ["; ==== FILE: main.mini:", "; ==== FILE: lib/math.mini:", "; ==== FILE: lib/text.mini:"] {
        assert!(ir.contains(header), "missing {header}");
    }
    if let Ok(status) = Command::new("llvm-as-14").arg(project.file("main.ll")).arg("-o").arg("/dev/null").status() {
        assert!(status.success(), "llvm-as rejects the combined module");
    }

    // An edit regenerates only that file's section; the result is what a clean build
    // writes.
    project.edit("lib/text.mini", "return 65;", "return 66;");
    let edited = mini(project.path(), &["build", "--emit", "llvm-ir", "--message-format", "json", "--log-queries"]);
    let log = stdout(&edited);
    assert!(log.contains("fn_llvm_ir(lib/text.code)"), "{log}");
    assert!(!log.contains("fn_llvm_ir(lib/math.add)"), "{log}");
    let incremental = std::fs::read(project.file("main.ll")).unwrap();
    let clean = mini(project.path(), &["build", "--emit", "llvm-ir", "--no-cache", "-o", "clean.ll"]);
    assert!(clean.status.success());
    assert_eq!(incremental, std::fs::read(project.file("clean.ll")).unwrap());
}

/// Runs `mini` with `args` (and `env`) in `dir`, failing the test if it has not exited
/// within a minute: what these tests guard against is a command that blocks forever.
fn mini_within_a_minute(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mini"));
    command.args(args).current_dir(dir).env_remove("MINI_LOG").stdout(Stdio::piped()).stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the mini binary runs");
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mini {args:?} blocked for a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

/// A FIFO where mini expects a file — the cache's lock, an index, an entry, a source —
/// never makes a command wait forever: the lock is an error that names it, an index or
/// an entry is a miss, and a source is an error at its import.
#[test]
fn a_fifo_in_the_cache_or_the_sources_never_blocks() {
    let project = Project::new();
    project.build(&[]);
    let lock = project.file(".mini_cache/lock");
    mkfifo(&lock);
    for args in [&["build"][..], &["cache", "verify"], &["cache", "gc"], &["cache", "stats"]] {
        let out = mini_within_a_minute(project.path(), args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("opening the cache lock .mini_cache/lock: is a FIFO (named pipe)"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    std::fs::remove_file(&lock).unwrap();

    for index in project.index_files() {
        mkfifo(&index);
    }
    for entry in project.entries() {
        mkfifo(&entry);
    }
    std::fs::remove_file(project.file("main")).unwrap();
    let out = mini_within_a_minute(project.path(), &["build"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a FIFO (named pipe); building without it"), "{}", stderr(&out));
    assert_eq!(project.run(), OUTPUT);

    mkfifo(&project.file("lib/text.mini"));
    let out = mini_within_a_minute(project.path(), &["build"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read imported file \"lib/text.mini\": is a FIFO (named pipe)"),
        "{}",
        stderr(&out)
    );
}

/// Why an index is not used is said as it is: unreadable, damaged, or (quietly) from
/// another version — never one for another.
#[test]
fn an_unusable_index_says_why() {
    let project = Project::new();
    project.build(&[]);
    let index = project.index_files().pop().expect("an index");
    let good = std::fs::read(&index).unwrap();

    let relative = index.strip_prefix(project.path()).unwrap().display().to_string();
    mkfifo(&index);
    let unreadable = mini_within_a_minute(project.path(), &["build"], &[]);
    let log = stderr(&unreadable);
    assert!(log.contains(&format!("cannot read the cache index {relative}: is a FIFO")), "{log}");
    assert!(!log.contains("damaged"), "{log}");

    std::fs::write(&index, &good[..good.len() / 2]).unwrap();
    let damaged = mini(project.path(), &["build"]);
    assert!(stderr(&damaged).contains(&format!("the cache index {relative} is damaged")), "{}", stderr(&damaged));

    let mut other = std::fs::read(&index).unwrap();
    other[10] = other[10].wrapping_add(1);
    std::fs::write(&index, &other).unwrap();
    let other_version = mini(project.path(), &["build"]);
    assert!(other_version.status.success());
    assert!(!stderr(&other_version).contains("index"), "{}", stderr(&other_version));
    assert_eq!(project.run(), OUTPUT);
}

/// `tmp/`, removed while a build runs, is made again when the build next writes.
#[test]
fn tmp_removed_during_a_build_is_made_again() {
    use mini::fault::{Action, Point};
    let project = Project::new();
    let mut session = mini::driver::Session::new(&project.file("main.mini")).unwrap();
    let tmp = project.file(".mini_cache/tmp");
    session.faults().arm(Point::AfterScan, Action::Run(Box::new(move || std::fs::remove_dir_all(&tmp).unwrap())));
    let request = mini::driver::BuildRequest::executable(project.file("main"));
    let report = session.build(&request).expect("the build runs");
    assert!(report.success());
    assert!(session.faults().is_empty(), "tmp/ was removed");
    assert_eq!(project.run(), OUTPUT);
}

/// On a full disk, a build evicts older entries (as the size cap does, sparing what its
/// index lists) and writes again; no temporary file stays behind.
#[test]
fn a_full_disk_evicts_older_entries_and_the_build_goes_on() {
    let project = Project::new();
    project.build(&[]);
    // Older versions of a unit, which no index lists any more.
    for n in 0..3 {
        project.edit("lib/text.mini", &format!("return {};", 65 + n), &format!("return {};", 66 + n));
        project.build(&[]);
    }
    let before = project.entries().len();
    project.edit("lib/math.mini", "return a * b;", "return a * b + 2;");
    let out = mini_within_a_minute(
        project.path(),
        &["build", "--message-format", "json"],
        &[("MINI_TEST_FAULT", "store-write:no-space")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("the disk was full: evicted"), "{}", stderr(&out));
    assert_eq!(compiled(&last_event(&stdout(&out))), ["lib/math.mul"]);
    assert_eq!(project.run(), "5\n22\n68\n");
    assert!(project.entries().len() < before + 2, "older entries were evicted");
    assert_eq!(std::fs::read_dir(project.file(".mini_cache/tmp")).unwrap().count(), 0, "no temporary file is left");
    let verify = mini(project.path(), &["cache", "verify"]);
    assert!(stderr(&verify).contains(" 0 bad"), "{}", stderr(&verify));
}

/// With nothing to evict, a full disk fails the build with the reason, and leaves no
/// temporary file behind.
#[test]
fn a_full_disk_with_nothing_to_evict_fails_cleanly() {
    let project = Project::new();
    let out = mini_within_a_minute(project.path(), &["build"], &[("MINI_TEST_FAULT", "store-write:no-space")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("No space left on device"), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing it could evict"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(project.file(".mini_cache/tmp")).unwrap().count(), 0, "no temporary file is left");
    project.build(&[]);
    assert_eq!(project.run(), OUTPUT);
}

/// `mini cache verify`, `gc` and `stats` say what they could not read, and fail: a
/// look that could not see everything is not a success.
#[test]
fn cache_commands_say_what_they_could_not_read() {
    let project = Project::new();
    project.build(&[]);
    // A file where a directory of entries belongs.
    std::fs::write(project.file(".mini_cache/objects/zz"), "not a directory").unwrap();
    let reason = ".mini_cache/objects/zz: Not a directory".to_string();
    for command in ["verify", "gc"] {
        let out = mini(project.path(), &["cache", command]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        assert!(stderr(&out).contains(&reason), "{command}: {}", stderr(&out));
    }
    let (status, stats) = cache_json(project.path(), &["stats"]);
    assert_eq!((status, &stats["success"]), (Some(2), &false.into()), "{stats}");
    assert_eq!(stats["unreadable"], serde_json::json!([reason]));
    let stats = mini(project.path(), &["cache", "stats"]);
    assert!(stderr(&stats).contains(&reason), "{}", stderr(&stats));
}

/// A unit whose merged entry is gone (evicted, damaged) while its members' entry under
/// the same key is not is rebuilt from those members, compiling nothing — and `mini
/// explain` says so first: the planner answers both. (They used to disagree: explain
/// counted the members as cached, the build compiled them again.)
#[test]
fn a_unit_whose_merged_entry_is_gone_is_rebuilt_from_its_members_compiling_nothing() {
    use mini::cache::store::{Kind, Store};
    let project = Project::new();
    project.build(&[]);
    project.edit("lib/math.mini", "return a + b;", "return b + a;");
    assert_eq!(compiled(&project.build(&[])), ["lib/math.add"]);
    // The merged entry of lib/math's unit goes; its members' entry stays.
    let index = mini::cache::index::Index::read(&project.index_files()[0]).expect("an index");
    let store = Store::open(&project.file(".mini_cache")).unwrap();
    let unit = mini_queries::link::link_unit_of(&mini_queries::base::ModulePath::new("lib/math.mini").unwrap());
    let key = index.header.units.iter().find(|(index, _)| *index == unit).expect("the unit").1;
    std::fs::remove_file(store.path(Store::key(Kind::Unit, key))).unwrap();
    assert!(store.path(Store::key(Kind::UnitMembers, key)).exists());
    drop(store);
    // Another file changes, so that the build plans every unit.
    project.edit("lib/text.mini", "return 65;", "return 66;");

    let out = mini(project.path(), &["explain", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let explained: Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(explained["will_compile"], serde_json::json!(["lib/text.code"]), "{explained}");
    let event = project.build(&[]);
    assert_eq!(compiled(&event), ["lib/text.code"]);
    assert_eq!(project.run(), "5\n20\n66\n");
}
