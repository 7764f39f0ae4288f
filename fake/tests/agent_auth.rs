//! The device-approved setup against the fake: its strictness (camelCase only, unknown fields,
//! fingerprints, callbacks, polling speed, grants), ensure's idempotency, and that a created
//! client signs in and a deleted one stops working.

use std::time::Duration;

use crate::common::*;
use aipass_fake::{DeviceAnswer, DeviceUser, FakeServer};
use serde_json::{Value, json};

const FINGERPRINT: &str = "4f23c8c2-75ee-4c7f-8762-cdb8225d7a31";

fn device_body() -> Value {
    json!({
        "agentName": "aipass-mcp",
        "projectName": "test",
        "projectFingerprint": FINGERPRINT,
        "setupVersion": 5,
        "requestedScopes": ["setup:read", "oauth-clients:read", "oauth-clients:create"],
        "proposedRedirectUris": [REDIRECT_URI],
    })
}

async fn send(
    fake: &FakeServer,
    method: reqwest::Method,
    path: &str,
    grant: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http().request(method, format!("{}{path}", fake.base_url()));
    if let Some(grant) = grant {
        request = request.bearer_auth(grant);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(fake: &FakeServer, path: &str, grant: Option<&str>, body: Value) -> (u16, Value) {
    send(fake, reqwest::Method::POST, path, grant, Some(body)).await
}

/// A device request the user approves; returns the grant.
async fn approved_grant(fake: &FakeServer) -> String {
    let (status, device) = post(fake, "/api/v1/agent-auth/device", None, device_body()).await;
    assert_eq!(status, 201, "{device}");
    let page = device["data"]["verificationUriComplete"].as_str().unwrap();
    assert_eq!(http().get(page).send().await.unwrap().status(), 200);
    let code = device["data"]["deviceCode"].clone();
    let (status, answer) = post(
        fake,
        "/api/v1/agent-auth/token",
        None,
        json!({"deviceCode": code}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["data"]["accessToken"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn device_requests_are_checked_strictly() {
    let fake = start().await;
    let path = "/api/v1/agent-auth/device";
    let mut cases = Vec::new();
    for (field, value) in [
        ("projectFingerprint", json!("not-a-uuid")),
        (
            "projectFingerprint",
            json!("4f23c8c2-75ee-1c7f-8762-cdb8225d7a31"),
        ),
        ("setupVersion", json!(4)),
        ("requestedScopes", json!(["setup:read", "billing:write"])),
        ("proposedRedirectUris", json!([])),
        (
            "proposedRedirectUris",
            json!(["http://example.com/callback"]),
        ),
        ("proposedRedirectUris", json!(["https://*.example.com/cb"])),
        ("project_name", json!("snake case")),
    ] {
        let mut body = device_body();
        body[field] = value;
        cases.push(body);
    }
    for body in cases {
        let (status, answer) = post(&fake, path, None, body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["success"], json!(false));
    }
    let form = http()
        .post(format!("{}{path}", fake.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("agentName=x")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415, "form encoding is refused");
    assert_eq!(fake.agent_auth_stats().device_requests, 0);
    let (status, _) = post(&fake, path, None, device_body()).await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_states_pending_fast_denied_expired() {
    let fake = start().await;
    fake.set_device_user(DeviceUser {
        answer: DeviceAnswer::Deny,
        ..DeviceUser::default()
    });
    let (_, device) = post(&fake, "/api/v1/agent-auth/device", None, device_body()).await;
    let code = json!({"deviceCode": device["data"]["deviceCode"]});
    let token = "/api/v1/agent-auth/token";
    let (status, answer) = post(&fake, token, None, code.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (_, answer) = post(&fake, token, None, code.clone()).await;
    assert_eq!(
        answer["error"], "slow_down",
        "a poll sooner than the interval"
    );
    assert_eq!(fake.agent_auth_stats().polls_too_fast, 1);
    let page = device["data"]["verificationUriComplete"].as_str().unwrap();
    http().get(page).send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, answer) = post(&fake, token, None, code).await;
    assert_eq!(answer["error"], "access_denied");

    fake.set_device_user(DeviceUser {
        answer: DeviceAnswer::Ignore,
        expires_in: 1,
        ..DeviceUser::default()
    });
    let (_, device) = post(&fake, "/api/v1/agent-auth/device", None, device_body()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let code = json!({"deviceCode": device["data"]["deviceCode"]});
    let (_, answer) = post(&fake, token, None, code).await;
    assert_eq!(answer["error"], "expired_token");
    let (status, _) = post(&fake, token, None, json!({"device_code": "x"})).await;
    assert_eq!(status, 400, "snake case is refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn ensure_is_idempotent_bound_and_signs_in() {
    let fake = start().await;
    let grant = approved_grant(&fake).await;
    let ensure = "/api/v1/agent-control/oauth-clients/ensure";
    let body = json!({"name": "aipass-mcp", "idempotencyKey": "oauth-client:v1", "runtimeScopes": ["api:access", "profile:read"]});
    let (status, _) = post(&fake, ensure, None, body.clone()).await;
    assert_eq!(status, 401, "ensure needs the grant");
    let (status, first) = post(&fake, ensure, Some(&grant), body.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["redirectUris"], json!([REDIRECT_URI]));
    assert_eq!(first["data"]["clientType"], "PUBLIC");
    let client_id = first["data"]["clientId"].as_str().unwrap().to_owned();
    // The same key answers the same client, even with another grant of the same installation.
    let other = approved_grant(&fake).await;
    let (_, again) = post(&fake, ensure, Some(&other), body.clone()).await;
    assert_eq!(again["data"]["clientId"], json!(client_id));
    assert_eq!(again["data"]["created"], json!(false));
    assert_eq!(fake.agent_auth_stats().clients_created, 1);
    let mut renamed = body.clone();
    renamed["name"] = json!("another");
    let (status, _) = post(&fake, ensure, Some(&grant), renamed).await;
    assert_eq!(status, 409);
    let mut unknown = body.clone();
    unknown["redirectUris"] = json!(["http://127.0.0.1:1/cb"]);
    let (status, _) = post(&fake, ensure, Some(&grant), unknown).await;
    assert_eq!(status, 400, "ensure takes no callbacks of its own");
    let (status, context) = send(
        &fake,
        reqwest::Method::GET,
        "/api/v1/agent-control/context",
        Some(&grant),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        context["data"]["oauthClients"][0]["clientId"],
        json!(client_id)
    );

    // The new client signs in like a configured one.
    let url = authorize_url(&fake, &[("client_id", &client_id)]);
    let response = http().get(url).send().await.unwrap();
    assert!(redirect_params(&response).contains_key("code"));

    // Deleted: ensure with that key says so, and the token endpoint forgets the client.
    assert!(fake.delete_client(&client_id));
    let (status, gone) = post(&fake, ensure, Some(&grant), body.clone()).await;
    assert_eq!(
        (status, gone["error"].as_str()),
        (409, Some("oauth_client_deactivated"))
    );
    let mut next = body;
    next["idempotencyKey"] = json!("oauth-client:v2");
    let (_, replaced) = post(&fake, ensure, Some(&grant), next).await;
    assert_ne!(replaced["data"]["clientId"], json!(client_id));

    // Revoked grants stop working at once.
    let (status, _) = send(
        &fake,
        reqwest::Method::DELETE,
        "/api/v1/agent-control/session",
        Some(&grant),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &fake,
        reqwest::Method::GET,
        "/api/v1/agent-control/context",
        Some(&grant),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let secrets = fake.issued_secrets();
    assert!(
        secrets.iter().any(|s| s == grant),
        "grants are in issued_secrets"
    );
}
