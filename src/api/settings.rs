//! Where and how the client talks to AI Pass: the origin, the model API's path and its alias,
//! timeouts and limits.

use std::time::Duration;

use url::Url;

/// Where and how the client talks to AI Pass.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// The API origin, e.g. `https://aipass.one` (a path prefix is kept).
    pub base_url: Url,
    /// Sent as `X-AIPass-OAuth-Client-Id` when set.
    pub client_id: Option<String>,
    pub connect_timeout: Duration,
    /// Whole-request limit; for streamed chat, the longest wait for the next piece.
    pub request_timeout: Duration,
    pub max_response_bytes: u64,
    /// The longest `Retry-After` waited out before retrying a 429; longer ones fail at once.
    pub max_retry_wait: Duration,
    /// Path segments of the model API under the origin (`v1`).
    pub api_path: Vec<String>,
    /// Tried once when a route under `api_path` answers 404 (a server that has only the
    /// compatibility alias, such as `oauth2/v1`); kept once it answers. None: no fallback.
    pub alias_path: Option<Vec<String>>,
}

/// The model API's canonical base path.
pub const API_PATH: &str = "/v1";
/// The alias OAuth clients fall back to (the seed document's base path).
pub const OAUTH_ALIAS_PATH: &str = "/oauth2/v1";
/// The alias for developer API keys.
pub const API_KEY_ALIAS_PATH: &str = "/apikey/v1";

/// `/oauth2/v1` as path segments.
pub fn path_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl ApiSettings {
    pub fn new(base_url: Url) -> Self {
        ApiSettings {
            base_url,
            client_id: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            max_response_bytes: 64 * 1024 * 1024,
            max_retry_wait: Duration::from_secs(10),
            api_path: path_segments(API_PATH),
            alias_path: Some(path_segments(OAUTH_ALIAS_PATH)),
        }
    }
}

impl ApiSettings {
    /// The settings the server and the CLI use. With a developer API key the client id header
    /// is left out (it is for OAuth clients) and the fallback alias is `/apikey/v1`; an explicit
    /// `AIPASS_API_PATH` turns the fallback off.
    pub fn from_settings(settings: &crate::config::Settings, api_key: bool) -> Self {
        let mut api = ApiSettings::new(settings.base_url.clone());
        api.client_id = if api_key {
            None
        } else {
            settings.client_id.clone()
        };
        api.connect_timeout = settings.connect_timeout;
        api.request_timeout = settings.request_timeout;
        api.max_retry_wait = settings.max_retry_wait;
        match &settings.api_path {
            Some(path) => {
                api.api_path = path_segments(path);
                api.alias_path = None;
            }
            None if api_key => api.alias_path = Some(path_segments(API_KEY_ALIAS_PATH)),
            None => {}
        }
        api
    }
}
