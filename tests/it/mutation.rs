//! Byte mutations of the test programs, built through one cache: whatever the bytes,
//! a build reports a program or its errors — `mini build` exits 0 or 1 — and never
//! panics. Each build is a new session, as a new process would run it, so the
//! disk-backed paths (summaries, the patch path, the no-op path) see the mutations.

use std::path::{Path, PathBuf};

use mini::driver::{BuildRequest, Session};

use crate::support::Rng;

/// Bytes a mutation writes: the language's own characters mostly, so that mutations
/// make near-programs (a misspelled type, a missing brace) more often than noise.
const ALPHABET: &[u8] = b"abfilnorstuvx0123456789_(){}[];:,.+-*/%<>=!&|\"@ \n\t\xff";

/// The `.mini` files under `dir`, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "mini") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn copy_sources(from: &Path, to: &Path) {
    for source in sources(from) {
        let target = to.join(source.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&source, &target).unwrap();
    }
}

/// One random change to `bytes`: a byte replaced, inserted or removed, or a short run
/// duplicated or cut.
fn mutate(bytes: &mut Vec<u8>, rng: &mut Rng) {
    let at = rng.below(bytes.len() + 1);
    let byte = ALPHABET[rng.below(ALPHABET.len())];
    match rng.below(5) {
        0 | 1 if at < bytes.len() => bytes[at] = byte,
        2 => bytes.insert(at, byte),
        3 if at < bytes.len() => {
            bytes.remove(at);
        }
        _ => {
            let end = (at + 1 + rng.below(6)).min(bytes.len());
            let run: Vec<u8> = bytes[at.min(end)..end].to_vec();
            if rng.below(2) == 0 {
                bytes.splice(at.min(end)..end, []);
            } else {
                bytes.splice(at.min(end)..at.min(end), run);
            }
        }
    }
}

/// Builds `dir`'s program in a new session over its cache: exit status 0 or 1 in
/// `mini build`'s terms, or a failure message.
fn build(dir: &Path) -> Result<bool, String> {
    let request = BuildRequest::executable(dir.join("main"));
    let built = std::panic::catch_unwind(|| {
        let mut session = Session::new(&dir.join("main.mini")).expect("session");
        session.build(&request).map(|report| report.success())
    });
    match built {
        Ok(Ok(success)) => Ok(success),
        Ok(Err(error)) => Err(format!("the build failed (status 2): {error:#}")),
        Err(panic) => Err(format!(
            "the build panicked (status 101): {}",
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or(panic.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        )),
    }
}

/// Every test program, mutated step by step with a fixed seed: one to three files
/// changed at once (so that an error in one file meets an edit in another), mutations
/// accumulating, and now and then the original program restored so that the cache
/// holds a successful build to patch from. (Before the patch path checked every
/// changed file first, this seed crashed it: a misspelled type in one file, an edit in
/// another.)
#[test]
fn mutated_programs_build_or_report_errors_and_never_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    let mut programs: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    programs.sort();
    let mut rng = Rng(0x6d75_7461_7465);
    let (mut built, mut errors) = (0, 0);
    for program in programs {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        copy_sources(&program, d);
        let files = sources(d);
        let originals: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let mut history = Vec::new();
        // Programs of several files get more steps: the patch path and summaries are
        // where files meet.
        let steps = if files.len() > 1 { 8 } else { 3 };
        for step in 0..steps {
            if step % 4 == 0 {
                for (file, original) in files.iter().zip(&originals) {
                    std::fs::write(file, original).unwrap();
                }
                history.push("original".to_string());
            } else {
                for _ in 0..1 + rng.below(files.len().min(3)) {
                    let i = rng.below(files.len());
                    let mut bytes = std::fs::read(&files[i]).unwrap();
                    mutate(&mut bytes, &mut rng);
                    std::fs::write(&files[i], &bytes).unwrap();
                    history.push(format!(
                        "{}: {:?}",
                        files[i].strip_prefix(d).unwrap().display(),
                        String::from_utf8_lossy(&bytes)
                    ));
                }
            }
            match build(d) {
                Ok(true) => built += 1,
                Ok(false) => errors += 1,
                Err(failure) => panic!("{}: {failure}\nafter {history:#?}", program.display()),
            }
        }
    }
    assert!(built > 50 && errors > 100, "{built} built, {errors} with errors: the mutations should give both");
}
