//! Property-based fuzzing through the real binary: arbitrary JSON-RPC lines never take the
//! server down, and arbitrary argument objects for every tool always get a result, never a
//! crash or a hang; failures carry a stable error code.

use std::cell::RefCell;
use std::time::Duration;

use aipass_fake::{FakeConfig, FakeServer};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use testkit::raw::{RawServer, error_codes};

/// Generated cases per test; each is one message through the same server process.
const LINE_CASES: u32 = 2_000;
const ARGUMENT_CASES: u32 = 1_000;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Strings that cannot name a folder outside the server's temp working folder (no `/` at the
/// start, no `..`), since output_dir is among the fuzzed fields; plus input-shaped samples.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 _:,=é-]{0,24}",
        1 => prop::sample::select(vec![
            "data:image/png;base64,iVBORw0KGgo=".to_string(),
            "data:audio/mpeg;base64,SUQz".to_string(),
            "data:,plain".to_string(),
            "http://127.0.0.1:9/missing.png".to_string(),
            "file:///etc/passwd".to_string(),
            "ftp://127.0.0.1/x".to_string(),
            "gpt-5-mini".to_string(),
            "imagen-4-ultra".to_string(),
            "1024x1024".to_string(),
            "64x64".to_string(),
            String::new(),
        ]),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..70).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const METHODS: [&str; 12] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "prompts/list",
    "logging/setLevel",
    "completion/complete",
    "notifications/cancelled",
    "notifications/initialized",
    "notifications/progress",
    "server/discover",
];

/// One stdin line: raw bytes, arbitrary JSON, or a message-shaped object with confused parts,
/// sometimes cut short. Requests never use ids of the form "probe-N".
fn line() -> impl Strategy<Value = Vec<u8>> {
    let raw = prop::collection::vec(any::<u8>(), 0..400)
        .prop_map(|bytes| bytes.into_iter().filter(|b| *b != b'\n').collect());
    let any_json = json_value().prop_map(|v| v.to_string().into_bytes());
    let message = || {
        (
            prop_oneof![Just(json!("2.0")), json_value()],
            prop_oneof![(0u64..1_000_000).prop_map(Value::from), json_value()],
            prop_oneof![
                prop::sample::select(METHODS.to_vec()).prop_map(Value::from),
                json_value()
            ],
            json_value(),
            any::<bool>(),
        )
            .prop_map(|(version, id, method, params, with_id)| {
                let mut m = Map::new();
                m.insert("jsonrpc".into(), version);
                if with_id {
                    m.insert("id".into(), id);
                }
                m.insert("method".into(), method);
                m.insert("params".into(), params);
                Value::Object(m).to_string().into_bytes()
            })
    };
    let truncated = (message(), any::<prop::sample::Index>()).prop_map(|(bytes, cut)| {
        let at = cut.index(bytes.len().max(1));
        bytes[..at].to_vec()
    });
    prop_oneof![raw, any_json, message(), truncated]
}

fn started() -> (tokio::runtime::Runtime, FakeServer, RawServer) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime
        .block_on(FakeServer::start(FakeConfig::default()))
        .unwrap();
    let mut server = RawServer::with_fake(&fake, &[("AIPASS_INLINE", "never".to_string())]);
    server.initialize();
    (runtime, fake, server)
}

#[test]
fn arbitrary_json_rpc_lines_never_take_the_server_down() {
    let (_runtime, _fake, server) = started();
    let server = RefCell::new(server);
    let probes = RefCell::new(0u64);
    runner(LINE_CASES)
        .run(&line(), |line| {
            let mut server = server.borrow_mut();
            server.send_raw(&line);
            // The server must still answer right after it.
            let mut probe = probes.borrow_mut();
            *probe += 1;
            let id = json!(format!("probe-{probe}"));
            server.send(&json!({"jsonrpc": "2.0", "id": id, "method": "ping"}));
            server.flush();
            let answer = server.wait_for(&id, Duration::from_secs(30));
            prop_assert_eq!(&answer["result"], &json!({}), "{}", answer);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let mut server = server.into_inner();
    assert!(server.is_alive());
    eprintln!(
        "fuzzed lines: {LINE_CASES} cases (plus shrinking), {} probes answered, {} lines out",
        probes.borrow(),
        server.received.len()
    );
    assert_eq!(server.finish(), 0);
}

#[test]
fn arbitrary_arguments_for_every_tool_get_a_result_with_a_stable_code() {
    let (_runtime, _fake, server) = started();
    let server = RefCell::new(server);
    // Each tool with the argument names its schema lists.
    let listed = server
        .borrow_mut()
        .call(1, "tools/list", json!({}), Duration::from_secs(20));
    let tools: Vec<(String, Vec<String>)> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| {
            let fields = tool["inputSchema"]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (tool["name"].as_str().unwrap().to_string(), fields)
        })
        .collect();
    assert_eq!(tools.len(), testkit::facts::tool_names().len());
    let call = prop::sample::select(tools).prop_flat_map(|(name, fields)| {
        let field_values = fields
            .into_iter()
            .map(|field| {
                prop::option::weighted(0.6, json_value()).prop_map(move |v| (field.clone(), v))
            })
            .collect::<Vec<_>>();
        (
            Just(name),
            field_values,
            prop::option::weighted(0.15, ("[a-z_]{1,12}", json_value())),
        )
    });
    let next_id = RefCell::new(100u64);
    let outcomes = RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    runner(ARGUMENT_CASES)
        .run(&call, |(name, fields, extra)| {
            let mut arguments: Map<String, Value> = fields
                .into_iter()
                .filter_map(|(field, value)| value.map(|v| (field, v)))
                .collect();
            if let Some((key, value)) = extra {
                arguments.insert(key, value);
            }
            let mut id = next_id.borrow_mut();
            *id += 1;
            let params = json!({"name": name, "arguments": arguments});
            let answer = server.borrow_mut().call(
                *id,
                "tools/call",
                params.clone(),
                Duration::from_secs(90),
            );
            let result = answer
                .get("result")
                .ok_or_else(|| TestCaseError::fail(format!("no result for {params}: {answer}")))?;
            let outcome = if result["isError"] == true {
                let text = result["content"][0]["text"].as_str().unwrap_or_default();
                let code = text.split(':').next().unwrap_or_default().to_string();
                prop_assert!(
                    error_codes().contains(&code.as_str()),
                    "no stable code for {}: {}",
                    params,
                    text
                );
                code
            } else {
                prop_assert!(result["structuredContent"].is_object(), "{}", answer);
                "success".to_string()
            };
            *outcomes.borrow_mut().entry(outcome).or_default() += 1;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let mut server = server.into_inner();
    assert!(server.is_alive());
    eprintln!("fuzzed tool arguments: outcomes {:?}", outcomes.borrow());
    assert_eq!(server.finish(), 0);
}
