//! The `mini` command: parses arguments, runs a command, maps the outcome to an exit
//! status. Everything else lives in the modules below.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use mini_queries::source::{CodegenSettings, Settings, contracts_by_default};

use mini::cache::gc::{self, Presence};
use mini::cache::remote::{Remote, RemoteSettings};
use mini::cli::{CacheCommand, Cli, ColorChoice, Command, CommonArgs, Emit, ExplainArgs, SettingsArgs, Switch};
use mini::driver::{BuildReport, BuildRequest, Compared, Session};
use mini::progress::Terminal;
use mini::render::{plural, size, thousands};
use mini::report::{Level, MessageFormat};
use mini::report::{Reporter, ms};

/// Exit statuses of `mini` itself.
const EXIT_COMPILE_ERRORS: u8 = 1;
const EXIT_USAGE_OR_IO: u8 = 2;
const EXIT_INTERNAL: u8 = 101;

fn main() -> ExitCode {
    mini::process::no_huge_pages();
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return usage_error(error, &args),
    };
    init_logging(cli.color);
    // Under JSON output, every way of failing ends with an event that says so. `run`
    // returns an error only before the command's last event was printed.
    let event = cli.command.error_event();
    // The compiler runs on a thread with a generous stack; deep trees are bounded by the
    // parser, this is a second line of defence. A panic is a compiler bug: exit 101.
    let worker =
        std::thread::Builder::new().name("mini".into()).stack_size(256 << 20).spawn(move || run(cli).map(exit_now));
    match worker.map(|handle| handle.join()) {
        Ok(Ok(Ok(code))) => code,
        Ok(Ok(Err(error))) => {
            let error = format!("{error:#}");
            mini::report::fail(event, &format!("mini: error: {error}"), &error);
            ExitCode::from(EXIT_USAGE_OR_IO)
        }
        Ok(Err(_panic)) => {
            let error = "internal compiler error (this is a bug in mini; please report it with the input)";
            mini::report::fail(event, &format!("mini: {error}"), error);
            ExitCode::from(EXIT_INTERNAL)
        }
        Err(error) => {
            let error = format!("cannot start the compiler thread: {error}");
            mini::report::fail(event, &format!("mini: error: {error}"), &error);
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

/// Ends the process with `code`, from the compiler thread, once the command is done and
/// its output flushed: nothing it holds needs dropping (a session is `finish`ed, and
/// every file and connection is closed by then), and tearing the thread down — its
/// 256 MiB stack, the allocator handing its pages back — took 1.5 ms of a 13 ms no-op
/// build.
fn exit_now(code: ExitCode) -> ExitCode {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // `ExitCode` does not say its number; every code `mini` returns is one of these.
    match (0..=u8::MAX).find(|&status| ExitCode::from(status) == code) {
        Some(status) => std::process::exit(i32::from(status)),
        None => code,
    }
}

/// Arguments clap rejected: its message and status (2), and under JSON output (read from
/// the raw arguments) the command's failure event, so that a tool that asked for JSON
/// gets JSON however the command fails. Help and `--version` are not errors.
fn usage_error(error: clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let event = mini::cli::error_event_of(args);
    let event = match event {
        Some(event) if !matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => event,
        _ => error.exit(),
    };
    // clap's message is `error: <what>`, then tips and the usage: the event takes the
    // first line, people get all of it.
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    if event.to_stderr {
        eprintln!("{}", event.to_json(message));
    } else {
        let _ = error.print();
        println!("{}", event.to_json(message));
    }
    ExitCode::from(EXIT_USAGE_OR_IO)
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
            let mut request = request(&args.common, args.emit, output)?;
            request.deny_warnings = args.warnings.deny();
            let mut session = session(&args.common)?;
            let level = args.verbosity.level();
            let reporter = Reporter { format: args.common.message_format, color, json_to_stderr: false, level };
            reporter.starting(&args.common.entry, &request, &session);
            let report = build_with_progress(&mut session, &request, &reporter)?;
            session.finish();
            reporter.finish(&report);
            if let Some(text) = &report.text
                && let Err(error) = std::io::stdout().write_all(text.as_bytes())
            {
                // After the last event, which said the build succeeded: said on stderr alone.
                eprintln!("mini: error: writing to standard output: {}", mini::fs::io_reason(&error));
                return Ok(ExitCode::from(EXIT_USAGE_OR_IO));
            }
            Ok(exit_code(&report))
        }
        Command::Run(args) => {
            let mut session = session(&args.common)?;
            let stem = file_stem(&args.common.entry);
            // The executable lives in the cache's bin/; without a cache (whose private
            // directory goes with the session), in a directory of its own, removed after.
            let own_dir = args
                .common
                .no_cache
                .then(|| std::env::temp_dir().join(format!("mini-run-{}-{}", std::process::id(), mini::fs::now_ns())));
            let output = own_dir.as_deref().unwrap_or(&session.cache_dir().join("bin")).join(stem);
            let mut request = request(&args.common, Emit::Exe, Some(output.clone()))?;
            request.deny_warnings = args.warnings.deny();
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
            let status = mini::process::spawn(std::process::Command::new(&output).args(&args.args))
                .and_then(|mut child| child.wait())
                .with_context(|| format!("running {}", output.display()));
            if let Some(dir) = own_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            match status {
                Ok(status) => Ok(ExitCode::from(program_status(status))),
                // After the build's last event, which said it succeeded: said on stderr alone.
                Err(error) => {
                    eprintln!("mini: error: {error:#}");
                    Ok(ExitCode::from(EXIT_USAGE_OR_IO))
                }
            }
        }
        Command::Cache(command) => cache_command(&command),
        Command::Lsp => Ok(mini::lsp::run_stdio()),
        Command::Explain(args) => explain(&args, color),
        Command::Watch(args) => {
            if let Some(path) = &args.output {
                mini::output::prepare(path)?;
            }
            let output = args.output.clone().unwrap_or_else(|| default_output(&args.common.entry, Emit::Exe));
            let mut request = request(&args.common, Emit::Exe, Some(output))?;
            request.deny_warnings = args.warnings.deny();
            let mut session = session(&args.common)?;
            let level = args.verbosity.level();
            // With --run, the program's output is on stdout: events go to stderr, as for `mini run`.
            let reporter = Reporter { format: args.common.message_format, color, json_to_stderr: args.run, level };
            reporter.starting(&args.common.entry, &request, &session);
            // The first build is cold, and may take a while: it shows its progress.
            let progress = shows_progress(&reporter).then(|| std::sync::Arc::new(Terminal::stderr()));
            if let Some(progress) = &progress {
                session.set_progress(progress.clone());
            }
            mini::watch::run(mini::watch::Watcher::new(session, request), reporter, args.run, progress)
        }
        Command::Check(args) => {
            let mut session = Session::new(&args.entry)?;
            let mut report = session.check(args.log_queries)?;
            if args.warnings.deny() {
                report.deny_warnings();
            }
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
    if !shows_progress(reporter) {
        return session.build(request);
    }
    let progress = std::sync::Arc::new(Terminal::stderr());
    session.set_progress(progress.clone());
    let report = session.build(request);
    progress.clear();
    report
}

/// Whether builds draw their progress: on a terminal, for people who did not ask for quiet.
fn shows_progress(reporter: &Reporter) -> bool {
    std::io::stderr().is_terminal() && reporter.format == MessageFormat::Human && reporter.level != Level::Quiet
}

fn session(common: &CommonArgs) -> Result<Session> {
    let mut session = Session::new(&common.entry)?;
    // Tests of the real process inject faults this way (see `mini::fault`).
    session.faults().arm_from_env().map_err(anyhow::Error::msg)?;
    if common.no_cache {
        session.disable_cache();
    } else {
        session.set_cache_dir(common.cache.directory(&common.entry));
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
    let mut session = Session::new(&args.entry)?;
    session.faults().arm_from_env().map_err(anyhow::Error::msg)?;
    session.set_cache_dir(args.cache.directory(&args.entry));
    let settings = settings(&args.settings)?;
    let explanation = session.explain(&settings)?;
    let (format, level) = (args.message_format(), args.level());
    if format == MessageFormat::Json {
        println!("{}", explanation.to_json());
    } else if !explanation.report.success() {
        Reporter { format, color, json_to_stderr: false, level }.diagnostics(&explanation.report);
    } else {
        if level == Level::Verbose {
            let compared = match explanation.compared {
                Compared::SameSettings => "compared with the last build with these settings",
                Compared::OtherSettings => "no build with these settings yet: compared with the last build with others",
                Compared::Nothing => "no earlier build of it in this cache",
            };
            let codegen = &settings.codegen;
            println!(
                "Explaining {}: -O{}{}, contracts {}, target {}, cache in {}; {compared}",
                args.entry.display(),
                codegen.opt_level,
                if codegen.debug_info { " -g" } else { "" },
                if settings.contracts { "on" } else { "off" },
                codegen.target,
                session.cache_dir().display(),
            );
        }
        print!("{}", mini::report::explanation(&explanation, args.all, level));
    }
    Ok(if explanation.report.success() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_COMPILE_ERRORS) })
}

/// `mini cache …`: the cache of the program whose entry is given, as `mini build` finds
/// it. For people, lines (stats on stdout, the others' summaries on stderr); with
/// `--json`, one object on stdout. What could not be read is listed and makes the
/// command exit with status 2.
fn cache_command(command: &CacheCommand) -> Result<ExitCode> {
    let args = command.args();
    let root = args.directory();
    let dir = root.display().to_string();
    // Cleaning what is not there succeeds (its goal is reached), saying so; the other
    // commands fail on a missing cache rather than report it empty.
    let missing = gc::presence(&root) == Presence::Missing;
    if !(missing && matches!(command, CacheCommand::Clean(_))) {
        gc::require_cache(&root)?;
    }
    let mut object = serde_json::Map::new();
    let problems = match command {
        CacheCommand::Clean(_) if missing => {
            object.extend(json_fields(serde_json::json!({
                "existed": false, "entries": 0, "indexes": 0, "bytes": 0,
                "removed_entries": 0, "removed_indexes": 0, "bytes_before": 0,
            })));
            if !args.json {
                eprintln!("No cache at {dir}: nothing to remove");
            }
            Vec::new()
        }
        CacheCommand::Stats(_) => {
            let stats = gc::stats(&root)?;
            object.extend(json_fields(serde_json::json!({
                "entries": stats.entries, "indexes": stats.indexes, "bytes": stats.bytes,
                "max_bytes": stats.max_bytes, "last_build": stats.last_build,
            })));
            if !args.json {
                println!(
                    "{dir}: {}, {} (capped at {})",
                    counted(stats.entries, stats.indexes),
                    size(stats.bytes),
                    size(stats.max_bytes)
                );
                for line in last_build_lines(&stats.last_build) {
                    println!("{line}");
                }
            }
            stats.unreadable
        }
        CacheCommand::Gc { max_size, .. } => {
            let max_size = max_size.unwrap_or_else(gc::max_size);
            let Some(outcome) = gc::collect_garbage(&root, max_size, false)? else {
                anyhow::bail!("the cache lock was not taken");
            };
            object.extend(json_fields(serde_json::json!({
                "entries": outcome.entries_after, "indexes": outcome.indexes_after, "bytes": outcome.bytes_after,
                "max_bytes": max_size, "removed_entries": outcome.removed, "removed_indexes": outcome.removed_indexes,
                "bytes_before": outcome.bytes_before,
            })));
            if !args.json {
                if outcome.removed + outcome.removed_indexes == 0 {
                    eprintln!(
                        "Nothing to remove from {dir}: {}, {}, within the limit of {}",
                        counted(outcome.entries_after, outcome.indexes_after),
                        size(outcome.bytes_after),
                        size(max_size)
                    );
                } else {
                    eprintln!(
                        "Removed {} from {dir}: {} -> {} (limit {}), {} left",
                        counted(outcome.removed, outcome.removed_indexes),
                        size(outcome.bytes_before),
                        size(outcome.bytes_after),
                        size(max_size),
                        counted(outcome.entries_after, outcome.indexes_after),
                    );
                }
            }
            outcome.problems
        }
        CacheCommand::Clean(_) => {
            let cleaned = gc::clean(&root)?;
            object.extend(json_fields(serde_json::json!({
                "existed": true, "entries": 0, "indexes": 0, "bytes": 0,
                "removed_entries": cleaned.entries, "removed_indexes": cleaned.indexes, "bytes_before": cleaned.bytes,
            })));
            if !args.json {
                eprintln!(
                    "Removed everything in {dir}: {}, {}",
                    counted(cleaned.entries, cleaned.indexes),
                    size(cleaned.bytes)
                );
            }
            Vec::new()
        }
        CacheCommand::Verify(_) => {
            let verified = gc::verify(&root)?;
            let bad: Vec<String> = verified.bad.iter().map(|p| p.display().to_string()).collect();
            object.extend(json_fields(serde_json::json!({
                "entries": verified.entries_after, "indexes": verified.indexes_after, "bytes": verified.bytes_after,
                "checked": verified.checked, "bad": bad,
            })));
            if !args.json {
                for path in &bad {
                    eprintln!("removed bad entry {path}");
                }
                let removed = if bad.is_empty() { "" } else { ", removed" };
                eprintln!(
                    "Verified {} in {dir}: {} bad{removed}",
                    counted(verified.entries, verified.indexes),
                    bad.len()
                );
            }
            verified.unreadable
        }
    };
    if args.json {
        let mut event = serde_json::Map::new();
        event.insert("reason".into(), command.reason().into());
        event.insert("success".into(), problems.is_empty().into());
        event.insert("directory".into(), dir.into());
        event.extend(object);
        event.insert("unreadable".into(), problems.clone().into());
        println!("{}", serde_json::Value::Object(event));
    } else {
        for problem in &problems {
            eprintln!("mini: cannot read or remove {problem}");
        }
        if !problems.is_empty() {
            eprintln!(
                "mini: error: {} part{} of the cache could not be read or removed",
                problems.len(),
                plural(problems.len())
            );
        }
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_USAGE_OR_IO) })
}

fn json_fields(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// `14 entries and 1 index`.
fn counted(entries: usize, indexes: usize) -> String {
    let indexes = if indexes == 1 { "1 index".to_string() } else { format!("{} indexes", thousands(indexes)) };
    let entries = if entries == 1 { "1 entry".to_string() } else { format!("{} entries", thousands(entries)) };
    format!("{entries} and {indexes}")
}

/// What `mini cache stats` says about the last build, from its `stats.json`.
fn last_build_lines(last: &serde_json::Value) -> Vec<String> {
    let n = |key: &str| last[key].as_u64().unwrap_or(0);
    if last.is_null() {
        return vec!["No build recorded yet".to_string()];
    }
    let mut lines = vec![format!(
        "Last build: {} of {} function{} compiled, {} reused from disk; store: {} hit{}, {} miss{}, {} damaged, {} written",
        thousands(n("compiled") as usize),
        thousands(n("functions") as usize),
        plural(n("functions") as usize),
        thousands(n("reused_from_disk") as usize),
        n("hits"),
        plural(n("hits") as usize),
        n("misses"),
        if n("misses") == 1 { "" } else { "es" },
        n("corrupt"),
        size(n("bytes_written")),
    )];
    let remote = &last["remote"];
    if remote.is_object() {
        let r = |key: &str| remote[key].as_u64().unwrap_or(0);
        lines.push(format!(
            "Remote cache {}: {} hits, {} misses, {} uploads, {} errors, {} bad; {} down, {} up",
            remote["server"].as_str().unwrap_or("?"),
            r("hits"),
            r("misses"),
            r("uploads"),
            r("errors"),
            r("bad"),
            size(r("bytes_down")),
            size(r("bytes_up")),
        ));
    }
    lines
}

/// The settings the flags ask for.
fn settings(args: &SettingsArgs) -> Result<Settings> {
    let mut codegen = CodegenSettings::host();
    codegen.opt_level = args.opt_level;
    codegen.debug_info = args.debug_info;
    if let Some(target) = &args.target {
        if let Err(reason) = mini_queries::base::validate_target(target) {
            anyhow::bail!("unsupported target '{target}': {reason}\n{}", mini::cli::supported_targets());
        }
        codegen.target = target.as_str().into();
    }
    let contracts = args.contracts.map_or(contracts_by_default(args.opt_level), |c| c == Switch::On);
    Ok(Settings { codegen, contracts })
}

fn request(common: &CommonArgs, emit: Emit, output: Option<PathBuf>) -> Result<BuildRequest> {
    let settings = settings(&common.settings)?;
    let jobs = match common.jobs {
        Some(0) => anyhow::bail!("-j needs at least one thread"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok(BuildRequest {
        emit: emit.into(),
        output,
        settings,
        jobs,
        log_queries: common.log_queries,
        deny_warnings: false,
    })
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
