//! Reporting builds: diagnostics and summaries, for people or as JSON events.

use std::io::Write;

use crate::driver::{BuildReport, BuildRequest, Explanation, Session, Status};
use crate::render::{self, plural, thousands};

pub fn ms(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// How to print diagnostics and summaries: for people, or one JSON object per line for
/// tools (`--message-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

/// How much to say besides errors (`-q`, `-v`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// Where a failed command says so under JSON output: the `reason` of the event it ends
/// with, `{"reason": …, "success": false, "error": "…"}` (no other field), and whether
/// its events go to standard error (as `mini run`'s do: standard output is the
/// program's). A command that fails for its program's errors ends with its ordinary
/// last event instead, `success` false and no `error`: the diagnostics say why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorEvent {
    pub reason: &'static str,
    pub to_stderr: bool,
}

impl ErrorEvent {
    pub fn to_json(self, error: &str) -> serde_json::Value {
        serde_json::json!({"reason": self.reason, "success": false, "error": error})
    }
}

/// Says that a command failed: `human` (such as `mini: error: …`) on standard error,
/// and under JSON output (`event`) the event with `error`. When the event goes to
/// standard error too, it is said once, as the event.
pub fn fail(event: Option<ErrorEvent>, human: &str, error: &str) {
    match event {
        Some(event) if event.to_stderr => eprintln!("{}", event.to_json(error)),
        Some(event) => {
            eprintln!("{human}");
            println!("{}", event.to_json(error));
        }
        None => eprintln!("{human}"),
    }
}

/// Prints diagnostics and summaries in the chosen format.
pub struct Reporter {
    pub format: MessageFormat,
    pub color: bool,
    /// JSON events go to stderr (for `mini run`, whose stdout is the program's).
    pub json_to_stderr: bool,
    /// How much to say besides errors (`-q`, `-v`); JSON events are always complete.
    pub level: Level,
}

impl Reporter {
    pub fn event(&self, value: serde_json::Value) {
        if self.json_to_stderr {
            eprintln!("{value}");
        } else {
            println!("{value}");
        }
    }

    /// Says that the command could not go on (`error`, without "mini: error:"): see
    /// `fail`; `reason` names the event it ends with under JSON output.
    pub fn error(&self, reason: &'static str, error: &str) {
        let event =
            (self.format == MessageFormat::Json).then_some(ErrorEvent { reason, to_stderr: self.json_to_stderr });
        fail(event, &format!("mini: error: {error}"), error);
    }

    pub fn diagnostics(&self, report: &BuildReport) {
        match self.format {
            MessageFormat::Human => {
                let mut stderr = std::io::stderr().lock();
                for d in &report.diagnostics {
                    let _ = write!(stderr, "{}", render::human(d, self.color));
                }
                let (errors, warnings) = (report.errors(), report.warnings());
                let warned = match warnings {
                    0 => String::new(),
                    n => format!(" and {n} warning{}", plural(n)),
                };
                if errors > 0 {
                    let _ = writeln!(stderr, "mini: {errors} error{}{warned} found; no output written", plural(errors));
                } else if warnings > 0 {
                    let _ = writeln!(stderr, "mini: {warnings} warning{} found", plural(warnings));
                }
            }
            MessageFormat::Json => {
                for d in &report.diagnostics {
                    self.event(render::json(d));
                }
            }
        }
    }

    pub fn queries(&self, report: &BuildReport) {
        for query in &report.executed {
            match self.format {
                MessageFormat::Human => eprintln!("executed: {query}"),
                MessageFormat::Json => self.event(serde_json::json!({"reason": "query-executed", "query": query})),
            }
        }
    }

    /// Whether human-readable lines besides errors are wanted at `level`.
    pub fn says(&self, level: Level) -> bool {
        self.format == MessageFormat::Human && self.level >= level
    }

    /// With `-v`: what is about to be built, with which settings, and where the cache is.
    pub fn starting(&self, entry: &std::path::Path, request: &BuildRequest, session: &Session) {
        if !self.says(Level::Verbose) {
            return;
        }
        let settings = &request.settings.codegen;
        eprintln!(
            "Building {}: -O{}{}, contracts {}, target {}, {} thread{}, cache in {}",
            entry.display(),
            settings.opt_level,
            if settings.debug_info { " -g" } else { "" },
            if request.settings.contracts { "on" } else { "off" },
            settings.target,
            request.jobs,
            plural(request.jobs),
            session.cache_dir().display(),
        );
    }

    /// The line `mini check` ends with when there is nothing wrong.
    pub fn checked(&self, report: &BuildReport) {
        if report.success() && self.says(Level::Normal) {
            eprintln!(
                "Checked {} function{} in {} ms: no errors",
                thousands(report.functions),
                plural(report.functions),
                ms(report.duration).round()
            );
        }
    }

    /// The remote cache's warnings — it was turned off during the build, or some of its
    /// entries were bad — one line each on standard error, whatever the message format.
    pub fn remote_warning(&self, report: &BuildReport) {
        for warning in report.remote.as_ref().map(|r| r.warnings()).unwrap_or_default() {
            eprintln!("mini: warning: {warning}");
        }
    }

    pub fn finish(&self, report: &BuildReport) {
        self.diagnostics(report);
        self.queries(report);
        self.remote_warning(report);
        let compiled = report.compiled.len();
        let reused = report.functions.saturating_sub(compiled);
        if report.success() && self.says(Level::Verbose) {
            for name in &report.compiled {
                eprintln!("   Compiled {name}");
            }
            eprintln!("Read {} file{}, parsed {}", report.files_read, plural(report.files_read), report.files_parsed);
        }
        match self.format {
            MessageFormat::Human if report.success() && self.level == Level::Quiet => {}
            MessageFormat::Human if report.success() => {
                let names = if (1..=3).contains(&compiled) {
                    format!(" ({})", report.compiled.join(", "))
                } else {
                    String::new()
                };
                let from_remote = match &report.remote {
                    Some(_) => format!(", {} from the remote", thousands(report.reused_from_remote)),
                    None => String::new(),
                };
                eprintln!(
                    "Finished in {} ms: {} of {} function{} compiled{names}, {} reused ({} from disk{from_remote}), {} of {} link unit{} relinked{}{}",
                    ms(report.duration).round(),
                    thousands(compiled),
                    thousands(report.functions),
                    plural(report.functions),
                    thousands(reused),
                    thousands(report.reused_from_disk),
                    thousands(report.link_units_relinked),
                    thousands(report.link_units),
                    plural(report.link_units),
                    if report.linked { "" } else { ", nothing to link" },
                    remote_summary(report),
                );
                if self.level == Level::Verbose
                    && let Some(output) = &report.output
                {
                    eprintln!("Output: {}", output.display());
                }
            }
            MessageFormat::Human => {}
            MessageFormat::Json => self.event(serde_json::json!({
                "reason": "build-finished",
                "success": report.success(),
                "functions": report.functions,
                "compiled": report.compiled,
                "reused": reused,
                "reused_from_disk": report.reused_from_disk,
                "files_read": report.files_read,
                "files_parsed": report.files_parsed,
                "link_units": report.link_units,
                "link_units_relinked": report.link_units_relinked,
                "linked": report.linked,
                "output": report.output.as_ref().map(|p| p.to_string_lossy()),
                "duration_ms": ms(report.duration),
                "reused_from_remote": report.reused_from_remote,
                "remote": report.remote.as_deref().cloned().unwrap_or_default().to_json(),
            })),
        }
    }
}

/// How many functions of each group `mini explain` shows by default; `--all` shows
/// every function.
pub const EXPLAIN_SHOWN: usize = 20;

/// `mini explain` for people. By default, the functions the next build compiles (and
/// those whose contracts alone changed, which it may not), grouped by reason, then the
/// functions that are gone, then the totals; with `all`, every function with its
/// status, then the totals; `Level::Quiet`, the totals only.
pub fn explanation(e: &Explanation, all: bool, level: Level) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if level == Level::Quiet {
    } else if all {
        let width = e.functions.iter().map(|f| f.name.len()).chain(e.removed.iter().map(String::len)).max();
        let width = width.unwrap_or(0);
        for f in &e.functions {
            match f.because(e.contracts) {
                Some(because) => _ = writeln!(out, "{:width$}  {} ({because})", f.name, f.status.name()),
                None => _ = writeln!(out, "{:width$}  {}", f.name, f.status.name()),
            }
        }
        for name in &e.removed {
            _ = writeln!(out, "{name:width$}  removed");
        }
    } else {
        for status in Status::ALL.into_iter().filter(|&s| s != Status::Cached) {
            let items: Vec<(&str, Option<String>)> = e
                .functions
                .iter()
                .filter(|f| f.status == status)
                .map(|f| (f.name.as_str(), f.because(e.contracts)))
                .collect();
            group(&mut out, status.name(), explained_as(status), &items);
        }
        let removed: Vec<(&str, Option<String>)> = e.removed.iter().map(|name| (name.as_str(), None)).collect();
        group(&mut out, "removed", "in the last build, gone now", &removed);
    }
    let mut counts: Vec<String> = Status::ALL
        .iter()
        .filter(|&&s| e.count(s) > 0)
        .map(|&s| format!("{} {}", thousands(e.count(s)), s.name()))
        .collect();
    if !e.removed.is_empty() {
        counts.push(format!("{} removed", thousands(e.removed.len())));
    }
    let _ = writeln!(
        out,
        "{}: the next build compiles {} of {} function{} (contracts {})",
        counts.join(", "),
        thousands(e.will_compile().len()),
        thousands(e.functions.len()),
        plural(e.functions.len()),
        if e.contracts { "on" } else { "off" },
    );
    out
}

/// What a status means, as the heading of its group says it.
fn explained_as(status: Status) -> &'static str {
    match status {
        Status::Cached => "unchanged, and in the cache",
        Status::Changed => "its own text changed",
        Status::Contract => "only its contracts changed",
        Status::Dependency => "a function it calls changed its signature",
        Status::Settings => "built before with other settings only",
        Status::New => "not in the last build",
        Status::Evicted => "unchanged, but no longer in the cache",
    }
}

/// One group of `explanation`: `changed (2): its own text changed`, then its first
/// `EXPLAIN_SHOWN` functions, each with why when there is more to say than the heading.
fn group(out: &mut String, name: &str, meaning: &str, items: &[(&str, Option<String>)]) {
    use std::fmt::Write as _;
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "{name} ({}): {meaning}", thousands(items.len()));
    let shown: Vec<(&str, Option<&str>)> = items[..items.len().min(EXPLAIN_SHOWN)]
        .iter()
        .map(|(name, why)| {
            (
                *name,
                why.as_deref().map(|why| why.strip_prefix(meaning).map_or(why, |rest| rest.trim_start_matches("; "))),
            )
        })
        .collect();
    let width = shown.iter().filter(|(_, why)| why.is_some()).map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, why) in &shown {
        match why {
            Some(why) => _ = writeln!(out, "  {name:width$}  ({why})"),
            None => _ = writeln!(out, "  {name}"),
        }
    }
    if items.len() > shown.len() {
        let _ = writeln!(out, "  … and {} more (--all lists every function)", thousands(items.len() - shown.len()));
    }
}

/// `; remote: 259 hits, 0 misses, 0 uploads` when there is a remote cache.
pub fn remote_summary(report: &BuildReport) -> String {
    match &report.remote {
        Some(r) => {
            let errors =
                if r.errors > 0 { format!(", {} error{}", r.errors, plural(r.errors as usize)) } else { String::new() };
            format!(
                "; remote: {} hit{}, {} miss{}, {} upload{}{errors}",
                r.hits,
                plural(r.hits as usize),
                r.misses,
                if r.misses == 1 { "" } else { "es" },
                r.uploads,
                plural(r.uploads as usize)
            )
        }
        None => String::new(),
    }
}

/// How a shell says that a program was killed: `program terminated by signal 11 (SIGSEGV)`.
pub fn terminated_by(signal: i32) -> String {
    match signal_name(signal) {
        Some(name) => format!("program terminated by signal {signal} ({name})"),
        None => format!("program terminated by signal {signal}"),
    }
}

/// The name of a standard Linux signal.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}
