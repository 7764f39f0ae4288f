//! `POST /chat/completions`: validates messages and images, answers a deterministic echo, plain or
//! as Server-Sent Events.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::clock::unix_now;
use crate::closed_early::ClosedEarlyGuard;
use crate::error::{ApiError, ApiResult};
use crate::faults::FaultKind;
use crate::input::{JsonBody, wrong_type};
use crate::media::{ImageInfo, decode_data_uri};
use crate::models::{self, Kind};
use crate::state::AppState;
use crate::tokens::random_id;

const COST: f64 = 0.002;
const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
/// Characters of reply text per SSE chunk.
const CHUNK_CHARS: usize = 12;

/// What the request's messages boil down to.
#[derive(Default)]
struct Conversation {
    last_user_text: Option<String>,
    words: usize,
    images: Vec<String>,
    image_bytes: Vec<usize>,
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

fn read_messages(messages: &Value) -> Result<Conversation, ApiError> {
    let Value::Array(messages) = messages else {
        return Err(wrong_type("messages", "an array"));
    };
    if messages.is_empty() {
        return Err(ApiError::invalid("'messages' must not be empty"));
    }
    let mut conversation = Conversation::default();
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        let role = match role {
            Some(role @ ("system" | "user" | "assistant")) => role,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "messages[{i}].role '{other}' is not one of system, user, assistant"
                )));
            }
            None => return Err(ApiError::missing(&format!("messages[{i}].role"))),
        };
        let text = match message.get("content") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => read_parts(i, parts, &mut conversation)?,
            Some(_) => {
                return Err(wrong_type(
                    &format!("messages[{i}].content"),
                    "a string or an array of content parts",
                ));
            }
            None => return Err(ApiError::missing(&format!("messages[{i}].content"))),
        };
        conversation.words += word_count(&text);
        if role == "user" {
            conversation.last_user_text = Some(text);
        }
    }
    Ok(conversation)
}

/// Text parts are joined with spaces; image parts are checked and described.
fn read_parts(
    i: usize,
    parts: &[Value],
    conversation: &mut Conversation,
) -> Result<String, ApiError> {
    let mut texts = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let at = format!("messages[{i}].content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("text") => match part.get("text") {
                Some(Value::String(text)) => texts.push(text.as_str()),
                _ => return Err(ApiError::missing(&format!("{at}.text"))),
            },
            Some("image_url") => {
                let url = part
                    .get("image_url")
                    .and_then(|u| u.get("url"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::missing(&format!("{at}.image_url.url")))?;
                read_image(&at, url, conversation)?;
            }
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "{at}.type '{other}' is not one of text, image_url"
                )));
            }
            None => return Err(ApiError::missing(&format!("{at}.type"))),
        }
    }
    Ok(texts.join(" "))
}

fn read_image(at: &str, url: &str, conversation: &mut Conversation) -> Result<(), ApiError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        // The real service fetches it; the fake stays offline and only notes it.
        conversation.images.push("url".into());
        conversation.image_bytes.push(0);
        return Ok(());
    }
    if !url.starts_with("data:") {
        return Err(ApiError::invalid(format!(
            "{at}.image_url.url must be a data: URI or an http(s) URL"
        )));
    }
    let (mime, bytes) =
        decode_data_uri(url).map_err(|e| ApiError::invalid(format!("{at}: {e}")))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::invalid(format!(
            "{at}: image is {} bytes, over the 20 MB limit",
            bytes.len()
        )));
    }
    let info = ImageInfo::inspect(&bytes, &format!("{at} image"))?;
    // A declared type that disagrees with the bytes is rejected upstream (Anthropic does).
    let declared = mime
        .strip_prefix("image/")
        .map(|t| if t == "jpg" { "jpeg" } else { t });
    if declared != Some(info.kind.name()) {
        return Err(ApiError::invalid(format!(
            "{at}: the data URI says '{mime}' but the data is {}",
            info.kind.name()
        )));
    }
    conversation.images.push(info.describe());
    conversation.image_bytes.push(info.bytes);
    Ok(())
}

pub(crate) async fn completions(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = JsonBody::parse(&headers, &body)?.only(&[
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "stream",
        "stream_options",
        "presence_penalty",
        "frequency_penalty",
        "user",
        "seed",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
    ])?;
    let model = body.required_str("model")?.to_string();
    let stream = body.optional_bool("stream")?.unwrap_or(false);
    let max_tokens = match body.optional_u64("max_tokens")? {
        Some(n) => Some(n),
        None => body.optional_u64("max_completion_tokens")?,
    };
    let summary = |conversation: &Conversation| {
        json!({
            "model": model,
            "stream": stream,
            "messages": body.get("messages").and_then(Value::as_array).map(Vec::len),
            "image_parts": conversation.images.len(),
            "image_bytes": conversation.image_bytes,
            "max_tokens": max_tokens,
        })
    };
    caller.summarize(summary(&Conversation::default()));
    models::check(&state, &model, Kind::Chat)?;
    let messages = body
        .get("messages")
        .ok_or_else(|| ApiError::missing("messages"))?;
    let conversation = read_messages(messages)?;
    caller.summarize(summary(&conversation));
    if max_tokens == Some(0) {
        return Err(ApiError::invalid("'max_tokens' must be at least 1"));
    }
    if let Some(t) = body.optional_f64("temperature")?
        && !(0.0..=2.0).contains(&t)
    {
        return Err(ApiError::invalid("'temperature' must be between 0 and 2"));
    }
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(user_text) = &conversation.last_user_text else {
        return Err(ApiError::invalid("'messages' must contain a user message"));
    };

    let mut reply = format!("Echo from {model}: {user_text}");
    if !conversation.images.is_empty() {
        reply.push_str(&format!(
            " [saw {} image(s): {}]",
            conversation.images.len(),
            conversation.images.join(", ")
        ));
    }
    let mut finish_reason = "stop";
    if let Some(limit) = max_tokens
        && word_count(&reply) as u64 > limit
    {
        reply = reply
            .split_whitespace()
            .take(limit as usize)
            .collect::<Vec<_>>()
            .join(" ");
        finish_reason = "length";
    }
    let usage = json!({
        "prompt_tokens": conversation.words,
        "completion_tokens": word_count(&reply),
        "total_tokens": conversation.words + word_count(&reply),
    });

    let charge = state.reserve(COST)?;
    let id = format!("chatcmpl-{}", random_id(18));
    let created = unix_now();
    let response = if stream {
        let head = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        });
        let usage = include_usage.then_some(usage);
        stream_reply(&state, uri.path(), head, &reply, finish_reason, usage)
    } else {
        axum::Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": finish_reason,
            }],
            "usage": usage,
        }))
        .into_response()
    };
    charge.commit();
    Ok(response)
}

/// `chunk` fields merged over the shared head (`id`, `object`, `created`, `model`) as an SSE event.
fn event(head: &Value, fields: Value) -> Bytes {
    let mut chunk = head.clone();
    if let (Value::Object(chunk), Value::Object(fields)) = (&mut chunk, fields) {
        chunk.extend(fields);
    }
    Bytes::from(format!("data: {chunk}\n\n"))
}

fn stream_reply(
    state: &AppState,
    path: &str,
    head: Value,
    reply: &str,
    finish_reason: &str,
    usage: Option<Value>,
) -> Response {
    let chars: Vec<char> = reply.chars().collect();
    let mut events: Vec<Bytes> = chars
        .chunks(CHUNK_CHARS)
        .enumerate()
        .map(|(i, piece)| {
            let text: String = piece.iter().collect();
            let delta = if i == 0 {
                json!({"role": "assistant", "content": text})
            } else {
                json!({"content": text})
            };
            event(
                &head,
                json!({"choices": [{"index": 0, "delta": delta, "finish_reason": null}]}),
            )
        })
        .collect();
    events.push(event(
        &head,
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]}),
    ));
    if let Some(usage) = usage {
        events.push(event(&head, json!({"choices": [], "usage": usage})));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));

    let fault = state.take_fault(Method::POST.as_str(), path, |k| {
        matches!(
            k,
            FaultKind::DropStream { .. } | FaultKind::StreamError { .. }
        )
    });
    let drop_after = match fault {
        Some(FaultKind::DropStream { after_chunks }) => Some(after_chunks as usize),
        Some(FaultKind::StreamError {
            after_chunks,
            event,
            data,
        }) => {
            // The proxy's way: the error as an event of its own, then `[DONE]`.
            let at = (after_chunks as usize).min(events.len());
            events.truncate(at);
            let line = match event {
                Some(name) => format!("event: {name}\ndata: {data}\n\n"),
                None => format!("data: {data}\n\n"),
            };
            events.push(Bytes::from(line));
            events.push(Bytes::from_static(b"data: [DONE]\n\n"));
            None
        }
        _ => None,
    };
    let delay: Duration = *state.stream_delay.lock().unwrap();
    let mut guard = ClosedEarlyGuard::new(state.clone());
    let total = events.len();
    let body = async_stream::stream! {
        for (i, event) in events.into_iter().enumerate() {
            if drop_after == Some(i) {
                // Server-side cut: not the client's doing, so not "closed early". The pause lets
                // hyper flush the head and the chunks so far; the client sees them, then the cut.
                guard.finish();
                tokio::time::sleep(Duration::from_millis(20)).await;
                yield Err(std::io::Error::other("injected fault: stream dropped"));
                return;
            }
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if i + 1 == total {
                guard.finish();
            }
            yield Ok::<Bytes, std::io::Error>(event);
        }
    };
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
