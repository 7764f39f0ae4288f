//! aipass-fake: a strict, in-memory fake of the AI Pass REST API (OAuth2 + PKCE, the
//! device-approved client setup, and the `/oauth2/v1` proxy).
//!
//! Start it with [`FakeServer::start`], point a client at [`FakeServer::base_url`], and steer it
//! (tokens, budget, consent, faults) through the methods on [`FakeServer`] or over HTTP under `/_fake`.

mod account;
mod agent_auth;
mod agent_registry;
mod app;
mod audio;
mod audio_files;
mod caller;
mod chat;
mod clock;
mod closed_early;
mod control;
mod embeddings;
mod error;
mod fault_responses;
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
mod types;
mod video_job;
mod videos;

use std::net::SocketAddr;
use std::time::Duration;

pub use agent_registry::{DeviceAnswer, DeviceUser};
pub use faults::{Fault, FaultKind};
pub use tokens::pkce_challenge;
pub use types::{
    AgentAuthStats, Catalogue, Consent, FakeClient, FakeConfig, IssuedSecrets, RecordedRequest,
    Stats, TokenPair,
};

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
