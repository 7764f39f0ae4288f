//! Bad input over stdio: a flood of malformed, truncated, oversized and type-confused messages,
//! then a valid call that must succeed, with the server's peak memory bounded; and stray
//! messages before the handshake, which must not end the session.

use std::time::{Duration, Instant};

use aipass_fake::{FakeConfig, FakeServer};
use serde_json::{Value, json};
use testkit::facts::tool_names;
use testkit::raw::{RawServer, assert_well_formed_tool_answer};

/// The server's longest accepted line (src/transport.rs).
const MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;
/// Messages in the flood (not counting the few oversized ones).
const FLOOD: u64 = 10_500;
/// Peak resident memory allowed for the whole flood.
const MEMORY_BOUND_KIB: u64 = 256 * 1024;

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Random bytes without a newline, invalid UTF-8 included.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| match self.below(256) as u8 {
                b'\n' => b'?',
                b => b,
            })
            .collect()
    }
}

/// Values of the wrong type for any field.
fn confused_value(dice: &mut Dice) -> Value {
    dice.pick(&[
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!(18446744073709551615u64),
        json!([]),
        json!([1, "two", null]),
        json!({}),
        json!({"nested": {"deeper": [{}]}}),
        json!(""),
    ])
    .clone()
}

/// Arguments no tool accepts: required fields of the wrong type, unknown fields.
fn confused_arguments(dice: &mut Dice) -> Value {
    let field = *dice.pick(&[
        "prompt",
        "images",
        "image",
        "n",
        "size",
        "text",
        "input",
        "file",
        "video_id",
        "wait_seconds",
        "output_dir",
        "model",
        "messages",
        "id",
    ]);
    let mut arguments = serde_json::Map::new();
    arguments.insert(field.to_string(), confused_value(dice));
    arguments.insert(format!("not_a_field_{}", dice.below(100)), json!(1));
    Value::Object(arguments)
}

/// One malformed message for slot `i`; `Some(id)` when it is a well-formed request that must be
/// answered.
fn malformed(i: u64, dice: &mut Dice) -> (Vec<u8>, Option<u64>) {
    let id = 10_000 + i;
    let valid_call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "chat", "arguments": {"prompt": "truncated"}}})
    .to_string();
    match i % 15 {
        // Not JSON at all.
        0 => {
            let len = 1 + dice.below(200) as usize;
            let text: String = (0..len)
                .map(|_| *dice.pick(&['a', 'Z', ' ', '{', '}', '"', ':', ',', '\\', '\t', 'é', '💥']))
                .collect();
            (format!("x{text}").into_bytes(), None)
        }
        // A valid request cut short.
        1 => {
            let cut = 1 + dice.below(valid_call.len() as u64 - 2) as usize;
            (valid_call.as_bytes()[..cut].to_vec(), None)
        }
        // Random bytes, invalid UTF-8 included.
        2 => {
            let len = 1 + dice.below(300) as usize;
            (dice.bytes(len), None)
        }
        // An envelope whose id has a type ids cannot have.
        3 => {
            let bad_id = dice
                .pick(&[json!({"x": 1}), json!([1]), json!(true), json!(1.5)])
                .clone();
            (
                json!({"jsonrpc": "2.0", "id": bad_id, "method": "ping"})
                    .to_string()
                    .into_bytes(),
                None,
            )
        }
        // A method that is not a string, or none, or the wrong version.
        4 => {
            let message = dice
                .pick(&[
                    json!({"jsonrpc": "2.0", "id": id, "method": 42}),
                    json!({"jsonrpc": "2.0", "id": id}),
                    json!({"jsonrpc": "1.0", "id": id, "method": "ping"}),
                    json!({"id": id, "method": "tools/list"}),
                    json!({"jsonrpc": "2.0", "id": id, "method": null, "params": []}),
                ])
                .clone();
            (message.to_string().into_bytes(), None)
        }
        // tools/call whose arguments are not an object.
        5 => (
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": dice.pick(&tool_names()).clone(),
                "arguments": dice.pick(&[json!("text"), json!([1, 2]), json!(7)]).clone()
            }})
            .to_string()
            .into_bytes(),
            Some(id),
        ),
        // A tool that does not exist.
        6 => (
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": format!("no_such_tool_{}", dice.below(1000)), "arguments": {}
            }})
            .to_string()
            .into_bytes(),
            Some(id),
        ),
        // A real tool with type-confused arguments.
        7 => (
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": dice.pick(&tool_names()).clone(), "arguments": confused_arguments(dice)
            }})
            .to_string()
            .into_bytes(),
            Some(id),
        ),
        // A method nobody knows: answered by id.
        8 if i.is_multiple_of(2) => (
            json!({"jsonrpc": "2.0", "id": id, "method": format!("no/such/method/{}", dice.below(99)), "params": {}})
                .to_string()
                .into_bytes(),
            Some(id),
        ),
        // A known method whose params have the wrong shape: rmcp cannot read it as a request,
        // so it answers "Invalid request" without an id.
        8 => {
            let message = dice
                .pick(&[
                    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {"cursor": 5}}),
                    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": "chat"}),
                    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"arguments": {}}}),
                ])
                .clone();
            (message.to_string().into_bytes(), None)
        }
        // Responses to requests the server never sent.
        9 => {
            let message = dice
                .pick(&[
                    json!({"jsonrpc": "2.0", "id": id, "result": {}}),
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -1, "message": "no"}}),
                    json!({"jsonrpc": "2.0", "id": id, "result": {"roots": "nope"}}),
                ])
                .clone();
            (message.to_string().into_bytes(), None)
        }
        // Notifications about nothing, or with confused params.
        10 => {
            let message = dice
                .pick(&[
                    json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}}),
                    json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {"x": 1}}}),
                    json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "t", "progress": "far"}}),
                    json!({"jsonrpc": "2.0", "method": "notifications/whatever"}),
                    json!({"jsonrpc": "2.0", "method": "notifications/initialized", "params": 3}),
                ])
                .clone();
            (message.to_string().into_bytes(), None)
        }
        // Valid JSON that is no message: scalars, arrays, deep nesting.
        11 => {
            let depth = 1 + dice.below(2000) as usize;
            let message = match dice.below(4) {
                0 => "[".repeat(depth) + &"]".repeat(depth),
                1 => "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth),
                2 => "12345".to_string(),
                _ => "\"just a string\"".to_string(),
            };
            (message.into_bytes(), None)
        }
        // Confusing escapes and numbers.
        12 => {
            let message = *dice.pick(&[
                r#"{"jsonrpc":"2.0","id":1e400,"method":"ping"}"#,
                r#"{"jsonrpc":"2.0","id":"\ud800","method":"ping"}"#,
                r#"{"jsonrpc":"2.0","id":"a\u0000b","method":"tools/call","params":{"name":"chat\u0000"}}"#,
                r#"{"jsonrpc":"2.0","id":-0,"method":"ping","jsonrpc":"2.0"}"#,
                r#"{"jsonrpc":"2.0","id":7,"method":"ping",}"#,
            ]);
            (message.as_bytes().to_vec(), None)
        }
        // A batch (not part of MCP).
        13 => (
            json!([{"jsonrpc": "2.0", "id": id, "method": "ping"}, {"jsonrpc": "2.0", "method": "notifications/initialized"}])
                .to_string()
                .into_bytes(),
            None,
        ),
        // A plain ping, which must be answered in the middle of all this.
        _ => (
            json!({"jsonrpc": "2.0", "id": id, "method": "ping"})
                .to_string()
                .into_bytes(),
            Some(id),
        ),
    }
}

#[test]
fn ten_thousand_malformed_messages_then_a_valid_call_succeeds() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime
        .block_on(FakeServer::start(FakeConfig::default()))
        .unwrap();
    let mut server = RawServer::with_fake(&fake, &[]);
    server.initialize();
    let started = Instant::now();

    let mut dice = Dice(0x5eed_cafe_f00d_1234);
    let mut must_answer = Vec::new();
    let mut too_large = Vec::new();
    let mut sent = 0u64;
    for i in 0..FLOOD {
        let (line, answered) = malformed(i, &mut dice);
        server.send_raw(&line);
        sent += 1;
        must_answer.extend(answered);
        // Oversized lines along the way: below the cap (parsed, then refused as arguments)
        // and above it (dropped unread).
        if i % 3_000 == 1_500 {
            let id = 90_000 + i;
            let prompt = "a".repeat(8 * 1024 * 1024);
            server.send(
                &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                    "name": "chat", "arguments": {"prompt": prompt, "not_a_field": true}
                }}),
            );
            must_answer.push(id);
            let over = vec![b'{'; MAX_MESSAGE_BYTES + 1024 * 1024];
            server.send_raw(&over);
            // Over the cap with an id: answered with a clear error (checked below).
            let over_id = 95_000 + i;
            let prompt = "b".repeat(MAX_MESSAGE_BYTES);
            server.send(
                &json!({"jsonrpc": "2.0", "id": over_id, "method": "tools/call", "params": {
                    "name": "chat", "arguments": {"prompt": prompt}
                }}),
            );
            too_large.push(over_id);
            sent += 3;
        }
        if i.is_multiple_of(500) {
            // Read as we go, as a client would.
            server.drain(Duration::ZERO);
        }
    }
    server.flush();

    let last = server.call(
        1,
        "tools/call",
        json!({"name": "chat", "arguments": {"prompt": "still there?"}}),
        Duration::from_secs(120),
    );
    assert_eq!(last["result"]["isError"], false, "{last}");
    assert_eq!(
        last["result"]["structuredContent"]["text"],
        "Echo from gpt-5-mini: still there?"
    );

    for id in &must_answer {
        let answer = server.wait_for(&json!(id), Duration::from_secs(60));
        assert_well_formed_tool_answer(&answer);
    }
    for id in &too_large {
        let answer = server.wait_for(&json!(id), Duration::from_secs(60));
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("over the {MAX_MESSAGE_BYTES}-byte limit")),
            "{answer}"
        );
    }
    server.drain(Duration::from_millis(300));
    let elapsed = started.elapsed();
    let peak = server
        .peak_memory_kib()
        .expect("VmHWM is readable on Linux");
    let answers = server.received.len();
    let invalid_request = server
        .received
        .iter()
        .filter(|m| m["id"].is_null() && m["error"]["code"] == -32600)
        .count();
    eprintln!(
        "malformed flood: {sent} messages sent, {} requests answered by id as required, {} over \
         the cap answered with a clear error, {invalid_request} \"Invalid request\" answers without id, {answers} answers in all, \
         peak memory {peak} KiB, {elapsed:?}",
        must_answer.len(),
        too_large.len()
    );
    assert!(server.is_alive());
    // Every line over the cap is reported on stderr, also those without an id to answer.
    let stderr = server.stderr();
    assert_eq!(
        stderr
            .matches("dropped a message over the size limit")
            .count(),
        2 * too_large.len(),
        "{stderr:.2000}"
    );
    assert!(
        peak < MEMORY_BOUND_KIB,
        "peak memory {peak} KiB over {MEMORY_BOUND_KIB} KiB"
    );
    assert_eq!(server.finish(), 0);
}

/// One request must be answered; returns the answer.
fn answered(server: &mut RawServer, message: Value) -> Value {
    let id = message["id"].clone();
    server.send(&message);
    server.flush();
    server.wait_for(&id, Duration::from_secs(20))
}

#[test]
fn stray_messages_before_the_handshake_do_not_end_the_session() {
    let mut server = RawServer::start(&[]);
    let stray_response = json!({"jsonrpc": "2.0", "id": 77, "result": {}});
    let stray_notification =
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}});
    server.send(&stray_response);
    let pong = answered(
        &mut server,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
    );
    assert_eq!(pong["result"], json!({}));
    // After a ping rmcp has seen a request; this response used to end the process.
    server.send(&stray_response);
    server.send(&stray_notification);
    // A request before initialize, without 2026 metadata: refused, the session not begun.
    let early = answered(
        &mut server,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    );
    assert!(early.get("error").is_some(), "{early}");
    server.send(&stray_response);
    server.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    server.initialize();
    let tools = answered(
        &mut server,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
    );
    assert_eq!(
        tools["result"]["tools"].as_array().unwrap().len(),
        tool_names().len()
    );
    assert_eq!(server.finish(), 0);
}

#[test]
fn stray_messages_before_a_2026_era_request_do_not_end_the_session() {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"}
    });
    let mut server = RawServer::start(&[]);
    let discover = answered(
        &mut server,
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}}),
    );
    assert!(discover.get("result").is_some(), "{discover}");
    server.send(&json!({"jsonrpc": "2.0", "id": 99, "result": {}}));
    server.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
    );
    let tools = answered(
        &mut server,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}}),
    );
    assert_eq!(
        tools["result"]["tools"].as_array().unwrap().len(),
        tool_names().len()
    );
    // Once the session runs, cancellation notifications reach it as usual.
    server.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}),
    );
    let again = answered(
        &mut server,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta}}),
    );
    assert_eq!(
        again["result"]["tools"].as_array().unwrap().len(),
        tool_names().len()
    );
    assert_eq!(server.finish(), 0);
}
