//! The language guide's examples do what it says: every ```mini program followed by a
//! ```console session in `docs/language.md` is built and run, and its output and exit
//! status compared with the session's.
//!
//! A session's commands are `mini run -q`, `mini check -q` (with their output: the
//! program's stdout, then stderr) and `echo $?` (the last command's status). A program
//! is the ```mini blocks since the last session, each starting with a `// <file>.mini`
//! line (without one, the block is `main.mini`); a block for `main.mini` starts a new
//! program, so fragments and examples without a session are not run.

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
