//! Client tests against a canned local HTTP server (plain tokio TCP), by topic: auth refresh,
//! retries, bodies, streaming, downloads, and the serde types. This file holds the canned
//! server and the fixtures they share.

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

mod auth;
mod bodies;
mod downloads;
mod errors;
mod retries;
mod streaming;
mod types;

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
        bytes: bytes.to_vec().into(),
        file_name: name.into(),
        mime_type: mime.into(),
    }
}
