//! The middleware every request passes: applies injected faults, counts API calls, records
//! requests and logs one line (method, path, status; never tokens, codes or query strings).

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::caller::SummarySlot;
use crate::closed_early::ClosedEarlyGuard;
use crate::fault_responses::canned_response;
use crate::faults::FaultKind;
use crate::server::ConnKill;
use crate::state::AppState;
use crate::types::RecordedRequest;

/// OAuth-flow endpoints have their own counters in `Stats`; everything else not under `/_fake`
/// is an API call.
const OAUTH_FLOW: [&str; 4] = [
    "/oauth2/authorize",
    "/oauth2/token",
    "/oauth2/revoke",
    "/.well-known/oauth-authorization-server",
];

pub(crate) async fn gate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    if path.starts_with("/_fake/") {
        let response = next.run(request).await;
        log(&state, &method, &path, response.status().as_u16());
        return response;
    }

    if !OAUTH_FLOW.contains(&path.as_str()) {
        let mut stats = state.stats.lock().unwrap();
        *stats
            .requests
            .entry(format!("{method} {path}"))
            .or_default() += 1;
    }
    let client_id_header = request
        .headers()
        .get("x-aipass-oauth-client-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let record = |summary: Value, status: u16| {
        state.record(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            client_id_header: client_id_header.clone(),
            summary,
            status,
        });
        log(&state, &method, &path, status);
    };

    // DropStream is left for the chat handler: only a streaming answer can be dropped mid-way.
    let fault = state.take_fault(&method, &path, |kind| {
        !matches!(
            kind,
            FaultKind::DropStream { .. } | FaultKind::StreamError { .. }
        )
    });
    match &fault {
        None => {}
        Some(FaultKind::Delay { ms }) => {
            let mut guard = ClosedEarlyGuard::new(state.clone());
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            guard.finish();
        }
        Some(FaultKind::Reset) => {
            record(json!({"fault": "reset"}), 0);
            let Some(kill) = request.extensions().get::<ConnKill>().cloned() else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            kill.reset();
            // The connection task drops this future together with the socket.
            return std::future::pending().await;
        }
        Some(kind) => {
            let response = canned_response(&state, kind);
            record(json!({"fault": kind.name()}), response.status().as_u16());
            return response;
        }
    }

    let slot = SummarySlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let mut summary = slot.take();
    if let Some(kind) = &fault {
        // A delayed request: note the fault beside whatever the handler recorded.
        match &mut summary {
            Value::Object(map) => {
                map.insert("fault".into(), json!(kind.name()));
            }
            other => *other = json!({"fault": kind.name()}),
        }
    }
    record(summary, response.status().as_u16());
    response
}

fn log(state: &AppState, method: &str, path: &str, status: u16) {
    if state.log_requests.load(Ordering::Relaxed) {
        let status = if status == 0 {
            "reset".to_string()
        } else {
            status.to_string()
        };
        eprintln!("aipass-fake: {method} {path} {status}");
    }
}
