//! Retries: GETs after 5xx and broken connections, never a paid POST after an ambiguous failure, 429 waits.

use super::*;

#[tokio::test]
async fn post_500_is_not_retried_and_may_be_charged() {
    let server = Server::start(vec![json_reply(
        500,
        json!({"error": {"message": "provider exploded"}}),
    )])
    .await;
    let err = static_client(&server)
        .chat(&chat_request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Upstream {
                status: 500,
                maybe_charged: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
    let text = err.to_string();
    assert!(text.contains("HTTP 500") && text.contains("provider exploded"));
    assert!(text.contains("may have been charged, so it was not retried automatically"));
}

#[tokio::test]
async fn get_5xx_is_retried_with_backoff() {
    let server = Server::start(vec![
        reply(503, "text/plain", "busy", &[]),
        reply(502, "text/html", "<html>bad gateway</html>", &[]),
        json_reply(200, models()),
    ])
    .await;
    let list = static_client(&server).list_models(&[]).await.unwrap();
    assert_eq!(list[0].id, "gpt-5-mini");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn get_5xx_gives_up_after_two_retries() {
    let server = Server::start(vec![
        reply(503, "text/plain", "busy", &[]),
        reply(503, "text/plain", "busy", &[]),
        reply(503, "text/plain", "still busy", &[]),
    ])
    .await;
    let err = static_client(&server).list_models(&[]).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Upstream {
                status: 503,
                maybe_charged: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("still busy"));
    assert_eq!(server.requests().len(), 3);
}

fn rate_limited(retry_after: Option<&str>) -> Reply {
    let extra: Vec<(&str, &str)> = retry_after
        .map(|v| ("Retry-After", v))
        .into_iter()
        .collect();
    reply(
        429,
        "application/json",
        r#"{"error":{"message":"Too many requests"}}"#,
        &extra,
    )
}

fn client_with_max_wait(server: &Server, max_retry_wait: Duration) -> ApiClient {
    let mut settings = ApiSettings::new(server.base.clone());
    settings.max_retry_wait = max_retry_wait;
    ApiClient::new(
        settings,
        Arc::new(StaticTokenProvider::new(Some("t".into()))),
    )
}

#[tokio::test]
async fn rate_limited_post_waits_and_is_retried() {
    // A 429 was not processed, so even a paid POST may be sent again.
    let server = Server::start(vec![rate_limited(Some("0")), json_reply(200, completion())]).await;
    let r = static_client(&server).chat(&chat_request()).await.unwrap();
    assert_eq!(r.text, "Hello!");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn rate_limit_gives_up_after_two_retries() {
    let server = Server::start(vec![
        rate_limited(Some("0")),
        rate_limited(Some("0")),
        rate_limited(Some("0")),
    ])
    .await;
    let err = static_client(&server).list_models(&[]).await.unwrap_err();
    match &err {
        ApiError::RateLimited {
            retry_after_seconds,
            message,
        } => {
            assert_eq!(*retry_after_seconds, Some(0));
            assert!(message.contains("Too many requests"), "{message}");
            assert!(message.contains("retried 2 times"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_retry_after_over_the_limit_fails_at_once() {
    let server = Server::start(vec![rate_limited(Some("7"))]).await;
    let err = client_with_max_wait(&server, Duration::from_secs(5))
        .chat(&chat_request())
        .await
        .unwrap_err();
    match &err {
        ApiError::RateLimited {
            retry_after_seconds,
            message,
        } => {
            assert_eq!(*retry_after_seconds, Some(7));
            assert!(
                message.contains("wait 7 s") && message.contains("AIPASS_MAX_RETRY_WAIT (5 s)"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("charged"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_zero_max_wait_never_waits() {
    let server = Server::start(vec![rate_limited(None)]).await;
    let err = client_with_max_wait(&server, Duration::ZERO)
        .list_models(&[])
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "rate_limited");
    assert!(err.to_string().contains("Retry a little later"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn dropped_post_is_not_retried() {
    let server = Server::start(vec![Reply::Hangup, json_reply(200, completion())]).await;
    let err = static_client(&server)
        .chat(&chat_request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Network {
                maybe_charged: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn dropped_get_is_retried() {
    let server = Server::start(vec![Reply::Hangup, json_reply(200, models())]).await;
    assert_eq!(
        static_client(&server).list_models(&[]).await.unwrap().len(),
        2
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn refused_connection_is_not_charged() {
    // Bind and release a port so nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let settings = ApiSettings::new(Url::parse(&format!("http://127.0.0.1:{port}")).unwrap());
    let client = ApiClient::new(
        settings,
        Arc::new(StaticTokenProvider::new(Some("t".into()))),
    );
    let err = client.chat(&chat_request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Network {
                maybe_charged: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("charged"));
}
