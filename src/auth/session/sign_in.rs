//! The browser sign-in, run in a background task that outlives the tool call that started it:
//! the client id (set up first when there is none), the callback port (or, while another
//! instance holds it, waiting for that instance's tokens), the links, the code exchange, and
//! saving the tokens.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::client_setup::setup_required;
use super::{
    AuthSession, REBIND_EVERY, SIGN_IN_URL_FILE, STORE_POLL, SignInResult, SignInStatus,
    TOKEN_HINT, run_blocking, save_to, tokens_from_response, usable,
};
use crate::api::{AccessToken, ApiError};
use crate::auth::flow::{
    self, BrowserOutcome, CallbackOutcome, CallbackServer, Page, TokenResponse,
};
use crate::auth::pkce::Pkce;
use crate::auth::{link_file, store};

impl AuthSession {
    /// Starts a sign-in unless one is running; returns a receiver for its result. Call with the
    /// gate held. `force` starts one even if the previous attempt is still waiting.
    pub(super) fn start_sign_in(
        &self,
        force: bool,
    ) -> Result<watch::Receiver<Option<SignInResult>>, ApiError> {
        if !self.config.allow_sign_in {
            if self.client_now().is_none() {
                return Err(self.missing_client_id());
            }
            return Err(ApiError::AuthRequired {
                message: "Not signed in to AI Pass: run `aipass-mcp login`.".into(),
                sign_in_url: None,
            });
        }
        let mut slot = self.sign_in.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = slot.as_ref()
            && rx.borrow().is_none()
            && !force
        {
            return Ok(rx.clone());
        }
        let Some(me) = self.me.upgrade() else {
            return Err(ApiError::AuthRequired {
                message: "The AI Pass session is shutting down.".into(),
                sign_in_url: None,
            });
        };
        let (tx, rx) = watch::channel(None);
        *slot = Some(rx.clone());
        drop(slot);
        tokio::spawn(async move {
            let result = me.run_sign_in().await;
            match &result {
                Ok(_) => {
                    me.status.send_replace(SignInStatus::SignedIn);
                }
                Err(message) => {
                    tracing::warn!("AI Pass sign-in did not complete: {message}");
                    me.status.send_replace(SignInStatus::Failed {
                        message: message.clone(),
                    });
                }
            }
            let _ = tx.send(Some(result));
        });
        Ok(rx)
    }

    /// Waits up to the login timeout for the sign-in; past it, `auth_required` with the URL
    /// (the sign-in goes on in the background).
    pub(super) async fn wait_for_sign_in(
        &self,
        rx: watch::Receiver<Option<SignInResult>>,
    ) -> Result<AccessToken, ApiError> {
        match wait_result(rx, Some(self.config.login_timeout)).await {
            Some(Ok(token)) => Ok(token),
            Some(Err(message)) => Err(ApiError::AuthRequired {
                message: format!(
                    "AI Pass sign-in did not complete: {message} Call the tool again to start a new sign-in{TOKEN_HINT}"
                ),
                sign_in_url: None,
            }),
            None => {
                if let Some(setup) = self.setup.borrow().clone() {
                    return Err(setup_required(setup));
                }
                let status = self.status.borrow().clone();
                let (message, url) = match status {
                    SignInStatus::WaitingForOtherProcess { url } => (
                        format!(
                            "Sign in to AI Pass: another aipass-mcp instance is waiting for you to approve access in the browser. \
                             Open the sign-in page, approve, then call this tool again{TOKEN_HINT}"
                        ),
                        url,
                    ),
                    other => (
                        format!(
                            "Sign in to AI Pass: open the sign-in page in a browser and approve access, then call this tool again \
                             (aipass-mcp keeps waiting for the sign-in in the background){TOKEN_HINT}"
                        ),
                        other.url().map(str::to_owned),
                    ),
                };
                Err(ApiError::AuthRequired {
                    message,
                    sign_in_url: url,
                })
            }
        }
    }

    /// One sign-in: the client id (created first when there is none), then from binding the
    /// port to saved tokens.
    async fn run_sign_in(&self) -> SignInResult {
        let deadline = tokio::time::Instant::now() + self.config.sign_in_lifetime;
        let client_id = match self.client().await {
            Some(client) => client.id,
            None => {
                let id = self.provision(deadline).await?;
                // Another instance may have set up the client and signed in meanwhile.
                if let Some(stored) = self.load_store().await
                    && usable(&stored, self.config.refresh_skew)
                {
                    let token = AccessToken::new(stored.access_token.clone());
                    self.set_memory(Some(stored));
                    return Ok(token);
                }
                id
            }
        };
        let client_id = client_id.as_str();
        let addr = flow::callback_addr(&self.config.redirect_uri)
            .map_err(|e| format!("the redirect URI cannot be used: {e}"))?;
        let mut attempt = 0u32;
        loop {
            match CallbackServer::bind(&self.config.redirect_uri).await {
                Ok(server) => return self.run_flow(server, client_id, deadline).await,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    if attempt == 0 {
                        tracing::info!(
                            "{addr} is in use: another aipass-mcp is probably signing in; waiting for its tokens"
                        );
                    }
                }
                Err(e) => {
                    return Err(format!(
                        "cannot listen on {addr} for the sign-in callback: {e}"
                    ));
                }
            }
            // Another instance owns the port: wait for tokens to appear in the store.
            self.status
                .send_replace(SignInStatus::WaitingForOtherProcess {
                    url: self.read_sign_in_url().await,
                });
            for _ in 0..REBIND_EVERY {
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!(
                        "no sign-in finished within {} s (the callback port {addr} stayed busy)",
                        self.config.sign_in_lifetime.as_secs()
                    ));
                }
                tokio::time::sleep(STORE_POLL).await;
                if let Some(stored) = self.load_store().await
                    && usable(&stored, self.config.refresh_skew)
                {
                    let token = AccessToken::new(stored.access_token.clone());
                    self.set_memory(Some(stored));
                    tracing::info!("another aipass-mcp finished the sign-in; using its tokens");
                    return Ok(token);
                }
            }
            attempt += 1;
        }
    }

    async fn run_flow(
        &self,
        server: CallbackServer,
        client_id: &str,
        deadline: tokio::time::Instant,
    ) -> SignInResult {
        let pkce = Pkce::generate();
        let url = flow::authorize_url(
            &self.config.base_url,
            client_id,
            &self.config.redirect_uri,
            &self.config.scopes,
            &pkce,
        );
        // Two single-use links: one for the browser this process opens, one to show (tool
        // results, progress, the terminal), so opening one leaves the other usable.
        let nonces = [flow::start_nonce(), flow::start_nonce()];
        let link = flow::start_link(&self.config.redirect_uri, &nonces[0]);
        let browser_link = flow::start_link(&self.config.redirect_uri, &nonces[1]);
        self.write_sign_in_url(Some(&link)).await;
        let outcome = if self.host_shows_link.load(Ordering::Relaxed) {
            BrowserOutcome::LeftToHost
        } else {
            flow::open_browser(self.config.browser.as_deref(), &browser_link)
        };
        let browser_opened = matches!(outcome, BrowserOutcome::Opened(_));
        // The full URL carries the state: debug level only (a log may be shared).
        tracing::debug!("the sign-in links lead to {url}");
        match &outcome {
            BrowserOutcome::LeftToHost => {
                tracing::info!("the MCP client will show the sign-in link {link}")
            }
            BrowserOutcome::Opened(how) => {
                tracing::info!(
                    "opened the AI Pass sign-in page with {how}; if it did not appear, open: {link}"
                )
            }
            BrowserOutcome::Disabled => {
                tracing::info!("sign in to AI Pass: open this link in a browser: {link}")
            }
            BrowserOutcome::Failed(why) => {
                tracing::info!(
                    "{why}; sign in to AI Pass by opening this link in a browser: {link}"
                )
            }
        }
        self.status.send_replace(SignInStatus::Waiting {
            url: link,
            authorize_url: url.clone(),
            browser_opened,
        });

        let http = self.http().clone();
        let base_url = self.config.base_url.clone();
        let redirect_uri = self.config.redirect_uri.clone();
        let verifier = pkce.verifier().to_owned();
        let exchange = async |outcome: CallbackOutcome| -> (Result<TokenResponse, String>, Page) {
            match outcome {
                CallbackOutcome::Code(code) => {
                    match flow::exchange_code(
                        &http,
                        &base_url,
                        client_id,
                        &redirect_uri,
                        &code,
                        &verifier,
                    )
                    .await
                    {
                        Ok(tokens) => (
                            Ok(tokens),
                            Page::success(
                                "aipass-mcp is signed in to your AI Pass account. You can go back to your agent.",
                            ),
                        ),
                        Err(e) => (
                            Err(format!(
                                "the authorization code could not be exchanged: {e}."
                            )),
                            Page::failure(format!(
                                "AI Pass did not accept the sign-in ({e}). Ask your agent to try again."
                            )),
                        ),
                    }
                }
                CallbackOutcome::Error { error, description } => {
                    let why = match (error.as_str(), description) {
                        ("access_denied", _) => {
                            "access was declined on the AI Pass consent screen (access_denied)."
                                .to_string()
                        }
                        (error, Some(description)) => {
                            format!("AI Pass answered {error}: {description}.")
                        }
                        (error, None) => format!("AI Pass answered {error}."),
                    };
                    let page = Page::failure(format!(
                        "aipass-mcp is not signed in: {why} Ask your agent to try again when you are ready."
                    ));
                    (Err(why), page)
                }
            }
        };
        let result = tokio::time::timeout_at(
            deadline,
            server.wait(pkce.state(), &url, nonces.to_vec(), exchange),
        )
        .await;
        self.write_sign_in_url(None).await;
        let response = match result {
            Ok(Ok(response)) => response,
            Ok(Err(message)) => return Err(message),
            Err(_) => {
                return Err(format!(
                    "nobody approved the sign-in within {} s.",
                    self.config.sign_in_lifetime.as_secs()
                ));
            }
        };
        let tokens = tokens_from_response(response, None);
        let token = AccessToken::new(tokens.access_token.clone());
        self.set_memory(Some(tokens.clone()));
        let store = self.token_store().await;
        let _lock = self.lock_tokens().await;
        save_to(&store, tokens).await;
        tracing::info!("signed in to AI Pass");
        Ok(token)
    }

    async fn write_sign_in_url(&self, url: Option<&str>) {
        let path = self.config.config_dir.join(SIGN_IN_URL_FILE);
        let dir = self.config.config_dir.clone();
        let url = url.map(str::to_owned);
        let _ = run_blocking(move || -> std::io::Result<()> {
            match url {
                Some(url) => {
                    store::create_private_dir(&dir)?;
                    link_file::write(&dir, &path, ".sign-in-url-", &url)
                }
                None => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
            }
        })
        .await;
    }

    async fn read_sign_in_url(&self) -> Option<String> {
        let path = self.config.config_dir.join(SIGN_IN_URL_FILE);
        run_blocking(move || link_file::read(&path)).await
    }
}

pub(super) async fn wait_result(
    mut rx: watch::Receiver<Option<SignInResult>>,
    limit: Option<Duration>,
) -> Option<SignInResult> {
    let wait = async {
        match rx.wait_for(|value| value.is_some()).await {
            Ok(value) => value.clone(),
            Err(_) => Some(Err("the sign-in stopped unexpectedly".into())),
        }
    };
    match limit {
        Some(limit) => tokio::time::timeout(limit, wait).await.ok().flatten(),
        None => wait.await,
    }
}
