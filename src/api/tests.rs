//! Client tests against a canned local HTTP server (plain tokio TCP): auth refresh, retries,
//! body caps, streaming, multipart and downloads.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use super::types::*;
use super::*;

// ---------- the canned server ----------

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

enum Reply {
    /// Write these bytes, then close.
    Raw(Vec<u8>),
    /// Read the request and close without answering.
    Hangup,
}

fn reply(status: u16, content_type: &str, body: &str, extra: &[(&str, &str)]) -> Reply {
    let mut head = format!(
        "HTTP/1.1 {status} Canned\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    Reply::Raw(bytes)
}

fn json_reply(status: u16, body: Value) -> Reply {
    reply(status, "application/json", &body.to_string(), &[])
}

/// A chunked answer that stops without the final chunk: the connection just drops.
fn chunked_then_drop(content_type: &str, pieces: &[&str]) -> Reply {
    let mut bytes = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for p in pieces {
        bytes.extend_from_slice(format!("{:x}\r\n{p}\r\n", p.len()).as_bytes());
    }
    Reply::Raw(bytes)
}

struct Server {
    base: Url,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    async fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(Mutex::new(VecDeque::from(replies)));
        let task_log = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let Some(request) = read_request(&mut sock).await else {
                    continue;
                };
                task_log.lock().unwrap().push(request);
                let next = queue.lock().unwrap().pop_front();
                match next {
                    Some(Reply::Raw(bytes)) => {
                        let _ = sock.write_all(&bytes).await;
                        let _ = sock.flush().await;
                    }
                    Some(Reply::Hangup) => {}
                    None => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 418 Unscripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                    }
                }
                drop(sock);
            }
        });
        Server { base, log }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

async fn read_request(sock: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = get("content-length") {
        let len: usize = len.parse().ok()?;
        while rest.len() < len {
            let n = sock.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        // Decode chunks until the zero-length one.
        let mut body = Vec::new();
        loop {
            while find(&rest, b"\r\n").is_none() {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                rest.extend_from_slice(&chunk[..n]);
            }
            let line_end = find(&rest, b"\r\n")?;
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..line_end])
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            while rest.len() < line_end + 2 + size + 2 {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                rest.extend_from_slice(&chunk[..n]);
            }
            if size == 0 {
                break body;
            }
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest.drain(..line_end + 2 + size + 2);
        }
    } else {
        Vec::new()
    };
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------- a token provider that refreshes ----------

struct RefreshingTokens {
    current: Mutex<String>,
    next: Option<String>,
    refreshes: AtomicUsize,
}

impl RefreshingTokens {
    fn new(current: &str, next: Option<&str>) -> Arc<Self> {
        Arc::new(RefreshingTokens {
            current: Mutex::new(current.to_string()),
            next: next.map(str::to_string),
            refreshes: AtomicUsize::new(0),
        })
    }
}

impl TokenProvider for RefreshingTokens {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, ApiError>> {
        let t = AccessToken::new(self.current.lock().unwrap().clone());
        futures::future::ready(Ok(t)).boxed()
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        failed: &'a AccessToken,
    ) -> BoxFuture<'a, Result<Option<AccessToken>, ApiError>> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        assert_eq!(failed.secret(), *self.current.lock().unwrap());
        let fresh = self.next.clone().map(|n| {
            *self.current.lock().unwrap() = n.clone();
            AccessToken::new(n)
        });
        futures::future::ready(Ok(fresh)).boxed()
    }
}

fn client_for(server: &Server, tokens: Arc<dyn TokenProvider>) -> ApiClient {
    let mut settings = ApiSettings::new(server.base.clone());
    settings.client_id = Some("client-123".into());
    settings.request_timeout = Duration::from_secs(10);
    ApiClient::new(settings, tokens)
}

fn static_client(server: &Server) -> ApiClient {
    client_for(
        server,
        Arc::new(StaticTokenProvider::new(Some("tok-static".into()))),
    )
}

fn chat_request() -> ChatRequest {
    ChatRequest {
        model: "gpt-5-mini".into(),
        messages: vec![ChatMessage {
            role: "user".into(),
            content: MessageContent::Text("Hi".into()),
        }],
        max_tokens: Some(50),
        temperature: None,
    }
}

fn completion() -> Value {
    json!({
        "id": "c1", "object": "chat.completion", "model": "gpt-5-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    })
}

fn models() -> Value {
    json!({"object": "list", "data": [{"id": "gpt-5-mini", "owned_by": "openai"}, {"id": "fal-ai/nano-banana-2/edit"}]})
}

fn upload(name: &str, mime: &str, bytes: &[u8]) -> Upload {
    Upload {
        bytes: bytes.to_vec(),
        file_name: name.into(),
        mime_type: mime.into(),
    }
}

// ---------- auth ----------

#[tokio::test]
async fn unauthorized_refreshes_once_and_retries() {
    let server = Server::start(vec![
        json_reply(
            401,
            json!({"error": "invalid_token", "error_description": "expired"}),
        ),
        json_reply(200, models()),
    ])
    .await;
    let tokens = RefreshingTokens::new("tok-old", Some("tok-new"));
    let client = client_for(&server, tokens.clone());
    let list = client.list_models(&[]).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer tok-old"));
    assert_eq!(reqs[1].header("authorization"), Some("Bearer tok-new"));
    assert_eq!(reqs[1].method, "GET");
    assert_eq!(reqs[1].target, "/v1/models");
    assert_eq!(
        reqs[1].header("x-aipass-oauth-client-id"),
        Some("client-123")
    );
    assert_eq!(
        reqs[1].header("user-agent"),
        Some(concat!("aipass-mcp/", env!("CARGO_PKG_VERSION")))
    );
}

#[tokio::test]
async fn second_unauthorized_is_auth_required() {
    let server = Server::start(vec![
        json_reply(401, json!({"error": {"message": "bad token tok-old"}})),
        json_reply(401, json!({"error": {"message": "bad token tok-new"}})),
    ])
    .await;
    let tokens = RefreshingTokens::new("tok-old", Some("tok-new"));
    let client = client_for(&server, tokens.clone());
    let err = client.chat(&chat_request()).await.unwrap_err();
    assert_eq!(err.code(), "auth_required");
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(server.requests().len(), 2);
    let text = format!("{err} {err:?}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(
        !text.contains("tok-new") && !text.contains("tok-old"),
        "{text}"
    );
}

#[tokio::test]
async fn static_token_rejected_is_auth_required_without_retry() {
    let server = Server::start(vec![json_reply(401, json!({"error": "invalid_token"}))]).await;
    let err = static_client(&server).userinfo().await.unwrap_err();
    assert!(matches!(err, ApiError::AuthRequired { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn missing_token_fails_before_any_request() {
    let server = Server::start(vec![]).await;
    let client = client_for(&server, Arc::new(StaticTokenProvider::new(None)));
    let err = client.list_models(&[]).await.unwrap_err();
    assert_eq!(err.code(), "auth_required");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn multipart_body_is_rebuilt_for_the_retry() {
    let server = Server::start(vec![
        json_reply(401, json!({"error": "invalid_token"})),
        json_reply(
            200,
            json!({"created": 1, "data": [{"url": "https://cdn.example/x.png"}]}),
        ),
    ])
    .await;
    let tokens = RefreshingTokens::new("tok-old", Some("tok-new"));
    let client = client_for(&server, tokens);
    let res = client
        .edit_images(ImageEditRequest {
            model: "fal-ai/nano-banana-2/edit".into(),
            prompt: "Swap hair".into(),
            images: vec![
                upload("target.jpg", "image/jpeg", b"FIRST-IMAGE"),
                upload("reference.jpg", "image/jpeg", b"SECOND-IMAGE"),
            ],
            size: None,
            n: None,
            response_format: Some("url".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        res.data[0].url.as_deref(),
        Some("https://cdn.example/x.png")
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.target, "/v1/images/edits");
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("multipart/form-data; boundary=")
        );
        let body = r.body_text();
        assert_eq!(body.matches("name=\"image\"").count(), 2, "{body}");
        assert!(body.contains("FIRST-IMAGE") && body.contains("SECOND-IMAGE"));
        assert!(body.contains("name=\"response_format\"\r\n\r\nurl"));
    }
}

// ---------- retries ----------

#[tokio::test]
async fn post_500_is_not_retried_and_may_be_charged() {
    let server = Server::start(vec![json_reply(
        500,
        json!({"error": {"message": "provider exploded"}}),
    )])
    .await;
    let err = static_client(&server)
        .chat(&chat_request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Upstream {
                status: 500,
                maybe_charged: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
    let text = err.to_string();
    assert!(text.contains("HTTP 500") && text.contains("provider exploded"));
    assert!(text.contains("may have been charged, so it was not retried automatically"));
}

#[tokio::test]
async fn get_5xx_is_retried_with_backoff() {
    let server = Server::start(vec![
        reply(503, "text/plain", "busy", &[]),
        reply(502, "text/html", "<html>bad gateway</html>", &[]),
        json_reply(200, models()),
    ])
    .await;
    let list = static_client(&server).list_models(&[]).await.unwrap();
    assert_eq!(list[0].id, "gpt-5-mini");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn get_5xx_gives_up_after_two_retries() {
    let server = Server::start(vec![
        reply(503, "text/plain", "busy", &[]),
        reply(503, "text/plain", "busy", &[]),
        reply(503, "text/plain", "still busy", &[]),
    ])
    .await;
    let err = static_client(&server).list_models(&[]).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Upstream {
                status: 503,
                maybe_charged: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("still busy"));
    assert_eq!(server.requests().len(), 3);
}

fn rate_limited(retry_after: Option<&str>) -> Reply {
    let extra: Vec<(&str, &str)> = retry_after
        .map(|v| ("Retry-After", v))
        .into_iter()
        .collect();
    reply(
        429,
        "application/json",
        r#"{"error":{"message":"Too many requests"}}"#,
        &extra,
    )
}

fn client_with_max_wait(server: &Server, max_retry_wait: Duration) -> ApiClient {
    let mut settings = ApiSettings::new(server.base.clone());
    settings.max_retry_wait = max_retry_wait;
    ApiClient::new(
        settings,
        Arc::new(StaticTokenProvider::new(Some("t".into()))),
    )
}

#[tokio::test]
async fn rate_limited_post_waits_and_is_retried() {
    // A 429 was not processed, so even a paid POST may be sent again.
    let server = Server::start(vec![rate_limited(Some("0")), json_reply(200, completion())]).await;
    let r = static_client(&server).chat(&chat_request()).await.unwrap();
    assert_eq!(r.text, "Hello!");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn rate_limit_gives_up_after_two_retries() {
    let server = Server::start(vec![
        rate_limited(Some("0")),
        rate_limited(Some("0")),
        rate_limited(Some("0")),
    ])
    .await;
    let err = static_client(&server).list_models(&[]).await.unwrap_err();
    match &err {
        ApiError::RateLimited {
            retry_after_seconds,
            message,
        } => {
            assert_eq!(*retry_after_seconds, Some(0));
            assert!(message.contains("Too many requests"), "{message}");
            assert!(message.contains("retried 2 times"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_retry_after_over_the_limit_fails_at_once() {
    let server = Server::start(vec![rate_limited(Some("7"))]).await;
    let err = client_with_max_wait(&server, Duration::from_secs(5))
        .chat(&chat_request())
        .await
        .unwrap_err();
    match &err {
        ApiError::RateLimited {
            retry_after_seconds,
            message,
        } => {
            assert_eq!(*retry_after_seconds, Some(7));
            assert!(
                message.contains("wait 7 s") && message.contains("AIPASS_MAX_RETRY_WAIT (5 s)"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("charged"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_zero_max_wait_never_waits() {
    let server = Server::start(vec![rate_limited(None)]).await;
    let err = client_with_max_wait(&server, Duration::ZERO)
        .list_models(&[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rate_limited");
    assert!(err.to_string().contains("Retry a little later"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn dropped_post_is_not_retried() {
    let server = Server::start(vec![Reply::Hangup, json_reply(200, completion())]).await;
    let err = static_client(&server)
        .chat(&chat_request())
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
async fn dropped_get_is_retried() {
    let server = Server::start(vec![Reply::Hangup, json_reply(200, models())]).await;
    assert_eq!(
        static_client(&server).list_models(&[]).await.unwrap().len(),
        2
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn refused_connection_is_not_charged() {
    // Bind and release a port so nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let settings = ApiSettings::new(Url::parse(&format!("http://127.0.0.1:{port}")).unwrap());
    let client = ApiClient::new(
        settings,
        Arc::new(StaticTokenProvider::new(Some("t".into()))),
    );
    let err = client.chat(&chat_request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Network {
                maybe_charged: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("charged"));
}

// ---------- bodies ----------

#[tokio::test]
async fn chat_sends_the_documented_body() {
    let server = Server::start(vec![json_reply(200, completion())]).await;
    let r = static_client(&server).chat(&chat_request()).await.unwrap();
    assert_eq!(r.text, "Hello!");
    assert_eq!(r.usage.unwrap().total_tokens, 5);
    assert!(r.complete);
    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/v1/chat/completions");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 50, "stream": false})
    );
}

#[tokio::test]
async fn html_instead_of_json_is_invalid_response() {
    let server = Server::start(vec![reply(200, "text/html", "<html>login</html>", &[])]).await;
    let err = static_client(&server).list_models(&[]).await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("expected JSON") && text.contains("text/html"),
        "{text}"
    );
}

#[tokio::test]
async fn malformed_json_names_the_endpoint() {
    let server = Server::start(vec![reply(200, "application/json", "{\"data\": [", &[])]).await;
    let err = static_client(&server).list_models(&[]).await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }));
    assert!(err.to_string().contains("GET /v1/models"), "{err}");
}

#[tokio::test]
async fn an_unusable_answer_to_a_paid_post_may_have_been_charged() {
    let server = Server::start(vec![
        reply(200, "application/json", "{\"data\": [", &[]),
        reply(200, "application/json", "{\"data\": [", &[]),
    ])
    .await;
    let client = static_client(&server);
    let err = client.chat(&chat_request()).await.unwrap_err();
    assert!(err.maybe_charged(), "{err:?}");
    assert!(err.to_string().contains("may have been charged"), "{err}");
    // The same answer to a free GET says nothing about charges.
    let err = client.list_models(&[]).await.unwrap_err();
    assert!(!err.maybe_charged(), "{err:?}");
    assert_eq!(server.requests().len(), 2, "neither was retried");
}

#[tokio::test]
async fn bodies_over_the_cap_fail() {
    let big = "x".repeat(1000);
    let server = Server::start(vec![
        reply(200, "audio/mpeg", &big, &[]),
        chunked_then_drop("audio/mpeg", &[&big]),
    ])
    .await;
    let mut settings = ApiSettings::new(server.base.clone());
    settings.max_response_bytes = 100;
    let client = ApiClient::new(
        settings,
        Arc::new(StaticTokenProvider::new(Some("t".into()))),
    );
    let speech = SpeechRequest {
        model: "tts-1".into(),
        input: "hi".into(),
        voice: "nova".into(),
        response_format: None,
    };
    // Content-Length says too much: refused up front.
    let err = client.speech(&speech).await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("1000 bytes"), "{err}");
    // No Content-Length: cut while streaming.
    let err = client.speech(&speech).await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn speech_returns_bytes_and_rejects_json() {
    let server = Server::start(vec![
        reply(200, "audio/mpeg", "ID3-AUDIO", &[]),
        json_reply(200, json!({"error": {"message": "voice unknown"}})),
    ])
    .await;
    let client = static_client(&server);
    let req = SpeechRequest {
        model: "tts-1".into(),
        input: "Hello world".into(),
        voice: "nova".into(),
        response_format: Some("mp3".into()),
    };
    let audio = client.speech(&req).await.unwrap();
    assert_eq!(audio.bytes, b"ID3-AUDIO");
    assert_eq!(audio.content_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(
        server.requests()[0].json(),
        json!({"model": "tts-1", "input": "Hello world", "voice": "nova", "response_format": "mp3"})
    );
    let err = client.speech(&req).await.unwrap_err();
    assert!(err.to_string().contains("voice unknown"), "{err}");
}

#[tokio::test]
async fn budget_error_maps() {
    let server = Server::start(vec![json_reply(
        402,
        json!({"error": {"message": "Budget exceeded", "type": "budget_exceeded"}}),
    )])
    .await;
    let err = static_client(&server)
        .generate_images(&ImageGenerationRequest {
            model: "imagen4/preview/ultra".into(),
            prompt: "city".into(),
            size: None,
            n: None,
            response_format: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "budget_exceeded");
    assert!(err.to_string().contains("HTTP 402"));
}

#[tokio::test]
async fn usage_summary_is_unwrapped() {
    let server = Server::start(vec![
        json_reply(
            200,
            json!({"success": true, "data": {"totalCost": 2.45, "maxBudget": 10.0, "remainingBudget": 7.55}}),
        ),
        json_reply(200, json!({"success": false, "message": "no budget set"})),
    ])
    .await;
    let client = static_client(&server);
    let s = client.usage_summary().await.unwrap();
    assert_eq!(s.remaining_budget, Some(7.55));
    assert_eq!(server.requests()[0].target, "/api/v1/usage/me/summary");
    let err = client.usage_summary().await.unwrap_err();
    assert!(err.to_string().contains("no budget set"), "{err}");
}

#[tokio::test]
async fn model_ids_keep_their_slashes() {
    let server = Server::start(vec![
        json_reply(200, json!({"id": "fal-ai/nano banana/edit"})),
        json_reply(
            404,
            json!({"error": {"message": "Model not found", "code": "model_not_found"}}),
        ),
    ])
    .await;
    let client = static_client(&server);
    let m = client.get_model("fal-ai/nano banana/edit").await.unwrap();
    assert_eq!(m.id, "fal-ai/nano banana/edit");
    assert_eq!(
        server.requests()[0].target,
        "/v1/models/fal-ai/nano%20banana/edit"
    );
    let err = client.get_model("gpt-9").await.unwrap_err();
    assert_eq!(err.code(), "model_not_found");
}

#[tokio::test]
async fn video_endpoints_use_their_paths() {
    let job = json!({"id": "video_1", "status": "queued", "progress": 0});
    let server = Server::start(vec![
        json_reply(200, job.clone()),
        json_reply(
            200,
            json!({"id": "video_1", "status": "completed", "progress": 100}),
        ),
        reply(200, "video/mp4", "MP4DATA", &[]),
        json_reply(200, job),
    ])
    .await;
    let client = static_client(&server);
    let created = client
        .create_video(&VideoRequest {
            model: "sora-2".into(),
            prompt: "waves".into(),
            seconds: Some("4".into()),
            size: None,
        })
        .await
        .unwrap();
    assert_eq!(created.status, "queued");
    assert_eq!(
        client.get_video("video_1").await.unwrap().progress,
        Some(100.0)
    );
    assert_eq!(
        client.video_content("video_1").await.unwrap().bytes,
        b"MP4DATA"
    );
    client.remix_video("video_1", "at night").await.unwrap();
    let targets: Vec<_> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        targets,
        [
            "POST /v1/videos",
            "GET /v1/videos/video_1",
            "GET /v1/videos/video_1/content",
            "POST /v1/videos/video_1/remix"
        ]
    );
    assert_eq!(server.requests()[3].json(), json!({"prompt": "at night"}));
}

#[tokio::test]
async fn transcription_and_embeddings() {
    let server = Server::start(vec![
        json_reply(200, json!({"text": "hello there", "language": "en"})),
        json_reply(
            200,
            json!({"object": "list", "model": "text-embedding-3-small", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}], "usage": {"prompt_tokens": 2}}),
        ),
    ])
    .await;
    let client = static_client(&server);
    let t = client
        .transcribe(TranscriptionRequest {
            model: "whisper-1".into(),
            file: upload("a.mp3", "audio/mpeg", b"ID3"),
            language: Some("en".into()),
        })
        .await
        .unwrap();
    assert_eq!(t.text, "hello there");
    let body = server.requests()[0].body_text();
    assert!(body.contains("name=\"file\"; filename=\"a.mp3\""));
    let e = client
        .embeddings(&EmbeddingRequest {
            model: "text-embedding-3-small".into(),
            input: EmbeddingInput::One("hi".into()),
        })
        .await
        .unwrap();
    assert_eq!(e.data[0].embedding, vec![0.1, -0.2]);
}

// ---------- streaming ----------

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
    assert_eq!(err.code(), "budget_exceeded");
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

// ---------- revoke and downloads ----------

#[tokio::test]
async fn download_sends_the_token_only_to_the_api_origin() {
    let api = Server::start(vec![reply(200, "image/png", "PNG-1", &[])]).await;
    let cdn = Server::start(vec![reply(200, "image/png", "PNG-2", &[])]).await;
    let client = static_client(&api);
    let own = api.base.join("/files/a.png").unwrap();
    let foreign = cdn.base.join("/b.png?sig=abc").unwrap();
    let a = client.download(own.as_str()).await.unwrap();
    let b = client.download(foreign.as_str()).await.unwrap();
    assert_eq!(
        (a.bytes.as_slice(), b.bytes.as_slice()),
        (&b"PNG-1"[..], &b"PNG-2"[..])
    );
    assert_eq!(
        api.requests()[0].header("authorization"),
        Some("Bearer tok-static")
    );
    assert_eq!(cdn.requests()[0].header("authorization"), None);
    assert_eq!(cdn.requests()[0].header("x-aipass-oauth-client-id"), None);
    assert_eq!(cdn.requests()[0].target, "/b.png?sig=abc");
    for bad in ["file:///etc/passwd", "ftp://x/y.png", "not a url"] {
        assert_eq!(
            client.download(bad).await.unwrap_err().code(),
            "invalid_input"
        );
    }
}

// ---------- the futures can cross threads (rmcp handlers need Send) ----------

#[test]
fn client_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = ApiClient::new(
        ApiSettings::new(Url::parse("http://127.0.0.1:9").unwrap()),
        Arc::new(StaticTokenProvider::new(None)),
    );
    let req = chat_request();
    let mut sink = |_: &str| {};
    assert_send(&client.chat_stream(&req, &mut sink));
    assert_send(&client.list_models(&[]));
    assert_send(&client.edit_images(ImageEditRequest {
        model: "m".into(),
        prompt: "p".into(),
        images: vec![],
        size: None,
        n: None,
        response_format: None,
    }));
    assert_send(&client.download("http://x"));
}
