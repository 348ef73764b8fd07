//! Writing build outputs (executables, objects, text): checking the path the user gave,
//! creating its directory, and replacing the file atomically without ever leaving a
//! temporary file behind.
//!
//! Every output goes to `NAME.tmp<PID>` next to it and is renamed into place, so a
//! reader (or a killed build) sees the old file or the new one, never half of one. A
//! `Temp` removes its file when dropped unless it was renamed, so no error path can
//! forget it; and errors name the user's path, never the temporary one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Checks that `path` can be an output file: not a directory (existing, or spelled with
/// a trailing `/`); creates its parent directories when they are missing.
pub fn prepare(path: &Path) -> Result<()> {
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") || path.is_dir() {
        bail!("cannot write the output to '{}': it is a directory (give a file path)", path.display());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| {
            format!("cannot create the directory '{}' for the output '{}'", parent.display(), path.display())
        })?;
    }
    Ok(())
}

/// A temporary path next to `path`, unique to this process.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// A temporary file that is removed when dropped, unless `persist` renamed it into place.
pub struct Temp {
    path: PathBuf,
    target: PathBuf,
    persisted: bool,
}

impl Temp {
    /// A temporary name for `target`, after checking `target` with `prepare`. Nothing is
    /// created yet: the caller (or a linker it runs) writes `path()`.
    pub fn for_output(target: &Path) -> Result<Temp> {
        prepare(target)?;
        Ok(Temp { path: temp_sibling(target), target: target.to_path_buf(), persisted: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary file onto the target.
    pub fn persist(mut self) -> Result<()> {
        std::fs::rename(&self.path, &self.target)
            .with_context(|| format!("cannot write the output to '{}'", self.target.display()))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `path` so that readers see the old contents or the new, never a
/// mix; `executable` gives the file execute permission.
pub fn write_atomically(path: &Path, bytes: &[u8], executable: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temp = Temp::for_output(path)?;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if executable { 0o755 } else { 0o644 })
            .open(temp.path())?;
        file.write_all(bytes)
    };
    write().with_context(|| format!("cannot write the output to '{}'", path.display()))?;
    temp.persist()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_file_that_is_not_persisted_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let temp = Temp::for_output(&target).unwrap();
        std::fs::write(temp.path(), b"partial").unwrap();
        drop(temp);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file_and_names_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let temp = Temp::for_output(&target).unwrap();
        std::fs::write(temp.path(), b"complete").unwrap();
        // The target becomes a non-empty directory after the check: the rename fails.
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"").unwrap();
        let error = format!("{:#}", temp.persist().unwrap_err());
        assert!(error.starts_with(&format!("cannot write the output to '{}'", target.display())), "{error}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["out"]);
    }
}
