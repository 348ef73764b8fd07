//! Shared test helpers: fixtures, temporary projects, running the `mini` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mini::cli::Emit;
use mini::driver::{BuildReport, BuildRequest, Session};
use mini_queries::source::Settings;

pub use mini_queries::fixture::parse_fixture;

/// A program in a temporary directory, compiled in process by one long-lived session,
/// as watch mode would.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub session: Session,
    pub settings: Settings,
}

impl Project {
    pub fn new(fixture: &str) -> Project {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (path, text) in parse_fixture(fixture) {
            write(dir.path(), &path, &text);
        }
        let session = Session::new(&dir.path().join("main.mini")).expect("session");
        Project { dir, session, settings: Settings::host() }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn write(&self, file: &str, text: &str) {
        write(self.dir.path(), file, text);
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).expect("readable fixture file")
    }

    /// Replaces the first occurrence of `from` in `file` with `to`.
    #[track_caller]
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let text = self.read(file);
        assert!(text.contains(from), "{file} does not contain {from:?}");
        self.write(file, &text.replacen(from, to, 1));
    }

    /// Builds the executable on one thread, recording executed queries.
    #[track_caller]
    pub fn build(&mut self) -> BuildReport {
        let request = BuildRequest {
            emit: Emit::Exe,
            output: Some(self.path("main")),
            settings: self.settings.clone(),
            jobs: 1,
            log_queries: true,
            deny_warnings: false,
        };
        let report = self.session.build(&request).expect("build runs");
        assert!(report.success(), "unexpected errors: {:#?}", report.diagnostics);
        report
    }

    /// Runs the last built executable: (stdout, exit status).
    pub fn run(&self) -> (String, i32) {
        let out = Command::new(self.path("main")).output().expect("the program runs");
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
    }
}

pub fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create directories");
    std::fs::write(path, text).expect("write fixture file");
}

/// Runs the `mini` binary in `dir`.
pub fn mini(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(args)
        .current_dir(dir)
        .env_remove("MINI_LOG")
        .output()
        .expect("the mini binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
