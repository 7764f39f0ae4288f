//! The broken answers of the fault kinds that replace a response outright: a status, a
//! redirect, malformed JSON, the wrong content type, an oversized body.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::closed_early::ClosedEarlyGuard;
use crate::faults::FaultKind;
use crate::state::AppState;

/// The canned response for the fault kinds that replace the answer outright.
pub(crate) fn canned_response(state: &AppState, kind: &FaultKind) -> Response {
    match kind {
        FaultKind::Status {
            status,
            retry_after,
            body,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = body.clone().unwrap_or_else(|| {
                json!({"error": {
                    "message": format!("Injected fault: HTTP {}", status.as_u16()),
                    "type": "server_error",
                }})
            });
            let mut response = (status, axum::Json(body)).into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            response
        }
        FaultKind::Redirect { status, location } => {
            let status = StatusCode::from_u16(*status)
                .ok()
                .filter(StatusCode::is_redirection)
                .unwrap_or(StatusCode::TEMPORARY_REDIRECT);
            let mut response = status.into_response();
            if let Ok(value) = HeaderValue::from_str(location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        FaultKind::MalformedJson => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"choices": ["#,
        )
            .into_response(),
        FaultKind::WrongContentType => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html>gateway</html>",
        )
            .into_response(),
        FaultKind::Oversized { bytes } => oversized(state, *bytes),
        // Delay, Reset and DropStream change how a real answer is delivered; the gate and the
        // chat handler deal with them.
        FaultKind::Delay { .. }
        | FaultKind::Reset
        | FaultKind::DropStream { .. }
        | FaultKind::StreamError { .. } => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `"xxxx…"`: valid JSON of exactly `total` bytes (at least 2), streamed so it is never all in memory.
fn oversized(state: &AppState, total: u64) -> Response {
    const CHUNK: u64 = 64 * 1024;
    let total = total.max(2);
    let mut guard = ClosedEarlyGuard::new(state.clone());
    let stream = async_stream::stream! {
        let mut sent = 0u64;
        while sent < total {
            let len = CHUNK.min(total - sent);
            let mut chunk = vec![b'x'; len as usize];
            if sent == 0 {
                chunk[0] = b'"';
            }
            if sent + len == total {
                chunk[len as usize - 1] = b'"';
                guard.finish();
            }
            sent += len;
            yield Ok::<Bytes, std::io::Error>(Bytes::from(chunk));
        }
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    response
}
