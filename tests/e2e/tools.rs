//! Every tool, end to end: the real binary over stdio, in both protocol eras, against the fake
//! playing the seed document's AI Pass (prefixed ids, no metadata, only `/oauth2/v1`); `live.rs`
//! runs every tool against the live-shaped fake.

use serde_json::{Value, json};
use testkit::session::{Era, Session, files, start_seed as start, text};

async fn list_models_classifies_every_seed_model(era: Era) {
    let s = start(era).await;
    let all = s.ok("list_models", json!({})).await;
    let models = all["models"].as_array().unwrap();
    assert_eq!(models.len(), 17, "{all}");
    let capability_of = |id: &str| {
        models
            .iter()
            .find(|m| m["id"] == id)
            .map(|m| m["capability"].as_str().unwrap().to_string())
    };
    assert_eq!(capability_of("gpt-5-mini").as_deref(), Some("chat"));
    assert_eq!(
        capability_of("fal-ai/nano-banana-2/edit").as_deref(),
        Some("image_edit")
    );
    assert_eq!(
        capability_of("imagen4/preview/ultra").as_deref(),
        Some("image")
    );
    assert_eq!(capability_of("whisper-1").as_deref(), Some("transcription"));
    assert_eq!(capability_of("sora-2").as_deref(), Some("video"));
    assert_eq!(
        capability_of("omni-moderation-latest").as_deref(),
        Some("other")
    );

    let edits = s
        .ok("list_models", json!({"capability": "image_edit"}))
        .await;
    let ids: Vec<&str> = edits["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "fal-ai/nano-banana-2/edit",
            "openai/gpt-image-2/edit",
            "fal-ai/nano-banana-pro/edit"
        ]
    );

    let claude = s.ok("list_models", json!({"search": "CLAUDE"})).await;
    assert_eq!(
        claude["models"],
        json!([{"id": "claude-sonnet-4-5", "capability": "chat", "from_id": true}])
    );

    // The list is cached: three calls, one upstream request.
    assert_eq!(
        s.fake.stats().requests.get("GET /oauth2/v1/models"),
        Some(&1)
    );
}

async fn chat_streams_a_reply_from_the_default_model(era: Era) {
    let s = start(era).await;
    let out = s
        .ok(
            "chat",
            json!({"prompt": "One tip for better focus?", "system": "Be brief."}),
        )
        .await;
    assert_eq!(
        out["text"],
        "Echo from gpt-5-mini: One tip for better focus?"
    );
    assert_eq!(out["model"], "gpt-5-mini");
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["usage"]["completion_tokens"], 8);
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["finish_reason", "model", "text", "usage"]);
    let request = last_request(&s, "/oauth2/v1/chat/completions");
    assert_eq!(request["summary"]["stream"], true);
    assert_eq!(request["summary"]["messages"], 2);
    assert_eq!(request["client_id_header"], "aipass-mcp-demo");
}

async fn chat_takes_history_model_and_string_numbers(era: Era) {
    let s = start(era).await;
    let out = s
        .ok(
            "chat",
            json!({
                "model": "claude-sonnet-4-5",
                "messages": [
                    {"role": "user", "content": "Name a colour."},
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": "Now name three more colours please"}
                ],
                "max_tokens": "3",
                "temperature": "0.2"
            }),
        )
        .await;
    assert_eq!(out["model"], "claude-sonnet-4-5");
    assert_eq!(out["finish_reason"], "length");
    assert_eq!(out["text"], "Echo from claude-sonnet-4-5:");
}

async fn chat_sends_images_shrunk_for_vision(era: Era) {
    let s = start(era).await;
    let big = s.write_png("big.png", 1800, 1400);
    assert!(std::fs::metadata(&big).unwrap().len() > 800 * 1024);
    let small = s.write_png("small.png", 64, 48);
    let out = s
        .ok(
            "chat",
            json!({"prompt": "What is in these?", "images": [big, small]}),
        )
        .await;
    let reply = out["text"].as_str().unwrap();
    assert!(reply.contains("saw 2 image(s)"), "{reply}");
    assert!(reply.contains("png 64x48"), "{reply}");
    let request = last_request(&s, "/oauth2/v1/chat/completions");
    assert_eq!(request["summary"]["image_parts"], 2);
    for bytes in request["summary"]["image_bytes"].as_array().unwrap() {
        assert!(bytes.as_u64().unwrap() <= 800 * 1024, "{request}");
    }
}

async fn generate_image_saves_b64_and_url_answers(era: Era) {
    let s = start(era).await;
    // The default image model (imagen4) answers with b64_json.
    let out = s
        .ok(
            "generate_image",
            json!({"prompt": "A red fox in snow", "n": 2, "size": "320x200"}),
        )
        .await;
    assert_eq!(out["model"], "imagen4/preview/ultra");
    let paths = files(&out);
    assert_eq!(paths.len(), 2);
    for path in &paths {
        assert!(path.starts_with(s.out_dir()), "{path:?}");
        assert_eq!(image::image_dimensions(path).unwrap(), (320, 200));
        assert!(
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .contains("a-red-fox-in-snow")
        );
    }
    assert_ne!(
        std::fs::read(&paths[0]).unwrap(),
        std::fs::read(&paths[1]).unwrap()
    );
    assert_eq!(out["files"][0]["mime_type"], "image/png");

    // fal-ai models answer with a URL, which is downloaded; the same prompt never overwrites.
    let out = s
        .ok("generate_image", json!({"prompt": "A red fox in snow", "model": "fal-ai/flux/dev", "output_dir": s.output.path().join("other")}))
        .await;
    let url_paths = files(&out);
    assert_eq!(url_paths.len(), 1);
    assert!(url_paths[0].starts_with(s.output.path().join("other")));
    assert_eq!(
        image::image_dimensions(&url_paths[0]).unwrap(),
        (1024, 1024)
    );
    let result = s
        .call(
            "generate_image",
            json!({"prompt": "A red fox in snow", "size": "320x200"}),
        )
        .await;
    let again = files(result.structured_content.as_ref().unwrap());
    assert!(!paths.contains(&again[0]), "an existing file was reused");
    assert!(
        result
            .content
            .iter()
            .any(|c| c.as_resource_link().is_some()),
        "no resource_link"
    );
}

async fn edit_image_sends_every_input(era: Era) {
    let s = start(era).await;
    let target = s.write_png("target.png", 300, 200);
    let reference = s.write_png("reference.png", 100, 100);
    let out = s
        .ok(
            "edit_image",
            json!({"prompt": "Apply the style of the second image to the first", "images": [target, reference]}),
        )
        .await;
    assert_eq!(out["model"], "fal-ai/nano-banana-2/edit");
    let paths = files(&out);
    assert_eq!(paths.len(), 1);
    assert_eq!(image::image_dimensions(&paths[0]).unwrap(), (300, 200));
    let request = last_request(&s, "/oauth2/v1/images/edits");
    assert_eq!(request["summary"]["image_count"], 2);
    assert_eq!(request["summary"]["image_types"], json!(["png", "png"]));
}

async fn speak_then_transcribe_round_trips(era: Era) {
    let s = start(era).await;
    let spoken = "Hello from the agent";
    let out = s
        .ok("speak", json!({"text": spoken, "voice": "nova"}))
        .await;
    assert_eq!(out["model"], "tts-1");
    let paths = files(&out);
    assert_eq!(paths[0].extension().unwrap(), "mp3");
    assert_eq!(out["files"][0]["mime_type"], "audio/mpeg");
    assert!(std::fs::read(&paths[0]).unwrap().starts_with(b"ID3"));

    let heard = s
        .ok("transcribe", json!({"file": paths[0], "language": "en"}))
        .await;
    assert_eq!(heard, json!({"text": spoken, "model": "whisper-1"}));

    let wav = s
        .ok("speak", json!({"text": "Wave form", "format": "wav"}))
        .await;
    let wav_path = &files(&wav)[0];
    assert!(std::fs::read(wav_path).unwrap().starts_with(b"RIFF"));
    let heard = s.ok("transcribe", json!({"file": wav_path})).await;
    assert_eq!(heard["text"], "Wave form");
}

async fn embed_writes_vectors_to_a_file(era: Era) {
    let s = start(era).await;
    let texts = ["first text", "second text", "third text"];
    let out = s.ok("embed", json!({"input": texts})).await;
    assert_eq!(out["model"], "text-embedding-3-small");
    assert_eq!(out["count"], 3);
    assert_eq!(out["dimensions"], 1536);
    let path = &files(&out)[0];
    let saved: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(saved["inputs"], json!(texts));
    let vectors = saved["embeddings"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    assert!(vectors.iter().all(|v| v.as_array().unwrap().len() == 1536));
    assert_ne!(vectors[0], vectors[1]);
    // Vectors never go inline: the result stays small.
    let result = s
        .call(
            "embed",
            json!({"input": "just one", "model": "text-embedding-3-large"}),
        )
        .await;
    assert!(serde_json::to_string(&result).unwrap().len() < 2000);
    assert_eq!(result.structured_content.unwrap()["dimensions"], 3072);
}

async fn balance_reports_and_caches_the_budget(era: Era) {
    let s = start(era).await;
    let before = s.ok("balance", json!({})).await;
    assert_eq!(
        before,
        json!({"total_cost": 0.0, "max_budget": 10.0, "remaining_budget": 10.0})
    );
    s.ok("generate_image", json!({"prompt": "a cost"})).await;
    let cached = s.ok("balance", json!({})).await;
    assert_eq!(cached, before, "served from the 5-minute cache");
    let fresh = s.ok("balance", json!({"refresh": "true"})).await;
    assert_eq!(fresh["total_cost"], 0.04);
    assert_eq!(fresh["remaining_budget"], 9.96);
    assert_eq!(
        s.fake.stats().requests.get("GET /api/v1/usage/me/summary"),
        Some(&2)
    );
}

fn last_request(s: &Session, path: &str) -> Value {
    let requests = s.fake.requests();
    let found = requests
        .iter()
        .rev()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no request to {path}"));
    serde_json::to_value(found).unwrap()
}

#[allow(dead_code)]
fn show(result: &rmcp::model::CallToolResult) -> String {
    text(result)
}

both_eras!(
    list_models_classifies_every_seed_model,
    chat_streams_a_reply_from_the_default_model,
    chat_takes_history_model_and_string_numbers,
    chat_sends_images_shrunk_for_vision,
    generate_image_saves_b64_and_url_answers,
    edit_image_sends_every_input,
    speak_then_transcribe_round_trips,
    embed_writes_vectors_to_a_file,
    balance_reports_and_caches_the_budget,
);
