//! Diagnostics rendering: the one place that turns byte spans into lines, columns,
//! source excerpts and carets, for people or as JSON.

use std::fmt::Write as _;

use mini_queries::base::{Note, Severity, Span};

/// A diagnostic located in its file, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The file as the user can open it: the entry's directory joined with the module path.
    pub path: String,
    pub severity: Severity,
    /// 1-based.
    pub line: usize,
    /// 1-based, counting Unicode scalar values.
    pub column: usize,
    /// Where the span ends: the position just after its last character (so a span of
    /// one character at column 5 ends at column 6), 1-based like `line` and `column`.
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
    pub source_line: String,
    pub caret: String,
    /// Other positions in the same file the diagnostic points at ("first declared
    /// here"), each shown under it with its own line and caret.
    pub notes: Vec<LocatedNote>,
}

/// A note of a diagnostic, located in the diagnostic's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocatedNote {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
    pub source_line: String,
    pub caret: String,
}

impl Located {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Lines longer than this are shown as a window around the span.
const MAX_SHOWN: usize = 240;

/// Locates a diagnostic and its notes in `text`, the text of the file at `path`.
pub fn locate_diagnostic(
    path: String,
    text: &[u8],
    severity: Severity,
    span: Span,
    message: String,
    notes: &[Note],
) -> Located {
    let mut located = locate(path, text, span, message);
    located.severity = severity;
    located.notes = notes
        .iter()
        .map(|note| {
            let Located { line, column, end_line, end_column, source_line, caret, .. } =
                locate(String::new(), text, note.span, String::new());
            LocatedNote { line, column, end_line, end_column, message: note.message.clone(), source_line, caret }
        })
        .collect();
    located
}

/// Finds a span's line and column in `text` and draws its caret: an error without notes.
pub fn locate(path: String, text: &[u8], span: Span, message: String) -> Located {
    let start = (span.start as usize).min(text.len());
    let line_start = text[..start].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line_end = text[start..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| start + i);
    let line = text[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    let column = count_chars(&text[line_start..start]) + 1;
    // The end, counted on from the start: a span may cover several lines.
    let end = (span.end as usize).clamp(start, text.len());
    let covered = &text[start..end];
    let (end_line, end_column) = match covered.iter().rposition(|&b| b == b'\n') {
        Some(last) => (line + covered.iter().filter(|&&b| b == b'\n').count(), count_chars(&covered[last + 1..]) + 1),
        None => (line, column + count_chars(covered)),
    };

    // Show the whole line, or a window of it around the span when it is very long.
    let (shown_start, shown_end) = if line_end - line_start <= MAX_SHOWN {
        (line_start, line_end)
    } else {
        let from = char_boundary(text, start.saturating_sub(MAX_SHOWN / 3).max(line_start));
        (from, char_boundary(text, (from + MAX_SHOWN).min(line_end)))
    };
    let ellipsis_left = if shown_start > line_start { "…" } else { "" };
    let ellipsis_right = if shown_end < line_end { "…" } else { "" };
    let shown = String::from_utf8_lossy(&text[shown_start..shown_end]);
    let source_line: String = format!("{ellipsis_left}{shown}{ellipsis_right}")
        .trim_end_matches('\r')
        .chars()
        .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
        .collect();

    let before = String::from_utf8_lossy(&text[shown_start..start]);
    let span_end = (span.end as usize).clamp(start, shown_end);
    let underlined = count_chars(&text[start..span_end]).max(1);
    let mut caret: String = ellipsis_left.chars().map(|_| ' ').collect();
    caret.extend(before.chars().map(|c| if c == '\t' { '\t' } else { ' ' }));
    caret.push('^');
    caret.extend(std::iter::repeat_n('~', underlined - 1));
    Located {
        path,
        severity: Severity::Error,
        line,
        column,
        end_line,
        end_column,
        message,
        source_line,
        caret,
        notes: Vec::new(),
    }
}

/// Characters in UTF-8 text (each invalid byte counts as one).
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| !(0x80..0xc0).contains(&b)).count()
}

/// The nearest char boundary at or before `index`.
fn char_boundary(text: &[u8], mut index: usize) -> usize {
    while index > 0 && index < text.len() && (0x80..0xc0).contains(&text[index]) {
        index -= 1;
    }
    index
}

/// `file:line:col: error: message` (or `warning:`), the source line, and a caret under
/// the span; then each note the same way, as `file:line:col: note: message`.
pub fn human(d: &Located, color: bool) -> String {
    let (bold, accent, note, reset) = match (color, d.severity) {
        (false, _) => ("", "", "", ""),
        (true, Severity::Error) => ("\x1b[1m", "\x1b[1;31m", "\x1b[1;36m", "\x1b[0m"),
        (true, Severity::Warning) => ("\x1b[1m", "\x1b[1;33m", "\x1b[1;36m", "\x1b[0m"),
    };
    let severity = d.severity.name();
    let mut out = String::new();
    let (path, line, column, message) = (&d.path, d.line, d.column, &d.message);
    let _ = writeln!(out, "{bold}{path}:{line}:{column}:{reset} {accent}{severity}:{reset} {bold}{message}{reset}");
    let _ = writeln!(out, "{}", d.source_line);
    let _ = writeln!(out, "{accent}{}{reset}", d.caret);
    for n in &d.notes {
        let _ = writeln!(out, "{bold}{path}:{}:{}:{reset} {note}note:{reset} {}", n.line, n.column, n.message);
        let _ = writeln!(out, "{}", n.source_line);
        let _ = writeln!(out, "{note}{}{reset}", n.caret);
    }
    out
}

/// The diagnostic as a JSON event: `severity` is `"error"` or `"warning"`, the span
/// runs from `line`:`column` to just before `end_line`:`end_column`, `notes` lists the
/// other positions it points at (in the same file), and `rendered` is what people see
/// — as cargo gives it, so that a tool can show the diagnostic without drawing it.
pub fn json(d: &Located) -> serde_json::Value {
    let notes: Vec<serde_json::Value> = d
        .notes
        .iter()
        .map(|n| {
            serde_json::json!({
                "file": d.path,
                "line": n.line,
                "column": n.column,
                "end_line": n.end_line,
                "end_column": n.end_column,
                "message": n.message,
            })
        })
        .collect();
    serde_json::json!({
        "reason": "diagnostic",
        "severity": d.severity.name(),
        "file": d.path,
        "line": d.line,
        "column": d.column,
        "end_line": d.end_line,
        "end_column": d.end_column,
        "message": d.message,
        "notes": notes,
        "rendered": human(d, false),
    })
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

/// A size for people, in binary units: `512 B`, `37.2 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.95 and more would print as 1024.0 of this unit: say 1.0 of the next.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_carets_follow_tabs() {
        let text = "fn f() {\n\t\u{e9}x = 1;\n}\n".as_bytes();
        let d = locate("m.mini".into(), text, Span::new(12, 13), "bad".into());
        assert_eq!((d.line, d.column), (2, 3));
        assert_eq!(human(&d, false), "m.mini:2:3: error: bad\n\t\u{e9}x = 1;\n\t ^\n");
    }

    #[test]
    fn long_lines_are_shown_as_a_window() {
        let mut text = "x".repeat(10_000).into_bytes();
        text.extend_from_slice(b" $ tail");
        let d = locate("m.mini".into(), &text, Span::new(10_001, 10_002), "bad".into());
        assert_eq!(d.column, 10_002);
        assert!(d.source_line.len() < 2 * MAX_SHOWN, "{}", d.source_line.len());
        let caret_at = d.caret.chars().count() - 1;
        assert_eq!(d.source_line.chars().nth(caret_at), Some('$'));
    }

    #[test]
    fn sizes_are_said_in_binary_units() {
        let said: Vec<String> = [0, 1023, 1024, 39_007_232, (1 << 20) - 1, 2 << 30].map(size).into();
        assert_eq!(said, ["0 B", "1023 B", "1.0 KiB", "37.2 MiB", "1.0 MiB", "2.0 GiB"]);
    }

    #[test]
    fn a_span_at_the_end_of_the_file_is_drawn() {
        let d = locate("m.mini".into(), b"fn", Span::new(2, 2), "eof".into());
        assert_eq!((d.line, d.column, d.caret.as_str()), (1, 3, "  ^"));
        assert_eq!((d.end_line, d.end_column), (1, 3), "an empty span ends where it starts");
    }

    #[test]
    fn a_span_ends_just_after_its_last_character_on_its_last_line() {
        let text = "fn f() {\n\t\u{e9}x = 1;\n}\n".as_bytes();
        // `éx`: two characters (three bytes) from line 2, column 2.
        let d = locate("m.mini".into(), text, Span::new(10, 13), "bad".into());
        assert_eq!((d.line, d.column, d.end_line, d.end_column), (2, 2, 2, 4));
        // From `{` on line 1 to the `}` on line 3, inclusive.
        let d = locate("m.mini".into(), text, Span::new(7, text.len() as u32 - 1), "bad".into());
        assert_eq!((d.line, d.column, d.end_line, d.end_column), (1, 8, 3, 2));
    }
}
