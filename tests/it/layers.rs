//! The layers ARCHITECTURE.md states, kept by a test rather than by a comment: every
//! `crate::` path in a module must name a module of a lower layer (or its own). In
//! `queries/`, the layers are the order of `lib.rs`; in the shell, the table below.
//! Test modules (`#[cfg(test)]` onwards) may reach anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The shell's layers, bottom first. A module may import modules of lower layers.
const SHELL_LAYERS: &[&[&str]] = &[
    &["fs", "output", "fault", "process", "render", "version", "bytes"],
    &["cache", "link", "progress", "codegen"],
    &["driver"],
    &["report"],
    &["watch", "lsp", "scaffold"],
    &["cli"],
];

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn sources(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(dir).unwrap();
                let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
                let module = first.trim_end_matches(".rs").to_string();
                out.push((module, path));
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules a file names with `crate::`, outside comments and tests.
fn crate_references(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap();
    let mut names = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::b, c};` on one line.
                let group = &group[..group.find('}').unwrap_or(group.len())];
                names.extend(group.split(',').map(|item| item.trim().split("::").next().unwrap().to_string()));
            } else {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                names.push(name);
            }
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    names
}

/// Checks every file against `rank` (module → layer); returns the violations.
fn violations(dir: &Path, rank: &BTreeMap<String, usize>) -> Vec<String> {
    let mut found = Vec::new();
    for (module, path) in sources(dir) {
        let Some(&own) = rank.get(&module) else { continue };
        for name in crate_references(&path) {
            match rank.get(&name) {
                Some(&other) if other < own || name == module => {}
                Some(_) => found.push(format!("{} ({module}) imports {name}, a layer at or above it", path.display())),
                None if name == "with_stack" || name == "Database" || name == "Db" => {}
                None => found.push(format!("{} ({module}) names crate::{name}, which no layer lists", path.display())),
            }
        }
    }
    found
}

#[test]
fn the_shells_layers_import_downward_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank: BTreeMap<String, usize> = SHELL_LAYERS
        .iter()
        .enumerate()
        .flat_map(|(layer, modules)| modules.iter().map(move |m| (m.to_string(), layer)))
        .collect();
    // Every module of the shell is in the table (main.rs, lib.rs and the executables in
    // bin/, which use the library as any crate does, stand above it).
    for (module, path) in sources(&root) {
        if module != "main" && module != "lib" && module != "bin" {
            assert!(rank.contains_key(&module), "{} is in no layer of SHELL_LAYERS", path.display());
        }
    }
    let found = violations(&root, &rank);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_queries_import_only_stages_listed_before_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let order: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    assert!(order.starts_with(&["base".to_string(), "source".to_string()]), "{order:?}");
    let rank: BTreeMap<String, usize> = order.into_iter().enumerate().map(|(i, m)| (m, i)).collect();
    let found = violations(&root, &rank);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The bottom layer imports nothing else of the crate.
    for (module, path) in sources(&root) {
        if module == "base" {
            let above: Vec<String> = crate_references(&path).into_iter().filter(|n| n != "base").collect();
            assert!(above.is_empty(), "{} names {above:?}", path.display());
        }
    }
}

/// What a summary may answer is written down in one place (`queries/src/summary.rs`):
/// no other query module reads a file's summary field.
#[test]
fn only_summary_rs_reads_a_files_summary_in_the_queries() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/src");
    let mut found = Vec::new();
    for (_, path) in sources(&root) {
        if path.ends_with("summary.rs") || path.ends_with("source.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            if line.contains(".summary(") && !line.trim_start().starts_with("//") {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "read summaries through summary.rs:\n{}", found.join("\n"));
}
