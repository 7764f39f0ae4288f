//! First-run provisioning (AI Pass's device-approved setup): when no client id is configured,
//! ask the user to approve, in the browser, that aipass-mcp creates a public PKCE client on their
//! account bound to exactly the loopback redirect URI; then `ensure` it, store its id in
//! `client.json`, and revoke the setup grant.
//!
//! One device request at a time, across processes too: `provision.lock` in the config folder is
//! held from the device request to the stored client id, and a second process waits for it and
//! then reads the stored id. The `asg_` grant and the device code live in memory only, in
//! wrappers whose Debug output is redacted; no message built here contains them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use super::client_id::{self, Installation};
use super::flow::{self, BrowserOutcome};
use super::{link_file, lock};

/// Lock file (in the config folder) held while this installation's device request is live.
pub const PROVISION_LOCK_FILE: &str = "provision.lock";
/// The smallest setup scope set that can create a client.
pub const SETUP_SCOPES: [&str; 3] = ["setup:read", "oauth-clients:read", "oauth-clients:create"];
/// The setup protocol version these references describe.
const SETUP_VERSION: u32 = 5;
/// The tool's own name, shown on the approval page.
const AGENT_NAME: &str = "aipass-mcp";
/// The project and client name shown on the approval page and in the developer panel.
pub const CLIENT_NAME: &str = "aipass-mcp (MCP server)";
/// RFC 8628: `slow_down` adds this to the interval, for that and every later poll.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// When an answer gives no interval.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// How often a process waiting for another one's provisioning looks again.
const OTHER_PROCESS_POLL: Duration = Duration::from_millis(400);

/// What the user is asked to do, for the session to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Approve this link (the user code is on the page too).
    Approval {
        /// `verificationUriComplete`.
        url: String,
        /// The code the approval page shows, to compare.
        user_code: String,
        /// Whether a browser was opened on it.
        browser_opened: bool,
    },
    /// Another aipass-mcp holds the provisioning lock; its approval link, when known.
    OtherProcess {
        /// The other instance's approval link.
        url: Option<String>,
    },
}

/// What provisioning needs from the session.
pub struct Setup<'a> {
    /// No-redirect HTTP client (the token endpoint's).
    pub http: &'a reqwest::Client,
    /// API origin.
    pub base_url: &'a Url,
    /// The one callback the client is bound to.
    pub redirect_uri: &'a Url,
    /// Scopes the user will grant at sign-in (the client's runtime scopes).
    pub runtime_scopes: Vec<String>,
    /// Config folder (`client.json`, the lock file, the link file).
    pub config_dir: &'a Path,
    /// Where the approval link is written for other instances (the sign-in link file).
    pub link_file: PathBuf,
    /// `AIPASS_BROWSER`.
    pub browser: Option<&'a str>,
    /// The MCP client shows links itself: open no browser.
    pub host_shows_link: bool,
    /// Give up then.
    pub deadline: tokio::time::Instant,
}

/// The setup grant. Never printed: Debug is redacted and there is no Display.
struct SetupGrant(String);

impl fmt::Debug for SetupGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SetupGrant(***)")
    }
}

/// A device code (a secret until it is exchanged).
struct DeviceCode(String);

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceCode(***)")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceAnswer {
    device_code: String,
    user_code: String,
    verification_uri_complete: Option<String>,
    verification_uri: String,
    expires_in: Option<u64>,
    interval: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Approved {
    status: String,
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnsuredClient {
    client_id: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
}

/// A refusal from the control plane: the envelope's `error` code and `message`.
#[derive(Debug)]
struct Refusal {
    status: u16,
    error: String,
    message: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.error)?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// Why a control-plane call failed.
#[derive(Debug)]
enum CallError {
    /// No answer, or a 5xx / 429: the same call may be tried again.
    Transient(String),
    /// The service refused.
    Refused(Refusal),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transient(why) => write!(f, "cannot reach AI Pass: {why}"),
            CallError::Refused(refusal) => write!(f, "AI Pass refused: {refusal}"),
        }
    }
}

impl CallError {
    /// The client for the key was deleted or deactivated, or is bound to other callbacks:
    /// only a new key helps (never for a transient error).
    fn needs_next_key(&self) -> bool {
        let CallError::Refused(refusal) = self else {
            return false;
        };
        let words = format!(
            "{} {}",
            refusal.error,
            refusal.message.as_deref().unwrap_or_default()
        )
        .to_ascii_lowercase();
        [
            "deleted",
            "deactivated",
            "inactive",
            "redirect_uris_mismatch",
        ]
        .iter()
        .any(|w| words.contains(w))
    }
}

/// The client id for this installation: the stored one when another run already made it,
/// else a new one through the user's approval. Ends by `setup.deadline`.
pub async fn client_id(setup: &Setup<'_>, show: impl Fn(Shown)) -> Result<String, String> {
    let origin = flow::origin(setup.base_url).to_owned();
    let redirect = setup.redirect_uri.as_str().to_owned();
    let mut told_other = false;
    loop {
        if let Some(id) = stored(setup.config_dir, &origin, &redirect)? {
            return Ok(id);
        }
        match lock::try_lock(setup.config_dir, PROVISION_LOCK_FILE)? {
            Some(lock) => {
                let result = provision_locked(setup, &origin, &show).await;
                drop(lock);
                return result;
            }
            None => {
                if !told_other {
                    tracing::info!(
                        "another aipass-mcp is setting up the AI Pass client; waiting for it"
                    );
                    told_other = true;
                }
                let url = link_file::read(&setup.link_file);
                show(Shown::OtherProcess { url });
                if tokio::time::Instant::now() >= setup.deadline {
                    return Err("another aipass-mcp's AI Pass setup did not finish in time.".into());
                }
                tokio::time::sleep(OTHER_PROCESS_POLL).await;
            }
        }
    }
}

fn stored(dir: &Path, origin: &str, redirect: &str) -> Result<Option<String>, String> {
    Ok(client_id::load(dir)?.and_then(|i| i.client_for(origin, redirect).map(str::to_owned)))
}

/// Runs the whole setup with the lock held.
async fn provision_locked(
    setup: &Setup<'_>,
    origin: &str,
    show: &impl Fn(Shown),
) -> Result<String, String> {
    // Another process may have finished just before we got the lock.
    let mut installation = client_id::load(setup.config_dir)?.unwrap_or_else(Installation::new);
    if let Some(id) = installation.client_for(origin, setup.redirect_uri.as_str()) {
        return Ok(id.to_owned());
    }
    // Fingerprint and key are on disk before anything is asked: a crash from here on resumes
    // with the same ones, so `ensure` answers the same client.
    installation.origin_mut(origin);
    client_id::save(setup.config_dir, &installation)?;

    let grant = approve(setup, &installation.project_fingerprint, show).await;
    let _ = std::fs::remove_file(&setup.link_file);
    let grant = grant?;
    let result = create_client(setup, origin, &mut installation, &grant).await;
    // The grant is not needed once the client exists (or cannot be made): revoke and drop it.
    revoke(setup, &grant).await;
    drop(grant);
    result
}

/// The device request, the approval link, and polling until the user answered.
async fn approve(
    setup: &Setup<'_>,
    fingerprint: &str,
    show: &impl Fn(Shown),
) -> Result<SetupGrant, String> {
    let body = json!({
        "agentName": AGENT_NAME,
        "projectName": CLIENT_NAME,
        "projectFingerprint": fingerprint,
        "setupVersion": SETUP_VERSION,
        "requestedScopes": SETUP_SCOPES,
        "proposedRedirectUris": [setup.redirect_uri.as_str()],
    });
    let device: DeviceAnswer = call(
        setup,
        reqwest::Method::POST,
        "/api/v1/agent-auth/device",
        None,
        Some(&body),
    )
    .await
    .map_err(|e| format!("the AI Pass setup request failed ({e})."))?;
    let code = DeviceCode(device.device_code);
    let url = device
        .verification_uri_complete
        .unwrap_or(device.verification_uri);
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err("AI Pass answered an approval link that is not a web address.".into());
    }
    let expires =
        tokio::time::Instant::now() + Duration::from_secs(device.expires_in.unwrap_or(600));
    let deadline = expires.min(setup.deadline);
    let mut interval = device
        .interval
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_INTERVAL)
        .max(Duration::from_secs(1));

    write_link(setup, &url);
    let outcome = if setup.host_shows_link {
        BrowserOutcome::LeftToHost
    } else {
        flow::open_browser(setup.browser, &url)
    };
    let browser_opened = matches!(outcome, BrowserOutcome::Opened(_));
    tracing::info!(
        "approve the AI Pass setup (code {}) so aipass-mcp can create its sign-in client on your account: {url}",
        device.user_code
    );
    show(Shown::Approval {
        url: url.clone(),
        user_code: device.user_code.clone(),
        browser_opened,
    });

    let body = json!({ "deviceCode": code.0 });
    loop {
        if tokio::time::Instant::now() + interval > deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(if deadline == expires {
                "the AI Pass setup request expired before it was approved (expired_token).".into()
            } else {
                "nobody approved the AI Pass setup request in time.".into()
            });
        }
        tokio::time::sleep(interval).await;
        match call::<Approved>(
            setup,
            reqwest::Method::POST,
            "/api/v1/agent-auth/token",
            None,
            Some(&body),
        )
        .await
        {
            Ok(approved)
                if approved.status == "approved" && approved.access_token.starts_with("asg_") =>
            {
                tracing::info!("the AI Pass setup request was approved");
                return Ok(SetupGrant(approved.access_token));
            }
            Ok(_) => {
                return Err(
                    "AI Pass answered the setup poll with something other than an approval.".into(),
                );
            }
            Err(CallError::Refused(refusal)) => {
                match refusal.error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => {
                        interval += SLOW_DOWN_STEP;
                        tracing::debug!(
                            "AI Pass asked to poll more slowly; every {} s now",
                            interval.as_secs()
                        );
                    }
                    "access_denied" => {
                        return Err("the AI Pass setup request was declined on the approval page (access_denied).".into());
                    }
                    "expired_token" => {
                        return Err("the AI Pass setup request expired before it was approved (expired_token).".into());
                    }
                    _ => return Err(format!("AI Pass refused the setup poll ({refusal}).")),
                }
            }
            Err(CallError::Transient(why)) => {
                tracing::debug!("polling the AI Pass setup request failed ({why}); trying again");
            }
        }
    }
}

/// `context`, then `ensure` with the stored key; a deleted or deactivated client moves the key
/// on once. Stores the client id.
async fn create_client(
    setup: &Setup<'_>,
    origin: &str,
    installation: &mut Installation,
    grant: &SetupGrant,
) -> Result<String, String> {
    match call::<Value>(
        setup,
        reqwest::Method::GET,
        "/api/v1/agent-control/context",
        Some(grant),
        None,
    )
    .await
    {
        Ok(context) => {
            let owned = context["oauthClients"].as_array().map_or(0, Vec::len);
            tracing::debug!("the AI Pass account owns {owned} public OAuth client(s)");
        }
        Err(e) => tracing::debug!("could not read the AI Pass setup context ({e})"),
    }
    let mut moved_key = false;
    let mut retried = false;
    loop {
        let key = installation
            .origin_mut(origin)
            .oauth_client_idempotency_key
            .clone();
        let body = json!({
            "name": CLIENT_NAME,
            "idempotencyKey": key,
            "runtimeScopes": setup.runtime_scopes,
        });
        match call::<EnsuredClient>(
            setup,
            reqwest::Method::POST,
            "/api/v1/agent-control/oauth-clients/ensure",
            Some(grant),
            Some(&body),
        )
        .await
        {
            Ok(client) => {
                let redirect = setup.redirect_uri.as_str();
                if !client.redirect_uris.is_empty()
                    && !client.redirect_uris.iter().any(|u| u == redirect)
                {
                    return Err(format!(
                        "AI Pass created a client that is not bound to {redirect}."
                    ));
                }
                let entry = installation.origin_mut(origin);
                entry.client_id = Some(client.client_id.clone());
                entry.redirect_uri = Some(redirect.to_owned());
                client_id::save(setup.config_dir, installation)?;
                tracing::info!(
                    "created the AI Pass OAuth client {} on your account ({key})",
                    client.client_id
                );
                return Ok(client.client_id);
            }
            Err(e) if e.needs_next_key() && !moved_key => {
                let next = client_id::next_key(&key);
                tracing::info!(
                    "AI Pass says the client for {key} is gone or no longer matches ({e}); using {next}"
                );
                installation.origin_mut(origin).oauth_client_idempotency_key = next;
                client_id::save(setup.config_dir, installation)?;
                moved_key = true;
            }
            // A lost answer: the same key answers the same client.
            Err(CallError::Transient(why)) if !retried => {
                tracing::debug!(
                    "ensuring the AI Pass client failed ({why}); trying once more with the same key"
                );
                retried = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(format!(
                    "AI Pass could not create the sign-in client ({e})."
                ));
            }
        }
    }
}

/// `DELETE /api/v1/agent-control/session`: the grant stops working at once.
async fn revoke(setup: &Setup<'_>, grant: &SetupGrant) {
    match call::<Value>(
        setup,
        reqwest::Method::DELETE,
        "/api/v1/agent-control/session",
        Some(grant),
        None,
    )
    .await
    {
        Ok(_) => tracing::debug!("revoked the AI Pass setup grant"),
        Err(e) => {
            tracing::warn!("could not revoke the AI Pass setup grant ({e}); it expires on its own")
        }
    }
}

/// Writes the approval link for other instances to show (mode 0600, best effort).
fn write_link(setup: &Setup<'_>, url: &str) {
    let written = link_file::write(setup.config_dir, &setup.link_file, ".approval-url-", url);
    if let Err(e) = written {
        tracing::debug!("could not write the approval link file: {e}");
    }
}

/// One control-plane call: JSON in, the standard envelope's `data` out.
async fn call<T: DeserializeOwned>(
    setup: &Setup<'_>,
    method: reqwest::Method,
    path: &str,
    grant: Option<&SetupGrant>,
    body: Option<&Value>,
) -> Result<T, CallError> {
    let url = format!("{}{path}", flow::origin(setup.base_url));
    let mut request = setup
        .http
        .request(method, &url)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(grant) = grant {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", grant.0))
            .map_err(|_| CallError::Transient("the setup grant cannot be sent".into()))?;
        value.set_sensitive(true);
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| CallError::Transient(e.without_url().to_string()))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| CallError::Transient(e.without_url().to_string()))?;
    let envelope: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        let data = envelope.get("data").cloned().unwrap_or(envelope);
        return serde_json::from_value(data)
            .map_err(|e| CallError::Transient(format!("unexpected answer from {path}: {e}")));
    }
    let error = match &envelope["error"] {
        Value::String(code) => code.clone(),
        Value::Object(map) => map
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_owned(),
        _ => "error".into(),
    };
    let message = envelope["message"]
        .as_str()
        .or_else(|| envelope["error"]["message"].as_str())
        .map(str::to_owned);
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(CallError::Transient(format!("HTTP {status}")));
    }
    Err(CallError::Refused(Refusal {
        status: status.as_u16(),
        error,
        message,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(error: &str, message: Option<&str>) -> CallError {
        CallError::Refused(Refusal {
            status: 409,
            error: error.into(),
            message: message.map(str::to_owned),
        })
    }

    #[test]
    fn only_a_gone_client_moves_the_key() {
        assert!(refused("oauth_client_deactivated", None).needs_next_key());
        assert!(refused("conflict", Some("the client was deleted")).needs_next_key());
        assert!(refused("redirect_uris_mismatch", None).needs_next_key());
        assert!(!refused("idempotency_mismatch", Some("another name")).needs_next_key());
        assert!(!CallError::Transient("timed out".into()).needs_next_key());
    }

    #[test]
    fn secrets_debug_redacted() {
        assert_eq!(
            format!("{:?}", SetupGrant("asg_secret".into())),
            "SetupGrant(***)"
        );
        assert_eq!(
            format!("{:?}", DeviceCode("dc_secret".into())),
            "DeviceCode(***)"
        );
    }
}
