//! Progress notifications for slow tool calls (sent only when the request carries a token)
//! and cancellation of the work behind them.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::RequestContext;

use super::sign_in;
use crate::auth::session::SignInStatus;
use crate::error::{ErrorCode, ToolError, ToolResult};
use crate::{file_scope, media, saved_files};
use tokio::sync::watch;

/// What a tool body may use of its call: the request (cancellation), its progress reporter
/// (shared with the ticks, so steps keep increasing) and its activity (streamed characters).
#[derive(Clone)]
pub struct CallScope {
    pub context: RequestContext<RoleServer>,
    pub progress: Progress,
    pub activity: Arc<Activity>,
}

/// Reports increasing progress with a human message to the client that asked for it. Clones
/// share one step count, so the call's ticks and its tool's own reports keep increasing.
#[derive(Clone)]
pub struct Progress {
    context: RequestContext<RoleServer>,
    token: Option<ProgressToken>,
    step: Arc<AtomicU32>,
}

impl Progress {
    pub fn new(context: &RequestContext<RoleServer>) -> Self {
        Self {
            token: context.meta.get_progress_token(),
            context: context.clone(),
            step: Arc::default(),
        }
    }

    /// Sends the next step; `total` is given when the work's size is known.
    pub async fn report(&self, message: impl Into<String>, total: Option<f64>) {
        let Some(token) = self.token.clone() else {
            return;
        };
        let step = f64::from(self.step.fetch_add(1, Ordering::Relaxed) + 1);
        let mut param = ProgressNotificationParam::new(token, step).with_message(message);
        if let Some(total) = total {
            param = param.with_total(total.max(step));
        }
        if let Err(e) = self.context.peer.notify_progress(param).await {
            tracing::debug!("progress notification not sent: {e}");
        }
    }
}

/// Runs a tool's work while keeping the client informed and honouring cancellation:
/// a progress message every few seconds (when the request carries a progress token), and
/// on `notifications/cancelled` the work is dropped at once, which closes its upstream
/// HTTP connection.
pub(super) async fn supervise<T>(
    scope: &CallScope,
    work: impl Future<Output = ToolResult<T>>,
) -> ToolResult<T> {
    let context = &scope.context;
    let activity = &scope.activity;
    let roots = client_roots(context).await;
    let allowed = file_scope::for_call(&roots, &activity.always_allowed);
    let work = file_scope::ALLOWED_FOLDERS.scope(allowed, work);
    let work = media::CLIENT_ROOT.scope(roots.into_iter().next(), work);
    // Files a failed or cancelled call saved are removed (all or nothing).
    let work = saved_files::all_or_nothing(work);
    let started = Instant::now();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_TICK, TICK);
    let declined = sign_in::declined(context, activity.sign_in.clone());
    tokio::pin!(work, declined);
    loop {
        tokio::select! {
            outcome = &mut work => return outcome,
            _ = context.ct.cancelled() => {
                return Err(ToolError::new(
                    ErrorCode::Cancelled,
                    "the call was cancelled; nothing was saved",
                ));
            }
            refusal = &mut declined => return Err(refusal),
            _ = ticker.tick() => {
                scope.progress.report(activity.describe(started.elapsed()), None).await;
            }
        }
    }
}

/// The roots the client lists, as local folders (2025-11-25 era, clients that declare roots);
/// relative paths in this call resolve against the first, and files are confined to them.
#[allow(deprecated)] // roots are deprecated by SEP-2577 but still what hosts send in this era
async fn client_roots(context: &RequestContext<RoleServer>) -> Vec<PathBuf> {
    let era_allows = context
        .protocol_version()
        .is_some_and(|v| v.has_initialize());
    let declared = context
        .client_capabilities()
        .is_some_and(|c| c.roots.is_some());
    if !era_allows || !declared {
        return Vec::new();
    }
    let roots = tokio::time::timeout(ROOTS_TIMEOUT, context.peer.list_roots()).await;
    let Ok(Ok(roots)) = roots else {
        return Vec::new();
    };
    roots
        .roots
        .iter()
        .filter_map(|root| url::Url::parse(&root.uri).ok()?.to_file_path().ok())
        .collect()
}

/// A client that declares roots but does not answer must not hold up the call.
const ROOTS_TIMEOUT: Duration = Duration::from_secs(2);

/// First progress message after this long, then one every `TICK` (hosts want one at least
/// every 5 s to keep a call alive).
const FIRST_TICK: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_secs(3);

/// What a running tool call is doing, for its progress messages.
pub struct Activity {
    label: Cow<'static, str>,
    characters: AtomicUsize,
    sign_in: Option<watch::Receiver<SignInStatus>>,
    /// Folders the call may use besides the client's roots (see [`file_scope`]).
    always_allowed: Arc<Vec<PathBuf>>,
}

impl Activity {
    /// `sign_in` is the session's sign-in status, when the server signs users in itself.
    pub fn new(label: Cow<'static, str>, sign_in: Option<watch::Receiver<SignInStatus>>) -> Self {
        Self {
            label,
            characters: AtomicUsize::new(0),
            sign_in,
            always_allowed: Arc::default(),
        }
    }

    /// Folders the call may use besides the client's roots: the default output folder and
    /// `AIPASS_ALLOWED_DIRS`.
    pub fn with_folders(mut self, folders: Arc<Vec<PathBuf>>) -> Self {
        self.always_allowed = folders;
        self
    }

    /// Counts streamed text as it arrives.
    pub fn add_characters(&self, count: usize) {
        self.characters.fetch_add(count, Ordering::Relaxed);
    }

    fn describe(&self, elapsed: Duration) -> String {
        let seconds = elapsed.as_secs();
        let waiting_at = self
            .sign_in
            .as_ref()
            .and_then(|status| match &*status.borrow() {
                SignInStatus::Waiting { url, .. } => Some(url.clone()),
                SignInStatus::WaitingForOtherProcess { url } => url.clone(),
                _ => None,
            });
        if let Some(url) = waiting_at {
            return format!(
                "{}: waiting for you to sign in to AI Pass at {url} ({seconds} s)",
                self.label
            );
        }
        match self.characters.load(Ordering::Relaxed) {
            0 => format!("{}: waiting for AI Pass ({seconds} s)", self.label),
            n => format!("{}: {n} characters received ({seconds} s)", self.label),
        }
    }
}
