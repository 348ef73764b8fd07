//! Completion and signature help. Both look at the tokens before the cursor rather than
//! at the syntax tree, because the code being typed rarely parses.

use crate::base::Type;
use crate::db::Db;
use crate::imports::file_scope;
use crate::items::{Function, functions_of};
use crate::sema::fn_signature;
use crate::source::SourceFile;
use crate::syntax::{Token, TokenKind, lex};

use super::{FileNames, LocalKind, Sources, fn_decl, signature_label, source};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Function,
    Variable,
    Module,
    Keyword,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
}

const KEYWORDS: &[&str] = &[
    "fn", "pub", "const", "var", "return", "if", "else", "while", "break", "continue", "import", "as", "true", "false",
    "and", "or", "i32", "i64", "bool", "void",
];

/// The tokens of `text` that end at or before `offset`.
fn tokens_before(text: &[u8], offset: u32) -> Vec<Token> {
    let (mut tokens, _) = lex(text);
    tokens.retain(|t| t.span.end <= offset && t.kind != TokenKind::Eof);
    tokens
}

/// The label of a function: its signature, from its file's text when there is one.
fn function_detail(db: &dyn Db, sources: &dyn Sources, function: Function) -> Option<String> {
    let file = function.file(db);
    if let Some(source) = source(db, sources, file)
        && let Some((_, decl)) = fn_decl(&source.parsed.ast, function.name(db))
    {
        return Some(signature_label(decl).0);
    }
    let signature = fn_signature(db, function).clone()?;
    let params: Vec<&str> = signature.params.iter().map(|t| t.map_or("?", Type::name)).collect();
    Some(format!("fn {}({}) {}", function.name(db), params.join(", "), signature.ret.map_or("?", Type::name)))
}

/// What may be written at `offset` in `file`: after `ns.`, the functions of the file
/// imported as `ns`; elsewhere the locals and parameters in scope, the file's functions,
/// its import aliases, keywords and builtins.
pub fn completions(
    db: &dyn Db,
    sources: &dyn Sources,
    file: SourceFile,
    text: &[u8],
    names: &FileNames,
    offset: u32,
) -> Vec<Completion> {
    let tokens = tokens_before(text, offset);
    // The word being typed, if the cursor is at its end.
    let mut context = tokens.as_slice();
    if let [rest @ .., last] = context
        && last.span.end == offset
        && last.kind != TokenKind::Dot
        && text[last.span.start as usize].is_ascii_alphabetic()
    {
        context = rest;
    }
    if let [.., ns, dot] = context
        && dot.kind == TokenKind::Dot
        && ns.kind == TokenKind::Ident
    {
        let alias = String::from_utf8_lossy(&text[ns.span.start as usize..ns.span.end as usize]);
        let Some(Some(target)) = file_scope(db, file).aliases.get(&*alias).copied() else { return Vec::new() };
        return functions_of(db, target)
            .into_iter()
            .map(|f| Completion {
                label: f.name(db).to_string(),
                kind: CompletionKind::Function,
                detail: function_detail(db, sources, f),
            })
            .collect();
    }

    let mut out: Vec<Completion> = Vec::new();
    // Locals in scope, as the checker's scopes say; an inner declaration hides an outer
    // one of the same name.
    let mut seen = std::collections::HashSet::new();
    for local in names.in_scope(offset) {
        if seen.insert(local.name.clone()) {
            let kind = match local.kind {
                LocalKind::Param => "parameter",
                LocalKind::Const => "const",
                LocalKind::Var => "var",
            };
            out.push(Completion {
                label: local.name.to_string(),
                kind: CompletionKind::Variable,
                detail: Some(kind.to_string()),
            });
        }
    }
    for function in functions_of(db, file) {
        out.push(Completion {
            label: function.name(db).to_string(),
            kind: CompletionKind::Function,
            detail: function_detail(db, sources, function),
        });
    }
    for import in &names.imports {
        let detail = import.target.map(|t| format!("import \"{}\"", t.path(db)));
        out.push(Completion { label: import.alias.to_string(), kind: CompletionKind::Module, detail });
    }
    for keyword in KEYWORDS {
        out.push(Completion { label: keyword.to_string(), kind: CompletionKind::Keyword, detail: None });
    }
    for (builtin, detail) in [("@print", "@print(value) void"), ("@as", "@as(type, value)")] {
        out.push(Completion {
            label: builtin.to_string(),
            kind: CompletionKind::Function,
            detail: Some(detail.to_string()),
        });
    }
    out
}

/// The signature of the call whose parentheses hold `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHelp {
    pub label: String,
    /// Each parameter's byte range in `label`.
    pub params: Vec<(u32, u32)>,
    pub active: u32,
}

/// The signature of the innermost call around `offset`, and which argument is there.
pub fn signature_help(
    db: &dyn Db,
    sources: &dyn Sources,
    file: SourceFile,
    text: &[u8],
    offset: u32,
) -> Option<SignatureHelp> {
    let tokens = tokens_before(text, offset);
    let mut depth = 0u32;
    let mut commas = 0u32;
    let mut open = None;
    for (i, token) in tokens.iter().enumerate().rev() {
        match token.kind {
            TokenKind::RParen => depth += 1,
            TokenKind::LParen if depth == 0 => {
                open = Some(i);
                break;
            }
            TokenKind::LParen => depth -= 1,
            TokenKind::Comma if depth == 0 => commas += 1,
            // A statement boundary: the cursor is not inside a call.
            TokenKind::Semi | TokenKind::LBrace | TokenKind::RBrace => return None,
            _ => {}
        }
    }
    let open = open?;
    let word = |t: &Token| String::from_utf8_lossy(&text[t.span.start as usize..t.span.end as usize]).into_owned();
    let name = tokens.get(open.checked_sub(1)?).filter(|t| t.kind == TokenKind::Ident)?;
    let scope = file_scope(db, file);
    let exists = |file: SourceFile, name: &str| {
        let function = Function::new(db, file, crate::base::Name::from(name));
        fn_signature(db, function).is_some().then_some(function)
    };
    let qualified = open >= 3 && tokens[open - 2].kind == TokenKind::Dot && tokens[open - 3].kind == TokenKind::Ident;
    let function = if qualified {
        let target = (*scope.aliases.get(&*word(&tokens[open - 3]))?)?;
        exists(target, &word(name))?
    } else {
        let name = word(name);
        exists(file, &name).or_else(|| {
            name.match_indices('_').find_map(|(split, _)| {
                let target = (*scope.aliases.get(&name[..split])?)?;
                exists(target, &name[split + 1..])
            })
        })?
    };
    let source = source(db, sources, function.file(db))?;
    let (_, decl) = fn_decl(&source.parsed.ast, function.name(db))?;
    let (label, params) = signature_label(decl);
    let active = commas.min(params.len().saturating_sub(1) as u32);
    Some(SignatureHelp { label, params, active })
}
