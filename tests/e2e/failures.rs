//! Failure paths through the real binary: every one is a clear `isError` result with a stable
//! code, and the server keeps serving afterwards.

use aipass_fake::{Fault, FaultKind};
use serde_json::json;
use testkit::facts::ErrorCode;
use testkit::session::{Era, Options, start, start_with};

async fn no_token_means_auth_required(era: Era) {
    let mut options = Options::new(era);
    options.token_scope = None;
    let s = start_with(options).await;
    let message = s.err("chat", json!({"prompt": "hi"})).await;
    assert!(
        message.starts_with(&ErrorCode::AuthRequired.prefix()),
        "{message}"
    );
    assert!(message.contains("AIPASS_ACCESS_TOKEN"), "{message}");
    // While it waited, progress messages carried the short sign-in link.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let messages = s.progress_messages();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("sign in") && m.contains("/start")),
        "{messages:?}"
    );
    let message = s.err("balance", json!({})).await;
    assert!(
        message.starts_with(&ErrorCode::AuthRequired.prefix()),
        "{message}"
    );
}

async fn an_expired_token_is_auth_required(era: Era) {
    let s = start(era).await;
    s.ok("balance", json!({})).await;
    s.fake.expire_all_tokens();
    let message = s.err("list_models", json!({})).await;
    assert!(
        message.starts_with(&ErrorCode::AuthRequired.prefix()),
        "{message}"
    );
    assert!(message.contains("401"), "{message}");
}

async fn bad_arguments_are_invalid_input(era: Era) {
    let s = start(era).await;
    let cases = [
        ("chat", json!({})),
        ("chat", json!({"prompt": "hi", "temperature": 7})),
        ("chat", json!({"prompt": "hi", "max_tokens": "lots"})),
        ("chat", json!({"prompt": "hi", "unknown_field": 1})),
        ("generate_image", json!({"prompt": "x", "n": 0})),
        ("generate_image", json!({"prompt": "x", "size": "huge"})),
        ("generate_image", json!({"prompt": "   "})),
        ("edit_image", json!({"prompt": "x", "images": []})),
        ("speak", json!({"text": "x", "format": "midi"})),
        ("embed", json!({"input": []})),
        ("list_models", json!({"capability": "telepathy"})),
        ("balance", json!({"refresh": "perhaps"})),
    ];
    for (tool, arguments) in cases {
        let message = s.err(tool, arguments.clone()).await;
        assert!(
            message.starts_with(&ErrorCode::InvalidInput.prefix()),
            "{tool} {arguments}: {message}"
        );
    }
    // Nothing reached the API for any of them.
    assert!(
        s.fake.stats().requests.keys().all(|k| k.contains("models")),
        "{:?}",
        s.fake.stats()
    );
}

async fn missing_and_wrong_files_are_invalid_input(era: Era) {
    let s = start(era).await;
    let missing = s.output.path().join("nope.png");
    let message = s
        .err("edit_image", json!({"prompt": "x", "images": [missing]}))
        .await;
    assert!(
        message.starts_with(&format!(
            "{}: file not found",
            ErrorCode::InvalidInput.as_str()
        )),
        "{message}"
    );
    let text_file = s.output.path().join("notes.txt");
    std::fs::write(&text_file, "not an image").unwrap();
    let message = s
        .err("chat", json!({"prompt": "x", "images": [text_file]}))
        .await;
    assert!(
        message.contains("not a JPEG, PNG, GIF or WebP"),
        "{message}"
    );
    let message = s.err("transcribe", json!({"file": text_file})).await;
    assert!(
        message.starts_with(&ErrorCode::InvalidInput.prefix()) && message.contains("audio"),
        "{message}"
    );
    let message = s
        .err(
            "chat",
            json!({"prompt": "x", "images": ["data:image/png;base64,@@@"]}),
        )
        .await;
    assert!(message.contains("base64"), "{message}");
    let message = s
        .err(
            "chat",
            json!({"prompt": "x", "images": ["ftp://example.com/a.png"]}),
        )
        .await;
    assert!(
        message.starts_with(&ErrorCode::InvalidInput.prefix()),
        "{message}"
    );
}

async fn unknown_model_points_to_list_models(era: Era) {
    let s = start(era).await;
    let message = s
        .err("chat", json!({"prompt": "hi", "model": "gpt-0-imaginary"}))
        .await;
    assert!(
        message.starts_with(&ErrorCode::ModelNotFound.prefix()),
        "{message}"
    );
    assert!(message.contains("list_models"), "{message}");
    let message = s
        .err("speak", json!({"text": "hi", "model": "gpt-5-mini"}))
        .await;
    assert!(
        message.starts_with(&ErrorCode::InvalidInput.prefix()),
        "wrong kind of model: {message}"
    );
}

/// The 5xx, 429, budget and broken-answer cases are in tests/e2e/faults.rs (the fault matrix).
async fn an_invalid_request_answer_is_invalid_input(era: Era) {
    let s = start(era).await;
    s.fake.inject_fault(fault("/v1/embeddings", FaultKind::Status {
        status: 400,
        retry_after: None,
        body: Some(json!({"error": {"message": "input too long for this model", "type": "invalid_request_error"}})),
    }));
    let message = s.err("embed", json!({"input": "x"})).await;
    assert!(
        message.starts_with(&ErrorCode::InvalidInput.prefix())
            && message.contains("input too long"),
        "{message}"
    );
    assert!(
        !message.contains("charged"),
        "a 4xx was not charged: {message}"
    );
    // The file opened while the request was out is gone again: no `.part`, no JSON.
    let left: Vec<_> = std::fs::read_dir(s.out_dir())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "a failed embed left {left:?}");
    // After that, everything still works.
    s.ok("embed", json!({"input": "x"})).await;
    assert_eq!(std::fs::read_dir(s.out_dir()).unwrap().count(), 1);
}

async fn unknown_tools_are_protocol_errors(era: Era) {
    let s = start(era).await;
    let error = s
        .try_call("teleport", json!({}))
        .await
        .expect_err("unknown tool");
    assert!(
        error.to_string().contains("teleport")
            || error.to_string().to_lowercase().contains("not found"),
        "{error}"
    );
    s.ok("list_models", json!({})).await;
}

fn fault(path: &str, kind: FaultKind) -> Fault {
    Fault {
        path: Some(path.into()),
        method: None,
        count: 1,
        kind,
    }
}

both_eras!(
    no_token_means_auth_required,
    an_expired_token_is_auth_required,
    bad_arguments_are_invalid_input,
    missing_and_wrong_files_are_invalid_input,
    unknown_model_points_to_list_models,
    an_invalid_request_answer_is_invalid_input,
    unknown_tools_are_protocol_errors,
);
