//! Linking: merging per-function objects into link units (`merge`), the final link —
//! mini's own (`image`), patched in place in watch mode (`incremental`, `copies`), or
//! the system toolchain's.

mod copies;
mod debug;
pub mod image;
pub mod incremental;
mod merge;
mod saved;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub use copies::{Copies, Kept};
pub use merge::merge_objects;

/// The system linker: lld when installed, then gold, then GNU ld. Executables need no C
/// library (the runtime makes system calls itself), so the linker is run directly on
/// the program's objects, with `_start` as the entry point — no compiler driver.
#[derive(Clone, Debug)]
pub struct Linker {
    program: PathBuf,
}

impl Linker {
    pub fn detect() -> Result<Linker> {
        let program = ["ld.lld", "ld.gold", "ld"]
            .iter()
            .find_map(|name| find_in_path(name))
            .context("no linker (ld.lld, ld.gold or ld) found on PATH; install binutils or lld")?;
        if !program.ends_with("ld.lld") && !program.ends_with("ld.gold") {
            tracing::info!("neither lld nor gold found; linking with GNU ld (slower)");
        }
        Ok(Linker { program })
    }

    pub fn describe(&self) -> String {
        self.program.display().to_string()
    }

    /// Links `inputs` into a static executable at `output`, atomically: the executable
    /// appears complete or not at all. With `comp_dir`, its debug information says the
    /// sources are there (see `debug`).
    pub fn link_executable(&self, inputs: &[PathBuf], output: &Path, comp_dir: Option<&Path>) -> Result<()> {
        // Removed on every path that does not rename it into place.
        let temp = crate::output::Temp::for_output(output)?;
        let mut command = Command::new(&self.program);
        command.args(["-static", "-e", "_start", "-z", "noexecstack", "-o"]).arg(temp.path()).args(inputs);
        tracing::debug!(?command, "linking");
        let result = command.output().with_context(|| format!("running {}", self.program.display()))?;
        if !result.status.success() {
            bail!("the linker failed ({}):\n{}", result.status, String::from_utf8_lossy(&result.stderr).trim_end());
        }
        if let Some(dir) = comp_dir {
            // Debug information that does not say where the sources are still works from
            // that directory: a warning, not a failed build.
            if let Err(e) = debug::set_comp_dir(temp.path(), dir) {
                tracing::warn!("cannot record the sources' directory in {}: {e:#}", output.display());
            }
        }
        temp.persist()
    }
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
