//! Sign-in on first use: OAuth2 authorization code + PKCE through the user's browser and a
//! loopback callback, tokens in the OS keyring (or a 0600 file), quiet refresh.
//!
//! With no `AIPASS_CLIENT_ID`, the first sign-in creates the OAuth client on the user's account
//! after they approve it in the browser ([`provision`], kept by [`client_id`]).
//!
//! [`AuthSession`] is the API client's token provider; [`cli`] holds `login`, `logout` and
//! `status`. `AIPASS_ACCESS_TOKEN`, when set, wins over all of it ([`token_source`]).

pub mod cli;
pub mod client_id;
pub mod flow;
pub mod pkce;
pub mod provision;
pub mod session;
pub mod store;
pub mod store_choice;

use std::sync::Arc;

pub use session::{AuthConfig, AuthSession, SignInStatus};
pub use store::{StoredTokens, TokenStore};

use crate::api::{StaticTokenProvider, TokenProvider};
use crate::config::{self, Settings};

/// Where the server's tokens come from.
#[derive(Clone)]
pub enum TokenSource {
    /// `AIPASS_ACCESS_TOKEN` is set: that token, no sign-in, no refresh.
    Static(Arc<StaticTokenProvider>),
    /// Sign-in on first use, refresh, token store.
    Session(Arc<AuthSession>),
}

impl TokenSource {
    /// The provider to give [`crate::api::ApiClient::new`].
    pub fn provider(&self) -> Arc<dyn TokenProvider> {
        match self {
            TokenSource::Static(p) => p.clone(),
            TokenSource::Session(s) => s.clone(),
        }
    }

    /// The session, for sign-in progress (`sign_in_status()`); None with a fixed token.
    pub fn session(&self) -> Option<&Arc<AuthSession>> {
        match self {
            TokenSource::Static(_) => None,
            TokenSource::Session(s) => Some(s),
        }
    }
}

/// `AIPASS_ACCESS_TOKEN` when set, else an [`AuthSession`] (which does no I/O until a call
/// needs a token).
pub fn token_source(settings: &Settings) -> TokenSource {
    match config::access_token_from_env() {
        Some(token) => TokenSource::Static(Arc::new(StaticTokenProvider::new(Some(token)))),
        None => TokenSource::Session(AuthSession::new(settings)),
    }
}
