//! A recursive-descent parser with error recovery.
//!
//! Recovery works at two levels. Inside a function body, the first error of a statement
//! puts the parser in "panic mode": later errors are suppressed until it resynchronises
//! at a `;` or at the `}` of the enclosing block, skipping balanced braces. At the top
//! level, anything that is not an item is skipped up to the next `fn`, `pub` or
//! `import`. Nesting deeper than [`MAX_NESTING`] is reported once and the rest of that
//! item is skipped, which bounds both the parser's own recursion and the depth of every
//! tree it builds.
//!
//! One mistake should be one error. Where the parser knows exactly how the text goes on
//! after a common mistake — a condition without parentheses, a missing `)` before `{`,
//! a chained comparison, a missing `:` or `,` in a header, a misspelled keyword — it
//! reports the mistake and carries on as if it were fixed, out of panic mode. Whatever
//! it had to guess at is left out of the tree (an `Error` node), so that later stages do
//! not report on it, and a function records whether its parameter list and its body
//! parsed (`FnDecl::params_ok`, `body_ok`) so that the checker knows what not to trust.

use std::sync::Arc;

use super::ast::*;
use super::lexer::{Token, TokenKind, lex};
use super::{MAX_NESTING, Span, SyntaxError};
use crate::base::{Name, Type, suggest};

use TokenKind as T;

/// Parses a whole file. Never fails: the tree holds `Error` nodes where parsing failed,
/// and every lexical and syntax error is returned, in file order.
pub fn parse(text: &[u8]) -> (File, Vec<SyntaxError>) {
    let (tokens, lex_errors) = lex(text);
    let mut parser =
        Parser { text, tokens, pos: 0, errors: Vec::new(), panicking: false, nesting: 0, bail: false, failures: 0 };
    let file = parser.file();
    let mut errors = lex_errors;
    errors.extend(parser.errors);
    errors.sort_by_key(|e| e.span.start);
    (file, errors)
}

/// An expression and the depth of its tree.
struct Parsed {
    expr: Expr,
    depth: u32,
}

struct Parser<'a> {
    text: &'a [u8],
    tokens: Vec<Token>,
    pos: usize,
    errors: Vec<SyntaxError>,
    /// Set after an error; suppresses follow-on errors until the next sync point.
    panicking: bool,
    /// Current recursion depth of the parser.
    nesting: u32,
    /// Set when nesting overflowed: every rule returns at once, up to the item level.
    bail: bool,
    /// Every error seen, reported or suppressed: a rule compares it before and after to
    /// learn whether what it parsed is whole.
    failures: u32,
}

impl Parser<'_> {
    // ---- token helpers ----------------------------------------------------------------

    fn peek(&self) -> TokenKind {
        self.tokens[self.pos].kind
    }

    fn peek_at(&self, ahead: usize) -> TokenKind {
        self.tokens.get(self.pos + ahead).map_or(T::Eof, |t| t.kind)
    }

    fn span(&self) -> Span {
        self.tokens[self.pos].span
    }

    fn prev_span(&self) -> Span {
        if self.pos == 0 { Span::default() } else { self.tokens[self.pos - 1].span }
    }

    fn at(&self, kind: TokenKind) -> bool {
        self.peek() == kind
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.pos];
        if token.kind != T::Eof {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, kind: TokenKind) -> bool {
        if self.at(kind) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn text(&self, span: Span) -> &str {
        // Identifiers and string literals were checked to be valid UTF-8 by the lexer.
        std::str::from_utf8(&self.text[span.start as usize..span.end as usize]).unwrap_or("")
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        if !self.panicking && !self.bail {
            self.errors.push(SyntaxError { span, message: message.into() });
        }
        self.panicking = true;
        self.failures += 1;
    }

    /// Reports an error after which parsing goes on exactly as if it were fixed: it
    /// counts as an error of the construct, but does not start panic mode.
    fn error_recovered(&mut self, span: Span, message: impl Into<String>) {
        let was_panicking = self.panicking;
        self.error(span, message);
        self.panicking = was_panicking;
    }

    fn error_expected(&mut self, what: &str) {
        let found = self.peek();
        // The lexer already reported its own error tokens.
        if found == T::Error {
            self.panicking = true;
            self.failures += 1;
            return;
        }
        let span = self.span();
        self.error(span, format!("expected {what}, found {}", found.describe()));
    }

    fn expect(&mut self, kind: TokenKind) -> bool {
        if self.eat(kind) {
            true
        } else {
            self.error_expected(kind.describe());
            false
        }
    }

    /// The `;` that ends a statement. When it is missing and the next token starts a new
    /// line, the statement is most likely complete: report the missing `;` where it
    /// belongs and keep parsing, instead of skipping the next statement.
    fn expect_semi(&mut self) {
        if self.eat(T::Semi) {
            return;
        }
        let prev = self.prev_span();
        let next_line_starts = self.text[prev.end as usize..self.span().start as usize].contains(&b'\n');
        if next_line_starts && self.peek() != T::Error {
            // Not a failure of the statement: it is whole, only its `;` is missing.
            if !self.panicking && !self.bail {
                let message = "missing ';' at the end of the statement".to_string();
                self.errors.push(SyntaxError { span: Span::new(prev.end, prev.end), message });
            }
        } else {
            self.error_expected("';'");
        }
    }

    fn ident(&mut self) -> Option<(Name, Span)> {
        if self.at(T::Ident) {
            let span = self.bump().span;
            Some((Arc::from(self.text(span)), span))
        } else {
            self.error_expected("an identifier");
            None
        }
    }

    /// Enters one level of nesting; on overflow reports it and starts bailing out.
    fn enter(&mut self) -> bool {
        self.nesting += 1;
        if self.nesting > MAX_NESTING && !self.bail {
            let span = self.span();
            self.panicking = false;
            self.error(span, format!("nesting is too deep (the limit is {MAX_NESTING} levels)"));
            self.bail = true;
        }
        !self.bail
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    // ---- items ------------------------------------------------------------------------

    fn file(&mut self) -> File {
        let mut items = Vec::new();
        while !self.at(T::Eof) {
            let start = self.pos;
            match self.peek() {
                T::Import => items.push(Item::Import(self.import())),
                T::Fn | T::Pub => {
                    if let Some(f) = self.function() {
                        items.push(Item::Fn(f));
                    }
                }
                // `fun main() i32 {`, `func f(`: a function with the wrong keyword.
                T::Ident if self.peek_at(1) == T::Ident && self.peek_at(2) == T::LParen => {
                    let span = self.span();
                    let found = self.text(span).to_string();
                    self.error_recovered(span, format!("'{found}' is not a keyword: functions are declared with 'fn'"));
                    if let Some(f) = self.function() {
                        items.push(Item::Fn(f));
                    }
                }
                // `improt "x.mini";`
                T::Ident if self.peek_at(1) == T::Str => {
                    let span = self.span();
                    let found = self.text(span).to_string();
                    self.error_recovered(span, format!("'{found}' is not a keyword: imports start with 'import'"));
                    items.push(Item::Import(self.import()));
                }
                _ => self.error_expected("'fn' or 'import'"),
            }
            if self.panicking || self.bail || self.pos == start {
                self.skip_to_item();
            }
        }
        File { items }
    }

    /// Skips to the next token that can only start an item.
    fn skip_to_item(&mut self) {
        if !self.bail && !self.panicking {
            // The item ended cleanly but did not consume anything; make progress.
            self.bump();
        }
        while !matches!(self.peek(), T::Eof | T::Fn | T::Pub | T::Import) {
            self.bump();
        }
        self.panicking = false;
        self.bail = false;
        self.nesting = 0;
    }

    fn import(&mut self) -> Import {
        let start = self.bump().span;
        let (path, path_span) = if self.at(T::Str) {
            let span = self.bump().span;
            let quoted = self.text(span);
            (quoted[1..quoted.len() - 1].to_string(), span)
        } else {
            self.error_expected("a string literal with the imported file's path");
            (String::new(), self.span())
        };
        let alias = if self.eat(T::As) { self.ident() } else { None };
        self.expect_semi();
        Import { path, path_span, alias, span: start.to(self.prev_span()) }
    }

    /// A function. Its keyword (`fn`, or a misspelling the caller reported) is the
    /// current token. `None` when not even its name could be read; otherwise the
    /// function is kept, with what could be parsed, so that calls of it are not reported
    /// as calls of an undeclared function.
    fn function(&mut self) -> Option<FnDecl> {
        let start = self.span();
        if self.eat(T::Pub) {
            if !self.expect(T::Fn) {
                return None;
            }
        } else {
            self.bump(); // `fn`, or the misspelling the caller reported
        }
        let (name, name_span) = self.ident()?;
        let (params, params_ok) = self.params();
        let ret = if self.at(T::LBrace) {
            let span = self.span();
            self.error(span, "expected a return type (i32, i64, bool or void) before the body");
            TypeRef { ty: None, span }
        } else if let Some(kind) = self.at_contract() {
            let span = self.span();
            self.error(span, format!("expected a return type (i32, i64, bool or void) before '{}'", kind.keyword()));
            TypeRef { ty: None, span }
        } else {
            self.type_ref()
        };
        let contracts = self.contracts();
        if !self.at(T::LBrace) {
            // No body: the function is declared, but there is nothing to check in it.
            self.error_expected("'{'");
            let body = Block { stmts: Vec::new(), span: self.prev_span() };
            let span = start.to(self.prev_span());
            return Some(FnDecl { name, name_span, params, ret, contracts, body, span, params_ok, body_ok: false });
        }
        // The header is done: errors inside the body are recovered statement by statement.
        self.panicking = false;
        let failures = self.failures;
        let body = self.block();
        let body_ok = self.failures == failures;
        Some(FnDecl { name, name_span, params, ret, contracts, span: start.to(body.span), body, params_ok, body_ok })
    }

    /// The parameter list, from its `(`, and whether it parsed. A few mistakes have an
    /// unambiguous fix and leave the list whole: a missing `:` before a type, a missing
    /// `,` before the next `name:`, and a missing `)` before the return type and the
    /// body (`fn f(a: i32 i32 {`). After anything else the list is skipped up to its `)`
    /// (or the body's `{`) and reported as broken.
    fn params(&mut self) -> (Vec<Param>, bool) {
        let mut params = Vec::new();
        if !self.expect(T::LParen) {
            self.skip_params();
            return (params, false);
        }
        loop {
            if self.eat(T::RParen) {
                return (params, true);
            }
            let Some((name, name_span)) = self.ident() else { break };
            if !self.eat(T::Colon) {
                if !is_type_keyword(self.peek()) {
                    self.error_expected("':'");
                    break;
                }
                let span = self.span();
                self.error_recovered(span, format!("expected ':' between '{name}' and its type"));
            }
            let ty = self.type_ref();
            if ty.ty.is_none() {
                break;
            }
            params.push(Param { name, name_span, ty });
            if self.eat(T::Comma) || self.at(T::RParen) {
                continue;
            }
            if self.at(T::Ident) && self.peek_at(1) == T::Colon {
                let span = self.span();
                self.error_recovered(span, "expected ',' between parameters");
                continue;
            }
            // `fn f(a: i32 i32 {`: the `)` is missing before the return type.
            if is_type_keyword(self.peek()) && (self.peek_at(1) == T::LBrace || self.contract_at(1).is_some()) {
                let span = self.span();
                let found = self.peek().describe();
                self.error_recovered(span, format!("expected ')' after the parameters, found {found}"));
                return (params, true);
            }
            // `fn f(a: i32 {`: the `)` and the return type are missing; the latter is
            // not reported again (panic mode lasts until the body).
            if self.at(T::LBrace) {
                self.error_expected("')' after the parameters");
                return (params, true);
            }
            self.error_expected("',' or ')'");
            break;
        }
        self.skip_params();
        (params, false)
    }

    /// Skips the rest of a broken parameter list: past its `)`, or up to the body's `{`
    /// or the next item.
    fn skip_params(&mut self) {
        let mut depth = 0u32;
        loop {
            match self.peek() {
                T::Eof | T::LBrace | T::Fn | T::Pub | T::Import => return,
                T::LParen => depth += 1,
                T::RParen if depth == 0 => {
                    self.bump();
                    return;
                }
                T::RParen => depth -= 1,
                _ => {}
            }
            self.bump();
        }
    }

    /// Whether the next token is `requires` or `ensures`. They are keywords only here,
    /// between a function's return type and its body; elsewhere they are names.
    fn at_contract(&self) -> Option<ContractKind> {
        self.contract_at(0)
    }

    /// Whether the token `ahead` of the current one is `requires` or `ensures`.
    fn contract_at(&self, ahead: usize) -> Option<ContractKind> {
        let token = self.tokens.get(self.pos + ahead)?;
        if token.kind != T::Ident {
            return None;
        }
        match self.text(token.span) {
            "requires" => Some(ContractKind::Requires),
            "ensures" => Some(ContractKind::Ensures),
            _ => None,
        }
    }

    /// The `requires(…)`/`ensures(…)` clauses before a body. A broken clause is reported
    /// once and skipped up to the next clause or the body, which is then parsed as usual:
    /// an error in a contract costs neither the other clauses nor the body.
    fn contracts(&mut self) -> Vec<Contract> {
        let mut contracts = Vec::new();
        loop {
            let kind = match self.at_contract() {
                Some(kind) => kind,
                // `require(…)` and the like: a misspelled clause, not the start of a body.
                None if self.at(T::Ident) && self.peek_at(1) == T::LParen => {
                    let span = self.span();
                    let found = self.text(span).to_string();
                    let hint = match suggest::closest(&found, ["requires", "ensures"]) {
                        Some(keyword) => format!("; did you mean '{keyword}'?"),
                        None => String::new(),
                    };
                    self.error(
                        span,
                        format!("expected 'requires', 'ensures' or the function body, found '{found}'{hint}"),
                    );
                    self.bump();
                    self.skip_contract();
                    continue;
                }
                None => return contracts,
            };
            let start = self.bump().span;
            let expr = self.paren_cond(kind.keyword());
            let span = start.to(self.prev_span());
            contracts.push(Contract { kind, expr, span });
            if self.panicking || self.bail {
                self.skip_contract();
            }
        }
    }

    /// Skips the rest of a broken contract clause: up to the next clause at the same
    /// parenthesis level, the body's `{` or the next item. Contracts hold no braces, so
    /// the first `{` is the body's.
    fn skip_contract(&mut self) {
        let mut depth = 0u32;
        let bailed = self.bail;
        loop {
            match self.peek() {
                T::Eof | T::LBrace | T::Fn | T::Pub | T::Import => break,
                T::Ident if depth == 0 && !bailed && self.at_contract().is_some() => break,
                T::LParen => depth += 1,
                T::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.bump();
        }
        // Parsing went back to the item level: nothing is nested any more.
        self.bail = false;
        self.nesting = 0;
        self.panicking = false;
    }

    fn type_ref(&mut self) -> TypeRef {
        let span = self.span();
        let ty = match self.peek() {
            T::I32 => Some(Type::I32),
            T::I64 => Some(Type::I64),
            T::Bool => Some(Type::Bool),
            T::Void => Some(Type::Void),
            T::Ident => {
                let name = self.text(span).to_string();
                self.error(span, format!("unknown type '{name}' (expected i32, i64, bool or void)"));
                None
            }
            _ => {
                self.error_expected("a type");
                return TypeRef { ty: None, span };
            }
        };
        self.bump();
        TypeRef { ty, span }
    }

    // ---- statements -------------------------------------------------------------------

    fn block(&mut self) -> Block {
        crate::with_stack(|| self.block_inner())
    }

    fn block_inner(&mut self) -> Block {
        let start = self.span();
        if !self.enter() {
            self.leave();
            return Block { stmts: Vec::new(), span: start };
        }
        if !self.expect(T::LBrace) {
            // `if (c) return;`: no block at all. The enclosing block skips the rest of
            // the statement; parsing what follows as this block's statements would eat
            // the enclosing block's `}`.
            self.leave();
            return Block { stmts: Vec::new(), span: start };
        }
        let mut stmts = Vec::new();
        while !self.at(T::RBrace) && !self.at(T::Eof) && !self.bail {
            // A stray item keyword means the closing brace is missing.
            if matches!(self.peek(), T::Fn | T::Pub | T::Import) {
                break;
            }
            let before = self.pos;
            let stmt = self.stmt();
            stmts.push(stmt);
            if self.panicking {
                // A statement that already consumed its `;` needs no skipping.
                if self.tokens[self.pos - 1].kind == T::Semi {
                    self.panicking = false;
                } else {
                    self.recover_stmt();
                }
            }
            if self.pos == before && !self.bail {
                self.bump();
            }
        }
        if !self.bail {
            self.expect(T::RBrace);
        }
        self.leave();
        Block { stmts, span: start.to(self.prev_span()) }
    }

    /// Skips the rest of a broken statement: up to and including `;`, or up to (not
    /// including) the `}` that closes the enclosing block. Balanced braces are skipped.
    fn recover_stmt(&mut self) {
        let mut depth = 0u32;
        loop {
            match self.peek() {
                T::Eof => break,
                T::Fn | T::Pub | T::Import if depth == 0 => break,
                T::Semi if depth == 0 => {
                    self.bump();
                    break;
                }
                T::LBrace => depth += 1,
                T::RBrace => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        break;
                    }
                }
                _ => {}
            }
            self.bump();
        }
        self.panicking = false;
    }

    fn stmt(&mut self) -> Stmt {
        let start = self.span();
        let kind = match self.peek() {
            T::Const | T::Var => {
                let mutable = self.bump().kind == T::Var;
                self.let_stmt(mutable)
            }
            T::If => self.if_stmt(),
            T::While => {
                self.bump();
                let cond = self.paren_cond("while");
                let body = self.block();
                StmtKind::While { cond, body }
            }
            T::Break => {
                self.bump();
                self.expect_semi();
                StmtKind::Break
            }
            T::Continue => {
                self.bump();
                self.expect_semi();
                StmtKind::Continue
            }
            T::Return => {
                self.bump();
                self.return_stmt()
            }
            // `retrun a;`, `cosnt b = 1;`: a misspelled keyword, and the rest as written.
            T::Ident if let Some(keyword) = self.misspelled_keyword() => {
                let span = self.bump().span;
                let word = self.text(span).to_string();
                self.error_recovered(span, format!("'{word}' is not a keyword; did you mean '{keyword}'?"));
                match keyword {
                    "return" => self.return_stmt(),
                    _ => self.let_stmt(keyword == "var"),
                }
            }
            T::LBrace => StmtKind::Block(self.block()),
            T::Ident if assign_op(self.peek_at(1)).is_some() => {
                let (name, name_span) = self.ident().expect("checked by peek");
                let op = assign_op(self.bump().kind).expect("checked by peek");
                let value = self.expr().expr;
                self.expect_semi();
                StmtKind::Assign { name, name_span, op, value }
            }
            _ => {
                let expr = self.expr().expr;
                if matches!(expr.kind, ExprKind::Error) {
                    StmtKind::Error
                } else if self.at(T::Eq) {
                    let span = self.span();
                    self.error(span, "only a variable name can be assigned to");
                    StmtKind::Error
                } else if let ExprKind::Name(name) = &expr.kind
                    && self.starts_operand_on_same_line()
                {
                    // `foo bar;`: two names in a row, and no keyword they could be.
                    let found = self.peek().describe();
                    self.error(expr.span, format!("expected ';' after '{name}', found {found}"));
                    StmtKind::Error
                } else {
                    let failures = self.failures;
                    self.expect_semi();
                    // A statement cut short is not checked: what its text meant is a guess.
                    if self.failures == failures { StmtKind::Expr(expr) } else { StmtKind::Error }
                }
            }
        };
        Stmt { kind, span: start.to(self.prev_span()) }
    }

    /// What follows `return`.
    fn return_stmt(&mut self) -> StmtKind {
        let value = if self.at(T::Semi) || self.at(T::RBrace) { None } else { Some(self.expr().expr) };
        self.expect_semi();
        StmtKind::Return(value)
    }

    /// The keyword a word at the start of a statement stands for, when it is followed on
    /// its line by an operand (`retrun a;`, `cosnt b = 1;`) — which no expression
    /// statement can be — and is close to one of the keywords that take one.
    fn misspelled_keyword(&self) -> Option<&'static str> {
        let next = self.tokens.get(self.pos + 1)?;
        let between = &self.text[self.span().end as usize..next.span.start as usize];
        let operand = matches!(next.kind, T::Ident | T::Int | T::True | T::False | T::Bang | T::AtPrint | T::AtAs);
        if !operand || between.contains(&b'\n') {
            return None;
        }
        let keyword = suggest::closest(self.text(self.span()), ["return", "const", "var"])?;
        // A declaration needs its name next.
        (keyword == "return" || next.kind == T::Ident).then_some(keyword)
    }

    /// A declaration, after its `const` or `var`.
    fn let_stmt(&mut self, mutable: bool) -> StmtKind {
        let Some((name, name_span)) = self.ident() else {
            return StmtKind::Error;
        };
        let ty = if self.eat(T::Colon) {
            Some(self.type_ref())
        } else if is_type_keyword(self.peek()) {
            // `var x i32 = 1;`
            let span = self.span();
            self.error_recovered(span, format!("expected ':' between '{name}' and its type"));
            Some(self.type_ref())
        } else {
            None
        };
        if !self.eat(T::Eq) {
            let keyword = if mutable { "var" } else { "const" };
            if self.at(T::Semi) {
                let span = self.span();
                self.error(span, format!("'{keyword}' declaration of '{name}' needs an initializer"));
            } else {
                self.error_expected("'='");
            }
            // Still a declaration: later uses of the name must not report it undeclared.
            let init = Expr { kind: ExprKind::Error, span: self.span() };
            return StmtKind::Let { mutable, name, name_span, ty, init };
        }
        let init = self.expr().expr;
        self.expect_semi();
        StmtKind::Let { mutable, name, name_span, ty, init }
    }

    fn if_stmt(&mut self) -> StmtKind {
        let mut branches = Vec::new();
        let mut else_block = None;
        loop {
            self.bump(); // `if`
            let cond = self.paren_cond("if");
            let block = self.block();
            branches.push((cond, block));
            if self.bail || !self.eat(T::Else) {
                break;
            }
            if !self.at(T::If) {
                else_block = Some(self.block());
                break;
            }
        }
        StmtKind::If { branches, else_block }
    }

    /// The parenthesized condition of `if`, `while`, `requires` or `ensures`.
    fn paren_cond(&mut self, keyword: &str) -> Expr {
        let was_panicking = self.panicking;
        if !self.at(T::LParen) {
            let span = self.span();
            let found = self.peek().describe();
            self.error(span, format!("expected '(' after '{keyword}', found {found}"));
            // `if x > 2 {`: the condition is all there, only without its parentheses.
            if !self.starts_expr() {
                return Expr { kind: ExprKind::Error, span };
            }
            let cond = self.expr().expr;
            if self.eat(T::RParen) || self.at(T::LBrace) || self.at_contract().is_some() {
                self.panicking = was_panicking;
                return cond;
            }
            return Expr { kind: ExprKind::Error, span: cond.span };
        }
        self.bump();
        let cond = self.expr().expr;
        if self.eat(T::RParen) {
            return cond;
        }
        if self.at(T::Eq) && !self.panicking {
            // `if (x = 1)`: the condition is a guess, so it is not checked.
            let span = self.span();
            self.error(span, "expected ')', found '='; to compare two values, use '=='");
            self.bump();
            let rhs = self.expr().expr;
            if self.eat(T::RParen) {
                self.panicking = was_panicking;
            }
            return Expr { kind: ExprKind::Error, span: cond.span.to(rhs.span) };
        }
        self.error_expected("')'");
        // `if (x > 2 {`: only the `)` is missing.
        if self.at(T::LBrace) && !matches!(cond.kind, ExprKind::Error) && !self.bail {
            self.panicking = was_panicking;
        }
        cond
    }

    /// Whether the current token can start an expression.
    fn starts_expr(&self) -> bool {
        matches!(
            self.peek(),
            T::Ident | T::Int | T::True | T::False | T::LParen | T::Minus | T::Bang | T::AtPrint | T::AtAs
        )
    }

    /// Whether the current token starts an operand (not an operator) on the line of the
    /// previous token: after a lone name, that means a keyword was misspelled.
    fn starts_operand_on_same_line(&self) -> bool {
        let operand = matches!(self.peek(), T::Ident | T::Int | T::True | T::False | T::Bang | T::AtPrint | T::AtAs);
        let between = &self.text[self.prev_span().end as usize..self.span().start as usize];
        operand && !between.contains(&b'\n')
    }

    // ---- expressions ------------------------------------------------------------------

    fn expr(&mut self) -> Parsed {
        crate::with_stack(|| self.binary_chain(0))
    }

    /// Parses one precedence level of left-associative binary operators; level 2
    /// (comparisons) is not chainable.
    fn binary_chain(&mut self, level: usize) -> Parsed {
        const LEVELS: usize = 5;
        if level == LEVELS {
            return self.unary();
        }
        let mut lhs = self.binary_chain(level + 1);
        while let Some(op) = binary_op(level, self.peek()) {
            if self.bail {
                break;
            }
            let op_span = self.bump().span;
            let rhs = self.binary_chain(level + 1);
            let depth = lhs.depth.max(rhs.depth) + 1;
            let span = lhs.expr.span.to(rhs.expr.span);
            lhs = Parsed {
                expr: Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs.expr), rhs: Box::new(rhs.expr) }, span },
                depth,
            };
            if depth > MAX_NESTING {
                return self.too_deep(op_span);
            }
            if level == 2 {
                if binary_op(2, self.peek()).is_some() {
                    return self.chained_comparison(lhs);
                }
                break;
            }
        }
        lhs
    }

    /// `a < b < c`: reported at the second operator. The rest of the chain is parsed so
    /// that parsing goes on after it, and the whole comparison becomes an `Error` node: a
    /// tree for it would be checked as a comparison of a `bool`, a second error.
    fn chained_comparison(&mut self, first: Parsed) -> Parsed {
        let span = self.span();
        self.error_recovered(span, "comparison operators cannot be chained; use 'and' to combine comparisons");
        let mut whole = first.expr.span;
        let mut depth = first.depth;
        while binary_op(2, self.peek()).is_some() && !self.bail {
            self.bump();
            let rhs = self.binary_chain(3);
            whole = whole.to(rhs.expr.span);
            depth = depth.max(rhs.depth) + 1;
            if depth > MAX_NESTING {
                return self.too_deep(span);
            }
        }
        Parsed { expr: Expr { kind: ExprKind::Error, span: whole }, depth }
    }

    fn too_deep(&mut self, span: Span) -> Parsed {
        self.panicking = false;
        self.error(span, format!("expression is nested too deeply (the limit is {MAX_NESTING} levels)"));
        self.bail = true;
        Parsed { expr: Expr { kind: ExprKind::Error, span }, depth: 1 }
    }

    fn unary(&mut self) -> Parsed {
        let op = match self.peek() {
            T::Minus => UnOp::Neg,
            T::Bang => UnOp::Not,
            _ => return self.primary(),
        };
        let start = self.bump().span;
        if !self.enter() {
            self.leave();
            return error_expr(start);
        }
        let operand = crate::with_stack(|| self.unary());
        self.leave();
        let span = start.to(operand.expr.span);
        Parsed {
            expr: Expr { kind: ExprKind::Unary { op, operand: Box::new(operand.expr) }, span },
            depth: operand.depth + 1,
        }
    }

    fn primary(&mut self) -> Parsed {
        let start = self.span();
        if self.bail {
            return error_expr(start);
        }
        match self.peek() {
            T::Int => {
                self.bump();
                leaf(ExprKind::Int(int_value(self.text(start))), start)
            }
            T::True | T::False => {
                let value = self.bump().kind == T::True;
                leaf(ExprKind::Bool(value), start)
            }
            T::LParen => {
                self.bump();
                if !self.enter() {
                    self.leave();
                    return error_expr(start);
                }
                let inner = self.expr();
                self.leave();
                self.expect(T::RParen);
                let span = start.to(self.prev_span());
                Parsed { expr: Expr { kind: ExprKind::Paren(Box::new(inner.expr)), span }, depth: inner.depth + 1 }
            }
            T::Ident => self.name_or_call(),
            T::AtPrint => {
                self.bump();
                self.expect(T::LParen);
                let value = self.nested_expr();
                self.eat(T::Comma);
                self.expect(T::RParen);
                let span = start.to(self.prev_span());
                Parsed { expr: Expr { kind: ExprKind::Print(Box::new(value.expr)), span }, depth: value.depth + 1 }
            }
            T::AtAs => {
                self.bump();
                self.expect(T::LParen);
                let ty = self.type_ref();
                self.expect(T::Comma);
                let value = self.nested_expr();
                self.eat(T::Comma);
                self.expect(T::RParen);
                let span = start.to(self.prev_span());
                Parsed {
                    expr: Expr { kind: ExprKind::As { ty, value: Box::new(value.expr) }, span },
                    depth: value.depth + 1,
                }
            }
            _ => {
                self.error_expected("an expression");
                error_expr(start)
            }
        }
    }

    /// An expression one nesting level down (a builtin's or a call's argument).
    fn nested_expr(&mut self) -> Parsed {
        let start = self.span();
        if !self.enter() {
            self.leave();
            return error_expr(start);
        }
        let parsed = self.expr();
        self.leave();
        parsed
    }

    fn name_or_call(&mut self) -> Parsed {
        let (first, first_span) = self.ident().expect("caller checked for an identifier");
        let (ns, name, name_span) = if self.at(T::Dot) {
            self.bump();
            let Some((name, span)) = self.ident() else {
                return error_expr(first_span);
            };
            if !self.at(T::LParen) {
                let span = self.span();
                self.error(
                    span,
                    format!("expected '(' after '{first}.{name}': only functions can be reached through an import"),
                );
                return error_expr(first_span.to(self.prev_span()));
            }
            (Some((first, first_span)), name, span)
        } else if self.at(T::LParen) {
            (None, first, first_span)
        } else {
            return leaf(ExprKind::Name(first), first_span);
        };
        self.bump(); // `(`
        let mut args = Vec::new();
        let mut depth = 0;
        while !self.at(T::RParen) && !self.at(T::Eof) && !self.bail {
            let arg = self.nested_expr();
            depth = depth.max(arg.depth);
            args.push(arg.expr);
            if !self.eat(T::Comma) {
                break;
            }
        }
        self.expect(T::RParen);
        let span = ns.as_ref().map_or(name_span, |(_, s)| *s).to(self.prev_span());
        Parsed { expr: Expr { kind: ExprKind::Call { ns, name, name_span, args }, span }, depth: depth + 1 }
    }
}

fn is_type_keyword(kind: TokenKind) -> bool {
    matches!(kind, T::I32 | T::I64 | T::Bool | T::Void)
}

fn leaf(kind: ExprKind, span: Span) -> Parsed {
    Parsed { expr: Expr { kind, span }, depth: 1 }
}

fn error_expr(span: Span) -> Parsed {
    leaf(ExprKind::Error, span)
}

fn binary_op(level: usize, kind: TokenKind) -> Option<BinOp> {
    Some(match (level, kind) {
        (0, T::Or) => BinOp::Or,
        (1, T::And) => BinOp::And,
        (2, T::EqEq) => BinOp::Eq,
        (2, T::NotEq) => BinOp::Ne,
        (2, T::Lt) => BinOp::Lt,
        (2, T::LtEq) => BinOp::Le,
        (2, T::Gt) => BinOp::Gt,
        (2, T::GtEq) => BinOp::Ge,
        (3, T::Plus) => BinOp::Add,
        (3, T::Minus) => BinOp::Sub,
        (4, T::Star) => BinOp::Mul,
        (4, T::Slash) => BinOp::Div,
        (4, T::Percent) => BinOp::Rem,
        _ => return None,
    })
}

/// `=` is `Some(None)`; `op=` is `Some(Some(op))`.
fn assign_op(kind: TokenKind) -> Option<Option<BinOp>> {
    Some(match kind {
        T::Eq => None,
        T::PlusEq => Some(BinOp::Add),
        T::MinusEq => Some(BinOp::Sub),
        T::StarEq => Some(BinOp::Mul),
        T::SlashEq => Some(BinOp::Div),
        T::PercentEq => Some(BinOp::Rem),
        _ => return None,
    })
}

/// The value of a decimal literal with `_` separators, or `None` past `u64::MAX`.
fn int_value(text: &str) -> Option<u64> {
    text.bytes().filter(|&b| b != b'_').try_fold(0u64, |acc, b| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text.as_bytes()).1.into_iter().map(|e| format!("{}: {}", e.span.start, e.message)).collect()
    }

    #[test]
    fn binary_operators_associate_left_with_precedence() {
        let (file, errs) = parse(b"fn f() i32 { return 1 - 2 - 3 * 4; }");
        assert!(errs.is_empty());
        let Item::Fn(f) = &file.items[0] else { panic!() };
        let StmtKind::Return(Some(e)) = &f.body.stmts[0].kind else { panic!() };
        let ExprKind::Binary { op: BinOp::Sub, lhs, rhs } = &e.kind else { panic!() };
        assert!(matches!(lhs.kind, ExprKind::Binary { op: BinOp::Sub, .. }));
        assert!(matches!(rhs.kind, ExprKind::Binary { op: BinOp::Mul, .. }));
    }

    #[test]
    fn every_statement_error_is_reported_once() {
        let errs = errors("fn f() i32 {\n  const = 1;\n  var x i32 = 2;\n  return 1 +;\n}\n");
        assert_eq!(errs.len(), 3, "{errs:#?}");
    }

    #[test]
    fn junk_between_items_is_skipped() {
        let errs = errors("garbage here; fn main() void {} 42 fn g() void {}");
        assert_eq!(errs.len(), 2, "{errs:#?}");
    }

    #[test]
    fn deep_nesting_is_one_error() {
        let depth = 20_000;
        let text = format!("fn f() i32 {{ return {}1{}; }}", "(".repeat(depth), ")".repeat(depth));
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("too deep"));
    }

    #[test]
    fn long_operator_chains_are_bounded() {
        let text = format!("fn f() i32 {{ return 1{}; }}", "+1".repeat(50_000));
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
    }

    #[test]
    fn chained_comparisons_are_rejected() {
        let errs = errors("fn f() bool { return 1 < 2 < 3; }");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("cannot be chained"));
    }

    #[test]
    fn contract_keywords_are_names_outside_a_function_header() {
        let text = "fn requires(ensures: i32) i32 requires(ensures > 0) ensures(result > ensures) {\n\
                    const result = requires(ensures);\n    return result;\n}";
        let (file, errs) = parse(text.as_bytes());
        assert!(errs.is_empty(), "{errs:#?}");
        let Item::Fn(f) = &file.items[0] else { panic!() };
        assert_eq!(&*f.name, "requires");
        let kinds: Vec<ContractKind> = f.contracts.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ContractKind::Requires, ContractKind::Ensures]);
        assert_eq!(f.body.stmts.len(), 2);
    }

    #[test]
    fn a_too_deep_contract_is_one_error_and_the_body_is_still_parsed() {
        let depth = 5_000;
        let text = format!(
            "fn f(x: i32) i32 requires({}x{}) ensures(x > 0) {{ return 1 +; }}",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        let errs = errors(&text);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains("too deep"), "{errs:#?}");
        assert!(errs[1].contains("expected an expression"), "{errs:#?}");
    }

    #[test]
    fn else_if_chains_do_not_nest() {
        let mut text = String::from("fn f(x: i32) i32 { if (x == 0) { return 0; }");
        for i in 1..5000 {
            text.push_str(&format!(" else if (x == {i}) {{ return {i}; }}"));
        }
        text.push_str(" return 1; }");
        assert!(errors(&text).is_empty());
    }
}
