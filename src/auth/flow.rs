//! The pieces of one browser sign-in, in one place for their callers: the links it shows
//! (`authorize.rs`), the loopback callback listener (`callback.rs`), the browser
//! opener (`browser.rs`), and the two token-endpoint calls (`token_endpoint.rs`).

pub use super::authorize::{START_PATH, authorize_url, origin, start_link, start_nonce};
pub use super::browser::{BrowserOutcome, open_browser};
pub use super::callback::{CallbackOutcome, CallbackServer, Page, callback_addr};
pub use super::token_endpoint::{
    TOKEN_REQUEST_TIMEOUT, TokenError, TokenResponse, exchange_code, refresh, token_http_client,
};
