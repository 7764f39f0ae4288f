//! The signed-in session: tokens in memory, the token store behind them, proactive and 401
//! refresh (single flight in the process, a lock file across processes), and browser sign-in in a
//! background task that survives the tool call that started it.
//!
//! Nothing here runs at construction: the store is opened, and the network used, only when a
//! call first needs a token.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use tokio::sync::watch;
use url::Url;

use super::client_id::{ClientSource, ResolvedClient};
use super::flow::{self, BrowserOutcome, CallbackOutcome, CallbackServer, Page, TokenResponse};
use super::pkce::Pkce;
use super::provision::Shown;
use super::store::{self, StoredTokens, TokenStore};
use super::store_choice;
use crate::api::{AccessToken, ApiError, TokenProvider};
use crate::config::{Settings, TokenStoreMode};

mod client_setup;
use client_setup::setup_required;

/// Where to create an OAuth client.
pub const DEVELOPER_PANEL_URL: &str = "https://aipass.one/panel/developer";
/// An access token is refreshed this long before it expires.
pub const REFRESH_SKEW: Duration = Duration::from_secs(60);
/// How long one sign-in keeps its callback listener open (the browser may take a while).
pub const SIGN_IN_LIFETIME: Duration = Duration::from_secs(600);
/// Lock file (in the config folder) held around read → refresh → write.
pub const LOCK_FILE: &str = "tokens.lock";
/// While a sign-in runs, its short link is written here (mode 0600) so other instances can show it.
pub const SIGN_IN_URL_FILE: &str = "sign-in-url.txt";
/// Ends the `auth_required` messages: the way around sign-in (CI, headless machines).
const TOKEN_HINT: &str =
    "; or set AIPASS_ACCESS_TOKEN to an AI Pass access token to skip browser sign-in.";
/// How long to wait for another process's refresh lock: longer than the token request it may
/// be making, so a lock is only missed when its holder is stuck, never while it refreshes.
pub const LOCK_WAIT: Duration = Duration::from_secs(flow::TOKEN_REQUEST_TIMEOUT.as_secs() + 30);
/// How often an instance that could not bind the callback port looks for tokens in the store.
const STORE_POLL: Duration = Duration::from_millis(400);
/// How often such an instance tries the port again (the other one may have given up).
const REBIND_EVERY: u32 = 5;

/// Everything the session needs from the settings.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// API origin.
    pub base_url: Url,
    /// `AIPASS_CLIENT_ID`; None = use the stored client, or create one on first sign-in.
    pub client_id: Option<String>,
    /// Loopback redirect URI registered for the client.
    pub redirect_uri: Url,
    /// Scopes asked for at sign-in.
    pub scopes: String,
    /// Which token store to use.
    pub token_store: TokenStoreMode,
    /// Folder of the file store, the lock file and the sign-in URL file.
    pub config_dir: PathBuf,
    /// `AIPASS_BROWSER`.
    pub browser: Option<String>,
    /// How long a call waits for a sign-in before it answers `auth_required`.
    pub login_timeout: Duration,
    /// Connect timeout for the token endpoint.
    pub connect_timeout: Duration,
    /// How long a sign-in's listener stays open.
    pub sign_in_lifetime: Duration,
    /// Refresh this long before expiry.
    pub refresh_skew: Duration,
    /// False for `status` and `logout`: never start a browser sign-in.
    pub allow_sign_in: bool,
    /// How long to wait for the cross-process token lock ([`LOCK_WAIT`]).
    pub lock_wait: Duration,
}

impl AuthConfig {
    /// The session's view of the command-line / environment settings.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            base_url: settings.base_url.clone(),
            client_id: settings
                .client_id
                .as_deref()
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
            redirect_uri: settings.redirect_uri.clone(),
            scopes: settings.scopes.clone(),
            token_store: settings.token_store,
            config_dir: settings.config_dir(),
            browser: settings.browser.clone(),
            login_timeout: settings.login_timeout,
            connect_timeout: settings.connect_timeout,
            sign_in_lifetime: SIGN_IN_LIFETIME.max(settings.login_timeout),
            refresh_skew: REFRESH_SKEW,
            allow_sign_in: true,
            lock_wait: LOCK_WAIT,
        }
    }
}

/// Where a sign-in stands, for progress messages in the tool layer. Its `Debug` leaves out the
/// full sign-in URL (it carries the state).
#[derive(Clone, PartialEq, Eq)]
pub enum SignInStatus {
    /// No sign-in is running.
    Idle,
    /// This process waits for the browser; `url` is the link to show. During the first-run
    /// setup both fields are the AI Pass approval page (see [`AuthSession::setup_status`]).
    Waiting {
        /// The short link on the loopback listener (`http://127.0.0.1:<port>/start/<nonce>`),
        /// which redirects once to the sign-in page; it carries no state or challenge.
        url: String,
        /// The full sign-in page (state and PKCE challenge in the query), for the terminal.
        authorize_url: String,
        /// Whether a browser was opened (false: the URL must be opened by hand).
        browser_opened: bool,
    },
    /// Another aipass-mcp holds the callback port and runs the sign-in; this one waits for the
    /// tokens it will store. `url` is that sign-in's short link, when it could be read.
    WaitingForOtherProcess {
        /// The other instance's short sign-in link.
        url: Option<String>,
    },
    /// The last sign-in worked.
    SignedIn,
    /// The last sign-in ended without tokens.
    Failed {
        /// Why, in words for the user.
        message: String,
    },
}

impl std::fmt::Debug for SignInStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInStatus::Idle => f.write_str("Idle"),
            SignInStatus::Waiting {
                url,
                browser_opened,
                ..
            } => f
                .debug_struct("Waiting")
                .field("url", url)
                .field("authorize_url", &"<redacted>")
                .field("browser_opened", browser_opened)
                .finish(),
            SignInStatus::WaitingForOtherProcess { url } => f
                .debug_struct("WaitingForOtherProcess")
                .field("url", url)
                .finish(),
            SignInStatus::SignedIn => f.write_str("SignedIn"),
            SignInStatus::Failed { message } => {
                f.debug_struct("Failed").field("message", message).finish()
            }
        }
    }
}

impl SignInStatus {
    /// The short link to show, if there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            SignInStatus::Waiting { url, .. } => Some(url),
            SignInStatus::WaitingForOtherProcess { url } => url.as_deref(),
            _ => None,
        }
    }
}

/// What a finished sign-in produced (shared by every call waiting on it).
type SignInResult = Result<AccessToken, String>;

/// A refresh that did not produce a token.
enum RefreshFailure {
    /// The grant is dead: only a new sign-in helps.
    NeedsSignIn,
    /// The token endpoint could not be reached or answered 5xx: try again later.
    Transient(ApiError),
}

/// The signed-in AI Pass session. Use it as the API client's [`TokenProvider`].
pub struct AuthSession {
    config: AuthConfig,
    me: Weak<AuthSession>,
    http: OnceLock<reqwest::Client>,
    /// A store given by the caller (tests), used whatever the client id.
    fixed_store: Option<Arc<dyn TokenStore>>,
    /// The store opened for the account (client id + origin) it was opened for.
    store: tokio::sync::Mutex<Option<(String, Arc<dyn TokenStore>)>>,
    /// The client id in use, once known (configured, stored or just created).
    client: Mutex<Option<ResolvedClient>>,
    /// What the first-run setup asks the user to do, while it runs.
    setup: watch::Sender<Option<Shown>>,
    /// The tokens in use (the store may be behind when saving failed).
    tokens: Mutex<Option<StoredTokens>>,
    /// Single flight: one refresh or sign-in decision at a time in this process.
    gate: tokio::sync::Mutex<()>,
    /// The running (or last) sign-in; its value turns Some when it ends.
    sign_in: Mutex<Option<watch::Receiver<Option<SignInResult>>>>,
    status: watch::Sender<SignInStatus>,
    /// The MCP client shows the sign-in link itself (URL elicitation), so no browser is opened.
    host_shows_link: AtomicBool,
}

impl fmt::Debug for AuthSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSession")
            .field("base_url", &self.config.base_url.as_str())
            .field("client_id", &self.config.client_id)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl AuthSession {
    /// A session for the settings. Does no I/O: no network, no keyring, no files.
    pub fn new(settings: &Settings) -> Arc<Self> {
        Self::with_config(AuthConfig::from_settings(settings))
    }

    /// A session from an explicit configuration.
    pub fn with_config(config: AuthConfig) -> Arc<Self> {
        Self::build(config, None)
    }

    /// A session over a given store (tests: the keyring mock store).
    pub fn with_store(config: AuthConfig, store: Arc<dyn TokenStore>) -> Arc<Self> {
        Self::build(config, Some(store))
    }

    fn build(config: AuthConfig, store: Option<Arc<dyn TokenStore>>) -> Arc<Self> {
        let client = config.client_id.clone().map(|id| ResolvedClient {
            id,
            source: ClientSource::Configured,
        });
        Arc::new_cyclic(|me| AuthSession {
            config,
            me: me.clone(),
            http: OnceLock::new(),
            fixed_store: store,
            store: tokio::sync::Mutex::new(None),
            client: Mutex::new(client),
            setup: watch::channel(None).0,
            tokens: Mutex::new(None),
            gate: tokio::sync::Mutex::new(()),
            sign_in: Mutex::new(None),
            status: watch::channel(SignInStatus::Idle).0,
            host_shows_link: AtomicBool::new(false),
        })
    }

    /// The client asks its user to open the sign-in link (URL elicitation): sign-ins from now
    /// on leave the browser to it, so the user is not sent to the same page twice.
    pub fn let_the_host_show_the_link(&self) {
        self.host_shows_link.store(true, Ordering::Relaxed);
    }

    /// The settings in use.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Progress of sign-in, for MCP progress notifications: `Waiting { url }` while the browser
    /// is expected.
    pub fn sign_in_status(&self) -> watch::Receiver<SignInStatus> {
        self.status.subscribe()
    }

    /// What the first-run setup asks the user to do (approve a link), while it runs.
    pub fn setup_status(&self) -> watch::Receiver<Option<Shown>> {
        self.setup.subscribe()
    }

    /// The store in use (opened on first use: the keyring probe happens here, not at startup),
    /// for the account of the client id in use.
    pub async fn token_store(&self) -> Arc<dyn TokenStore> {
        if let Some(store) = &self.fixed_store {
            return store.clone();
        }
        let account = self.account();
        let mut slot = self.store.lock().await;
        if let Some((opened_for, store)) = slot.as_ref()
            && *opened_for == account
        {
            return store.clone();
        }
        let mode = self.config.token_store;
        let dir = self.config.config_dir.clone();
        let key = account.clone();
        let store = tokio::task::spawn_blocking(move || store::open(mode, &dir, &key))
            .await
            .unwrap_or_else(|e| {
                Arc::new(store::UnavailableStore::new(format!(
                    "the token store could not be opened: {e}"
                )))
            });
        *slot = Some((account, store.clone()));
        store
    }

    /// The tokens this session would use now (memory, else the store), without refreshing.
    pub async fn current_tokens(&self) -> Option<StoredTokens> {
        if let Some(tokens) = self.memory() {
            return Some(tokens);
        }
        self.client().await?;
        let stored = self.load_store().await;
        if let Some(tokens) = &stored {
            self.set_memory(Some(tokens.clone()));
        }
        stored
    }

    /// Signs in through the browser now, even if tokens exist (the `login` command). Waits
    /// until the sign-in ends (at most the sign-in lifetime).
    pub async fn sign_in_now(&self) -> Result<StoredTokens, String> {
        let rx = {
            let _gate = self.gate.lock().await;
            self.start_sign_in(true).map_err(|e| e.to_string())?
        };
        match wait_result(rx, None).await {
            Some(Ok(_)) => self
                .memory()
                .ok_or_else(|| "signed in, but the tokens went missing".to_string()),
            Some(Err(message)) => Err(message),
            None => Err("the sign-in stopped unexpectedly".into()),
        }
    }

    /// Forgets the tokens here and in the store. Revoking them is the caller's job (it has the
    /// API client). Returns the tokens that were held, if any.
    pub async fn forget(&self) -> Result<Option<StoredTokens>, store::StoreError> {
        let _gate = self.gate.lock().await;
        let client = self.client().await;
        let held = match self.memory() {
            Some(tokens) => Some(tokens),
            None if client.is_some() => self.load_store().await,
            None => None,
        };
        self.set_memory(None);
        if client.is_none() {
            return Ok(held);
        }
        let store = self.token_store().await;
        let _lock = self.lock_tokens().await;
        let dir = self.config.config_dir.clone();
        let account = self.account();
        run_blocking(move || store_choice::clear_everywhere(store.as_ref(), &dir, &account))
            .await?;
        Ok(held)
    }

    // -----------------------------------------------------------------------------------------
    // Token provider
    // -----------------------------------------------------------------------------------------

    async fn get_token(&self) -> Result<AccessToken, ApiError> {
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

    async fn after_unauthorized(
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

    // -----------------------------------------------------------------------------------------
    // Sign-in
    // -----------------------------------------------------------------------------------------

    /// Starts a sign-in unless one is running; returns a receiver for its result. Call with the
    /// gate held. `force` starts one even if the previous attempt is still waiting.
    fn start_sign_in(
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
    async fn wait_for_sign_in(
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

    // -----------------------------------------------------------------------------------------
    // Helpers
    // -----------------------------------------------------------------------------------------

    fn http(&self) -> &reqwest::Client {
        self.http
            .get_or_init(|| flow::token_http_client(self.config.connect_timeout))
    }

    fn account(&self) -> String {
        let client = self.client_now().map(|c| c.id);
        store::account_key(client.as_deref().unwrap_or("-"), &self.config.base_url)
    }

    fn memory(&self) -> Option<StoredTokens> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_memory(&self, tokens: Option<StoredTokens>) {
        *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) = tokens;
    }

    fn usable_memory(&self) -> Option<AccessToken> {
        self.memory()
            .filter(|t| usable(t, self.config.refresh_skew))
            .map(|t| AccessToken::new(t.access_token))
    }

    /// Takes stored tokens when memory has none, or when they are newer (they expire later:
    /// another process refreshed or signed in). Older stored tokens never replace memory's: a
    /// failed save leaves the store behind, and its rotated refresh token would be a reuse.
    fn adopt(&self, stored: StoredTokens) {
        let mut memory = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let newer = match memory.as_ref() {
            None => true,
            Some(current) => {
                current != &stored
                    && stored.expires_at.unwrap_or(i64::MAX) > current.expires_at.unwrap_or(0)
            }
        };
        if newer {
            *memory = Some(stored);
        }
    }

    fn mark_expired(&self, access_token: &str) {
        let mut memory = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tokens) = memory.as_mut()
            && tokens.access_token == access_token
        {
            tokens.expires_at = Some(0);
        }
    }

    async fn load_store(&self) -> Option<StoredTokens> {
        let store = self.token_store().await;
        load_from(&store).await
    }

    async fn lock_tokens(&self) -> Option<std::fs::File> {
        let path = self.config.config_dir.join(LOCK_FILE);
        let dir = self.config.config_dir.clone();
        let wait = self.config.lock_wait;
        let result = run_blocking(move || -> Result<std::fs::File, String> {
            store::create_private_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let deadline = std::time::Instant::now() + wait;
            loop {
                match file.try_lock() {
                    Ok(()) => return Ok(file),
                    Err(std::fs::TryLockError::WouldBlock) => {
                        if std::time::Instant::now() >= deadline {
                            return Err(format!(
                                "{} stayed locked for {} s",
                                path.display(),
                                wait.as_secs()
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(25));
                    }
                    Err(std::fs::TryLockError::Error(e)) => {
                        return Err(format!("{}: {e}", path.display()));
                    }
                }
            }
        })
        .await;
        match result {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::warn!("going on without the token lock file: {e}");
                None
            }
        }
    }

    async fn write_sign_in_url(&self, url: Option<&str>) {
        let path = self.config.config_dir.join(SIGN_IN_URL_FILE);
        let dir = self.config.config_dir.clone();
        let url = url.map(str::to_owned);
        let _ = run_blocking(move || -> std::io::Result<()> {
            match url {
                Some(url) => {
                    store::create_private_dir(&dir)?;
                    let mut builder = tempfile::Builder::new();
                    builder.prefix(".sign-in-url-");
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        builder.permissions(std::fs::Permissions::from_mode(0o600));
                    }
                    let mut temp = builder.tempfile_in(&dir)?;
                    std::io::Write::write_all(&mut temp, url.as_bytes())?;
                    temp.persist(&path).map_err(|e| e.error)?;
                    Ok(())
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
        run_blocking(move || std::fs::read_to_string(path).ok())
            .await
            .map(|s| s.trim().to_owned())
            .filter(|s| s.starts_with("http"))
    }

    /// Only where no sign-in may start (`status`, `logout`): there is no client yet.
    fn missing_client_id(&self) -> ApiError {
        ApiError::AuthRequired {
            message: "aipass-mcp has no AI Pass client yet: run `aipass-mcp login` (it asks you to approve \
                      creating one on your account, then to sign in), or set AIPASS_CLIENT_ID to your own \
                      client's id, or AIPASS_ACCESS_TOKEN to an access token."
                .into(),
            sign_in_url: None,
        }
    }
}

impl TokenProvider for AuthSession {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, ApiError>> {
        self.get_token().boxed()
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        failed: &'a AccessToken,
    ) -> BoxFuture<'a, Result<Option<AccessToken>, ApiError>> {
        self.after_unauthorized(failed).boxed()
    }

    fn client_id(&self) -> Option<String> {
        self.client_now().map(|c| c.id)
    }
}

/// True when the access token can be sent now (and is not about to expire).
fn usable(tokens: &StoredTokens, skew: Duration) -> bool {
    if tokens.access_token.is_empty() {
        return false;
    }
    match tokens.expires_at {
        None => true,
        Some(expires_at) => now_unix() + skew.as_secs() as i64 <= expires_at,
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn tokens_from_response(response: TokenResponse, previous: Option<&StoredTokens>) -> StoredTokens {
    StoredTokens {
        access_token: response.access_token,
        // A server that does not rotate leaves the old refresh token valid.
        refresh_token: response
            .refresh_token
            .filter(|t| !t.is_empty())
            .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        expires_at: response
            .expires_in
            .map(|seconds| now_unix() + seconds.min(i64::MAX as u64 / 2) as i64),
        scope: response
            .scope
            .filter(|s| !s.trim().is_empty())
            .or_else(|| previous.and_then(|p| p.scope.clone())),
    }
}

async fn wait_result(
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

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn load_from(store: &Arc<dyn TokenStore>) -> Option<StoredTokens> {
    let store = store.clone();
    match run_blocking(move || store.load()).await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!("could not read the stored AI Pass tokens: {e}");
            None
        }
    }
}

/// Saves; a failure is reported and the tokens stay in memory.
async fn save_to(store: &Arc<dyn TokenStore>, tokens: StoredTokens) {
    let description = store.describe();
    let store = store.clone();
    if let Err(e) = run_blocking(move || store.save(&tokens)).await {
        tracing::warn!(
            "could not save the AI Pass tokens to {description}: {e}; they are kept in memory for this process only"
        );
    }
}
