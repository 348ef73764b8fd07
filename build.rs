//! Build script of the `mini` binary.

fn main() {
    // A position-dependent executable has no load-time relocations to apply. With LLVM
    // linked in, a PIE spends several milliseconds relocating pointers at every start,
    // which a no-op build would pay each time.
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
