//! A cap on stdin lines that still answers: a line longer than the cap is cut off and the rest
//! of it skipped as it streams in (never buffered), and in its place the server receives a small
//! `aipass/message_too_large` request carrying the original id, when the first bytes of the line
//! showed one, so the client gets a clear error instead of waiting for an answer forever.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::Value;
use tokio::io::{AsyncRead, ReadBuf};

/// Longest JSON-RPC line read from stdin: room for the largest input (a 20 MiB image as a
/// base64 data URI is ~27 MiB), but bounded, so a runaway client cannot exhaust memory.
pub const MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;

/// The method of the request that stands in for a dropped oversized line.
pub const TOO_LARGE_METHOD: &str = "aipass/message_too_large";

/// How much of a line's start is kept to find its id.
const PREFIX_BYTES: usize = 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;

pub struct LineCap<R> {
    inner: R,
    max: usize,
    /// Bytes of the current line seen so far (forwarded or skipped).
    line_len: u64,
    /// The start of the current line, to find its id in.
    prefix: Vec<u8>,
    /// Past the cap: skipping the rest of the current line.
    skipping: bool,
    /// Bytes ready for the reader.
    ready: VecDeque<u8>,
    chunk: Box<[u8]>,
}

impl<R> LineCap<R> {
    /// Lines longer than `max` bytes (without the newline) are replaced.
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            line_len: 0,
            prefix: Vec::new(),
            skipping: false,
            ready: VecDeque::new(),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }

    /// Moves `bytes` through the cap into `ready`.
    fn take(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|b| *b == b'\n');
            let body = &bytes[..newline.unwrap_or(bytes.len())];
            if !self.skipping {
                let room = self.max as u64 - self.line_len.min(self.max as u64);
                let forward = body.len().min(room as usize);
                self.ready.extend(&body[..forward]);
                let keep = forward.min(PREFIX_BYTES.saturating_sub(self.prefix.len()));
                self.prefix.extend_from_slice(&body[..keep]);
                if body.len() > forward {
                    // Over the cap: end the cut line here (it will not parse) and skip the rest.
                    self.ready.push_back(b'\n');
                    self.skipping = true;
                }
            }
            self.line_len += body.len() as u64;
            let Some(at) = newline else {
                return;
            };
            if self.skipping {
                self.stand_in();
            } else {
                self.ready.push_back(b'\n');
            }
            self.line_len = 0;
            self.prefix.clear();
            self.skipping = false;
            bytes = &bytes[at + 1..];
        }
    }

    /// Queues the request that stands in for the oversized line that just ended.
    fn stand_in(&mut self) {
        tracing::warn!(
            bytes = self.line_len,
            limit = self.max,
            "dropped a message over the size limit"
        );
        let Some(id) = leading_id(&self.prefix) else {
            return;
        };
        let request = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": TOO_LARGE_METHOD,
            "params": {"bytes": self.line_len, "limit": self.max},
        });
        self.ready.extend(request.to_string().as_bytes());
        self.ready.push_back(b'\n');
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LineCap<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = out.remaining().min(this.ready.len());
                let (front, back) = this.ready.as_slices();
                let from_front = n.min(front.len());
                out.put_slice(&front[..from_front]);
                out.put_slice(&back[..n - from_front]);
                this.ready.drain(..n);
                return Poll::Ready(Ok(()));
            }
            let mut chunk = std::mem::take(&mut this.chunk);
            let mut read = ReadBuf::new(&mut chunk);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut read);
            let filled = read.filled().len();
            let outcome = match polled {
                Poll::Ready(Ok(())) if filled == 0 => Some(Poll::Ready(Ok(()))),
                Poll::Ready(Ok(())) => {
                    this.take(&chunk[..filled]);
                    None
                }
                other => Some(other),
            };
            this.chunk = chunk;
            if let Some(poll) = outcome {
                return poll;
            }
        }
    }
}

/// The top-level `"id"` of a JSON object whose text may be cut off, when it is a number or a
/// string and appears within `prefix`.
fn leading_id(prefix: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(prefix);
    let mut chars = text.char_indices().peekable();
    let mut depth = 0usize;
    // The last string read at depth 1 that could be a key.
    let mut key: Option<(usize, usize)> = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '{' | '[' => {
                depth += 1;
                key = None;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                key = None;
            }
            '"' => {
                let start = i;
                let mut end = None;
                while let Some((j, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => {
                            end = Some(j + 1);
                            break;
                        }
                        _ => {}
                    }
                }
                key = end.filter(|_| depth == 1).map(|end| (start, end));
            }
            ':' if depth == 1 => {
                let is_id = key.is_some_and(|(s, e)| &text[s..e] == "\"id\"");
                key = None;
                if is_id {
                    return value_at(&text[i + 1..]);
                }
            }
            _ => {}
        }
    }
    None
}

/// A JSON number or string at the start of `rest` (after whitespace).
fn value_at(rest: &str) -> Option<Value> {
    let rest = rest.trim_start();
    let end = if rest.starts_with('"') {
        let mut escaped = false;
        rest.char_indices().skip(1).find_map(|(i, c)| {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                return Some(i + 1);
            }
            None
        })?
    } else {
        rest.find(|c: char| !(c.is_ascii_digit() || "-+.eE".contains(c)))?
    };
    match serde_json::from_str::<Value>(&rest[..end]).ok()? {
        id @ (Value::Number(_) | Value::String(_)) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::AsyncReadExt;

    async fn through(input: &[u8], max: usize) -> String {
        let mut out = String::new();
        LineCap::new(input, max)
            .read_to_string(&mut out)
            .await
            .unwrap();
        out
    }

    #[tokio::test]
    async fn short_lines_pass_unchanged() {
        let input = b"{\"a\":1}\nsecond\n\nthird";
        assert_eq!(through(input, 10).await, "{\"a\":1}\nsecond\n\nthird");
    }

    #[tokio::test]
    async fn a_long_line_is_cut_and_replaced_by_a_request_with_its_id() {
        let long = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/call\",\"params\":\"{}\"}}\nnext\n",
            "x".repeat(500)
        );
        let out = through(long.as_bytes(), 100).await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0].len(), 100);
        let stand_in: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(stand_in["id"], 42);
        assert_eq!(stand_in["method"], TOO_LARGE_METHOD);
        assert_eq!(
            stand_in["params"]["bytes"],
            long.lines().next().unwrap().len()
        );
        assert_eq!(lines[2], "next");
    }

    #[tokio::test]
    async fn a_long_line_without_an_id_is_only_dropped() {
        let out = through(format!("{}\nok\n", "y".repeat(300)).as_bytes(), 100).await;
        assert_eq!(out, format!("{}\nok\n", "y".repeat(100)));
    }

    #[test]
    fn ids_are_found_at_the_top_level_only() {
        assert_eq!(leading_id(br#"{"jsonrpc":"2.0","id":7,"#), Some(json!(7)));
        assert_eq!(leading_id(br#"{ "id" : "a\"b", "x"#), Some(json!("a\"b")));
        assert_eq!(
            leading_id(br#"{"params":{"id":1},"method":"x","id":-3,"#),
            Some(json!(-3))
        );
        assert_eq!(leading_id(br#"{"params":{"id":1},"method":"#), None);
        assert_eq!(leading_id(br#"{"id":{"x":1},"#), None);
        assert_eq!(leading_id(br#"{"note":"\"id\":5","#), None);
        assert_eq!(
            leading_id(br#"{"id":12"#),
            None,
            "a cut-off number is not trusted"
        );
    }
}
