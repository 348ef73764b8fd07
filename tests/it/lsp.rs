//! The language server, in process over an in-memory connection (as ty's end-to-end
//! tests do): a test client that fails when the server sent something the test did not
//! read, and snapshots of the responses with ranges as `line:col-line:col` (0-based, as
//! the protocol counts) and file URIs relative to the workspace.

use std::collections::VecDeque;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use expect_test::{Expect, expect};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    DidChangeTextDocumentParams, DidOpenTextDocumentParams, Notification as _, Position, Range,
    TextDocumentContentChangeEvent, TextDocumentContentChangePartial, TextDocumentContentChangeWholeDocument,
    TextDocumentIdentifier, TextDocumentItem, Uri, VersionedTextDocumentIdentifier,
};
use mini::lsp::{Hooks, Options};
use serde_json::{Value, json};

use crate::support::parse_fixture;

/// How long to wait for a message before the test fails (a hang is a failure, not a
/// timing assertion).
const PATIENCE: Duration = Duration::from_secs(20);

pub struct TestServer {
    dir: tempfile::TempDir,
    client: Option<Connection>,
    thread: Option<JoinHandle<u8>>,
    next_id: i32,
    /// Messages received but not yet claimed by the test.
    unread: VecDeque<Message>,
}

impl TestServer {
    pub fn new(fixture: &str) -> TestServer {
        TestServer::with(fixture, json!({}), Hooks::default())
    }

    /// A server for the files of `fixture`, initialized with `capabilities` and hooks.
    pub fn with(fixture: &str, capabilities: Value, hooks: Hooks) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (path, text) in parse_fixture(fixture) {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        TestServer::start(dir, json!({"capabilities": capabilities}), hooks)
    }

    /// A server for the directory `dir`, with these `initialize` params (the root is
    /// added).
    pub fn start(dir: tempfile::TempDir, mut params: Value, hooks: Hooks) -> TestServer {
        let (server, client) = Connection::memory();
        let options = Options { workers: 2, hooks };
        let thread = std::thread::spawn(move || mini::lsp::serve(server, options));
        params["rootUri"] = mini::lsp::convert::uri_of(dir.path()).into();
        params["processId"] = Value::Null;
        let mut test =
            TestServer { dir, client: Some(client), thread: Some(thread), next_id: 0, unread: VecDeque::new() };
        let initialized = test.request("initialize", params);
        assert!(initialized["capabilities"]["hoverProvider"] == true, "{initialized}");
        test.notify("initialized", json!({}));
        test
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Takes the workspace directory, so that it outlives the server.
    pub fn take_dir(&mut self) -> tempfile::TempDir {
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    pub fn uri(&self, path: &str) -> String {
        mini::lsp::convert::uri_of(&self.dir.path().join(path))
    }

    fn client(&self) -> &Connection {
        self.client.as_ref().expect("connected")
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.client().sender.send(Notification::new(method.to_string(), params).into()).expect("the server is running");
    }

    pub fn send_request(&mut self, method: &str, params: Value) -> RequestId {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        let request = Request::new(id.clone(), method.to_string(), params);
        self.client().sender.send(request.into()).expect("the server is running");
        id
    }

    /// The next message that `wanted` accepts; the others stay unread.
    fn receive(&mut self, what: &str, wanted: impl Fn(&Message) -> bool) -> Message {
        if let Some(i) = self.unread.iter().position(&wanted) {
            return self.unread.remove(i).unwrap();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.client().receiver.recv_timeout(left) {
                Ok(message) if wanted(&message) => return message,
                Ok(message) => self.unread.push_back(message),
                Err(e) => panic!("waiting for {what}: {e}; unread: {:#?}", self.unread),
            }
        }
    }

    pub fn response(&mut self, id: &RequestId) -> Response {
        match self.receive(&format!("the response to {id}"), |m| matches!(m, Message::Response(r) if r.id == *id)) {
            Message::Response(response) => response,
            _ => unreachable!(),
        }
    }

    /// Sends a request and returns its result; an error response fails the test.
    #[track_caller]
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        match self.response(&id).response_result {
            Ok(result) => result,
            Err(error) => panic!("{method} failed: {error:?}"),
        }
    }

    /// The next diagnostics published for `path`, shown compactly.
    pub fn diagnostics(&mut self, path: &str) -> String {
        let uri = self.uri(path);
        let message = self.receive(&format!("diagnostics of {path}"), |m| {
            matches!(m, Message::Notification(n) if n.method == "textDocument/publishDiagnostics" && n.params["uri"] == *uri)
        });
        let Message::Notification(notification) = message else { unreachable!() };
        self.show(&notification.params)
    }

    /// The diagnostics published for `path` at `version`, after any for earlier versions
    /// (edits in quick succession may or may not each get theirs).
    pub fn diagnostics_at(&mut self, path: &str, version: i32) -> String {
        loop {
            let shown = self.diagnostics(path);
            if shown.contains(&format!("\"version\": {version}\n")) {
                return shown;
            }
        }
    }

    /// Opens a file of the workspace with its text on disk.
    pub fn open(&mut self, path: &str) {
        let text = std::fs::read_to_string(self.root().join(path)).expect("a fixture file");
        self.open_with(path, &text, 1);
    }

    pub fn open_with(&mut self, path: &str, text: &str, version: i32) {
        let params = DidOpenTextDocumentParams::new(TextDocumentItem::new(
            Uri::from(self.uri(path)),
            "mini".into(),
            version,
            text.to_string(),
        ));
        let method = lsp_types::DidOpenTextDocumentNotification::METHOD.as_str();
        self.notify(method, serde_json::to_value(params).unwrap());
    }

    /// Replaces a document's text.
    pub fn change(&mut self, path: &str, text: &str, version: i32) {
        let change = TextDocumentContentChangeWholeDocument::new(text.to_string());
        self.change_with(path, vec![change.into()], version);
    }

    /// Replaces the text between two positions.
    pub fn edit(&mut self, path: &str, (from, to): ((u32, u32), (u32, u32)), text: &str, version: i32) {
        let range = Range::new(Position::new(from.0, from.1), Position::new(to.0, to.1));
        #[allow(deprecated)]
        let change = TextDocumentContentChangePartial { range, range_length: None, text: text.to_string() };
        self.change_with(path, vec![change.into()], version);
    }

    fn change_with(&mut self, path: &str, changes: Vec<TextDocumentContentChangeEvent>, version: i32) {
        let document =
            VersionedTextDocumentIdentifier::new(version, TextDocumentIdentifier::new(Uri::from(self.uri(path))));
        let params = DidChangeTextDocumentParams::new(document, changes);
        let method = lsp_types::DidChangeTextDocumentNotification::METHOD.as_str();
        self.notify(method, serde_json::to_value(params).unwrap());
    }

    /// `{"textDocument": …, "position": …}` at `line:col` of `path`.
    pub fn at(&self, path: &str, line: u32, character: u32) -> Value {
        json!({"textDocument": {"uri": self.uri(path)}, "position": {"line": line, "character": character}})
    }

    /// The position of the `n`th occurrence (from 0) of `needle` in `path`'s text on disk,
    /// plus `offset` characters (ASCII fixtures).
    pub fn find(&self, path: &str, needle: &str, n: usize, offset: u32) -> Value {
        let text = std::fs::read_to_string(self.root().join(path)).unwrap();
        let at = text.match_indices(needle).nth(n).unwrap_or_else(|| panic!("{needle:?} #{n} not in {path}")).0;
        let line = text[..at].matches('\n').count() as u32;
        let column = (at - text[..at].rfind('\n').map_or(0, |i| i + 1)) as u32 + offset;
        self.at(path, line, column)
    }

    /// A value as compact text: ranges as `l:c-l:c`, this workspace's URIs relative.
    pub fn show(&self, value: &Value) -> String {
        let prefix = format!("{}/", self.uri(""));
        let prefix = prefix.trim_end_matches('/').to_string() + "/";
        let shown = compact(value, &prefix);
        serde_json::to_string_pretty(&shown).unwrap()
    }

    /// `shutdown`, then `exit`; the server's exit status. Every message the server sent
    /// must have been read.
    pub fn shutdown(mut self) -> u8 {
        let result = self.request("shutdown", Value::Null);
        assert_eq!(result, Value::Null);
        self.notify("exit", Value::Null);
        self.finish()
    }

    /// Waits for the server to stop and checks that nothing was left unread: after the
    /// server stops, its end of the connection is dropped, so reading until disconnection
    /// is complete without any timeout.
    fn finish(&mut self) -> u8 {
        let status = self.thread.take().expect("running").join().expect("the server thread panicked");
        let client = self.client.take().expect("connected");
        self.unread.extend(client.receiver.iter());
        let unread = std::mem::take(&mut self.unread);
        assert!(unread.is_empty(), "the test left messages from the server unread: {unread:#?}");
        status
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() && !std::thread::panicking() {
            panic!("end each test with `shutdown()`, which checks that every message was read");
        }
    }
}

/// Ranges to `l:c-l:c`, URIs made relative.
fn compact(value: &Value, prefix: &str) -> Value {
    match value {
        Value::Object(map) if map.len() == 2 && map.contains_key("start") && map.contains_key("end") => {
            let p = |v: &Value| format!("{}:{}", v["line"], v["character"]);
            Value::String(format!("{}-{}", p(&map["start"]), p(&map["end"])))
        }
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| (k.strip_prefix(prefix).unwrap_or(k).to_string(), compact(v, prefix))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| compact(v, prefix)).collect()),
        Value::String(s) => Value::String(s.strip_prefix(prefix).unwrap_or(s).to_string()),
        other => other.clone(),
    }
}

const GEOMETRY: &str = r#"
    //- main.mini
    import "geometry.mini" as geo;
    import "util.mini";

    fn main() i32 {
        var total: i64 = 0;
        const n = geo.square(3);
        total += @as(i64, n);
        return util.twice(n) + geo_square(2) + @as(i32, total);
    }
    //- geometry.mini
    // Squares a number.
    // Exactly.
    pub fn square(x: i32) i32 {
        return x * x;
    }

    pub fn cube(x: i32) i32 {
        return x * square(x);
    }
    //- util.mini
    pub fn twice(value: i32) i32 {
        return value + value;
    }
"#;

/// Sends a request and compares its result, shown compactly, with `expect`.
#[track_caller]
fn check(server: &mut TestServer, method: &str, params: Value, expect: Expect) {
    let result = server.request(method, params);
    expect.assert_eq(&server.show(&result));
}

#[test]
fn diagnostics_arrive_with_the_document_version_and_clear_when_fixed() {
    let mut server = TestServer::new(GEOMETRY);
    server.open_with("main.mini", "fn main() i32 {\n    return missing + true;\n}\n", 1);
    expect![[r#"
        {
          "diagnostics": [
            {
              "message": "undeclared name 'missing'",
              "range": "1:11-1:18",
              "severity": 1,
              "source": "mini"
            }
          ],
          "uri": "main.mini",
          "version": 1
        }"#]]
    .assert_eq(&server.diagnostics("main.mini"));
    server.edit("main.mini", ((1, 11), (1, 18)), "1", 2);
    expect![[r#"
        {
          "diagnostics": [
            {
              "message": "operator '+' needs integer operands, found bool",
              "range": "1:11-1:19",
              "severity": 1,
              "source": "mini"
            }
          ],
          "uri": "main.mini",
          "version": 2
        }"#]]
    .assert_eq(&server.diagnostics("main.mini"));
    server.edit("main.mini", ((1, 15), (1, 19)), "2", 3);
    expect![[r#"
        {
          "diagnostics": [],
          "uri": "main.mini",
          "version": 3
        }"#]]
    .assert_eq(&server.diagnostics("main.mini"));
    assert_eq!(server.shutdown(), 0);
}

/// Warnings are diagnostics of severity 2; a note ("first declared here") is related
/// information in the same document.
#[test]
fn warnings_and_notes_reach_the_editor() {
    let mut server = TestServer::new(GEOMETRY);
    server.open_with(
        "main.mini",
        "fn main() i32 {\n    const unused = 1;\n    const x = 2;\n    const x = 3;\n    return x;\n}\n",
        1,
    );
    expect![[r#"
        {
          "diagnostics": [
            {
              "message": "'x' is already declared",
              "range": "3:10-3:11",
              "relatedInformation": [
                {
                  "location": {
                    "range": "2:10-2:11",
                    "uri": "main.mini"
                  },
                  "message": "the local 'x' is first declared here"
                }
              ],
              "severity": 1,
              "source": "mini"
            }
          ],
          "uri": "main.mini",
          "version": 1
        }"#]]
    .assert_eq(&server.diagnostics("main.mini"));
    server.edit("main.mini", ((3, 10), (3, 11)), "y", 2);
    expect![[r#"
        {
          "diagnostics": [
            {
              "message": "unused constant 'unused'",
              "range": "1:10-1:16",
              "severity": 2,
              "source": "mini"
            },
            {
              "message": "unused constant 'y'",
              "range": "3:10-3:11",
              "severity": 2,
              "source": "mini"
            }
          ],
          "uri": "main.mini",
          "version": 2
        }"#]]
    .assert_eq(&server.diagnostics("main.mini"));
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn definition_reaches_functions_across_files_locals_parameters_and_imported_files() {
    let mut server = TestServer::new(GEOMETRY);
    server.open("main.mini");
    assert!(server.diagnostics("main.mini").contains("\"diagnostics\": []"));
    let go = |server: &mut TestServer, at: Value| {
        let found = server.request("textDocument/definition", at);
        server.show(&found)
    };
    let across = server.find("main.mini", "square", 0, 2);
    let tutorial = server.find("main.mini", "geo_square", 0, 5);
    let local = server.find("main.mini", "n)", 0, 0);
    let alias = server.find("main.mini", "util.twice", 0, 1);
    let import_path = server.find("main.mini", "\"geometry", 0, 3);
    let shown: Vec<String> =
        [across, tutorial, local, alias, import_path].into_iter().map(|at| go(&mut server, at)).collect();
    expect![[r#"
        {
          "range": "2:7-2:13",
          "uri": "geometry.mini"
        }
        {
          "range": "2:7-2:13",
          "uri": "geometry.mini"
        }
        {
          "range": "5:10-5:11",
          "uri": "main.mini"
        }
        {
          "range": "0:0-0:0",
          "uri": "util.mini"
        }
        {
          "range": "0:0-0:0",
          "uri": "geometry.mini"
        }"#]]
    .assert_eq(&shown.join("\n"));
    // A parameter, in a file that is not open (its text comes from disk).
    let parameter = server.find("geometry.mini", "square(x)", 0, 7);
    check(
        &mut server,
        "textDocument/definition",
        parameter,
        expect![[r#"
        {
          "range": "6:12-6:13",
          "uri": "geometry.mini"
        }"#]],
    );
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn hover_shows_signatures_with_their_comment_and_the_types_of_locals() {
    let mut server = TestServer::new(GEOMETRY);
    server.open("main.mini");
    server.diagnostics("main.mini");
    let function = server.find("main.mini", "square", 0, 0);
    check(
        &mut server,
        "textDocument/hover",
        function,
        expect![[r#"
        {
          "contents": {
            "kind": "markdown",
            "value": "```mini\nfn square(x: i32) i32\n```\n\nin `geometry.mini`\n\nSquares a number.\nExactly."
          },
          "range": "5:18-5:24"
        }"#]],
    );
    // `n` has no written type: the checker's.
    let inferred = server.find("main.mini", "n = geo", 0, 0);
    check(
        &mut server,
        "textDocument/hover",
        inferred,
        expect![[r#"
        {
          "contents": {
            "kind": "markdown",
            "value": "```mini\nconst n: i32\n```"
          },
          "range": "5:10-5:11"
        }"#]],
    );
    let var = server.find("main.mini", "total +=", 0, 2);
    check(
        &mut server,
        "textDocument/hover",
        var,
        expect![[r#"
        {
          "contents": {
            "kind": "markdown",
            "value": "```mini\nvar total: i64\n```"
          },
          "range": "6:4-6:9"
        }"#]],
    );
    let parameter = server.find("util.mini", "value +", 0, 0);
    check(
        &mut server,
        "textDocument/hover",
        parameter,
        expect![[r#"
        {
          "contents": {
            "kind": "markdown",
            "value": "```mini\nvalue: i32\n```"
          },
          "range": "1:11-1:16"
        }"#]],
    );
    let nothing = server.find("main.mini", "return", 0, 2);
    check(&mut server, "textDocument/hover", nothing, expect!["null"]);
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn references_respect_include_declaration_and_highlights_mark_writes() {
    let mut server = TestServer::new(GEOMETRY);
    server.open("geometry.mini");
    server.diagnostics("geometry.mini");
    let mut square = server.find("geometry.mini", "square", 0, 0);
    square["context"] = json!({"includeDeclaration": true});
    check(
        &mut server,
        "textDocument/references",
        square.clone(),
        expect![[r#"
        [
          {
            "range": "2:7-2:13",
            "uri": "geometry.mini"
          },
          {
            "range": "7:15-7:21",
            "uri": "geometry.mini"
          },
          {
            "range": "5:18-5:24",
            "uri": "main.mini"
          },
          {
            "range": "7:31-7:37",
            "uri": "main.mini"
          }
        ]"#]],
    );
    square["context"] = json!({"includeDeclaration": false});
    check(
        &mut server,
        "textDocument/references",
        square,
        expect![[r#"
        [
          {
            "range": "7:15-7:21",
            "uri": "geometry.mini"
          },
          {
            "range": "5:18-5:24",
            "uri": "main.mini"
          },
          {
            "range": "7:31-7:37",
            "uri": "main.mini"
          }
        ]"#]],
    );
    let total = server.find("main.mini", "total", 0, 0);
    check(
        &mut server,
        "textDocument/documentHighlight",
        total,
        expect![[r#"
            [
              {
                "kind": 3,
                "range": "4:8-4:13"
              },
              {
                "kind": 3,
                "range": "6:4-6:9"
              },
              {
                "kind": 2,
                "range": "7:52-7:57"
              }
            ]"#]],
    );
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn symbols_list_a_files_functions_and_the_workspaces() {
    let mut server = TestServer::new(GEOMETRY);
    let document = json!({"textDocument": {"uri": server.uri("geometry.mini")}});
    check(
        &mut server,
        "textDocument/documentSymbol",
        document,
        expect![[r#"
        [
          {
            "detail": "fn square(x: i32) i32",
            "kind": 12,
            "name": "square",
            "range": "2:0-4:1",
            "selectionRange": "2:7-2:13"
          },
          {
            "detail": "fn cube(x: i32) i32",
            "kind": 12,
            "name": "cube",
            "range": "6:0-8:1",
            "selectionRange": "6:7-6:11"
          }
        ]"#]],
    );
    check(
        &mut server,
        "workspace/symbol",
        json!({"query": "I"}),
        expect![[r#"
        [
          {
            "containerName": "main.mini",
            "kind": 12,
            "location": {
              "range": "3:3-3:7",
              "uri": "main.mini"
            },
            "name": "main"
          },
          {
            "containerName": "util.mini",
            "kind": 12,
            "location": {
              "range": "0:7-0:12",
              "uri": "util.mini"
            },
            "name": "twice"
          }
        ]"#]],
    );
    assert_eq!(server.shutdown(), 0);
}

/// The labels and details of a completion list.
fn labels(result: &Value) -> String {
    let items = result["items"].as_array().expect("a completion list");
    items
        .iter()
        .map(|i| format!("{} {}", i["label"].as_str().unwrap(), i["detail"].as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn completion_after_an_alias_lists_its_functions_and_elsewhere_what_is_in_scope() {
    let mut server = TestServer::new(GEOMETRY);
    server.open("main.mini");
    server.diagnostics("main.mini");
    // Typing `geo.` on a new line inside `main`.
    server.edit("main.mini", ((6, 0), (6, 0)), "    geo.\n", 2);
    server.diagnostics("main.mini");
    let after_dot = server.request("textDocument/completion", server.at("main.mini", 6, 8));
    expect![[r#"
        square fn square(x: i32) i32
        cube fn cube(x: i32) i32"#]]
    .assert_eq(&labels(&after_dot));
    let elsewhere = server.request("textDocument/completion", server.at("main.mini", 5, 4));
    expect![[r#"
        total var
        main fn main() i32
        geo import "geometry.mini"
        util import "util.mini"
        fn 
        pub 
        const 
        var 
        return 
        if 
        else 
        while 
        break 
        continue 
        import 
        as 
        true 
        false 
        and 
        or 
        i32 
        i64 
        bool 
        void 
        @print @print(value) void
        @as @as(type, value)"#]]
    .assert_eq(&labels(&elsewhere));
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn signature_help_follows_the_argument_under_the_cursor() {
    let mut server = TestServer::new(
        r#"
        //- main.mini
        fn add(left: i32, right: i64) i32 {
            return left;
        }
        fn main() i32 {
            return add(1, 2);
        }
        "#,
    );
    server.open("main.mini");
    server.diagnostics("main.mini");
    let first = server.find("main.mini", "add(1", 0, 4);
    check(
        &mut server,
        "textDocument/signatureHelp",
        first,
        expect![[r#"
        {
          "activeParameter": 0,
          "activeSignature": 0,
          "signatures": [
            {
              "label": "fn add(left: i32, right: i64) i32",
              "parameters": [
                {
                  "label": [
                    7,
                    16
                  ]
                },
                {
                  "label": [
                    18,
                    28
                  ]
                }
              ]
            }
          ]
        }"#]],
    );
    let second = server.find("main.mini", "2)", 0, 0);
    let help = server.request("textDocument/signatureHelp", second);
    assert_eq!(help["activeParameter"], 1, "{help}");
    let outside = server.find("main.mini", "return add", 0, 0);
    assert_eq!(server.request("textDocument/signatureHelp", outside), Value::Null);
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn rename_edits_every_caller_across_files_and_refuses_keywords_and_invalid_names() {
    let mut server = TestServer::new(GEOMETRY);
    let square = server.find("geometry.mini", "square", 0, 1);
    check(
        &mut server,
        "textDocument/prepareRename",
        square.clone(),
        expect![[r#"
        {
          "placeholder": "square",
          "range": "2:7-2:13"
        }"#]],
    );
    let mut rename = square.clone();
    rename["newName"] = "sq".into();
    check(
        &mut server,
        "textDocument/rename",
        rename.clone(),
        expect![[r#"
        {
          "changes": {
            "geometry.mini": [
              {
                "newText": "sq",
                "range": "2:7-2:13"
              },
              {
                "newText": "sq",
                "range": "7:15-7:21"
              }
            ],
            "main.mini": [
              {
                "newText": "sq",
                "range": "5:18-5:24"
              },
              {
                "newText": "sq",
                "range": "7:31-7:37"
              }
            ]
          }
        }"#]],
    );
    for bad in ["while", "2x", "a b", ""] {
        rename["newName"] = bad.into();
        let id = server.send_request("textDocument/rename", rename.clone());
        let error = server.response(&id).response_result.expect_err("a refusal");
        assert_eq!(error.code, lsp_server::ErrorCode::RequestFailed as i32, "{bad:?}: {error:?}");
        assert!(error.message.contains(&format!("'{bad}'")), "{bad:?}: {}", error.message);
    }
    // An import without `as` gets one, so that only the alias changes.
    let mut alias = server.find("main.mini", "util.twice", 0, 0);
    alias["newName"] = "u".into();
    check(
        &mut server,
        "textDocument/rename",
        alias,
        expect![[r#"
        {
          "changes": {
            "main.mini": [
              {
                "newText": " as u",
                "range": "1:18-1:18"
              },
              {
                "newText": "u",
                "range": "7:11-7:15"
              }
            ]
          }
        }"#]],
    );
    // A local, within its function.
    let mut local = server.find("main.mini", "n = geo", 0, 0);
    local["newName"] = "count".into();
    check(
        &mut server,
        "textDocument/rename",
        local,
        expect![[r#"
        {
          "changes": {
            "main.mini": [
              {
                "newText": "count",
                "range": "5:10-5:11"
              },
              {
                "newText": "count",
                "range": "6:22-6:23"
              },
              {
                "newText": "count",
                "range": "7:22-7:23"
              }
            ]
          }
        }"#]],
    );
    let path = server.find("main.mini", "\"geometry", 0, 2);
    let id = server.send_request("textDocument/prepareRename", path);
    assert!(server.response(&id).response_result.is_err());
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn semantic_tokens_classify_every_token() {
    let mut server = TestServer::new(
        r#"
        //- main.mini
        import "lib.mini" as lib;
        // The entry.
        fn main() i32 {
            const x = lib.f(1);
            return x;
        }
        //- lib.mini
        pub fn f(a: i32) i32 { return a; }
        "#,
    );
    let tokens =
        server.request("textDocument/semanticTokens/full", json!({"textDocument": {"uri": server.uri("main.mini")}}));
    let data: Vec<u64> = serde_json::from_value(tokens["data"].clone()).unwrap();
    let legend = [
        "namespace",
        "function",
        "parameter",
        "variable",
        "keyword",
        "type",
        "number",
        "string",
        "comment",
        "operator",
    ];
    let (mut line, mut column) = (0, 0);
    let mut shown = String::new();
    for token in data.chunks(5) {
        if token[0] > 0 {
            column = 0;
        }
        line += token[0];
        column += token[1];
        shown.push_str(&format!("{line}:{column} len {} {} mods {}\n", token[2], legend[token[3] as usize], token[4]));
    }
    expect![[r#"
        0:0 len 6 keyword mods 0
        0:7 len 10 string mods 0
        0:18 len 2 keyword mods 0
        0:21 len 3 namespace mods 1
        1:0 len 13 comment mods 0
        2:0 len 2 keyword mods 0
        2:3 len 4 function mods 1
        2:10 len 3 type mods 4
        3:4 len 5 keyword mods 0
        3:10 len 1 variable mods 3
        3:12 len 1 operator mods 0
        3:14 len 3 namespace mods 0
        3:18 len 1 function mods 0
        3:20 len 1 number mods 0
        4:4 len 6 keyword mods 0
        4:11 len 1 variable mods 2
    "#]]
    .assert_eq(&shown);
    assert_eq!(server.shutdown(), 0);
}

/// A hook that holds the first `times` requests of `method` on their worker, after
/// signalling `entered`, until their snapshot is cancelled (by an edit or by the
/// client): so that a test can make an edit arrive while a request is in flight, without
/// sleeping.
fn hold_until_cancelled(method: &'static str, times: usize) -> (Hooks, std::sync::mpsc::Receiver<()>) {
    let (entered, on_enter) = std::sync::mpsc::channel();
    let held = std::sync::Mutex::new((entered, times));
    let hook = move |m: &str, db: &mini_queries::Database| {
        if m != method {
            return;
        }
        {
            let mut held = held.lock().unwrap();
            if held.1 == 0 {
                return;
            }
            held.1 -= 1;
            held.0.send(()).unwrap();
        }
        let deadline = Instant::now() + PATIENCE;
        while std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            salsa::Database::unwind_if_revision_cancelled(db)
        }))
        .is_ok()
        {
            assert!(Instant::now() < deadline, "the request was never cancelled");
            std::thread::yield_now();
        }
    };
    (Hooks { before_request: Some(std::sync::Arc::new(hook)) }, on_enter)
}

#[test]
fn a_request_overtaken_by_an_edit_is_answered_for_the_new_text() {
    let (hooks, entered) = hold_until_cancelled("textDocument/hover", 1);
    let mut server = TestServer::with(GEOMETRY, json!({}), hooks);
    server.open_with("util.mini", "pub fn twice(value: i32) i32 {\n    return value;\n}\n", 1);
    server.diagnostics("util.mini");
    let id = server.send_request("textDocument/hover", server.at("util.mini", 1, 12));
    entered.recv().unwrap();
    // The hover holds a snapshot in which line 1 is `return value;`. The edit cancels it.
    server.change("util.mini", "pub fn twice(value: i32) i32 {\n    const v: i64 = 2;\n    return value;\n}\n", 2);
    let hover = server.response(&id).response_result.expect("retried on a new snapshot");
    expect!["null"].assert_eq(&server.show(&hover));
    server.diagnostics("util.mini");
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn a_request_overtaken_by_edits_four_times_is_answered_content_modified() {
    let (hooks, entered) = hold_until_cancelled("textDocument/hover", 4);
    let mut server = TestServer::with(GEOMETRY, json!({}), hooks);
    server.open("util.mini");
    server.diagnostics("util.mini");
    let id = server.send_request("textDocument/hover", server.find("util.mini", "value +", 0, 0));
    // The first try and three retries, each overtaken by an edit.
    for version in 2..6 {
        entered.recv().unwrap();
        server.edit("util.mini", ((2, 1), (2, 1)), "\n", version);
    }
    let error = server.response(&id).response_result.expect_err("given up");
    assert_eq!(error.code, lsp_server::ErrorCode::ContentModified as i32, "{error:?}");
    server.diagnostics_at("util.mini", 5);
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn cancel_request_is_honoured() {
    let (hooks, entered) = hold_until_cancelled("textDocument/references", 1);
    let mut server = TestServer::with(GEOMETRY, json!({}), hooks);
    let mut at = server.find("geometry.mini", "square", 0, 0);
    at["context"] = json!({"includeDeclaration": true});
    let id = server.send_request("textDocument/references", at);
    entered.recv().unwrap();
    server.notify("$/cancelRequest", json!({"id": id}));
    let error = server.response(&id).response_result.expect_err("cancelled");
    assert_eq!(error.code, lsp_server::ErrorCode::RequestCanceled as i32, "{error:?}");
    // The server goes on; the cancelled request is answered once only (`shutdown` checks).
    let hover = server.request("textDocument/hover", server.find("geometry.mini", "square", 0, 0));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("fn square"), "{hover}");
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn a_panic_in_a_request_is_an_error_response_and_the_server_goes_on() {
    let hook = |method: &str, _: &mini_queries::Database| {
        if method == "textDocument/documentHighlight" {
            panic!("a bug in a handler");
        }
    };
    let hooks = Hooks { before_request: Some(std::sync::Arc::new(hook)) };
    let mut server = TestServer::with(GEOMETRY, json!({}), hooks);
    let id = server.send_request("textDocument/documentHighlight", server.find("main.mini", "total", 0, 0));
    let error = server.response(&id).response_result.expect_err("an error");
    assert_eq!(error.code, lsp_server::ErrorCode::InternalError as i32);
    assert!(error.message.contains("a bug in a handler"), "{}", error.message);
    let definition = server.request("textDocument/definition", server.find("main.mini", "square", 0, 0));
    assert_eq!(server.show(&definition["uri"]), "\"geometry.mini\"");
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn hostile_buffers_positions_and_versions_never_crash_the_server() {
    let mut server = TestServer::new(GEOMETRY);
    let nested = format!("fn main() i32 {{ return {}1{}; }}", "(".repeat(20_000), ")".repeat(20_000));
    let hostile = [
        "\u{0}\u{1}\u{7f} fn \u{feff}main() i32 { return 𝄞; }".to_string(),
        nested,
        "import \"nowhere.mini\" as gone;\nfn main() i32 { return gone.f(); }\n".to_string(),
        "fn main(".to_string(),
        String::new(),
    ];
    server.open_with("main.mini", "fn main() i32 { return 0; }\n", 10);
    assert!(server.diagnostics("main.mini").contains("\"version\": 10"));
    for (i, text) in hostile.iter().enumerate() {
        // Versions out of order: the server takes what it is given.
        let version = 9 - i as i32;
        server.change("main.mini", text, version);
        let diagnostics = server.diagnostics("main.mini");
        assert!(diagnostics.contains(&format!("\"version\": {version}")), "{diagnostics}");
        for (line, character) in [(0, 0), (0, 5), (0, 9999), (9999, 0), (u32::MAX, u32::MAX)] {
            for method in [
                "textDocument/hover",
                "textDocument/definition",
                "textDocument/completion",
                "textDocument/signatureHelp",
            ] {
                let id = server.send_request(method, server.at("main.mini", line, character));
                let response = server.response(&id);
                assert!(response.response_result.is_ok(), "{method} at {line}:{character} of text {i}: {response:?}");
            }
        }
        for method in ["textDocument/semanticTokens/full", "textDocument/documentSymbol"] {
            server.request(method, json!({"textDocument": {"uri": server.uri("main.mini")}}));
        }
    }
    // An edit whose range lies past the end of the file appends.
    server.edit("main.mini", ((500, 3), (900, 0)), "// tail\n", 20);
    server.diagnostics("main.mini");
    // A file on disk that is not UTF-8, imported by the buffer: positions in it are still
    // positions (each bad byte one character).
    std::fs::write(server.root().join("bad.mini"), b"\xff\xfe pub fn f() i32 { return 1; }\n").unwrap();
    server.change("main.mini", "import \"bad.mini\" as b;\nfn main() i32 { return b.f(); }\n", 21);
    let diagnostics = server.diagnostics("main.mini");
    assert!(diagnostics.contains("\"diagnostics\": []"), "{diagnostics}");
    let definition = server.request("textDocument/definition", server.at("main.mini", 1, 25));
    assert_eq!(server.show(&definition), "{\n  \"range\": \"0:10-0:11\",\n  \"uri\": \"bad.mini\"\n}");
    // Requests about files nobody opened or that do not exist, and malformed params.
    assert_eq!(server.request("textDocument/hover", server.at("nowhere.mini", 0, 0)), Value::Null);
    assert_eq!(
        server.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": "untitled:1"}, "position": {"line": 0, "character": 0}})
        ),
        Value::Null
    );
    let id = server.send_request("textDocument/hover", json!({"position": "here"}));
    assert_eq!(server.response(&id).response_result.unwrap_err().code, lsp_server::ErrorCode::InvalidParams as i32);
    let id = server.send_request("textDocument/unheardOf", json!({}));
    assert_eq!(server.response(&id).response_result.unwrap_err().code, lsp_server::ErrorCode::MethodNotFound as i32);
    server.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": server.uri("closed.mini"), "version": 1}, "contentChanges": [{"text": "x"}]}),
    );
    server.notify("textDocument/didOpen", json!({"garbage": true}));
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn a_file_deleted_or_changed_on_disk_while_open_elsewhere_updates_its_importers() {
    let capabilities = json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}});
    let mut server = TestServer::with(GEOMETRY, capabilities, Hooks::default());
    // The server asks to be told about `*.mini` files.
    let registration = server
        .receive("the registration", |m| matches!(m, Message::Request(r) if r.method == "client/registerCapability"));
    let Message::Request(registration) = registration else { unreachable!() };
    assert_eq!(registration.params["registrations"][0]["method"], "workspace/didChangeWatchedFiles");
    server.client().sender.send(Response::new_ok(registration.id, Value::Null).into()).unwrap();
    server.open("main.mini");
    assert!(server.diagnostics("main.mini").contains("\"diagnostics\": []"));
    std::fs::write(server.root().join("util.mini"), "pub fn twice(a: i32, b: i32) i32 { return a; }\n").unwrap();
    server.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": server.uri("util.mini"), "type": 2}]}));
    expect![[r#"
        {
          "diagnostics": [
            {
              "message": "'util.twice' takes 2 arguments, but 1 was given",
              "range": "7:16-7:21",
              "severity": 1,
              "source": "mini"
            }
          ],
          "uri": "main.mini",
          "version": 1
        }"#]]
    .assert_eq(&server.diagnostics("main.mini"));
    std::fs::remove_file(server.root().join("geometry.mini")).unwrap();
    server.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": server.uri("geometry.mini"), "type": 3}]}),
    );
    let diagnostics = server.diagnostics("main.mini");
    assert!(diagnostics.contains("cannot read imported file \\\"geometry.mini\\\""), "{diagnostics}");
    // Hovering over a call into the deleted file answers nothing, and does not fail.
    assert_eq!(server.request("textDocument/hover", server.find("main.mini", "square", 0, 0)), Value::Null);
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn a_file_the_program_does_not_import_is_checked_on_its_own() {
    let mut server = TestServer::new(GEOMETRY);
    let scratch = "import \"geometry.mini\" as g;\nfn f() bool { return g.square(true); }\n";
    std::fs::write(server.root().join("scratch.mini"), scratch).unwrap();
    server.open("scratch.mini");
    expect![[r#"
        {
          "diagnostics": [
            {
              "message": "mismatched types: expected bool, found i32",
              "range": "1:21-1:35",
              "severity": 1,
              "source": "mini"
            },
            {
              "message": "mismatched types: expected i32, found bool",
              "range": "1:30-1:34",
              "severity": 1,
              "source": "mini"
            }
          ],
          "uri": "scratch.mini",
          "version": 1
        }"#]]
    .assert_eq(&server.diagnostics("scratch.mini"));
    let definition = server.request("textDocument/definition", server.find("scratch.mini", "square", 0, 0));
    assert_eq!(server.show(&definition["uri"]), "\"geometry.mini\"");
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn utf8_columns_are_used_when_the_client_offers_them() {
    // Each non-ASCII character is an error; 'é' is 2 bytes and 1 UTF-16 unit.
    let fixture = "//- main.mini\nfn main() i32 { const é = 1; return é + ü; }\n";
    let offers = json!({"general": {"positionEncodings": ["utf-8", "utf-16"]}});
    for (capabilities, expected) in [(offers, "0:42-0:44"), (json!({}), "0:40-0:41")] {
        let mut server = TestServer::with(fixture, capabilities, Hooks::default());
        server.open("main.mini");
        let diagnostics = server.diagnostics("main.mini");
        assert!(diagnostics.contains(expected), "{diagnostics}");
        assert_eq!(server.shutdown(), 0);
    }
}

#[test]
fn exit_without_shutdown_or_a_vanished_client_ends_the_server_with_status_one() {
    let mut server = TestServer::new(GEOMETRY);
    server.notify("exit", Value::Null);
    assert_eq!(server.finish(), 1);
    let mut server = TestServer::new(GEOMETRY);
    server.open("main.mini");
    server.diagnostics("main.mini");
    drop(server.client.as_mut().map(|c| std::mem::replace(&mut c.sender, crossbeam_channel::unbounded().0)));
    assert_eq!(server.finish(), 1);
}

#[test]
fn explain_answers_from_the_living_database_what_the_next_build_compiles() {
    let mut server = TestServer::new(GEOMETRY);
    let params = json!({"textDocument": {"uri": server.uri("geometry.mini")}});
    // Nothing was built yet: every function is new.
    let before = server.request("mini/explain", params.clone());
    assert_eq!(before["totals"]["new"], 4, "{before}");
    // A build elsewhere (`mini build`) fills the cache.
    let mut session = mini::driver::Session::new(&server.root().join("main.mini")).unwrap();
    let request = mini::driver::BuildRequest::executable(server.root().join("main"));
    assert!(session.build(&request).unwrap().success());
    drop(session);
    let built = server.request("mini/explain", params.clone());
    assert_eq!(built["will_compile"], json!([]), "{built}");
    // An unsaved edit of a body: that function, and only it, would be compiled.
    server.open("geometry.mini");
    server.diagnostics("geometry.mini");
    server.edit("geometry.mini", ((3, 16), (3, 16)), " + 0", 2);
    server.diagnostics("geometry.mini");
    let edited = server.request("mini/explain", params.clone());
    expect![[r#"
        {
          "contracts": "on",
          "functions": [
            {
              "because": null,
              "compile": false,
              "from": "disk",
              "name": "main.main",
              "status": "cached"
            },
            {
              "because": null,
              "compile": true,
              "from": null,
              "name": "geometry.square",
              "status": "changed"
            },
            {
              "because": null,
              "compile": false,
              "from": "disk",
              "name": "geometry.cube",
              "status": "cached"
            },
            {
              "because": null,
              "compile": false,
              "from": "disk",
              "name": "util.twice",
              "status": "cached"
            }
          ],
          "reason": "explain",
          "removed": [],
          "success": true,
          "totals": {
            "cached": 3,
            "changed": 1,
            "contract": 0,
            "dependency": 0,
            "evicted": 0,
            "new": 0,
            "removed": 0,
            "settings": 0
          },
          "will_compile": [
            "geometry.square"
          ]
        }"#]]
    .assert_eq(&server.show(&edited));
    // The same object as `mini explain --json` prints for the file on disk with that edit.
    std::fs::write(
        server.root().join("geometry.mini"),
        std::fs::read_to_string(server.root().join("geometry.mini")).unwrap().replacen("x * x;", "x * x + 0;", 1),
    )
    .unwrap();
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_mini"))
        .args(["explain", "--json"])
        .current_dir(server.root())
        .output()
        .unwrap();
    let printed: Value = serde_json::from_slice(&cli.stdout).expect("JSON");
    assert_eq!(printed, edited);
    // An error in a buffer: the errors, and no prediction.
    server.edit("geometry.mini", ((3, 11), (3, 12)), "y", 3);
    server.diagnostics("geometry.mini");
    let broken = server.request("mini/explain", params);
    assert_eq!(broken["errors"][0]["message"], "undeclared name 'y'", "{broken}");
    assert_eq!(server.shutdown(), 0);
}

/// Framed JSON-RPC over a child's standard input and output.
struct Stdio {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Stdio {
    fn spawn(root: &Path) -> Stdio {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mini"))
            .arg("lsp")
            .current_dir(root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("mini lsp starts");
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        Stdio { child, stdout }
    }

    fn send(&mut self, message: Value) {
        use std::io::Write;
        let body = serde_json::to_vec(&message).unwrap();
        let stdin = self.child.stdin.as_mut().expect("open");
        write!(stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        stdin.write_all(&body).unwrap();
        stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        use std::io::{BufRead, Read};
        let mut length = None;
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "the server closed its output");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = Some(n.parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0; length.expect("a Content-Length header")];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).expect("a JSON body")
    }
}

#[test]
fn the_binary_speaks_framed_json_rpc_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in parse_fixture(GEOMETRY) {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    std::fs::write(
        dir.path().join("main.mini"),
        "import \"geometry.mini\" as geo;\nfn main() i32 { return geo.square(true); }\n",
    )
    .unwrap();
    let uri = |path: &str| mini::lsp::convert::uri_of(&dir.path().join(path));
    let mut server = Stdio::spawn(dir.path());
    server.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": null, "rootUri": uri(""), "capabilities": {}}}));
    let initialized = server.receive();
    assert_eq!(initialized["id"], 1);
    assert_eq!(initialized["result"]["capabilities"]["positionEncoding"], "utf-16");
    server.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    let text = std::fs::read_to_string(dir.path().join("main.mini")).unwrap();
    server.send(json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri("main.mini"), "languageId": "mini", "version": 7, "text": text}}}));
    let published = server.receive();
    assert_eq!(published["method"], "textDocument/publishDiagnostics");
    assert_eq!(published["params"]["version"], 7);
    assert_eq!(published["params"]["diagnostics"][0]["message"], "mismatched types: expected i32, found bool");
    server.send(json!({"jsonrpc": "2.0", "id": 2, "method": "textDocument/definition", "params": {"textDocument": {"uri": uri("main.mini")}, "position": {"line": 1, "character": 28}}}));
    let definition = server.receive();
    assert_eq!(definition["id"], 2);
    assert_eq!(definition["result"]["uri"], uri("geometry.mini"));
    server.send(json!({"jsonrpc": "2.0", "id": 3, "method": "shutdown"}));
    assert_eq!(server.receive(), json!({"jsonrpc": "2.0", "id": 3, "result": null}));
    server.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // A client that goes away mid-session: status 1, no panic.
    let mut server = Stdio::spawn(dir.path());
    server.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": null, "rootUri": uri(""), "capabilities": {}}}));
    server.receive();
    drop(server.child.stdin.take());
    let output = server.child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A real editor: Debian's Neovim (0.7), headless, starts `mini lsp` for a buffer with
/// an error, shows the diagnostic, and jumps to a definition in another file.
#[test]
fn neovim_shows_the_diagnostic_and_jumps_to_the_definition() {
    let nvim = std::process::Command::new("nvim").arg("--version").output();
    assert!(
        nvim.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs Neovim: `apt-get install neovim` (.ci/run installs it); {nvim:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in parse_fixture(GEOMETRY) {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    std::fs::write(
        dir.path().join("main.mini"),
        "import \"geometry.mini\" as geo;\nfn main() i32 { return geo.square(true); }\n",
    )
    .unwrap();
    let script = r#"
local root = os.getenv("MINI_ROOT")
local lines = {}
local function finish()
  vim.fn.writefile(lines, root .. "/result.txt")
  vim.cmd("qa!")
end
vim.cmd("edit " .. root .. "/main.mini")
local buf = vim.api.nvim_get_current_buf()
local client = vim.lsp.start_client({ name = "mini", cmd = { os.getenv("MINI_BIN"), "lsp" }, root_dir = root })
vim.lsp.buf_attach_client(buf, client)
if not vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 10) then
  table.insert(lines, "no diagnostics")
  return finish()
end
for _, d in ipairs(vim.diagnostic.get(buf)) do
  table.insert(lines, string.format("diagnostic %d:%d %s: %s", d.lnum, d.col, d.source, d.message))
end
vim.api.nvim_win_set_cursor(0, { 2, 28 })
vim.lsp.buf.definition()
local jumped = vim.wait(20000, function() return vim.api.nvim_buf_get_name(0):match("geometry%.mini$") ~= nil end, 10)
local cursor = vim.api.nvim_win_get_cursor(0)
table.insert(lines, string.format("jumped %s to %s:%d:%d", tostring(jumped), vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ":t"), cursor[1], cursor[2]))
vim.lsp.stop_client(client)
vim.wait(5000, function() return vim.lsp.get_client_by_id(client) == nil end, 10)
finish()
"#;
    std::fs::write(dir.path().join("test.lua"), script).unwrap();
    let mut child = std::process::Command::new("nvim")
        .args(["--headless", "--clean", "-c", "luafile test.lua"])
        .current_dir(dir.path())
        .env("MINI_ROOT", dir.path())
        .env("MINI_BIN", env!("CARGO_BIN_EXE_mini"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Neovim's own waits end the script; this only keeps a broken editor from hanging CI.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("Neovim did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = std::fs::read_to_string(dir.path().join("result.txt")).expect("the script's result");
    expect![[r#"
        diagnostic 1:34 mini: mismatched types: expected i32, found bool
        jumped true to geometry.mini:3:7
    "#]]
    .assert_eq(&result);
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                found.push((entry.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn with_a_warm_cache_unopened_files_are_summaries_read_from_disk_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in parse_fixture(GEOMETRY) {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    let mut session = mini::driver::Session::new(&dir.path().join("main.mini")).unwrap();
    let request = mini::driver::BuildRequest::executable(dir.path().join("main"));
    assert!(session.build(&request).unwrap().success());
    drop(session);
    // Stamps within a second of the build cannot prove a file unchanged (the racy-clean
    // rule): age the sources so that the index's summaries are used.
    for (path, _) in parse_fixture(GEOMETRY) {
        let file = std::fs::File::options().write(true).open(dir.path().join(path)).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(60)).unwrap();
    }
    let mut session = mini::driver::Session::new(&dir.path().join("main.mini")).unwrap();
    assert!(session.build(&request).unwrap().success());
    drop(session);
    let before = listing(dir.path());
    let mut server = TestServer::start(dir, json!({"capabilities": {}}), Hooks::default());
    server.open("main.mini");
    assert!(server.diagnostics("main.mini").contains("\"diagnostics\": []"));
    // `geometry.mini` is a summary: the answers that need its text read it from disk.
    let hover = server.request("textDocument/hover", server.find("main.mini", "square", 0, 0));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("Squares a number."), "{hover}");
    let mut rename = server.find("main.mini", "square", 0, 0);
    rename["newName"] = "sq".into();
    let edits = server.request("textDocument/rename", rename);
    assert_eq!(edits["changes"][server.uri("geometry.mini")].as_array().map(Vec::len), Some(2), "{edits}");
    let explained = server.request("mini/explain", json!({"textDocument": {"uri": server.uri("main.mini")}}));
    assert_eq!(explained["totals"]["cached"], 4, "{explained}");
    let dir = server.take_dir();
    assert_eq!(server.shutdown(), 0);
    assert_eq!(listing(dir.path()), before, "the language server wrote to the workspace or its cache");
}

#[test]
fn a_folder_without_main_mini_still_checks_the_files_opened() {
    let mut server = TestServer::new("//- lib/tools.mini\nfn f() i32 { return g(); }\n");
    server.open("lib/tools.mini");
    expect![[r#"
        {
          "diagnostics": [
            {
              "message": "undeclared function 'g'",
              "range": "0:20-0:21",
              "severity": 1,
              "source": "mini"
            }
          ],
          "uri": "lib/tools.mini",
          "version": 1
        }"#]]
    .assert_eq(&server.diagnostics("lib/tools.mini"));
    let explained = server.send_request("mini/explain", json!({"textDocument": {"uri": server.uri("lib/tools.mini")}}));
    let error = server.response(&explained).response_result.expect_err("no program");
    assert!(error.message.contains("main.mini"), "{}", error.message);
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn a_file_deleted_or_renamed_while_open_keeps_its_buffer_until_closed() {
    let mut server = TestServer::new(GEOMETRY);
    server.open("main.mini");
    server.diagnostics("main.mini");
    server.open("geometry.mini");
    server.diagnostics("geometry.mini");
    // Deleted on disk while open: the buffer is what is analysed, nothing changes.
    let text = std::fs::read_to_string(server.root().join("geometry.mini")).unwrap();
    std::fs::remove_file(server.root().join("geometry.mini")).unwrap();
    server.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": server.uri("geometry.mini"), "type": 3}]}),
    );
    let hover = server.request("textDocument/hover", server.find("main.mini", "square", 0, 0));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("fn square"), "{hover}");
    // Renamed by the editor: the old buffer closes, the new one opens; the import of the
    // old name is now an error.
    std::fs::write(server.root().join("shapes.mini"), &text).unwrap();
    server.notify("textDocument/didClose", json!({"textDocument": {"uri": server.uri("geometry.mini")}}));
    server.open("shapes.mini");
    let diagnostics = server.diagnostics("main.mini");
    assert!(diagnostics.contains("cannot read imported file \\\"geometry.mini\\\""), "{diagnostics}");
    assert!(server.diagnostics("shapes.mini").contains("\"diagnostics\": []"));
    assert_eq!(server.shutdown(), 0);
}

#[test]
fn the_entry_comes_from_initialization_options_and_must_define_main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    std::fs::write(dir.path().join("app/prog.mini"), "import \"lib.mini\";\nfn start() i32 { return lib.f(); }\n")
        .unwrap();
    std::fs::write(dir.path().join("app/lib.mini"), "pub fn f() i32 { return 1; }\n").unwrap();
    let params = json!({"capabilities": {}, "initializationOptions": {"entry": "app/prog.mini"}});
    let mut server = TestServer::start(dir, params, Hooks::default());
    server.open("app/prog.mini");
    expect![[r#"
        {
          "diagnostics": [
            {
              "message": "the entry file must define 'fn main() i32' or 'fn main() void'",
              "range": "0:0-0:0",
              "severity": 1,
              "source": "mini"
            }
          ],
          "uri": "app/prog.mini",
          "version": 1
        }"#]]
    .assert_eq(&server.diagnostics("app/prog.mini"));
    // The program is the entry's: explain lists its functions.
    let explained = server.request("mini/explain", json!({"textDocument": {"uri": server.uri("app/lib.mini")}}));
    assert_eq!(explained["errors"][0]["message"], "the entry file must define 'fn main() i32' or 'fn main() void'");
    server.edit("app/prog.mini", ((1, 3), (1, 8)), "main", 2);
    assert!(server.diagnostics("app/prog.mini").contains("\"diagnostics\": []"));
    let explained = server.request("mini/explain", json!({"textDocument": {"uri": server.uri("app/lib.mini")}}));
    assert_eq!(explained["will_compile"], json!(["prog.main", "lib.f"]), "{explained}");
    assert_eq!(server.shutdown(), 0);
}
