//! A raw stdio pipe to the real binary, for tests that must send what no MCP client would:
//! junk lines, truncated and oversized messages, type-confused requests. Lines are written as
//! given; every stdout line is collected by a reader thread.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::facts::error_code;
use crate::spawn::{clean_vars_in, command};

pub use crate::facts::error_codes;
pub use crate::fixtures::{files_in, peak_memory_kib};

/// A running server binary on raw pipes.
pub struct RawServer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Answers to requests with an id, by id (as JSON text), not yet taken.
    answers: HashMap<String, Value>,
    /// Every stdout line so far, parsed.
    pub received: Vec<Value>,
    pub home: tempfile::TempDir,
}

impl RawServer {
    /// Starts the binary with a clean environment plus `env`; its working folder and HOME are a
    /// fresh temp folder, outputs go to `<home>/out`.
    pub fn start(env: &[(&str, String)]) -> RawServer {
        let home = tempfile::tempdir().expect("temp dir");
        let dir = home.path();
        let mut vars = clean_vars_in(dir);
        vars.push(("AIPASS_LOGIN_TIMEOUT".into(), "1".into()));
        vars.push(("AIPASS_LOG".into(), "warn".into()));
        vars.extend(
            env.iter()
                .map(|(key, value)| (key.to_string(), value.clone())),
        );
        let mut command = command(&[], vars, dir);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).expect("log file"));
        let mut child = command.spawn().expect("server binary spawns");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        RawServer {
            child,
            stdin,
            lines,
            answers: HashMap::new(),
            received: Vec::new(),
            home,
        }
    }

    /// Starts it against the fake with an access token.
    pub fn with_fake(fake: &aipass_fake::FakeServer, extra: &[(&str, String)]) -> RawServer {
        let mut env = vec![
            ("AIPASS_BASE_URL", fake.base_url()),
            (
                "AIPASS_ACCESS_TOKEN",
                fake.issue_token("api:access profile:read").access_token,
            ),
        ];
        env.extend(extra.iter().cloned());
        RawServer::start(&env)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stderr so far (its log, at `warn`).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.home.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn out_dir(&self) -> PathBuf {
        self.home.path().join("out")
    }

    /// Writes raw bytes followed by a newline.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("server reads stdin");
        stdin.write_all(b"\n").expect("server reads stdin");
    }

    pub fn send(&mut self, message: &Value) {
        self.send_raw(message.to_string().as_bytes());
    }

    pub fn flush(&mut self) {
        self.stdin
            .as_mut()
            .expect("stdin open")
            .flush()
            .expect("flush");
    }

    /// The 2025-11-25 handshake (no client capabilities, so no roots round trip).
    pub fn initialize(&mut self) {
        self.send(
            &json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "1"}
            }}),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        self.flush();
        let answer = self.wait_for(&json!("init"), Duration::from_secs(20));
        assert_eq!(
            answer["result"]["serverInfo"]["name"], "aipass-mcp",
            "{answer}"
        );
    }

    /// Reads stdout lines that are already there or arrive within `wait`; returns how many.
    pub fn drain(&mut self, wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        let mut count = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.take_line(&line);
                    count += 1;
                }
                Err(RecvTimeoutError::Timeout) => return count,
                Err(RecvTimeoutError::Disconnected) => return count,
            }
        }
    }

    fn take_line(&mut self, line: &str) {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:.200}"));
        assert_eq!(value["jsonrpc"], "2.0", "not JSON-RPC: {line:.200}");
        if let Some(id) = value.get("id").filter(|id| !id.is_null()) {
            self.answers.insert(id.to_string(), value.clone());
        }
        self.received.push(value);
    }

    /// The answer to request `id`, waiting up to `wait` (panics when none comes).
    pub fn wait_for(&mut self, id: &Value, wait: Duration) -> Value {
        let key = id.to_string();
        let deadline = Instant::now() + wait;
        loop {
            if let Some(answer) = self.answers.remove(&key) {
                return answer;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take_line(&line),
                Err(_) => panic!(
                    "no answer to id {key} within {wait:?} (server alive: {})",
                    self.is_alive()
                ),
            }
        }
    }

    /// Whether an answer to `id` has been read (and not yet taken).
    pub fn has_answer(&self, id: &Value) -> bool {
        self.answers.contains_key(&id.to_string())
    }

    /// Sends a request and waits for its answer.
    pub fn call(&mut self, id: u64, method: &str, params: Value, wait: Duration) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.flush();
        self.wait_for(&json!(id), wait)
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Peak resident memory of the server so far, in KiB (Linux `VmHWM`).
    pub fn peak_memory_kib(&self) -> Option<u64> {
        peak_memory_kib(self.child.id())
    }

    /// Closes stdin and waits for the exit code.
    pub fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit after stdin closed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks a `tools/call` answer: a result (success, or `isError` whose text starts with a
/// stable code) or a JSON-RPC error object with a numeric code.
pub fn assert_well_formed_tool_answer(answer: &Value) {
    if let Some(error) = answer.get("error") {
        assert!(error["code"].is_i64(), "error without a code: {answer}");
        return;
    }
    let result = &answer["result"];
    assert!(result.is_object(), "neither result nor error: {answer}");
    if result["isError"] == true {
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(
            error_code(text).is_some(),
            "isError without a stable code: {text:.300}"
        );
    }
}
