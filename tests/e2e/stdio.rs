//! The stdio contract, checked byte by byte with raw pipes: stdout carries JSON-RPC and nothing
//! else, the server survives junk and early notifications, and it exits 0 when the client leaves.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::facts::ErrorCode;

use aipass_fake::{FakeConfig, FakeServer};
use serde_json::{Value, json};
use testkit::spawn::clean_vars_in;

/// Runs the binary with these stdin lines, then closes stdin; returns (exit code, stdout lines, stderr).
fn run_lines(env: &[(&str, String)], lines: &[String]) -> (i32, Vec<String>, String) {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let mut vars = clean_vars_in(dir);
    vars.push(("AIPASS_LOG".into(), "debug".into()));
    let mut command = testkit::spawn::command(&[], vars, dir);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    for line in lines {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        // Give each request time to be answered before the next, as a client would.
        std::thread::sleep(Duration::from_millis(30));
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(stdin);
    let output = child.wait_with_output().expect("exit");
    let stdout_lines = reader.join().unwrap();
    (
        output.status.code().unwrap_or(-1),
        stdout_lines,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn initialize(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"}
    }})
    .to_string()
}

fn initialized() -> String {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()
}

fn request(id: u64, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// Every stdout line is one JSON-RPC 2.0 message.
fn parse_all(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
            assert_eq!(value["jsonrpc"], "2.0", "not JSON-RPC: {line}");
            value
        })
        .collect()
}

fn response(messages: &[Value], id: u64) -> &Value {
    messages
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no response to id {id}: {messages:?}"))
}

#[test]
fn end_of_input_before_initialize_exits_cleanly_and_silently() {
    let (code, stdout, _) = run_lines(&[], &[]);
    assert_eq!(code, 0);
    assert!(stdout.is_empty(), "{stdout:?}");
}

#[test]
fn stdout_is_only_json_rpc_through_a_whole_session() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime
        .block_on(FakeServer::start(FakeConfig::default()))
        .unwrap();
    let token = fake.issue_token("api:access");
    let env = [
        ("AIPASS_BASE_URL", fake.base_url()),
        ("AIPASS_ACCESS_TOKEN", token.access_token.clone()),
    ];
    let lines = [
        initialize(1),
        initialized(),
        request(2, "tools/list", json!({})),
        request(
            3,
            "tools/call",
            json!({"name": "list_models", "arguments": {}}),
        ),
        request(
            4,
            "tools/call",
            json!({"name": "chat", "arguments": {"prompt": "hi"}}),
        ),
        request(5, "tools/call", json!({"name": "chat", "arguments": {}})),
        request(
            6,
            "tools/call",
            json!({"name": "no_such_tool", "arguments": {}}),
        ),
    ];
    let (code, stdout, stderr) = run_lines(&env, &lines);
    assert_eq!(code, 0, "stderr: {stderr}");
    let messages = parse_all(&stdout);
    assert_eq!(
        response(&messages, 1)["result"]["serverInfo"]["name"],
        "aipass-mcp"
    );
    assert_eq!(
        response(&messages, 1)["result"]["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        response(&messages, 1)["result"]["instructions"]
            .as_str()
            .unwrap()
            .contains("list_models")
    );
    assert_eq!(
        response(&messages, 2)["result"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        13
    );
    assert_eq!(response(&messages, 3)["result"]["isError"], false);
    assert_eq!(
        response(&messages, 4)["result"]["structuredContent"]["text"],
        "Echo from gpt-5-mini: hi"
    );
    assert_eq!(response(&messages, 5)["result"]["isError"], true);
    assert!(
        response(&messages, 6)["error"]["code"].is_i64(),
        "unknown tool is a JSON-RPC error"
    );
    // The debug log went to stderr, and never held the token.
    assert!(
        stderr.contains("DEBUG") || stderr.contains("INFO"),
        "{stderr}"
    );
    assert!(!stderr.contains(&token.access_token));
    assert!(!stdout.join("\n").contains(&token.access_token));
}

#[test]
fn junk_and_early_notifications_do_not_kill_the_server() {
    let lines = [
        // A well-formed notification before initialize: rmcp alone would give up here.
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        "this is not json".to_string(),
        "{\"jsonrpc\": \"2.0\", \"id\": 9, \"method\":".to_string(),
        json!({"jsonrpc": "2.0", "id": 99, "result": {}}).to_string(),
        initialize(1),
        initialized(),
        "[1, 2, 3]".to_string(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "chat", "arguments": "not an object"}}).to_string(),
        request(3, "tools/list", json!({})),
    ];
    let (code, stdout, stderr) = run_lines(&[], &lines);
    assert_eq!(code, 0, "stderr: {stderr}");
    let messages = parse_all(&stdout);
    assert_eq!(
        response(&messages, 1)["result"]["serverInfo"]["name"],
        "aipass-mcp"
    );
    assert_eq!(
        response(&messages, 3)["result"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        13
    );
}

#[test]
fn the_2026_era_works_without_initialize() {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"}
    });
    let lines = [
        request(1, "server/discover", json!({"_meta": meta})),
        request(2, "tools/list", json!({"_meta": meta})),
        request(
            3,
            "tools/call",
            json!({"_meta": meta, "name": "balance", "arguments": {}}),
        ),
    ];
    let (code, stdout, stderr) = run_lines(&[], &lines);
    assert_eq!(code, 0, "stderr: {stderr}");
    let messages = parse_all(&stdout);
    let discover = &response(&messages, 1)["result"];
    assert!(discover.to_string().contains("aipass-mcp"), "{discover}");
    assert_eq!(
        response(&messages, 2)["result"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        13
    );
    let balance = &response(&messages, 3)["result"];
    assert_eq!(balance["isError"], true);
    assert!(
        balance["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with(&ErrorCode::AuthRequired.prefix())
    );
}

#[test]
fn tools_subcommand_prints_the_catalogue() {
    let output = Command::new(testkit::session::binary())
        .arg("tools")
        .output()
        .unwrap();
    assert!(output.status.success());
    let catalogue: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = catalogue["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, testkit::facts::tool_names());
    for tool in catalogue["tools"].as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
        assert!(
            !tool["inputSchema"].to_string().contains("\"null\""),
            "nullable type in {tool}"
        );
        // A tool that spends budget is never read-only; a free one may still write files.
        let read_only = tool["annotations"]["readOnlyHint"] == true;
        let paid =
            testkit::facts::paid_tools().contains(&tool["name"].as_str().unwrap().to_string());
        assert!(!(read_only && paid), "{tool}");
    }
}

#[test]
fn bad_settings_exit_with_status_2() {
    for (key, value) in [
        ("AIPASS_BASE_URL", "not a url"),
        ("AIPASS_LOGIN_TIMEOUT", "soon"),
        ("AIPASS_TOKEN_STORE", "shoebox"),
        ("AIPASS_OUTPUT_DIR", "relative/dir"),
        ("AIPASS_LOG", "info,[[["),
    ] {
        let output = Command::new(testkit::session::binary())
            .env(key, value)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{key}={value}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(key) || stderr.contains("AIPASS_LOG"),
            "{key}: {stderr}"
        );
    }
}

#[test]
fn version_matches_the_crate() {
    let output = Command::new(testkit::session::binary())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("aipass-mcp {}", env!("CARGO_PKG_VERSION"))
    );
}
