//! The `mini` command: parses arguments, runs a command, maps the outcome to an exit
//! status. Everything else lives in the modules below.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use mini_queries::source::{CodegenSettings, Settings, contracts_by_default};

use mini::cli::{CacheCommand, Cli, ColorChoice, Command, CommonArgs, Emit, ExplainArgs, MessageFormat, Switch};
use mini::driver::{BuildReport, BuildRequest, Session, Status};
use mini::report::{Reporter, ms};

/// Exit statuses of `mini` itself.
const EXIT_COMPILE_ERRORS: u8 = 1;
const EXIT_USAGE_OR_IO: u8 = 2;
const EXIT_INTERNAL: u8 = 101;

fn main() -> ExitCode {
    mini::process::no_huge_pages();
    let cli = Cli::parse();
    init_logging();
    // The compiler runs on a thread with a generous stack; deep trees are bounded by the
    // parser, this is a second line of defence. A panic is a compiler bug: exit 101.
    let worker = std::thread::Builder::new().name("mini".into()).stack_size(256 << 20).spawn(move || run(cli));
    match worker.map(|handle| handle.join()) {
        Ok(Ok(Ok(code))) => code,
        Ok(Ok(Err(error))) => {
            eprintln!("mini: error: {error:#}");
            ExitCode::from(EXIT_USAGE_OR_IO)
        }
        Ok(Err(_panic)) => {
            eprintln!("mini: internal compiler error (this is a bug in mini; please report it with the input)");
            ExitCode::from(EXIT_INTERNAL)
        }
        Err(error) => {
            eprintln!("mini: error: cannot start the compiler thread: {error}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MINI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Closing spans report their duration: MINI_LOG=info shows where a build's time went.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stderr().is_terminal(),
    };
    match cli.command {
        Command::Build(args) => {
            let output = match args.output {
                Some(path) if path == Path::new("-") => None,
                Some(path) => Some(path),
                None => Some(default_output(&args.common.entry, args.emit)),
            };
            let mut request = request(&args.common, args.emit, output)?;
            request.deny_warnings = args.warnings.deny();
            let mut session = session(&args.common)?;
            let report = session.build(&request)?;
            session.finish();
            let reporter = Reporter { format: args.common.message_format, color, json_to_stderr: false };
            reporter.finish(&report);
            if let Some(text) = &report.text {
                std::io::stdout().write_all(text.as_bytes())?;
            }
            Ok(exit_code(&report))
        }
        Command::Run(args) => {
            let mut session = session(&args.common)?;
            let stem = file_stem(&args.common.entry);
            let output = session.cache_dir().join("bin").join(stem);
            std::fs::create_dir_all(output.parent().expect("has a parent"))
                .with_context(|| format!("creating {}", output.display()))?;
            let mut request = request(&args.common, Emit::Exe, Some(output.clone()))?;
            request.deny_warnings = args.warnings.deny();
            let report = session.build(&request)?;
            session.finish();
            // The program owns standard output; the compiler's messages go to stderr.
            let reporter = Reporter { format: args.common.message_format, color, json_to_stderr: true };
            reporter.finish(&report);
            if !report.success() {
                return Ok(exit_code(&report));
            }
            let status = std::process::Command::new(&output)
                .args(&args.args)
                .status()
                .with_context(|| format!("running {}", output.display()))?;
            Ok(ExitCode::from(program_status(status)))
        }
        Command::Cache(command) => cache_command(command),
        Command::Explain(args) => explain(&args, color),
        Command::Watch(args) => {
            let output = args.output.clone().unwrap_or_else(|| default_output(&args.common.entry, Emit::Exe));
            let mut request = request(&args.common, Emit::Exe, Some(output))?;
            request.deny_warnings = args.warnings.deny();
            let session = session(&args.common)?;
            let reporter = Reporter { format: args.common.message_format, color, json_to_stderr: false };
            mini::watch::run(mini::watch::Watcher::new(session, request), reporter, args.run)
        }
        Command::Check(args) => {
            let mut session = Session::new(&args.entry)?;
            let mut report = session.check(args.log_queries)?;
            if args.warnings.deny() {
                report.deny_warnings();
            }
            let reporter = Reporter { format: args.message_format, color, json_to_stderr: false };
            reporter.diagnostics(&report);
            reporter.queries(&report);
            if args.message_format == MessageFormat::Json {
                reporter.event(serde_json::json!({
                    "reason": "check-finished",
                    "success": report.success(),
                    "functions": report.functions,
                    "duration_ms": ms(report.duration),
                }));
            }
            Ok(exit_code(&report))
        }
    }
}

fn session(common: &CommonArgs) -> Result<Session> {
    let mut session = Session::new(&common.entry)?;
    if common.no_cache {
        session.disable_cache();
    } else if let Some(dir) = &common.cache_dir {
        session.set_cache_dir(dir.clone());
    }
    Ok(session)
}

fn explain(args: &ExplainArgs, color: bool) -> Result<ExitCode> {
    let mut session = session(&args.common)?;
    let request = request(&args.common, Emit::Exe, None)?;
    let explanation = session.explain(&request.settings)?;
    if !explanation.report.success() {
        let format = if args.json { MessageFormat::Json } else { MessageFormat::Human };
        Reporter { format, color, json_to_stderr: false }.diagnostics(&explanation.report);
        return Ok(ExitCode::from(1));
    }
    let statuses = [
        Status::Cached,
        Status::Changed,
        Status::Contract,
        Status::Dependency,
        Status::Settings,
        Status::New,
        Status::Evicted,
    ];
    let contracts = if request.settings.contracts { "on" } else { "off" };
    let because = |f: &mini::driver::Explained| match (f.status, &f.detail) {
        (Status::Dependency, Some(callee)) => Some(format!("{callee} changed its signature")),
        (Status::Contract, _) => Some(
            match (f.compile, request.settings.contracts) {
                (true, _) => "only its contracts changed; contracts are on",
                (false, false) => "only its contracts changed; contracts are off, so nothing is compiled",
                // Contracts on, but these contracts were compiled before (an edit undone).
                (false, true) => "only its contracts changed; their code is in the cache",
            }
            .to_string(),
        ),
        _ => None,
    };
    let compile = explanation.will_compile();
    if args.json {
        let functions: Vec<serde_json::Value> = explanation
            .functions
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "status": f.status.name(),
                    "because": because(f),
                    "compile": f.compile,
                })
            })
            .collect();
        let mut totals = serde_json::Map::new();
        for status in statuses {
            totals.insert(status.name().into(), explanation.count(status).into());
        }
        totals.insert("removed".into(), explanation.removed.len().into());
        println!(
            "{}",
            serde_json::json!({
                "reason": "explain",
                "functions": functions,
                "removed": explanation.removed,
                "totals": totals,
                "contracts": contracts,
                "will_compile": compile,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    let width = explanation.functions.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &explanation.functions {
        match because(f) {
            Some(because) => println!("{:width$}  {} ({because})", f.name, f.status.name()),
            None => println!("{:width$}  {}", f.name, f.status.name()),
        }
    }
    for name in &explanation.removed {
        println!("{name:width$}  removed");
    }
    let totals: Vec<String> = statuses.iter().map(|&s| format!("{} {}", explanation.count(s), s.name())).collect();
    println!(
        "{}, {} removed: the next build compiles {} of {} function{} (contracts {contracts})",
        totals.join(", "),
        explanation.removed.len(),
        compile.len(),
        explanation.functions.len(),
        mini::report::plural(explanation.functions.len())
    );
    Ok(ExitCode::SUCCESS)
}

fn cache_command(command: CacheCommand) -> Result<ExitCode> {
    match command {
        CacheCommand::Stats(args) => {
            let stats = mini::gc::stats(&args.cache_dir)?;
            println!("{}", serde_json::to_string_pretty(&stats)?);
        }
        CacheCommand::Gc { cache, max_size } => {
            let max_size = max_size.unwrap_or_else(mini::gc::max_size);
            let outcome = mini::gc::collect_garbage(&cache.cache_dir, max_size, false)?.expect("waited for the lock");
            eprintln!(
                "Removed {} entries: {} -> {} bytes (limit {max_size})",
                outcome.removed, outcome.bytes_before, outcome.bytes_after
            );
        }
        CacheCommand::Clean(args) => {
            mini::gc::clean(&args.cache_dir)?;
            eprintln!("Removed the cache in {}", args.cache_dir.display());
        }
        CacheCommand::Verify(args) => {
            let (checked, bad) = mini::gc::verify(&args.cache_dir)?;
            for path in &bad {
                eprintln!("removed bad entry {}", path.display());
            }
            eprintln!("Verified {checked} entries: {} bad, removed", bad.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn request(common: &CommonArgs, emit: Emit, output: Option<PathBuf>) -> Result<BuildRequest> {
    let mut codegen = CodegenSettings::host();
    codegen.opt_level = common.opt_level;
    codegen.debug_info = common.debug_info;
    if let Some(target) = &common.target {
        codegen.target = target.as_str().into();
    }
    let contracts = common.contracts.map_or(contracts_by_default(common.opt_level), |c| c == Switch::On);
    let settings = Settings { codegen, contracts };
    let jobs = match common.jobs {
        Some(0) => anyhow::bail!("-j needs at least one thread"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok(BuildRequest { emit, output, settings, jobs, log_queries: common.log_queries, deny_warnings: false })
}

fn file_stem(entry: &Path) -> String {
    entry.file_stem().map_or_else(|| "main".to_string(), |s| s.to_string_lossy().into_owned())
}

/// The entry file's stem in the current directory, with the output kind's extension.
fn default_output(entry: &Path, emit: Emit) -> PathBuf {
    let stem = file_stem(entry);
    PathBuf::from(match emit {
        Emit::Exe => stem,
        Emit::Obj => format!("{stem}.o"),
        Emit::LlvmIr => format!("{stem}.ll"),
        Emit::Zir => format!("{stem}.zir"),
    })
}

fn exit_code(report: &BuildReport) -> ExitCode {
    if report.success() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_COMPILE_ERRORS) }
}

/// A program's exit status as ours: its code, or 128 + the signal that killed it.
fn program_status(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => EXIT_INTERNAL,
    }
}
