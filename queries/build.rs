//! Exposes a hash of this crate's sources as `MINI_SOURCE_HASH`. It is part of every
//! cache key, so a compiler whose code generation changed never reuses old objects.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src");
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    files.sort();
    let mut hasher = blake3::Hasher::new();
    for file in &files {
        let text = std::fs::read(file).expect("source files are readable");
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(&text);
    }
    let hash = hasher.finalize().to_hex();
    // The LLVM the compiler links against, as llvm-sys found it.
    let llvm = std::process::Command::new(
        std::env::var("LLVM_SYS_140_PREFIX").map_or("llvm-config".into(), |p| format!("{p}/bin/llvm-config")),
    )
    .arg("--version")
    .output()
    .ok()
    .and_then(|out| String::from_utf8(out.stdout).ok())
    .map(|v| v.trim().to_string())
    .filter(|v| !v.is_empty())
    .unwrap_or_else(|| "14".to_string());
    println!("cargo:rustc-env=MINI_LLVM_VERSION={llvm}");
    println!("cargo:rustc-env=MINI_SOURCE_HASH={}", &hash[..16]);
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entries are readable").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
