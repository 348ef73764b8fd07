//! Semantic tokens: every token of a file classified — keywords, literals and comments by
//! the lexer, names by what they resolve to.

use crate::syntax::{Span, TokenKind, lex};

use super::{FileNames, LocalKind, Symbol};

/// Token types, in the order of the legend the server announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenType {
    Namespace,
    Function,
    Parameter,
    Variable,
    Keyword,
    Type,
    Number,
    String,
    Comment,
    Operator,
}

impl TokenType {
    pub const ALL: [TokenType; 10] = [
        TokenType::Namespace,
        TokenType::Function,
        TokenType::Parameter,
        TokenType::Variable,
        TokenType::Keyword,
        TokenType::Type,
        TokenType::Number,
        TokenType::String,
        TokenType::Comment,
        TokenType::Operator,
    ];

    /// The protocol's name for it.
    pub fn name(self) -> &'static str {
        match self {
            TokenType::Namespace => "namespace",
            TokenType::Function => "function",
            TokenType::Parameter => "parameter",
            TokenType::Variable => "variable",
            TokenType::Keyword => "keyword",
            TokenType::Type => "type",
            TokenType::Number => "number",
            TokenType::String => "string",
            TokenType::Comment => "comment",
            TokenType::Operator => "operator",
        }
    }
}

/// Token modifiers, as bits in the order of the legend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenModifier {
    Declaration = 1,
    Readonly = 2,
    DefaultLibrary = 4,
}

impl TokenModifier {
    pub const ALL: [(TokenModifier, &'static str); 3] = [
        (TokenModifier::Declaration, "declaration"),
        (TokenModifier::Readonly, "readonly"),
        (TokenModifier::DefaultLibrary, "defaultLibrary"),
    ];
}

/// Every classified token of `text`, in order, with its modifier bits. Tokens never span
/// lines.
pub fn semantic_tokens(text: &[u8], names: &FileNames) -> Vec<(Span, TokenType, u32)> {
    let (tokens, _) = lex(text);
    let mut out = Vec::with_capacity(tokens.len());
    let mut gap_start = 0u32;
    for token in &tokens {
        comments(text, gap_start, token.span.start, &mut out);
        gap_start = token.span.end;
        use TokenKind as T;
        let classified = match token.kind {
            T::Ident => names.at(token.span.start).filter(|o| o.span == token.span).map(|o| {
                let declaration = if o.role == super::Role::Definition { TokenModifier::Declaration as u32 } else { 0 };
                match &o.symbol {
                    Symbol::Function(_) => (TokenType::Function, declaration),
                    Symbol::Alias { .. } | Symbol::Module(_) => (TokenType::Namespace, declaration),
                    Symbol::Result { .. } => (TokenType::Variable, TokenModifier::Readonly as u32),
                    Symbol::Local { item, index, .. } => match names.local(*item, *index).map(|l| l.kind) {
                        Some(LocalKind::Param) => (TokenType::Parameter, declaration | TokenModifier::Readonly as u32),
                        Some(LocalKind::Const) => (TokenType::Variable, declaration | TokenModifier::Readonly as u32),
                        _ => (TokenType::Variable, declaration),
                    },
                }
            }),
            T::Int => Some((TokenType::Number, 0)),
            T::Str => Some((TokenType::String, 0)),
            T::I32 | T::I64 | T::Bool | T::Void => Some((TokenType::Type, TokenModifier::DefaultLibrary as u32)),
            T::AtPrint | T::AtAs => Some((TokenType::Function, TokenModifier::DefaultLibrary as u32)),
            T::Fn
            | T::Pub
            | T::Const
            | T::Var
            | T::Return
            | T::If
            | T::Else
            | T::While
            | T::Break
            | T::Continue
            | T::Import
            | T::As
            | T::True
            | T::False
            | T::And
            | T::Or => Some((TokenType::Keyword, 0)),
            T::Plus
            | T::Minus
            | T::Star
            | T::Slash
            | T::Percent
            | T::EqEq
            | T::NotEq
            | T::Lt
            | T::LtEq
            | T::Gt
            | T::GtEq
            | T::Bang
            | T::Eq
            | T::PlusEq
            | T::MinusEq
            | T::StarEq
            | T::SlashEq
            | T::PercentEq => Some((TokenType::Operator, 0)),
            _ => None,
        };
        if let Some((ty, modifiers)) = classified {
            out.push((token.span, ty, modifiers));
        }
    }
    out
}

/// The `//` comments between two tokens, each to the end of its line.
fn comments(text: &[u8], from: u32, to: u32, out: &mut Vec<(Span, TokenType, u32)>) {
    let mut at = from as usize;
    let to = to as usize;
    while at + 1 < to {
        if text[at] == b'/' && text[at + 1] == b'/' {
            let end = text[at..to].iter().position(|&b| b == b'\n').map_or(to, |n| at + n);
            let end = if end > at && text[end - 1] == b'\r' { end - 1 } else { end };
            out.push((Span::new(at as u32, end as u32), TokenType::Comment, 0));
            at = end.max(at + 2);
        } else {
            at += 1;
        }
    }
}
