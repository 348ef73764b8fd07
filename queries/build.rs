//! Exposes a hash of this crate's sources as `MINI_SOURCE_HASH`. It is part of every
//! cache key, so a compiler whose code generation changed never reuses old objects.
//! Also finds and links LLVM. A build script is not a query: the crate's rules against
//! I/O (`clippy.toml`) do not apply to it.
#![allow(clippy::disallowed_methods, clippy::disallowed_types, clippy::print_stdout)]

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
    // The LLVM the compiler links against, and the machine's triple as LLVM names it (so
    // that the default settings need no LLVM at run time).
    let llvm = llvm_config_output("--version").unwrap_or_else(|| "14".to_string());
    println!("cargo:rustc-env=MINI_LLVM_VERSION={llvm}");
    let host = llvm_config_output("--host-target").expect("llvm-config --host-target names the machine's triple");
    println!("cargo:rustc-env=MINI_HOST_TRIPLE={host}");
    link_llvm();
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

/// Links LLVM. Statically when its static libraries are installed: a process that links
/// the shared libLLVM spends ~17 ms in LLVM's static constructors before `main`, which
/// would dominate a no-op build. Only the components code generation uses are linked
/// (Polly, whose static library Debian ships separately, is left out: nothing here uses
/// it). Falls back to the shared library otherwise, or when MINI_LLVM_DYNAMIC is set.
fn link_llvm() {
    println!("cargo:rerun-if-env-changed=MINI_LLVM_DYNAMIC");
    let config = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new(llvm_config()).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let libdir = config(&["--libdir"]).expect("llvm-config --libdir");
    println!("cargo:rustc-link-search=native={libdir}");
    // Every component (inkwell's bindings reference many), without Polly; the linker
    // only pulls in the archive members that are actually used.
    let static_libs: Vec<String> = config(&["--link-static", "--libs"])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|flag| flag.strip_prefix("-l"))
        .filter(|lib| !lib.starts_with("Polly"))
        .map(str::to_string)
        .collect();
    let all_present = !static_libs.is_empty()
        && static_libs.iter().all(|lib| Path::new(&libdir).join(format!("lib{lib}.a")).exists());
    if all_present && std::env::var_os("MINI_LLVM_DYNAMIC").is_none() {
        for lib in &static_libs {
            println!("cargo:rustc-link-lib=static={lib}");
        }
        let system = config(&["--link-static", "--system-libs"]).unwrap_or_default();
        for flag in system.split_whitespace() {
            if let Some(lib) = flag.strip_prefix("-l") {
                println!("cargo:rustc-link-lib=dylib={lib}");
            } else if flag.ends_with(".so") {
                // A full path (libz3): only needed by components we do not link.
                continue;
            }
        }
        println!("cargo:rustc-link-lib=dylib=stdc++");
    } else {
        let version = config(&["--version"]).unwrap_or_else(|| "14".into());
        let major = version.split('.').next().unwrap_or("14");
        println!("cargo:rustc-link-lib=dylib=LLVM-{major}");
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
