//! The rest of the API, end to end in both eras: video jobs, image variations, the user's
//! identity and one model's details.

use std::time::Duration;
use testkit::facts::ErrorCode;

use serde_json::json;
use testkit::session::{Era, Options, files, start, start_with};

async fn generate_video_completes_inline_and_is_fetched_once(era: Era) {
    let s = start(era).await;
    let out = s
        .ok(
            "generate_video",
            json!({"prompt": "A paper boat on a river", "seconds": "4"}),
        )
        .await;
    assert_eq!(out["status"], "completed");
    assert_eq!(out["model"], "sora-2");
    let video_id = out["video_id"].as_str().unwrap().to_string();
    let paths = files(&out);
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].extension().unwrap(), "mp4");
    assert_eq!(&std::fs::read(&paths[0]).unwrap()[4..8], b"ftyp");

    let again = s.ok("get_video", json!({"video_id": video_id})).await;
    assert_eq!(files(&again), paths, "the same file, not a second download");
    let content_requests = s
        .fake
        .stats()
        .requests
        .iter()
        .filter(|(k, _)| k.ends_with("/content"))
        .map(|(_, n)| *n)
        .sum::<u64>();
    assert_eq!(content_requests, 1);
}

async fn a_pending_video_is_not_an_error_and_can_be_collected(era: Era) {
    let s = start(era).await;
    let out = s
        .ok(
            "generate_video",
            json!({"prompt": "Slow clouds", "wait_seconds": 0}),
        )
        .await;
    assert_eq!(out["status"], "pending", "one vocabulary for agents");
    assert_eq!(
        out["upstream_status"], "queued",
        "the service's own word beside it"
    );
    assert_eq!(out["files"], json!([]));
    let video_id = out["video_id"].as_str().unwrap();
    let result = s.call("get_video", json!({"video_id": video_id})).await;
    assert!(
        testkit::session::text(&result).contains("get_video"),
        "tells the agent how to come back"
    );
    let done = s
        .ok(
            "get_video",
            json!({"video_id": video_id, "wait_seconds": "20"}),
        )
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(files(&done).len(), 1);
}

async fn remix_makes_a_new_video(era: Era) {
    let s = start(era).await;
    let first = s
        .ok("generate_video", json!({"prompt": "A red kite"}))
        .await;
    let remix = s
        .ok(
            "remix_video",
            json!({"video_id": first["video_id"], "prompt": "Make the kite blue"}),
        )
        .await;
    assert_eq!(remix["status"], "completed");
    assert_ne!(remix["video_id"], first["video_id"]);
    assert_ne!(files(&remix), files(&first));
}

async fn failed_and_unknown_videos_are_clear_errors(era: Era) {
    let s = start(era).await;
    let message = s
        .err("generate_video", json!({"prompt": "please fail now"}))
        .await;
    assert!(
        message.starts_with(&ErrorCode::UpstreamError.prefix()) && message.contains("failed"),
        "{message}"
    );
    let message = s.err("get_video", json!({"video_id": "video_nope"})).await;
    assert!(
        message.starts_with(&ErrorCode::UpstreamError.prefix())
            || message.starts_with(&ErrorCode::InvalidInput.prefix()),
        "{message}"
    );
    let message = s
        .err(
            "generate_video",
            json!({"prompt": "x", "wait_seconds": 600}),
        )
        .await;
    assert!(
        message.starts_with(&ErrorCode::InvalidInput.prefix()),
        "{message}"
    );
}

async fn cancelling_stops_polling_and_writes_nothing(era: Era) {
    let s = start(era).await;
    let call = s.call(
        "generate_video",
        json!({"prompt": "A long one", "wait_seconds": 30}),
    );
    // Dropping the call's future sends notifications/cancelled.
    assert!(
        tokio::time::timeout(Duration::from_millis(400), call)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let polls = |s: &testkit::session::Session| -> u64 {
        s.fake
            .stats()
            .requests
            .iter()
            .filter(|(k, _)| k.starts_with("GET /v1/videos/"))
            .map(|(_, n)| *n)
            .sum()
    };
    let before = polls(&s);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(polls(&s), before, "polling went on after cancellation");
    assert_eq!(
        std::fs::read_dir(s.out_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    s.ok("balance", json!({})).await;
}

async fn vary_image_saves_every_variation(era: Era) {
    let s = start(era).await;
    let source = s.write_png("source.png", 200, 150);
    let out = s
        .ok(
            "vary_image",
            json!({"image": source, "n": 2, "size": "256x256"}),
        )
        .await;
    let paths = files(&out);
    assert_eq!(paths.len(), 2);
    for path in &paths {
        assert_eq!(image::image_dimensions(path).unwrap(), (256, 256));
    }
}

async fn whoami_shows_the_user_or_the_missing_scope(era: Era) {
    let s = start(era).await;
    let me = s.ok("whoami", json!({})).await;
    assert_eq!(
        me,
        json!({"sub": "user_demo", "email": "demo@example.com", "name": "Demo User"})
    );

    let mut options = Options::new(era);
    options.token_scope = Some("api:access");
    let s = start_with(options).await;
    let message = s.err("whoami", json!({})).await;
    assert!(
        message.starts_with(&ErrorCode::AuthRequired.prefix()) && message.contains("profile:read"),
        "{message}"
    );
}

async fn list_models_shows_one_models_details(era: Era) {
    let s = start(era).await;
    let out = s
        .ok("list_models", json!({"id": "nano-banana-2-edit"}))
        .await;
    assert_eq!(
        out["models"],
        json!([{"id": "nano-banana-2-edit", "capability": "image_edit", "type": "image", "methods": ["image_edit"], "capabilities": ["image_input", "multi_image"]}])
    );
    assert_eq!(out["details"]["id"], "nano-banana-2-edit");
    assert_eq!(out["details"]["methods"], json!(["image_edit"]));
    let message = s.err("list_models", json!({"id": "no/such/model"})).await;
    assert!(
        message.starts_with(&ErrorCode::ModelNotFound.prefix()),
        "{message}"
    );
}

both_eras!(
    generate_video_completes_inline_and_is_fetched_once,
    a_pending_video_is_not_an_error_and_can_be_collected,
    remix_makes_a_new_video,
    failed_and_unknown_videos_are_clear_errors,
    cancelling_stops_polling_and_writes_nothing,
    vary_image_saves_every_variation,
    whoami_shows_the_user_or_the_missing_scope,
    list_models_shows_one_models_details,
);
