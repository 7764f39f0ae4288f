//! A guard in front of rmcp's stdio transport: until the client's first request arrives, stray
//! notifications and responses are dropped, because rmcp's `serve()` gives up (and the process
//! would exit) when the first message is not a request.

use std::borrow::Cow;

use rmcp::RoleServer;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;

pub struct TolerantTransport<T> {
    inner: T,
    seen_request: bool,
}

impl<T> TolerantTransport<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            seen_request: false,
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
            if self.seen_request || matches!(message, RxJsonRpcMessage::<RoleServer>::Request(_)) {
                self.seen_request = true;
                return Some(message);
            }
            tracing::debug!("ignoring a message that is not a request before initialization");
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
