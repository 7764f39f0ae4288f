//! The fake's plain public data: how it is set up, what it hands out, and what it counted and
//! recorded. Every other file may import these; they import nothing of the fake's.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
pub struct IssuedSecrets(pub(crate) Vec<String>);

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
