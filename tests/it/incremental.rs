//! Watch mode's incremental link against its oracle: after random edits to a real
//! program (fixed seeds), the executable the watcher patched in place is byte for byte
//! the one a new process links from the same cache, and behaves the same.

use std::path::Path;
use std::process::Command;

use mini::driver::{BuildRequest, Emit, Session};
use mini::link::incremental::{How, Why};
use mini::watch::Watcher;
use mini_queries::source::Settings;

use crate::support::{Rng, spawn_mini, write};

const FILES: usize = 6;

/// A program of `FILES` files, each a list of functions given by their number of
/// statements and a constant. Functions 0 and 1 of a file call functions 0 and 1 of the
/// next file, so code moves under callers in other link units.
struct Program {
    files: Vec<Vec<(usize, i32)>>,
}

impl Program {
    fn render(&self, i: usize) -> String {
        let mut text = String::new();
        if i + 1 < FILES {
            text.push_str(&format!("import \"m{}.mini\";\n\n", i + 1));
        }
        for (k, &(statements, constant)) in self.files[i].iter().enumerate() {
            text.push_str(&format!("pub fn f{k}(x: i32) i32 {{\n    var t: i32 = x + {constant};\n"));
            for s in 0..statements {
                text.push_str(&format!("    t = t * 3 + {s};\n"));
            }
            if k < 2 && i + 1 < FILES {
                text.push_str(&format!("    t = t + m{next}.f0(t) + m{next}.f1(x);\n", next = i + 1));
            }
            text.push_str("    return t;\n}\n\n");
        }
        text
    }

    fn main() -> String {
        let imports: String = (0..FILES).map(|i| format!("import \"m{i}.mini\";\n")).collect();
        format!(
            "{imports}\nfn main() i32 {{\n    const t: i32 = m0.f0(1) + m0.f1(2) + m3.f1(5);\n    @print(t);\n    \
             if (t < 0) {{\n        return 3;\n    }}\n    return 4;\n}}\n"
        )
    }
}

fn request(output: &Path) -> BuildRequest {
    BuildRequest {
        emit: Emit::Exe,
        output: Some(output.to_path_buf()),
        settings: Settings::host(),
        jobs: 1,
        log_queries: false,
        deny_warnings: false,
    }
}

fn run(program: &Path) -> (String, Option<i32>) {
    let out = Command::new(program).output().expect("runs");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

/// Random edits — a statement more or less, many more, a new constant, a function
/// added or removed — each rebuilt by the watcher, whose link patches the executable
/// where it can. After each, a new process over the same cache links the same inputs
/// whole: the two executables are equal byte for byte and behave the same. Patches that
/// move functions called from other units, patches of units that gain or lose a
/// function, and units that outgrow their slack all happen.
#[test]
fn a_watchers_patched_executable_is_the_one_a_full_link_gives() {
    let (mut patched_moving, mut outgrew, mut symbols) = (0, 0, 0);
    for (seed, rebase_at) in [(0x5eed_u64, usize::MAX), (0xc0ffee, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut rng = Rng(seed);
        let mut program = Program { files: vec![vec![(1, 0), (2, 1), (1, 2)]; FILES] };
        for i in 0..FILES {
            write(d, &format!("m{i}.mini"), &program.render(i));
        }
        write(d, "main.mini", &Program::main());
        let mut w = Watcher::new(Session::new(&d.join("main.mini")).unwrap(), request(&d.join("main")));
        w.set_rebase_at(rebase_at);
        assert!(w.rebuild(None).unwrap().success());
        w.flush().unwrap();
        for step in 0..30 {
            let i = rng.below(FILES);
            let functions = &mut program.files[i];
            let k = rng.below(functions.len());
            match rng.below(8) {
                0..=2 => functions[k].0 = (functions[k].0 + rng.below(3)).saturating_sub(1),
                3 => functions[k].0 = rng.below(40),
                4 | 5 => functions[k].1 = rng.below(1000) as i32,
                6 if functions.len() > 2 => drop(functions.pop()),
                _ => functions.push((rng.below(10), 7)),
            }
            write(d, &format!("m{i}.mini"), &program.render(i));
            let report = w.rebuild(Some(&[d.join(format!("m{i}.mini"))])).unwrap();
            assert!(report.success(), "{:?}", report.diagnostics);
            w.flush().unwrap();
            let linker = w.session().incremental_linker().expect("a watcher links incrementally");
            let how = linker.lock().unwrap().last().map(|last| last.how.clone());
            let context = format!("seed {seed:#x}, step {step}: {how:?}");
            match how {
                Some(How::Patched { symbols: true, .. }) => symbols += 1,
                Some(How::Patched { relocations, .. }) if relocations > 0 => patched_moving += 1,
                Some(How::Full(Why::Outgrew)) => outgrew += 1,
                _ => {}
            }

            let mut oracle = Session::new(&d.join("main.mini")).unwrap();
            let report = oracle.build(&request(&d.join("full"))).unwrap();
            assert!(report.success() && report.compiled.is_empty(), "{context}: {report:?}");
            assert!(std::fs::read(d.join("main")).unwrap() == std::fs::read(d.join("full")).unwrap(), "{context}");
            assert_eq!(run(&d.join("main")), run(&d.join("full")), "{context}");
        }
    }
    assert!(patched_moving > 0 && outgrew > 0 && symbols > 0, "{patched_moving} {outgrew} {symbols}");
}

/// The files under `dir`, recursively.
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| if path.is_dir() { count_files(&path) } else { 1 })
        .sum()
}

/// A watcher's rebuild writes its new store entries after it is reported, with the
/// index (an edit's latency is its build, not the file system's journal); then a new
/// process finds everything: nothing to compile, nothing to link.
#[test]
fn a_watchers_new_units_reach_the_store_with_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.mini", "import \"lib.mini\";\n\nfn main() i32 {\n    @print(lib.f(1));\n    return 0;\n}\n");
    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 1;\n}\n");
    let mut w = Watcher::new(Session::new(&d.join("main.mini")).unwrap(), request(&d.join("main")));
    assert!(w.rebuild(None).unwrap().success());
    w.flush().unwrap();
    let objects = d.join(".mini_cache/objects");
    let before = count_files(&objects);

    write(d, "lib.mini", "pub fn f(x: i32) i32 {\n    return x + 2;\n}\n");
    let report = w.rebuild(Some(&[d.join("lib.mini")])).unwrap();
    assert_eq!((report.compiled.as_slice(), report.linked), (&["lib.f".to_string()][..], true));
    assert_eq!(run(&d.join("main")), ("3\n".to_string(), Some(0)));
    assert_eq!(count_files(&objects), before, "nothing written before the rebuild is reported");
    w.flush().unwrap();
    assert_eq!(count_files(&objects), before + 2, "the unit and its members");

    let mut fresh = Session::new(&d.join("main.mini")).unwrap();
    let report = fresh.build(&request(&d.join("main"))).unwrap();
    assert!(report.compiled.is_empty() && !report.linked, "{report:?}");
}

/// A one-shot build in a new process, over the cache the last build left.
fn one_shot(d: &Path, output: &str) -> mini::driver::BuildReport {
    let mut session = Session::new(&d.join("main.mini")).unwrap();
    let report = session.build(&request(&d.join(output))).unwrap();
    assert!(report.success(), "{:?}", report.diagnostics);
    report
}

/// The executable of a clean build (no cache) of the program in `d`.
fn clean(d: &Path) -> Vec<u8> {
    let mut session = Session::new(&d.join("main.mini")).unwrap();
    session.disable_cache();
    assert!(session.build(&request(&d.join("clean"))).unwrap().success());
    std::fs::read(d.join("clean")).unwrap()
}

fn program_in(d: &Path) -> Program {
    let program = Program { files: vec![vec![(1, 0), (2, 1), (1, 2)]; FILES] };
    for i in 0..FILES {
        write(d, &format!("m{i}.mini"), &program.render(i));
    }
    write(d, "main.mini", &Program::main());
    program
}

/// A temporary directory holding the program, built once by a one-shot build into
/// `main`.
fn built_once() -> (tempfile::TempDir, Program) {
    let dir = tempfile::tempdir().unwrap();
    let program = program_in(dir.path());
    one_shot(dir.path(), "main");
    (dir, program)
}

/// A new process after a body edit patches the executable the last build linked, with
/// the layout that build saved, instead of reading every unit and linking whole — and
/// gets the clean build's executable, byte for byte. An edit that makes a unit outgrow
/// its room is linked whole, correctly, and the next edit patches again.
#[test]
fn a_new_process_patches_the_last_executable_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut program = program_in(d);
    let first = one_shot(d, "main");
    assert!(first.linked && !first.linked_in_place, "a first build links whole");

    // (file, function, statements, constant, whether it fits in place)
    for (i, k, statements, constant, in_place) in
        [(3, 1, 2, 5, true), (0, 0, 2, 0, true), (3, 1, 200, 5, false), (5, 2, 1, 9, true)]
    {
        program.files[i][k] = (statements, constant);
        write(d, &format!("m{i}.mini"), &program.render(i));
        let report = one_shot(d, "main");
        let context = format!("m{i}.f{k} with {statements} statements and {constant}");
        assert_eq!(report.compiled, [format!("m{i}.f{k}")], "{context}");
        assert_eq!((report.linked, report.linked_in_place), (true, in_place), "{context}");
        assert!(std::fs::read(d.join("main")).unwrap() == clean(d), "{context}: the clean build's executable");
        assert_eq!(run(&d.join("main")), run(&d.join("clean")), "{context}");
    }
}

/// Sets `m2.f0`'s constant, builds in a new process, and checks the executable against
/// a clean build's: its bytes and what it prints.
fn edit_and_compare(d: &Path, program: &mut Program, constant: i32) -> mini::driver::BuildReport {
    program.files[2][0].1 = constant;
    write(d, "m2.mini", &program.render(2));
    let report = one_shot(d, "main");
    assert!(std::fs::read(d.join("main")).unwrap() == clean(d), "edit {constant}: the clean build's executable");
    assert_eq!(run(&d.join("main")), run(&d.join("clean")), "edit {constant}");
    report
}

/// Replaces the executable at `path` behind mini's back by a copy of itself: the same
/// bytes, a new file (another stamp).
fn replace_with_a_copy(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, &bytes).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A one-shot build publishes through two copies kept in the cache, so that from the
/// third build on it writes only the bytes that changed: the executable is then the
/// very file it was two builds before, patched. A hard link the user made to keep a
/// version is never written through, and an output put there some other way is
/// replaced whole. The clean build's executable every time.
#[test]
fn one_shot_builds_publish_through_copies_kept_in_the_cache() {
    use std::os::unix::fs::MetadataExt as _;
    let (dir, mut program) = built_once();
    let d = dir.path();
    let inode = || std::fs::metadata(d.join("main")).unwrap().ino();
    let mut edit = |constant: i32| edit_and_compare(d, &mut program, constant);

    let mut inodes = vec![inode()];
    for constant in [11, 12, 13] {
        assert!(edit(constant).linked_in_place);
        inodes.push(inode());
    }
    assert_ne!(inodes[0], inodes[1], "two copies take turns");
    assert_eq!((inodes[2], inodes[3]), (inodes[0], inodes[1]), "each patched where it is");

    // The user keeps this version under another name: that file is never written.
    let version = std::fs::read(d.join("main")).unwrap();
    std::fs::hard_link(d.join("main"), d.join("main.v1")).unwrap();
    for constant in [14, 15, 16] {
        edit(constant);
    }
    assert!(std::fs::read(d.join("main.v1")).unwrap() == version, "the kept version is as it was");

    // An output put there some other way.
    replace_with_a_copy(&d.join("main"));
    assert!(!edit(17).linked_in_place, "not the executable the index recorded");
    let after = [edit(18), edit(19)];
    assert!(after.iter().all(|r| r.linked_in_place));
}

/// The kept copies are a cache like the rest: a damaged state, copies deleted or
/// changed behind mini's back, or the whole directory gone, and the next build writes
/// the executable whole — the clean build's, every time — and patches again after.
#[test]
fn damaged_or_missing_kept_copies_are_written_whole() {
    let (dir, mut program) = built_once();
    let d = dir.path();
    let exe = d.join(".mini_cache/exe");
    let mut constant = 20;
    let mut edit = || {
        constant += 1;
        edit_and_compare(d, &mut program, constant);
    };
    let files = |suffix: &str| -> Vec<std::path::PathBuf> {
        let mut found: Vec<_> = std::fs::read_dir(&exe)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        found.sort();
        found
    };
    for _ in 0..3 {
        edit();
    }
    let [state] = &files(".state")[..] else { panic!("one state file: {:?}", files("")) };
    std::fs::write(state, b"not a state").unwrap();
    edit();
    edit();
    // Both copies written over with other bytes (same size, so only their stamps say so).
    for copy in files("-a").into_iter().chain(files("-b")) {
        let len = std::fs::metadata(&copy).unwrap().len() as usize;
        let mut file = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
        std::io::Write::write_all(&mut file, &vec![0x90; len]).unwrap();
    }
    edit();
    edit();
    for copy in files("-a").into_iter().chain(files("-b")) {
        std::fs::remove_file(copy).unwrap();
    }
    edit();
    std::fs::remove_dir_all(&exe).unwrap();
    edit();
    edit();
    edit();
    assert_eq!(files("-a").len() + files("-b").len(), 2, "the copies are kept again");
}

/// The saved layout is trusted only for the executable it was saved with: an executable
/// changed since (its stamp is not the one the index recorded), a damaged layout entry,
/// or a replay whose base or unit is gone, means linking whole — the right executable
/// either way.
#[test]
fn an_executable_or_layout_not_as_saved_is_linked_whole() {
    use mini::cache::store::{Kind, Store};
    let (dir, mut program) = built_once();
    let d = dir.path();
    let edit = |program: &mut Program, constant: i32| {
        program.files[2][0].1 = constant;
        write(d, "m2.mini", &program.render(2));
    };

    // The executable was replaced.
    replace_with_a_copy(&d.join("main"));
    edit(&mut program, 41);
    let report = one_shot(d, "main");
    assert!(report.linked && !report.linked_in_place, "not the executable the index recorded");
    assert!(std::fs::read(d.join("main")).unwrap() == clean(d));

    // The layout saved for it is damaged.
    let index_dir = d.join(".mini_cache/index");
    let head = std::fs::read_dir(&index_dir).unwrap().next().unwrap().unwrap().path();
    let index = mini::cache::index::Index::read(&head).expect("an index");
    let store = Store::open(&d.join(".mini_cache")).unwrap();
    let layout = store.path(Store::key(Kind::LinkLayout, index.header.link_key));
    let mut saved = std::fs::read(&layout).expect("the build saved its layout");
    saved[100] ^= 0xff;
    std::fs::write(&layout, &saved).unwrap();
    drop(store);
    edit(&mut program, 42);
    let report = one_shot(d, "main");
    assert!(report.linked && !report.linked_in_place, "a damaged layout is not used");
    assert!(std::fs::read(d.join("main")).unwrap() == clean(d));

    // The full link saved a new layout: the next edit patches in place again.
    edit(&mut program, 43);
    let report = one_shot(d, "main");
    assert!(report.linked_in_place);
    assert!(std::fs::read(d.join("main")).unwrap() == clean(d));

    // That layout is a replay: without the whole layout it replays over, or without the
    // unit it patches in, it cannot be resumed.
    let store = Store::open(&d.join(".mini_cache")).unwrap();
    let m2 = mini_queries::link::link_unit_of(&mini_queries::base::ModulePath::new("m2.mini").unwrap());
    for (constant, gone) in [(44, "base"), (46, "unit")] {
        let header = mini::cache::index::Index::read(&head).expect("an index").header;
        let path = match gone {
            "base" => Store::key(Kind::LinkLayout, header.layout_base.expect("a replay")),
            _ => Store::key(Kind::Unit, header.units.iter().find(|&&(unit, _)| unit == m2).unwrap().1),
        };
        std::fs::remove_file(store.path(path)).unwrap();
        edit(&mut program, constant);
        let report = one_shot(d, "main");
        assert!(report.linked && !report.linked_in_place, "the replay's {gone} is gone");
        assert!(std::fs::read(d.join("main")).unwrap() == clean(d), "{gone}");
        edit(&mut program, constant + 1);
        assert!(one_shot(d, "main").linked_in_place, "after the {gone}, in place again");
        assert!(std::fs::read(d.join("main")).unwrap() == clean(d), "{gone}");
    }
}

/// The layouts in the cache at `d`: for each, whether it is a replay (their payloads
/// start with their formats' magic).
fn layouts(d: &Path) -> Vec<&'static str> {
    let mut found = Vec::new();
    for shard in std::fs::read_dir(d.join(".mini_cache/objects")).unwrap() {
        for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let payload = &bytes[..mini::cache::store::verify(&bytes, None).expect("a valid entry")];
            match payload.get(..8) {
                Some(b"minilay1") => found.push("whole"),
                Some(b"minirpl1") => found.push("replay"),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// The header of the program's index at `d`.
fn header(d: &Path) -> mini::cache::index::Header {
    let index_dir = d.join(".mini_cache/index");
    let head = std::fs::read_dir(&index_dir).unwrap().next().unwrap().unwrap().path();
    mini::cache::index::Index::read(&head).expect("an index").header
}

/// A patched executable's layout is saved as a replay over the whole layout the build
/// resumed from — a hundred bytes or so, not megabytes — so the cache holds one whole
/// layout and one replay per output; the whole layout is kept by garbage collection
/// however old it is, and saved again whole once an input gets other symbols (a
/// function renamed). Every executable is the clean build's, and every edit that
/// links is patched in place.
#[test]
fn a_patched_executables_layout_is_saved_as_a_replay_over_the_whole_one() {
    use mini::cache::store::{Kind, Store};
    let (dir, mut program) = built_once();
    let d = dir.path();
    let whole = header(d).link_key;
    assert_eq!(layouts(d), ["whole"], "a first build saves the whole layout");
    assert_eq!(header(d).layout_base, None);

    for (i, constant) in [(2, 51), (4, 52), (2, 53)] {
        program.files[i][0].1 = constant;
        write(d, &format!("m{i}.mini"), &program.render(i));
        assert!(one_shot(d, "main").linked_in_place, "m{i} = {constant}");
        assert!(std::fs::read(d.join("main")).unwrap() == clean(d), "m{i} = {constant}");
        assert_eq!(layouts(d), ["replay", "whole"], "m{i} = {constant}: the whole layout, and a replay over it");
        assert_eq!(header(d).layout_base, Some(whole), "m{i} = {constant}: the index needs both");
    }

    // An import added where nothing uses it: a build that scans the program (the
    // patch declines a new import) and links nothing; its index still needs both.
    let imported = format!("import \"m5.mini\";\n{}", program.render(0));
    write(d, "m0.mini", &imported);
    let report = one_shot(d, "main");
    assert!(report.compiled.is_empty() && !report.linked, "{report:?}");
    assert_eq!(header(d).layout_base, Some(whole), "the index after a build that linked nothing");

    // However old the whole layout is, collecting garbage keeps it while a replay needs
    // it: the oldest entry nothing needs goes instead.
    let store = Store::open(&d.join(".mini_cache")).unwrap();
    let base = store.path(Store::key(Kind::LinkLayout, whole));
    drop(store);
    let file = std::fs::File::options().write(true).open(&base).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400)).unwrap();
    drop(file);
    let size: u64 = mini::cache::gc::collect_garbage(&d.join(".mini_cache"), u64::MAX, false)
        .unwrap()
        .map(|outcome| outcome.bytes_after)
        .unwrap();
    let outcome = mini::cache::gc::collect_garbage(&d.join(".mini_cache"), size - 1, false).unwrap().unwrap();
    assert!(outcome.removed >= 1 && base.exists(), "{} removed", outcome.removed);
    program.files[2][0].1 = 54;
    write(d, "m2.mini", &program.render(2));
    assert!(one_shot(d, "main").linked_in_place, "the whole layout is there to replay over");
    assert!(std::fs::read(d.join("main")).unwrap() == clean(d));

    // A function renamed (nothing calls it): its unit has other symbols in the same
    // room, and the layout is saved whole; the one it replaced goes.
    let renamed = program.render(3).replace("pub fn f2(", "pub fn g2(");
    write(d, "m3.mini", &renamed);
    assert!(one_shot(d, "main").linked_in_place);
    assert!(std::fs::read(d.join("main")).unwrap() == clean(d));
    assert_eq!(layouts(d), ["whole"], "saved whole, the old whole layout and replay gone");
    assert!(!base.exists());
    let whole = header(d).link_key;
    program.files[3][0].1 = 6;
    write(d, "m3.mini", &program.render(3).replace("pub fn f2(", "pub fn g2("));
    assert!(one_shot(d, "main").linked_in_place);
    assert!(std::fs::read(d.join("main")).unwrap() == clean(d));
    assert_eq!(layouts(d), ["replay", "whole"], "a replay over the new whole layout");
    assert_eq!(header(d).layout_base, Some(whole));
}

/// Two one-shot builds of the same edit at once, each resuming the saved layout and
/// saving its own, one of them perhaps removing the whole layout the other's replay
/// needs (an edit that renames a function saves the layout whole): whatever they leave,
/// the next build gives the clean build's executable, and so does every build after.
#[test]
fn two_patching_builds_at_once_leave_a_cache_that_builds_right() {
    let (dir, mut program) = built_once();
    let d = dir.path();
    let build_two_at_once = || {
        let spawn = || spawn_mini(d, &["build", "main.mini", "-o", "main"]);
        let (first, second) = (spawn(), spawn());
        for child in [first, second] {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    };
    for round in 0..6 {
        let i = [2, 4, 2, 3, 1, 2][round];
        program.files[i][0].1 = 60 + round as i32;
        let mut text = program.render(i);
        if round == 3 {
            text = text.replace("pub fn f2(", "pub fn g2(");
            program.files[i].pop();
        }
        write(d, &format!("m{i}.mini"), &text);
        build_two_at_once();
        assert!(std::fs::read(d.join("main")).unwrap() == clean(d), "round {round}: after both");
        // The next edit, built alone over what they left.
        program.files[5][1].1 = 70 + round as i32;
        write(d, "m5.mini", &program.render(5));
        one_shot(d, "main");
        assert!(std::fs::read(d.join("main")).unwrap() == clean(d), "round {round}: the next build");
        assert_eq!(run(&d.join("main")), run(&d.join("clean")), "round {round}");
    }
}
