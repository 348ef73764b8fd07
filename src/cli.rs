//! Command-line interface: clap definitions; doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::{ErrorEvent, Level, MessageFormat};

/// mini: an incremental compiler for the mini language.
///
/// Every stage of the compiler is a memoized query, so a rebuild does work in proportion
/// to what changed. Exit status: 0 success, 1 compile errors, 2 usage or I/O error,
/// 101 internal compiler error. `mini run` exits with the program's own status.
///
/// Set MINI_LOG (for example MINI_LOG=debug or MINI_LOG=mini_queries=trace) to see logs.
#[derive(Debug, Parser)]
#[command(name = "mini", version = crate::version::VERSION.as_str(), max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// When to color diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project: a directory with a `main.mini` that runs, and a `.gitignore`.
    New(NewArgs),
    /// Compile a program to a native executable (or an object, LLVM IR or ZIR).
    Build(BuildArgs),
    /// Build a program, run it, and exit with its status.
    Run(RunArgs),
    /// Report the program's errors without generating code.
    Check(CheckArgs),
    /// Build, then rebuild (and with --run, rerun) whenever a source file changes.
    Watch(WatchArgs),
    /// Say what the next build would compile, and why, without building: the functions
    /// it compiles grouped by reason, and the totals (--all: every function). Takes the
    /// settings of `build` that decide what is compiled.
    Explain(ExplainArgs),
    /// Inspect, shrink, check or remove the build cache of a program.
    ///
    /// The cache commands act on the cache `mini build ENTRY` uses: `.mini_cache` in the
    /// entry file's directory, or the directory given by `--cache-dir` / `MINI_CACHE_DIR`.
    /// A cache that is not there is said to be missing ("no cache at DIR"): `stats`, `gc`
    /// and `verify` then exit with status 2, `clean` with 0 (there is nothing to remove);
    /// nothing is created. A directory without mini's CACHEDIR.TAG is not a cache and is
    /// left alone (status 2). What could not be read or removed is listed, and the
    /// command exits with status 2.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Run a language server (the Language Server Protocol) over standard input and
    /// output, for editors: diagnostics as you type, definitions, references, rename,
    /// completion. The program is the workspace folder's `main.mini`, or the file given
    /// as `initializationOptions.entry`. It reads the build cache but never writes
    /// executables.
    Lsp,
}

impl Command {
    /// With JSON output, the event a failure of this command ends with; `None` when its
    /// output is for people (or, for `new` and `lsp`, never JSON).
    pub fn error_event(&self) -> Option<ErrorEvent> {
        let json = |format: MessageFormat| format == MessageFormat::Json;
        let (reason, to_stderr, is_json) = match self {
            Command::Build(args) => ("build-finished", false, json(args.common.message_format)),
            Command::Run(args) => ("build-finished", true, json(args.common.message_format)),
            Command::Check(args) => ("check-finished", false, json(args.message_format)),
            Command::Watch(args) => ("rebuild-finished", args.run, json(args.common.message_format)),
            Command::Explain(args) => ("explain", false, json(args.message_format())),
            Command::Cache(command) => (command.reason(), false, command.args().json),
            Command::New(_) | Command::Lsp => return None,
        };
        is_json.then_some(ErrorEvent { reason, to_stderr })
    }
}

/// `Command::error_event` for arguments clap could not parse (a usage error): the
/// command and its JSON flag are read from the raw arguments, as far as they go.
pub fn error_event_of(args: &[std::ffi::OsString]) -> Option<ErrorEvent> {
    let mut words = Vec::new();
    let mut json = false;
    let mut run = false;
    let mut args = args.iter().skip(1).map(|arg| arg.to_string_lossy());
    while let Some(arg) = args.next() {
        match arg.as_ref() {
            // The program's arguments follow.
            "--" => break,
            "--color" | "--message-format" => {
                let value = args.next();
                json |= arg == "--message-format" && value.as_deref() == Some("json");
            }
            "--message-format=json" | "--json" => json = true,
            "--run" => run = true,
            flag if flag.starts_with('-') => {}
            word => words.push(word.to_string()),
        }
    }
    let reason = match (words.first().map(String::as_str), words.get(1).map(String::as_str)) {
        (Some("build" | "run"), _) => "build-finished",
        (Some("check"), _) => "check-finished",
        (Some("watch"), _) => "rebuild-finished",
        (Some("explain"), _) => "explain",
        (Some("cache"), Some("stats")) => "cache-stats",
        (Some("cache"), Some("gc")) => "cache-gc",
        (Some("cache"), Some("clean")) => "cache-clean",
        (Some("cache"), Some("verify")) => "cache-verify",
        _ => return None,
    };
    let to_stderr = words[0] == "run" || (words[0] == "watch" && run);
    json.then_some(ErrorEvent { reason, to_stderr })
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The directory to create (its last component names the project). It may exist if
    /// it is empty.
    #[arg(value_name = "NAME")]
    pub path: PathBuf,
}

/// How much a command says besides errors.
#[derive(Clone, Copy, Debug, Args)]
pub struct Verbosity {
    /// Print nothing but errors and warnings (and the program's own output): no summary
    /// line, no progress.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more: the settings and the cache in use, each function compiled, what was
    /// written.
    #[arg(short, long)]
    pub verbose: bool,
}

impl Verbosity {
    pub fn level(self) -> Level {
        if self.quiet {
            Level::Quiet
        } else if self.verbose {
            Level::Verbose
        } else {
            Level::Normal
        }
    }
}

/// The architectures mini generates code for: LLVM is built into mini with these
/// backends only (`codegen::validate_target` accepts their triples).
pub const ARCHITECTURES: [&str; 2] = ["x86_64", "aarch64"];

/// What `--target` accepts, for an error message: the architectures, with this machine's
/// triple and an example of the other.
pub fn supported_targets() -> String {
    let host = mini_queries::base::host_triple();
    format!(
        "supported targets: {} triples, such as {host} (this machine) and aarch64-unknown-linux-gnu \
         (executables only for this machine; --emit obj for the others)",
        ARCHITECTURES.join(" and ")
    )
}

/// The cache commands (see `Command::Cache` for what they act on).
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Show the entries, their size, and what the last build hit and missed (a missing
    /// cache is an error).
    Stats(CacheArgs),
    /// Evict least recently used entries until the cache is at most the given size.
    Gc {
        #[command(flatten)]
        cache: CacheArgs,
        /// The size to shrink to, such as 500M or 2G (default: MINI_CACHE_MAX_SIZE, or 2G).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
    },
    /// Remove every entry, index and executable in the cache (a missing cache has
    /// nothing to remove: status 0).
    Clean(CacheArgs),
    /// Re-hash every entry and index; report and remove the bad ones.
    Verify(CacheArgs),
}

impl CacheCommand {
    pub fn args(&self) -> &CacheArgs {
        match self {
            CacheCommand::Stats(args) | CacheCommand::Clean(args) | CacheCommand::Verify(args) => args,
            CacheCommand::Gc { cache, .. } => cache,
        }
    }

    /// The `reason` of the command's JSON object.
    pub fn reason(&self) -> &'static str {
        match self {
            CacheCommand::Stats(_) => "cache-stats",
            CacheCommand::Gc { .. } => "cache-gc",
            CacheCommand::Clean(_) => "cache-clean",
            CacheCommand::Verify(_) => "cache-verify",
        }
    }
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// The program whose cache it is: the cache is `.mini_cache` in its entry file's
    /// directory, as for `mini build ENTRY`.
    #[arg(value_name = "ENTRY", default_value = "main.mini")]
    pub entry: PathBuf,

    #[command(flatten)]
    pub cache: CacheDirArg,

    /// Print one JSON object for tools (with `entries` and `bytes`) instead of lines for
    /// people; a failure is `{"reason": …, "success": false, "error": …}`.
    #[arg(long)]
    pub json: bool,
}

impl CacheArgs {
    pub fn directory(&self) -> PathBuf {
        self.cache.directory(&self.entry)
    }
}

/// `--cache-dir`, for every command that uses the cache (`MINI_CACHE_DIR` is read by
/// `cache::directory`, with the default).
#[derive(Debug, Args)]
pub struct CacheDirArg {
    /// Where compiled objects are kept between builds (default: MINI_CACHE_DIR if set,
    /// else `.mini_cache` in the entry file's directory). The cache is capped at
    /// MINI_CACHE_MAX_SIZE (default 2G).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheDirArg {
    /// The cache directory for the program whose entry file is `entry` (see
    /// `cache::directory`, which every command asks).
    pub fn directory(&self, entry: &std::path::Path) -> PathBuf {
        crate::cache::directory(entry, self.cache_dir.as_deref())
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    crate::cache::gc::parse_size(text)
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Where to write the output. Defaults to the entry file's stem in the current
    /// directory (`main` for an executable, `main.o`, `main.ll` or `main.zir` otherwise).
    /// `-` writes text outputs (llvm-ir, zir) to standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// What to produce.
    #[arg(long, value_enum, default_value_t = Emit::Exe)]
    pub emit: Emit,

    #[command(flatten)]
    pub verbosity: Verbosity,

    #[command(flatten)]
    pub warnings: WarningArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,

    #[command(flatten)]
    pub warnings: WarningArgs,

    /// Arguments passed to the program (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Where to write the executable (default: the entry file's stem).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Run the program after each successful build, stopping a previous run first.
    #[arg(long)]
    pub run: bool,

    #[command(flatten)]
    pub verbosity: Verbosity,

    #[command(flatten)]
    pub warnings: WarningArgs,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The program's entry file.
    #[arg(value_name = "ENTRY", default_value = "main.mini")]
    pub entry: PathBuf,

    #[command(flatten)]
    pub settings: SettingsArgs,

    #[command(flatten)]
    pub cache: CacheDirArg,

    /// List every function with what the build does with it, cached ones included.
    #[arg(long)]
    pub all: bool,

    /// How to print the answer: for people, or as JSON for tools: one object with every
    /// function, or with the errors that keep the program from building.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// The same as --message-format json.
    #[arg(long, conflicts_with = "message_format")]
    pub json: bool,

    /// Print the totals line only.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say first which settings and cache are explained, and which build they are
    /// compared with.
    #[arg(short, long)]
    pub verbose: bool,
}

impl ExplainArgs {
    pub fn message_format(&self) -> MessageFormat {
        if self.json { MessageFormat::Json } else { self.message_format }
    }

    pub fn level(&self) -> Level {
        Verbosity { quiet: self.quiet, verbose: self.verbose }.level()
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The program's entry file.
    #[arg(value_name = "ENTRY", default_value = "main.mini")]
    pub entry: PathBuf,

    /// How to print diagnostics: for people, or one JSON object per line for tools.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// After checking, print the queries that executed, in order.
    #[arg(long)]
    pub log_queries: bool,

    #[command(flatten)]
    pub verbosity: Verbosity,

    #[command(flatten)]
    pub warnings: WarningArgs,
}

/// What to make of warnings, on the commands that check a program.
#[derive(Debug, Args)]
pub struct WarningArgs {
    /// Treat warnings as errors: report them as errors, exit with status 1 and write no
    /// output.
    #[arg(long)]
    pub deny_warnings: bool,

    /// `-D warnings`: the same as --deny-warnings (the only lint group is `warnings`).
    #[arg(short = 'D', value_name = "LINT", value_enum)]
    pub deny: Vec<Lint>,
}

impl WarningArgs {
    pub fn deny(&self) -> bool {
        self.deny_warnings || !self.deny.is_empty()
    }
}

/// What `-D` can deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lint {
    /// Every warning.
    Warnings,
}

/// Options shared by every command that generates code.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The program's entry file; it must define `fn main() i32` or `fn main() void`.
    #[arg(value_name = "ENTRY", default_value = "main.mini")]
    pub entry: PathBuf,

    #[command(flatten)]
    pub settings: SettingsArgs,

    /// Threads for code generation (default: the number of cores).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,

    /// How to print diagnostics and the build summary: for people, or one JSON object
    /// per line for tools (on standard error for `run` and `watch --run`, whose program
    /// has standard output). Every outcome, failures included, ends with an object that
    /// has `success`.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// After the build, print the queries that executed, in order.
    #[arg(long)]
    pub log_queries: bool,

    #[command(flatten)]
    pub cache: CacheDirArg,

    /// Keep nothing between builds: every function is compiled.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,

    /// Share build results through a remote cache: an HTTP server that speaks Bazel's
    /// remote-cache protocol (nginx with WebDAV, bazel-remote…), such as
    /// http://user:password@cache.example:8080/mini/. Credentials are never printed.
    #[arg(long, value_name = "URL", env = "MINI_REMOTE_CACHE", hide_env_values = true)]
    pub remote_cache: Option<String>,

    /// Only download from the remote cache, never upload (developers read, CI writes).
    #[arg(long, env = "MINI_REMOTE_CACHE_READ_ONLY", value_parser = clap::builder::BoolishValueParser::new())]
    pub remote_read_only: bool,

    /// How long one request to the remote cache may take.
    #[arg(long, value_name = "DURATION", env = "MINI_REMOTE_CACHE_TIMEOUT", default_value = "5s",
          value_parser = crate::cache::remote::parse_duration)]
    pub remote_timeout: std::time::Duration,

    /// How long connecting to the remote cache may take.
    #[arg(long, value_name = "DURATION", env = "MINI_REMOTE_CACHE_CONNECT_TIMEOUT", default_value = "250ms",
          value_parser = crate::cache::remote::parse_duration)]
    pub remote_connect_timeout: std::time::Duration,
}

/// The settings that decide what code is generated: what `explain` shares with the
/// commands that build.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Optimization level.
    #[arg(short = 'O', value_name = "LEVEL", default_value = "0", value_parser = clap::value_parser!(u8).range(0..=3))]
    pub opt_level: u8,

    /// Target triple to generate code for (default: this machine's); x86_64 and aarch64
    /// triples are supported, such as aarch64-unknown-linux-gnu. Executables can only be
    /// linked for this machine; use `--emit obj` for others.
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,

    /// Generate debug information (DWARF line tables).
    #[arg(short = 'g')]
    pub debug_info: bool,

    /// Check `requires` and `ensures` at run time (default: on at -O0 and -O1, off at -O2
    /// and -O3). Off, contracts are still type-checked but generate no code.
    #[arg(long, value_name = "WHEN", value_enum)]
    pub contracts: Option<Switch>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// A native executable.
    Exe,
    /// One relocatable object file holding the whole program.
    Obj,
    /// LLVM IR as text.
    LlvmIr,
    /// mini's untyped intermediate representation, as text.
    Zir,
}

impl From<Emit> for crate::driver::Emit {
    fn from(emit: Emit) -> Self {
        match emit {
            Emit::Exe => crate::driver::Emit::Exe,
            Emit::Obj => crate::driver::Emit::Obj,
            Emit::LlvmIr => crate::driver::Emit::LlvmIr,
            Emit::Zir => crate::driver::Emit::Zir,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}
