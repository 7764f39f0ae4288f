//! The `Caller` extractor: bearer-token check (`api:access`) plus the slot where a handler leaves
//! the summary that `requests()` records.

use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::TokenInfo;

/// Filled by a handler, read by the gate after the handler returns.
#[derive(Clone, Default)]
pub(crate) struct SummarySlot(Arc<Mutex<Value>>);

impl SummarySlot {
    pub fn set(&self, summary: Value) {
        *self.0.lock().unwrap() = summary;
    }

    pub fn take(&self) -> Value {
        self.0.lock().unwrap().take()
    }
}

/// An authenticated API caller.
pub(crate) struct Caller {
    pub token: TokenInfo,
    summary: SummarySlot,
}

impl Caller {
    /// Records what this request asked for (shown by `requests()`).
    pub fn summarize(&self, summary: Value) {
        self.summary.set(summary);
    }

    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.token.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(scope))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let info = {
            let mut tokens = state.tokens.lock().unwrap();
            tokens.note_secret(token);
            tokens.check_access(token)
        }
        .ok_or_else(ApiError::unauthorized)?;
        // `/v1` tells the credential kind from the bearer; each alias takes only its own kind.
        // Nested routers see the path without their prefix; the alias is in the original.
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(parts.uri.path(), |uri| uri.0.path());
        let wrong_kind = if info.api_key {
            path.starts_with("/oauth2/")
        } else {
            path.starts_with("/apikey/")
        };
        if wrong_kind {
            return Err(ApiError::unauthorized());
        }
        let caller = Caller {
            token: info,
            summary: parts
                .extensions
                .get::<SummarySlot>()
                .cloned()
                .unwrap_or_default(),
        };
        caller.require_scope("api:access")?;
        Ok(caller)
    }
}
