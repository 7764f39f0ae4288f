//! Progress notifications for slow tool calls (sent only when the request carries a token).

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::RequestContext;

/// Reports increasing progress with a human message to the client that asked for it.
pub struct Progress {
    context: RequestContext<RoleServer>,
    token: Option<ProgressToken>,
    step: f64,
}

impl Progress {
    pub fn new(context: &RequestContext<RoleServer>) -> Self {
        Self {
            token: context.meta.get_progress_token(),
            context: context.clone(),
            step: 0.0,
        }
    }

    /// Sends the next step; `total` is given when the work's size is known.
    pub async fn report(&mut self, message: impl Into<String>, total: Option<f64>) {
        let Some(token) = self.token.clone() else {
            return;
        };
        self.step += 1.0;
        let mut param = ProgressNotificationParam::new(token, self.step).with_message(message);
        if let Some(total) = total {
            param = param.with_total(total.max(self.step));
        }
        if let Err(e) = self.context.peer.notify_progress(param).await {
            tracing::debug!("progress notification not sent: {e}");
        }
    }
}
