//! The `/_fake/*` control surface: the library's `FakeServer` methods over HTTP, plus the file
//! server for images handed out as URLs (no auth, like a CDN).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::agent_registry::DeviceUser;
use crate::error::ApiError;
use crate::faults::Fault;
use crate::state::AppState;
use crate::types::{AgentAuthStats, Consent, RecordedRequest, Stats, TokenPair};

/// Parses a control body; an empty body means "all defaults".
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("bad control request: {e}")))
}

#[derive(Deserialize)]
struct TokenRequest {
    #[serde(default = "default_scope")]
    scope: String,
}

fn default_scope() -> String {
    "api:access profile:read".into()
}

pub(crate) async fn token(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<TokenPair>, ApiError> {
    let request: TokenRequest = parse(&body)?;
    Ok(Json(state.issue_token(&request.scope)))
}

pub(crate) async fn add_fault(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let fault: Fault =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("bad fault: {e}")))?;
    state.faults.lock().unwrap().push(fault);
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.faults.lock().unwrap().clear();
    StatusCode::NO_CONTENT
}

pub(crate) async fn expire_tokens(State(state): State<AppState>) -> StatusCode {
    state.tokens.lock().unwrap().expire_all();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct BudgetRequest {
    max_budget: f64,
    #[serde(default)]
    total_cost: f64,
}

pub(crate) async fn budget(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request: BudgetRequest = parse(&body)?;
    state
        .budget
        .lock()
        .unwrap()
        .set(request.max_budget, request.total_cost);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ConsentRequest {
    consent: Consent,
}

pub(crate) async fn consent(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request: ConsentRequest = parse(&body)?;
    *state.consent.lock().unwrap() = request.consent;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct StreamRequest {
    #[serde(default)]
    chunk_delay_ms: u64,
}

pub(crate) async fn stream(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request: StreamRequest = parse(&body)?;
    *state.stream_delay.lock().unwrap() = Duration::from_millis(request.chunk_delay_ms);
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn stats(State(state): State<AppState>) -> Json<Stats> {
    Json(state.stats.lock().unwrap().clone())
}

/// `POST /_fake/device_user` with a [`DeviceUser`] (missing fields take their defaults).
pub(crate) async fn device_user(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let user: DeviceUser = parse(&body)?;
    state.agent_auth.lock().unwrap().user = user;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn agent_auth_stats(State(state): State<AppState>) -> Json<AgentAuthStats> {
    Json(state.agent_auth.lock().unwrap().stats.clone())
}

pub(crate) async fn requests(State(state): State<AppState>) -> Json<Vec<RecordedRequest>> {
    Json(state.requests.lock().unwrap().iter().cloned().collect())
}

pub(crate) async fn file(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    // A CDN must never see the user's AI Pass token; count every time one arrives.
    if headers.contains_key(header::AUTHORIZATION) {
        state.stats.lock().unwrap().file_downloads_with_credentials += 1;
    }
    match state.files.lock().unwrap().get(&name) {
        Some(data) => ([(header::CONTENT_TYPE, "image/png")], data).into_response(),
        None => ApiError::not_found(format!("No file named '{name}'")).into_response(),
    }
}

/// JSON 404 for every path the API does not have.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("Not found")
}

/// JSON 405 for a known path with the wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        "Method not allowed for this path",
    )
}
