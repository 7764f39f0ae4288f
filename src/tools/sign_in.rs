//! Sign-in through URL-mode elicitation (2025-11-25 era, clients that declare
//! `capabilities.elicitation.url`): the host is asked once per pending sign-in to open the short
//! link on the loopback listener, however many tool calls wait on that sign-in. Declining ends
//! those calls with `auth_required` at once; a client that cannot be asked, or a request that
//! fails, leaves the usual path: progress messages with the link, then `auth_required`.

use crate::error::ErrorCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::RoleServer;
use rmcp::model::{CustomNotification, ElicitationAction, ServerNotification};
use rmcp::service::{Peer, RequestContext};
use tokio::sync::watch;

use super::ToolError;
use crate::auth::session::SignInStatus;

/// What the host shows next to the link.
const MESSAGE: &str = "Sign in to AI Pass so aipass-mcp can use your account: open the link, \
approve access on the AI Pass page, then come back here.";
/// Sent when the sign-in the elicitation asked for has completed (not yet a type in rmcp).
const COMPLETE_METHOD: &str = "notifications/elicitation/complete";

/// The elicitation of the sign-in now pending (one process serves one client over stdio).
static PROMPT: Mutex<Option<Prompt>> = Mutex::new(None);
/// Numbers the elicitation ids: `aipass-sign-in-1`, `-2`, ...
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Prompt {
    /// The sign-in it asks for (its authorize URL, unique per sign-in; kept in memory only).
    sign_in: String,
    answer: watch::Receiver<Answer>,
}

/// Where one elicitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Pending,
    /// The host opened (or will open) the link: keep waiting for the browser.
    Accepted,
    /// Declined or cancelled: the calls waiting on it give up now.
    Refused,
}

/// Resolves only when the user declines (or cancels) the sign-in elicitation of the call's
/// pending sign-in, with the `auth_required` error to return; otherwise it never resolves.
pub async fn declined(
    context: &RequestContext<RoleServer>,
    status: Option<watch::Receiver<SignInStatus>>,
) -> ToolError {
    let Some(mut status) = status.filter(|_| can_elicit(context)) else {
        return std::future::pending().await;
    };
    loop {
        let waiting = match &*status.borrow_and_update() {
            SignInStatus::Waiting {
                url, authorize_url, ..
            } => Some((url.clone(), authorize_url.clone())),
            _ => None,
        };
        if let Some((link, sign_in)) = waiting {
            let mut answer = shared_prompt(&context.peer, &link, &sign_in, status.clone());
            let refused = async { answer.wait_for(|a| *a == Answer::Refused).await.is_ok() };
            tokio::select! {
                true = refused => return declined_error(&link),
                changed = status.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                    continue;
                }
            }
        }
        if status.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Only the 2025-11-25 era has server-to-client requests, and only a client that declared URL
/// mode may get one.
fn can_elicit(context: &RequestContext<RoleServer>) -> bool {
    let era_allows = context
        .protocol_version()
        .is_some_and(|v| v.has_initialize());
    let declared = context
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.url.is_some());
    era_allows && declared
}

/// The answer of this sign-in's elicitation, sending it first if no call has yet (or if the
/// last one was declined: a new call asks again).
fn shared_prompt(
    peer: &Peer<RoleServer>,
    link: &str,
    sign_in: &str,
    status: watch::Receiver<SignInStatus>,
) -> watch::Receiver<Answer> {
    let mut slot = PROMPT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(prompt) = slot.as_ref()
        && prompt.sign_in == sign_in
        && *prompt.answer.borrow() != Answer::Refused
    {
        return prompt.answer.clone();
    }
    let id = format!("aipass-sign-in-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let (tx, rx) = watch::channel(Answer::Pending);
    *slot = Some(Prompt {
        sign_in: sign_in.to_owned(),
        answer: rx.clone(),
    });
    tokio::spawn(elicit(
        peer.clone(),
        link.to_owned(),
        sign_in.to_owned(),
        id,
        tx,
        status,
    ));
    rx
}

/// Sends the elicitation and publishes the answer; once the sign-in has completed, tells the
/// client with `notifications/elicitation/complete`. A failed request only logs: the calls go
/// on waiting as if no client could be asked.
async fn elicit(
    peer: Peer<RoleServer>,
    link: String,
    sign_in: String,
    id: String,
    answer: watch::Sender<Answer>,
    mut status: watch::Receiver<SignInStatus>,
) {
    let Ok(url) = url::Url::parse(&link) else {
        tracing::debug!("the sign-in link {link} is not a URL; not asking the client");
        return;
    };
    tracing::info!("asking the client to open the sign-in link {link} ({id})");
    let request = peer.elicit_url(MESSAGE, url, id.clone());
    tokio::pin!(request);
    let ended = async {
        status
            .wait_for(|s| !matches!(s, SignInStatus::Waiting { authorize_url, .. } if *authorize_url == sign_in))
            .await
            .is_ok_and(|s| *s == SignInStatus::SignedIn)
    };
    tokio::pin!(ended);
    let mut answered = false;
    let signed_in = loop {
        tokio::select! {
            result = &mut request, if !answered => {
                answered = true;
                match result {
                    Ok(ElicitationAction::Accept) => {
                        tracing::debug!("the client accepted the sign-in link ({id})");
                        answer.send_replace(Answer::Accepted);
                    }
                    Ok(action) => {
                        tracing::info!("the user did not open the sign-in link ({action:?}); the waiting calls answer auth_required");
                        answer.send_replace(Answer::Refused);
                        return;
                    }
                    Err(e) => {
                        tracing::debug!("the sign-in elicitation failed ({e}); progress messages carry the link instead");
                        return;
                    }
                }
            }
            signed_in = &mut ended => break signed_in,
        }
    };
    if signed_in {
        let complete = CustomNotification::new(
            COMPLETE_METHOD,
            Some(serde_json::json!({ "elicitationId": id })),
        );
        if let Err(e) = peer
            .send_notification(ServerNotification::CustomNotification(complete))
            .await
        {
            tracing::debug!("{COMPLETE_METHOD} not sent: {e}");
        }
    }
}

fn declined_error(link: &str) -> ToolError {
    ToolError {
        code: ErrorCode::AuthRequired,
        message: format!(
            "AI Pass sign-in was declined, so this call did not run. To sign in, run `aipass-mcp login` \
             in a terminal, or open {link} in a browser and approve access, then call this tool again; \
             or set AIPASS_ACCESS_TOKEN to an AI Pass access token to skip browser sign-in."
        ),
    }
}
