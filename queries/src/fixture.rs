//! Test programs written as one string: each file introduced by a `//- path` line. Used
//! by this crate's query-level tests and by the shell's integration tests, so both read
//! fixtures the same way. Pure string handling: no files are written here.

/// The files of a fixture, in order, as (path, text):
///
/// ```text
/// //- main.mini
/// import "lib.mini";
/// //- lib.mini
/// pub fn f() i32 { return 1; }
/// ```
///
/// The fixture may be indented as a whole; the common indentation is removed.
pub fn parse_fixture(fixture: &str) -> Vec<(String, String)> {
    let indent =
        fixture.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    let mut files: Vec<(String, String)> = Vec::new();
    for line in fixture.lines() {
        if let Some(path) = line.trim_start().strip_prefix("//- ") {
            files.push((path.trim().to_string(), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line.get(indent..).unwrap_or(""));
            text.push('\n');
        } else {
            assert!(line.trim().is_empty(), "fixture text before the first `//- path` line: {line:?}");
        }
    }
    files
}
