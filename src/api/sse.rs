//! Streaming chat: turns `chat.completion.chunk` server-sent events into one [`ChatResult`].

use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;

use super::error::{self, ApiError};
use super::types::{ChatResult, Usage, content_text};

/// Accumulates the events of one streamed chat completion.
#[derive(Debug, Default)]
pub struct ChatStreamAssembler {
    text: String,
    model: Option<String>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
}

#[derive(Deserialize)]
struct ChunkWire {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    delta: Option<ChunkDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    content: Option<Value>,
}

impl ChatStreamAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds an `event: error` event: its data is the error, whatever shape it has.
    pub fn push_error_event(&mut self, data: &str) -> ApiError {
        let value = match serde_json::from_str::<Value>(data.trim()) {
            Ok(value @ Value::Object(_)) if value.get("error").is_some() => value,
            Ok(value @ Value::Object(_)) => serde_json::json!({ "error": value }),
            _ => serde_json::json!({ "error": { "message": data.trim() } }),
        };
        error::embedded_error(&value, true)
    }

    /// Feeds the data of one event. Returns the text it added, if any. `[DONE]` marks the end;
    /// an `{"error":…}` event becomes an error; a chunk that is not JSON is an InvalidResponse.
    pub fn push(&mut self, data: &str) -> Result<Option<String>, ApiError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(None);
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let value: Value = serde_json::from_str(data).map_err(|e| ApiError::InvalidResponse {
            message: format!("a chat stream event was not valid JSON ({e})"),
            maybe_charged: true,
        })?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(error::embedded_error(&value, true));
        }
        // An error with only a message (or FastAPI's `detail`), no chunk fields at all.
        let chunk_like = ["choices", "id", "object", "delta", "usage"]
            .iter()
            .any(|key| value.get(key).is_some());
        if !chunk_like && (value.get("message").is_some() || value.get("detail").is_some()) {
            return Err(error::embedded_error(
                &serde_json::json!({ "error": value }),
                true,
            ));
        }
        let chunk: ChunkWire =
            serde_json::from_value(value).map_err(|e| ApiError::InvalidResponse {
                message: format!("a chat stream event had an unexpected shape ({e})"),
                maybe_charged: true,
            })?;
        if let Some(m) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = Some(m);
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let mut added = String::new();
        // Only the first choice: the client never asks for n > 1.
        for choice in chunk
            .choices
            .into_iter()
            .filter(|c| c.index.unwrap_or(0) == 0)
        {
            if let Some(delta) = choice.delta {
                added.push_str(&content_text(delta.content.as_ref()));
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        if added.is_empty() {
            return Ok(None);
        }
        self.text.push_str(&added);
        Ok(Some(added))
    }

    /// True once `[DONE]` arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn has_text(&self) -> bool {
        !self.text.is_empty()
    }

    /// The result after a clean end of the stream: complete when `[DONE]` arrived, or when the
    /// stream closed normally after a finish_reason (some proxies omit `[DONE]`).
    pub fn finish(self, requested_model: &str) -> ChatResult {
        let complete = self.done || self.finish_reason.is_some();
        self.into_result(requested_model, complete)
    }

    /// The result after the stream broke: whatever text arrived, marked incomplete.
    pub fn finish_broken(mut self, requested_model: &str) -> ChatResult {
        self.finish_reason = None;
        self.into_result(requested_model, false)
    }

    /// The result after AI Pass ended the stream with an error: the text so far, marked
    /// incomplete, with the error's words.
    pub fn finish_with_error(self, requested_model: &str, error: &ApiError) -> ChatResult {
        let mut result = self.finish_broken(requested_model);
        result.stopped_by = Some(error::truncate(&error.to_string()));
        result
    }

    fn into_result(self, requested_model: &str, complete: bool) -> ChatResult {
        ChatResult {
            text: self.text,
            model: self.model.unwrap_or_else(|| requested_model.to_string()),
            finish_reason: self.finish_reason,
            usage: self.usage,
            complete,
            stopped_by: None,
        }
    }
}

/// How a stream read ended early, for the caller's choice between a partial answer and an error.
enum Broken {
    Timeout,
    Transport(String),
    TooLarge(u64),
}

/// The byte stream's error, or the size cap being hit.
#[derive(Debug)]
enum ReadError<E> {
    Source(E),
    TooLarge,
}

/// Runs a byte stream through the SSE parser and the assembler, calling `on_text` per delta.
/// `idle_timeout` bounds the wait for each piece; `max_bytes` bounds the whole stream.
pub(crate) async fn assemble<S, B, E>(
    bytes: S,
    requested_model: &str,
    idle_timeout: Duration,
    max_bytes: u64,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<ChatResult, ApiError>
where
    S: Stream<Item = Result<B, E>> + Send,
    B: AsRef<[u8]> + Send,
    E: std::error::Error + Send,
{
    let mut seen: u64 = 0;
    let capped = bytes.map(move |item| match item {
        Ok(b) => {
            seen += b.as_ref().len() as u64;
            if seen > max_bytes {
                Err(ReadError::TooLarge)
            } else {
                Ok(b)
            }
        }
        Err(e) => Err(ReadError::Source(e)),
    });
    let mut events = Box::pin(capped.eventsource());
    let mut asm = ChatStreamAssembler::new();

    let broken = loop {
        let next = match tokio::time::timeout(idle_timeout, events.next()).await {
            Ok(next) => next,
            Err(_) => break Some(Broken::Timeout),
        };
        let event = match next {
            None => break None,
            Some(Ok(event)) => event,
            Some(Err(EventStreamError::Transport(ReadError::TooLarge))) => {
                break Some(Broken::TooLarge(max_bytes));
            }
            Some(Err(EventStreamError::Transport(ReadError::Source(e)))) => {
                break Some(Broken::Transport(describe_error(&e)));
            }
            Some(Err(EventStreamError::Utf8(e))) => break Some(Broken::Transport(e.to_string())),
            Some(Err(EventStreamError::Parser(e))) => {
                break Some(Broken::Transport(format!("malformed event stream ({e})")));
            }
        };
        let pushed = if event.event.eq_ignore_ascii_case("error") {
            Err(asm.push_error_event(&event.data))
        } else {
            asm.push(&event.data)
        };
        match pushed {
            Ok(Some(delta)) => on_text(&delta),
            Ok(None) => {}
            Err(err @ ApiError::InvalidResponse { .. }) if asm.has_text() => {
                break Some(Broken::Transport(err.to_string()));
            }
            // Text already received is the user's (and paid for): return it, marked incomplete.
            Err(err) if asm.has_text() => {
                tracing::warn!(
                    code = err.code().as_str(),
                    "chat stream ended with an error after some text; returning the partial answer"
                );
                return Ok(asm.finish_with_error(requested_model, &err));
            }
            Err(err) => return Err(err),
        }
        if asm.is_done() {
            break None;
        }
    };

    match broken {
        None => {
            if !asm.is_done() {
                tracing::debug!("chat stream closed without [DONE]");
            }
            Ok(asm.finish(requested_model))
        }
        Some(reason) if asm.has_text() => {
            tracing::warn!(
                reason = broken_label(&reason),
                "chat stream broke after some text; returning the partial answer"
            );
            Ok(asm.finish_broken(requested_model))
        }
        Some(Broken::Timeout) => Err(ApiError::Timeout {
            maybe_charged: true,
        }),
        Some(Broken::Transport(message)) => Err(ApiError::Network {
            message: format!("the chat stream broke before any text arrived ({message})"),
            maybe_charged: true,
        }),
        Some(Broken::TooLarge(cap)) => Err(ApiError::InvalidResponse {
            message: format!("the chat stream exceeded the {cap}-byte response limit"),
            maybe_charged: true,
        }),
    }
}

fn broken_label(b: &Broken) -> &'static str {
    match b {
        Broken::Timeout => "idle timeout",
        Broken::Transport(_) => "transport error",
        Broken::TooLarge(_) => "response limit",
    }
}

/// An error and its causes on one line (the callers strip URLs from reqwest errors first).
pub(crate) fn describe_error(e: &(dyn std::error::Error + '_)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    error::truncate(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = r#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-5-mini-2025","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
    const HEL: &str = r#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-5-mini-2025","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#;
    const LO: &str = r#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-5-mini-2025","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#;
    const STOP: &str = r#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-5-mini-2025","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#;
    const USAGE: &str = r#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-5-mini-2025","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;

    #[test]
    fn assembles_text_model_finish_and_usage() {
        let mut asm = ChatStreamAssembler::new();
        // The role-only first delta adds nothing.
        assert_eq!(asm.push(ROLE).unwrap(), None);
        assert_eq!(asm.push(HEL).unwrap().as_deref(), Some("Hel"));
        assert_eq!(asm.push(LO).unwrap().as_deref(), Some("lo"));
        assert_eq!(asm.push(STOP).unwrap(), None);
        // Usage arrives in a chunk with no choices.
        assert_eq!(asm.push(USAGE).unwrap(), None);
        assert_eq!(asm.push("").unwrap(), None);
        assert!(!asm.is_done());
        asm.push("[DONE]").unwrap();
        assert!(asm.is_done());
        let r = asm.finish("gpt-5-mini");
        assert_eq!(r.text, "Hello");
        assert_eq!(r.model, "gpt-5-mini-2025");
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 2,
                total_tokens: 7
            })
        );
        assert!(r.complete);
    }

    #[test]
    fn error_event_becomes_an_error() {
        let mut asm = ChatStreamAssembler::new();
        asm.push(HEL).unwrap();
        let err = asm
            .push(r#"{"error":{"message":"Budget exceeded","type":"budget_exceeded"}}"#)
            .unwrap_err();
        assert_eq!(err.code().as_str(), "budget_exceeded");
        let err = asm
            .push(r#"{"error":{"message":"provider crashed","type":"server_error"}}"#)
            .unwrap_err();
        assert!(matches!(
            err,
            ApiError::Upstream {
                maybe_charged: true,
                ..
            }
        ));
        assert!(err.to_string().contains("provider crashed"), "{err}");
        let err = asm
            .push(r#"{"error":{"message":"slow down","code":429}}"#)
            .unwrap_err();
        assert_eq!(err.code().as_str(), "rate_limited");
    }

    #[test]
    fn end_without_done_is_incomplete() {
        let mut asm = ChatStreamAssembler::new();
        asm.push(ROLE).unwrap();
        asm.push(HEL).unwrap();
        let r = asm.finish("gpt-5-mini");
        assert_eq!(r.text, "Hel");
        assert!(!r.complete);
        assert_eq!(r.finish_reason, None);
    }

    #[test]
    fn malformed_event_is_invalid_response() {
        let mut asm = ChatStreamAssembler::new();
        assert_eq!(
            asm.push("{not json").unwrap_err().code().as_str(),
            "upstream_error"
        );
    }

    fn sse(events: &[&str]) -> String {
        events.iter().map(|e| format!("data: {e}\n\n")).collect()
    }

    /// Splits a body into small chunks so events straddle chunk boundaries.
    fn chunks(body: &str, size: usize) -> Vec<Result<Vec<u8>, std::io::Error>> {
        body.as_bytes()
            .chunks(size)
            .map(|c| Ok(c.to_vec()))
            .collect()
    }

    async fn run(
        items: Vec<Result<Vec<u8>, std::io::Error>>,
        max: u64,
    ) -> (Result<ChatResult, ApiError>, Vec<String>) {
        let mut seen = Vec::new();
        let mut on_text = |t: &str| seen.push(t.to_string());
        let r = assemble(
            futures::stream::iter(items),
            "gpt-5-mini",
            Duration::from_secs(5),
            max,
            &mut on_text,
        )
        .await;
        (r, seen)
    }

    #[tokio::test]
    async fn pipeline_ignores_comments_and_stops_at_done() {
        let body = format!(
            ": keep-alive\n\n{}: ping\n\n{}data: [DONE]\n\ndata: {}\n\n",
            sse(&[ROLE, HEL]),
            sse(&[LO, STOP, USAGE]),
            HEL
        );
        let (r, seen) = run(chunks(&body, 7), 1 << 20).await;
        let r = r.unwrap();
        assert_eq!(seen, vec!["Hel", "lo"]);
        assert_eq!(r.text, "Hello");
        assert!(r.complete);
        assert_eq!(r.usage.unwrap().total_tokens, 7);
    }

    #[tokio::test]
    async fn pipeline_without_done_is_incomplete() {
        let (r, _) = run(chunks(&sse(&[ROLE, HEL, LO]), 16), 1 << 20).await;
        let r = r.unwrap();
        assert_eq!(r.text, "Hello");
        assert!(!r.complete);
    }

    #[tokio::test]
    async fn break_after_text_keeps_partial_answer() {
        let mut items = chunks(&sse(&[ROLE, HEL]), 1000);
        items.push(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        )));
        let (r, seen) = run(items, 1 << 20).await;
        let r = r.unwrap();
        assert_eq!(seen, vec!["Hel"]);
        assert_eq!(r.text, "Hel");
        assert!(!r.complete);
        assert_eq!(r.finish_reason, None);
    }

    #[tokio::test]
    async fn break_before_text_is_a_charged_network_error() {
        let mut items = chunks(&sse(&[ROLE]), 1000);
        items.push(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        )));
        let (r, _) = run(items, 1 << 20).await;
        let err = r.unwrap_err();
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
    }

    #[tokio::test]
    async fn error_event_before_text_is_returned() {
        let body =
            sse(&[r#"{"error":{"message":"Insufficient budget","code":"insufficient_quota"}}"#]);
        let (r, _) = run(chunks(&body, 1000), 1 << 20).await;
        assert_eq!(r.unwrap_err().code().as_str(), "budget_exceeded");
    }

    #[tokio::test]
    async fn oversized_stream_is_cut() {
        let (r, _) = run(chunks(&sse(&[ROLE, ROLE, ROLE]), 50), 100).await;
        assert!(matches!(r, Err(ApiError::InvalidResponse { .. })), "{r:?}");
    }
}
