//! Shared test helpers: fixtures, temporary projects, running the `mini` binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use mini::driver::{BuildReport, BuildRequest, Emit, Session};
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

    /// What `build` asks for: the executable `main`, on one thread, recording executed
    /// queries.
    pub fn request(&self) -> BuildRequest {
        BuildRequest {
            emit: Emit::Exe,
            output: Some(self.path("main")),
            settings: self.settings.clone(),
            jobs: 1,
            log_queries: true,
            deny_warnings: false,
        }
    }

    /// Builds the executable on one thread, recording executed queries.
    #[track_caller]
    pub fn build(&mut self) -> BuildReport {
        let report = self.session.build(&self.request()).expect("build runs");
        assert!(report.success(), "unexpected errors: {:#?}", report.diagnostics);
        report
    }

    /// Runs the last built executable: (stdout, exit status).
    pub fn run(&self) -> (String, i32) {
        let out = mini::process::output(&mut Command::new(self.path("main"))).expect("the program runs");
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
    }
}

pub fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create directories");
    std::fs::write(path, text).expect("write fixture file");
}

/// The `mini` binary with `args`, to run in `dir`, untouched by the environment's
/// logging and remote cache.
fn mini_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mini"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("MINI_LOG")
        .env_remove("MINI_REMOTE_CACHE")
        .env_remove("MINI_REMOTE_CACHE_READ_ONLY");
    command
}

/// Runs the `mini` binary in `dir`.
pub fn mini(dir: &Path, args: &[&str]) -> Output {
    mini_command(dir, args).output().expect("the mini binary runs")
}

/// Starts the `mini` binary in `dir` without waiting for it (builds run at once), its
/// output piped: `wait_with_output` collects it.
pub fn spawn_mini(dir: &Path, args: &[&str]) -> Child {
    mini_command(dir, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the mini binary starts")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits until every `.mini` file under `dir` (recursively) last changed — written,
/// renamed, or its times set — more than the racy window (a second) ago, so that a
/// build's stamps prove them unchanged. A stamp includes the inode change time, which
/// nothing can set back: only time makes a new file's stamp trustworthy, and this waits
/// exactly until it does.
pub fn settle(dir: &Path) {
    fn newest_change(dir: &Path) -> i64 {
        let mut newest = i64::MIN;
        for entry in std::fs::read_dir(dir).expect("readable directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                newest = newest.max(newest_change(&path));
            } else if path.extension().is_some_and(|e| e == "mini") {
                let stamp = mini::fs::FileStamp::of(&path).expect("a stamp");
                newest = newest.max(stamp.changed_ns());
            }
        }
        newest
    }
    let until = newest_change(dir).saturating_add(mini::fs::RACY_WINDOW_NS + 20_000_000);
    let now = mini::fs::now_ns();
    if until > now {
        std::thread::sleep(std::time::Duration::from_nanos((until - now) as u64));
    }
}

/// A pseudo-terminal: its reading end, and the end a child writes to as its terminal.
pub fn pty() -> (std::fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills in two new descriptors, which are then owned here.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    (std::fs::File::from(master), slave)
}

/// Everything shown on `terminal` until the last process holding its other end exits
/// (reading then fails with EIO).
pub fn read_terminal(mut terminal: std::fs::File) -> String {
    use std::io::Read;
    let mut shown = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n @ 1..) = terminal.read(&mut buffer) {
        shown.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&shown).into_owned()
}

/// A tiny deterministic generator (xorshift), so that a test's random choices, and its
/// failures, reproduce from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
