//! The lexer: bytes in, tokens and lexical errors out. It never stops early: an unknown
//! character becomes an error and lexing continues, so later errors are reported too.

use super::{Span, SyntaxError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Ident,
    Int,
    Str,
    // Keywords.
    Fn,
    Pub,
    Const,
    Var,
    Return,
    If,
    Else,
    While,
    Break,
    Continue,
    Import,
    As,
    True,
    False,
    And,
    Or,
    I32,
    I64,
    Bool,
    Void,
    // Builtins.
    AtPrint,
    AtAs,
    // Punctuation.
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Colon,
    Semi,
    Dot,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    EqEq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Bang,
    Eq,
    PlusEq,
    MinusEq,
    StarEq,
    SlashEq,
    PercentEq,
    /// A token the lexer already reported; the parser treats it as garbage.
    Error,
    Eof,
}

impl TokenKind {
    /// How the token is shown in "expected …, found …" messages.
    pub fn describe(self) -> &'static str {
        use TokenKind::*;
        match self {
            Ident => "an identifier",
            Int => "an integer literal",
            Str => "a string literal",
            Fn => "'fn'",
            Pub => "'pub'",
            Const => "'const'",
            Var => "'var'",
            Return => "'return'",
            If => "'if'",
            Else => "'else'",
            While => "'while'",
            Break => "'break'",
            Continue => "'continue'",
            Import => "'import'",
            As => "'as'",
            True => "'true'",
            False => "'false'",
            And => "'and'",
            Or => "'or'",
            I32 => "'i32'",
            I64 => "'i64'",
            Bool => "'bool'",
            Void => "'void'",
            AtPrint => "'@print'",
            AtAs => "'@as'",
            LParen => "'('",
            RParen => "')'",
            LBrace => "'{'",
            RBrace => "'}'",
            Comma => "','",
            Colon => "':'",
            Semi => "';'",
            Dot => "'.'",
            Plus => "'+'",
            Minus => "'-'",
            Star => "'*'",
            Slash => "'/'",
            Percent => "'%'",
            EqEq => "'=='",
            NotEq => "'!='",
            Lt => "'<'",
            LtEq => "'<='",
            Gt => "'>'",
            GtEq => "'>='",
            Bang => "'!'",
            Eq => "'='",
            PlusEq => "'+='",
            MinusEq => "'-='",
            StarEq => "'*='",
            SlashEq => "'/='",
            PercentEq => "'%='",
            Error => "an invalid token",
            Eof => "end of file",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

fn keyword(ident: &[u8]) -> Option<TokenKind> {
    use TokenKind::*;
    Some(match ident {
        b"fn" => Fn,
        b"pub" => Pub,
        b"const" => Const,
        b"var" => Var,
        b"return" => Return,
        b"if" => If,
        b"else" => Else,
        b"while" => While,
        b"break" => Break,
        b"continue" => Continue,
        b"import" => Import,
        b"as" => As,
        b"true" => True,
        b"false" => False,
        b"and" => And,
        b"or" => Or,
        b"i32" => I32,
        b"i64" => I64,
        b"bool" => Bool,
        b"void" => Void,
        _ => return None,
    })
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits `text` into tokens. The last token is always `Eof`.
pub fn lex(text: &[u8]) -> (Vec<Token>, Vec<SyntaxError>) {
    let mut lexer = Lexer { text, pos: 0, tokens: Vec::new(), errors: Vec::new() };
    lexer.run();
    (lexer.tokens, lexer.errors)
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    errors: Vec<SyntaxError>,
}

impl Lexer<'_> {
    fn run(&mut self) {
        while self.pos < self.text.len() {
            let start = self.pos;
            let b = self.text[start];
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'/' if self.peek(1) == Some(b'/') => self.comment(),
                b'"' => self.string(),
                b'@' => self.builtin(),
                b'0'..=b'9' => self.number(),
                _ if is_ident_start(b) => self.ident(),
                _ => {
                    if let Some((kind, len)) = self.punct() {
                        self.pos += len;
                        self.push(kind, start);
                    } else {
                        self.unexpected();
                    }
                }
            }
        }
        let end = self.text.len() as u32;
        self.tokens.push(Token { kind: TokenKind::Eof, span: Span::new(end, end) });
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.pos + ahead).copied()
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token { kind, span: Span::new(start as u32, self.pos as u32) });
    }

    fn error(&mut self, start: usize, end: usize, message: String) {
        self.errors.push(SyntaxError { span: Span::new(start as u32, end as u32), message });
    }

    /// Comments are whitespace, but they must still be valid UTF-8.
    fn comment(&mut self) {
        let end = memchr_newline(&self.text[self.pos..]).map_or(self.text.len(), |n| self.pos + n);
        let mut at = self.pos;
        while at < end {
            match std::str::from_utf8(&self.text[at..end]) {
                Ok(_) => break,
                Err(e) => {
                    let bad = at + e.valid_up_to();
                    let len = e.error_len().unwrap_or(end - bad);
                    self.invalid_utf8(bad, len);
                    at = bad + len;
                }
            }
        }
        self.pos = end;
    }

    fn invalid_utf8(&mut self, start: usize, len: usize) {
        // Runs of bad bytes become one error.
        if let Some(last) = self.errors.last_mut()
            && last.span.end as usize == start
            && last.message == INVALID_UTF8
        {
            last.span.end = (start + len) as u32;
            return;
        }
        self.error(start, start + len, INVALID_UTF8.to_string());
    }

    fn string(&mut self) {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek(0) {
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                None | Some(b'\n') | Some(b'\r') => {
                    self.error(start, self.pos, "unterminated string literal".to_string());
                    self.push(TokenKind::Error, start);
                    return;
                }
                Some(_) => self.pos += 1,
            }
        }
        if std::str::from_utf8(&self.text[start..self.pos]).is_err() {
            self.error(start, self.pos, "string literal is not valid UTF-8".to_string());
            self.push(TokenKind::Error, start);
            return;
        }
        self.push(TokenKind::Str, start);
    }

    fn builtin(&mut self) {
        let start = self.pos;
        self.pos += 1;
        while self.peek(0).is_some_and(is_ident_continue) {
            self.pos += 1;
        }
        let kind = match &self.text[start..self.pos] {
            b"@print" => TokenKind::AtPrint,
            b"@as" => TokenKind::AtAs,
            b"@" => {
                self.error(start, self.pos, "expected a builtin name after '@'".to_string());
                TokenKind::Error
            }
            name => {
                let name = String::from_utf8_lossy(name).into_owned();
                let hint = match crate::base::suggest::closest(&name, ["@print", "@as"]) {
                    Some(builtin) => format!("; did you mean '{builtin}'?"),
                    None => String::new(),
                };
                self.error(start, self.pos, format!("unknown builtin '{name}'{hint}"));
                TokenKind::Error
            }
        };
        self.push(kind, start);
    }

    fn number(&mut self) {
        let start = self.pos;
        while self.peek(0).is_some_and(is_ident_continue) {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        let well_formed = digits.iter().all(|b| b.is_ascii_digit() || *b == b'_')
            && !digits.ends_with(b"_")
            && !digits.windows(2).any(|w| w == b"__");
        if well_formed {
            self.push(TokenKind::Int, start);
        } else {
            let shown = String::from_utf8_lossy(digits).into_owned();
            self.error(start, self.pos, format!("invalid integer literal '{shown}'"));
            self.push(TokenKind::Error, start);
        }
    }

    fn ident(&mut self) {
        let start = self.pos;
        while self.peek(0).is_some_and(is_ident_continue) {
            self.pos += 1;
        }
        let kind = keyword(&self.text[start..self.pos]).unwrap_or(TokenKind::Ident);
        self.push(kind, start);
    }

    fn punct(&self) -> Option<(TokenKind, usize)> {
        use TokenKind::*;
        let two = match (self.text[self.pos], self.peek(1)) {
            (b'=', Some(b'=')) => Some(EqEq),
            (b'!', Some(b'=')) => Some(NotEq),
            (b'<', Some(b'=')) => Some(LtEq),
            (b'>', Some(b'=')) => Some(GtEq),
            (b'+', Some(b'=')) => Some(PlusEq),
            (b'-', Some(b'=')) => Some(MinusEq),
            (b'*', Some(b'=')) => Some(StarEq),
            (b'/', Some(b'=')) => Some(SlashEq),
            (b'%', Some(b'=')) => Some(PercentEq),
            _ => None,
        };
        if let Some(kind) = two {
            return Some((kind, 2));
        }
        let one = match self.text[self.pos] {
            b'(' => LParen,
            b')' => RParen,
            b'{' => LBrace,
            b'}' => RBrace,
            b',' => Comma,
            b':' => Colon,
            b';' => Semi,
            b'.' => Dot,
            b'+' => Plus,
            b'-' => Minus,
            b'*' => Star,
            b'/' => Slash,
            b'%' => Percent,
            b'<' => Lt,
            b'>' => Gt,
            b'!' => Bang,
            b'=' => Eq,
            _ => return None,
        };
        Some((one, 1))
    }

    /// A character that cannot start any token. Valid UTF-8 characters are named in the
    /// message; invalid bytes are grouped into one error per run.
    fn unexpected(&mut self) {
        let start = self.pos;
        let rest = &self.text[start..self.text.len().min(start + 4)];
        let decoded = match std::str::from_utf8(rest) {
            Ok(s) => s.chars().next(),
            Err(e) if e.valid_up_to() > 0 => {
                std::str::from_utf8(&rest[..e.valid_up_to()]).ok().and_then(|s| s.chars().next())
            }
            Err(_) => None,
        };
        let width = decoded.map_or(1, char::len_utf8);
        // A run of the same unknown character is one error, not millions.
        let unit = &self.text[start..start + width];
        let mut end = start + width;
        while self.text[end..].starts_with(unit) {
            end += width;
        }
        self.pos = end;
        self.push_garbage(start);
        match decoded {
            Some(c) => {
                let shown = if c.is_control() { format!("U+{:04X}", c as u32) } else { format!("'{c}'") };
                self.error(start, end, format!("unexpected character {shown}"));
            }
            None => self.invalid_utf8(start, end - start),
        }
    }

    /// Records bad input as an `Error` token, so the parser knows something stood there
    /// (and stays quiet about it: the lexer reported it). Adjacent garbage is one token.
    fn push_garbage(&mut self, start: usize) {
        if let Some(last) = self.tokens.last_mut()
            && last.kind == TokenKind::Error
            && last.span.end as usize == start
        {
            last.span.end = self.pos as u32;
            return;
        }
        self.push(TokenKind::Error, start);
    }
}

const INVALID_UTF8: &str = "invalid UTF-8 in source file";

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        lex(text.as_bytes()).0.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn operators_prefer_the_longest_match() {
        use TokenKind::*;
        assert_eq!(kinds("a+=1 == b"), vec![Ident, PlusEq, Int, EqEq, Ident, Eof]);
        assert_eq!(kinds("x/ /"), vec![Ident, Slash, Slash, Eof]);
    }

    #[test]
    fn comments_are_whitespace() {
        use TokenKind::*;
        assert_eq!(kinds("fn // return 1;\nmain"), vec![Fn, Ident, Eof]);
    }

    #[test]
    fn bad_characters_are_reported_and_skipped() {
        let (tokens, errors) = lex("a $$$ b \u{0} \u{e9}".as_bytes());
        let kinds: Vec<_> = tokens.iter().map(|t| t.kind).collect();
        use TokenKind::*;
        assert_eq!(kinds, [Ident, Error, Ident, Error, Error, Eof]);
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["unexpected character '$'", "unexpected character U+0000", "unexpected character 'é'"]);
        assert_eq!(errors[0].span, Span::new(2, 5));
    }

    #[test]
    fn invalid_utf8_is_one_error_per_run() {
        let (_, errors) = lex(b"a \xff\xfe\xfd b // \xc3\n");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].span, Span::new(2, 5));
        assert_eq!(errors[1].message, INVALID_UTF8);
    }

    #[test]
    fn integer_literals_allow_separators() {
        let (tokens, errors) = lex(b"1_000 1__0 2_ 3x");
        assert_eq!(tokens[0].kind, TokenKind::Int);
        assert_eq!(errors.len(), 3);
    }
}
