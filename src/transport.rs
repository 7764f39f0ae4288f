//! A guard in front of rmcp's stdio transport. Until the session begins (an `initialize`
//! request, or a 2026-era request carrying complete inline metadata), rmcp's `serve()` gives up
//! (and the process would exit) on any message that is not a request, even after a pre-session
//! `ping` or `server/discover`. So until then the guard drops stray notifications and responses.

use std::borrow::Cow;

use rmcp::RoleServer;
use rmcp::model::{ClientRequest, GetMeta, ProtocolVersion};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;

pub struct TolerantTransport<T> {
    inner: T,
    /// The protocol versions the server accepts for 2026-era requests without `initialize`.
    supported: Vec<ProtocolVersion>,
    session_begun: bool,
}

impl<T> TolerantTransport<T> {
    pub fn new(inner: T, supported: Vec<ProtocolVersion>) -> Self {
        Self {
            inner,
            supported,
            session_begun: false,
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

impl<T: Transport<RoleServer>> Transport<RoleServer> for TolerantTransport<T> {
    type Error = T::Error;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
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
