//! Getting a usable access token: memory, else the store (another process may have refreshed),
//! else a refresh under the cross-process lock, else a sign-in. Also the 401 path, where the
//! token the server refused is never handed out again.

use super::{AuthSession, RefreshFailure, load_from, run_blocking, save_to, tokens_from_response};
use crate::api::{AccessToken, ApiError};
use crate::auth::flow;

impl AuthSession {
    pub(super) async fn get_token(&self) -> Result<AccessToken, ApiError> {
        if let Some(token) = self.usable_memory() {
            return Ok(token);
        }
        let rx = {
            let _gate = self.gate.lock().await;
            // Someone else may have refreshed or signed in while we waited for the gate.
            if let Some(token) = self.usable_memory() {
                return Ok(token);
            }
            // No client yet: the sign-in creates one first.
            let has_client = self.client().await.is_some();
            // Another process may have refreshed or signed in.
            if has_client && let Some(stored) = self.load_store().await {
                self.adopt(stored);
                if let Some(token) = self.usable_memory() {
                    return Ok(token);
                }
            }
            if self.memory().is_some_and(|t| t.refresh_token.is_some()) {
                match self.refresh_locked(None).await {
                    Ok(token) => return Ok(token),
                    Err(RefreshFailure::Transient(e)) => return Err(e),
                    Err(RefreshFailure::NeedsSignIn) => {}
                }
            }
            self.start_sign_in(false)?
        };
        self.wait_for_sign_in(rx).await
    }

    pub(super) async fn after_unauthorized(
        &self,
        failed: &AccessToken,
    ) -> Result<Option<AccessToken>, ApiError> {
        let rx = {
            let _gate = self.gate.lock().await;
            if let Some(token) = self.usable_memory()
                && token.secret() != failed.secret()
            {
                return Ok(Some(token));
            }
            let has_client = self.client().await.is_some();
            if has_client
                && let Some(stored) = self.load_store().await
                && stored.access_token != failed.secret()
            {
                self.adopt(stored);
                if let Some(token) = self.usable_memory()
                    && token.secret() != failed.secret()
                {
                    return Ok(Some(token));
                }
            }
            // The server says this token is dead, whatever its expiry said.
            self.mark_expired(failed.secret());
            if self.memory().is_some_and(|t| t.refresh_token.is_some()) {
                match self.refresh_locked(Some(failed.secret())).await {
                    Ok(token) => return Ok(Some(token)),
                    Err(RefreshFailure::Transient(e)) => return Err(e),
                    Err(RefreshFailure::NeedsSignIn) => {}
                }
            }
            self.start_sign_in(false)?
        };
        self.wait_for_sign_in(rx).await.map(Some)
    }

    // -----------------------------------------------------------------------------------------
    // Refresh
    // -----------------------------------------------------------------------------------------

    /// Refreshes under the cross-process lock. Call with the gate held. `failed` is an access
    /// token known to be rejected (401), which must not be adopted from the store.
    async fn refresh_locked(&self, failed: Option<&str>) -> Result<AccessToken, RefreshFailure> {
        // Never refresh without the lock: two processes presenting the same rotating refresh
        // token would get the whole grant revoked. A temporary error instead; the token stays.
        let Some(_lock) = self.lock_tokens().await else {
            return Err(RefreshFailure::Transient(ApiError::Network {
                message: "another aipass-mcp holds the token lock; try again in a minute".into(),
                maybe_charged: false,
            }));
        };
        let store = self.token_store().await;
        // Re-read under the lock: another process may have refreshed already.
        let stored = load_from(&store).await;
        if let Some(stored) = stored.clone()
            && Some(stored.access_token.as_str()) != failed
        {
            self.adopt(stored);
            if let Some(token) = self.usable_memory() {
                tracing::debug!("another process had refreshed the access token; using it");
                return Ok(token);
            }
        }
        let Some(current) = self.memory() else {
            return Err(RefreshFailure::NeedsSignIn);
        };
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(RefreshFailure::NeedsSignIn);
        };
        let client_id = self.client_now().map(|c| c.id).unwrap_or_default();
        tracing::debug!("refreshing the AI Pass access token");
        match flow::refresh(
            self.http(),
            &self.config.base_url,
            &client_id,
            &refresh_token,
        )
        .await
        {
            Ok(response) => {
                let tokens = tokens_from_response(response, Some(&current));
                let token = AccessToken::new(tokens.access_token.clone());
                self.set_memory(Some(tokens.clone()));
                save_to(&store, tokens).await;
                tracing::info!("refreshed the AI Pass access token");
                Ok(token)
            }
            Err(e) if e.needs_sign_in() => {
                tracing::info!("the refresh token was not accepted ({e}); a new sign-in is needed");
                if e.oauth_error() == Some("invalid_client") {
                    self.client_gone(&client_id).await;
                }
                // Re-read once: a process that does not take our lock may have rotated it.
                let again = load_from(&store).await;
                match again {
                    Some(tokens) if tokens.refresh_token.as_deref() != Some(&refresh_token) => {
                        self.set_memory(Some(tokens));
                        if let Some(token) = self.usable_memory() {
                            return Ok(token);
                        }
                    }
                    Some(_) => {
                        // The store still holds the token that failed: it is dead for everyone.
                        let store = store.clone();
                        if let Err(e) = run_blocking(move || store.clear()).await {
                            tracing::warn!(
                                "could not delete the rejected tokens from the store: {e}"
                            );
                        }
                    }
                    None => {}
                }
                self.set_memory(None);
                Err(RefreshFailure::NeedsSignIn)
            }
            Err(e) => Err(RefreshFailure::Transient(ApiError::Network {
                message: format!("refreshing the access token failed: {e}"),
                maybe_charged: false,
            })),
        }
    }
}
