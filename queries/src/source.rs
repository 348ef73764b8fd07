//! Inputs: source files, the workspace (which files exist, which one is the entry) and
//! the build settings. Only the shell sets them, and only when a value really changed:
//! salsa setters do not compare, so every set starts a new revision.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::hash::Hash;
use crate::imports::Import;
use crate::sema::Signature;
use crate::syntax::ast::Name;

/// A module's identity: its normalized path relative to the entry file's directory,
/// with `/` separators (`lib/math.mini`, `../shared/util.mini`). It is the same whoever
/// imports the file, so symbol names and function hashes are too.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModulePath(Arc<str>);

impl ModulePath {
    /// Normalizes a relative path: drops `.` and empty components, folds `name/..`.
    /// Returns `None` for an absolute or empty path.
    pub fn new(path: &str) -> Option<ModulePath> {
        if path.starts_with('/') {
            return None;
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." if parts.last().is_some_and(|p| *p != "..") => {
                    parts.pop();
                }
                _ => parts.push(part),
            }
        }
        if parts.is_empty() || parts.last() == Some(&"..") {
            return None;
        }
        Some(ModulePath(parts.join("/").into()))
    }

    /// A path known to be normalized already (one that `new` returned, stored and read
    /// back); anything else would make a module path that no import resolves to.
    pub fn normalized(path: &str) -> ModulePath {
        debug_assert!(ModulePath::new(path).is_some_and(|p| p.as_str() == path), "{path:?} is not normalized");
        ModulePath(path.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The module path an import written in this module refers to.
    pub fn join(&self, import: &str) -> Option<ModulePath> {
        match self.0.rfind('/') {
            Some(slash) => ModulePath::new(&format!("{}/{import}", &self.0[..slash])),
            None => ModulePath::new(import),
        }
    }

    /// The path without its `.mini` extension: the prefix of qualified function names.
    pub fn without_extension(&self) -> &str {
        self.0.strip_suffix(".mini").unwrap_or(&self.0)
    }

    /// The file name without directory and extension: the default import alias.
    pub fn default_alias(&self) -> &str {
        let stem = self.without_extension();
        stem.rsplit('/').next().unwrap_or(stem)
    }
}

impl fmt::Display for ModulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModulePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// What the shell knows about one file's contents.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum FileContents {
    /// The raw bytes. Not necessarily UTF-8: the lexer reports invalid bytes.
    Text(Arc<[u8]>),
    /// The file could not be read; the text is the reason ("No such file or directory").
    Missing(Arc<str>),
    /// The shell has not read the file: its `summary` stands in for it.
    Unread,
}

/// What a previous build recorded about an error-free file, enough to stand in for its
/// text: what it imports, and each function's signature and hash. The shell builds it
/// from the on-disk index and only uses it when the file's content hash, the build
/// settings and the interfaces of the files it imports are all unchanged — the inputs
/// that determine those hashes.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FileSummary {
    pub imports: Arc<[Import]>,
    /// In source order.
    pub functions: Vec<SummaryFunction>,
    /// Indices into `functions`, sorted by name, for lookups.
    by_name: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SummaryFunction {
    pub name: Name,
    pub signature: Signature,
    pub hash: Hash,
    /// Hashes of what the function says (see `hash::text_hashes`): its signature and
    /// body, and its contracts — for `mini explain` to tell an edit, an edit to
    /// contracts only, and a change elsewhere apart.
    pub zir: Hash,
    pub contracts: Hash,
}

impl FileSummary {
    pub fn new(imports: Arc<[Import]>, functions: Vec<SummaryFunction>) -> FileSummary {
        let mut by_name: Vec<u32> = (0..functions.len() as u32).collect();
        by_name.sort_by(|&a, &b| functions[a as usize].name.cmp(&functions[b as usize].name));
        FileSummary { imports, functions, by_name }
    }

    pub fn function(&self, name: &str) -> Option<&SummaryFunction> {
        let index = self.by_name.binary_search_by(|&i| (*self.functions[i as usize].name).cmp(name)).ok()?;
        Some(&self.functions[self.by_name[index] as usize])
    }
}

/// A source file. Its text and its summary are separate fields so that queries over the
/// whole program, which only ask whether a file has a summary, do not depend on — and
/// are not re-run by — edits to its text.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: ModulePath,
    #[returns(ref)]
    pub contents: FileContents,
    /// Set when the file is unchanged since a previous, successful build recorded this
    /// summary, and so is everything its functions' hashes depend on; `contents` is then
    /// `Unread`.
    #[returns(ref)]
    pub summary: Option<Arc<FileSummary>>,
}

/// The set of known files and which one is the program's entry. The file map holds
/// every file the shell has read for this program, including missing ones.
#[salsa::input(singleton, debug)]
pub struct Workspace {
    #[returns(copy)]
    pub entry: SourceFile,
    #[returns(ref)]
    pub files: Arc<BTreeMap<ModulePath, SourceFile>>,
}

/// Settings that change every function's generated code. Part of every function hash.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CodegenSettings {
    /// 0 to 3, as `-O`.
    pub opt_level: u8,
    /// An LLVM target triple.
    pub target: Arc<str>,
    /// Emit DWARF line information.
    pub debug_info: bool,
}

impl CodegenSettings {
    pub fn host() -> CodegenSettings {
        CodegenSettings { opt_level: 0, target: crate::codegen::host_triple().into(), debug_info: false }
    }
}

/// All of a build's settings, as the shell holds them: they key the on-disk index.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Settings {
    pub codegen: CodegenSettings,
    /// Check `requires`/`ensures` at run time.
    pub contracts: bool,
}

impl Settings {
    /// This machine, `-O0`, contracts on.
    pub fn host() -> Settings {
        Settings { codegen: CodegenSettings::host(), contracts: contracts_by_default(0) }
    }
}

/// Whether contracts are checked when `--contracts` does not say: at `-O0` and `-O1`.
pub fn contracts_by_default(opt_level: u8) -> bool {
    opt_level <= 1
}

/// The build settings. Two fields, so that a query can depend on one alone: every
/// function's code reads `codegen`, but only functions that have contracts read
/// `contracts` — switching contracts re-runs nothing for the others.
#[salsa::input(singleton, debug)]
pub struct BuildSettings {
    #[returns(ref)]
    pub codegen: CodegenSettings,
    #[returns(copy)]
    pub contracts: bool,
}

#[cfg(test)]
mod tests {
    use super::ModulePath;

    #[test]
    fn module_paths_are_normalized() {
        let main = ModulePath::new("main.mini").unwrap();
        assert_eq!(main.join("./lib/../lib/m.mini").unwrap().as_str(), "lib/m.mini");
        let lib = ModulePath::new("lib/m.mini").unwrap();
        assert_eq!(lib.join("../x.mini").unwrap().as_str(), "x.mini");
        assert_eq!(lib.join("../../up.mini").unwrap().as_str(), "../up.mini");
        assert_eq!(lib.join("m.mini").unwrap(), lib);
        assert!(main.join("/abs.mini").is_none());
        assert_eq!(lib.default_alias(), "m");
        assert_eq!(lib.without_extension(), "lib/m");
    }
}
