//! The baseline: the same HTTP requests the server sends, sent straight to the fake with the same
//! client (reqwest, set up as the server sets it up), so that "through the server" minus
//! "direct" is what the server adds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::header;

pub type DirectResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The request bodies, byte for byte what the server sends for the bench's tool arguments.
pub const EMBED_TEXT: &str = "The quick brown fox jumps over the lazy dog.";
pub const CHAT_PROMPT: &str = "Say hello in five words.";
pub const EMBED_MODEL: &str = "text-embedding-3-small";
pub const CHAT_MODEL: &str = "gpt-5-mini";

/// The text of embed call `i`: a different one each time, so each call saves a file under a new
/// name (the same text within a second would make the server probe `name-2`, `name-3`, …).
pub fn embed_text(i: usize) -> String {
    format!("{i:06} {EMBED_TEXT}")
}

pub fn embed_body(text: &str) -> Vec<u8> {
    serde_json::json!({"model": EMBED_MODEL, "input": [text]})
        .to_string()
        .into_bytes()
}

pub fn chat_body() -> Vec<u8> {
    // The chat tool always streams (and asks for usage in the stream).
    serde_json::json!({
        "model": CHAT_MODEL,
        "messages": [{"role": "user", "content": CHAT_PROMPT}],
        "stream": true,
        "stream_options": {"include_usage": true},
    })
    .to_string()
    .into_bytes()
}

/// One request of the baseline.
#[derive(Clone)]
pub enum Endpoint {
    /// `POST /embeddings` with this text.
    Embeddings(String),
    /// `POST /chat/completions`, streamed.
    Chat,
}

pub struct Direct {
    client: reqwest::Client,
    base_url: String,
    bearer: String,
    chat_body: Vec<u8>,
}

impl Direct {
    pub fn new(base_url: &str, access_token: &str) -> DirectResult<Direct> {
        // As src/api/client.rs builds it; no proxy, as the server sees a cleared environment.
        let client = aipass_mcp::tls::client_builder()
            .user_agent("aipass-mcp/0.1.0")
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            .build()?;
        Ok(Direct {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            bearer: format!("Bearer {access_token}"),
            chat_body: chat_body(),
        })
    }

    /// Sends one request and reads the whole answer; returns the body size.
    pub async fn send(&self, endpoint: &Endpoint) -> DirectResult<usize> {
        let (path, accept, body) = match endpoint {
            Endpoint::Embeddings(text) => ("/v1/embeddings", "application/json", embed_body(text)),
            Endpoint::Chat => (
                "/v1/chat/completions",
                "text/event-stream",
                self.chat_body.clone(),
            ),
        };
        let mut request = self
            .client
            .post(format!("{}{path}", self.base_url))
            .header(header::ACCEPT, accept)
            .header(header::AUTHORIZATION, &self.bearer)
            .header("x-aipass-oauth-client-id", "aipass-mcp-demo")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if matches!(endpoint, Endpoint::Embeddings(_)) {
            // The server sets a whole-request timeout on everything but streams.
            request = request.timeout(Duration::from_secs(300));
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(format!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            )
            .into());
        }
        Ok(bytes.len())
    }

    /// `total` requests with `concurrency` in flight; wall time and failures.
    pub async fn throughput(
        self: &Arc<Self>,
        endpoint: &Endpoint,
        total: usize,
        concurrency: usize,
    ) -> (Duration, usize) {
        let next = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (direct, next, failures) = (self.clone(), next.clone(), failures.clone());
            let endpoint = endpoint.clone();
            tasks.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    if direct.send(&endpoint).await.is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        (started.elapsed(), failures.load(Ordering::Relaxed))
    }
}
