//! Diagnostics rendering: the one place that turns byte spans into lines, columns,
//! source excerpts and carets, for people or as JSON.

use std::fmt::Write as _;

use mini_queries::syntax::Span;

/// A diagnostic located in its file, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The file as the user can open it: the entry's directory joined with the module path.
    pub path: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, counting Unicode scalar values.
    pub column: usize,
    pub message: String,
    pub source_line: String,
    pub caret: String,
}

/// Lines longer than this are shown as a window around the span.
const MAX_SHOWN: usize = 240;

/// Finds a span's line and column in `text` and draws its caret.
pub fn locate(path: String, text: &[u8], span: Span, message: String) -> Located {
    let start = (span.start as usize).min(text.len());
    let line_start = text[..start].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line_end = text[start..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| start + i);
    let line = text[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    let column = count_chars(&text[line_start..start]) + 1;

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
    Located { path, line, column, message, source_line, caret }
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

/// `file:line:col: error: message`, the source line, and a caret under the span.
pub fn human(d: &Located, color: bool) -> String {
    let (bold, red, reset) = if color { ("\x1b[1m", "\x1b[1;31m", "\x1b[0m") } else { ("", "", "") };
    let mut out = String::new();
    let _ =
        writeln!(out, "{bold}{}:{}:{}:{reset} {red}error:{reset} {bold}{}{reset}", d.path, d.line, d.column, d.message);
    let _ = writeln!(out, "{}", d.source_line);
    let _ = writeln!(out, "{red}{}{reset}", d.caret);
    out
}

/// The diagnostic as a JSON event.
pub fn json(d: &Located) -> serde_json::Value {
    serde_json::json!({
        "reason": "diagnostic",
        "severity": "error",
        "file": d.path,
        "line": d.line,
        "column": d.column,
        "message": d.message,
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
    fn a_span_at_the_end_of_the_file_is_drawn() {
        let d = locate("m.mini".into(), b"fn", Span::new(2, 2), "eof".into());
        assert_eq!((d.line, d.column, d.caret.as_str()), (1, 3, "  ^"));
    }
}
