//! Helpers shared by the fake's integration tests: a started fake, an HTTP client, sign-in.

use std::collections::HashMap;

use aipass_fake::{Catalogue, FakeConfig, FakeServer, TokenPair, pkce_challenge};
use reqwest::redirect::Policy;
use serde_json::Value;

pub const CLIENT_ID: &str = "aipass-mcp-demo";
pub const REDIRECT_URI: &str = "http://127.0.0.1:47821/callback";
pub const VERIFIER: &str = "test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

pub async fn start() -> FakeServer {
    FakeServer::start(FakeConfig::default()).await.unwrap()
}

/// No redirects followed (we read `Location` ourselves) and never a proxy.
pub fn http() -> reqwest::Client {
    // In a workspace build reqwest carries the server's `rustls-no-provider`: without a provider
    // the builder would panic. Err = already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// The fake playing the seed document's AI Pass (what `api.rs` checks), with a signed-in token.
pub async fn signed_in() -> (FakeServer, reqwest::Client, String) {
    signed_in_to(Catalogue::Seed).await
}

/// The fake playing `catalogue`, plus a signed-in token with the default scopes.
pub async fn signed_in_to(catalogue: Catalogue) -> (FakeServer, reqwest::Client, String) {
    let fake = FakeServer::start(FakeConfig {
        catalogue,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let token = fake.issue_token("api:access profile:read").access_token;
    (fake, http(), token)
}

pub fn authorize_url(fake: &FakeServer, overrides: &[(&str, &str)]) -> String {
    let challenge = pkce_challenge(VERIFIER);
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "api:access profile:read"),
        ("state", "state-123"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (key, value) in overrides {
        params.retain(|(k, _)| k != key);
        if !value.is_empty() {
            params.push((key, value));
        }
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{}/oauth2/authorize?{query}", fake.base_url())
}

/// Query parameters of the redirect's `Location`.
pub fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), 302, "expected a redirect");
    let location = response.headers()["location"].to_str().unwrap();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, REDIRECT_URI);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Runs the authorize step and returns the code.
pub async fn authorize(fake: &FakeServer, http: &reqwest::Client) -> String {
    let response = http.get(authorize_url(fake, &[])).send().await.unwrap();
    let params = redirect_params(&response);
    assert_eq!(params["state"], "state-123");
    params["code"].clone()
}

pub async fn exchange(fake: &FakeServer, http: &reqwest::Client, body: Value) -> (u16, Value) {
    let response = http
        .post(format!("{}/oauth2/token", fake.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

pub fn code_body(code: &str, verifier: &str) -> Value {
    serde_json::json!({
        "grantType": "authorization_code",
        "code": code,
        "codeVerifier": verifier,
        "clientId": CLIENT_ID,
        "redirectUri": REDIRECT_URI,
    })
}

pub async fn sign_in(fake: &FakeServer, http: &reqwest::Client) -> TokenPair {
    let code = authorize(fake, http).await;
    let (status, body) = exchange(fake, http, code_body(&code, VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// GET an API path with a bearer token: (status, JSON body).
pub async fn get(
    fake: &FakeServer,
    http: &reqwest::Client,
    token: &str,
    path: &str,
) -> (u16, Value) {
    let response = http
        .get(format!("{}{path}", fake.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POST JSON to an API path with a bearer token: (status, JSON body).
pub async fn post(
    fake: &FakeServer,
    http: &reqwest::Client,
    token: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = http
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, _| image::Rgb([x as u8, 10, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}
