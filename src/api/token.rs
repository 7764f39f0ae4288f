//! Access tokens for the AI Pass client: a redacting wrapper and the provider the client asks.

use std::fmt;

use futures::future::{BoxFuture, FutureExt};

use super::error::ApiError;

/// A bearer token. Its Debug output never shows the value, and it has no Display.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(s: impl Into<String>) -> Self {
        AccessToken(s.into())
    }

    /// The raw token, for the Authorization header only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// Where the client gets tokens: the session (sign-in, refresh) or a fixed token.
pub trait TokenProvider: Send + Sync + 'static {
    /// A token to send now, signing the user in first if the provider can.
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, ApiError>>;

    /// Called once after the API answered 401 to `failed`. Returns a fresh token to retry with,
    /// or None (then the client returns ApiError::AuthRequired).
    fn refresh_after_unauthorized<'a>(
        &'a self,
        failed: &'a AccessToken,
    ) -> BoxFuture<'a, Result<Option<AccessToken>, ApiError>>;

    /// The OAuth client id the tokens were issued to, once known (for the
    /// `X-AIPass-OAuth-Client-Id` header when the settings name none: a client created on first
    /// run).
    fn client_id(&self) -> Option<String> {
        None
    }
}

/// Serves the token from AIPASS_ACCESS_TOKEN (read once by the caller). Never refreshes.
#[derive(Debug, Clone)]
pub struct StaticTokenProvider {
    token: Option<AccessToken>,
}

impl StaticTokenProvider {
    /// An empty or blank value counts as unset.
    pub fn new(token: Option<String>) -> Self {
        let token = token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(AccessToken);
        StaticTokenProvider { token }
    }
}

impl TokenProvider for StaticTokenProvider {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, ApiError>> {
        let result = self.token.clone().ok_or_else(|| ApiError::AuthRequired {
            message: "No AI Pass account is signed in: set AIPASS_ACCESS_TOKEN to an AI Pass OAuth access token, or run `aipass-mcp login`.".to_string(),
            sign_in_url: None,
        });
        futures::future::ready(result).boxed()
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        _failed: &'a AccessToken,
    ) -> BoxFuture<'a, Result<Option<AccessToken>, ApiError>> {
        // A fixed token cannot be renewed; the client turns this into AuthRequired.
        futures::future::ready(Ok(None)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = AccessToken::new("sk-very-secret");
        assert_eq!(format!("{t:?}"), "AccessToken(***)");
        assert_eq!(format!("{:?}", Some(t.clone())), "Some(AccessToken(***))");
        assert_eq!(t.secret(), "sk-very-secret");
        let p = StaticTokenProvider::new(Some("sk-very-secret".into()));
        assert!(!format!("{p:?}").contains("sk-very-secret"));
    }

    #[tokio::test]
    async fn static_provider_serves_and_never_refreshes() {
        let p = StaticTokenProvider::new(Some(" abc \n".into()));
        let t = p.access_token().await.unwrap();
        assert_eq!(t.secret(), "abc");
        assert!(p.refresh_after_unauthorized(&t).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn static_provider_without_token_asks_for_sign_in() {
        for value in [None, Some(String::new()), Some("   ".into())] {
            let err = StaticTokenProvider::new(value)
                .access_token()
                .await
                .unwrap_err();
            assert_eq!(err.code().as_str(), "auth_required");
            assert!(err.to_string().contains("AIPASS_ACCESS_TOKEN"));
        }
    }
}
