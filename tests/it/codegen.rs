//! The code generator outside `mini`: `mini` links no LLVM, starts `mini-codegen` only
//! when a build must generate code, refuses a helper that is not its own, and says
//! where it looked when there is none. Targets LLVM would take but mini's objects do not
//! fit are errors, not crashes.

use std::path::Path;
use std::process::{Command, Output};

use object::{Object as _, ObjectSymbol as _};

use crate::support::{Project, settle, stderr, stdout};

fn mini_with_codegen(dir: &Path, codegen: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(args)
        .current_dir(dir)
        .env_remove("MINI_LOG")
        .env_remove("MINI_REMOTE_CACHE")
        .env("MINI_CODEGEN", codegen)
        .output()
        .expect("the mini binary runs")
}

#[track_caller]
fn assert_status(out: &Output, status: i32) {
    assert_eq!(out.status.code(), Some(status), "stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
}

/// The point of the helper: starting `mini` must not load LLVM. Its executable has no
/// LLVM code in it and loads no C++ runtime; the helper has both.
#[test]
fn the_mini_executable_contains_no_llvm() {
    let llvm_symbols = |path: &str| {
        let bytes = std::fs::read(path).expect("the executable is readable");
        let file = object::File::parse(&*bytes).expect("an ELF executable");
        let names: Vec<String> = file.symbols().filter_map(|s| s.name().ok().map(str::to_string)).collect();
        let libraries: Vec<String> = file
            .imports()
            .unwrap_or_default()
            .iter()
            .map(|i| String::from_utf8_lossy(i.library()).into_owned())
            .collect();
        let llvm = names.iter().filter(|n| n.starts_with("LLVM") || n.starts_with("_ZN4llvm")).count();
        (llvm, libraries)
    };
    let (in_mini, libraries) = llvm_symbols(env!("CARGO_BIN_EXE_mini"));
    assert_eq!(in_mini, 0, "LLVM symbols in mini");
    assert!(!libraries.iter().any(|l| l.contains("LLVM") || l.contains("stdc++")), "{libraries:?}");
    let (in_helper, _) = llvm_symbols(env!("CARGO_BIN_EXE_mini-codegen"));
    assert!(in_helper > 1000, "the helper links LLVM: {in_helper} symbols");
}

/// With no code generator anywhere, everything that generates no code still works — a
/// no-op build, a comment edit, `check`, `explain`, `--version` — and the first build
/// that needs code says what is missing (status 2, not a crash).
#[test]
fn only_a_build_that_generates_code_needs_the_code_generator() {
    let project = Project::new(
        "//- main.mini\nimport \"lib.mini\" as lib;\nfn main() i32 {\n    return lib.f(1);\n}\n\
         //- lib.mini\n// one\npub fn f(x: i32) i32 {\n    return x + 1;\n}\n",
    );
    let dir = project.dir.path();
    assert_status(&crate::support::mini(dir, &["build", "-q"]), 0);
    let missing = dir.join("no-such-codegen").to_string_lossy().into_owned();
    settle(dir);
    assert_status(&mini_with_codegen(dir, &missing, &["build", "-q"]), 0);
    project.edit("lib.mini", "// one", "// two");
    let out = mini_with_codegen(dir, &missing, &["build", "--message-format", "json"]);
    assert_status(&out, 0);
    assert!(stdout(&out).contains(r#""compiled":[]"#), "{}", stdout(&out));
    assert_status(&mini_with_codegen(dir, &missing, &["check", "-q"]), 0);
    assert_status(&mini_with_codegen(dir, &missing, &["explain"]), 0);
    assert_status(&mini_with_codegen(dir, &missing, &["--version"]), 0);

    project.edit("lib.mini", "x + 1", "x + 2");
    let out = mini_with_codegen(dir, &missing, &["build", "-q"]);
    assert_status(&out, 2);
    assert_eq!(stderr(&out), format!("mini: error: MINI_CODEGEN names {missing}, which is not a file\n"));
    // Nothing was recorded as built: with the code generator, the edit compiles.
    let out = crate::support::mini(dir, &["build", "--message-format", "json"]);
    assert_status(&out, 0);
    assert!(stdout(&out).contains(r#""compiled":["lib.f"]"#), "{}", stdout(&out));
    assert_eq!(project.run(), ("".to_string(), 3));
}

/// A program that is not mini's code generator — one that echoes what it reads, one
/// that exits at once — is refused with a message naming it, never used.
#[test]
fn a_code_generator_that_is_not_minis_is_refused() {
    let project = Project::new("//- main.mini\nfn main() i32 {\n    return 7;\n}\n");
    let dir = project.dir.path();
    for (program, why) in [
        ("/bin/cat", "it does not greet as mini's code generator"),
        ("/bin/true", "the code generator exited (exit status: 0)"),
    ] {
        let out = mini_with_codegen(dir, program, &["build", "-q"]);
        assert_status(&out, 2);
        assert_eq!(stderr(&out), format!("mini: error: {program} is not a code generator mini can use: {why}\n"));
        assert!(!dir.join("main").exists(), "nothing was linked");
    }
}

/// Targets LLVM knows but mini's objects do not fit once crashed code generation (an
/// ELF64 splitter fed 32-bit or COFF objects; LLVM aborting on Mach-O section names).
/// They are refused before anything is built.
#[test]
fn targets_mini_cannot_generate_code_for_are_errors_not_crashes() {
    let project = Project::new("//- main.mini\nfn main() i32 {\n    return 7;\n}\n");
    for (target, why) in [
        ("i686-unknown-linux-gnu", "'i686' is not a 64-bit little-endian x86 or ARM architecture"),
        (
            "x86_64-apple-darwin",
            "'x86_64-apple-darwin' is a target for Apple's systems; mini generates code for ELF systems only",
        ),
        ("arm64_32-apple-ios", "'arm64_32' is not a 64-bit little-endian x86 or ARM architecture"),
        (
            "x86_64-pc-windows-msvc",
            "'x86_64-pc-windows-msvc' is a target for Windows; mini generates code for ELF systems only",
        ),
    ] {
        let out = crate::support::mini(project.dir.path(), &["build", "--target", target, "--emit", "obj"]);
        assert_status(&out, 2);
        let first = stderr(&out).lines().next().unwrap_or_default().to_string();
        assert_eq!(first, format!("mini: error: unsupported target '{target}': {why}"));
    }
}
