//! Command-line interface: clap definitions; doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Say what the next build would compile, function by function, and why — without
    /// building. Takes the same settings as `build`.
    Explain(ExplainArgs),
    /// Inspect or clean the build cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Run a language server (the Language Server Protocol) over standard input and
    /// output, for editors: diagnostics as you type, definitions, references, rename,
    /// completion. The program is the workspace folder's `main.mini`, or the file given
    /// as `initializationOptions.entry`. It reads the build cache but never writes
    /// executables.
    Lsp,
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
    /// Print nothing but errors (and the program's own output): no summary line, no
    /// progress.
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// The architectures mini generates code for: its code generator links LLVM with these
/// backends only, and `base::validate_target` accepts their (ELF) triples.
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

/// The cache commands. They act on `.mini_cache` in the current directory, or on the
/// directory given by `--cache-dir` / `MINI_CACHE_DIR`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Show entries, size, and what the last build hit and missed.
    Stats(CacheArgs),
    /// Evict least recently used entries until the cache fits.
    Gc {
        #[command(flatten)]
        cache: CacheArgs,
        /// The size to shrink to, such as 500M or 2G (default: MINI_CACHE_MAX_SIZE, or 2G).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
    },
    /// Remove everything in the cache.
    Clean(CacheArgs),
    /// Re-hash every entry; report and remove the bad ones.
    Verify(CacheArgs),
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// The cache directory.
    #[arg(long, value_name = "DIR", env = "MINI_CACHE_DIR", default_value = ".mini_cache")]
    pub cache_dir: PathBuf,
}

fn parse_size(text: &str) -> Result<u64, String> {
    crate::gc::parse_size(text)
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
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,

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
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
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
}

/// Options shared by every command that generates code.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The program's entry file; it must define `fn main() i32` or `fn main() void`.
    #[arg(value_name = "ENTRY", default_value = "main.mini")]
    pub entry: PathBuf,

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

    /// Threads for code generation (default: the number of cores).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,

    /// How to print diagnostics and the build summary: for people, or one JSON object
    /// per line for tools.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// After the build, print the queries that executed, in order.
    #[arg(long)]
    pub log_queries: bool,

    /// Where to keep compiled objects between builds (default: `.mini_cache` in the
    /// entry file's directory). The cache is capped at MINI_CACHE_MAX_SIZE (default 2G).
    #[arg(long, value_name = "DIR", env = "MINI_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

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
          value_parser = crate::remote::parse_duration)]
    pub remote_timeout: std::time::Duration,

    /// How long connecting to the remote cache may take.
    #[arg(long, value_name = "DURATION", env = "MINI_REMOTE_CACHE_CONNECT_TIMEOUT", default_value = "250ms",
          value_parser = crate::remote::parse_duration)]
    pub remote_connect_timeout: std::time::Duration,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}
