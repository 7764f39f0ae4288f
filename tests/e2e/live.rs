//! The live AI Pass, end to end in both eras: a catalogue whose metadata (not the ids' shape)
//! says what each model does, `/v1` with the `/oauth2/v1` alias, the developer API key, the
//! proxy's unknown-model answer, and image answers on another origin, as `data:` URLs or as
//! unpadded base64. `tools.rs` runs every tool against the seed-shaped fake.

use aipass_fake::{Fault, FaultKind};
use serde_json::{Value, json};
use testkit::facts::ErrorCode;
use testkit::session::{Era, Options, Session, files, start, start_seed, start_with};

fn requests_to(s: &Session, path: &str) -> Vec<Value> {
    s.fake
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

fn last_to(s: &Session, path: &str) -> Value {
    requests_to(s, path)
        .pop()
        .unwrap_or_else(|| panic!("no request to {path}"))
}

/// Every tool called without `model` picks a model of the right kind from a catalogue whose
/// order and ids would mislead (a speech model first, edit models before generation ones).
async fn every_tool_without_a_model_picks_the_right_kind(era: Era) {
    let s = start(era).await;
    let chat = s.ok("chat", json!({"prompt": "Say hi"})).await;
    assert_eq!(chat["model"], "gpt-5-mini");
    let chat_request = last_to(&s, "/v1/chat/completions");
    assert_eq!(chat_request["summary"]["model"], "gpt-5-mini");
    assert_eq!(chat_request["client_id_header"], "aipass-mcp-demo");

    let photo = s.write_png("photo.png", 64, 48);
    let vision = s
        .ok(
            "chat",
            json!({"prompt": "What is this?", "images": [photo]}),
        )
        .await;
    assert_eq!(
        vision["model"], "gemini-2.5-flash",
        "the catalogue's vision model"
    );

    let image = s
        .ok("generate_image", json!({"prompt": "A lighthouse"}))
        .await;
    assert_eq!(image["model"], "nano-banana-2");
    assert_eq!(files(&image).len(), 1);

    let edited = s
        .ok(
            "edit_image",
            json!({"prompt": "Make it blue", "images": [photo]}),
        )
        .await;
    assert_eq!(edited["model"], "nano-banana-2-edit");
    assert_eq!(files(&edited).len(), 1);

    let varied = s.ok("vary_image", json!({"image": photo})).await;
    assert_eq!(
        varied["model"], "dall-e-2",
        "the model the catalogue marks for variations"
    );
    assert_eq!(
        last_to(&s, "/v1/images/variations")["summary"]["model"],
        "dall-e-2"
    );

    let spoken = s.ok("speak", json!({"text": "Hello there"})).await;
    assert_eq!(spoken["model"], "tts-1");
    let heard = s.ok("transcribe", json!({"file": files(&spoken)[0]})).await;
    assert_eq!(heard["model"], "whisper-1");
    assert_eq!(heard["text"], "Hello there");
    let transcription = last_to(&s, "/v1/audio/transcriptions");
    assert_eq!(transcription["summary"]["response_format"], "json");

    let embedded = s.ok("embed", json!({"input": "one text"})).await;
    assert_eq!(embedded["model"], "text-embedding-3-small");

    let video = s
        .ok("generate_video", json!({"prompt": "Waves", "seconds": "4"}))
        .await;
    assert_eq!(video["model"], "sora-2");
    assert_eq!(video["status"], "completed");

    // Every paid request named its model, and all went to /v1.
    for request in s.fake.requests() {
        if request.method == "POST" {
            assert!(request.path.starts_with("/v1/"), "{}", request.path);
            assert!(
                request.summary["model"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{} sent no model: {}",
                request.path,
                request.summary
            );
        }
    }
}

/// The same against the seed-shaped catalogue (prefixed ids, no metadata, only `/oauth2/v1`).
async fn every_tool_without_a_model_works_on_the_seed_catalogue(era: Era) {
    let s = start_seed(era).await;
    let photo = s.write_png("photo.png", 64, 48);
    let calls = [
        ("chat", json!({"prompt": "Say hi"}), "gpt-5-mini"),
        (
            "chat",
            json!({"prompt": "What is this?", "images": [&photo]}),
            "gpt-5-mini",
        ),
        (
            "generate_image",
            json!({"prompt": "A lighthouse"}),
            "imagen4/preview/ultra",
        ),
        (
            "edit_image",
            json!({"prompt": "Blue", "images": [&photo]}),
            "fal-ai/nano-banana-2/edit",
        ),
        ("vary_image", json!({"image": &photo}), "openai/gpt-image-2"),
        ("speak", json!({"text": "Hello"}), "tts-1"),
        (
            "embed",
            json!({"input": "one text"}),
            "text-embedding-3-small",
        ),
        (
            "generate_video",
            json!({"prompt": "Waves", "seconds": "4"}),
            "sora-2",
        ),
    ];
    for (tool, arguments, model) in calls {
        let out = s.ok(tool, arguments).await;
        assert_eq!(out["model"], model, "{tool}: {out}");
    }
    let spoken = s.ok("speak", json!({"text": "Round trip"})).await;
    let heard = s.ok("transcribe", json!({"file": files(&spoken)[0]})).await;
    assert_eq!(heard["model"], "whisper-1");
    assert_eq!(
        last_to(&s, "/oauth2/v1/images/variations")["summary"]["model"],
        "openai/gpt-image-2",
        "the model is named even where the seed's server had a default"
    );
}

async fn list_models_shows_and_filters_the_metadata(era: Era) {
    let s = start(era).await;
    let all = s.ok("list_models", json!({})).await;
    let entry = |id: &str| {
        all["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing from {all}"))
    };
    assert_eq!(
        entry("gpt-4o-mini-tts"),
        json!({"id": "gpt-4o-mini-tts", "capability": "tts", "type": "audio", "methods": ["audio_speech"], "capabilities": ["tts"]})
    );
    assert_eq!(entry("aura-sr")["capability"], "image_edit");
    assert_eq!(entry("omni-moderation-latest")["capability"], "other");

    let ids = |out: &Value| -> Vec<String> {
        out["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let edits = s.ok("list_models", json!({"method": "image_edit"})).await;
    assert_eq!(
        ids(&edits),
        ["nano-banana-2-edit", "aura-sr", "gpt-image-2-edit"]
    );
    let vision = s.ok("list_models", json!({"feature": "vision"})).await;
    assert_eq!(ids(&vision), ["gemini-2.5-flash"]);
    let audio = s
        .ok(
            "list_models",
            json!({"type": "audio", "capability": "transcription"}),
        )
        .await;
    assert_eq!(ids(&audio), ["whisper-1"]);
    // The filters went to the server too.
    let queries: Vec<String> = requests_to(&s, "/v1/models")
        .iter()
        .map(|r| r["summary"]["query"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        queries,
        ["", "method=image_edit", "capability=vision", "type=audio"]
    );
}

async fn an_unknown_model_is_model_not_found_with_close_matches(era: Era) {
    let s = start(era).await;
    let text = s
        .err("chat", json!({"prompt": "hi", "model": "gpt-5-mni"}))
        .await;
    assert!(
        text.starts_with(&ErrorCode::ModelNotFound.prefix()),
        "{text}"
    );
    assert!(text.contains("Close matches: gpt-5-mini"), "{text}");
    // The server keeps serving.
    s.ok("chat", json!({"prompt": "hi"})).await;
}

/// Image answers as the live providers send them: a URL on another origin (no bearer goes
/// there), a `data:` URL, and base64 without padding.
async fn image_answers_in_every_documented_shape_are_saved(era: Era) {
    let s = start(era).await;
    let photo = s.write_png("photo.png", 40, 30);
    // Same origin: the bearer goes along (this is what makes the counter able to move).
    s.ok("generate_image", json!({"prompt": "same origin"}))
        .await;
    let with_bearer = s.fake.stats().file_downloads_with_credentials;
    assert_eq!(with_bearer, 1);

    let foreign = s
        .ok(
            "edit_image",
            json!({"prompt": "upscale", "images": [photo], "model": "aura-sr"}),
        )
        .await;
    assert_eq!(files(&foreign).len(), 1);
    assert_eq!(
        s.fake.stats().file_downloads_with_credentials,
        with_bearer,
        "the token went to another origin"
    );

    let data_url = s
        .ok(
            "edit_image",
            json!({"prompt": "recolour", "images": [photo], "model": "gpt-image-2-edit"}),
        )
        .await;
    assert_eq!(
        image::image_dimensions(&files(&data_url)[0]).unwrap(),
        (40, 30)
    );

    let unpadded = s
        .ok(
            "generate_image",
            json!({"prompt": "no padding", "model": "gpt-image-1", "size": "96x64"}),
        )
        .await;
    assert_eq!(
        image::image_dimensions(&files(&unpadded)[0]).unwrap(),
        (96, 64)
    );
}

/// A server with only `/oauth2/v1` (the seed's): one 404 under `/v1`, then the alias for good.
async fn a_server_without_v1_is_reached_through_the_alias(era: Era) {
    let s = start_seed(era).await;
    s.ok("chat", json!({"prompt": "one"})).await;
    s.ok("chat", json!({"prompt": "two"})).await;
    let stats = s.fake.stats();
    assert_eq!(
        stats.requests.get("GET /v1/models"),
        Some(&1),
        "{:?}",
        stats.requests
    );
    assert_eq!(stats.requests.get("POST /v1/chat/completions"), None);
    assert_eq!(
        stats.requests.get("POST /oauth2/v1/chat/completions"),
        Some(&2)
    );
}

async fn an_explicit_api_path_is_used_as_given(era: Era) {
    let mut options = Options::new(era);
    options
        .extra_env
        .push(("AIPASS_API_PATH".into(), "/oauth2/v1".into()));
    let s = start_with(options).await;
    s.ok("chat", json!({"prompt": "hi"})).await;
    assert_eq!(requests_to(&s, "/v1/models").len(), 0);
    assert_eq!(requests_to(&s, "/oauth2/v1/chat/completions").len(), 1);
}

/// `AIPASS_API_KEY`: the developer key is the bearer on `/v1`, with no OAuth client id header
/// and no sign-in.
async fn a_developer_api_key_pays_for_calls_without_sign_in(era: Era) {
    let mut options = Options::new(era);
    options.token_scope = None;
    options.api_key = true;
    let s = start_with(options).await;
    let out = s.ok("chat", json!({"prompt": "paid by my key"})).await;
    assert_eq!(out["model"], "gpt-5-mini");
    let request = last_to(&s, "/v1/chat/completions");
    assert_eq!(request["client_id_header"], Value::Null);
    assert_eq!(request["status"], 200);
    assert_eq!(s.fake.stats().authorize, 0, "no sign-in was started");
}

fn inject_on_chat(s: &Session, kind: FaultKind) {
    s.fake
        .inject_fault(Fault::new(kind).on("POST", "/v1/chat/completions"));
}

/// Errors inside a stream, as the proxy sends them: an `event: error`, an error object whose
/// `code` is a string, a `message`-only object. Text already received is kept, marked incomplete.
async fn stream_errors_end_the_call_clearly(era: Era) {
    let s = start(era).await;
    inject_on_chat(
        &s,
        FaultKind::StreamError {
            after_chunks: 2,
            event: Some("error".into()),
            data: json!({"error": {"message": "provider overloaded", "type": "server_error", "code": "500"}}),
        },
    );
    let prompt = "tell me a long story about a fox who learns to read the stars at night";
    let result = s.call("chat", json!({"prompt": prompt})).await;
    assert_ne!(
        result.is_error,
        Some(true),
        "{}",
        testkit::session::text(&result)
    );
    let partial = result.structured_content.clone().unwrap();
    assert_eq!(partial["finish_reason"], "incomplete");
    assert!(!partial["text"].as_str().unwrap().is_empty());
    let shown = testkit::session::text(&result);
    assert!(shown.contains("ended the stream with an error"), "{shown}");
    assert!(shown.contains("provider overloaded"), "{shown}");

    inject_on_chat(
        &s,
        FaultKind::StreamError {
            after_chunks: 0,
            event: None,
            data: json!({"error": {"message": "slow down", "code": "429"}}),
        },
    );
    let text = s.err("chat", json!({"prompt": "hi"})).await;
    assert!(text.starts_with(&ErrorCode::RateLimited.prefix()), "{text}");

    inject_on_chat(
        &s,
        FaultKind::StreamError {
            after_chunks: 0,
            event: None,
            data: json!({"message": "the provider failed"}),
        },
    );
    let text = s.err("chat", json!({"prompt": "hi"})).await;
    assert!(
        text.starts_with(&ErrorCode::UpstreamError.prefix()),
        "{text}"
    );
    assert!(text.contains("the provider failed"), "{text}");

    let fine = s.ok("chat", json!({"prompt": "still there?"})).await;
    assert_eq!(fine["finish_reason"], "stop");
}

/// Error bodies that are not `{"error":…}` still give the agent the service's words.
async fn error_bodies_of_other_shapes_are_readable(era: Era) {
    let s = start(era).await;
    let on_embed = |status: u16, body: Value| {
        Fault::new(FaultKind::Status {
            status,
            retry_after: None,
            body: Some(body),
        })
        .on("POST", "/v1/embeddings")
    };
    s.fake
        .inject_fault(on_embed(500, json!({"detail": "Internal routing failure"})));
    let text = s.err("embed", json!({"input": "x"})).await;
    assert!(text.contains("Internal routing failure"), "{text}");
    s.fake.inject_fault(on_embed(
        503,
        json!({"success": false, "message": "Down for maintenance"}),
    ));
    let text = s.err("embed", json!({"input": "x"})).await;
    assert!(text.contains("Down for maintenance"), "{text}");
    s.fake.inject_fault(on_embed(
        422,
        json!({"detail": [{"loc": ["body", "input"], "msg": "field required", "type": "missing"}]}),
    ));
    let text = s.err("embed", json!({"input": "x"})).await;
    assert!(
        text.starts_with(&ErrorCode::InvalidInput.prefix()),
        "{text}"
    );
    assert!(text.contains("body.input: field required"), "{text}");
}

/// `maxBudget: null` is an account without a limit, not an error.
async fn an_unlimited_budget_is_no_limit(era: Era) {
    let s = start(era).await;
    s.fake.set_unlimited_budget();
    let result = s.call("balance", json!({})).await;
    assert_ne!(
        result.is_error,
        Some(true),
        "{}",
        testkit::session::text(&result)
    );
    assert_eq!(
        result.structured_content.clone().unwrap(),
        json!({"total_cost": 0.0})
    );
    assert!(testkit::session::text(&result).contains("no limit"));
}

/// The developer-key video shape: `{"videoId"}`, status from `/videos/{id}/status`, the file
/// from `downloadUrl`. The result speaks the same small vocabulary as for the OpenAI shape.
async fn a_video_in_the_developer_key_shape_completes(era: Era) {
    let mut options = Options::new(era);
    options.token_scope = None;
    options.api_key = true;
    let s = start_with(options).await;
    let out = s
        .ok(
            "generate_video",
            json!({"prompt": "Rain on a window", "seconds": 4}),
        )
        .await;
    assert_eq!(out["status"], "completed");
    assert_eq!(out["upstream_status"], "completed");
    let video_id = out["video_id"].as_str().unwrap();
    assert!(!video_id.is_empty());
    let paths = files(&out);
    assert_eq!(&std::fs::read(&paths[0]).unwrap()[4..8], b"ftyp");
    assert!(!requests_to(&s, &format!("/v1/videos/{video_id}/status")).is_empty());
    assert!(
        requests_to(&s, &format!("/v1/videos/{video_id}/content")).is_empty(),
        "the file came from downloadUrl"
    );
}

both_eras!(
    an_unlimited_budget_is_no_limit,
    a_video_in_the_developer_key_shape_completes,
    stream_errors_end_the_call_clearly,
    error_bodies_of_other_shapes_are_readable,
    every_tool_without_a_model_picks_the_right_kind,
    every_tool_without_a_model_works_on_the_seed_catalogue,
    list_models_shows_and_filters_the_metadata,
    an_unknown_model_is_model_not_found_with_close_matches,
    image_answers_in_every_documented_shape_are_saved,
    a_server_without_v1_is_reached_through_the_alias,
    an_explicit_api_path_is_used_as_given,
    a_developer_api_key_pays_for_calls_without_sign_in,
);
