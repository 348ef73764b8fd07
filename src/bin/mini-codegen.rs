//! `mini-codegen`: mini's code generator as a process of its own — the only executable
//! that links LLVM. `mini` starts it when a build first needs code and talks to it over
//! its standard input and output (`mini_llvm::serve`); it exits when that input closes.
//! Installed next to `mini` (`cargo install --path .` installs both).

fn main() -> std::process::ExitCode {
    // The allocator and pages `mini` uses (`mini::process`): LLVM allocates heavily.
    mini::process::no_huge_pages();
    std::process::ExitCode::from(mini_llvm::serve::serve() as u8)
}
