//! Links LLVM into this crate, the only one that uses it (the `mini` shell does not: it
//! runs this crate's code in the `mini-codegen` helper process, started only when code
//! must be generated).
#![allow(clippy::print_stdout)]

use std::path::Path;

fn main() {
    link_llvm();
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

fn llvm_config() -> String {
    match std::env::var("LLVM_SYS_140_PREFIX") {
        Ok(prefix) => format!("{prefix}/bin/llvm-config"),
        Err(_) if Path::new("/usr/bin/llvm-config-14").exists() => "/usr/bin/llvm-config-14".into(),
        Err(_) => "llvm-config".into(),
    }
}
