//! The two token-endpoint calls, code exchange and refresh (JSON camelCase), and how their
//! failures tell "sign in again" from "try again later".

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::authorize::origin;

/// The longest one token-endpoint request (code exchange, refresh) may take.
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A successful answer of `POST /oauth2/token`.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// Bearer token for API calls.
    pub access_token: String,
    /// The new refresh token (it rotates on every refresh).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Seconds the access token is valid (`3600`, `3600.0` and `"3600"` are all read).
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub expires_in: Option<u64>,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why a token request failed. Never contains a token, code or verifier.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The server answered with an OAuth error (`invalid_grant`, `invalid_client`, ...).
    #[error("AI Pass refused the token request ({status} {error}{})", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The OAuth `error` code.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The request did not get an answer (connection, timeout).
    #[error("cannot reach AI Pass: {0}")]
    Network(String),
    /// The answer was not a token response.
    #[error("unexpected answer from the token endpoint: {0}")]
    Invalid(String),
    /// 503 with Retry-After: another rotation of the grant is running.
    #[error("the token endpoint is busy (HTTP 503); it asked to retry after {} s", retry_after.as_secs())]
    Busy {
        /// The server's Retry-After.
        retry_after: Duration,
    },
}

impl TokenError {
    /// The grant is dead and only a new sign-in helps: `invalid_grant`, or a 400 or 401 from
    /// the token endpoint. Anything else (403, 404, 407, a redirect, 5xx, no answer) may be a
    /// proxy, an outage or a rolling upgrade: the stored grant is kept.
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, TokenError::Rejected { status, error, .. }
            if error == "invalid_grant" || *status == 400 || *status == 401)
    }

    /// After the one retry, a second 503 is an outage like any other.
    fn busy_is_temporary(self) -> TokenError {
        match self {
            TokenError::Busy { .. } => TokenError::Network(
                "the token endpoint was still busy (HTTP 503) after one retry".into(),
            ),
            other => other,
        }
    }

    /// The OAuth error code, when the server sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            TokenError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeGrant<'a> {
    grant_type: &'a str,
    code: &'a str,
    code_verifier: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefreshGrant<'a> {
    grant_type: &'a str,
    refresh_token: &'a str,
    client_id: &'a str,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

/// An HTTP client for the token endpoint: no redirects (a POST carrying a secret is never
/// re-sent elsewhere), bounded time.
pub fn token_http_client(connect_timeout: Duration) -> reqwest::Client {
    crate::tls::client_builder()
        .connect_timeout(connect_timeout)
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("aipass-mcp/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// `POST {base}/oauth2/token` with `{grantType: "authorization_code", code, codeVerifier, clientId, redirectUri}`.
pub async fn exchange_code(
    http: &reqwest::Client,
    base_url: &Url,
    client_id: &str,
    redirect_uri: &Url,
    code: &str,
    verifier: &str,
) -> Result<TokenResponse, TokenError> {
    let body = CodeGrant {
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        client_id,
        redirect_uri: redirect_uri.as_str(),
    };
    post_token(http, base_url, &body)
        .await
        .map_err(TokenError::busy_is_temporary)
}

/// `POST {base}/oauth2/token` with `{grantType: "refresh_token", refreshToken, clientId}`.
pub async fn refresh(
    http: &reqwest::Client,
    base_url: &Url,
    client_id: &str,
    refresh_token: &str,
) -> Result<TokenResponse, TokenError> {
    let body = RefreshGrant {
        grant_type: "refresh_token",
        refresh_token,
        client_id,
    };
    match post_token(http, base_url, &body).await {
        // The server serialises rotations of one grant and answers a collision with 503 and
        // Retry-After: wait (bounded) and try once more.
        Err(TokenError::Busy { retry_after }) => {
            tokio::time::sleep(retry_after.min(MAX_BUSY_WAIT)).await;
            post_token(http, base_url, &body)
                .await
                .map_err(TokenError::busy_is_temporary)
        }
        other => other,
    }
}

/// The longest wait for a refresh answered 503 with Retry-After.
const MAX_BUSY_WAIT: Duration = Duration::from_secs(5);

/// `3600`, `3600.0` or `"3600"`; anything else (or a negative number) counts as absent.
fn lenient_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let seconds = match &value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    Ok(seconds
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.min(u64::MAX as f64 / 2.0) as u64))
}

async fn post_token(
    http: &reqwest::Client,
    base_url: &Url,
    body: &impl Serialize,
) -> Result<TokenResponse, TokenError> {
    let url = format!("{}/oauth2/token", origin(base_url));
    let response = http
        .post(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .json(body)
        .send()
        .await
        .map_err(|e| TokenError::Network(e.without_url().to_string()))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bytes = response
        .bytes()
        .await
        .map_err(|e| TokenError::Network(e.without_url().to_string()))?;
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE
        && let Some(seconds) = retry_after
    {
        return Err(TokenError::Busy {
            retry_after: Duration::from_secs(seconds),
        });
    }
    if status.is_success() {
        let tokens: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| TokenError::Invalid(format!("HTTP {status}: {e}")))?;
        if tokens.access_token.is_empty() {
            return Err(TokenError::Invalid("the access_token is empty".into()));
        }
        return Ok(tokens);
    }
    let parsed: Option<OAuthErrorBody> = serde_json::from_slice(&bytes).ok();
    let (error, description) = match parsed {
        Some(body) => (
            body.error.unwrap_or_else(|| "error".into()),
            body.error_description.or(body.message),
        ),
        None => ("error".to_string(), None),
    };
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(TokenError::Network(format!(
            "HTTP {status}{}",
            description.map(|d| format!(": {d}")).unwrap_or_default()
        )));
    }
    Err(TokenError::Rejected {
        status: status.as_u16(),
        error,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_grant_or_400_401_means_sign_in_again() {
        let rejected = |status: u16, error: &str| TokenError::Rejected {
            status,
            error: error.into(),
            description: None,
        };
        assert!(rejected(400, "invalid_request").needs_sign_in());
        assert!(rejected(401, "invalid_client").needs_sign_in());
        assert!(rejected(403, "invalid_grant").needs_sign_in());
        for status in [302, 307, 403, 404, 407, 418] {
            assert!(!rejected(status, "error").needs_sign_in(), "{status}");
        }
        assert!(!TokenError::Network("HTTP 503".into()).needs_sign_in());
        assert!(!TokenError::Invalid("x".into()).needs_sign_in());
        let busy = TokenError::Busy {
            retry_after: Duration::from_secs(1),
        };
        assert!(!busy.needs_sign_in());
        assert!(matches!(busy.busy_is_temporary(), TokenError::Network(_)));
    }

    #[test]
    fn token_numbers_are_read_leniently() {
        let read = |body: &str| {
            serde_json::from_str::<TokenResponse>(body)
                .unwrap()
                .expires_in
        };
        assert_eq!(
            read(r#"{"access_token":"a","expires_in":3600}"#),
            Some(3600)
        );
        assert_eq!(
            read(r#"{"access_token":"a","expires_in":3600.0}"#),
            Some(3600)
        );
        assert_eq!(
            read(r#"{"access_token":"a","expires_in":" 3600 "}"#),
            Some(3600)
        );
        assert_eq!(
            read(r#"{"access_token":"a","expires_in":"6048000"}"#),
            Some(6_048_000)
        );
        assert_eq!(read(r#"{"access_token":"a","expires_in":null}"#), None);
        assert_eq!(read(r#"{"access_token":"a","expires_in":-5}"#), None);
        assert_eq!(read(r#"{"access_token":"a","expires_in":"soon"}"#), None);
        assert_eq!(read(r#"{"access_token":"a"}"#), None);
    }

    #[test]
    fn token_bodies_are_camel_case_json() {
        let body = serde_json::to_value(CodeGrant {
            grant_type: "authorization_code",
            code: "c",
            code_verifier: "v",
            client_id: "id",
            redirect_uri: "http://127.0.0.1:1/cb",
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"grantType": "authorization_code", "code": "c", "codeVerifier": "v",
                               "clientId": "id", "redirectUri": "http://127.0.0.1:1/cb"})
        );
        let body = serde_json::to_value(RefreshGrant {
            grant_type: "refresh_token",
            refresh_token: "r",
            client_id: "id",
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"grantType": "refresh_token", "refreshToken": "r", "clientId": "id"})
        );
    }
}
