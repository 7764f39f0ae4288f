//! Revoking tokens at AI Pass (`aipass-mcp logout`), by the live rule: `POST /oauth2/revoke`
//! with the form body `token=…&client_id=…`, the refresh token first, then the access token.
//!
//! The HTTP client follows no redirect and sends no `Referer`: a redirect would re-send the token
//! to wherever the `Location` points, so a 3xx is reported as "not revoked" instead.

use std::fmt;
use std::time::Duration;

use url::Url;

use super::flow::origin;
use super::store::StoredTokens;
use crate::api::error::{parse_error_body, redact_text};

/// Which token a revocation was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Refresh,
    Access,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKind::Refresh => "refresh token",
            TokenKind::Access => "access token",
        })
    }
}

/// What happened to one token. The reason never contains the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub kind: TokenKind,
    pub outcome: Result<(), String>,
}

/// A client for the revocation endpoint: no redirects, no `Referer`, bounded time.
pub fn revoke_http_client(connect_timeout: Duration) -> reqwest::Client {
    crate::tls::client_builder()
        .connect_timeout(connect_timeout)
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .user_agent(concat!("aipass-mcp/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Revokes the refresh token (when there is one), then the access token. Every token is tried
/// even when an earlier one failed.
pub async fn revoke_all(
    http: &reqwest::Client,
    base_url: &Url,
    client_id: &str,
    tokens: &StoredTokens,
) -> Vec<Revocation> {
    let mut pending: Vec<(TokenKind, &str)> = Vec::new();
    if let Some(refresh) = tokens.refresh_token.as_deref().filter(|t| !t.is_empty()) {
        pending.push((TokenKind::Refresh, refresh));
    }
    if !tokens.access_token.is_empty() {
        pending.push((TokenKind::Access, &tokens.access_token));
    }
    let mut done = Vec::with_capacity(pending.len());
    for (kind, token) in pending {
        let outcome = revoke(http, base_url, client_id, token).await;
        done.push(Revocation { kind, outcome });
    }
    done
}

/// One `POST /oauth2/revoke`. Success is any 2xx (unknown tokens answer success too).
pub async fn revoke(
    http: &reqwest::Client,
    base_url: &Url,
    client_id: &str,
    token: &str,
) -> Result<(), String> {
    let url = format!("{}/oauth2/revoke", origin(base_url));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("client_id", client_id)
        .finish();
    let response = http
        .post(&url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| redact_text(&e.without_url().to_string(), &[token]))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        return Err(format!(
            "AI Pass answered with a redirect (HTTP {}), which was not followed, so the token was not sent on",
            status.as_u16()
        ));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = response.bytes().await.unwrap_or_default();
    let body = parse_error_body(
        &redact_text(&String::from_utf8_lossy(&bytes), &[token]).into_bytes(),
        content_type.as_deref(),
    );
    Err(format!(
        "AI Pass answered HTTP {}{}",
        status.as_u16(),
        body.message.map(|m| format!(": {m}")).unwrap_or_default()
    ))
}

/// One line for a person: which tokens were revoked and which were not, and why.
pub fn describe(revocations: &[Revocation]) -> String {
    if revocations.is_empty() {
        return "there was no token to revoke".into();
    }
    let parts: Vec<String> = revocations
        .iter()
        .map(|r| match &r.outcome {
            Ok(()) => format!("the {} was revoked", r.kind),
            Err(reason) => format!("the {} was NOT revoked ({reason})", r.kind),
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_each_token() {
        let all = [
            Revocation {
                kind: TokenKind::Refresh,
                outcome: Ok(()),
            },
            Revocation {
                kind: TokenKind::Access,
                outcome: Err("AI Pass answered HTTP 500".into()),
            },
        ];
        assert_eq!(
            describe(&all),
            "the refresh token was revoked; the access token was NOT revoked (AI Pass answered HTTP 500)"
        );
        assert_eq!(describe(&[]), "there was no token to revoke");
    }
}
