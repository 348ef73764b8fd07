//! Text outputs: the program's LLVM IR and its ZIR.
//!
//! The IR is assembled from per-file sections cached in the store (only files whose
//! functions changed are generated again) into one valid module: one header, each
//! file's definitions under `; ==== FILE: <module path>:<hash> ====`, and a trailer
//! with the declarations, attribute groups and metadata every section shares,
//! renumbered so that the sections fit together.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::Result;
use mini_queries::base::{Encoder, Hash};
use mini_queries::codegen::{entry_llvm_ir, fn_llvm_ir, runtime_llvm_ir};
use mini_queries::hash::fn_hash;
use mini_queries::imports::program_files;
use mini_queries::items::file_functions;
use mini_queries::zir::fn_zir;

use super::{BuildReport, Session};
use crate::cache::store::{Kind, Store};

/// Separates function modules inside a cached section.
const MODULE_SEPARATOR: &str = "\n; ---- module ----\n";

impl Session {
    /// The program's LLVM IR as one module.
    pub(super) fn llvm_ir_text(&mut self, store: &Store, report: &mut BuildReport) -> Result<String> {
        // The runtime's and the entry's IR are always generated.
        crate::codegen::start()?;
        let db = &self.db;
        let files = program_files(db, self.workspace()).to_vec();
        // Which sections are cached; files of the others may need their text.
        let mut sections: Vec<(String, Hash, Option<String>)> = Vec::new();
        for &file in &files {
            let key = section_key(db, file);
            let cached = store.read(Kind::IrSection, key).and_then(|bytes| String::from_utf8(bytes.to_vec()).ok());
            sections.push((file.path(db).to_string(), key, cached));
        }
        let summarized: Vec<_> = files
            .iter()
            .zip(&sections)
            .filter(|(file, (_, _, cached))| cached.is_none() && mini_queries::summary::is_summarized(&self.db, **file))
            .map(|(file, _)| file.path(&self.db).clone())
            .collect();
        for path in summarized {
            self.hydrate_unchanged(&path, report)?;
        }

        let db = &self.db;
        let mut assembler = Assembler::default();
        for (&file, (path, key, cached)) in files.iter().zip(sections) {
            let text = match cached {
                Some(text) => text,
                None => {
                    let modules: Vec<String> = file_functions(db, file)
                        .functions
                        .iter()
                        .filter_map(|&f| fn_llvm_ir(db, f).as_deref().map(str::to_string))
                        .collect();
                    let text = modules.join(MODULE_SEPARATOR);
                    store.write(Kind::IrSection, key, text.as_bytes())?;
                    text
                }
            };
            assembler.section(&format!("; ==== FILE: {path}:{key} ===="), &text);
        }
        let settings = self.settings.expect("set before building");
        assembler.section("; ==== RUNTIME ====", runtime_llvm_ir(db, settings));
        if let Some(entry) = entry_llvm_ir(db, self.workspace()) {
            assembler.section("; ==== ENTRY ====", entry);
        }
        Ok(assembler.finish())
    }

    /// The program's ZIR, function by function.
    pub(super) fn zir_text(&mut self, report: &mut BuildReport) -> Result<String> {
        self.hydrate_all(report)?;
        let db = &self.db;
        let contracts = self.settings.expect("set before building").contracts(db);
        let mut out = String::new();
        for &f in mini_queries::items::program_functions(db, self.workspace()).iter() {
            if let Some(zir) = fn_zir(db, f) {
                let _ = writeln!(out, "; {}", f.qualified_name(db));
                out.push_str(&mini_queries::zir::dump(zir, contracts));
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// The store key of a file's IR section: its path and its functions' hashes (which
/// cover the settings and the compiler).
fn section_key(db: &dyn mini_queries::Db, file: mini_queries::source::SourceFile) -> Hash {
    let functions = mini_queries::items::functions_of(db, file);
    let mut key = Encoder::new("mini ir section");
    key.str(file.path(db).as_str()).u64(functions.len() as u64);
    for f in functions {
        key.bytes(&fn_hash(db, f).map(|h| h.0).unwrap_or_default());
    }
    key.finish()
}

/// Joins function modules printed by LLVM into one module.
#[derive(Default)]
struct Assembler {
    header: Option<String>,
    body: String,
    /// Declarations by symbol, and the symbols defined somewhere.
    declarations: BTreeMap<String, String>,
    defined: std::collections::HashSet<String>,
    /// Attribute groups by content, numbered in order of first appearance.
    attributes: HashMap<String, usize>,
    /// Metadata: the next free number, numbered nodes, and named nodes' operands.
    next_metadata: usize,
    metadata: Vec<String>,
    named_metadata: BTreeMap<String, Vec<String>>,
    module_flags: HashMap<String, String>,
}

impl Assembler {
    fn section(&mut self, title: &str, text: &str) {
        let _ = writeln!(self.body, "{title}");
        for module in text.split(MODULE_SEPARATOR) {
            self.module(module);
        }
    }

    fn module(&mut self, text: &str) {
        let mut attribute_map: HashMap<String, String> = HashMap::new();
        let base = self.next_metadata;
        let mut highest = 0;
        // First pass: attribute groups and metadata numbering.
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("attributes #") {
                if let Some((number, content)) = rest.split_once(" = ") {
                    let next = self.attributes.len();
                    let global = *self.attributes.entry(content.to_string()).or_insert(next);
                    attribute_map.insert(number.to_string(), global.to_string());
                }
            } else if let Some(number) = metadata_definition(line) {
                highest = highest.max(number + 1);
            }
        }
        self.next_metadata = base + highest;

        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            let skip_header = ["; ModuleID", "source_filename", "target datalayout", "target triple"];
            if skip_header.iter().any(|p| line.starts_with(p)) {
                if line.starts_with("target") {
                    let header = self.header.get_or_insert_with(String::new);
                    if !header.contains(line) {
                        header.push_str(line);
                        header.push('\n');
                    }
                }
                continue;
            }
            if line.starts_with("attributes #") {
                continue;
            }
            if line.starts_with("; Function Attrs:") && lines.peek().is_some_and(|next| next.starts_with("declare ")) {
                continue;
            }
            let line = renumber(line, &attribute_map, base);
            if line.starts_with("declare ") {
                if let Some(symbol) = symbol_of(&line) {
                    self.declarations.entry(symbol).or_insert(line);
                }
                continue;
            }
            if line.starts_with("define ")
                && let Some(symbol) = symbol_of(&line)
            {
                self.defined.insert(symbol);
            }
            if line.starts_with('!') {
                self.metadata_line(&line);
                continue;
            }
            self.body.push_str(&line);
            self.body.push('\n');
        }
    }

    /// Numbered metadata is kept; named metadata is merged across modules, and module
    /// flags are deduplicated by content (a module may state each flag once).
    fn metadata_line(&mut self, line: &str) {
        let Some((name, value)) = line.split_once(" = ") else { return };
        if name[1..].starts_with(|c: char| c.is_ascii_digit()) {
            self.metadata.push(line.to_string());
            return;
        }
        let operands = value.trim_start_matches("!{").trim_end_matches('}');
        let operands: Vec<String> = operands.split(", ").filter(|o| !o.is_empty()).map(str::to_string).collect();
        if name == "!llvm.module.flags" {
            for operand in operands {
                let content = self.metadata_content(&operand);
                self.module_flags.entry(content).or_insert(operand);
            }
        } else {
            self.named_metadata.entry(name.to_string()).or_default().extend(operands);
        }
    }

    fn metadata_content(&self, reference: &str) -> String {
        let prefix = format!("{reference} = ");
        self.metadata.iter().find_map(|l| l.strip_prefix(&prefix)).unwrap_or(reference).to_string()
    }

    fn finish(mut self) -> String {
        let mut out = String::from("; mini program: one module assembled from per-file sections\n");
        out.push_str(self.header.as_deref().unwrap_or(""));
        out.push('\n');
        out.push_str(&self.body);
        out.push_str("; ==== DECLARATIONS ====\n");
        for (symbol, line) in &self.declarations {
            if !self.defined.contains(symbol) {
                let _ = writeln!(out, "{line}");
            }
        }
        let mut attributes: Vec<(&String, &usize)> = self.attributes.iter().collect();
        attributes.sort_by_key(|&(_, n)| *n);
        if !attributes.is_empty() {
            out.push('\n');
        }
        for (content, number) in attributes {
            let _ = writeln!(out, "attributes #{number} = {content}");
        }
        if !self.module_flags.is_empty() {
            let mut flags: Vec<&String> = self.module_flags.values().collect();
            flags.sort();
            let flags: Vec<&str> = flags.iter().map(|s| s.as_str()).collect();
            self.named_metadata.insert("!llvm.module.flags".into(), flags.iter().map(|s| s.to_string()).collect());
        }
        if !self.named_metadata.is_empty() || !self.metadata.is_empty() {
            out.push('\n');
        }
        for (name, operands) in &self.named_metadata {
            let _ = writeln!(out, "{name} = !{{{}}}", operands.join(", "));
        }
        for line in &self.metadata {
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

/// `!N = …` defines metadata node N.
fn metadata_definition(line: &str) -> Option<usize> {
    let rest = line.strip_prefix('!')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || !rest[digits.len()..].starts_with(" = ") {
        return None;
    }
    digits.parse().ok()
}

/// The quoted or bare symbol after `@` in a define or declare line.
fn symbol_of(line: &str) -> Option<String> {
    let at = line.find('@')?;
    let rest = &line[at + 1..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.find('"').map(|end| format!("\"{}\"", &quoted[..end]));
    }
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '$')).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Rewrites attribute group references (`#N`) and metadata references (`!N`) outside
/// string literals.
fn renumber(line: &str, attributes: &HashMap<String, String>, metadata_base: usize) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut chars = line.char_indices().peekable();
    let mut in_string = false;
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            in_string = !in_string;
            out.push(c);
            continue;
        }
        if !in_string && (c == '#' || c == '!') {
            let digits: String = line[i + 1..].chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                let replaced = if c == '#' {
                    attributes.get(&digits).cloned().unwrap_or(digits.clone())
                } else {
                    (digits.parse::<usize>().unwrap_or(0) + metadata_base).to_string()
                };
                out.push(c);
                out.push_str(&replaced);
                for _ in 0..digits.len() {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_renumbered_outside_strings() {
        let attributes = HashMap::from([("0".to_string(), "3".to_string())]);
        assert_eq!(
            renumber(r#"define i32 @"a#0!1"() #0 !dbg !4 {"#, &attributes, 10),
            r#"define i32 @"a#0!1"() #3 !dbg !14 {"#
        );
    }
}
