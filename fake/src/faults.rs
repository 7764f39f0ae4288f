//! Injected faults, as data: what they are and which request they hit (their broken answers
//! are in `fault_responses.rs`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One queued fault. It hits the next `count` requests (not under `/_fake`) that match.
///
/// JSON form: `{"path":"/oauth2/v1/chat","method":"POST","count":1,"kind":"status","status":429}`;
/// the nested form `{"kind":{"kind":"status","status":429}}` is accepted too.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct Fault {
    /// Path prefix to match (e.g. `/oauth2/v1/chat`); `None` = any path.
    pub path: Option<String>,
    /// HTTP method to match (any case); `None` = any method.
    pub method: Option<String>,
    /// How many matching requests it hits (default 1).
    pub count: u32,
    /// What happens to them.
    #[serde(flatten)]
    pub kind: FaultKind,
}

impl TryFrom<Value> for Fault {
    type Error = String;

    fn try_from(value: Value) -> Result<Fault, String> {
        let Value::Object(mut map) = value else {
            return Err("a fault must be a JSON object".into());
        };
        let text = |v: Option<Value>| -> Result<Option<String>, String> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!("expected a string, got {other}")),
            }
        };
        let path = text(map.remove("path"))?;
        let method = text(map.remove("method"))?;
        let count = match map.remove("count") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or("count must be a non-negative integer")?,
        };
        // Nested `"kind": {...}` or flat `"kind": "status", "status": 429`.
        let kind_value = match map.get("kind") {
            Some(Value::Object(_)) => map.remove("kind").unwrap_or_default(),
            _ => Value::Object(map),
        };
        let kind = FaultKind::deserialize(kind_value).map_err(|e| e.to_string())?;
        Ok(Fault {
            path,
            method,
            count,
            kind,
        })
    }
}

/// What a fault does to the request it hits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status (and `Retry-After` when given); default body is an OpenAI-style error.
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
        #[serde(default)]
        body: Option<serde_json::Value>,
    },
    /// Answer with a redirect (`status` 301, 302, 303, 307 or 308) to `location`.
    Redirect { status: u16, location: String },
    /// Wait this long, then answer normally.
    Delay { ms: u64 },
    /// Close the TCP connection (RST) without answering.
    Reset,
    /// Streaming chat only: send this many SSE chunks, then cut the connection (no `[DONE]`).
    DropStream { after_chunks: u32 },
    /// Streaming chat only: send this many SSE chunks, then `data` as an error event (named
    /// `event` when given, e.g. `error`), then `[DONE]`.
    StreamError {
        after_chunks: u32,
        #[serde(default)]
        event: Option<String>,
        data: serde_json::Value,
    },
    /// 200 `application/json` whose body is cut-off JSON.
    MalformedJson,
    /// 200 `text/html` (what a captive portal or gateway would send).
    WrongContentType,
    /// 200 `application/json` of exactly this many bytes (one long JSON string).
    Oversized { bytes: u64 },
}

impl Fault {
    /// A fault of this kind that hits the next matching request once, on any path and method.
    pub fn new(kind: FaultKind) -> Fault {
        Fault {
            path: None,
            method: None,
            count: 1,
            kind,
        }
    }

    /// Only requests with this method whose path starts with `path_prefix`.
    pub fn on(mut self, method: &str, path_prefix: &str) -> Fault {
        self.method = Some(method.to_string());
        self.path = Some(path_prefix.to_string());
        self
    }

    /// Hits `count` matching requests instead of one.
    pub fn times(mut self, count: u32) -> Fault {
        self.count = count;
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.count > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| path.starts_with(p))
    }
}

impl FaultKind {
    /// Short name for logs and request summaries.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Status { .. } => "status",
            FaultKind::Redirect { .. } => "redirect",
            FaultKind::Delay { .. } => "delay",
            FaultKind::Reset => "reset",
            FaultKind::DropStream { .. } => "drop_stream",
            FaultKind::StreamError { .. } => "stream_error",
            FaultKind::MalformedJson => "malformed_json",
            FaultKind::WrongContentType => "wrong_content_type",
            FaultKind::Oversized { .. } => "oversized",
        }
    }
}
