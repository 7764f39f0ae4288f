//! Request and answer bodies: documented shapes, content types, size caps, endpoint paths.

use super::*;

#[tokio::test]
async fn chat_sends_the_documented_body() {
    let server = Server::start(vec![json_reply(200, completion())]).await;
    let r = static_client(&server).chat(&chat_request()).await.unwrap();
    assert_eq!(r.text, "Hello!");
    assert_eq!(r.usage.unwrap().total_tokens, 5);
    assert!(r.complete);
    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/v1/chat/completions");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 50, "stream": false})
    );
}

#[tokio::test]
async fn html_instead_of_json_is_invalid_response() {
    let server = Server::start(vec![reply(200, "text/html", "<html>login</html>", &[])]).await;
    let err = static_client(&server).list_models(&[]).await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("expected JSON") && text.contains("text/html"),
        "{text}"
    );
}

#[tokio::test]
async fn malformed_json_names_the_endpoint() {
    let server = Server::start(vec![reply(200, "application/json", "{\"data\": [", &[])]).await;
    let err = static_client(&server).list_models(&[]).await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }));
    assert!(err.to_string().contains("GET /v1/models"), "{err}");
}

#[tokio::test]
async fn an_unusable_answer_to_a_paid_post_may_have_been_charged() {
    let server = Server::start(vec![
        reply(200, "application/json", "{\"data\": [", &[]),
        reply(200, "application/json", "{\"data\": [", &[]),
    ])
    .await;
    let client = static_client(&server);
    let err = client.chat(&chat_request()).await.unwrap_err();
    assert!(err.maybe_charged(), "{err:?}");
    assert!(err.to_string().contains("may have been charged"), "{err}");
    // The same answer to a free GET says nothing about charges.
    let err = client.list_models(&[]).await.unwrap_err();
    assert!(!err.maybe_charged(), "{err:?}");
    assert_eq!(server.requests().len(), 2, "neither was retried");
}

#[tokio::test]
async fn bodies_over_the_cap_fail() {
    let big = "x".repeat(1000);
    let server = Server::start(vec![
        reply(200, "audio/mpeg", &big, &[]),
        chunked_then_drop("audio/mpeg", &[&big]),
    ])
    .await;
    let mut settings = ApiSettings::new(server.base.clone());
    settings.max_response_bytes = 100;
    let client = ApiClient::new(
        settings,
        Arc::new(StaticTokenProvider::new(Some("t".into()))),
    );
    let speech = SpeechRequest {
        model: "tts-1".into(),
        input: "hi".into(),
        voice: "nova".into(),
        response_format: None,
    };
    // Content-Length says too much: refused up front.
    let err = client.speech(&speech).await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("1000 bytes"), "{err}");
    // No Content-Length: cut while streaming.
    let err = client.speech(&speech).await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn speech_returns_bytes_and_rejects_json() {
    let server = Server::start(vec![
        reply(200, "audio/mpeg", "ID3-AUDIO", &[]),
        json_reply(200, json!({"error": {"message": "voice unknown"}})),
    ])
    .await;
    let client = static_client(&server);
    let req = SpeechRequest {
        model: "tts-1".into(),
        input: "Hello world".into(),
        voice: "nova".into(),
        response_format: Some("mp3".into()),
    };
    let audio = client.speech(&req).await.unwrap();
    assert_eq!(audio.bytes, b"ID3-AUDIO");
    assert_eq!(audio.content_type.as_deref(), Some("audio/mpeg"));
    assert_eq!(
        server.requests()[0].json(),
        json!({"model": "tts-1", "input": "Hello world", "voice": "nova", "response_format": "mp3"})
    );
    let err = client.speech(&req).await.unwrap_err();
    assert!(err.to_string().contains("voice unknown"), "{err}");
}

#[tokio::test]
async fn budget_error_maps() {
    let server = Server::start(vec![json_reply(
        402,
        json!({"error": {"message": "Budget exceeded", "type": "budget_exceeded"}}),
    )])
    .await;
    let err = static_client(&server)
        .generate_images(&ImageGenerationRequest {
            model: "imagen4/preview/ultra".into(),
            prompt: "city".into(),
            size: None,
            n: None,
            response_format: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "budget_exceeded");
    assert!(err.to_string().contains("HTTP 402"));
}

#[tokio::test]
async fn usage_summary_is_unwrapped() {
    let server = Server::start(vec![
        json_reply(
            200,
            json!({"success": true, "data": {"totalCost": 2.45, "maxBudget": 10.0, "remainingBudget": 7.55}}),
        ),
        json_reply(200, json!({"success": false, "message": "no budget set"})),
    ])
    .await;
    let client = static_client(&server);
    let s = client.usage_summary().await.unwrap();
    assert_eq!(s.remaining_budget, Some(7.55));
    assert_eq!(server.requests()[0].target, "/api/v1/usage/me/summary");
    let err = client.usage_summary().await.unwrap_err();
    assert!(err.to_string().contains("no budget set"), "{err}");
}

#[tokio::test]
async fn model_ids_keep_their_slashes() {
    let server = Server::start(vec![
        json_reply(200, json!({"id": "fal-ai/nano banana/edit"})),
        json_reply(
            404,
            json!({"error": {"message": "Model not found", "code": "model_not_found"}}),
        ),
    ])
    .await;
    let client = static_client(&server);
    let m = client.get_model("fal-ai/nano banana/edit").await.unwrap();
    assert_eq!(m.id, "fal-ai/nano banana/edit");
    assert_eq!(
        server.requests()[0].target,
        "/v1/models/fal-ai/nano%20banana/edit"
    );
    let err = client.get_model("gpt-9").await.unwrap_err();
    assert_eq!(err.code().as_str(), "model_not_found");
}

#[tokio::test]
async fn video_endpoints_use_their_paths() {
    let job = json!({"id": "video_1", "status": "queued", "progress": 0});
    let server = Server::start(vec![
        json_reply(200, job.clone()),
        json_reply(
            200,
            json!({"id": "video_1", "status": "completed", "progress": 100}),
        ),
        reply(200, "video/mp4", "MP4DATA", &[]),
        json_reply(200, job),
    ])
    .await;
    let client = static_client(&server);
    let created = client
        .create_video(&VideoRequest {
            model: "sora-2".into(),
            prompt: "waves".into(),
            seconds: Some("4".into()),
            size: None,
        })
        .await
        .unwrap();
    assert_eq!(created.status, "queued");
    assert_eq!(
        client.get_video("video_1").await.unwrap().progress,
        Some(100.0)
    );
    assert_eq!(
        client.video_content("video_1").await.unwrap().bytes,
        b"MP4DATA"
    );
    client.remix_video("video_1", "at night").await.unwrap();
    let targets: Vec<_> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        targets,
        [
            "POST /v1/videos",
            "GET /v1/videos/video_1",
            "GET /v1/videos/video_1/content",
            "POST /v1/videos/video_1/remix"
        ]
    );
    assert_eq!(server.requests()[3].json(), json!({"prompt": "at night"}));
}

#[tokio::test]
async fn transcription_and_embeddings() {
    let server = Server::start(vec![
        json_reply(200, json!({"text": "hello there", "language": "en"})),
        json_reply(
            200,
            json!({"object": "list", "model": "text-embedding-3-small", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}], "usage": {"prompt_tokens": 2}}),
        ),
    ])
    .await;
    let client = static_client(&server);
    let t = client
        .transcribe(TranscriptionRequest {
            model: "whisper-1".into(),
            file: upload("a.mp3", "audio/mpeg", b"ID3"),
            language: Some("en".into()),
        })
        .await
        .unwrap();
    assert_eq!(t.text, "hello there");
    let body = server.requests()[0].body_text();
    assert!(body.contains("name=\"file\"; filename=\"a.mp3\""));
    let e = client
        .embeddings(&EmbeddingRequest {
            model: "text-embedding-3-small".into(),
            input: EmbeddingInput::One("hi".into()),
        })
        .await
        .unwrap();
    // Kept as sent, and counted.
    assert_eq!(e.data[0].embedding.json(), "[0.1,-0.2]");
    assert_eq!(e.data[0].embedding.len(), 2);
}
