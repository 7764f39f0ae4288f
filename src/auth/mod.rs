//! Sign-in on first use: OAuth2 authorization code + PKCE through the user's browser and a
//! loopback callback, tokens in the OS keyring (or a 0600 file), quiet refresh.
//!
//! With no `AIPASS_CLIENT_ID`, the first sign-in creates the OAuth client on the user's account
//! after they approve it in the browser ([`provision`], kept by [`client_id`]).
//!
//! [`AuthSession`] is the API client's token provider; [`cli`] holds `login`, `logout` and
//! `status`. `AIPASS_ACCESS_TOKEN`, when set, wins over all of it ([`token_source`]).

mod authorize;
mod browser;
mod callback;
pub mod cli;
pub mod client_id;
pub mod flow;
mod link_file;
mod lock;
pub mod pkce;
mod private_dir;
pub mod provision;
pub mod revoke;
pub mod session;
pub mod store;
pub mod store_choice;
mod token_endpoint;

use std::sync::Arc;

pub use session::{AuthConfig, AuthSession, SignInStatus};
pub use store::{StoredTokens, TokenStore};

use crate::api::{StaticTokenProvider, TokenProvider};
use crate::config::{self, Settings};

/// Where the server's tokens come from.
#[derive(Clone)]
pub enum TokenSource {
    /// `AIPASS_API_KEY` is set: a developer API key, no sign-in, no refresh.
    ApiKey(Arc<StaticTokenProvider>),
    /// `AIPASS_ACCESS_TOKEN` is set: that token, no sign-in, no refresh.
    Static(Arc<StaticTokenProvider>),
    /// Sign-in on first use, refresh, token store.
    Session(Arc<AuthSession>),
}

impl TokenSource {
    /// The provider to give [`crate::api::ApiClient::new`].
    pub fn provider(&self) -> Arc<dyn TokenProvider> {
        match self {
            TokenSource::ApiKey(p) | TokenSource::Static(p) => p.clone(),
            TokenSource::Session(s) => s.clone(),
        }
    }

    /// True with a developer API key (no OAuth client id header, `/apikey/v1` as the alias).
    pub fn is_api_key(&self) -> bool {
        matches!(self, TokenSource::ApiKey(_))
    }

    /// The session, for sign-in progress (`sign_in_status()`); None with a fixed token.
    pub fn session(&self) -> Option<&Arc<AuthSession>> {
        match self {
            TokenSource::ApiKey(_) | TokenSource::Static(_) => None,
            TokenSource::Session(s) => Some(s),
        }
    }
}

/// `AIPASS_API_KEY` when set, else `AIPASS_ACCESS_TOKEN`, else an [`AuthSession`] (which does
/// no I/O until a call needs a token).
pub fn token_source(settings: &Settings) -> TokenSource {
    if let Some(key) = config::api_key_from_env() {
        if config::access_token_from_env().is_some() {
            tracing::warn!(
                "both AIPASS_API_KEY and AIPASS_ACCESS_TOKEN are set; using AIPASS_API_KEY"
            );
        }
        return TokenSource::ApiKey(Arc::new(StaticTokenProvider::new(Some(key))));
    }
    match config::access_token_from_env() {
        Some(token) => TokenSource::Static(Arc::new(StaticTokenProvider::new(Some(token)))),
        None => TokenSource::Session(AuthSession::new(settings)),
    }
}
