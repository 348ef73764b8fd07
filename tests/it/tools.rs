//! Executables that tools can read: symbols for `nm` and `objdump` from mini's own
//! linker, and `-g` executables whose sources gdb finds from any directory, while the
//! cached objects stay free of absolute paths.

use std::path::Path;
use std::process::{Command, Output};

use object::{Object, ObjectSection};

use crate::support::{mini, stderr, stdout, write};

const MAIN: &str = "import \"lib/m.mini\";\n\nfn main() i32 {\n    @print(m.sq(3));\n    return 0;\n}\n";
const LIB: &str = "pub fn sq(x: i32) i32 {\n    return x * x;\n}\n";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    write(dir.path(), "main.mini", MAIN);
    write(dir.path(), "lib/m.mini", LIB);
    dir
}

#[track_caller]
fn succeeded(out: Output) -> String {
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tool(program: &str, args: &[&str], dir: &Path) -> String {
    succeeded(Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{program}: {e}")))
}

#[test]
fn own_linker_executables_list_their_functions_for_nm_and_objdump() {
    let dir = project();
    let out = Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["build", "-o", "prog"])
        .current_dir(dir.path())
        .env("MINI_LINKER", "own")
        .env_remove("MINI_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(dir.path().join("prog")).unwrap();
    let image = object::File::parse(&*bytes).expect("an ELF file");
    let text = image.section_by_name(".text").expect("a .text section");
    let text_range = text.address()..text.address() + text.size();

    // nm: name -> (address, kind), for the functions.
    let listing = tool("nm", &["prog"], dir.path());
    let functions: Vec<(u64, &str, &str)> = listing
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let address = u64::from_str_radix(parts.next()?, 16).ok()?;
            Some((address, parts.next()?, parts.next()?))
        })
        .filter(|(_, kind, _)| kind.eq_ignore_ascii_case("t"))
        .collect();
    for name in ["mini:main.mini:main", "mini:lib/m.mini:sq", "_start", "mini_rt_print_i32"] {
        let Some(&(address, kind, _)) = functions.iter().find(|f| f.2 == name) else {
            panic!("{name} is not listed by nm:\n{listing}")
        };
        assert!(text_range.contains(&address), "{name} at {address:#x}, outside .text {text_range:x?}");
        if name != "mini_rt_print_i32" {
            assert_eq!(kind, "T", "{name}");
        }
    }
    let start = functions.iter().find(|f| f.2 == "_start").unwrap().0;
    assert_eq!(start, image.entry(), "_start is the entry point");

    // objdump disassembles a function by its name: sq multiplies and returns.
    let listing = tool("objdump", &["-d", "--disassemble=mini:lib/m.mini:sq", "prog"], dir.path());
    let sq = functions.iter().find(|f| f.2 == "mini:lib/m.mini:sq").unwrap().0;
    assert!(listing.contains(&format!("{sq:016x} <mini:lib/m.mini:sq>:")), "{listing}");
    assert!(listing.contains("imul") && listing.contains("ret"), "{listing}");
    assert!(!listing.contains("<mini:main.mini:main>:"), "only the function asked for:\n{listing}");
}

/// gdb in batch mode, started in `cwd`, on `program`.
fn gdb(cwd: &Path, program: &Path, commands: &[&str]) -> String {
    let mut args = vec!["-batch", "-nx"];
    for command in commands {
        args.extend(["-ex", command]);
    }
    let program = program.to_str().unwrap();
    args.push(program);
    let out = Command::new("gdb").args(&args).current_dir(cwd).output().expect("gdb runs (apt-get install gdb)");
    format!("{}{}", stdout(&out), stderr(&out))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(files_under(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn gdb_finds_the_sources_of_a_debug_build_from_anywhere_and_objects_hold_no_path() {
    let dir = project();
    let project = dir.path().join("project");
    for (path, text) in [("main.mini", MAIN), ("lib/m.mini", LIB)] {
        write(&project, path, text);
    }
    let out = mini(&project, &["build", "-g", "-o", "prog"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let absolute = project.canonicalize().unwrap();

    // Started elsewhere, gdb reads both files through the recorded directory.
    let elsewhere = dir.path();
    let shown = gdb(elsewhere, &absolute.join("prog"), &["list main.mini:4,5", "info source", "list m.mini:1,2"]);
    assert!(shown.contains("4\t    @print(m.sq(3));\n5\t    return 0;"), "{shown}");
    assert!(shown.contains(&format!("Compilation directory is {}\n", absolute.display())), "{shown}");
    assert!(shown.contains("1\tpub fn sq(x: i32) i32 {\n2\t    return x * x;"), "{shown}");

    // No cached object holds an absolute path: they are shared by every copy of the
    // project. (The index records the executable it linked, by absolute path.)
    let needle = absolute.to_str().unwrap().as_bytes();
    for file in files_under(&project.join(".mini_cache/objects")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{} holds {}", file.display(), absolute.display());
    }

    // A moved project compiles nothing, and its executable points at the new place.
    let moved = dir.path().join("moved");
    std::fs::rename(&project, &moved).unwrap();
    let out = mini(&moved, &["build", "-g", "-o", "prog"]);
    assert!(stderr(&out).contains(": 0 of 2 functions compiled"), "{}", stderr(&out));
    let moved = moved.canonicalize().unwrap();
    let shown = gdb(elsewhere, &moved.join("prog"), &["list main.mini:4,4", "info source"]);
    assert!(shown.contains("4\t    @print(m.sq(3));"), "{shown}");
    assert!(shown.contains(&format!("Compilation directory is {}\n", moved.display())), "{shown}");
}
