//! The session's side of the first-run setup: which client id is in use (`AIPASS_CLIENT_ID`, else
//! the stored one), creating one through [`provision`] when there is none (its approval link is
//! published as the sign-in status, so it is shown the way sign-in links are), and forgetting a
//! client AI Pass no longer knows.

use std::sync::atomic::Ordering;

use super::{AuthSession, SIGN_IN_URL_FILE, SignInStatus, TOKEN_HINT, run_blocking};
use crate::api::ApiError;
use crate::auth::client_id::{self, ClientSource, ResolvedClient};
use crate::auth::flow;
use crate::auth::provision::{self, Shown};

impl AuthSession {
    /// The client id in use and where it came from: `AIPASS_CLIENT_ID`, else the one stored in
    /// the config folder; None when neither exists yet (the first sign-in creates one).
    pub async fn client(&self) -> Option<ResolvedClient> {
        if let Some(client) = self.client_now() {
            return Some(client);
        }
        let dir = self.config.config_dir.clone();
        let origin = flow::origin(&self.config.base_url).to_owned();
        let redirect = self.config.redirect_uri.to_string();
        let found = run_blocking(move || match client_id::load(&dir) {
            Ok(installation) => installation
                .and_then(|i| i.client_for(&origin, &redirect).map(str::to_owned))
                .map(|id| ResolvedClient {
                    id,
                    source: ClientSource::Provisioned(dir.join(client_id::CLIENT_FILE)),
                }),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        })
        .await;
        if let Some(client) = &found {
            *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(client.clone());
        }
        found
    }

    /// Removes the stored client id (`logout --forget-client`); the fingerprint and key stay,
    /// so a later setup gets the same client back unless it was deleted. False when none was
    /// stored.
    pub async fn forget_client(&self) -> Result<bool, String> {
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) =
            self.config.client_id.clone().map(|id| ResolvedClient {
                id,
                source: ClientSource::Configured,
            });
        let dir = self.config.config_dir.clone();
        let origin = flow::origin(&self.config.base_url).to_owned();
        run_blocking(move || {
            let Some(mut installation) = client_id::load(&dir)? else {
                return Ok(false);
            };
            let Some(entry) = installation.origins.get_mut(&origin) else {
                return Ok(false);
            };
            let had = entry.client_id.take().is_some();
            entry.redirect_uri = None;
            client_id::save(&dir, &installation)?;
            Ok(had)
        })
        .await
    }

    pub(super) fn client_now(&self) -> Option<ResolvedClient> {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// First run: creates the client through the user's approval (see [`provision`]) and
    /// publishes the approval link the way sign-in links are shown.
    pub(super) async fn provision(&self, deadline: tokio::time::Instant) -> Result<String, String> {
        let setup = provision::Setup {
            http: self.http(),
            base_url: &self.config.base_url,
            redirect_uri: &self.config.redirect_uri,
            runtime_scopes: self
                .config
                .scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            config_dir: &self.config.config_dir,
            link_file: self.config.config_dir.join(SIGN_IN_URL_FILE),
            browser: self.config.browser.as_deref(),
            host_shows_link: self.host_shows_link.load(Ordering::Relaxed),
            deadline,
        };
        let show = |shown: Shown| {
            let status = match &shown {
                Shown::Approval {
                    url,
                    browser_opened,
                    ..
                } => SignInStatus::Waiting {
                    url: url.clone(),
                    authorize_url: url.clone(),
                    browser_opened: *browser_opened,
                },
                Shown::OtherProcess { url } => {
                    SignInStatus::WaitingForOtherProcess { url: url.clone() }
                }
            };
            self.setup.send_replace(Some(shown));
            self.status.send_if_modified(|current| {
                let changed = *current != status;
                *current = status;
                changed
            });
        };
        let result = provision::client_id(&setup, show).await;
        self.setup.send_replace(None);
        let id = result?;
        let source = ClientSource::Provisioned(self.config.config_dir.join(client_id::CLIENT_FILE));
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(ResolvedClient {
            id: id.clone(),
            source,
        });
        Ok(id)
    }

    /// The token endpoint does not know the stored client (deleted in the developer panel):
    /// forget its id, so the next sign-in sets up a client again.
    pub(super) async fn client_gone(&self, client_id: &str) {
        let Some(client) = self.client_now().filter(|c| c.id == client_id) else {
            return;
        };
        if client.source == ClientSource::Configured {
            tracing::warn!("AI Pass does not know the client id in AIPASS_CLIENT_ID ({client_id})");
            return;
        }
        tracing::info!(
            "AI Pass no longer knows the client {client_id}; the next sign-in sets up a new one"
        );
        if let Err(e) = self.forget_client().await {
            tracing::warn!("could not remove the stale client id: {e}");
        }
    }
}

/// `auth_required` while the first-run setup waits for the user's approval.
pub(super) fn setup_required(setup: Shown) -> ApiError {
    let (message, url) = match setup {
        Shown::Approval { url, user_code, .. } => (
            format!(
                "First use: approve that aipass-mcp creates its sign-in client on your AI Pass account. \
                 Open the approval page (it shows the code {user_code}), approve, then sign in on the page that follows, \
                 and call this tool again (aipass-mcp keeps waiting in the background). To use your own OAuth \
                 client instead, set AIPASS_CLIENT_ID{TOKEN_HINT}"
            ),
            Some(url),
        ),
        Shown::OtherProcess { url } => (
            format!(
                "First use: another aipass-mcp instance waits for you to approve the AI Pass setup in the browser. \
                 Open the approval page, approve, then call this tool again{TOKEN_HINT}"
            ),
            url,
        ),
    };
    ApiError::AuthRequired {
        message,
        sign_in_url: url,
    }
}
