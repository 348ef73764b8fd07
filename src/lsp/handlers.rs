//! Request handlers: each answers one request from a database snapshot, on a worker
//! thread. They only read; a query that finds its revision cancelled unwinds with
//! `salsa::Cancelled`, which the server turns into a retry.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lsp_server::ErrorCode;
use lsp_types::{
    CompletionRequest, DefinitionRequest, DocumentHighlightRequest, DocumentSymbolRequest, HoverRequest,
    PrepareRenameRequest, ReferencesRequest, RenameRequest, Request as _, SemanticTokensRequest, SignatureHelpRequest,
    WorkspaceSymbolRequest,
};
use mini_queries::Database;
use mini_queries::base::{ModulePath, Severity};
use mini_queries::diagnostics::{entry_point_error, file_diagnostics};
use mini_queries::ide::{self, CompletionKind, FileNames, Role, Sources, TokenModifier, TokenType};
use mini_queries::source::{FileContents, SourceFile, Workspace};
use serde_json::{Value, json};

use super::convert::{Encoding, Lines, Position, path_of, uri_of};

/// What a worker answers a request from: a database snapshot (a clone, dropped as soon
/// as the answer is ready so that the main thread's next edit need not wait), and what is
/// needed to turn spans into positions and files into URIs.
pub(crate) struct Snapshot {
    pub db: Database,
    /// The entry's directory, absolute.
    pub root: PathBuf,
    pub encoding: Encoding,
    pub disk: Arc<DiskTexts>,
}

/// Texts of files held as summaries, read from disk when an answer needs one, and kept
/// until the file changes.
#[derive(Default)]
pub(crate) struct DiskTexts {
    texts: Mutex<BTreeMap<ModulePath, Option<Arc<[u8]>>>>,
}

impl DiskTexts {
    pub fn forget(&self, module: &ModulePath) {
        self.texts.lock().unwrap_or_else(|e| e.into_inner()).remove(module);
    }
}

impl Sources for Snapshot {
    fn read(&self, file: SourceFile) -> Option<Arc<[u8]>> {
        let module = file.path(&self.db).clone();
        if let Some(text) = self.disk.texts.lock().unwrap_or_else(|e| e.into_inner()).get(&module) {
            return text.clone();
        }
        let text: Option<Arc<[u8]>> = std::fs::read(self.root.join(module.as_str())).ok().map(Arc::from);
        self.disk.texts.lock().unwrap_or_else(|e| e.into_inner()).insert(module, text.clone());
        text
    }
}

/// A request's failure, as the protocol reports it.
#[derive(Debug)]
pub(crate) struct HandlerError {
    pub code: i32,
    pub message: String,
}

impl HandlerError {
    fn invalid_params(message: impl Into<String>) -> HandlerError {
        HandlerError { code: ErrorCode::InvalidParams as i32, message: message.into() }
    }

    fn failed(message: impl Into<String>) -> HandlerError {
        HandlerError { code: ErrorCode::RequestFailed as i32, message: message.into() }
    }
}

type Answer = Result<Value, HandlerError>;

/// The requests answered on workers, named by the protocol's metamodel.
pub(crate) const METHODS: &[&str] = &[
    HoverRequest::METHOD.as_str(),
    DefinitionRequest::METHOD.as_str(),
    ReferencesRequest::METHOD.as_str(),
    DocumentHighlightRequest::METHOD.as_str(),
    DocumentSymbolRequest::METHOD.as_str(),
    WorkspaceSymbolRequest::METHOD.as_str(),
    CompletionRequest::METHOD.as_str(),
    PrepareRenameRequest::METHOD.as_str(),
    RenameRequest::METHOD.as_str(),
    SemanticTokensRequest::METHOD.as_str(),
    SignatureHelpRequest::METHOD.as_str(),
];

pub(crate) fn handle(snap: &Snapshot, method: &str, params: &Value) -> Answer {
    match method {
        "textDocument/hover" => hover(snap, params),
        "textDocument/definition" => definition(snap, params),
        "textDocument/references" => references(snap, params),
        "textDocument/documentHighlight" => highlights(snap, params),
        "textDocument/documentSymbol" => document_symbols(snap, params),
        "workspace/symbol" => workspace_symbols(snap, params),
        "textDocument/completion" => completion(snap, params),
        "textDocument/prepareRename" => prepare_rename(snap, params),
        "textDocument/rename" => rename(snap, params),
        "textDocument/semanticTokens/full" => semantic_tokens(snap, params),
        "textDocument/signatureHelp" => signature_help(snap, params),
        _ => Err(HandlerError { code: ErrorCode::MethodNotFound as i32, message: format!("unknown request {method}") }),
    }
}

/// A file of the workspace, with its text and names, and an offset in it.
struct At {
    file: SourceFile,
    text: Arc<[u8]>,
    names: Arc<FileNames>,
    offset: u32,
}

impl Snapshot {
    /// The loaded file a URI names, if any.
    pub fn file(&self, uri: &str) -> Option<SourceFile> {
        let path = path_of(uri)?;
        let module = crate::driver::module_path_of(&self.root, &path)?;
        Workspace::try_get(&self.db)?.files(&self.db).get(&module).copied()
    }

    pub fn uri(&self, file: SourceFile) -> String {
        uri_of(&crate::fs::lexically_normal(&self.root.join(file.path(&self.db).as_str())))
    }

    /// The file's text: the database's, or the disk's for a summary.
    pub fn text(&self, file: SourceFile) -> Option<Arc<[u8]>> {
        match file.contents(&self.db) {
            FileContents::Text(text) => Some(text.clone()),
            FileContents::Missing(_) => None,
            FileContents::Unread => self.read(file),
        }
    }

    fn lines<'a>(&self, text: &'a [u8]) -> Lines<'a> {
        Lines::new(text, self.encoding)
    }

    fn document(&self, params: &Value) -> Result<Option<SourceFile>, HandlerError> {
        let uri = params
            .pointer("/textDocument/uri")
            .and_then(Value::as_str)
            .ok_or_else(|| HandlerError::invalid_params("missing textDocument.uri"))?;
        Ok(self.file(uri))
    }

    fn at(&self, params: &Value) -> Result<Option<At>, HandlerError> {
        let Some(file) = self.document(params)? else { return Ok(None) };
        let position = params
            .get("position")
            .and_then(Position::from_json)
            .ok_or_else(|| HandlerError::invalid_params("missing or invalid position"))?;
        let (Some(text), Some(names)) = (self.text(file), ide::names(&self.db, self, file)) else { return Ok(None) };
        let offset = self.lines(&text).offset(position);
        Ok(Some(At { file, text, names, offset }))
    }

    fn location(&self, file: SourceFile, span: mini_queries::syntax::Span) -> Option<Value> {
        let text = self.text(file)?;
        Some(json!({"uri": self.uri(file), "range": self.lines(&text).range(span)}))
    }
}

fn hover(snap: &Snapshot, params: &Value) -> Answer {
    let Some(at) = snap.at(params)? else { return Ok(Value::Null) };
    let Some(occurrence) = at.names.at(at.offset) else { return Ok(Value::Null) };
    let Some(markdown) = ide::hover(&snap.db, snap, &at.names, &occurrence.symbol) else { return Ok(Value::Null) };
    Ok(json!({
        "contents": {"kind": "markdown", "value": markdown},
        "range": snap.lines(&at.text).range(occurrence.span),
    }))
}

fn definition(snap: &Snapshot, params: &Value) -> Answer {
    let Some(at) = snap.at(params)? else { return Ok(Value::Null) };
    let Some(occurrence) = at.names.at(at.offset) else { return Ok(Value::Null) };
    let target = ide::definition(&snap.db, snap, &at.names, &occurrence.symbol);
    Ok(target.and_then(|t| snap.location(t.file, t.span)).unwrap_or(Value::Null))
}

fn references(snap: &Snapshot, params: &Value) -> Answer {
    let Some(at) = snap.at(params)? else { return Ok(Value::Null) };
    let Some(occurrence) = at.names.at(at.offset) else { return Ok(json!([])) };
    let include = params.pointer("/context/includeDeclaration").and_then(Value::as_bool).unwrap_or(true);
    let found = ide::references(&snap.db, snap, &occurrence.symbol, include);
    Ok(found.into_iter().filter_map(|(file, o)| snap.location(file, o.span)).collect())
}

fn highlights(snap: &Snapshot, params: &Value) -> Answer {
    let Some(at) = snap.at(params)? else { return Ok(Value::Null) };
    let Some(occurrence) = at.names.at(at.offset) else { return Ok(json!([])) };
    let lines = snap.lines(&at.text);
    Ok(at
        .names
        .occurrences
        .iter()
        .filter(|o| o.symbol == occurrence.symbol)
        .map(|o| {
            // DocumentHighlightKind: 2 read, 3 write (a definition writes).
            let kind = if o.role == Role::Read { 2 } else { 3 };
            json!({"range": lines.range(o.span), "kind": kind})
        })
        .collect())
}

/// SymbolKind.Function.
const FUNCTION_SYMBOL: u32 = 12;

fn document_symbols(snap: &Snapshot, params: &Value) -> Answer {
    let Some(file) = snap.document(params)? else { return Ok(Value::Null) };
    let Some(source) = ide::source(&snap.db, snap, file) else { return Ok(json!([])) };
    let lines = snap.lines(&source.text);
    Ok(ide::file_symbols(&source.parsed.ast)
        .into_iter()
        .map(|s| {
            json!({
                "name": &*s.name,
                "detail": s.detail,
                "kind": FUNCTION_SYMBOL,
                "range": lines.range(s.span),
                "selectionRange": lines.range(s.name_span),
            })
        })
        .collect())
}

fn workspace_symbols(snap: &Snapshot, params: &Value) -> Answer {
    let query = params.get("query").and_then(Value::as_str).unwrap_or("");
    let found = ide::workspace_symbols(&snap.db, snap, query, 256);
    Ok(found
        .into_iter()
        .filter_map(|(file, s)| {
            Some(json!({
                "name": &*s.name,
                "kind": FUNCTION_SYMBOL,
                "location": snap.location(file, s.name_span)?,
                "containerName": file.path(&snap.db).as_str(),
            }))
        })
        .collect())
}

fn completion(snap: &Snapshot, params: &Value) -> Answer {
    let Some(at) = snap.at(params)? else { return Ok(Value::Null) };
    let items: Vec<Value> = ide::completions(&snap.db, snap, at.file, &at.text, &at.names, at.offset)
        .into_iter()
        .map(|c| {
            // CompletionItemKind: 3 function, 6 variable, 9 module, 14 keyword.
            let kind = match c.kind {
                CompletionKind::Function => 3,
                CompletionKind::Variable => 6,
                CompletionKind::Module => 9,
                CompletionKind::Keyword => 14,
            };
            let mut item = json!({"label": c.label, "kind": kind});
            if let Some(detail) = c.detail {
                item["detail"] = detail.into();
            }
            item
        })
        .collect();
    Ok(json!({"isIncomplete": false, "items": items}))
}

fn prepare_rename(snap: &Snapshot, params: &Value) -> Answer {
    let Some(at) = snap.at(params)? else { return Ok(Value::Null) };
    let occurrence = ide::prepare_rename(&at.names, at.offset).map_err(HandlerError::failed)?;
    let span = occurrence.span;
    let placeholder = String::from_utf8_lossy(&at.text[span.start as usize..span.end as usize]).into_owned();
    Ok(json!({"range": snap.lines(&at.text).range(span), "placeholder": placeholder}))
}

fn rename(snap: &Snapshot, params: &Value) -> Answer {
    let new_name =
        params.get("newName").and_then(Value::as_str).ok_or_else(|| HandlerError::invalid_params("missing newName"))?;
    let Some(at) = snap.at(params)? else { return Ok(Value::Null) };
    let occurrence = ide::prepare_rename(&at.names, at.offset).map_err(HandlerError::failed)?;
    let edits = ide::rename(&snap.db, snap, &at.names, &occurrence.symbol, new_name).map_err(HandlerError::failed)?;
    let mut changes = serde_json::Map::new();
    let mut texts: BTreeMap<String, Option<Arc<[u8]>>> = BTreeMap::new();
    for (file, span, new_text) in edits {
        let uri = snap.uri(file);
        let text = texts.entry(uri.clone()).or_insert_with(|| snap.text(file));
        let Some(text) = text else { continue };
        let edit = json!({"range": snap.lines(text).range(span), "newText": new_text});
        changes.entry(uri).or_insert_with(|| json!([])).as_array_mut().expect("an array").push(edit);
    }
    Ok(json!({"changes": changes}))
}

/// The legend announced at `initialize`: token types and modifiers by index.
pub(crate) fn semantic_tokens_legend() -> Value {
    let types: Vec<&str> = TokenType::ALL.iter().map(|t| t.name()).collect();
    let modifiers: Vec<&str> = TokenModifier::ALL.iter().map(|(_, name)| *name).collect();
    json!({"tokenTypes": types, "tokenModifiers": modifiers})
}

fn semantic_tokens(snap: &Snapshot, params: &Value) -> Answer {
    let Some(file) = snap.document(params)? else { return Ok(Value::Null) };
    let (Some(text), Some(names)) = (snap.text(file), ide::names(&snap.db, snap, file)) else {
        return Ok(json!({"data": []}));
    };
    let lines = snap.lines(&text);
    let mut data: Vec<u32> = Vec::new();
    let mut previous = Position { line: 0, character: 0 };
    for (span, ty, modifiers) in ide::semantic_tokens(&text, &names) {
        let start = lines.position(span.start);
        let end = lines.position(span.end);
        let delta_start =
            if start.line == previous.line { start.character - previous.character } else { start.character };
        let type_index = TokenType::ALL.iter().position(|t| *t == ty).expect("every type is in the legend");
        data.extend([
            start.line - previous.line,
            delta_start,
            end.character.saturating_sub(start.character),
            type_index as u32,
            modifiers,
        ]);
        previous = start;
    }
    Ok(json!({"data": data}))
}

fn signature_help(snap: &Snapshot, params: &Value) -> Answer {
    let Some(at) = snap.at(params)? else { return Ok(Value::Null) };
    let Some(help) = ide::signature_help(&snap.db, snap, at.file, &at.text, at.offset) else { return Ok(Value::Null) };
    let parameters: Vec<Value> = help.params.iter().map(|&(start, end)| json!({"label": [start, end]})).collect();
    Ok(json!({
        "signatures": [{"label": help.label, "parameters": parameters}],
        "activeSignature": 0,
        "activeParameter": help.active,
    }))
}

/// The diagnostics of one file as the protocol's objects: every error and warning of the
/// file (severity 1 and 2; notes as related information), and for the entry file the
/// entry point's.
pub(crate) fn diagnostics(snap: &Snapshot, file: SourceFile) -> Vec<Value> {
    let db = &snap.db;
    let Some(text) = snap.text(file) else { return Vec::new() };
    let mut found: Vec<_> = file_diagnostics(db, file).to_vec();
    if Workspace::try_get(db).is_some_and(|w| w.entry(db) == file) {
        found.extend(entry_point_error(db, file));
        found.sort_by_key(|d| (d.span.start, d.span.end));
    }
    let lines = snap.lines(&text);
    found
        .iter()
        .map(|d| {
            let severity = match d.severity {
                Severity::Error => 1,
                Severity::Warning => 2,
            };
            let mut value =
                json!({"range": lines.range(d.span), "severity": severity, "source": "mini", "message": d.message});
            if !d.notes.is_empty() {
                let uri = snap.uri(file);
                let related: Vec<Value> = d
                    .notes
                    .iter()
                    .map(|n| json!({"location": {"uri": uri, "range": lines.range(n.span)}, "message": n.message}))
                    .collect();
                value["relatedInformation"] = related.into();
            }
            value
        })
        .collect()
}
