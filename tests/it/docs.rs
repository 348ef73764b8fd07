//! The language guide's examples do what it says: every ```mini program followed by a
//! ```console session in `docs/language.md` is built and run, and its output and exit
//! status compared with the session's.
//!
//! A session's commands are `mini run -q`, `mini check -q` (with their output: the
//! program's stdout, then stderr) and `echo $?` (the last command's status). A program
//! is the ```mini blocks since the last session, each starting with a `// <file>.mini`
//! line (without one, the block is `main.mini`); a block for `main.mini` starts a new
//! program, so fragments and examples without a session are not run.

use std::collections::BTreeSet;

use crate::support::{mini, stderr, stdout, write};

struct Example {
    /// The session's first line in the guide, for messages.
    line: usize,
    files: Vec<(String, String)>,
    session: Vec<String>,
}

fn examples(guide: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut files: Vec<(String, String)> = Vec::new();
    let mut lines = guide.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let fence = line.trim_end();
        if fence != "```mini" && fence != "```console" {
            continue;
        }
        let body: Vec<String> = lines.by_ref().map(|(_, l)| l.to_string()).take_while(|l| l != "```").collect();
        if fence == "```console" {
            examples.push(Example { line: number + 1, files: std::mem::take(&mut files), session: body });
            continue;
        }
        let header = body
            .first()
            .and_then(|l| l.strip_prefix("// "))
            .filter(|name| name.ends_with(".mini") && !name.contains(' '));
        let name = header.unwrap_or("main.mini").to_string();
        if name == "main.mini" {
            files.clear();
        }
        files.push((name, body.join("\n") + "\n"));
    }
    examples
}

#[test]
fn every_example_session_in_the_language_guide_is_what_mini_does() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md")).unwrap();
    let examples = examples(&guide);
    // So that a change of format cannot make this test check nothing.
    assert!(examples.len() >= 15, "only {} examples found", examples.len());
    for example in examples {
        assert!(!example.files.is_empty(), "the session at line {} has no program before it", example.line);
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in &example.files {
            write(dir.path(), name, text);
        }
        let mut status = None;
        let mut commands = example.session.iter().peekable();
        while let Some(command) = commands.next() {
            let command = command.strip_prefix("$ ").unwrap_or_else(|| panic!("line {}: {command:?}", example.line));
            let mut expected = String::new();
            while let Some(output) = commands.next_if(|l| !l.starts_with("$ ")) {
                expected.push_str(output);
                expected.push('\n');
            }
            let shown = if command == "echo $?" {
                format!("{}\n", status.expect("a command ran before echo $?"))
            } else {
                let args: Vec<&str> = command.split(' ').collect();
                assert!(
                    args[0] == "mini" && ["run", "check"].contains(&args[1]) && args[2] == "-q",
                    "line {}: unsupported command {command:?}",
                    example.line
                );
                let out = mini(dir.path(), &args[1..]);
                status = out.status.code();
                stdout(&out) + &stderr(&out)
            };
            assert_eq!(shown, expected, "`{command}` in the session at docs/language.md:{}", example.line);
        }
    }
}

#[test]
fn the_bundled_example_prints_what_the_readme_says_and_exits_zero() {
    // A copy, so that the repository gets no cache directory.
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/primes");
    for file in ["main.mini", "lib/sieve.mini", "lib/fmt.mini"] {
        write(dir.path(), file, &std::fs::read_to_string(format!("{example}/{file}")).unwrap());
    }
    let out = mini(dir.path(), &["run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let primes = "2 3 5 7 11 13 17 19 23 29 31 37 41 43 47";
    let expected = format!("{primes} -1 15 454396537").replace(' ', "\n") + "\n";
    assert_eq!(stdout(&out), expected);
}

/// README's JSON reference: for each `#### ` heading under `### JSON output`, the
/// reasons it names (in backticks) and the fields its table lists (the first cell's
/// backticked names; `key.field` and `key[].field` for what nested objects hold).
fn documented_objects(readme: &str) -> Vec<(Vec<String>, BTreeSet<String>)> {
    let backticked = |text: &str| -> Vec<String> { text.split('`').skip(1).step_by(2).map(str::to_string).collect() };
    let section = readme.split("\n### JSON output\n").nth(1).expect("README has a JSON reference");
    let section = section.split("\n### ").next().unwrap();
    let mut objects: Vec<(Vec<String>, BTreeSet<String>)> = Vec::new();
    for line in section.lines() {
        if let Some(heading) = line.strip_prefix("#### ") {
            objects.push((backticked(heading), BTreeSet::new()));
        } else if let (Some(row), Some((_, fields))) = (line.strip_prefix("| "), objects.last_mut()) {
            let cell = row.split(" |").next().unwrap();
            fields.extend(backticked(cell));
        }
    }
    objects.retain(|(_, fields)| !fields.is_empty());
    objects
}

/// The fields of `object` as README names them: its keys, and the keys of the nested
/// objects (or arrays of objects) the README describes field by field.
fn fields_of(object: &serde_json::Value, documented: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (key, value) in object.as_object().expect("an object") {
        out.insert(key.clone());
        let nested = |suffix: &str| documented.iter().any(|d| d.starts_with(&format!("{key}{suffix}")));
        match value {
            serde_json::Value::Object(inner) if nested(".") => out.extend(inner.keys().map(|k| format!("{key}.{k}"))),
            serde_json::Value::Array(items) if nested("[].") => {
                for item in items.iter().filter_map(|i| i.as_object()) {
                    out.extend(item.keys().map(|k| format!("{key}[].{k}")));
                }
            }
            _ => {}
        }
    }
    out
}

/// README's JSON reference lists exactly the fields mini prints, for every object mini
/// prints (failures aside: `{"reason", "success", "error"}`, tested in `cli.rs`).
#[test]
fn the_readme_documents_every_json_object_and_field() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let documented = documented_objects(&readme);
    assert!(documented.len() >= 7, "{documented:?}");

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    write(d, "bad.mini", "fn main() i32 {\n    const a = 1;\n    const a = 2;\n    return a;\n}\n");
    let mut printed = String::new();
    for args in [
        &["check", "--message-format", "json", "bad.mini"][..],
        &["build", "--message-format", "json", "--log-queries"],
        &["check", "--message-format", "json"],
        &["explain", "--message-format", "json"],
        &["explain", "--message-format", "json", "bad.mini"],
        &["cache", "stats", "--json"],
        &["cache", "verify", "--json"],
        &["cache", "gc", "--json"],
        &["cache", "clean", "--json"],
    ] {
        printed += &stdout(&mini(d, args));
    }
    // `mini watch`, stopped by a bug after its first build (see `mini::fault`).
    let watch = std::process::Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["watch", "--message-format", "json"])
        .current_dir(d)
        .env("MINI_TEST_FAULT", "index-write:panic")
        .env_remove("MINI_LOG")
        .output()
        .unwrap();
    assert_eq!(watch.status.code(), Some(101), "{}", stderr(&watch));
    printed += &stdout(&watch);

    let objects: Vec<serde_json::Value> =
        printed.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (reasons, fields) in &documented {
        let mut union = BTreeSet::new();
        for object in objects.iter().filter(|o| reasons.contains(&o["reason"].as_str().unwrap().to_string())) {
            if object.get("error").is_some() {
                continue;
            }
            let shown = fields_of(object, fields);
            let undocumented: Vec<&String> = shown.difference(fields).collect();
            assert!(undocumented.is_empty(), "{reasons:?}: undocumented {undocumented:?} in {object}");
            union.extend(shown);
        }
        assert_eq!(&union, fields, "{reasons:?}: the README lists fields mini did not print");
        seen.extend(reasons.iter().cloned());
    }
    for object in &objects {
        assert!(seen.contains(object["reason"].as_str().unwrap()), "undocumented: {object}");
    }
}
