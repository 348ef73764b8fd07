//! What `mini --version` says: the crate's version, the git commit it was built from
//! (when it was built from a git checkout; `build.rs` finds it), and the LLVM version
//! that generates its code.

use std::sync::LazyLock;

pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let llvm = mini_queries::base::llvm_version();
    match option_env!("MINI_GIT_COMMIT") {
        Some(commit) => format!("{} (commit {commit}, LLVM {llvm})", env!("CARGO_PKG_VERSION")),
        None => format!("{} (LLVM {llvm})", env!("CARGO_PKG_VERSION")),
    }
});
