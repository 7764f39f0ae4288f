//! The serde types: unset request fields left out, answers read tolerantly.

use super::*;

#[test]
fn chat_request_skips_unset_fields_and_tags_parts() {
    let req = ChatRequest {
        model: "gpt-5-mini".into(),
        messages: vec![ChatMessage {
            role: "user".into(),
            content: MessageContent::Parts(vec![
                ContentPart::Text {
                    text: "What?".into(),
                },
                ContentPart::ImageUrl {
                    image_url: ImageUrl {
                        url: "data:image/png;base64,AA".into(),
                    },
                },
            ]),
        }],
        max_tokens: None,
        temperature: None,
    };
    let wire = ChatWire {
        request: &req,
        stream: true,
        stream_options: Some(StreamOptions {
            include_usage: true,
        }),
    };
    assert_eq!(
        serde_json::to_value(&wire).unwrap(),
        json!({
            "model": "gpt-5-mini",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
            ]}],
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
    let text = ChatMessage {
        role: "system".into(),
        content: MessageContent::Text("Be brief.".into()),
    };
    assert_eq!(
        serde_json::to_value(&text).unwrap(),
        json!({"role": "system", "content": "Be brief."})
    );
}

#[test]
fn chat_completion_is_read_tolerantly() {
    let wire: ChatCompletionWire = serde_json::from_value(json!({
        "id": "x", "object": "chat.completion", "model": "gpt-5-mini-2025",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4, "prompt_tokens_details": {}}
    }))
    .unwrap();
    let r = wire.into_result("gpt-5-mini");
    assert_eq!(r.text, "Hi");
    assert_eq!(r.model, "gpt-5-mini-2025");
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.usage.unwrap().total_tokens, 4);
    assert!(r.complete);

    let parts: ChatCompletionWire = serde_json::from_value(json!({
        "choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}],
        "usage": {"prompt_tokens": null}
    }))
    .unwrap();
    let r = parts.into_result("m");
    assert_eq!((r.text.as_str(), r.model.as_str()), ("ab", "m"));
    assert_eq!(r.usage, Some(Usage::default()));
}

#[test]
fn models_parse_with_extras() {
    let list: ModelList = serde_json::from_value(json!({"object": "list", "data": [
        {"id": "fal-ai/nano-banana-2/edit", "object": "model", "owned_by": "fal", "created": 1700000000},
        {"id": "gpt-5-mini", "created": "soon"}
    ]}))
    .unwrap();
    let models = list.into_models();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].extra.get("object"), Some(&json!("model")));
    assert_eq!(models[0].created, Some(1_700_000_000));
    assert_eq!(models[1].created, None);
    let bare: ModelList = serde_json::from_value(json!([{"id": "a"}])).unwrap();
    assert_eq!(bare.into_models()[0].id, "a");
    let ids: ModelList = serde_json::from_value(json!(["a", "b"])).unwrap();
    let ids = ids.into_models();
    assert_eq!((ids[1].id.as_str(), ids[1].has_metadata()), ("b", false));
    let wrapped_ids: ModelList =
        serde_json::from_value(json!({"object": "list", "data": ["x"]})).unwrap();
    assert_eq!(wrapped_ids.into_models()[0].id, "x");
}

#[test]
fn model_metadata_is_read_leniently() {
    let list: ModelList = serde_json::from_value(json!({"object": "list", "data": [
        {"id": "nano-banana-2-edit", "type": "image", "methods": ["image_edit"], "capabilities": ["multi_image"]},
        {"id": "odd", "type": 3, "methods": "embeddings", "capabilities": null, "extra": true},
        {"id": "lite", "mode": "audio_speech"}
    ]}))
    .unwrap();
    let models = list.into_models();
    assert_eq!(models[0].model_type.as_deref(), Some("image"));
    assert_eq!(models[0].methods, ["image_edit"]);
    assert_eq!(models[0].capabilities, ["multi_image"]);
    assert_eq!(models[1].model_type, None);
    assert_eq!(models[1].methods, ["embeddings"]);
    assert!(models[1].capabilities.is_empty());
    assert_eq!(models[1].extra.get("extra"), Some(&json!(true)));
    assert_eq!(models[2].mode.as_deref(), Some("audio_speech"));
    assert!(models.iter().all(Model::has_metadata));
}

#[test]
fn usage_summary_reads_camel_and_writes_snake() {
    let env: UsageEnvelope = serde_json::from_value(json!({
        "success": true,
        "data": {"totalCost": 2.45, "maxBudget": "10.00", "remainingBudget": 7.55}
    }))
    .unwrap();
    let s = env.data.unwrap();
    assert_eq!(s.max_budget, Some(10.0));
    let unlimited: UsageEnvelope = serde_json::from_value(json!({
        "success": true,
        "data": {"totalCost": 2.5, "maxBudget": null, "remainingBudget": null}
    }))
    .unwrap();
    let u = unlimited.data.unwrap();
    assert_eq!(
        (u.total_cost, u.max_budget, u.remaining_budget),
        (2.5, None, None)
    );
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"total_cost": 2.45, "max_budget": 10.0, "remaining_budget": 7.55})
    );
}

#[test]
fn images_and_video_parse() {
    let body = json!({
        "created": 1, "data": [{"url": "https://x/y.png"}, {"b64_json": "AAAA", "revised_prompt": "p"}]
    });
    let r = ImagesResponse::from_body(body.to_string().into_bytes()).unwrap();
    assert_eq!(r.data.len(), 2);
    assert_eq!(r.data[0].url.as_deref(), Some("https://x/y.png"));
    assert!(matches!(r.data[1].b64_json, Some(Base64Text::InBody(_))));
    let images = r.into_images().unwrap();
    assert!(matches!(&images[1], ImageSource::Decoded(b) if b[..] == [0, 0, 0]));
    let v: VideoJob = serde_json::from_value(json!({
        "id": "video_1", "status": "in_progress", "progress": 40, "seconds": "4"
    }))
    .unwrap();
    assert_eq!(v.progress, Some(40.0));
    assert_eq!(v.extra.get("seconds"), Some(&json!("4")));
    let dev: VideoJob = serde_json::from_value(json!({
        "videoId": "vid_2", "progress": "50", "seconds": 4, "downloadUrl": "https://cdn/x.mp4"
    }))
    .unwrap();
    assert_eq!((dev.id.as_str(), dev.status.as_str()), ("vid_2", ""));
    assert_eq!(dev.download_url.as_deref(), Some("https://cdn/x.mp4"));
    assert_eq!(dev.progress, Some(50.0));
    for (word, state) in [
        ("queued", VideoState::Pending),
        ("in_progress", VideoState::Pending),
        ("processing", VideoState::Pending),
        ("", VideoState::Pending),
        ("completed", VideoState::Completed),
        ("SUCCEEDED", VideoState::Completed),
        ("failed", VideoState::Failed),
        ("cancelled", VideoState::Failed),
        ("expired", VideoState::Failed),
    ] {
        assert_eq!(VideoState::of(word), state, "{word}");
    }
}

#[test]
fn request_options_are_skipped() {
    let r = ImageGenerationRequest {
        model: "m".into(),
        prompt: "p".into(),
        size: None,
        n: Some(2),
        response_format: None,
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"model": "m", "prompt": "p", "n": 2})
    );
    let e = EmbeddingRequest {
        model: "text-embedding-3-small".into(),
        input: EmbeddingInput::Many(vec!["a".into(), "b".into()]),
    };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"model": "text-embedding-3-small", "input": ["a", "b"]})
    );
}

#[test]
fn upload_debug_hides_bytes() {
    let u = Upload {
        bytes: vec![1; 10].into(),
        file_name: "a.png".into(),
        mime_type: "image/png".into(),
    };
    assert_eq!(
        format!("{u:?}"),
        r#"Upload { file_name: "a.png", mime_type: "image/png", bytes: 10 }"#
    );
}
