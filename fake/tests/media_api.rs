//! The seed-era `/oauth2/v1` media API against the fake: image generation (shape by
//! provider), edits and variations, speech and transcription, the video lifecycle.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

fn image_size(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).unwrap();
    (image.width(), image.height())
}

#[tokio::test(flavor = "multi_thread")]
async fn image_generation_shape_depends_on_provider() {
    let (fake, http, token) = signed_in().await;
    let path = "/oauth2/v1/images/generations";
    let generate = |model: &str, format: Option<&str>| {
        let mut body =
            json!({"model": model, "prompt": "A futuristic city", "size": "96x64", "n": 2});
        if let Some(format) = format {
            body["response_format"] = json!(format);
        }
        body
    };

    // openai/* honours response_format: URL by default …
    let (status, body) = post(
        &fake,
        &http,
        &token,
        path,
        generate("openai/gpt-image-2", None),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = body["data"][0]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/_fake/files/", fake.base_url())));
    assert!(body["data"][0].get("b64_json").is_none());
    let png = http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(image_size(&png), (96, 64));
    let other = http
        .get(body["data"][1]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_ne!(png, other, "two images of one request differ");
    // … and base64 on request.
    let (_, body) = post(
        &fake,
        &http,
        &token,
        path,
        generate("openai/gpt-image-2", Some("b64_json")),
    )
    .await;
    let png = STANDARD
        .decode(body["data"][0]["b64_json"].as_str().unwrap())
        .unwrap();
    assert_eq!(image_size(&png), (96, 64));
    // imagen4 is always base64, fal-ai always URLs.
    let (_, body) = post(
        &fake,
        &http,
        &token,
        path,
        generate("imagen4/preview/ultra", Some("url")),
    )
    .await;
    assert!(body["data"][0]["b64_json"].is_string() && body["data"][0].get("url").is_none());
    let (_, body) = post(
        &fake,
        &http,
        &token,
        path,
        generate("fal-ai/flux/dev", Some("b64_json")),
    )
    .await;
    assert!(body["data"][0]["url"].is_string() && body["data"][0].get("b64_json").is_none());

    for bad in [
        json!({"model": "fal-ai/flux/dev", "prompt": "x", "size": "10x10"}),
        json!({"model": "fal-ai/flux/dev", "prompt": "x", "n": 11}),
        json!({"model": "fal-ai/flux/dev", "prompt": "x", "response_format": "jpeg"}),
        json!({"model": "fal-ai/flux/dev"}),
        json!({"model": "fal-ai/nano-banana-2/edit", "prompt": "x"}),
    ] {
        assert_eq!(
            post(&fake, &http, &token, path, bad.clone()).await.0,
            400,
            "{bad}"
        );
    }
    let summary = &fake.requests()[0].summary;
    assert_eq!(summary["n"], 2);
    assert_eq!(summary["size"], "96x64");
    // Files need no token.
    assert_eq!(
        http.get(format!("{}/_fake/files/nope.png", fake.base_url()))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

async fn send_form(
    fake: &aipass_fake::FakeServer,
    token: &str,
    path: &str,
    form: Form,
) -> (u16, Value) {
    let response = http()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn image_edits_with_several_images() {
    let (fake, _, token) = signed_in().await;
    let path = "/oauth2/v1/images/edits";
    let (first, second) = (png(80, 60), jpeg(40, 40));
    let form = Form::new()
        .part("image", Part::bytes(first.clone()).file_name("target.png"))
        .part(
            "image",
            Part::bytes(second.clone()).file_name("reference.jpg"),
        )
        .text("prompt", "Apply the hairstyle from the second image")
        .text("model", "openai/gpt-image-2/edit")
        .text("response_format", "b64_json");
    let (status, body) = send_form(&fake, &token, path, form).await;
    assert_eq!(status, 200, "{body}");
    let out = STANDARD
        .decode(body["data"][0]["b64_json"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        image_size(&out),
        (80, 60),
        "defaults to the first input's size"
    );
    let summary = &fake.requests()[0].summary;
    assert_eq!(summary["image_count"], 2);
    assert_eq!(summary["image_types"], json!(["png", "jpeg"]));
    assert_eq!(summary["image_bytes"], json!([first.len(), second.len()]));

    // fal-ai/*: URL, with an explicit size.
    let form = Form::new()
        .part("image", Part::bytes(first.clone()).file_name("a.png"))
        .text("prompt", "Make it blue")
        .text("model", "fal-ai/nano-banana-2/edit")
        .text("size", "128x64");
    let (status, body) = send_form(&fake, &token, path, form).await;
    assert_eq!(status, 200);
    let png = http()
        .get(body["data"][0]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(image_size(&png), (128, 64));

    // A part that is not an image is named in the error.
    let form = Form::new()
        .part("image", Part::bytes(first.clone()).file_name("a.png"))
        .part(
            "image",
            Part::bytes(b"hello, I am text".to_vec()).file_name("notes.txt"),
        )
        .text("prompt", "x")
        .text("model", "fal-ai/nano-banana-2/edit");
    let (status, body) = send_form(&fake, &token, path, form).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("image 2") && message.contains("notes.txt"),
        "{message}"
    );

    // Generation model, no image, no prompt: all 400.
    for form in [
        Form::new()
            .part("image", Part::bytes(first.clone()))
            .text("prompt", "x")
            .text("model", "fal-ai/flux/dev"),
        Form::new()
            .text("prompt", "x")
            .text("model", "fal-ai/nano-banana-2/edit"),
        Form::new()
            .part("image", Part::bytes(first.clone()))
            .text("model", "fal-ai/nano-banana-2/edit"),
    ] {
        assert_eq!(send_form(&fake, &token, path, form).await.0, 400);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn image_variations() {
    let (fake, _, token) = signed_in().await;
    let form = Form::new()
        .part("image", Part::bytes(png(70, 50)).file_name("a.png"))
        .text("n", "2")
        .text("response_format", "b64_json");
    let (status, body) = send_form(&fake, &token, "/oauth2/v1/images/variations", form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let out = STANDARD
        .decode(body["data"][1]["b64_json"].as_str().unwrap())
        .unwrap();
    assert_eq!(image_size(&out), (70, 50));
}

async fn speak(
    fake: &aipass_fake::FakeServer,
    token: &str,
    text: &str,
    format: &str,
) -> (String, Vec<u8>) {
    let response = http()
        .post(format!("{}/oauth2/v1/audio/speech", fake.base_url()))
        .bearer_auth(token)
        .json(&json!({"model": "tts-1", "input": text, "voice": "nova", "response_format": format}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    (content_type, response.bytes().await.unwrap().to_vec())
}

async fn transcribe(
    fake: &aipass_fake::FakeServer,
    token: &str,
    audio: Vec<u8>,
    name: &str,
) -> (u16, Value) {
    let form = Form::new()
        .part("file", Part::bytes(audio).file_name(name.to_string()))
        .text("model", "whisper-1")
        .text("language", "en");
    send_form(fake, token, "/oauth2/v1/audio/transcriptions", form).await
}

#[tokio::test(flavor = "multi_thread")]
async fn speech_round_trips_through_transcription() {
    let (fake, _, token) = signed_in().await;
    let text = "Hello world, this is the fake speaking";

    let (content_type, mp3) = speak(&fake, &token, text, "mp3").await;
    assert_eq!(content_type, "audio/mpeg");
    assert!(mp3.starts_with(b"ID3\x03"));
    assert!(mp3.windows(2).any(|w| w == [0xFF, 0xFB]));
    let (status, body) = transcribe(&fake, &token, mp3, "speech.mp3").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"text": text}));

    let (content_type, wav) = speak(&fake, &token, text, "wav").await;
    assert_eq!(content_type, "audio/wav");
    assert!(wav.starts_with(b"RIFF") && &wav[8..12] == b"WAVE");
    let (_, body) = transcribe(&fake, &token, wav, "speech.wav").await;
    assert_eq!(body["text"], text);
    let summary = fake.requests().last().unwrap().summary.clone();
    assert_eq!(summary["type"], "wav");
    assert_eq!(summary["language"], "en");

    let (content_type, flac) = speak(&fake, &token, text, "flac").await;
    assert_eq!(content_type, "audio/flac");
    assert_eq!(
        transcribe(&fake, &token, flac, "x.flac").await.1["text"],
        text
    );

    // Real-looking audio without the marker gets a placeholder; non-audio is refused.
    let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3];
    webm.extend([0u8; 96]);
    let (_, body) = transcribe(&fake, &token, webm, "a.webm").await;
    assert_eq!(body["text"], "(fake transcript of 100 bytes of webm audio)");
    let (status, body) = transcribe(&fake, &token, b"plain text".to_vec(), "a.txt").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unsupported audio format")
    );

    let path = "/oauth2/v1/audio/speech";
    let http = http();
    for bad in [
        json!({"model": "tts-1", "input": "x", "voice": "robot"}),
        json!({"model": "tts-1", "input": "x", "voice": "nova", "response_format": "ogg"}),
        json!({"model": "whisper-1", "input": "x", "voice": "nova"}),
        json!({"model": "tts-1", "voice": "nova"}),
    ] {
        assert_eq!(
            post(&fake, &http, &token, path, bad.clone()).await.0,
            400,
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn video_lifecycle() {
    let (fake, http, token) = signed_in().await;
    let (status, job) = post(
        &fake,
        &http,
        &token,
        "/oauth2/v1/videos",
        json!({
            "model": "sora-2", "prompt": "A cat on a skateboard", "seconds": 8, "size": "1280x720",
        }),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(
        (job["status"].as_str(), job["progress"].as_u64()),
        (Some("queued"), Some(0))
    );
    assert_eq!(job["seconds"], "8");
    let id = job["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("video_"));
    let content = format!("/oauth2/v1/videos/{id}/content");
    assert_eq!(get(&fake, &http, &token, &content).await.0, 404);

    let mut seen = Vec::new();
    for _ in 0..3 {
        let (_, job) = get(&fake, &http, &token, &format!("/oauth2/v1/videos/{id}")).await;
        seen.push((
            job["status"].as_str().unwrap().to_string(),
            job["progress"].as_u64().unwrap(),
        ));
        if job["status"] == "completed" {
            assert!(job["completed_at"].is_u64());
        }
    }
    assert_eq!(
        seen,
        [
            ("in_progress".into(), 33),
            ("in_progress".into(), 66),
            ("completed".into(), 100)
        ]
    );
    let response = http
        .get(format!("{}{content}", fake.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let mp4 = response.bytes().await.unwrap();
    assert_eq!(&mp4[4..12], b"ftypisom");

    let (status, remix) = post(
        &fake,
        &http,
        &token,
        &format!("/oauth2/v1/videos/{id}/remix"),
        json!({"prompt": "Now a dog"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(remix["status"], "queued");
    assert_eq!(remix["remixed_from_video_id"], id.as_str());

    let (_, failing) = post(
        &fake,
        &http,
        &token,
        "/oauth2/v1/videos",
        json!({"model": "sora-2", "prompt": "please fail now"}),
    )
    .await;
    let failing_id = failing["id"].as_str().unwrap();
    let mut last = Value::Null;
    for _ in 0..3 {
        last = get(
            &fake,
            &http,
            &token,
            &format!("/oauth2/v1/videos/{failing_id}"),
        )
        .await
        .1;
    }
    assert_eq!(last["status"], "failed");
    assert_eq!(last["error"]["code"], "generation_failed");
    assert_eq!(
        get(&fake, &http, &token, "/oauth2/v1/videos/video_nope")
            .await
            .0,
        404
    );
    assert_eq!(
        post(
            &fake,
            &http,
            &token,
            "/oauth2/v1/videos",
            json!({"model": "sora-2", "prompt": "x", "seconds": "5"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        post(
            &fake,
            &http,
            &token,
            "/oauth2/v1/videos",
            json!({"model": "gpt-4o", "prompt": "x"})
        )
        .await
        .0,
        400
    );
}
