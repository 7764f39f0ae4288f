//! OAuth2 endpoints: server metadata, `/oauth2/authorize` (consent is scripted), `/oauth2/token`
//! (JSON, camelCase) and `/oauth2/revoke`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::caller::SummarySlot;
use crate::input::is_json;
use crate::state::AppState;
use crate::tokens::{CodeRequest, GrantError, is_valid_challenge};
use crate::types::{Consent, TokenPair};

const SCOPES: [&str; 2] = ["api:access", "profile:read"];
const DEFAULT_SCOPE: &str = "api:access profile:read";

pub(crate) async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let base = &state.base_url;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["none"],
    }))
}

fn parse_query(raw: Option<&str>) -> HashMap<String, String> {
    let mut params = HashMap::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        params.entry(key.into_owned()).or_insert(value.into_owned());
    }
    params
}

/// A 400 page shown in the browser: never redirect to a URI we cannot trust.
fn error_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><title>AI Pass: sign-in error</title></head>\
         <body><h1>Invalid authorization request</h1><p>{message}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    // 302 Found, as OAuth servers answer the authorization request.
    (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            format!("{redirect_uri}{separator}{query}"),
        )],
    )
        .into_response()
}

pub(crate) async fn authorize(
    State(state): State<AppState>,
    slot: Option<axum::Extension<SummarySlot>>,
    RawQuery(raw): RawQuery,
) -> Response {
    state.stats.lock().unwrap().authorize += 1;
    let q = parse_query(raw.as_deref());
    let param = |name: &str| q.get(name).map(String::as_str).filter(|v| !v.is_empty());
    if let Some(slot) = slot {
        slot.set(json!({
            "client_id": param("client_id"),
            "redirect_uri": param("redirect_uri"),
            "scope": param("scope"),
            "response_type": param("response_type"),
            "code_challenge_method": param("code_challenge_method"),
            "has_state": param("state").is_some(),
        }));
    }

    let Some(client_id) = param("client_id") else {
        return error_page("client_id is missing.");
    };
    let Some(client) = state.client(client_id) else {
        return error_page("Unknown client_id.");
    };
    let Some(redirect_uri) = param("redirect_uri") else {
        return error_page("redirect_uri is missing.");
    };
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return error_page("redirect_uri does not exactly match a URI registered for this client.");
    }

    let state_param = param("state");
    let fail = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(s) = state_param {
            params.push(("state", s));
        }
        redirect_with(redirect_uri, &params)
    };
    if param("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be 'code'");
    }
    if param("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let challenge = param("code_challenge").unwrap_or("");
    if !is_valid_challenge(challenge) {
        return fail(
            "invalid_request",
            "code_challenge must be 43 characters of base64url (BASE64URL(SHA256(verifier)))",
        );
    }
    let Some(state_value) = state_param else {
        return fail("invalid_request", "state is required");
    };
    let scope = param("scope").unwrap_or(DEFAULT_SCOPE);
    if scope.split_whitespace().any(|s| !SCOPES.contains(&s)) {
        return fail("invalid_scope", "unknown scope requested");
    }
    let scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");

    if *state.consent.lock().unwrap() == Consent::Deny {
        return redirect_with(
            redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied access"),
                ("state", state_value),
            ],
        );
    }
    let code = state.tokens.lock().unwrap().create_code(CodeRequest {
        client_id,
        redirect_uri,
        challenge,
        scope: &scope,
    });
    redirect_with(redirect_uri, &[("code", &code), ("state", state_value)])
}

/// OAuth-style error (`{"error","error_description"}`), as the token endpoint answers.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

pub(crate) async fn token(
    State(state): State<AppState>,
    slot: Option<axum::Extension<SummarySlot>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match grant(&state, slot, &headers, &body) {
        Ok((pair, refreshed)) => {
            let mut stats = state.stats.lock().unwrap();
            if refreshed {
                stats.refreshes += 1;
            } else {
                stats.code_exchanges += 1;
            }
            drop(stats);
            ([(header::CACHE_CONTROL, "no-store")], Json(pair)).into_response()
        }
        Err(e) => {
            state.stats.lock().unwrap().failed_token_requests += 1;
            let body = json!({"error": e.error, "error_description": e.description});
            (e.status, Json(body)).into_response()
        }
    }
}

/// Runs one grant; `Ok((pair, true))` for a refresh, `Ok((pair, false))` for a code exchange.
fn grant(
    state: &AppState,
    slot: Option<axum::Extension<SummarySlot>>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(TokenPair, bool), OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json(content_type) {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/json (camelCase fields), not form encoding",
        ));
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(OAuthError::invalid_request(
            "the body must be a JSON object",
        ));
    };
    const FIELDS: [&str; 7] = [
        "grantType",
        "code",
        "codeVerifier",
        "clientId",
        "redirectUri",
        "refreshToken",
        "scope",
    ];
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(OAuthError::invalid_request(format!(
            "unknown field '{unknown}'"
        )));
    }
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let required = |name: &str| {
        field(name).ok_or_else(|| OAuthError::invalid_request(format!("missing field '{name}'")))
    };
    let grant_type = field("grantType");
    if let Some(slot) = slot {
        // Never the code, verifier or refresh token.
        slot.set(json!({
            "grant_type": grant_type,
            "client_id": field("clientId"),
            "redirect_uri": field("redirectUri"),
        }));
    }
    let known_client = |client_id: &str| {
        if state.client(client_id).is_some() {
            Ok(())
        } else {
            Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown clientId",
            ))
        }
    };
    let ttl = state.config.access_token_ttl;
    let invalid_grant =
        |e: GrantError| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", e.description);

    match required("grantType")? {
        "authorization_code" => {
            let code = required("code")?;
            let verifier = required("codeVerifier")?;
            let client_id = required("clientId")?;
            let redirect_uri = required("redirectUri")?;
            known_client(client_id)?;
            let pair = state
                .tokens
                .lock()
                .unwrap()
                .exchange_code(code, verifier, client_id, redirect_uri, ttl)
                .map_err(invalid_grant)?;
            Ok((pair, false))
        }
        "refresh_token" => {
            let refresh_token = required("refreshToken")?;
            let client_id = required("clientId")?;
            known_client(client_id)?;
            let pair = state
                .tokens
                .lock()
                .unwrap()
                .refresh(refresh_token, client_id, ttl)
                .map_err(invalid_grant)?;
            Ok((pair, true))
        }
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grantType must be authorization_code or refresh_token",
        )),
    }
}

/// The live rule: `POST /oauth2/revoke` with a form body of exactly `token` and `client_id`
/// (`application/x-www-form-urlencoded`); nothing in the query, no JSON. Unknown tokens are
/// answered 200 like known ones (RFC 7009 §2.2). The summary says which kind of token it was, so
/// tests can check the order (refresh token first).
pub(crate) async fn revoke(
    State(state): State<AppState>,
    slot: Option<axum::Extension<SummarySlot>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.stats.lock().unwrap().revocations += 1;
    let refuse = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    if raw.as_deref().is_some_and(|q| !q.is_empty()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token goes in the form body, not in the query",
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let mut token = None;
    let mut client_id = None;
    for (key, value) in form_urlencoded::parse(&body) {
        let slot = match key.as_ref() {
            "token" => &mut token,
            "client_id" => &mut client_id,
            other => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &format!("unknown field '{other}'"),
                );
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "a field is repeated",
            );
        }
    }
    let (Some(token), Some(client_id)) = (
        token.filter(|t| !t.is_empty()),
        client_id.filter(|c| !c.is_empty()),
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token and client_id are required",
        );
    };
    if !state
        .config
        .clients
        .iter()
        .any(|c| c.client_id == client_id)
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        );
    }
    let mut store = state.tokens.lock().unwrap();
    let kind = if store.refresh_client(&token).is_some() {
        "refresh"
    } else if store.is_access_token(&token) {
        "access"
    } else {
        "unknown"
    };
    if let Some(slot) = slot {
        slot.set(json!({"token_kind": kind, "client_id": client_id}));
    }
    // A token issued to another client is not this client's to revoke; the answer is the same.
    if store
        .refresh_client(&token)
        .is_none_or(|owner| owner == client_id)
    {
        store.revoke(&token);
    }
    Json(json!({"success": true})).into_response()
}
