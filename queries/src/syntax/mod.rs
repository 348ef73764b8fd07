//! Syntax stage: lexer, parser and AST. Pure functions over bytes; this module knows
//! nothing about salsa, and parsing never fails — it returns a tree plus errors.

pub mod ast;
mod lexer;
mod parser;

pub use lexer::{Token, TokenKind, lex};
pub use parser::parse;

/// A half-open byte range into one file's text. Absolute in the AST, relative to the
/// function start in ZIR (see `zir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub const fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn len(self) -> u32 {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// This span moved so that `base` becomes offset zero.
    pub fn relative_to(self, base: u32) -> Span {
        Span::new(self.start - base, self.end - base)
    }

    pub fn shifted(self, base: u32) -> Span {
        Span::new(self.start + base, self.end + base)
    }
}

/// A syntax error: a span and a message. Rendering is the shell's business.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

/// Start offsets of every line, to turn byte offsets into 1-based lines.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(text: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.iter().enumerate().filter(|&(_, &b)| b == b'\n').map(|(i, _)| i as u32 + 1));
        LineIndex { starts }
    }

    /// 0-based line containing `offset`.
    pub fn line(&self, offset: u32) -> u32 {
        (self.starts.partition_point(|&s| s <= offset) - 1) as u32
    }

    pub fn line_start(&self, line: u32) -> u32 {
        self.starts[line as usize]
    }
}

/// Deepest nesting the parser accepts, counting parentheses, blocks, unary operators
/// and the length of operator chains. Every later pass recurses over the tree, so this
/// bound is what keeps them all off the end of the stack.
pub const MAX_NESTING: u32 = 1000;
