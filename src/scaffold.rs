//! `mini new`: a project directory that builds and runs as it is.

use std::path::Path;

use anyhow::{Context, Result, bail};

const MAIN: &str = "\
// A new mini program: `mini run` builds and runs it, `mini build` writes `./main`.
// See the language reference (docs/language.md in mini's repository) for more.

fn main() i32 {
    var i: i32 = 1;
    while (i <= 3) {
        @print(i * i);
        i += 1;
    }
    return 0;
}
";

const GITIGNORE: &str = "\
# mini's build cache, and the executable `mini build` writes.
.mini_cache/
/main
";

/// Creates `path` (or fills it, if it is an empty directory) with `main.mini` and
/// `.gitignore`. Returns a description of what was made.
pub fn new_project(path: &Path) -> Result<String> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("cannot create a project in '{}': the directory exists and is not empty", path.display());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) if path.exists() => {
            bail!("cannot create a project at '{}': it exists and is not a directory", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read '{}'", path.display())),
    }
    std::fs::create_dir_all(path).with_context(|| format!("cannot create the directory '{}'", path.display()))?;
    for (name, text) in [("main.mini", MAIN), (".gitignore", GITIGNORE)] {
        let file = path.join(name);
        std::fs::write(&file, text).with_context(|| format!("cannot write '{}'", file.display()))?;
    }
    Ok(format!("'{}' with main.mini and .gitignore", path.display()))
}
