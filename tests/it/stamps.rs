//! Stamps and the racy-clean rule: an edit that keeps a file's size and puts its old
//! modification time back (`cp -p`, `rsync -t`, `touch -d`) must still be seen, between
//! builds and while a build runs. Each build here is a new session, as a new process
//! would run it, over the project's cache.

use std::path::Path;
use std::time::{Duration, SystemTime};

use mini::driver::{BuildReport, BuildRequest, Session};
use mini::fault::{Action, Point};

use crate::support::{settle, write};

/// `main` prints what each of four files returns.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut main = String::new();
    for name in ["a", "b", "c", "d"] {
        main.push_str(&format!("import \"{name}.mini\";\n"));
        write(dir.path(), &format!("{name}.mini"), "pub fn f() i32 {\n    return 10;\n}\n");
    }
    main.push_str(
        "\nfn main() i32 {\n    @print(a.f());\n    @print(b.f());\n    @print(c.f());\n    @print(d.f());\n",
    );
    main.push_str("    return 0;\n}\n");
    write(dir.path(), "main.mini", &main);
    dir
}

fn session(dir: &Path) -> Session {
    Session::new(&dir.join("main.mini")).expect("session")
}

fn build_with(dir: &Path, session: &mut Session) -> BuildReport {
    let request = BuildRequest::executable(dir.join("main"));
    let report = session.build(&request).expect("the build runs");
    assert!(report.success(), "{:#?}", report.diagnostics);
    report
}

/// A build in a new session.
fn build(dir: &Path) -> BuildReport {
    build_with(dir, &mut session(dir))
}

fn output(dir: &Path) -> String {
    let out = mini::process::output(&mut std::process::Command::new(dir.join("main"))).expect("the program runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).expect("metadata").modified().expect("mtime")
}

/// Rewrites `file` in place (same inode) with `text`, of the same size as before, and
/// puts its modification time back, as `cp -p` or `rsync -t` would.
fn edit_keeping_mtime(path: &Path, text: &str) {
    let before = mtime(path);
    assert_eq!(std::fs::metadata(path).unwrap().len(), text.len() as u64, "the edit keeps the size");
    std::fs::write(path, text).expect("edit");
    std::fs::File::options().write(true).open(path).unwrap().set_modified(before).expect("set mtime");
}

/// Sets the modification time of every source file a minute back, as if they had been
/// written long before the build.
fn age(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "mini") {
            let file = std::fs::File::options().write(true).open(entry.path()).unwrap();
            file.set_modified(SystemTime::now() - Duration::from_secs(60)).unwrap();
        }
    }
}

/// The modification time alone is not a proof: a same-size edit that puts it back
/// (within the recording build's racy window or long after it) is rebuilt, and stays
/// rebuilt.
#[test]
fn an_in_place_edit_that_restores_the_mtime_is_rebuilt() {
    let dir = project();
    let d = dir.path();
    age(d);
    build(d);
    assert_eq!(output(d), "10\n10\n10\n10\n");
    edit_keeping_mtime(&d.join("a.mini"), "pub fn f() i32 {\n    return 11;\n}\n");
    assert_eq!(build(d).compiled, ["a.f"]);
    assert_eq!(output(d), "11\n10\n10\n10\n");
    assert_eq!(build(d).compiled, Vec::<String>::new());
    assert_eq!(output(d), "11\n10\n10\n10\n");
}

/// Stamps old enough to prove files unchanged — the next build reads nothing — still
/// see an edit that restores the modification time, whether it happens between builds,
/// after a build took its stamps but before it read anything, or after it read its
/// files (on the patch path and on the ordinary one). The edit's inode change time is
/// what gives it away.
#[test]
fn trusted_stamps_still_see_edits_that_restore_the_mtime_between_and_during_builds() {
    let dir = project();
    let d = dir.path();
    settle(d);
    build(d);
    let noop = build(d);
    assert_eq!((noop.files_read, noop.compiled.len()), (0, 0), "the stamps are trusted");

    // Between builds.
    edit_keeping_mtime(&d.join("a.mini"), "pub fn f() i32 {\n    return 11;\n}\n");
    assert_eq!(build(d).compiled, ["a.f"]);
    assert_eq!(output(d), "11\n10\n10\n10\n");

    // After the stamps, before any read: this build saw nothing to do.
    let mut during = session(d);
    let b = d.join("b.mini");
    during.faults().arm(
        Point::AfterStat,
        Action::Run(Box::new(move || edit_keeping_mtime(&b, "pub fn f() i32 {\n    return 12;\n}\n"))),
    );
    build_with(d, &mut during);
    assert_eq!(build(d).compiled, ["b.f"]);
    assert_eq!(output(d), "11\n12\n10\n10\n");

    // After the reads of a build that patches the index for another edit.
    write(d, "d.mini", "pub fn f() i32 {\n    return 20;\n}\n");
    let mut during = session(d);
    let c = d.join("c.mini");
    during.faults().arm(
        Point::AfterScan,
        Action::Run(Box::new(move || edit_keeping_mtime(&c, "pub fn f() i32 {\n    return 13;\n}\n"))),
    );
    assert_eq!(build_with(d, &mut during).compiled, ["d.f"]);
    assert_eq!(output(d), "11\n12\n10\n20\n");
    assert_eq!(build(d).compiled, ["c.f"]);
    assert_eq!(output(d), "11\n12\n13\n20\n");

    // After the reads of an ordinary build (a new function: the patch path declines).
    write(d, "d.mini", "pub fn f() i32 {\n    return 20;\n}\n\npub fn g() i32 {\n    return 1;\n}\n");
    let mut during = session(d);
    let c = d.join("c.mini");
    during.faults().arm(
        Point::AfterDiagnostics,
        Action::Run(Box::new(move || edit_keeping_mtime(&c, "pub fn f() i32 {\n    return 14;\n}\n"))),
    );
    assert_eq!(build_with(d, &mut during).compiled, ["d.g"]);
    assert_eq!(build(d).compiled, ["c.f"]);
    assert_eq!(output(d), "11\n12\n14\n20\n");
}

/// The executable's stamp, recorded after linking, lets a no-op build keep it; an
/// executable changed in place with its modification time put back is linked again.
#[test]
fn an_executable_changed_in_place_with_its_mtime_restored_is_linked_again() {
    let dir = project();
    let d = dir.path();
    build(d);
    let exe = d.join("main");
    let good = std::fs::read(&exe).unwrap();
    let before = mtime(&exe);
    let mut damaged = good.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0xff;
    std::fs::write(&exe, &damaged).unwrap();
    std::fs::File::options().write(true).open(&exe).unwrap().set_modified(before).unwrap();
    let report = build(d);
    assert!(report.linked, "the changed executable is replaced");
    assert!(std::fs::read(&exe).unwrap() == good);
}

/// A summarized file is read only when an object of it must be generated, after the
/// build has planned with the hashes its summary recorded. If it changed meanwhile, the
/// new code must not be stored under the old code's key: the build starts over with
/// what is on disk now, and going back to the old text later gives the old program.
#[test]
fn a_file_edited_during_a_build_never_lands_under_its_old_key() {
    let dir = project();
    let d = dir.path();
    build(d);
    // Objects and executable gone, index kept: every file is a summary whose code must
    // be generated.
    std::fs::remove_dir_all(d.join(".mini_cache/objects")).unwrap();
    std::fs::remove_file(d.join("main")).unwrap();
    let mut during = session(d);
    let c = d.join("c.mini");
    during.faults().arm(
        Point::AfterDiagnostics,
        Action::Run(Box::new(move || write(c.parent().unwrap(), "c.mini", "pub fn f() i32 {\n    return 13;\n}\n"))),
    );
    build_with(d, &mut during);
    assert_eq!(output(d), "10\n10\n13\n10\n", "the build has the edit");
    write(d, "c.mini", "pub fn f() i32 {\n    return 10;\n}\n");
    build(d);
    assert_eq!(output(d), "10\n10\n10\n10\n", "the old text gives the old program");
}
