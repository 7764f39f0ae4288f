//! Streamed chat: assembly, usage, streams that break before or after text.

use super::*;

fn sse_body(events: &[&str]) -> String {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

const DELTA_A: &str = r#"{"object":"chat.completion.chunk","model":"gpt-5-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#;
const DELTA_B: &str = r#"{"object":"chat.completion.chunk","model":"gpt-5-mini","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#;
const USAGE: &str = r#"{"object":"chat.completion.chunk","model":"gpt-5-mini","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;

#[tokio::test]
async fn chat_stream_assembles_and_asks_for_usage() {
    let body = format!(
        ": keep-alive\n\n{}",
        sse_body(&[DELTA_A, DELTA_B, USAGE, "[DONE]"])
    );
    let server = Server::start(vec![reply(200, "text/event-stream", &body, &[])]).await;
    let mut pieces = Vec::new();
    let mut on_text = |t: &str| pieces.push(t.to_string());
    let r = static_client(&server)
        .chat_stream(&chat_request(), &mut on_text)
        .await
        .unwrap();
    assert_eq!(pieces, ["Hel", "lo"]);
    assert_eq!(r.text, "Hello");
    assert!(r.complete);
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.usage.unwrap().total_tokens, 3);
    let req = &server.requests()[0];
    assert_eq!(req.header("accept"), Some("text/event-stream"));
    let sent = req.json();
    assert_eq!(sent["stream"], json!(true));
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn chat_stream_broken_after_text_is_partial() {
    let first = sse_body(&[DELTA_A]);
    let server = Server::start(vec![chunked_then_drop("text/event-stream", &[&first])]).await;
    let mut pieces = Vec::new();
    let mut on_text = |t: &str| pieces.push(t.to_string());
    let r = static_client(&server)
        .chat_stream(&chat_request(), &mut on_text)
        .await
        .unwrap();
    assert_eq!(r.text, "Hel");
    assert!(!r.complete);
    assert_eq!(r.finish_reason, None);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn chat_stream_broken_before_text_is_charged_error() {
    let server = Server::start(vec![chunked_then_drop("text/event-stream", &[": hi\n\n"])]).await;
    let err = static_client(&server)
        .chat_stream(&chat_request(), &mut |_: &str| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Network {
                maybe_charged: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn chat_stream_error_before_start_maps() {
    let server = Server::start(vec![json_reply(
        402,
        json!({"error": {"message": "Insufficient budget"}}),
    )])
    .await;
    let err = static_client(&server)
        .chat_stream(&chat_request(), &mut |_: &str| {})
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "budget_exceeded");
}

#[tokio::test]
async fn chat_stream_accepts_a_plain_json_answer() {
    let server = Server::start(vec![json_reply(200, completion())]).await;
    let mut pieces = Vec::new();
    let mut on_text = |t: &str| pieces.push(t.to_string());
    let r = static_client(&server)
        .chat_stream(&chat_request(), &mut on_text)
        .await
        .unwrap();
    assert_eq!(r.text, "Hello!");
    assert_eq!(pieces, ["Hello!"]);
}
