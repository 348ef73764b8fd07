//! Inputs: source files, the workspace (which files exist, which one is the entry) and
//! the build settings. Only the shell sets them, and only when a value really changed:
//! salsa setters do not compare, so every set starts a new revision.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::base::{Encode, Encoder, Hash, Import, ModulePath, Name, Note, Signature, Span};

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
/// text: what it imports, each function's signature and hash, and the file's warnings.
/// The shell builds it from the on-disk index and only uses it when the file's content
/// hash, the build settings and the interfaces of the files it imports are all unchanged
/// — the inputs that determine those hashes, and those warnings.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FileSummary {
    pub imports: Arc<[Import]>,
    /// In source order.
    pub functions: Vec<SummaryFunction>,
    /// The file's warnings, in file order, so that a build that does not check the file
    /// reports them all the same.
    pub warnings: Vec<SummaryWarning>,
    /// Indices into `functions`, sorted by name, for lookups.
    by_name: Vec<u32>,
}

/// A warning as a summary records it: where it is in the file's text (absolute byte
/// offsets, notes too) and what it says.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SummaryWarning {
    pub span: Span,
    pub message: String,
    pub notes: Vec<Note>,
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
    pub fn new(imports: Arc<[Import]>, functions: Vec<SummaryFunction>, warnings: Vec<SummaryWarning>) -> FileSummary {
        let mut by_name: Vec<u32> = (0..functions.len() as u32).collect();
        by_name.sort_by(|&a, &b| functions[a as usize].name.cmp(&functions[b as usize].name));
        FileSummary { imports, functions, warnings, by_name }
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
        CodegenSettings { opt_level: 0, target: crate::base::host_triple().into(), debug_info: false }
    }
}

impl Encode for CodegenSettings {
    fn encode(&self, e: &mut Encoder) {
        e.u8(self.opt_level).str(&self.target).u8(u8::from(self.debug_info));
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

/// The build settings. Two fields, so that a query can depend on one alone: the
/// runtime, `_start` and the entry wrapper read only `codegen`. (Each function's code
/// reads both, but `contracts` reaches its hash only if it has contracts.)
#[salsa::input(singleton, debug)]
pub struct BuildSettings {
    #[returns(ref)]
    pub codegen: CodegenSettings,
    #[returns(copy)]
    pub contracts: bool,
}
