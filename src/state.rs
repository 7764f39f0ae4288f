//! The server's value and what every tool shares: [`AipassServer`] (cheap to clone, one per
//! connection), its [`AppState`], and [`ServerOptions`], everything it is built from. Below the
//! tools: the tool families are `impl AipassServer` blocks that read this state; `server.rs`
//! above them adds the MCP handler and serving.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Mutex, watch};

use crate::api::ApiClient;
use crate::api::types::UsageSummary;
use crate::auth::session::{AuthSession, SignInStatus};
use crate::config::{Settings, UiMode};
use crate::fetch::InputFetcher;
use crate::media::OutputFile;
use crate::models::{ModelCatalog, ModelPreferences};
use crate::net_policy::{LocalUrls, UrlPolicy};

/// Inline preview bytes per result unless configured (about 700 KB of base64).
const DEFAULT_PREVIEW_BUDGET: usize = 700_000;

/// Everything the tools share.
pub struct AppState {
    pub api: ApiClient,
    /// Downloads of input URLs, under the outbound address policy.
    pub fetcher: InputFetcher,
    pub models: ModelCatalog,
    /// Default folder for generated files.
    pub output_dir: PathBuf,
    /// Folders every call may use besides the client's roots: `output_dir` and
    /// `AIPASS_ALLOWED_DIRS` (see `file_scope`).
    pub always_allowed: Arc<Vec<PathBuf>>,
    /// The last budget figures and when they were read (`balance` caches them).
    pub balance: Mutex<Option<(Instant, UsageSummary)>>,
    /// Videos already downloaded by this process, by job id, so a job is fetched once.
    pub videos: Mutex<HashMap<String, OutputFile>>,
    /// Bytes of base64 previews one result may carry; 0 = none.
    pub preview_budget: usize,
    /// The sign-in session's status, when this server signs users in itself.
    pub sign_in: Option<watch::Receiver<SignInStatus>>,
    /// That sign-in session, told at initialize whether the client shows sign-in links itself.
    pub sign_in_session: Option<Arc<AuthSession>>,
    /// Whether hosts that declare MCP Apps get the media view (AIPASS_UI).
    pub ui: bool,
}

/// The MCP service: cheap to clone, one per connection.
#[derive(Clone)]
pub struct AipassServer {
    pub(crate) state: Arc<AppState>,
}

/// How one server is set up: everything it reads from the settings, plus the sign-in session
/// when this process signs users in itself. Given whole to [`AipassServer::new`], so nothing can
/// be changed after the server is shared.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Default folder for generated files.
    pub output_dir: PathBuf,
    /// The user's default models (AIPASS_DEFAULT_MODELS), tried before the built-in order.
    pub model_preferences: ModelPreferences,
    /// Inline preview bytes per result (AIPASS_INLINE, AIPASS_INLINE_BUDGET); 0 = none.
    pub preview_budget: usize,
    /// Which local or private addresses input URLs may reach (AIPASS_ALLOW_LOCAL_URLS).
    pub local_urls: LocalUrls,
    /// Folders every call may use besides the client's roots (AIPASS_ALLOWED_DIRS).
    pub allowed_dirs: Vec<PathBuf>,
    /// Whether hosts that declare MCP Apps get the media view (AIPASS_UI).
    pub ui: bool,
    /// The sign-in session: progress messages show its URL while a call waits for the user, and
    /// the client's sign-in prompt (URL elicitation) replaces the browser it would open.
    pub sign_in: Option<Arc<AuthSession>>,
}

impl ServerOptions {
    /// The defaults: files in `output_dir`, built-in model order, previews on, nothing local,
    /// the view offered, no sign-in session.
    pub fn new(output_dir: PathBuf) -> Self {
        ServerOptions {
            output_dir,
            model_preferences: ModelPreferences::default(),
            preview_budget: DEFAULT_PREVIEW_BUDGET,
            local_urls: LocalUrls::Refused,
            allowed_dirs: Vec::new(),
            ui: true,
            sign_in: None,
        }
    }

    /// Everything the settings say; an invalid AIPASS_DEFAULT_MODELS is an error naming it.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let model_preferences =
            ModelPreferences::parse(settings.default_models.as_deref().unwrap_or(""))
                .map_err(|e| format!("invalid value for AIPASS_DEFAULT_MODELS: {e}"))?;
        Ok(ServerOptions {
            model_preferences,
            preview_budget: settings.preview_budget(),
            local_urls: settings.allow_local_urls.clone(),
            allowed_dirs: settings.allowed_dirs(),
            ui: settings.ui == UiMode::Auto,
            ..ServerOptions::new(settings.default_output_dir())
        })
    }
}

impl AipassServer {
    pub fn new(api: ApiClient, options: ServerOptions) -> Self {
        let ServerOptions {
            output_dir,
            model_preferences,
            preview_budget,
            local_urls,
            allowed_dirs,
            ui,
            sign_in,
        } = options;
        let mut always_allowed = vec![output_dir.clone()];
        always_allowed.extend(allowed_dirs);
        let state = AppState {
            models: ModelCatalog::with_preferences(api.clone(), model_preferences),
            fetcher: fetcher_for(&api, local_urls),
            api,
            always_allowed: Arc::new(always_allowed),
            output_dir,
            balance: Mutex::new(None),
            videos: Mutex::default(),
            preview_budget,
            sign_in: sign_in.as_ref().map(|session| session.sign_in_status()),
            sign_in_session: sign_in,
            ui,
        };
        Self {
            state: Arc::new(state),
        }
    }
}

fn fetcher_for(api: &ApiClient, local: LocalUrls) -> InputFetcher {
    let settings = api.settings();
    InputFetcher::new(
        UrlPolicy::new(local),
        settings.connect_timeout,
        settings.request_timeout,
    )
}
