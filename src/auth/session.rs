//! The signed-in session: tokens in memory, the token store behind them, proactive and 401
//! refresh (single flight in the process, a lock file across processes), and browser sign-in in a
//! background task that survives the tool call that started it.
//!
//! Nothing here runs at construction: the store is opened, and the network used, only when a
//! call first needs a token.
//!
//! This file holds the session's memory and store; [`refresh`] gets a usable token,
//! [`sign_in`] runs the browser sign-in, [`client_setup`] finds or creates the client id.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use tokio::sync::watch;
use url::Url;

use super::client_id::{ClientSource, ResolvedClient};
use super::flow::{self, TokenResponse};
use super::lock;
use super::provision::Shown;
use super::store::{self, StoredTokens, TokenStore};
use crate::api::{AccessToken, ApiError, TokenProvider};
use crate::config::{Settings, TokenStoreMode};

mod client_setup;
mod refresh;
mod sign_in;

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
        match sign_in::wait_result(rx, None).await {
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
        run_blocking(move || store::clear_everywhere(store.as_ref(), &dir, &account)).await?;
        Ok(held)
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
        let dir = self.config.config_dir.clone();
        let wait = self.config.lock_wait;
        match run_blocking(move || lock::lock_within(&dir, LOCK_FILE, wait)).await {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::warn!("going on without the token lock file: {e}");
                None
            }
        }
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
