//! The seed-era `/oauth2/v1` API against the fake (`Catalogue::Seed`; `live.rs` has the live one): models, chat (plain, stream, vision),
//! embeddings, budget and usage, unknown paths (`media_api.rs` has images, audio and videos).

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn models_list_and_lookup() {
    let (fake, http, token) = signed_in().await;
    // The seed-era server answers plain ids by default, objects (without metadata) when asked.
    let (status, plain) = get(&fake, &http, &token, "/oauth2/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(plain[0], "gpt-5-mini");
    assert_eq!(plain.as_array().unwrap().len(), 17);
    let (status, list) = get(&fake, &http, &token, "/oauth2/v1/models?detailed=true").await;
    assert_eq!(status, 200);
    assert!(list["data"][0].get("methods").is_none(), "{list}");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 17);
    assert_eq!(ids[0], "gpt-5-mini");
    assert_eq!(ids[16], "omni-moderation-latest");
    assert_eq!(list["data"][0]["created"], 1735689600);
    let (status, model) = get(
        &fake,
        &http,
        &token,
        "/oauth2/v1/models/fal-ai/nano-banana-2/edit",
    )
    .await;
    assert_eq!(
        (status, model["id"].as_str()),
        (200, Some("fal-ai/nano-banana-2/edit"))
    );
    let (status, error) = get(&fake, &http, &token, "/oauth2/v1/models/gpt-9").await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["code"], "model_not_found");
    assert_eq!(error["error"]["message"], "Model 'gpt-9' not found");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_plain_with_max_tokens() {
    let (fake, http, token) = signed_in().await;
    let path = "/oauth2/v1/chat/completions";
    let (status, reply) = post(
        &fake,
        &http,
        &token,
        path,
        json!({
            "model": "gpt-5-mini",
            "messages": [
                {"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": "One tip for better focus?"}
            ],
        }),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Echo from gpt-5-mini: One tip for better focus?"
    );
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert_eq!(reply["usage"]["prompt_tokens"], 8);
    assert_eq!(reply["usage"]["completion_tokens"], 8);

    let (_, reply) = post(
        &fake,
        &http,
        &token,
        path,
        json!({
            "model": "claude-sonnet-4-5", "max_tokens": 3,
            "messages": [{"role": "user", "content": "a b c d e"}],
        }),
    )
    .await;
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Echo from claude-sonnet-4-5:"
    );
    assert_eq!(reply["choices"][0]["finish_reason"], "length");

    // Validation: wrong kind, unknown model, missing field, bad role.
    let cases = [
        (
            json!({"model": "tts-1", "messages": [{"role": "user", "content": "x"}]}),
            400,
        ),
        (
            json!({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}),
            404,
        ),
        (json!({"model": "gpt-4o"}), 400),
        (json!({"messages": []}), 400),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]}),
            400,
        ),
    ];
    for (body, expected) in cases {
        let (status, error) = post(&fake, &http, &token, path, body.clone()).await;
        assert_eq!(status, expected, "{body} → {error}");
    }
    let (_, error) = post(&fake, &http, &token, path, json!({"model": "gpt-4o"})).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages")
    );

    let recorded = fake.requests();
    let first = &recorded[0];
    assert_eq!(first.path, path);
    assert_eq!(first.summary["model"], "gpt-5-mini");
    assert_eq!(first.summary["messages"], 2);
    assert_eq!(fake.stats().requests[&format!("POST {path}")], 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_stream_reassembles() {
    let (fake, http, token) = signed_in().await;
    let response = http
        .post(format!("{}/oauth2/v1/chat/completions", fake.base_url()))
        .bearer_auth(&token)
        .header("X-AIPass-OAuth-Client-Id", CLIENT_ID)
        .json(&json!({
            "model": "gemini/gemini-2.5-flash", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Stream this sentence back to me please"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        "Echo from gemini/gemini-2.5-flash: Stream this sentence back to me please"
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 7);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let recorded = fake.requests();
    assert_eq!(recorded[0].client_id_header.as_deref(), Some(CLIENT_ID));
    assert_eq!(recorded[0].summary["stream"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_vision_checks_images() {
    let (fake, http, token) = signed_in().await;
    let path = "/oauth2/v1/chat/completions";
    let png = png(64, 48);
    let jpeg = jpeg(32, 16);
    let data = |mime: &str, bytes: &[u8]| format!("data:{mime};base64,{}", STANDARD.encode(bytes));
    let ask =
        |parts: Value| json!({"model": "gpt-4o", "messages": [{"role": "user", "content": parts}]});

    let (status, reply) = post(
        &fake,
        &http,
        &token,
        path,
        ask(json!([
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": data("image/png", &png)}},
            {"type": "image_url", "image_url": {"url": data("image/jpeg", &jpeg)}},
        ])),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let expected = format!(
        "Echo from gpt-4o: What is in these? [saw 2 image(s): png 64x48 ({} bytes), jpeg 32x16 ({} bytes)]",
        png.len(),
        jpeg.len()
    );
    assert_eq!(reply["choices"][0]["message"]["content"], expected);
    assert_eq!(
        fake.requests()[0].summary["image_bytes"],
        json!([png.len(), jpeg.len()])
    );

    for bad in [
        data("image/png", b"not an image at all"),
        data("image/png", &jpeg), // declared type disagrees with the bytes
        "data:image/png;base64,@@@".to_string(),
        "ftp://example.com/a.png".to_string(),
    ] {
        let (status, _) = post(
            &fake,
            &http,
            &token,
            path,
            ask(json!([
                {"type": "text", "text": "x"},
                {"type": "image_url", "image_url": {"url": bad}},
            ])),
        )
        .await;
        assert_eq!(status, 400);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn embeddings_are_deterministic_unit_vectors() {
    let (fake, http, token) = signed_in().await;
    let path = "/oauth2/v1/embeddings";
    let (status, body) = post(
        &fake,
        &http,
        &token,
        path,
        json!({
            "model": "text-embedding-3-small", "input": ["First text", "Second text", "First text"],
        }),
    )
    .await;
    assert_eq!(status, 200);
    let vectors: Vec<Vec<f64>> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_value(d["embedding"].clone()).unwrap())
        .collect();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0].len(), 1536);
    assert_eq!(vectors[0], vectors[2]);
    assert_ne!(vectors[0], vectors[1]);
    let norm: f64 = vectors[1].iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3);
    assert_eq!(body["usage"]["prompt_tokens"], 6);

    let (_, large) = post(
        &fake,
        &http,
        &token,
        path,
        json!({"model": "text-embedding-3-large", "input": "x"}),
    )
    .await;
    assert_eq!(
        large["data"][0]["embedding"].as_array().unwrap().len(),
        3072
    );
    for bad in [
        json!({"model": "gpt-4o", "input": "x"}),
        json!({"model": "text-embedding-3-small", "input": []}),
        json!({"model": "text-embedding-3-small"}),
    ] {
        assert_eq!(post(&fake, &http, &token, path, bad).await.0, 400);
    }
    assert_eq!(
        fake.requests()[0].summary,
        json!({"model": "text-embedding-3-small", "inputs": 3})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn budget_is_charged_and_enforced() {
    let (fake, http, token) = signed_in().await;
    fake.set_budget(0.05, 0.0);
    let chat = json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        post(
            &fake,
            &http,
            &token,
            "/oauth2/v1/chat/completions",
            chat.clone()
        )
        .await
        .0,
        200
    );
    let (_, usage) = get(&fake, &http, &token, "/api/v1/usage/me/summary").await;
    assert_eq!(
        usage,
        json!({"success": true, "data": {"totalCost": 0.002, "maxBudget": 0.05, "remainingBudget": 0.048}})
    );

    let image = json!({"model": "fal-ai/flux/dev", "prompt": "x", "size": "64x64", "n": 2});
    let (status, error) = post(&fake, &http, &token, "/oauth2/v1/images/generations", image).await;
    assert_eq!(status, 402);
    assert_eq!(error["error"]["code"], "budget_exceeded");
    assert_eq!(
        error["error"]["message"],
        "Budget exceeded: $0.05 left, this request needs $0.08. Add funds at https://aipass.one/panel"
    );
    // Refused and failed requests charge nothing.
    assert_eq!(
        post(
            &fake,
            &http,
            &token,
            "/oauth2/v1/chat/completions",
            json!({"model": "gpt-4o"})
        )
        .await
        .0,
        400
    );
    let (_, usage) = get(&fake, &http, &token, "/api/v1/usage/me/summary").await;
    assert_eq!(usage["data"]["totalCost"], 0.002);

    fake.set_budget(10.0, 9.999);
    assert_eq!(
        post(&fake, &http, &token, "/oauth2/v1/chat/completions", chat)
            .await
            .0,
        402
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_are_json_404() {
    let (fake, http, token) = signed_in().await;
    let (status, body) = get(&fake, &http, &token, "/oauth2/v1/moderations").await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].is_string());
    let response = http
        .get(format!("{}/oauth2/v1/chat/completions", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}
