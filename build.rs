//! Build script of the `mini` binary: linker settings, and the git commit for
//! `mini --version`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/cache/identity.rs"]
mod identity;

fn main() {
    // A position-dependent executable has no load-time relocations to apply. With LLVM
    // linked in, a PIE spends several milliseconds relocating pointers at every start,
    // which a no-op build would pay each time.
    println!("cargo:rustc-link-arg-bins=-no-pie");

    // The shell's part of every cache key (see `src/cache/identity.rs`).
    for file in identity::SHAPING_SOURCES.iter().chain(identity::LINKER_SOURCES) {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=src/cache/identity.rs");
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let hash = identity::shell_hash(&root).expect("the shell's sources are readable");
    println!("cargo:rustc-env=MINI_SHELL_HASH={hash}");
    let hash = identity::linker_hash(&root).expect("the linker's sources are readable");
    println!("cargo:rustc-env=MINI_LINKER_HASH={hash}");
    git_commit();
}

/// Sets `MINI_GIT_COMMIT` when this crate is the top of a git checkout. A tarball (no
/// `.git`, or no git) builds too, without it; a tarball unpacked inside some other
/// repository must not take that repository's commit, hence the top-level check.
fn git_commit() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).current_dir(&manifest_dir).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else { return };
    if !same_dir(Path::new(&top), &manifest_dir) {
        return;
    }
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else { return };
    println!("cargo:rustc-env=MINI_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it names (a commit),
    // and packed refs. Only files that exist: cargo reruns a script forever otherwise.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = manifest_dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
