//! Device-approved setup (the live service's "agent auth"): `POST /api/v1/agent-auth/device`,
//! polling `POST /api/v1/agent-auth/token`, the approval page the user opens, and with the
//! `asg_` setup grant `GET /api/v1/agent-control/context`,
//! `POST /api/v1/agent-control/oauth-clients/ensure` and `DELETE /api/v1/agent-control/session`.
//!
//! What the "user" does on the approval page is scripted ([`DeviceUser`]); the client `ensure`
//! creates is registered with the token endpoint, so the PKCE sign-in that follows works.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::agent_registry::{AgentAuth, Created, Device, DeviceAnswer, Grant};
use crate::caller::SummarySlot;
use crate::input::is_json;
use crate::state::AppState;
use crate::tokens::random_id;

/// Scopes a setup grant may carry (the reference's project set).
const SETUP_SCOPES: [&str; 7] = [
    "setup:read",
    "oauth-clients:read",
    "oauth-clients:create",
    "space:read",
    "space-apps:write",
    "space-apps:publish",
    "nova:query",
];
/// Scopes a created client may ask for at sign-in.
const RUNTIME_SCOPES: [&str; 2] = ["api:access", "profile:read"];
/// A setup grant lives a month.
const GRANT_LIFETIME: u64 = 2_592_000;
/// Arrival jitter allowed when checking that polls keep the interval.
const POLL_TOLERANCE: Duration = Duration::from_millis(250);

/// The standard envelope's error: `{"success": false, "error": code, "message": …}`.
pub(crate) struct Failure {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({"success": false, "error": self.error, "message": self.message});
        (self.status, Json(body)).into_response()
    }
}

fn failure(status: StatusCode, error: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status,
        error,
        message: message.into(),
    }
}

/// [`failure`] as the handler's answer.
fn fail(status: StatusCode, error: &'static str, message: impl Into<String>) -> Response {
    failure(status, error, message).into_response()
}

fn success(status: StatusCode, data: Value) -> Response {
    let body = json!({"success": true, "data": data});
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn json_object(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Map<String, Value>, Failure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json(content_type) {
        return Err(failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "Content-Type must be application/json",
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(failure(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be a JSON object",
        )),
    }
}

/// Refuses fields outside `allowed` (camelCase only), as the control plane's schemas do.
fn only_fields(map: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), Failure> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(failure(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("unknown field '{unknown}'"),
        )),
        None => Ok(()),
    }
}

fn text<'a>(map: &'a serde_json::Map<String, Value>, field: &str) -> Result<&'a str, Failure> {
    map.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .ok_or_else(|| {
            failure(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("'{field}' must be a non-empty string"),
            )
        })
}

fn strings(map: &serde_json::Map<String, Value>, field: &str) -> Result<Vec<String>, Failure> {
    let bad = || {
        failure(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("'{field}' must be a list of strings"),
        )
    };
    match map.get(field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// A random UUID v4 in its canonical lower-case form.
fn is_uuid_v4(value: &str) -> bool {
    let bytes = value.as_bytes();
    value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
        && bytes[14] == b'4'
        && matches!(bytes[19], b'8' | b'9' | b'a' | b'b')
}

/// An exact callback AI Pass accepts: https, or http on localhost/127.0.0.1; no userinfo,
/// fragment or wildcard; at most 2048 characters.
fn acceptable_callback(uri: &str) -> bool {
    if uri.len() > 2048 || uri.contains('*') || uri.contains('#') {
        return false;
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return false;
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    match scheme {
        "https" => true,
        "http" => matches!(host, "localhost" | "127.0.0.1"),
        _ => false,
    }
}

/// `XXXX-XXXX` from an unambiguous alphabet.
fn user_code() -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let raw = random_id(12);
    let letters: String = raw
        .bytes()
        .map(|b| ALPHABET[b as usize % ALPHABET.len()] as char)
        .take(8)
        .collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

pub(crate) async fn device(
    State(state): State<AppState>,
    slot: Option<axum::Extension<SummarySlot>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let map = match json_object(&headers, &body) {
        Ok(map) => map,
        Err(response) => return response.into_response(),
    };
    if let Some(slot) = slot {
        slot.set(json!({
            "agentName": map.get("agentName"),
            "projectName": map.get("projectName"),
            "setupVersion": map.get("setupVersion"),
            "requestedScopes": map.get("requestedScopes"),
            "proposedRedirectUris": map.get("proposedRedirectUris"),
        }));
    }
    match start_device(&state, &map) {
        Ok(data) => success(StatusCode::CREATED, data),
        Err(response) => response.into_response(),
    }
}

fn start_device(state: &AppState, map: &serde_json::Map<String, Value>) -> Result<Value, Failure> {
    only_fields(
        map,
        &[
            "agentName",
            "projectName",
            "projectFingerprint",
            "setupVersion",
            "requestedScopes",
            "proposedRedirectUris",
            "proposedSpaceAppSlug",
        ],
    )?;
    text(map, "agentName")?;
    text(map, "projectName")?;
    let fingerprint = text(map, "projectFingerprint")?.to_owned();
    let invalid = |message: &str| failure(StatusCode::BAD_REQUEST, "invalid_request", message);
    if !is_uuid_v4(&fingerprint) {
        return Err(invalid("projectFingerprint must be a random UUID v4"));
    }
    if map.get("setupVersion").and_then(Value::as_u64) != Some(5) {
        return Err(invalid("setupVersion must be 5"));
    }
    let mut scopes = strings(map, "requestedScopes")?;
    if scopes.is_empty() {
        // What the live service does when the list is omitted.
        scopes = vec!["setup:read".into()];
    }
    if let Some(unknown) = scopes.iter().find(|s| !SETUP_SCOPES.contains(&s.as_str())) {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("unknown setup scope '{unknown}'"),
        ));
    }
    let redirect_uris = strings(map, "proposedRedirectUris")?;
    if scopes.iter().any(|s| s == "oauth-clients:create") {
        if !(1..=8).contains(&redirect_uris.len()) {
            return Err(invalid(
                "oauth-clients:create needs 1 to 8 exact proposedRedirectUris",
            ));
        }
        if let Some(bad) = redirect_uris.iter().find(|u| !acceptable_callback(u)) {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                "invalid_redirect_uri",
                format!("'{bad}' is not an acceptable callback"),
            ));
        }
    }
    let mut agent = state.agent_auth.lock().unwrap();
    agent.stats.device_requests += 1;
    let device_code = format!("dc_{}", random_id(32));
    let code = user_code();
    let (interval, expires_in) = (agent.user.interval.max(1), agent.user.expires_in.max(1));
    agent.secrets.insert(device_code.clone());
    agent.devices.insert(
        device_code.clone(),
        Device {
            user_code: code.clone(),
            fingerprint,
            scopes,
            redirect_uris,
            expires_at: Instant::now() + Duration::from_secs(expires_in),
            interval: Duration::from_secs(interval),
            last_poll: None,
            answer: None,
            pending_left: 0,
            grant: None,
        },
    );
    let verification_uri = format!("{}/device", state.base_url);
    Ok(json!({
        "deviceCode": device_code,
        "userCode": code,
        "verificationUri": verification_uri,
        "verificationUriComplete": format!("{verification_uri}?user_code={code}"),
        "expiresIn": expires_in,
        "interval": interval,
    }))
}

/// The approval page: the user reads the request and answers as scripted.
pub(crate) async fn approval_page(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Response {
    let code = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "user_code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let mut agent = state.agent_auth.lock().unwrap();
    let answer = agent.user.answer;
    let pending = agent.user.pending_polls;
    let Some(device) = agent
        .devices
        .values_mut()
        .find(|d| d.user_code == code && d.expires_at > Instant::now())
    else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>This approval link is unknown or has expired.</h1>"),
        )
            .into_response();
    };
    if device.answer.is_none() && answer != DeviceAnswer::Ignore {
        device.answer = Some(answer);
        device.pending_left = pending;
    }
    let said = match answer {
        DeviceAnswer::Approve => {
            agent.stats.approvals += 1;
            "You approved the setup request. You can go back to your agent."
        }
        DeviceAnswer::Deny => {
            agent.stats.denials += 1;
            "You denied the setup request."
        }
        DeviceAnswer::Ignore => "Review the request.",
    };
    Html(format!("<h1>AI Pass setup</h1><p>{said}</p>")).into_response()
}

pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let map = match json_object(&headers, &body) {
        Ok(map) => map,
        Err(response) => return response.into_response(),
    };
    if let Err(response) = only_fields(&map, &["deviceCode"]) {
        return response.into_response();
    }
    let device_code = match text(&map, "deviceCode") {
        Ok(code) => code.to_owned(),
        Err(response) => return response.into_response(),
    };
    let mut guard = state.agent_auth.lock().unwrap();
    let agent = &mut *guard;
    agent.stats.polls += 1;
    let slow_down_scripted = agent.user.slow_down_polls > 0;
    let Some(device) = agent.devices.get_mut(&device_code) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown deviceCode",
        );
    };
    let now = Instant::now();
    let too_fast = device
        .last_poll
        .is_some_and(|last| now + POLL_TOLERANCE < last + device.interval);
    device.last_poll = Some(now);
    if now >= device.expires_at {
        return fail(
            StatusCode::BAD_REQUEST,
            "expired_token",
            "the device request expired",
        );
    }
    if too_fast || slow_down_scripted {
        if too_fast {
            agent.stats.polls_too_fast += 1;
        } else {
            agent.user.slow_down_polls -= 1;
        }
        device.interval += Duration::from_secs(5);
        return fail(StatusCode::BAD_REQUEST, "slow_down", "polling too fast");
    }
    match device.answer {
        Some(DeviceAnswer::Deny) => fail(
            StatusCode::BAD_REQUEST,
            "access_denied",
            "the user denied the request",
        ),
        Some(DeviceAnswer::Approve) if device.pending_left == 0 => {
            let grant = match &device.grant {
                Some(grant) => grant.clone(),
                None => {
                    let grant = format!("asg_{}", random_id(32));
                    device.grant = Some(grant.clone());
                    agent.secrets.insert(grant.clone());
                    agent.grants.insert(
                        grant.clone(),
                        Grant {
                            fingerprint: device.fingerprint.clone(),
                            scopes: device.scopes.clone(),
                            redirect_uris: device.redirect_uris.clone(),
                            revoked: false,
                        },
                    );
                    agent.stats.grants_issued += 1;
                    grant
                }
            };
            let scopes = device.scopes.clone();
            success(
                StatusCode::OK,
                json!({
                    "status": "approved",
                    "accessToken": grant,
                    "tokenType": "Bearer",
                    "expiresIn": GRANT_LIFETIME,
                    "scopes": scopes,
                }),
            )
        }
        Some(DeviceAnswer::Approve) => {
            device.pending_left -= 1;
            fail(
                StatusCode::BAD_REQUEST,
                "authorization_pending",
                "waiting for the user",
            )
        }
        _ => fail(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            "waiting for the user",
        ),
    }
}

/// The live grant behind `Authorization: Bearer asg_…`, or the 401 to answer.
fn bearer_grant(headers: &HeaderMap) -> Result<String, Failure> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| t.starts_with("asg_"))
        .map(str::to_owned)
        .ok_or_else(|| {
            failure(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a setup grant (Bearer asg_…) is required",
            )
        })
}

fn live<'a>(agent: &'a AgentAuth, grant: &str) -> Result<&'a Grant, Failure> {
    agent
        .grants
        .get(grant)
        .filter(|g| !g.revoked)
        .ok_or_else(|| {
            failure(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the setup grant is unknown or revoked",
            )
        })
}

fn client_json(client: &Created) -> Value {
    json!({
        "clientId": client.client_id,
        "name": client.name,
        "clientType": "PUBLIC",
        "active": client.active,
        "redirectUris": client.redirect_uris,
        "runtimeScopes": client.runtime_scopes,
    })
}

pub(crate) async fn context(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let grant = match bearer_grant(&headers) {
        Ok(grant) => grant,
        Err(response) => return response.into_response(),
    };
    let mut agent = state.agent_auth.lock().unwrap();
    let scopes = match live(&agent, &grant) {
        Ok(grant) => grant.scopes.clone(),
        Err(response) => return response.into_response(),
    };
    agent.stats.context_reads += 1;
    let mut clients: Vec<&Created> = agent.created.values().filter(|c| c.active).collect();
    clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let clients: Vec<Value> = clients.into_iter().map(client_json).collect();
    success(
        StatusCode::OK,
        json!({"oauthClients": clients, "spaces": [], "grant": {"scopes": scopes}}),
    )
}

pub(crate) async fn ensure(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let grant = match bearer_grant(&headers) {
        Ok(grant) => grant,
        Err(response) => return response.into_response(),
    };
    let map = match json_object(&headers, &body) {
        Ok(map) => map,
        Err(response) => return response.into_response(),
    };
    let (answer, hold) = {
        let mut agent = state.agent_auth.lock().unwrap();
        let answer = ensure_client(&mut agent, &grant, &map);
        (answer, agent.user.hold_ensure)
    };
    if hold && answer.is_ok() {
        // The client exists now; its answer waits (the caller may be killed meanwhile).
        while state.agent_auth.lock().unwrap().user.hold_ensure {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    match answer {
        Ok(data) => success(StatusCode::OK, data),
        Err(response) => response.into_response(),
    }
}

fn ensure_client(
    agent: &mut AgentAuth,
    grant: &str,
    map: &serde_json::Map<String, Value>,
) -> Result<Value, Failure> {
    let (fingerprint, scopes, redirect_uris) = {
        let grant = live(agent, grant)?;
        (
            grant.fingerprint.clone(),
            grant.scopes.clone(),
            grant.redirect_uris.clone(),
        )
    };
    agent.stats.ensures += 1;
    if !scopes.iter().any(|s| s == "oauth-clients:create") {
        return Err(failure(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "oauth-clients:create was not approved",
        ));
    }
    only_fields(map, &["name", "idempotencyKey", "runtimeScopes"])?;
    let name = text(map, "name")?.to_owned();
    let key = text(map, "idempotencyKey")?.to_owned();
    let runtime_scopes = strings(map, "runtimeScopes")?;
    if runtime_scopes.is_empty()
        || runtime_scopes
            .iter()
            .any(|s| !RUNTIME_SCOPES.contains(&s.as_str()))
    {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "runtimeScopes must be a non-empty subset of api:access, profile:read",
        ));
    }
    let slot = (fingerprint, key);
    if let Some(existing) = agent.created.get(&slot) {
        if !existing.active {
            return Err(failure(
                StatusCode::CONFLICT,
                "oauth_client_deactivated",
                "the OAuth client for this idempotency key was deleted or deactivated; ask for a new approval and use the next idempotency key",
            ));
        }
        if existing.redirect_uris != redirect_uris {
            return Err(failure(
                StatusCode::CONFLICT,
                "redirect_uris_mismatch",
                "the approved callbacks differ from the client's; ask for a new approval and use the next idempotency key",
            ));
        }
        if existing.runtime_scopes != runtime_scopes || existing.name != name {
            return Err(failure(
                StatusCode::CONFLICT,
                "idempotency_mismatch",
                "this idempotency key was used with another name or runtime scopes",
            ));
        }
        let mut data = client_json(existing);
        data["created"] = json!(false);
        return Ok(data);
    }
    let client = Created {
        client_id: format!("aipass_cl_{}", random_id(12)),
        name,
        redirect_uris,
        runtime_scopes,
        active: true,
    };
    agent.stats.clients_created += 1;
    let mut data = client_json(&client);
    data["created"] = json!(true);
    agent.created.insert(slot, client);
    Ok(data)
}

pub(crate) async fn revoke_session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let grant = match bearer_grant(&headers) {
        Ok(grant) => grant,
        Err(response) => return response.into_response(),
    };
    let mut agent = state.agent_auth.lock().unwrap();
    match agent.grants.get_mut(&grant) {
        Some(record) if !record.revoked => {
            record.revoked = true;
            agent.stats.sessions_revoked += 1;
            success(StatusCode::OK, json!({"revoked": true}))
        }
        _ => fail(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the setup grant is unknown or revoked",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_uuid_v4() {
        assert!(is_uuid_v4("4f23c8c2-75ee-4c7f-8762-cdb8225d7a31"));
        assert!(!is_uuid_v4("4f23c8c2-75ee-1c7f-8762-cdb8225d7a31"));
        assert!(!is_uuid_v4("4F23C8C2-75EE-4C7F-8762-CDB8225D7A31"));
        assert!(!is_uuid_v4("not-a-uuid"));
    }

    #[test]
    fn callbacks_are_exact_and_safe() {
        assert!(acceptable_callback("http://127.0.0.1:47821/callback"));
        assert!(acceptable_callback("http://localhost:3000/"));
        assert!(acceptable_callback("https://app.example/auth/cb"));
        assert!(!acceptable_callback("http://app.example/cb"));
        assert!(!acceptable_callback("http://user@127.0.0.1:1/cb"));
        assert!(!acceptable_callback("https://*.example/cb"));
        assert!(!acceptable_callback("https://app.example/cb#x"));
        assert!(!acceptable_callback("javascript:alert(1)"));
    }
}
