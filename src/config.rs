//! Every AIPASS_* setting, parsed once at startup (environment first, CLI flags mirror them).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use url::Url;

use crate::net_policy::LocalUrls;

/// The fixed loopback port registered for sign-in (the redirect URI must match exactly).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:47821/callback";

/// Settings shared by every subcommand. Each one can be given as an environment variable
/// (what MCP hosts pass) or as the matching flag.
#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// AI Pass API origin.
    #[arg(long, env = "AIPASS_BASE_URL", default_value = "https://aipass.one", value_parser = parse_origin, global = true)]
    pub base_url: Url,

    /// OAuth client id of your AI Pass app (public client, no secret).
    #[arg(long, env = "AIPASS_CLIENT_ID", global = true)]
    pub client_id: Option<String>,

    /// Loopback redirect URI registered for the client; its port is fixed.
    #[arg(long, env = "AIPASS_REDIRECT_URI", default_value = DEFAULT_REDIRECT_URI, value_parser = parse_redirect_uri, global = true)]
    pub redirect_uri: Url,

    /// Scopes requested at sign-in.
    #[arg(
        long,
        env = "AIPASS_SCOPES",
        default_value = "api:access profile:read",
        global = true
    )]
    pub scopes: String,

    /// Where tokens are kept.
    #[arg(long, env = "AIPASS_TOKEN_STORE", value_enum, default_value_t = TokenStoreMode::Auto, global = true)]
    pub token_store: TokenStoreMode,

    /// Folder for the file token store and lock files.
    #[arg(long, env = "AIPASS_CONFIG_DIR", global = true)]
    pub config_dir: Option<PathBuf>,

    /// Folder for generated files (images, audio, embeddings).
    #[arg(long, env = "AIPASS_OUTPUT_DIR", value_parser = parse_absolute_dir, global = true)]
    pub output_dir: Option<PathBuf>,

    /// Command that opens a URL; `none` never opens a browser, only shows the URL.
    #[arg(long, env = "AIPASS_BROWSER", global = true)]
    pub browser: Option<String>,

    /// Seconds a tool call waits for sign-in to finish.
    #[arg(long, env = "AIPASS_LOGIN_TIMEOUT", default_value = "120", value_parser = parse_seconds, global = true)]
    pub login_timeout: Duration,

    /// Seconds to wait for a connection to AI Pass.
    #[arg(long, env = "AIPASS_CONNECT_TIMEOUT", default_value = "10", value_parser = parse_seconds, global = true)]
    pub connect_timeout: Duration,

    /// Seconds one AI Pass request may take in all.
    #[arg(long, env = "AIPASS_REQUEST_TIMEOUT", default_value = "300", value_parser = parse_seconds, global = true)]
    pub request_timeout: Duration,

    /// Longest `Retry-After` (seconds) waited out before retrying a rate-limited request; 0 = never wait.
    #[arg(long, env = "AIPASS_MAX_RETRY_WAIT", default_value = "10", value_parser = parse_wait, global = true)]
    pub max_retry_wait: Duration,

    /// Inline previews in results: `auto` (small, within AIPASS_INLINE_BUDGET) or `never`.
    #[arg(long, env = "AIPASS_INLINE", value_enum, default_value_t = InlineMode::Auto, global = true)]
    pub inline: InlineMode,

    /// Bytes of base64 previews one result may carry in all.
    #[arg(
        long,
        env = "AIPASS_INLINE_BUDGET",
        default_value_t = 700_000,
        global = true
    )]
    pub inline_budget: usize,

    /// Base path of the model API on the origin; unset = `/v1`, falling back to the
    /// `/oauth2/v1` alias (or `/apikey/v1` with an API key) on servers without `/v1`.
    #[arg(long, env = "AIPASS_API_PATH", value_parser = parse_api_path, global = true)]
    pub api_path: Option<String>,

    /// Default models per need, tried before the built-in order: `chat=gpt-5-nano,image=imagen-4-ultra`
    /// (needs: chat, vision, image, image_edit, variation, tts, transcription, embedding, video).
    #[arg(long, env = "AIPASS_DEFAULT_MODELS", global = true)]
    pub default_models: Option<String>,

    /// MCP Apps view for image, speech and video results in hosts that declare the extension:
    /// `auto` or `off` (plain results everywhere; see docs/apps.md).
    #[arg(long, env = "AIPASS_UI", value_enum, default_value_t = UiMode::Auto, global = true)]
    pub ui: UiMode,

    /// Input URLs that may reach local or private addresses: `1` = all, or a list of
    /// `host:port` origins; unset = only public addresses (see docs/security.md).
    #[arg(long, env = "AIPASS_ALLOW_LOCAL_URLS", default_value = "", value_parser = LocalUrls::parse, global = true)]
    pub allow_local_urls: LocalUrls,

    /// Extra folders tool calls may read and write when the client declares roots (separated
    /// like PATH); the default output folder is always allowed.
    #[arg(long, env = "AIPASS_ALLOWED_DIRS", global = true)]
    pub allowed_dirs: Option<std::ffi::OsString>,

    /// Log filter for stderr (tracing syntax: error, warn, info, debug, trace).
    #[arg(long, env = "AIPASS_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// Where tokens are kept between sessions.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStoreMode {
    /// The OS keyring when it answers, else a 0600 file.
    Auto,
    /// The OS keyring only.
    Keyring,
    /// A 0600 file in the config folder.
    File,
}

/// Whether hosts that declare MCP Apps get the media view.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiMode {
    /// For hosts that declare `io.modelcontextprotocol/ui`.
    Auto,
    /// Never: every host sees the plain catalogue.
    Off,
}

/// Whether results carry inline previews.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InlineMode {
    /// Small previews, within the budget.
    Auto,
    /// Paths only.
    Never,
}

impl Settings {
    /// Bytes of inline previews a result may carry; 0 means none.
    pub fn preview_budget(&self) -> usize {
        match self.inline {
            InlineMode::Auto => self.inline_budget,
            InlineMode::Never => 0,
        }
    }

    /// The folder for generated files when a call names none.
    pub fn default_output_dir(&self) -> PathBuf {
        self.output_dir.clone().unwrap_or_else(default_output_dir)
    }

    /// `AIPASS_ALLOWED_DIRS` as absolute folders (relative entries are ignored).
    pub fn allowed_dirs(&self) -> Vec<PathBuf> {
        self.allowed_dirs
            .as_deref()
            .map(|list| {
                std::env::split_paths(list)
                    .filter(|p| p.is_absolute())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The folder for the file token store and lock files.
    pub fn config_dir(&self) -> PathBuf {
        self.config_dir.clone().unwrap_or_else(|| {
            dirs::config_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("aipass-mcp")
        })
    }
}

/// `<data dir>/aipass-mcp/output`, e.g. `~/.local/share/aipass-mcp/output` on Linux.
pub fn default_output_dir() -> PathBuf {
    dirs::data_local_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("aipass-mcp")
        .join("output")
}

/// The bearer token given in the environment, if any. It is read here and nowhere else,
/// and deliberately has no CLI flag: a flag would show the token in `ps`.
pub fn access_token_from_env() -> Option<String> {
    std::env::var("AIPASS_ACCESS_TOKEN")
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// The developer API key given in the environment, if any (AI Pass developer panel, API Keys).
/// Like the access token it has no CLI flag, so it never shows in `ps`.
pub fn api_key_from_env() -> Option<String> {
    std::env::var("AIPASS_API_KEY")
        .ok()
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
}

/// `/v1`, `/oauth2/v1`, `/apikey/v1` or another plain path: `/`-separated segments, no `.`/`..`.
fn parse_api_path(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = value.starts_with('/')
        && value.split('/').skip(1).all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        });
    if !valid {
        return Err("must be a path such as /v1 or /oauth2/v1".into());
    }
    Ok(value.to_string())
}

fn parse_origin(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) origin such as https://aipass.one".into());
    }
    if url.path() != "/" || url.query().is_some() {
        return Err("must be an origin without a path, such as https://aipass.one".into());
    }
    // Tokens travel to this origin: in clear text only to this machine (a local test server).
    if url.scheme() == "http" && !is_loopback_host(&url) {
        return Err(
            "plain http is only allowed for loopback hosts (127.0.0.1, [::1], localhost); use https"
                .into(),
        );
    }
    Ok(url)
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn parse_redirect_uri(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("not a URL ({e})"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "http" || !loopback || url.port().is_none() {
        return Err(
            "must be a loopback http URL with a fixed port, such as http://127.0.0.1:47821/callback"
                .into(),
        );
    }
    Ok(url)
}

fn parse_absolute_dir(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if !path.is_absolute() {
        return Err("must be an absolute path".into());
    }
    Ok(path)
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    let seconds: f64 = value
        .trim()
        .parse()
        .map_err(|_| "must be a number of seconds".to_string())?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err("must be between 0 and 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Like [`parse_seconds`], but 0 is allowed (it turns the wait off).
fn parse_wait(value: &str) -> Result<Duration, String> {
    let seconds: f64 = value
        .trim()
        .parse()
        .map_err(|_| "must be a number of seconds".to_string())?;
    if !(0.0..=3600.0).contains(&seconds) {
        return Err("must be between 0 and 3600 seconds".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_must_have_no_path() {
        assert!(parse_origin("https://aipass.one").is_ok());
        assert!(parse_origin("http://127.0.0.1:8080/").is_ok());
        assert!(parse_origin("https://aipass.one/oauth2/v1").is_err());
        assert!(parse_origin("ftp://aipass.one").is_err());
        assert!(parse_origin("aipass.one").is_err());
    }

    #[test]
    fn api_path_is_a_plain_path() {
        assert_eq!(parse_api_path("/v1").unwrap(), "/v1");
        assert_eq!(parse_api_path(" /oauth2/v1 ").unwrap(), "/oauth2/v1");
        for bad in [
            "v1",
            "/",
            "/v1/",
            "//v1",
            "/../v1",
            "/v1?x=1",
            "/v 1",
            "https://x/v1",
        ] {
            assert!(parse_api_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_origins_must_be_loopback() {
        assert!(parse_origin("http://localhost:8080").is_ok());
        assert!(parse_origin("http://[::1]:8080").is_ok());
        assert!(parse_origin("http://127.5.0.1").is_ok());
        for refused in [
            "http://aipass.one",
            "http://10.0.0.5:8080",
            "http://192.168.1.2",
            "http://[fd00::1]",
            "http://localhost.example.com",
        ] {
            assert!(parse_origin(refused).is_err(), "{refused}");
        }
        assert!(parse_origin("https://10.0.0.5:8443").is_ok());
    }

    #[test]
    fn redirect_uri_must_be_loopback_with_port() {
        assert!(parse_redirect_uri(DEFAULT_REDIRECT_URI).is_ok());
        assert!(parse_redirect_uri("http://localhost:9000/cb").is_ok());
        assert!(parse_redirect_uri("http://127.0.0.1/callback").is_err());
        assert!(parse_redirect_uri("https://example.com:443/cb").is_err());
    }

    #[test]
    fn seconds_are_positive_numbers() {
        assert_eq!(parse_seconds("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn a_wait_may_be_zero() {
        assert_eq!(parse_wait("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_wait("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_wait("-1").is_err());
        assert!(parse_wait("7200").is_err());
        assert!(parse_wait("NaN").is_err());
    }
}
