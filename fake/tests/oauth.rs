//! OAuth2 + PKCE against the fake: authorize, code exchange, refresh rotation, revocation, expiry.

use std::time::Duration;

use crate::common::*;
use aipass_fake::{Consent, FakeConfig, FakeServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn metadata_describes_the_endpoints() {
    let fake = start().await;
    let (status, meta) = get(
        &fake,
        &http(),
        "",
        "/.well-known/oauth-authorization-server",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(meta["issuer"], fake.base_url());
    assert_eq!(
        meta["token_endpoint"],
        format!("{}/oauth2/token", fake.base_url())
    );
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        meta["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn full_pkce_flow_gives_working_tokens() {
    let fake = start().await;
    let http = http();
    let pair = sign_in(&fake, &http).await;
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.expires_in, 3600);
    assert_eq!(pair.scope, "api:access profile:read");
    let (status, _) = get(&fake, &http, &pair.access_token, "/oauth2/v1/models").await;
    assert_eq!(status, 200);
    let (status, me) = get(&fake, &http, &pair.access_token, "/oauth2/userinfo").await;
    assert_eq!(status, 200);
    assert_eq!(me["sub"], "user_demo");
    let stats = fake.stats();
    assert_eq!(
        (
            stats.authorize,
            stats.code_exchanges,
            stats.failed_token_requests
        ),
        (1, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_verifier_is_rejected_and_burns_the_code() {
    let fake = start().await;
    let http = http();
    let code = authorize(&fake, &http).await;
    let wrong = "x".repeat(64);
    let (status, body) = exchange(&fake, &http, code_body(&code, &wrong)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = exchange(&fake, &http, code_body(&code, VERIFIER)).await;
    assert_eq!(status, 400, "a code is good for one attempt");
    // A verifier outside the RFC 7636 alphabet or length is invalid_grant too.
    let code = authorize(&fake, &http).await;
    let (status, body) = exchange(&fake, &http, code_body(&code, "short")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(fake.stats().failed_token_requests, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn reused_code_fails_and_revokes_what_it_gave() {
    let fake = start().await;
    let http = http();
    let code = authorize(&fake, &http).await;
    let (status, first) = exchange(&fake, &http, code_body(&code, VERIFIER)).await;
    assert_eq!(status, 200);
    let (status, body) = exchange(&fake, &http, code_body(&code, VERIFIER)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(get(&fake, &http, access, "/oauth2/v1/models").await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_uri_must_match_exactly() {
    let fake = start().await;
    let http = http();
    for bad in [
        "http://127.0.0.1:47821/callback/",
        "http://127.0.0.1:47822/callback",
        "http://localhost:47821/callback",
        "http://evil.example/callback",
    ] {
        let response = http
            .get(authorize_url(&fake, &[("redirect_uri", bad)]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.headers().get("location").is_none());
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    // At the token endpoint too.
    let code = authorize(&fake, &http).await;
    let mut body = code_body(&code, VERIFIER);
    body["redirectUri"] = json!("http://127.0.0.1:47821/callback/");
    let (status, body) = exchange(&fake, &http, body).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_authorize_requests() {
    let fake = start().await;
    let http = http();
    let send = |overrides: Vec<(&'static str, &'static str)>| {
        let url = authorize_url(&fake, &overrides);
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let response = send(vec![("client_id", "nobody")]).await;
    assert_eq!(response.status(), 400);
    for (overrides, error) in [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "tooshort")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "api:access admin")], "invalid_scope"),
    ] {
        let params = redirect_params(&send(overrides.clone()).await);
        assert_eq!(params["error"], error, "{overrides:?}");
        assert_eq!(params["state"], "state-123");
    }
    let params = redirect_params(&send(vec![("state", "")]).await);
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(fake.stats().authorize, 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_consent_redirects_with_access_denied() {
    let fake = start().await;
    fake.set_consent(Consent::Deny);
    let response = http().get(authorize_url(&fake, &[])).send().await.unwrap();
    let params = redirect_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "state-123");
    assert!(!params.contains_key("code"));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_wants_json() {
    let fake = start().await;
    let http = http();
    let code = authorize(&fake, &http).await;
    let response = http
        .post(format!("{}/oauth2/token", fake.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code={code}&code_verifier={VERIFIER}&client_id={CLIENT_ID}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // snake_case JSON is not the API's shape either.
    let (status, body) = exchange(
        &fake,
        &http,
        json!({"grant_type": "authorization_code", "code": code, "code_verifier": VERIFIER}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = exchange(&fake, &http, json!({"grantType": "password"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let fake = start().await;
    let http = http();
    let first = sign_in(&fake, &http).await;
    let refresh = |token: &str| json!({"grantType": "refresh_token", "refreshToken": token, "clientId": CLIENT_ID});

    let (status, second) = exchange(&fake, &http, refresh(&first.refresh_token)).await;
    assert_eq!(status, 200);
    assert_ne!(second["refresh_token"], first.refresh_token.as_str());
    assert_ne!(second["access_token"], first.access_token.as_str());
    let second_access = second["access_token"].as_str().unwrap();
    assert_eq!(
        get(&fake, &http, second_access, "/oauth2/v1/models")
            .await
            .0,
        200
    );

    // Replaying the rotated token: refused, and everything in the family dies.
    let (status, body) = exchange(&fake, &http, refresh(&first.refresh_token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        get(&fake, &http, second_access, "/oauth2/v1/models")
            .await
            .0,
        401
    );
    let (status, _) = exchange(
        &fake,
        &http,
        refresh(second["refresh_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 400);

    // Another sign-in is unaffected.
    let other = sign_in(&fake, &http).await;
    assert_eq!(
        get(&fake, &http, &other.access_token, "/oauth2/v1/models")
            .await
            .0,
        200
    );
    let stats = fake.stats();
    assert_eq!((stats.refreshes, stats.failed_token_requests), (1, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tokens_get_401_and_refresh_fixes_it() {
    let fake = FakeServer::start(FakeConfig {
        access_token_ttl: Duration::ZERO,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let http = http();
    let pair = fake.issue_token("api:access");
    let (status, body) = get(&fake, &http, &pair.access_token, "/oauth2/v1/models").await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": {"message": "Invalid or expired access token", "type": "invalid_token", "code": "invalid_token"}})
    );

    let fake = start().await;
    let pair = fake.issue_token("api:access");
    assert_eq!(
        get(&fake, &http, &pair.access_token, "/oauth2/v1/models")
            .await
            .0,
        200
    );
    fake.expire_all_tokens();
    assert_eq!(
        get(&fake, &http, &pair.access_token, "/oauth2/v1/models")
            .await
            .0,
        401
    );
    let (status, fresh) = exchange(
        &fake,
        &http,
        json!({"grantType": "refresh_token", "refreshToken": pair.refresh_token, "clientId": CLIENT_ID}),
    )
    .await;
    assert_eq!(status, 200);
    let access = fresh["access_token"].as_str().unwrap();
    assert_eq!(get(&fake, &http, access, "/oauth2/v1/models").await.0, 200);
    // No token, a garbage token: 401 as well.
    assert_eq!(get(&fake, &http, "nope", "/oauth2/v1/models").await.0, 401);
    let response = http
        .get(format!("{}/oauth2/v1/models", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_are_enforced() {
    let fake = start().await;
    let http = http();
    let api_only = fake.issue_token("api:access").access_token;
    let (status, body) = get(&fake, &http, &api_only, "/oauth2/userinfo").await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["message"],
        "insufficient_scope: profile:read required"
    );
    let profile_only = fake.issue_token("profile:read").access_token;
    assert_eq!(
        get(&fake, &http, &profile_only, "/oauth2/v1/models")
            .await
            .0,
        403
    );
}

/// `POST /oauth2/revoke` with the form body `token=…&client_id=…`, nothing else.
async fn revoke_form(
    fake: &aipass_fake::FakeServer,
    http: &reqwest::Client,
    body: &str,
) -> reqwest::StatusCode {
    http.post(format!("{}/oauth2/revoke", fake.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_takes_only_the_live_form() {
    let fake = start().await;
    let http = http();
    let pair = sign_in(&fake, &http).await;
    let revoke = format!("{}/oauth2/revoke", fake.base_url());
    let form = |token: &str| format!("token={token}&client_id={CLIENT_ID}");

    // The older shapes are refused and revoke nothing: the token in the query, a JSON body,
    // a form without client_id, an unknown field, an unknown client.
    let query = http
        .post(format!("{revoke}?token={}", pair.access_token))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 400);
    let json_body = http
        .post(&revoke)
        .json(&json!({"token": pair.access_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let token_only = format!("token={}", pair.access_token);
    assert_eq!(revoke_form(&fake, &http, &token_only).await, 400);
    let extra = format!("{}&token_type_hint=access_token", form(&pair.access_token));
    assert_eq!(revoke_form(&fake, &http, &extra).await, 400);
    let stranger = format!("token={}&client_id=someone-else", pair.access_token);
    assert_eq!(revoke_form(&fake, &http, &stranger).await, 401);
    assert_eq!(
        get(&fake, &http, &pair.access_token, "/oauth2/v1/models")
            .await
            .0,
        200,
        "a refused revoke must revoke nothing"
    );

    // The live form: the access token alone...
    assert_eq!(
        revoke_form(&fake, &http, &form(&pair.access_token)).await,
        200
    );
    assert_eq!(
        get(&fake, &http, &pair.access_token, "/oauth2/v1/models")
            .await
            .0,
        401
    );
    // ...and a refresh token, which ends its whole family.
    let fresh = exchange(
        &fake,
        &http,
        json!({"grantType": "refresh_token", "refreshToken": pair.refresh_token, "clientId": CLIENT_ID}),
    )
    .await
    .1;
    let access = fresh["access_token"].as_str().unwrap();
    let refresh = fresh["refresh_token"].as_str().unwrap();
    assert_eq!(revoke_form(&fake, &http, &form(refresh)).await, 200);
    assert_eq!(get(&fake, &http, access, "/oauth2/v1/models").await.0, 401);

    // Unknown tokens: still 200. The summaries say which kind each token was.
    assert_eq!(revoke_form(&fake, &http, &form("unknown")).await, 200);
    let kinds: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth2/revoke" && r.status == 200)
        .map(|r| r.summary["token_kind"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(kinds, ["access", "refresh", "unknown"]);
    assert_eq!(fake.stats().revocations, 8);
}
