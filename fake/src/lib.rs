//! aipass-fake: a strict, in-memory fake of the AI Pass REST API (OAuth2 + PKCE, the
//! device-approved client setup, and the `/oauth2/v1` proxy).
//!
//! Start it with [`FakeServer::start`], point a client at [`FakeServer::base_url`], and steer it
//! (tokens, budget, consent, faults) through the methods on [`FakeServer`] or over HTTP under `/_fake`.

mod account;
mod agent_auth;
mod app;
mod audio;
mod audio_files;
mod caller;
mod chat;
mod control;
mod embeddings;
mod error;
mod faults;
mod gate;
mod images;
mod input;
mod media;
mod models;
mod oauth;
mod png;
mod redirect;
mod server;
mod state;
mod tokens;
mod videos;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use agent_auth::{DeviceAnswer, DeviceUser};
pub use faults::{Fault, FaultKind};
pub use tokens::pkce_challenge;

/// How the fake is set up at start.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Registered OAuth clients (public clients: no secret, PKCE S256 only).
    pub clients: Vec<FakeClient>,
    /// Lifetime of issued access tokens.
    pub access_token_ttl: Duration,
    /// Budget in USD the user starts with.
    pub max_budget: f64,
    /// Which service the fake plays: today's live one (the default) or the seed document's.
    pub catalogue: Catalogue,
}

/// Which AI Pass the fake behaves like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Catalogue {
    /// The live service: provider-neutral ids with `type`/`methods`/`capabilities`, the model
    /// API on `/v1` (with the `/oauth2/v1` and `/apikey/v1` aliases), `400` for unknown models.
    #[default]
    Live,
    /// The seed document: prefixed ids, no metadata, plain id arrays, only `/oauth2/v1`, `404`.
    Seed,
}

/// One registered OAuth client.
#[derive(Clone, Debug)]
pub struct FakeClient {
    /// The `client_id`.
    pub client_id: String,
    /// Redirect URIs, matched exactly (scheme, host, port, path, trailing slash).
    pub redirect_uris: Vec<String>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            clients: vec![FakeClient {
                client_id: "aipass-mcp-demo".into(),
                redirect_uris: vec!["http://127.0.0.1:47821/callback".into()],
            }],
            access_token_ttl: Duration::from_secs(3600),
            max_budget: 10.0,
            catalogue: Catalogue::Live,
        }
    }
}

/// What the user's answer on the consent screen will be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Redirect back with a code.
    #[default]
    Approve,
    /// Redirect back with `error=access_denied`.
    Deny,
}

/// A token response, exactly as `POST /oauth2/token` returns it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenPair {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Single-use refresh token (rotates on every refresh).
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: String,
    /// Space-separated granted scopes.
    pub scope: String,
}

/// Counters since start.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    /// `GET /oauth2/authorize` requests (any outcome).
    pub authorize: u64,
    /// Successful authorization-code exchanges.
    pub code_exchanges: u64,
    /// Successful refresh-token grants.
    pub refreshes: u64,
    /// `POST /oauth2/revoke` requests.
    pub revocations: u64,
    /// Token-endpoint requests answered with an error.
    pub failed_token_requests: u64,
    /// API calls (not OAuth flow, not `/_fake`) by `"METHOD /path"`, faulted ones included.
    pub requests: BTreeMap<String, u64>,
    /// Streaming or slow responses whose client hung up before the end.
    pub connections_closed_early: u64,
    /// Downloads of generated files (`/_fake/files/…`) that carried an `Authorization` header.
    #[serde(default)]
    pub file_downloads_with_credentials: u64,
}

/// Counters of the device-approved setup endpoints since start.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AgentAuthStats {
    /// Accepted `POST /api/v1/agent-auth/device` requests.
    pub device_requests: u64,
    /// `POST /api/v1/agent-auth/token` polls (any answer).
    pub polls: u64,
    /// Polls that came sooner than the interval asked for (answered `slow_down`).
    pub polls_too_fast: u64,
    /// Approval-page visits the user approved.
    pub approvals: u64,
    /// Approval-page visits the user denied.
    pub denials: u64,
    /// `asg_` setup grants issued.
    pub grants_issued: u64,
    /// `GET /api/v1/agent-control/context` answered.
    pub context_reads: u64,
    /// `POST /api/v1/agent-control/oauth-clients/ensure` with a live grant.
    pub ensures: u64,
    /// OAuth clients `ensure` created.
    pub clients_created: u64,
    /// `DELETE /api/v1/agent-control/session` that revoked a grant.
    pub sessions_revoked: u64,
}

/// One request the fake saw (everything except `/_fake/*`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The `X-AIPass-OAuth-Client-Id` header, if sent.
    pub client_id_header: Option<String>,
    /// Endpoint-specific digest of the request (never tokens, codes or verifiers).
    pub summary: serde_json::Value,
    /// Status answered; 0 when the connection was reset without an answer.
    #[serde(default)]
    pub status: u16,
}

/// Every access token, refresh token, authorization code and PKCE verifier the fake issued or
/// was sent. Deliberately not `Debug`: a failing assertion must not print the values it checks.
pub struct IssuedSecrets(Vec<String>);

impl IssuedSecrets {
    /// The values, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// How many distinct values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when none was seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first secret that occurs in `text`, shown only by its first 12 characters (enough
    /// to tell an `aipass_at_` token from an `aipass_rt_` one).
    pub fn found_in(&self, text: &str) -> Option<String> {
        self.iter()
            .find(|secret| text.contains(secret))
            .map(|secret| format!("{}…", secret.chars().take(12).collect::<String>()))
    }
}

/// A running fake. Dropping it shuts the server down.
pub struct FakeServer {
    state: state::AppState,
    _server: server::Running,
}

impl FakeServer {
    /// Starts on `127.0.0.1` with a free port.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeServer> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on the given address (port 0 = pick a free one).
    pub async fn start_on(addr: SocketAddr, config: FakeConfig) -> std::io::Result<FakeServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        // An unspecified bind address is still reachable through loopback.
        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if local.is_ipv6() {
            format!("[{}]", local.ip())
        } else {
            local.ip().to_string()
        };
        let base_url = format!("http://{host}:{}", local.port());
        let state = state::AppState::new(config, base_url);
        let running = server::spawn(listener, app::router(state.clone()));
        Ok(FakeServer {
            state,
            _server: running,
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// Issues a token pair as if the user had signed in (first registered client); counts nothing.
    pub fn issue_token(&self, scope: &str) -> TokenPair {
        self.state.issue_token(scope)
    }

    /// A developer API key, as the developer panel would hand out: a bearer for `/v1` and
    /// `/apikey/v1` (not for the OAuth-only `/oauth2/v1` alias, nor for `/oauth2/userinfo`).
    pub fn issue_api_key(&self) -> String {
        self.state.tokens.lock().unwrap().issue_api_key()
    }

    /// Every secret seen so far (issued or received), for leak checks in tests.
    pub fn issued_secrets(&self) -> IssuedSecrets {
        let mut secrets = self.state.tokens.lock().unwrap().secrets_seen();
        secrets.extend(self.state.agent_auth.lock().unwrap().secrets().cloned());
        secrets.sort();
        IssuedSecrets(secrets)
    }

    /// Chooses what the user does on the next approval pages, and how polls answer.
    pub fn set_device_user(&self, user: DeviceUser) {
        self.state.agent_auth.lock().unwrap().user = user;
    }

    /// Lets held `ensure` answers go (see [`DeviceUser::hold_ensure`]).
    pub fn release_ensure(&self) {
        self.state.agent_auth.lock().unwrap().user.hold_ensure = false;
    }

    /// Counters of the device-approved setup endpoints.
    pub fn agent_auth_stats(&self) -> AgentAuthStats {
        self.state.agent_auth.lock().unwrap().stats.clone()
    }

    /// Deletes a client `ensure` created, as the user can in the developer panel: its tokens
    /// stop working and `ensure` with its key answers that it was deactivated.
    pub fn delete_client(&self, client_id: &str) -> bool {
        self.state
            .agent_auth
            .lock()
            .unwrap()
            .delete_client(client_id)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.state.stats.lock().unwrap().clone()
    }

    /// The last 200 requests, most recent last.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect()
    }

    /// Queues a fault; faults are checked in the order they were added.
    pub fn inject_fault(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push(fault);
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }

    /// Makes every access token issued so far expired (refresh tokens stay valid).
    pub fn expire_all_tokens(&self) {
        self.state.tokens.lock().unwrap().expire_all();
    }

    /// Sets the budget (USD).
    pub fn set_budget(&self, max_budget: f64, total_cost: f64) {
        self.state
            .budget
            .lock()
            .unwrap()
            .set(max_budget, total_cost);
    }

    /// Removes the budget limit (the summary then says `maxBudget: null`).
    pub fn set_unlimited_budget(&self) {
        self.state.budget.lock().unwrap().set_unlimited();
    }

    /// Chooses what the next sign-ins answer on the consent screen.
    pub fn set_consent(&self, consent: Consent) {
        *self.state.consent.lock().unwrap() = consent;
    }

    /// Pause between SSE chunks of streamed chat completions (default 0).
    pub fn set_stream_chunk_delay(&self, delay: Duration) {
        *self.state.stream_delay.lock().unwrap() = delay;
    }

    /// Logs one line per request (method, path, status) to stderr; off by default, on in the binary.
    pub fn set_request_log(&self, on: bool) {
        self.state
            .log_requests
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
}
