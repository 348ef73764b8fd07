//! What the driver is asked and what it answers: its own request and report types (the
//! command line maps its flags onto them; nothing here knows clap).

use std::path::PathBuf;
use std::time::Duration;

use mini_queries::source::Settings;

use crate::render::Located;

/// What a build produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// A native executable.
    Exe,
    /// One relocatable object file holding the whole program.
    Obj,
    /// LLVM IR as text.
    LlvmIr,
    /// ZIR as text.
    Zir,
}

/// What to build and how.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    pub emit: Emit,
    /// Where the output goes; `None` for text outputs means standard output.
    pub output: Option<PathBuf>,
    pub settings: Settings,
    pub jobs: usize,
    pub log_queries: bool,
    /// `--deny-warnings`: warnings are errors, and fail the build before any output.
    pub deny_warnings: bool,
}

impl BuildRequest {
    /// An executable at `output`, for this machine, with the default settings, on one
    /// thread: what a caller changes the odd field of (`..BuildRequest::executable(p)`).
    pub fn executable(output: PathBuf) -> BuildRequest {
        BuildRequest {
            emit: Emit::Exe,
            output: Some(output),
            settings: Settings::host(),
            jobs: 1,
            log_queries: false,
            deny_warnings: false,
        }
    }
}

/// The outcome of one build.
#[derive(Debug, Default)]
pub struct BuildReport {
    /// Errors and warnings, in program order.
    pub diagnostics: Vec<Located>,
    /// Functions in the program.
    pub functions: usize,
    /// Qualified names of the functions whose code was generated in this build.
    pub compiled: Vec<String>,
    /// Functions whose object came from the on-disk store.
    pub reused_from_disk: usize,
    /// Functions whose object came from the remote cache (in a unit downloaded now).
    pub reused_from_remote: usize,
    /// Source files read from disk and parsed in this build.
    pub files_read: usize,
    pub files_parsed: usize,
    pub link_units: usize,
    pub link_units_relinked: usize,
    /// Whether the final link ran (it is skipped when its inputs and output are unchanged).
    pub linked: bool,
    /// Whether it patched the last build's executable in place rather than linking
    /// whole (a new process, with the layout that build saved).
    pub linked_in_place: bool,
    pub output: Option<PathBuf>,
    /// Text output (llvm-ir or zir) when written to standard output.
    pub text: Option<String>,
    pub duration: Duration,
    /// The queries that executed, in order (with `--log-queries`).
    pub executed: Vec<String>,
    /// What the remote cache did, if there is one.
    pub remote: Option<Box<crate::cache::remote::RemoteReport>>,
}

impl BuildReport {
    /// Whether the build has no errors (warnings do not fail it).
    pub fn success(&self) -> bool {
        !self.diagnostics.iter().any(Located::is_error)
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    /// Makes every warning an error (`--deny-warnings`).
    pub fn deny_warnings(&mut self) {
        for d in &mut self.diagnostics {
            d.severity = mini_queries::base::Severity::Error;
        }
    }
}
