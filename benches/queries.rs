//! Query-level timings in process, with divan: one `Session` (as `mini watch` keeps it)
//! building a generated tree program of about 1,000 and 10,000 functions to an
//! executable, without the disk cache, so that what is timed is salsa's queries, code
//! generation and the link.
//!
//! ```text
//! cargo bench --bench queries
//! cargo bench --bench queries -- body_edit                  # divan's filters and options work
//! MINI_BENCH_FUNCTIONS=300,3000 cargo bench --bench queries  # other sizes
//! ```
//!
//! - `cold`: a new session builds everything;
//! - `noop`: nothing changed;
//! - `body_edit`: one leaf function's body changes (a new value each sample);
//! - `signature_edit`: the load-bearing function gains a parameter and its callers pass it.
//!
//! An edit's time includes writing its file (microseconds), so that every iteration sees
//! exactly one edit whatever divan's sample size. Every iteration checks how many
//! functions were compiled; the program's output is checked after the last one.

#[path = "support/generate.rs"]
mod generate;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;

use divan::Bencher;
use generate::{Lang, Program, Shape};
use mini::driver::{BuildReport, BuildRequest, Emit, Session};
use mini_queries::source::Settings;

/// About 1,000 and 10,000 functions, or the sizes in `MINI_BENCH_FUNCTIONS` (`300,3000`).
fn sizes() -> Vec<usize> {
    match std::env::var("MINI_BENCH_FUNCTIONS") {
        Ok(list) => list.split(',').map(|n| n.trim().parse().expect("MINI_BENCH_FUNCTIONS: numbers")).collect(),
        Err(_) => vec![1_000, 10_000],
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --benches` runs benchmark binaries without `--bench`: stay quick.
        println!("queries: run me with `cargo bench --bench queries`");
        return;
    }
    mini::process::no_huge_pages();
    divan::main();
}

struct Fixture {
    program: Program,
    dir: PathBuf,
    session: Session,
    round: i32,
}

impl Fixture {
    /// Writes a program of about `functions` functions (three per file, as the tutorial's
    /// tree) into a directory of its own.
    fn write(functions: usize, name: &str) -> (Program, PathBuf) {
        let program = Program::generate(Shape::Tree, (functions / 3).max(3), 1).with_large_multipliers(1);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-out/queries/{name}-{functions}"));
        let _ = std::fs::remove_dir_all(&dir);
        program.write_twin(Lang::Mini, &dir).expect("write the program");
        (program, dir)
    }

    /// A session that has built the program once.
    fn built(functions: usize, name: &str) -> Fixture {
        let (program, dir) = Fixture::write(functions, name);
        let mut session = session(&dir);
        let report = build(&mut session, &dir);
        assert_eq!(report.compiled.len(), program.function_count() + 1);
        Fixture { program, dir, session, round: 0 }
    }

    fn rewrite(&self, modules: &[usize]) {
        for &i in modules {
            for (path, text) in self.program.render(Lang::Mini, i) {
                std::fs::write(self.dir.join(path), text).expect("edit");
            }
        }
    }

    fn check_output(&self) {
        let out = Command::new(self.dir.join("main")).output().expect("the program runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}\n", self.program.expected_output()));
        assert_eq!(out.status.code(), Some(self.program.expected_status()));
    }
}

fn session(dir: &Path) -> Session {
    let mut session = Session::new(&dir.join("main.mini")).expect("session");
    session.disable_cache();
    session
}

fn build(session: &mut Session, dir: &Path) -> BuildReport {
    let request = BuildRequest {
        emit: Emit::Exe,
        output: Some(dir.join("main")),
        settings: Settings::host(),
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        log_queries: false,
        deny_warnings: false,
    };
    let report = session.build(&request).expect("build runs");
    assert!(report.success(), "errors: {:?}", report.diagnostics);
    report
}

#[divan::bench(args = sizes(), sample_count = 3, sample_size = 1)]
fn cold(bencher: Bencher, functions: usize) {
    let (program, dir) = Fixture::write(functions, "cold");
    bencher.with_inputs(|| session(&dir)).bench_local_values(|mut session| {
        let report = build(&mut session, &dir);
        assert_eq!(report.compiled.len(), program.function_count() + 1);
        session
    });
}

#[divan::bench(args = sizes(), sample_count = 10, sample_size = 1)]
fn noop(bencher: Bencher, functions: usize) {
    let fixture = RefCell::new(Fixture::built(functions, "noop"));
    bencher.bench_local(|| {
        let f = &mut *fixture.borrow_mut();
        let report = build(&mut f.session, &f.dir);
        assert!(report.compiled.is_empty());
    });
    fixture.borrow().check_output();
}

#[divan::bench(args = sizes(), sample_count = 10, sample_size = 1)]
fn body_edit(bencher: Bencher, functions: usize) {
    let fixture = RefCell::new(Fixture::built(functions, "body"));
    let leaf = fixture.borrow().program.leaf();
    bencher.bench_local(|| {
        let f = &mut *fixture.borrow_mut();
        f.round += 1;
        let modules = f.program.set_addend(leaf, 1000 + f.round);
        f.rewrite(&modules);
        let report = build(&mut f.session, &f.dir);
        assert_eq!(report.compiled.len(), 1);
    });
    fixture.borrow().check_output();
}

#[divan::bench(args = sizes(), sample_count = 10, sample_size = 1)]
fn signature_edit(bencher: Bencher, functions: usize) {
    let fixture = RefCell::new(Fixture::built(functions, "signature"));
    let target = fixture.borrow().program.load_bearing();
    let expected = 1 + fixture.borrow().program.callers(target).len();
    bencher.bench_local(|| {
        let f = &mut *fixture.borrow_mut();
        let modules = f.program.add_parameter(target);
        f.rewrite(&modules);
        let report = build(&mut f.session, &f.dir);
        assert_eq!(report.compiled.len(), expected);
    });
    fixture.borrow().check_output();
}
