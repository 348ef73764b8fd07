//! Linking: merging per-function objects into link units, and the final link through
//! the system toolchain.

mod merge;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub use merge::merge_objects;

/// The system linker driver (`cc`) and the fastest linker it can use here.
#[derive(Clone, Debug)]
pub struct Linker {
    driver: PathBuf,
    /// `lld` or `gold` when installed; `None` for the driver's default (GNU ld).
    fuse_ld: Option<&'static str>,
}

impl Linker {
    /// Finds `cc` and the best linker on `PATH`: lld, then gold, then the default.
    pub fn detect() -> Result<Linker> {
        let driver = find_in_path("cc")
            .or_else(|| find_in_path("gcc"))
            .or_else(|| find_in_path("clang"))
            .context("no C compiler driver (cc, gcc or clang) found on PATH; it is needed to link executables")?;
        let fuse_ld = if find_in_path("ld.lld").is_some() {
            Some("lld")
        } else if find_in_path("ld.gold").is_some() {
            Some("gold")
        } else {
            tracing::info!("neither lld nor gold found; linking with the default linker (slower)");
            None
        };
        Ok(Linker { driver, fuse_ld })
    }

    pub fn describe(&self) -> &'static str {
        self.fuse_ld.unwrap_or("ld")
    }

    /// Links `inputs` into an executable at `output`, atomically: the executable
    /// appears complete or not at all.
    pub fn link_executable(&self, inputs: &[PathBuf], output: &Path) -> Result<()> {
        let temp = temp_sibling(output);
        let mut command = Command::new(&self.driver);
        command.arg("-o").arg(&temp).args(inputs);
        if let Some(linker) = self.fuse_ld {
            command.arg(format!("-fuse-ld={linker}"));
        }
        tracing::debug!(?command, "linking");
        let result = command.output().with_context(|| format!("running {}", self.driver.display()))?;
        if !result.status.success() {
            let _ = std::fs::remove_file(&temp);
            bail!("the linker failed ({}):\n{}", result.status, String::from_utf8_lossy(&result.stderr).trim_end());
        }
        std::fs::rename(&temp, output).with_context(|| format!("writing {}", output.display()))?;
        Ok(())
    }
}

/// A temporary path next to `path`, unique to this process.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
