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
    /// The linker and arguments `driver` would run, learned once with `-###`, with
    /// placeholders for the inputs and the output (see `direct_command`).
    direct: Option<(PathBuf, Vec<String>)>,
}

const INPUT_PLACEHOLDER: &str = "mini-link-inputs.o";
const OUTPUT_PLACEHOLDER: &str = "mini-link-output";

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
        let mut linker = Linker { driver, fuse_ld, direct: None };
        linker.direct = linker.direct_command();
        Ok(linker)
    }

    pub fn describe(&self) -> &'static str {
        self.fuse_ld.unwrap_or("ld")
    }

    fn driver_command(&self, inputs: &[PathBuf], output: &Path) -> Command {
        let mut command = Command::new(&self.driver);
        command.arg("-o").arg(output).args(inputs);
        if let Some(linker) = self.fuse_ld {
            command.arg(format!("-fuse-ld={linker}"));
        }
        command
    }

    /// The linker command the driver would run (`cc -###` prints it): running the
    /// linker directly saves the driver's and collect2's start-up, about a third of
    /// the final link of a large program. `None` if it cannot be worked out; then
    /// links go through the driver.
    fn direct_command(&self) -> Option<(PathBuf, Vec<String>)> {
        let mut command = self.driver_command(&[PathBuf::from(INPUT_PLACEHOLDER)], Path::new(OUTPUT_PLACEHOLDER));
        let out = command.arg("-###").output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text.lines().find(|l| l.trim_start().contains("collect2") || l.contains(" -dynamic-linker "))?;
        let mut words = split_command_line(line.trim());
        words.remove(0);
        // Options only collect2 (the LTO plugin) understands.
        let mut args = Vec::with_capacity(words.len());
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            if word == "-plugin" {
                words.next();
            } else if !word.starts_with("-plugin-opt=") && !word.starts_with("-fuse-ld=") {
                args.push(word);
            }
        }
        if !args.iter().any(|a| a == INPUT_PLACEHOLDER) || !args.iter().any(|a| a == OUTPUT_PLACEHOLDER) {
            return None;
        }
        let program = match self.fuse_ld {
            Some("lld") => find_in_path("ld.lld")?,
            Some("gold") => find_in_path("ld.gold")?,
            _ => find_in_path("ld")?,
        };
        Some((program, args))
    }

    /// Links `inputs` into an executable at `output`, atomically: the executable
    /// appears complete or not at all.
    pub fn link_executable(&self, inputs: &[PathBuf], output: &Path) -> Result<()> {
        let temp = temp_sibling(output);
        let result = match &self.direct {
            Some((program, args)) => {
                let mut command = Command::new(program);
                for arg in args {
                    match arg.as_str() {
                        INPUT_PLACEHOLDER => command.args(inputs),
                        OUTPUT_PLACEHOLDER => command.arg(&temp),
                        _ => command.arg(arg),
                    };
                }
                tracing::debug!(?command, "linking");
                let direct = command.output().with_context(|| format!("running {}", program.display()))?;
                if direct.status.success() {
                    direct
                } else {
                    tracing::warn!("the direct link failed; linking through {}", self.driver.display());
                    self.driver_command(inputs, &temp).output()?
                }
            }
            None => {
                let mut command = self.driver_command(inputs, &temp);
                tracing::debug!(?command, "linking");
                command.output().with_context(|| format!("running {}", self.driver.display()))?
            }
        };
        if !result.status.success() {
            let _ = std::fs::remove_file(&temp);
            bail!("the linker failed ({}):\n{}", result.status, String::from_utf8_lossy(&result.stderr).trim_end());
        }
        std::fs::rename(&temp, output).with_context(|| format!("writing {}", output.display()))?;
        Ok(())
    }
}

/// Splits a command line as `cc -###` prints it: words separated by spaces, some in
/// double quotes with `\"` and `\\` escaped.
fn split_command_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => word.extend(chars.next()),
                    '"' => break,
                    _ => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
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

#[cfg(test)]
mod tests {
    use super::split_command_line;

    #[test]
    fn driver_command_lines_are_split_like_a_shell_would() {
        assert_eq!(
            split_command_line(r#" /x/collect2 -plugin /p.so "-plugin-opt=a b" -o OUT "q\"uote" IN.o"#),
            ["/x/collect2", "-plugin", "/p.so", "-plugin-opt=a b", "-o", "OUT", "q\"uote", "IN.o"]
        );
    }
}
