//! The fault matrix (docs/reliability.md): each case injects one fault into the fake AI Pass,
//! calls a tool through the real binary, checks the outcome (error code, the "may have been
//! charged" wording, how many requests reached the API) and then checks the next call succeeds.
//!
//! GETs are `list_models` and `balance`; paid POSTs are `chat` (streamed), `generate_image` and
//! `embed`. Each test gets its own fake and server, so request counts are exact.

use aipass_fake::{Fault, FaultKind};
use serde_json::{Value, json};
use testkit::facts::ErrorCode;
use testkit::session::{Era, Options, Session, start_with};

const MODELS: &str = "GET /v1/models";
const USAGE: &str = "GET /api/v1/usage/me/summary";
const CHAT: &str = "POST /v1/chat/completions";
const IMAGES: &str = "POST /v1/images/generations";
const EMBED: &str = "POST /v1/embeddings";

const CHARGED: &str = "may have been charged";
/// Over the client's 64 MiB response cap.
const OVERSIZED: u64 = 64 * 1024 * 1024 + 1;

async fn session() -> Session {
    session_with(&[]).await
}

async fn session_with(env: &[(&str, &str)]) -> Session {
    let mut options = Options::new(Era::Initialize);
    options.extra_env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    start_with(options).await
}

/// A short request timeout, so a delayed answer counts as "slower than the timeout".
async fn session_with_short_timeout() -> Session {
    session_with(&[("AIPASS_REQUEST_TIMEOUT", "0.5")]).await
}

/// `key` is `"METHOD /path"`; the fault hits the next `times` requests to it.
fn inject(s: &Session, key: &str, times: u32, kind: FaultKind) {
    let (method, path) = key.split_once(' ').expect("METHOD /path");
    s.fake
        .inject_fault(Fault::new(kind).on(method, path).times(times));
}

fn status(status: u16) -> FaultKind {
    FaultKind::Status {
        status,
        retry_after: None,
        body: None,
    }
}

fn rate_limit(retry_after: Option<u64>) -> FaultKind {
    FaultKind::Status {
        status: 429,
        retry_after,
        body: None,
    }
}

/// How many requests to `key` reached the fake (faulted ones included).
fn hits(s: &Session, key: &str) -> u64 {
    s.fake.stats().requests.get(key).copied().unwrap_or(0)
}

/// The call each GET/POST key stands for.
fn tool_for(key: &str) -> (&'static str, Value) {
    match key {
        MODELS => ("list_models", json!({})),
        USAGE => ("balance", json!({"refresh": true})),
        CHAT => ("chat", json!({"prompt": "ping", "model": "gpt-5-mini"})),
        IMAGES => ("generate_image", json!({"prompt": "a red square"})),
        EMBED => ("embed", json!({"input": "hello"})),
        other => panic!("no tool for {other}"),
    }
}

/// Calls the tool for `key`, which must fail; prints the message (`--nocapture` shows the
/// observed outcomes that docs/reliability.md quotes).
async fn call_err(s: &Session, key: &str) -> String {
    let (tool, arguments) = tool_for(key);
    let message = s.err(tool, arguments).await;
    eprintln!("observed {key} ({tool}): {message}");
    message
}

/// The next call to the same endpoint works, and it is one more request.
async fn next_call_succeeds(s: &Session, key: &str) {
    let before = hits(s, key);
    let (tool, arguments) = tool_for(key);
    s.ok(tool, arguments).await;
    assert_eq!(hits(s, key), before + 1, "{key}: one clean request");
}

fn assert_charged(message: &str, charged: bool) {
    assert_eq!(
        message.contains(CHARGED),
        charged,
        "charged note: {message}"
    );
}

// ---------- 5xx ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_500_502_503_are_retried_and_succeed() {
    let s = session().await;
    for (code, key) in [(500, MODELS), (502, USAGE), (503, USAGE)] {
        let before = hits(&s, key);
        inject(&s, key, 1, status(code));
        let (tool, arguments) = tool_for(key);
        s.ok(tool, arguments).await;
        assert_eq!(hits(&s, key), before + 2, "{code} on {key}: one retry");
    }
    next_call_succeeds(&s, USAGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_5xx_that_persists_fails_after_two_retries() {
    let s = session().await;
    inject(&s, MODELS, 3, status(503));
    let message = call_err(&s, MODELS).await;
    assert!(
        message.starts_with(&ErrorCode::UpstreamError.prefix()) && message.contains("HTTP 503"),
        "{message}"
    );
    assert_charged(&message, false);
    assert_eq!(hits(&s, MODELS), 3, "the first try and two retries");
    next_call_succeeds(&s, MODELS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_500_502_503_are_not_retried_and_may_have_been_charged() {
    let s = session().await;
    for (code, key) in [(500, IMAGES), (502, CHAT), (503, EMBED)] {
        inject(&s, key, 1, status(code));
        let message = call_err(&s, key).await;
        assert!(
            message.starts_with(&ErrorCode::UpstreamError.prefix())
                && message.contains(&format!("HTTP {code}")),
            "{message}"
        );
        assert_charged(&message, true);
        assert!(message.contains("not retried"), "{message}");
        assert_eq!(hits(&s, key), 1, "{code} on {key} is not retried");
        next_call_succeeds(&s, key).await;
    }
}

// ---------- 429 ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_429_waits_for_retry_after_and_succeeds() {
    let s = session().await;
    inject(&s, MODELS, 1, rate_limit(Some(1)));
    s.ok("list_models", json!({})).await;
    assert_eq!(hits(&s, MODELS), 2);
    assert!(
        s.stderr().contains("wait_ms=1000"),
        "the wait was Retry-After's: {}",
        s.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_429_is_retried_because_it_was_not_processed() {
    let s = session().await;
    inject(&s, CHAT, 1, rate_limit(Some(1)));
    let out = s
        .ok("chat", json!({"prompt": "ping", "model": "gpt-5-mini"}))
        .await;
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(hits(&s, CHAT), 2);
    assert!(s.stderr().contains("wait_ms=1000"), "{}", s.stderr());
    next_call_succeeds(&s, CHAT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_that_persists_is_rate_limited_after_two_retries() {
    let s = session().await;
    inject(&s, USAGE, 3, rate_limit(Some(0)));
    let message = call_err(&s, USAGE).await;
    assert!(
        message.starts_with(&ErrorCode::RateLimited.prefix()),
        "{message}"
    );
    assert!(message.contains("retried 2 times"), "{message}");
    assert_eq!(hits(&s, USAGE), 3);
    next_call_succeeds(&s, USAGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_longer_than_the_limit_fails_at_once() {
    let s = session().await;
    inject(&s, CHAT, 1, rate_limit(Some(30)));
    let message = call_err(&s, CHAT).await;
    assert!(
        message.starts_with(&ErrorCode::RateLimited.prefix()),
        "{message}"
    );
    assert!(
        message.contains("wait 30 s") && message.contains("AIPASS_MAX_RETRY_WAIT (10 s)"),
        "{message}"
    );
    assert!(message.contains("Retry after 30 seconds"), "{message}");
    assert_charged(&message, false);
    assert_eq!(hits(&s, CHAT), 1);
    next_call_succeeds(&s, CHAT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_waiting_off_a_429_fails_at_once() {
    let s = session_with(&[("AIPASS_MAX_RETRY_WAIT", "0")]).await;
    inject(&s, MODELS, 1, rate_limit(None));
    let message = call_err(&s, MODELS).await;
    assert!(
        message.starts_with(&ErrorCode::RateLimited.prefix()),
        "{message}"
    );
    assert!(message.contains("AIPASS_MAX_RETRY_WAIT (0 s)"), "{message}");
    assert_eq!(hits(&s, MODELS), 1);
    next_call_succeeds(&s, MODELS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_flavoured_429_is_budget_exceeded() {
    let s = session().await;
    inject(
        &s,
        IMAGES,
        1,
        FaultKind::Status {
            status: 429,
            retry_after: Some(1),
            body: Some(
                json!({"error": {"message": "Monthly quota used up", "type": "insufficient_quota"}}),
            ),
        },
    );
    let message = call_err(&s, IMAGES).await;
    assert!(
        message.starts_with(&ErrorCode::BudgetExceeded.prefix()),
        "{message}"
    );
    assert_eq!(hits(&s, IMAGES), 1, "waiting does not refill a budget");
    next_call_succeeds(&s, IMAGES).await;
}

// ---------- slow answers ----------

fn slow() -> FaultKind {
    FaultKind::Delay { ms: 3_000 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_slower_than_the_timeout_is_retried() {
    let s = session_with_short_timeout().await;
    inject(&s, MODELS, 1, slow());
    s.ok("list_models", json!({})).await;
    assert_eq!(hits(&s, MODELS), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_that_stays_slow_times_out_after_two_retries() {
    let s = session_with_short_timeout().await;
    inject(&s, USAGE, 3, slow());
    let message = call_err(&s, USAGE).await;
    assert!(
        message.starts_with(&ErrorCode::Timeout.prefix()),
        "{message}"
    );
    assert_charged(&message, false);
    assert_eq!(hits(&s, USAGE), 3);
    next_call_succeeds(&s, USAGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_slower_than_the_timeout_is_not_retried() {
    let s = session_with_short_timeout().await;
    // The streamed chat (timeout before the headers) and a plain POST (whole-request timeout).
    for key in [CHAT, IMAGES] {
        inject(&s, key, 1, slow());
        let message = call_err(&s, key).await;
        assert!(
            message.starts_with(&ErrorCode::Timeout.prefix()),
            "{key}: {message}"
        );
        assert_charged(&message, true);
        assert_eq!(hits(&s, key), 1, "{key} is not retried");
        next_call_succeeds(&s, key).await;
    }
}

// ---------- broken connections ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_get_is_retried() {
    let s = session().await;
    inject(&s, MODELS, 1, FaultKind::Reset);
    s.ok("list_models", json!({})).await;
    assert_eq!(hits(&s, MODELS), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_post_is_not_retried() {
    let s = session().await;
    inject(&s, EMBED, 1, FaultKind::Reset);
    let message = call_err(&s, EMBED).await;
    assert!(
        message.starts_with(&ErrorCode::UpstreamError.prefix()),
        "{message}"
    );
    assert_charged(&message, true);
    assert_eq!(hits(&s, EMBED), 1);
    next_call_succeeds(&s, EMBED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_dropped_midway_returns_the_partial_text_marked_incomplete() {
    let s = session().await;
    inject(&s, CHAT, 1, FaultKind::DropStream { after_chunks: 2 });
    let (tool, arguments) = tool_for(CHAT);
    let result = s.call(tool, arguments.clone()).await;
    assert_ne!(
        result.is_error,
        Some(true),
        "partial text is a result: {}",
        testkit::session::text(&result)
    );
    let partial = result
        .structured_content
        .clone()
        .expect("structuredContent");
    assert_eq!(partial["finish_reason"], "incomplete");
    assert!(
        testkit::session::text(&result).contains("[incomplete: the stream from AI Pass broke off"),
        "{}",
        testkit::session::text(&result)
    );
    assert_eq!(hits(&s, CHAT), 1, "a broken stream is not retried");

    let full = s.ok(tool, arguments).await;
    assert_eq!(full["finish_reason"], "stop");
    let partial = partial["text"].as_str().expect("text");
    let full = full["text"].as_str().expect("text");
    assert!(
        !partial.is_empty() && partial.len() < full.len() && full.starts_with(partial),
        "partial {partial:?} of {full:?}"
    );
}

// ---------- unusable answers ----------

/// A 200 with an unusable body: a GET says so; a paid POST also says it may have been charged.
/// Neither is retried.
async fn unusable_answer(kind: FaultKind, get: &str, post: &str, expected: &str) {
    let s = session().await;
    for (key, charged) in [(get, false), (post, true)] {
        inject(&s, key, 1, kind.clone());
        let message = call_err(&s, key).await;
        assert!(
            message.starts_with(&format!(
                "{}: AI Pass sent a response that could not be used",
                ErrorCode::UpstreamError.as_str()
            )),
            "{key}: {message}"
        );
        assert!(message.contains(expected), "{key}: {message}");
        assert_charged(&message, charged);
        assert_eq!(hits(&s, key), 1, "{key} is not retried");
        next_call_succeeds(&s, key).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_an_upstream_error() {
    unusable_answer(
        FaultKind::MalformedJson,
        MODELS,
        CHAT,
        "was not the expected JSON",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_content_type_is_an_upstream_error() {
    unusable_answer(FaultKind::WrongContentType, USAGE, EMBED, "text/html").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused() {
    unusable_answer(
        FaultKind::Oversized { bytes: OVERSIZED },
        MODELS,
        IMAGES,
        "over the 67108864-byte limit",
    )
    .await;
}

// ---------- budget and auth ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_budget_is_budget_exceeded() {
    let s = session().await;
    s.fake.set_budget(1.0, 1.0);
    let message = call_err(&s, IMAGES).await;
    assert!(
        message.starts_with(&ErrorCode::BudgetExceeded.prefix()),
        "{message}"
    );
    assert!(
        message.contains("Budget exceeded"),
        "the API's own message: {message}"
    );
    assert_charged(&message, false);
    assert_eq!(hits(&s, IMAGES), 1);
    let balance = s.ok("balance", json!({"refresh": true})).await;
    assert_eq!(balance["remaining_budget"], 0.0, "nothing was charged");
    assert_eq!(
        std::fs::read_dir(s.out_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "no file written"
    );
    s.fake.set_budget(10.0, 1.0);
    next_call_succeeds(&s, IMAGES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_on_a_fixed_token_is_auth_required() {
    // AIPASS_ACCESS_TOKEN cannot be refreshed.
    let s = session().await;
    inject(&s, USAGE, 1, status(401));
    let message = call_err(&s, USAGE).await;
    assert!(
        message.starts_with(&ErrorCode::AuthRequired.prefix()),
        "{message}"
    );
    assert!(message.contains("401"), "{message}");
    assert_eq!(hits(&s, USAGE), 1);
    assert_eq!(s.fake.stats().refreshes, 0);
    next_call_succeeds(&s, USAGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_that_refresh_cannot_fix_is_auth_required() {
    let env = testkit::auth::Env::new().await;
    env.seed(&env.fake.issue_token("api:access profile:read"), 3000);
    let (path, method) = ("/api/v1/usage/me/summary", "GET");
    // The first answer and the one after the refresh.
    env.fake
        .inject_fault(Fault::new(status(401)).on(method, path).times(2));
    let server = env.server(&[]).await;
    let result = server
        .call(testkit::auth::BALANCE, json!({"refresh": true}))
        .await;
    let message = testkit::auth::text(&result);
    assert_eq!(result.is_error, Some(true), "{message}");
    assert!(
        message.starts_with(&ErrorCode::AuthRequired.prefix()),
        "{message}"
    );
    let stats = env.fake.stats();
    assert_eq!(stats.refreshes, 1, "one refresh was tried");
    assert_eq!(
        stats.authorize, 0,
        "no browser sign-in for a refreshed token"
    );
    assert_eq!(stats.requests.get(USAGE), Some(&2), "401, refresh, 401");
    // The refreshed token is good: the next call succeeds without another refresh.
    server.balance_ok().await;
    let stats = env.fake.stats();
    assert_eq!((stats.refreshes, stats.requests.get(USAGE)), (1, Some(&3)));
    server.stop().await;
}

// ---------- the documented matrix ----------

/// docs/reliability.md's fault matrix names every test here, and only tests that exist.
#[test]
fn the_documented_matrix_matches_these_tests() {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/docs/reliability.md")).unwrap();
    let source = std::fs::read_to_string(format!("{root}/tests/e2e/faults.rs")).unwrap();
    let section = doc
        .split("## Fault matrix")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Fault matrix section");
    let documented: std::collections::BTreeSet<&str> = section
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| case"))
        .filter_map(|line| line.split(" | ").nth(2))
        .map(|cell| cell.trim_matches('`'))
        .collect();
    let tests: std::collections::BTreeSet<&str> = source
        .split("#[tokio::test(flavor = \"multi_thread\", worker_threads = 2)]\nasync fn ")
        .skip(1)
        .filter_map(|rest| rest.split('(').next())
        .collect();
    assert!(!tests.is_empty());
    assert_eq!(
        documented, tests,
        "docs/reliability.md vs tests/e2e/faults.rs"
    );
}
