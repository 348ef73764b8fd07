//! Conversions between the protocol and the compiler: positions (line and column in the
//! negotiated encoding) and byte offsets, file URIs and paths. Nothing here panics on
//! what a client sends: positions past a line's or the file's end are clamped.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::fs::lexically_normal;

use mini_queries::syntax::Span;
use serde_json::{Value, json};

/// What a column counts, as negotiated at `initialize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// The protocol's default.
    Utf16,
    Utf32,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16 => "utf-16",
            Encoding::Utf32 => "utf-32",
        }
    }

    /// The encoding to use given what the client offers (`general.positionEncodings`):
    /// UTF-8 when offered, since it needs no conversion; otherwise UTF-16, which every
    /// client must support.
    pub fn negotiate(offered: &[String]) -> Encoding {
        if offered.iter().any(|e| e == "utf-8") { Encoding::Utf8 } else { Encoding::Utf16 }
    }
}

/// A position: 0-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub character: u32,
}

impl Position {
    pub fn from_json(value: &Value) -> Option<Position> {
        Some(Position {
            line: u32::try_from(value.get("line")?.as_u64()?).ok()?,
            character: u32::try_from(value.get("character")?.as_u64()?).ok()?,
        })
    }

    pub fn to_json(self) -> Value {
        json!({"line": self.line, "character": self.character})
    }
}

/// Line starts of one text, for converting many positions.
pub struct Lines<'a> {
    text: &'a [u8],
    starts: Vec<u32>,
    encoding: Encoding,
}

/// The length of the (possibly invalid) UTF-8 character at the start of `bytes`, and the
/// character if it is valid. An invalid byte is a character of its own.
fn next_char(bytes: &[u8]) -> (usize, Option<char>) {
    let width = match bytes[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (1, None),
    };
    match bytes.get(..width).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(s) => (width, s.chars().next()),
        None => (1, None),
    }
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a [u8], encoding: Encoding) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.iter().enumerate().filter(|&(_, &b)| b == b'\n').map(|(i, _)| i as u32 + 1));
        Lines { text, starts, encoding }
    }

    fn units(&self, width: usize, c: Option<char>) -> u32 {
        match (self.encoding, c) {
            (Encoding::Utf8, _) => width as u32,
            (Encoding::Utf16, Some(c)) => c.len_utf16() as u32,
            (Encoding::Utf16 | Encoding::Utf32, _) => 1,
        }
    }

    /// The bytes of line `line` without its line break.
    fn line(&self, line: usize) -> (usize, usize) {
        let start = self.starts[line] as usize;
        let mut end = self.starts.get(line + 1).map_or(self.text.len(), |&s| s as usize - 1);
        if end > start && self.text[end - 1] == b'\r' {
            end -= 1;
        }
        (start, end)
    }

    /// The byte offset of a position. A line past the end is the end of the text; a column
    /// past a line's end, or inside a character, is that line's end, or the character's
    /// start.
    pub fn offset(&self, position: Position) -> u32 {
        let Some(_) = self.starts.get(position.line as usize) else { return self.text.len() as u32 };
        let (start, end) = self.line(position.line as usize);
        let mut at = start;
        let mut units = 0u32;
        while at < end {
            let (width, c) = next_char(&self.text[at..end]);
            let next = units + self.units(width, c);
            if next > position.character {
                break;
            }
            units = next;
            at += width;
        }
        at as u32
    }

    /// The position of a byte offset (clamped to the text).
    pub fn position(&self, offset: u32) -> Position {
        let offset = (offset as usize).min(self.text.len());
        let line = self.starts.partition_point(|&s| s as usize <= offset) - 1;
        let (start, _) = self.line(line);
        let mut at = start;
        let mut units = 0;
        while at < offset {
            let (width, c) = next_char(&self.text[at..]);
            units += self.units(width, c);
            at += width;
        }
        Position { line: line as u32, character: units }
    }

    pub fn range(&self, span: Span) -> Value {
        json!({"start": self.position(span.start).to_json(), "end": self.position(span.end).to_json()})
    }
}

/// The path of a `file:` URI, or `None` for any other scheme.
pub fn path_of(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file:///p` has an empty authority; `file://localhost/p` names this machine.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'?' | b'#', _, _) => break,
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    Some(PathBuf::from(OsString::from_vec(decoded)))
}

/// The `file:` URI of a path, with every byte but unreserved characters and `/`
/// percent-encoded (as VS Code writes them).
pub fn uri_of(path: &Path) -> String {
    let mut uri = String::from("file://");
    for &b in lexically_normal(path).as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_code_units_of_the_negotiated_encoding() {
        // "é" is 2 bytes, 1 UTF-16 unit; "𝄞" is 4 bytes, 2 UTF-16 units.
        let text = "aé𝄞b\nx".as_bytes();
        let utf16 = Lines::new(text, Encoding::Utf16);
        assert_eq!(utf16.offset(Position { line: 0, character: 4 }), 7);
        assert_eq!(utf16.position(7), Position { line: 0, character: 4 });
        // Inside the surrogate pair: the character's start.
        assert_eq!(utf16.offset(Position { line: 0, character: 3 }), 3);
        let utf8 = Lines::new(text, Encoding::Utf8);
        assert_eq!(utf8.offset(Position { line: 0, character: 7 }), 7);
        assert_eq!(utf8.position(8), Position { line: 0, character: 8 });
        let utf32 = Lines::new(text, Encoding::Utf32);
        assert_eq!(utf32.position(7), Position { line: 0, character: 3 });
    }

    #[test]
    fn positions_past_the_end_are_clamped() {
        let lines = Lines::new(b"ab\r\ncd", Encoding::Utf16);
        assert_eq!(lines.offset(Position { line: 0, character: 99 }), 2);
        assert_eq!(lines.offset(Position { line: 7, character: 0 }), 6);
        assert_eq!(lines.position(99), Position { line: 1, character: 2 });
        let empty = Lines::new(b"", Encoding::Utf16);
        assert_eq!(empty.offset(Position { line: 3, character: 3 }), 0);
        let invalid = Lines::new(b"\xff\xfex", Encoding::Utf16);
        assert_eq!(invalid.offset(Position { line: 0, character: 2 }), 2);
    }

    #[test]
    fn file_uris_round_trip_through_percent_encoding() {
        let path = Path::new("/tmp/a b/ü#.mini");
        let uri = uri_of(path);
        assert_eq!(uri, "file:///tmp/a%20b/%C3%BC%23.mini");
        assert_eq!(path_of(&uri).as_deref(), Some(path));
        assert_eq!(path_of("file://localhost/x/y.mini").as_deref(), Some(Path::new("/x/y.mini")));
        assert_eq!(path_of("untitled:Untitled-1"), None);
        assert_eq!(uri_of(Path::new("/r/lib/../m.mini")), "file:///r/m.mini");
    }
}
