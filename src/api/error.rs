//! Errors of the AI Pass client: one variant per thing an agent can act on, with the API's own words.

use serde_json::Value;

use crate::error::{ErrorCode, ToolError};

/// How long an API message may get inside our error text; error pages can be huge.
pub(crate) const MAX_MESSAGE_CHARS: usize = 300;

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
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::AuthRequired { .. } => ErrorCode::AuthRequired,
            ApiError::BudgetExceeded { .. } => ErrorCode::BudgetExceeded,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::InvalidInput { .. } => ErrorCode::InvalidInput,
            ApiError::ModelNotFound { .. } => ErrorCode::ModelNotFound,
            ApiError::Upstream { .. }
            | ApiError::Network { .. }
            | ApiError::InvalidResponse { .. } => ErrorCode::UpstreamError,
            ApiError::Timeout { .. } => ErrorCode::Timeout,
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

pub(crate) fn retry_after_at(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
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

impl From<ApiError> for ToolError {
    fn from(error: ApiError) -> Self {
        // The API error's text already points to list_models where a model was not found.
        ToolError::new(error.code(), error.to_string())
    }
}
