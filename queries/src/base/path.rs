//! Module paths: a module's identity, relative to the entry file's directory.

use std::fmt;
use std::sync::Arc;

use super::encoding::{Decode, DecodeError, Decoder, Encode, Encoder};

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

impl Encode for ModulePath {
    fn encode(&self, e: &mut Encoder) {
        e.str(self.as_str());
    }
}

impl Decode for ModulePath {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let text = d.str()?;
        // Only a normalized path was encoded; anything else names no module.
        ModulePath::new(text).filter(|path| path.as_str() == text).ok_or_else(|| d.error("a module path"))
    }
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
