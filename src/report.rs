//! Reporting builds: diagnostics and summaries, for people or as JSON events.

use std::io::Write;

use crate::cli::MessageFormat;
use crate::driver::BuildReport;
use crate::render;

pub fn ms(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// Prints diagnostics and summaries in the chosen format.
pub struct Reporter {
    pub format: MessageFormat,
    pub color: bool,
    /// JSON events go to stderr (for `mini run`, whose stdout is the program's).
    pub json_to_stderr: bool,
}

impl Reporter {
    pub fn event(&self, value: serde_json::Value) {
        if self.json_to_stderr {
            eprintln!("{value}");
        } else {
            println!("{value}");
        }
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

    pub fn finish(&self, report: &BuildReport) {
        self.diagnostics(report);
        self.queries(report);
        let compiled = report.compiled.len();
        let reused = report.functions.saturating_sub(compiled);
        match self.format {
            MessageFormat::Human if report.success() => {
                let names = if (1..=3).contains(&compiled) {
                    format!(" ({})", report.compiled.join(", "))
                } else {
                    String::new()
                };
                eprintln!(
                    "Finished in {} ms: {} of {} function{} compiled{names}, {} reused ({} from disk), {} of {} link unit{} relinked{}",
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
                )
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
            })),
        }
    }
}

/// `30012` as `30,012`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
