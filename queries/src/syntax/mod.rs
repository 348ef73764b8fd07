//! Syntax stage: lexer, parser and AST. Pure functions over bytes; this module knows
//! nothing about salsa, and parsing never fails — it returns a tree plus errors.

pub mod ast;
mod lexer;
mod parser;

pub use lexer::{Token, TokenKind, lex};
pub use parser::parse;

pub use crate::base::Span;

/// Whether `text` is an identifier (and not a keyword), as the lexer reads one.
pub fn is_identifier(text: &str) -> bool {
    let (tokens, errors) = lex(text.as_bytes());
    errors.is_empty() && tokens.len() == 2 && tokens[0].kind == TokenKind::Ident
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
