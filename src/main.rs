//! The `mini` command: parses arguments, runs a command, maps the outcome to an exit
//! status. Everything else lives in the modules below.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use mini_queries::source::{CodegenSettings, Settings, contracts_by_default};

use mini::cli::{CacheCommand, Cli, ColorChoice, Command, CommonArgs, Emit, ExplainArgs, Level, MessageFormat, Switch};
use mini::driver::{BuildReport, BuildRequest, Session, Status};
use mini::progress::Terminal;
use mini::remote::{Remote, RemoteSettings};
use mini::report::{Reporter, ms};

/// Exit statuses of `mini` itself.
const EXIT_COMPILE_ERRORS: u8 = 1;
const EXIT_USAGE_OR_IO: u8 = 2;
const EXIT_INTERNAL: u8 = 101;

fn main() -> ExitCode {
    mini::process::no_huge_pages();
    let cli = Cli::parse();
    init_logging(cli.color);
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

fn init_logging(color: ColorChoice) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MINI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Closing spans report their duration: MINI_LOG=info shows where a build's time went.
    // Colours only where they are shown: a log piped to a file stays plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(use_color(color))
        .with_target(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .init();
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stderr().is_terminal(),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let color = use_color(cli.color);
    match cli.command {
        Command::New(args) => {
            let created = mini::scaffold::new_project(&args.path)?;
            eprintln!("Created {created}; build and run it with `cd {} && mini run`", args.path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Build(args) => {
            let output = match args.output {
                Some(path) if path == Path::new("-") => None,
                Some(path) => {
                    // Before compiling anything: a directory here is a mistake to report now.
                    mini::output::prepare(&path)?;
                    Some(path)
                }
                None => Some(default_output(&args.common.entry, args.emit)),
            };
            let request = request(&args.common, args.emit, output)?;
            let mut session = session(&args.common)?;
            let level = args.verbosity.level();
            let reporter = Reporter { format: args.common.message_format, color, json_to_stderr: false, level };
            reporter.starting(&args.common.entry, &request, &session);
            let report = build_with_progress(&mut session, &request, &reporter)?;
            session.finish();
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
            let request = request(&args.common, Emit::Exe, Some(output.clone()))?;
            // The program owns standard output; the compiler's messages go to stderr.
            let level = args.verbosity.level();
            let reporter = Reporter { format: args.common.message_format, color, json_to_stderr: true, level };
            reporter.starting(&args.common.entry, &request, &session);
            let report = build_with_progress(&mut session, &request, &reporter)?;
            session.finish();
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
        Command::Lsp => Ok(mini::lsp::run_stdio()),
        Command::Explain(args) => explain(&args, color),
        Command::Watch(args) => {
            if let Some(path) = &args.output {
                mini::output::prepare(path)?;
            }
            let output = args.output.clone().unwrap_or_else(|| default_output(&args.common.entry, Emit::Exe));
            let request = request(&args.common, Emit::Exe, Some(output))?;
            let session = session(&args.common)?;
            let level = args.verbosity.level();
            let reporter = Reporter { format: args.common.message_format, color, json_to_stderr: false, level };
            reporter.starting(&args.common.entry, &request, &session);
            mini::watch::run(mini::watch::Watcher::new(session, request), reporter, args.run)
        }
        Command::Check(args) => {
            let mut session = Session::new(&args.entry)?;
            let report = session.check(args.log_queries)?;
            let level = args.verbosity.level();
            let reporter = Reporter { format: args.message_format, color, json_to_stderr: false, level };
            reporter.diagnostics(&report);
            reporter.queries(&report);
            match args.message_format {
                MessageFormat::Json => reporter.event(serde_json::json!({
                    "reason": "check-finished",
                    "success": report.success(),
                    "functions": report.functions,
                    "duration_ms": ms(report.duration),
                })),
                MessageFormat::Human => reporter.checked(&report),
            }
            Ok(exit_code(&report))
        }
    }
}

/// Builds, with a progress line on stderr when it is a terminal and the output is for
/// people who did not ask for quiet. The line is erased before anything else is printed.
fn build_with_progress(session: &mut Session, request: &BuildRequest, reporter: &Reporter) -> Result<BuildReport> {
    let show =
        std::io::stderr().is_terminal() && reporter.format == MessageFormat::Human && reporter.level != Level::Quiet;
    if !show {
        return session.build(request);
    }
    let progress = std::sync::Arc::new(Terminal::stderr());
    session.set_progress(progress.clone());
    let report = session.build(request);
    progress.clear();
    report
}

fn session(common: &CommonArgs) -> Result<Session> {
    let mut session = Session::new(&common.entry)?;
    // Tests of the real process inject faults this way (see `mini::fault`).
    session.faults().arm_from_env().map_err(anyhow::Error::msg)?;
    if common.no_cache {
        session.disable_cache();
    } else if let Some(dir) = &common.cache_dir {
        session.set_cache_dir(dir.clone());
    }
    if let Some(url) = common.remote_cache.as_deref().filter(|url| !url.trim().is_empty()) {
        let settings = RemoteSettings {
            read_only: common.remote_read_only,
            timeout: common.remote_timeout,
            connect_timeout: common.remote_connect_timeout,
            ..RemoteSettings::new(url)
        };
        session.set_remote(Remote::new(settings).context("the remote cache")?);
    }
    Ok(session)
}

fn explain(args: &ExplainArgs, color: bool) -> Result<ExitCode> {
    let mut session = session(&args.common)?;
    let request = request(&args.common, Emit::Exe, None)?;
    let explanation = session.explain(&request.settings)?;
    if !explanation.report.success() {
        let format = if args.json { MessageFormat::Json } else { MessageFormat::Human };
        Reporter { format, color, json_to_stderr: false, level: Level::Normal }.diagnostics(&explanation.report);
        return Ok(ExitCode::from(1));
    }
    if args.json {
        println!("{}", explanation.to_json());
        return Ok(ExitCode::SUCCESS);
    }
    let width = explanation.functions.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &explanation.functions {
        match f.because(explanation.contracts) {
            Some(because) => println!("{:width$}  {} ({because})", f.name, f.status.name()),
            None => println!("{:width$}  {}", f.name, f.status.name()),
        }
    }
    for name in &explanation.removed {
        println!("{name:width$}  removed");
    }
    let totals: Vec<String> = Status::ALL.iter().map(|&s| format!("{} {}", explanation.count(s), s.name())).collect();
    println!(
        "{}, {} removed: the next build compiles {} of {} function{} (contracts {})",
        totals.join(", "),
        explanation.removed.len(),
        explanation.will_compile().len(),
        explanation.functions.len(),
        mini::report::plural(explanation.functions.len()),
        if explanation.contracts { "on" } else { "off" },
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
            let Some(outcome) = mini::gc::collect_garbage(&cache.cache_dir, max_size, false)? else {
                anyhow::bail!("the cache lock was not taken");
            };
            for problem in &outcome.problems {
                eprintln!("mini: cannot read or remove {problem}");
            }
            eprintln!(
                "Removed {} entries: {} -> {} bytes (limit {max_size})",
                outcome.removed, outcome.bytes_before, outcome.bytes_after
            );
            if !outcome.problems.is_empty() {
                eprintln!("mini: error: {} part(s) of the cache could not be read or removed", outcome.problems.len());
                return Ok(ExitCode::from(EXIT_USAGE_OR_IO));
            }
        }
        CacheCommand::Clean(args) => {
            mini::gc::clean(&args.cache_dir)?;
            eprintln!("Removed the cache in {}", args.cache_dir.display());
        }
        CacheCommand::Verify(args) => {
            let verified = mini::gc::verify(&args.cache_dir)?;
            for path in &verified.bad {
                eprintln!("removed bad entry {}", path.display());
            }
            for problem in &verified.unreadable {
                eprintln!("mini: cannot read {problem}");
            }
            eprintln!("Verified {} entries: {} bad, removed", verified.checked, verified.bad.len());
            if !verified.unreadable.is_empty() {
                eprintln!("mini: error: {} part(s) of the cache could not be verified", verified.unreadable.len());
                return Ok(ExitCode::from(EXIT_USAGE_OR_IO));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn request(common: &CommonArgs, emit: Emit, output: Option<PathBuf>) -> Result<BuildRequest> {
    let mut codegen = CodegenSettings::host();
    codegen.opt_level = common.opt_level;
    codegen.debug_info = common.debug_info;
    if let Some(target) = &common.target {
        if let Err(reason) = mini_queries::base::validate_target(target) {
            anyhow::bail!("unsupported target '{target}': {reason}\n{}", mini::cli::supported_targets());
        }
        codegen.target = target.as_str().into();
    }
    let contracts = common.contracts.map_or(contracts_by_default(common.opt_level), |c| c == Switch::On);
    let settings = Settings { codegen, contracts };
    let jobs = match common.jobs {
        Some(0) => anyhow::bail!("-j needs at least one thread"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok(BuildRequest { emit, output, settings, jobs, log_queries: common.log_queries })
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

/// A program's exit status as ours: its code, or 128 + the signal that killed it, as a
/// shell does. A signal is said on stderr, since the program could not say it.
fn program_status(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => {
            eprintln!("mini: {}", mini::report::terminated_by(signal));
            128u8.wrapping_add(signal as u8)
        }
        (None, None) => EXIT_INTERNAL,
    }
}
