//! Errors of the AI Pass client: one variant per thing an agent can act on, with the API's own words.

use serde_json::Value;

/// How long an API message may get inside our error text; error pages can be huge.
const MAX_MESSAGE_CHARS: usize = 300;

const CHARGED_NOTE: &str =
    "The request may have been charged, so it was not retried automatically.";

/// Everything the AI Pass client can fail with. Messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{}", auth_text(message, sign_in_url.as_deref()))]
    AuthRequired {
        message: String,
        sign_in_url: Option<String>,
    },
    #[error("{message}")]
    BudgetExceeded { message: String },
    #[error("{}", rate_text(message, *retry_after_seconds))]
    RateLimited {
        message: String,
        retry_after_seconds: Option<u64>,
    },
    #[error("{message}")]
    InvalidInput { message: String },
    #[error("{message}")]
    ModelNotFound { message: String },
    #[error("{}", charged_text(&format!("AI Pass returned HTTP {status}: {message}"), *maybe_charged))]
    Upstream {
        status: u16,
        message: String,
        maybe_charged: bool,
    },
    #[error("{}", charged_text("AI Pass did not answer in time.", *maybe_charged))]
    Timeout { maybe_charged: bool },
    #[error("{}", charged_text(&format!("Could not reach AI Pass: {message}"), *maybe_charged))]
    Network {
        message: String,
        maybe_charged: bool,
    },
    #[error("{}", charged_text(&format!("AI Pass sent a response that could not be used: {message}"), *maybe_charged))]
    InvalidResponse {
        message: String,
        /// A paid request got a 200 whose body was unusable: the work may have been done.
        maybe_charged: bool,
    },
}

impl ApiError {
    /// Stable code for tool results: auth_required, budget_exceeded, rate_limited, invalid_input,
    /// model_not_found, upstream_error (Upstream, Network, InvalidResponse), timeout.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::AuthRequired { .. } => "auth_required",
            ApiError::BudgetExceeded { .. } => "budget_exceeded",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::InvalidInput { .. } => "invalid_input",
            ApiError::ModelNotFound { .. } => "model_not_found",
            ApiError::Upstream { .. }
            | ApiError::Network { .. }
            | ApiError::InvalidResponse { .. } => "upstream_error",
            ApiError::Timeout { .. } => "timeout",
        }
    }

    /// True when the failed request may have reached the API and cost money.
    pub fn maybe_charged(&self) -> bool {
        match self {
            ApiError::Upstream { maybe_charged, .. }
            | ApiError::Timeout { maybe_charged }
            | ApiError::Network { maybe_charged, .. }
            | ApiError::InvalidResponse { maybe_charged, .. } => *maybe_charged,
            _ => false,
        }
    }

    /// Replaces every occurrence of `secret` in the messages, in case the API echoed a token.
    pub(crate) fn redact(mut self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let message = match &mut self {
            ApiError::AuthRequired { message, .. }
            | ApiError::BudgetExceeded { message }
            | ApiError::RateLimited { message, .. }
            | ApiError::InvalidInput { message }
            | ApiError::ModelNotFound { message }
            | ApiError::Upstream { message, .. }
            | ApiError::Network { message, .. }
            | ApiError::InvalidResponse { message, .. } => message,
            ApiError::Timeout { .. } => return self,
        };
        if message.contains(secret) {
            *message = message.replace(secret, "***");
        }
        self
    }
}

fn auth_text(message: &str, sign_in_url: Option<&str>) -> String {
    match sign_in_url {
        Some(url) => format!("{message} Sign in at: {url}"),
        None => message.to_string(),
    }
}

fn rate_text(message: &str, retry_after: Option<u64>) -> String {
    match retry_after {
        Some(s) if s > 0 => format!("{message} Retry after {s} seconds."),
        _ => format!("{message} Retry a little later."),
    }
}

fn charged_text(base: &str, maybe_charged: bool) -> String {
    if !maybe_charged {
        return base.to_string();
    }
    // The API's message may lack a full stop; the note is a sentence of its own.
    let stop = if base.ends_with(['.', '!', '?', '…']) {
        ""
    } else {
        "."
    };
    format!("{base}{stop} {CHARGED_NOTE}")
}

/// What an error body said, in whichever of the API's shapes it came.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ErrorBody {
    pub message: Option<String>,
    pub kind: Option<String>,
    pub code: Option<String>,
}

/// Replaces every occurrence of each secret with `***`.
pub(crate) fn redact_text(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |text, secret| text.replace(secret, "***"))
}

/// [`parse_error_body`] after taking `secrets` out of the raw body: redacting first means a
/// secret that straddles the message's length cut cannot leave a piece behind.
pub(crate) fn parse_error_body_redacted(
    body: &[u8],
    content_type: Option<&str>,
    secrets: &[&str],
) -> ErrorBody {
    if secrets.iter().all(|s| s.is_empty()) {
        return parse_error_body(body, content_type);
    }
    let text = redact_text(&String::from_utf8_lossy(body), secrets);
    parse_error_body(text.as_bytes(), content_type)
}

/// Reads `{"error":{"message","type","code"}}`, `{"error":"x","error_description":"y"}`,
/// `{"message":"…"}` or a short text body.
pub(crate) fn parse_error_body(body: &[u8], content_type: Option<&str>) -> ErrorBody {
    if let Ok(value) = serde_json::from_slice::<Value>(body)
        && let Some(parsed) = error_from_json(&value)
    {
        return parsed;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return ErrorBody::default();
    }
    let is_html = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("html"))
        || text.starts_with('<');
    let message = if is_html {
        // An HTML error page (proxy, CDN) would flood the agent; its title says enough.
        match html_title(text) {
            Some(title) => format!("an HTML error page titled '{}'", truncate(&title)),
            None => "an HTML error page (not shown)".to_string(),
        }
    } else {
        truncate(text)
    };
    ErrorBody {
        message: Some(message),
        ..ErrorBody::default()
    }
}

/// The text of an HTML page's `<title>`, if it has a short one.
fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let close = open_end + lower[open_end..].find("</title")?;
    let title = html.get(open_end..close)?.trim();
    (!title.is_empty() && title.len() <= 200 && !title.contains('<')).then(|| title.to_string())
}

/// FastAPI's `detail`: a string, or a list of `{"loc","msg","type"}` objects.
fn detail_text(detail: &Value) -> Option<String> {
    match detail {
        Value::Array(items) => {
            let messages: Vec<String> = items
                .iter()
                .filter_map(|item| {
                    let msg = item.get("msg").and_then(scalar_text)?;
                    let at = item
                        .get("loc")
                        .and_then(Value::as_array)
                        .map(|loc| {
                            loc.iter()
                                .filter_map(scalar_text)
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .filter(|l| !l.is_empty());
                    Some(match at {
                        Some(at) => format!("{at}: {msg}"),
                        None => msg,
                    })
                })
                .collect();
            (!messages.is_empty()).then(|| messages.join("; "))
        }
        Value::Object(obj) => obj
            .get("message")
            .or_else(|| obj.get("msg"))
            .and_then(scalar_text),
        other => scalar_text(other),
    }
}

/// Extracts the error of a JSON body, or None when the JSON has no recognisable error.
pub(crate) fn error_from_json(value: &Value) -> Option<ErrorBody> {
    let obj = value.as_object()?;
    match obj.get("error") {
        Some(Value::Object(err)) => Some(ErrorBody {
            message: err
                .get("message")
                .and_then(scalar_text)
                .map(|m| truncate(&m)),
            kind: err.get("type").and_then(scalar_text),
            code: err.get("code").and_then(scalar_text),
        }),
        Some(Value::String(code)) => {
            let description = obj.get("error_description").and_then(scalar_text);
            let message = match &description {
                Some(d) => format!("{code}: {d}"),
                None => code.clone(),
            };
            Some(ErrorBody {
                message: Some(truncate(&message)),
                kind: None,
                code: Some(code.clone()),
            })
        }
        _ => {
            let message = obj
                .get("message")
                .and_then(scalar_text)
                .or_else(|| obj.get("detail").and_then(detail_text))?;
            Some(ErrorBody {
                message: Some(truncate(&message)),
                kind: obj.get("type").and_then(scalar_text),
                code: obj.get("code").and_then(scalar_text),
            })
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Collapses whitespace and cuts to about [`MAX_MESSAGE_CHARS`] characters.
pub(crate) fn truncate(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_MESSAGE_CHARS {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(MAX_MESSAGE_CHARS).collect();
    cut.push('…');
    cut
}

/// True when the API's type/code says the budget or quota is used up.
fn mentions_budget(body: &ErrorBody) -> bool {
    [&body.kind, &body.code].into_iter().flatten().any(|s| {
        let s = s.to_ascii_lowercase();
        s.contains("budget") || s.contains("insufficient_quota") || s.contains("insufficient_funds")
    })
}

/// A 429 whose message blames the budget or quota: waiting would not help.
fn message_mentions_budget(body: &ErrorBody) -> bool {
    body.message.as_deref().is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("budget") || m.contains("quota exceeded") || m.contains("insufficient quota")
    })
}

fn mentions_model_not_found(body: &ErrorBody) -> bool {
    if body.code.as_deref() == Some("model_not_found") {
        return true;
    }
    body.message.as_deref().is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        // The live proxy (LiteLLM): "Invalid model name passed in model=…".
        m.contains("invalid model name")
            || (m.contains("model") && (m.contains("not found") || m.contains("does not exist")))
    })
}

fn detail(status: u16, body: &ErrorBody) -> String {
    match &body.message {
        Some(m) => format!("HTTP {status}: {m}"),
        None => format!("HTTP {status}, no error message"),
    }
}

/// Maps a non-success HTTP answer to an error. `maybe_charged` says whether a 5xx could have
/// cost money (a paid POST).
#[cfg(test)]
pub(crate) fn from_status(
    status: u16,
    retry_after_seconds: Option<u64>,
    body: &[u8],
    content_type: Option<&str>,
    maybe_charged: bool,
) -> ApiError {
    let parsed = parse_error_body(body, content_type);
    from_parts(status, retry_after_seconds, &parsed, maybe_charged)
}

pub(crate) fn from_parts(
    status: u16,
    retry_after_seconds: Option<u64>,
    body: &ErrorBody,
    maybe_charged: bool,
) -> ApiError {
    let detail = detail(status, body);
    if status == 402 || mentions_budget(body) || (status == 429 && message_mentions_budget(body)) {
        return ApiError::BudgetExceeded {
            message: format!(
                "The AI Pass budget does not cover this request ({detail}). Add funds to the AI Pass account or choose a cheaper model."
            ),
        };
    }
    match status {
        401 => ApiError::AuthRequired {
            message: format!(
                "AI Pass rejected the access token ({detail}). Sign in again (`aipass-mcp login`) or set a valid AIPASS_ACCESS_TOKEN."
            ),
            sign_in_url: None,
        },
        429 => ApiError::RateLimited {
            message: format!("AI Pass is rate limiting requests ({detail})."),
            retry_after_seconds,
        },
        404 if mentions_model_not_found(body) => model_not_found(&detail),
        400 | 422 if mentions_model_not_found(body) => model_not_found(&detail),
        400 | 413 | 415 | 422 => ApiError::InvalidInput {
            message: format!("AI Pass rejected the request as invalid ({detail})."),
        },
        _ => ApiError::Upstream {
            status,
            message: body
                .message
                .clone()
                .unwrap_or_else(|| "no error message".to_string()),
            maybe_charged: maybe_charged && status >= 500,
        },
    }
}

/// Maps an error object that arrived inside a successful answer (a stream event, or a 200 body
/// such as `{"success":false,…}`): budget and rate limits keep their meaning; anything else is
/// an upstream failure.
pub(crate) fn embedded_error(value: &Value, maybe_charged: bool) -> ApiError {
    let body = error_from_json(value).unwrap_or_default();
    let status = value
        .get("error")
        .and_then(|e| e.get("status").or_else(|| e.get("code")))
        // LiteLLM sends the status as a string code (`"429"`).
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (400..600).contains(s) && *s != 401);
    if let Some(s) = status {
        return from_parts(s, None, &body, maybe_charged);
    }
    match from_parts(500, None, &body, maybe_charged) {
        ApiError::Upstream { .. } => ApiError::Upstream {
            status: 200,
            message: format!(
                "the answer reported an error: {}",
                body.message.as_deref().unwrap_or("no error message")
            ),
            maybe_charged,
        },
        other => other,
    }
}

fn model_not_found(detail: &str) -> ApiError {
    ApiError::ModelNotFound {
        message: format!(
            "AI Pass does not offer this model ({detail}). Use list_models to see the model ids available now."
        ),
    }
}

/// Parses a `Retry-After` header: seconds (`"7"`, `"1.5"` rounds up) or an HTTP date, which
/// becomes the seconds left until then (0 when it has passed).
pub(crate) fn parse_retry_after(value: &str) -> Option<u64> {
    retry_after_at(value, chrono::Utc::now())
}

fn retry_after_at(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
    let v = value.trim();
    if let Ok(seconds) = v.parse::<u64>() {
        return Some(seconds);
    }
    if let Ok(seconds) = v.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| seconds.ceil() as u64);
    }
    // The IMF-fixdate form (`Wed, 21 Oct 2015 07:28:00 GMT`) is valid RFC 2822.
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let millis = (at.with_timezone(&chrono::Utc) - now)
        .num_milliseconds()
        .max(0);
    Some((millis as u64).div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

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
                map(*status, body).code(),
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
        assert_eq!(e.code(), "budget_exceeded");
        let e = map(
            429,
            r#"{"error":{"message":"Too many requests per minute"}}"#,
        );
        assert_eq!(e.code(), "rate_limited");
    }

    #[test]
    fn other_codes() {
        assert_eq!(
            ApiError::Timeout {
                maybe_charged: false
            }
            .code(),
            "timeout"
        );
        let n = ApiError::Network {
            message: "reset".into(),
            maybe_charged: true,
        };
        assert_eq!(n.code(), "upstream_error");
        assert!(n.to_string().contains("may have been charged"));
        let invalid = ApiError::InvalidResponse {
            message: "x".into(),
            maybe_charged: false,
        };
        assert_eq!(invalid.code(), "upstream_error");
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
        assert_eq!(err.code(), "model_not_found");
        // A string status code inside a stream's error object keeps its meaning.
        let err = embedded_error(
            &serde_json::json!({"error": {"message": "slow down", "code": "429"}}),
            true,
        );
        assert_eq!(err.code(), "rate_limited");
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
        let e = map(400, r#"{"error":{"message":"token sk-secret-123 is odd"}}"#)
            .redact("sk-secret-123");
        let s = e.to_string();
        assert!(!s.contains("sk-secret-123") && s.contains("***"), "{s}");
        assert!(!format!("{e:?}").contains("sk-secret-123"));
    }
}
