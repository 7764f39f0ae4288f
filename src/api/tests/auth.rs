//! Bearer auth: one refresh after a 401, no retry with a fixed token, forms rebuilt for the retry.

use super::*;

#[tokio::test]
async fn unauthorized_refreshes_once_and_retries() {
    let server = Server::start(vec![
        json_reply(
            401,
            json!({"error": "invalid_token", "error_description": "expired"}),
        ),
        json_reply(200, models()),
    ])
    .await;
    let tokens = RefreshingTokens::new("tok-old", Some("tok-new"));
    let client = client_for(&server, tokens.clone());
    let list = client.list_models(&[]).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer tok-old"));
    assert_eq!(reqs[1].header("authorization"), Some("Bearer tok-new"));
    assert_eq!(reqs[1].method, "GET");
    assert_eq!(reqs[1].target, "/v1/models");
    assert_eq!(
        reqs[1].header("x-aipass-oauth-client-id"),
        Some("client-123")
    );
    assert_eq!(
        reqs[1].header("user-agent"),
        Some(concat!("aipass-mcp/", env!("CARGO_PKG_VERSION")))
    );
}

#[tokio::test]
async fn second_unauthorized_is_auth_required() {
    let server = Server::start(vec![
        json_reply(401, json!({"error": {"message": "bad token tok-old"}})),
        json_reply(401, json!({"error": {"message": "bad token tok-new"}})),
    ])
    .await;
    let tokens = RefreshingTokens::new("tok-old", Some("tok-new"));
    let client = client_for(&server, tokens.clone());
    let err = client.chat(&chat_request()).await.unwrap_err();
    assert_eq!(err.code().as_str(), "auth_required");
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(server.requests().len(), 2);
    let text = format!("{err} {err:?}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(
        !text.contains("tok-new") && !text.contains("tok-old"),
        "{text}"
    );
}

#[tokio::test]
async fn static_token_rejected_is_auth_required_without_retry() {
    let server = Server::start(vec![json_reply(401, json!({"error": "invalid_token"}))]).await;
    let err = static_client(&server).userinfo().await.unwrap_err();
    assert!(matches!(err, ApiError::AuthRequired { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn missing_token_fails_before_any_request() {
    let server = Server::start(vec![]).await;
    let client = client_for(&server, Arc::new(StaticTokenProvider::new(None)));
    let err = client.list_models(&[]).await.unwrap_err();
    assert_eq!(err.code().as_str(), "auth_required");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn multipart_body_is_rebuilt_for_the_retry() {
    let server = Server::start(vec![
        json_reply(401, json!({"error": "invalid_token"})),
        json_reply(
            200,
            json!({"created": 1, "data": [{"url": "https://cdn.example/x.png"}]}),
        ),
    ])
    .await;
    let tokens = RefreshingTokens::new("tok-old", Some("tok-new"));
    let client = client_for(&server, tokens);
    let res = client
        .edit_images(ImageEditRequest {
            model: "fal-ai/nano-banana-2/edit".into(),
            prompt: "Swap hair".into(),
            images: vec![
                upload("target.jpg", "image/jpeg", b"FIRST-IMAGE"),
                upload("reference.jpg", "image/jpeg", b"SECOND-IMAGE"),
            ],
            size: None,
            n: None,
            response_format: Some("url".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        res.data[0].url.as_deref(),
        Some("https://cdn.example/x.png")
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.target, "/v1/images/edits");
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("multipart/form-data; boundary=")
        );
        let body = r.body_text();
        assert_eq!(body.matches("name=\"image\"").count(), 2, "{body}");
        assert!(body.contains("FIRST-IMAGE") && body.contains("SECOND-IMAGE"));
        assert!(body.contains("name=\"response_format\"\r\n\r\nurl"));
    }
}
