//! Build script of the `mini` binary.

#[path = "src/identity.rs"]
mod identity;

fn main() {
    // A position-dependent executable has no load-time relocations to apply. With LLVM
    // linked in, a PIE spends several milliseconds relocating pointers at every start,
    // which a no-op build would pay each time.
    println!("cargo:rustc-link-arg-bins=-no-pie");

    // The shell's part of every cache key (see `src/identity.rs`).
    for file in identity::SHAPING_SOURCES {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=src/identity.rs");
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let hash = identity::shell_hash(&root).expect("the shell's sources are readable");
    println!("cargo:rustc-env=MINI_SHELL_HASH={hash}");
}
