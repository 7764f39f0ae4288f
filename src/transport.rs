//! A guard in front of rmcp's stdio transport. Until the session begins (an `initialize`
//! request, or a 2026-era request carrying complete inline metadata), rmcp's `serve()` gives up
//! (and the process would exit) on any message that is not a request, even after a pre-session
//! `ping` or `server/discover`. So until then the guard drops stray notifications and responses.
//!
//! On the way out it writes a `tools/list` answer of the cached catalogue with the tools'
//! bytes serialised once (`tools_list`); every other message goes through rmcp's writer. Both
//! write one whole line at a time to the same [`SharedWriter`].

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::future::Either;
use rmcp::RoleServer;
use rmcp::model::{ClientRequest, GetMeta, JsonRpcMessage, ProtocolVersion, ServerResult};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub struct TolerantTransport<T, W> {
    inner: T,
    /// The protocol versions the server accepts for 2026-era requests without `initialize`.
    supported: Vec<ProtocolVersion>,
    session_begun: bool,
    /// The writer under `inner`'s, for the lines this guard writes itself.
    out: Arc<Mutex<W>>,
}

impl<T, W> TolerantTransport<T, W> {
    /// `out` must be the writer `inner` writes to ([`SharedWriter::handle`]).
    pub fn new(inner: T, supported: Vec<ProtocolVersion>, out: Arc<Mutex<W>>) -> Self {
        Self {
            inner,
            supported,
            session_begun: false,
            out,
        }
    }

    /// Whether rmcp will start the session on this message (mirrors `serve_server`'s checks).
    fn begins_session(&self, message: &RxJsonRpcMessage<RoleServer>) -> bool {
        let RxJsonRpcMessage::<RoleServer>::Request(request) = message else {
            return false;
        };
        match &request.request {
            ClientRequest::InitializeRequest(_) => true,
            ClientRequest::PingRequest(_) | ClientRequest::DiscoverRequest(_) => false,
            other => {
                let meta = other.get_meta();
                meta.missing_required_keys(&ProtocolVersion::V_2026_07_28)
                    .is_empty()
                    && meta
                        .protocol_version()
                        .is_some_and(|version| self.supported.contains(&version))
            }
        }
    }
}

impl<T, W> Transport<RoleServer> for TolerantTransport<T, W>
where
    T: Transport<RoleServer, Error = io::Error>,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = io::Error;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        match cached_tools_line(item) {
            Ok(line) => {
                let out = self.out.clone();
                Either::Left(async move {
                    let mut out = out.lock_owned().await;
                    out.write_all(&line).await?;
                    out.flush().await
                })
            }
            Err(item) => Either::Right(self.inner.send(*item)),
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let message = self.inner.receive().await?;
            if self.session_begun {
                return Some(message);
            }
            if self.begins_session(&message) {
                self.session_begun = true;
                return Some(message);
            }
            if matches!(message, RxJsonRpcMessage::<RoleServer>::Request(_)) {
                // Pre-session requests (ping, discover, ones missing metadata) get answered.
                return Some(message);
            }
            tracing::debug!("ignoring a message that is not a request before the session began");
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

/// The line rmcp would write for a `tools/list` answer of a cached catalogue, made from the
/// envelope (id, result type, cache hints) and the tools' bytes serialised once; any other
/// message comes back unchanged.
fn cached_tools_line(
    item: TxJsonRpcMessage<RoleServer>,
) -> Result<Vec<u8>, Box<TxJsonRpcMessage<RoleServer>>> {
    let JsonRpcMessage::Response(mut response) = item else {
        return Err(Box::new(item));
    };
    let ServerResult::ListToolsResult(result) = &mut response.result else {
        return Err(Box::new(JsonRpcMessage::Response(response)));
    };
    let Some(tools_json) = crate::tools_list::serialised(&result.tools) else {
        return Err(Box::new(JsonRpcMessage::Response(response)));
    };
    let tools = std::mem::take(&mut result.tools);
    let message = JsonRpcMessage::Response(response);
    // Strings are escaped, so the empty array's key can only be the `tools` field.
    const EMPTY: &[u8] = br#""tools":[]"#;
    let spliced = serde_json::to_vec(&message).ok().and_then(|envelope| {
        let at = envelope.windows(EMPTY.len()).rposition(|w| w == EMPTY)?;
        let mut line = Vec::with_capacity(envelope.len() + tools_json.len() + 1);
        line.extend_from_slice(&envelope[..at + EMPTY.len() - 2]);
        line.extend_from_slice(tools_json);
        line.extend_from_slice(&envelope[at + EMPTY.len()..]);
        line.push(b'\n');
        Some(line)
    });
    spliced.ok_or_else(|| {
        let mut message = message;
        if let JsonRpcMessage::Response(response) = &mut message
            && let ServerResult::ListToolsResult(result) = &mut response.result
        {
            result.tools = tools;
        }
        Box::new(message)
    })
}

/// An `AsyncWrite` over a writer shared with [`TolerantTransport`]: it takes the lock at the
/// first write of a message and lets go once rmcp flushes it (rmcp's writer flushes after each
/// message), so lines from the two writers never interleave.
pub struct SharedWriter<W> {
    shared: Arc<Mutex<W>>,
    locking: Option<Pin<Box<dyn Future<Output = OwnedMutexGuard<W>> + Send>>>,
    held: Option<OwnedMutexGuard<W>>,
}

impl<W: AsyncWrite + Unpin + Send + 'static> SharedWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            shared: Arc::new(Mutex::new(out)),
            locking: None,
            held: None,
        }
    }

    /// The shared writer, for [`TolerantTransport::new`].
    pub fn handle(&self) -> Arc<Mutex<W>> {
        self.shared.clone()
    }

    fn poll_lock(&mut self, cx: &mut Context<'_>) -> Poll<&mut W> {
        if self.held.is_none() {
            let shared = &self.shared;
            let locking = self
                .locking
                .get_or_insert_with(|| Box::pin(shared.clone().lock_owned()));
            let guard = ready!(locking.as_mut().poll(cx));
            self.locking = None;
            self.held = Some(guard);
        }
        Poll::Ready(self.held.as_deref_mut().expect("held just above"))
    }

    /// Lets go of the lock after an error, so that a failed message cannot block the other
    /// writer for good.
    fn release_on_error<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if result.is_err() {
            self.held = None;
        }
        result
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> AsyncWrite for SharedWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let out = ready!(this.poll_lock(cx));
        let written = ready!(Pin::new(out).poll_write(cx, buf));
        Poll::Ready(this.release_on_error(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(out) = this.held.as_deref_mut() else {
            // Nothing written since the last flush: every earlier line is out already.
            return Poll::Ready(Ok(()));
        };
        let flushed = ready!(Pin::new(out).poll_flush(cx));
        this.held = None;
        Poll::Ready(flushed)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let out = ready!(this.poll_lock(cx));
        let shut = ready!(Pin::new(out).poll_shutdown(cx));
        this.held = None;
        Poll::Ready(shut)
    }
}
