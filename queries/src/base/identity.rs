//! Who compiled a cache entry: the compiler's identity, the LLVM it generates code with,
//! and the machine's own target triple — all known when this crate is built, so none of
//! them needs LLVM at run time.

/// Identifies the compiler build: the crate version and a hash of this crate's sources,
/// so that any change to the compiler invalidates every cached object.
pub const COMPILER_ID: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("MINI_SOURCE_HASH"));

/// LLVM's version, part of every cache key.
pub fn llvm_version() -> &'static str {
    env!("MINI_LLVM_VERSION")
}

/// The triple of the machine the compiler was built for, as LLVM names it (the default
/// target of code generation). A test checks it against LLVM's own default triple.
pub fn host_triple() -> &'static str {
    env!("MINI_HOST_TRIPLE")
}

/// Whether mini can generate code for `triple`, decided from the triple alone as LLVM
/// reads it (architecture, vendor, system, environment, by position), so that checking
/// one needs no LLVM: ELF objects for 64-bit x86 and little-endian 64-bit ARM. A target
/// LLVM would take but mini's objects do not fit — 32-bit x86, Mach-O on Apple's
/// systems, COFF on Windows — is refused here rather than failing in code generation.
/// `mini-llvm`'s tests check that LLVM accepts every triple this accepts, and makes ELF
/// objects for it.
pub fn validate_target(triple: &str) -> Result<(), String> {
    let mut parts = triple.split('-');
    let arch = parts.next().unwrap_or_default();
    let (_vendor, os, environment) = (parts.next(), parts.next().unwrap_or_default(), parts.next());
    match arch {
        "x86_64" | "amd64" | "x86_64h" | "aarch64" | "arm64" => {}
        "i386" | "i486" | "i586" | "i686" | "i786" | "i886" | "i986" | "aarch64_be" | "aarch64_32" | "arm64_32" => {
            return Err(format!("'{arch}' is not a 64-bit little-endian x86 or ARM architecture"));
        }
        _ => return Err(format!("No available targets are compatible with triple \"{triple}\"")),
    }
    // LLVM takes the object format from the environment's suffix if it names one, and
    // otherwise from the system.
    let named = environment.and_then(|env| {
        [("xcoff", "XCOFF"), ("coff", "COFF"), ("elf", "ELF"), ("goff", "GOFF"), ("macho", "Mach-O"), ("wasm", "Wasm")]
            .into_iter()
            .find(|(suffix, _)| env.ends_with(suffix))
            .map(|(_, format)| format)
    });
    let apple = ["darwin", "macos", "ios", "tvos", "watchos"].iter().any(|name| os.starts_with(name));
    let windows = os.starts_with("windows") || os.starts_with("win32");
    let format = match named {
        Some(format) => format,
        None if apple => "Mach-O",
        None if windows => "COFF",
        None => "ELF",
    };
    if apple || windows {
        let system = if apple { "Apple's systems" } else { "Windows" };
        return Err(format!("'{triple}' is a target for {system}; mini generates code for ELF systems only"));
    }
    if format != "ELF" {
        return Err(format!("'{triple}' asks for {format} objects; mini generates ELF objects only"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_target;

    #[test]
    fn only_elf_targets_for_64_bit_x86_and_arm_are_valid() {
        for ok in
            ["x86_64-pc-linux-gnu", "x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "arm64-linux", "x86_64"]
        {
            assert_eq!(validate_target(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_target(super::host_triple()), Ok(()));
        for bad in [
            "no-such-target",
            "",
            "riscv64-linux-gnu",
            "i686-unknown-linux-gnu",
            "x86_64-apple-darwin",
            "arm64_32-apple-ios",
            "x86_64-pc-windows-msvc",
            "x86_64-pc-windows-elf",
            "x86_64-unknown-linux-macho",
        ] {
            assert!(validate_target(bad).is_err(), "{bad}");
        }
    }
}
