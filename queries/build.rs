//! Exposes a hash of the compiler's sources as `MINI_SOURCE_HASH`: this crate's and the
//! code generator's (`../llvm/src`, the `mini-llvm` crate, whose output the keys
//! describe). It is part of every cache key, so a compiler whose code generation changed
//! never reuses old objects. Also the LLVM version and the machine's triple, from
//! `llvm-config`, so that neither needs LLVM at run time. This crate does not link LLVM:
//! only `mini-llvm` does. A build script is not a query: the crate's rules against I/O
//! (`clippy.toml`) do not apply to it.
#![allow(clippy::disallowed_methods, clippy::disallowed_types, clippy::print_stdout)]

use std::path::Path;

/// The sources whose every byte may shape generated code.
const SOURCES: [&str; 2] = ["src", "../llvm/src"];

fn main() {
    let mut files = Vec::new();
    for dir in SOURCES {
        println!("cargo:rerun-if-changed={dir}");
        collect(Path::new(dir), &mut files);
    }
    files.sort();
    let mut hasher = blake3::Hasher::new();
    for file in &files {
        let text = std::fs::read(file).expect("source files are readable");
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(&text);
    }
    let hash = hasher.finalize().to_hex();
    // The LLVM the code generator links against, and the machine's triple as LLVM names
    // it (so that the default settings need no LLVM at run time).
    let llvm = llvm_config_output("--version").unwrap_or_else(|| "14".to_string());
    println!("cargo:rustc-env=MINI_LLVM_VERSION={llvm}");
    let host = llvm_config_output("--host-target").expect("llvm-config --host-target names the machine's triple");
    println!("cargo:rustc-env=MINI_HOST_TRIPLE={host}");
    println!("cargo:rustc-env=MINI_SOURCE_HASH={}", &hash[..16]);
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{} is readable: {e}", dir.display())) {
        let path = entry.expect("directory entries are readable").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// What `llvm-config ARG` prints, trimmed; `None` if it cannot be run or prints nothing.
fn llvm_config_output(arg: &str) -> Option<String> {
    let out = std::process::Command::new(llvm_config()).arg(arg).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn llvm_config() -> String {
    match std::env::var("LLVM_SYS_140_PREFIX") {
        Ok(prefix) => format!("{prefix}/bin/llvm-config"),
        Err(_) if Path::new("/usr/bin/llvm-config-14").exists() => "/usr/bin/llvm-config-14".into(),
        Err(_) => "llvm-config".into(),
    }
}
