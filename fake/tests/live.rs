//! The live AI Pass the fake plays by default: the metadata catalogue with its shapes and
//! filters, `/v1` and its aliases, the proxy's unknown-model answer, refused unknown fields.

use crate::common::*;
use aipass_fake::Catalogue;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn the_catalogue_has_metadata_shapes_and_filters() {
    let (fake, http, token) = signed_in_to(Catalogue::Live).await;
    let (status, list) = get(&fake, &http, &token, "/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    let first = &list["data"][0];
    assert_eq!(first["id"], "gpt-4o-mini-tts");
    assert_eq!(first["type"], "audio");
    assert_eq!(first["methods"], json!(["audio_speech"]));

    let (status, plain) = get(&fake, &http, &token, "/v1/models?detailed=false").await;
    assert_eq!(status, 200);
    assert!(
        plain.as_array().unwrap().iter().all(Value::is_string),
        "{plain}"
    );

    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, edits) = get(
        &fake,
        &http,
        &token,
        "/v1/models?type=image&method=image_edit",
    )
    .await;
    assert_eq!(
        ids(&edits),
        ["nano-banana-2-edit", "aura-sr", "gpt-image-2-edit"]
    );
    let (_, vision) = get(&fake, &http, &token, "/v1/models?capability=vision").await;
    assert_eq!(ids(&vision), ["gemini-2.5-flash"]);
    let (status, _) = get(&fake, &http, &token, "/v1/models?kind=image").await;
    assert_eq!(status, 400, "an unknown filter is refused");

    // The aliases serve the same API.
    for path in ["/oauth2/v1/models", "/v1/models/aura-sr"] {
        assert_eq!(get(&fake, &http, &token, path).await.0, 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_models_and_fields_are_refused_like_the_proxy() {
    let (fake, http, token) = signed_in_to(Catalogue::Live).await;
    let post = |body: Value| {
        http.post(format!("{}/v1/embeddings", fake.base_url()))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let unknown = post(json!({"model": "gpt-9", "input": "x"})).await.unwrap();
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid model name passed in model=gpt-9"),
        "{body}"
    );
    let misspelled = post(json!({"model": "text-embedding-3-small", "inputs": "x"}))
        .await
        .unwrap();
    assert_eq!(misspelled.status(), 400);
    let body: Value = misspelled.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inputs"),
        "{body}"
    );
    let fine = post(json!({"model": "text-embedding-3-small", "input": "x"}))
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_use_v1_and_their_own_alias_only() {
    let (fake, http, _) = signed_in_to(Catalogue::Live).await;
    let key = fake.issue_api_key();
    assert_eq!(get(&fake, &http, &key, "/v1/models").await.0, 200);
    assert_eq!(get(&fake, &http, &key, "/apikey/v1/models").await.0, 200);
    assert_eq!(get(&fake, &http, &key, "/oauth2/v1/models").await.0, 401);
    assert_eq!(get(&fake, &http, &key, "/oauth2/userinfo").await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_catalogue_has_only_its_old_path() {
    let (fake, http, token) = signed_in().await;
    assert_eq!(get(&fake, &http, &token, "/v1/models").await.0, 404);
    let (status, _) = get(&fake, &http, &token, "/oauth2/v1/models/gpt-9").await;
    assert_eq!(status, 404);
}
