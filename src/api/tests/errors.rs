//! Error mapping: HTTP statuses and bodies to the variants and codes agents act on, message
//! truncation, `Retry-After`.

use crate::api::error::*;

fn map(status: u16, body: &str) -> ApiError {
    from_status(
        status,
        None,
        body.as_bytes(),
        Some("application/json"),
        true,
    )
}

#[test]
fn openai_shape_is_read() {
    let b = parse_error_body(
        br#"{"error":{"message":"bad size","type":"invalid_request_error","code":"bad_size"}}"#,
        None,
    );
    assert_eq!(b.message.as_deref(), Some("bad size"));
    assert_eq!(b.kind.as_deref(), Some("invalid_request_error"));
    assert_eq!(b.code.as_deref(), Some("bad_size"));
}

#[test]
fn oauth_shape_is_read() {
    let b = parse_error_body(
        br#"{"error":"invalid_token","error_description":"expired"}"#,
        None,
    );
    assert_eq!(b.message.as_deref(), Some("invalid_token: expired"));
    assert_eq!(b.code.as_deref(), Some("invalid_token"));
}

#[test]
fn message_shape_and_text_are_read() {
    let b = parse_error_body(br#"{"success":false,"message":"nope"}"#, None);
    assert_eq!(b.message.as_deref(), Some("nope"));
    let t = parse_error_body(b"  plain\n words  ", Some("text/plain"));
    assert_eq!(t.message.as_deref(), Some("plain words"));
    let h = parse_error_body(b"<html><body>502</body></html>", Some("text/html"));
    assert_eq!(h.message.as_deref(), Some("an HTML error page (not shown)"));
    assert_eq!(parse_error_body(b"", None), ErrorBody::default());
}

#[test]
fn long_messages_are_truncated() {
    let long = "x".repeat(5000);
    let b = parse_error_body(long.as_bytes(), Some("text/plain"));
    let m = b.message.unwrap();
    assert!(m.chars().count() <= MAX_MESSAGE_CHARS + 1);
    assert!(m.ends_with('…'));
}

#[test]
fn statuses_map_to_variants_and_codes() {
    let cases: &[(u16, &str, &str)] = &[
        (
            402,
            r#"{"error":{"message":"Budget exceeded"}}"#,
            "budget_exceeded",
        ),
        (
            429,
            r#"{"error":{"message":"quota","code":"insufficient_quota"}}"#,
            "budget_exceeded",
        ),
        (
            400,
            r#"{"error":{"message":"over","type":"budget_exceeded"}}"#,
            "budget_exceeded",
        ),
        (429, r#"{"error":{"message":"slow down"}}"#, "rate_limited"),
        (
            400,
            r#"{"error":{"message":"prompt missing"}}"#,
            "invalid_input",
        ),
        (413, "too big", "invalid_input"),
        (415, "", "invalid_input"),
        (422, r#"{"message":"bad"}"#, "invalid_input"),
        (
            404,
            r#"{"error":{"message":"x","code":"model_not_found"}}"#,
            "model_not_found",
        ),
        (
            404,
            r#"{"error":{"message":"Model gpt-9 not found"}}"#,
            "model_not_found",
        ),
        (
            404,
            r#"{"error":{"message":"no such video"}}"#,
            "upstream_error",
        ),
        (401, r#"{"error":"invalid_token"}"#, "auth_required"),
        (
            403,
            r#"{"error":{"message":"forbidden"}}"#,
            "upstream_error",
        ),
        (500, "boom", "upstream_error"),
    ];
    for (status, body, code) in cases {
        assert_eq!(
            map(*status, body).code().as_str(),
            *code,
            "status {status} body {body}"
        );
    }
}

#[test]
fn display_names_status_and_api_message() {
    let e = map(400, r#"{"error":{"message":"size must be 1024x1024"}}"#);
    let s = e.to_string();
    assert!(
        s.contains("HTTP 400") && s.contains("size must be 1024x1024"),
        "{s}"
    );

    let e = map(503, r#"{"error":{"message":"overloaded"}}"#);
    assert!(matches!(
        e,
        ApiError::Upstream {
            status: 503,
            maybe_charged: true,
            ..
        }
    ));
    let s = e.to_string();
    assert!(s.contains("HTTP 503") && s.contains("overloaded"), "{s}");
    assert!(s.contains("may have been charged, so it was not retried automatically"));
    // The note is its own sentence, whether or not the API's message ended with a stop.
    assert!(s.contains("overloaded. The request may"), "{s}");
    let s = map(500, r#"{"error":{"message":"Down."}}"#).to_string();
    assert!(s.contains("Down. The request may"), "{s}");

    // A 4xx never carries the charged note.
    let e = map(409, "conflict");
    assert!(!e.maybe_charged());
    assert!(!e.to_string().contains("charged"));
}

#[test]
fn rate_limit_keeps_retry_after() {
    let e = from_status(429, Some(7), b"{}", None, true);
    match &e {
        ApiError::RateLimited {
            retry_after_seconds,
            ..
        } => assert_eq!(*retry_after_seconds, Some(7)),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("Retry after 7 seconds"));
    assert_eq!(parse_retry_after(" 12 "), Some(12));
    assert_eq!(parse_retry_after("1.5"), Some(2));
    assert_eq!(parse_retry_after("soon"), None);
    assert_eq!(parse_retry_after("-3"), None);
}

#[test]
fn retry_after_http_dates_count_from_now() {
    let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(
        retry_after_at("Wed, 21 Oct 2015 07:28:05 GMT", now),
        Some(5)
    );
    // A date in the past means "now".
    assert_eq!(
        retry_after_at("Wed, 21 Oct 2015 07:27:00 GMT", now),
        Some(0)
    );
    assert_eq!(retry_after_at("Wed, 21 Oct 2015", now), None);
}

#[test]
fn a_budget_flavoured_429_is_budget_exceeded() {
    let e = map(
        429,
        r#"{"error":{"message":"Monthly budget exceeded for this key"}}"#,
    );
    assert_eq!(e.code().as_str(), "budget_exceeded");
    let e = map(
        429,
        r#"{"error":{"message":"Too many requests per minute"}}"#,
    );
    assert_eq!(e.code().as_str(), "rate_limited");
}

#[test]
fn other_codes() {
    assert_eq!(
        ApiError::Timeout {
            maybe_charged: false
        }
        .code()
        .as_str(),
        "timeout"
    );
    let n = ApiError::Network {
        message: "reset".into(),
        maybe_charged: true,
    };
    assert_eq!(n.code().as_str(), "upstream_error");
    assert!(n.to_string().contains("may have been charged"));
    let invalid = ApiError::InvalidResponse {
        message: "x".into(),
        maybe_charged: false,
    };
    assert_eq!(invalid.code().as_str(), "upstream_error");
    assert!(!invalid.to_string().contains("charged"));
    let paid = ApiError::InvalidResponse {
        message: "x".into(),
        maybe_charged: true,
    };
    assert!(paid.maybe_charged());
    assert!(paid.to_string().contains("may have been charged"));
    let a = ApiError::AuthRequired {
        message: "Sign in needed.".into(),
        sign_in_url: Some("https://aipass.one/oauth2/authorize?x=1".into()),
    };
    assert!(
        a.to_string()
            .contains("https://aipass.one/oauth2/authorize?x=1")
    );
}

#[test]
fn live_error_shapes_read_well() {
    let read = |body: &str, ct: Option<&str>| parse_error_body(body.as_bytes(), ct).message;
    assert_eq!(
        read(r#"{"success":false,"message":"Budget exhausted"}"#, None).as_deref(),
        Some("Budget exhausted")
    );
    assert_eq!(
        read(r#"{"detail":"Not Found"}"#, None).as_deref(),
        Some("Not Found")
    );
    assert_eq!(
        read(
            r#"{"detail":[{"loc":["body","model"],"msg":"field required","type":"missing"}]}"#,
            None
        )
        .as_deref(),
        Some("body.model: field required")
    );
    assert_eq!(
        read(
            "<html><head><title>502 Bad Gateway</title></head><body>…</body></html>",
            Some("text/html")
        )
        .as_deref(),
        Some("an HTML error page titled '502 Bad Gateway'")
    );
    assert_eq!(
        read("<html><body>no title</body></html>", None).as_deref(),
        Some("an HTML error page (not shown)")
    );
    assert_eq!(
        read("upstream timed out", Some("text/plain")).as_deref(),
        Some("upstream timed out")
    );
    // The proxy's words for an unknown model, with a 400.
    let err = map(
        400,
        r#"{"error":{"message":"Invalid model name passed in model=gpt-9. Call `/v1/models`","type":"invalid_request_error","param":"model","code":"400"}}"#,
    );
    assert_eq!(err.code().as_str(), "model_not_found");
    // A string status code inside a stream's error object keeps its meaning.
    let err = embedded_error(
        &serde_json::json!({"error": {"message": "slow down", "code": "429"}}),
        true,
    );
    assert_eq!(err.code().as_str(), "rate_limited");
}

#[test]
fn secrets_are_redacted_before_the_message_is_cut() {
    // A token that straddles the length cut: cutting first would leave its first half.
    let token = "aipass_at_0123456789abcdefghijklmnopqrstuvwxyz";
    let message = format!(
        "{}{token} and more text after it",
        "x".repeat(MAX_MESSAGE_CHARS - 20)
    );
    let body = serde_json::json!({"error": {"message": message}}).to_string();
    let parsed = parse_error_body_redacted(body.as_bytes(), None, &[token]);
    let text = parsed.message.unwrap();
    assert!(!text.contains(&token[..12]), "{text}");
    assert!(text.contains("***"), "{text}");
    // Cutting first (the old order) leaves a piece that redaction can no longer find.
    let cut_first = parse_error_body(body.as_bytes(), None).message.unwrap();
    assert!(cut_first.contains(&token[..12]) && !cut_first.contains(token));
}

#[test]
fn redact_removes_secrets() {
    let e =
        map(400, r#"{"error":{"message":"token sk-secret-123 is odd"}}"#).redact("sk-secret-123");
    let s = e.to_string();
    assert!(!s.contains("sk-secret-123") && s.contains("***"), "{s}");
    assert!(!format!("{e:?}").contains("sk-secret-123"));
}
