//! Video jobs: `POST /videos`, `GET /videos/{id}` (each poll advances the job one step),
//! `GET /videos/{id}/content` and `POST /videos/{id}/remix`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::clock::unix_now;
use crate::error::{ApiError, ApiResult};
use crate::input::{JsonBody, wrong_type};
use crate::media::{minimal_mp4, seed};
use crate::models::{self, Kind};
use crate::state::AppState;
use crate::tokens::random_id;
use crate::video_job::VideoJob;

const COST: f64 = 0.50;
const SECONDS: [&str; 3] = ["4", "8", "12"];
const SIZES: [&str; 4] = ["720x1280", "1280x720", "1024x1792", "1792x1024"];

fn seconds_of(body: &JsonBody) -> Result<String, ApiError> {
    let seconds = match body.get("seconds") {
        None => "4".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(wrong_type("seconds", "\"4\", \"8\" or \"12\"")),
    };
    if !SECONDS.contains(&seconds.as_str()) {
        return Err(ApiError::invalid(format!(
            "'seconds' '{seconds}' is not one of 4, 8, 12"
        )));
    }
    Ok(seconds)
}

fn new_job(
    state: &AppState,
    model: String,
    prompt: String,
    seconds: String,
    size: String,
    remixed_from: Option<String>,
) -> Value {
    let job = VideoJob {
        id: format!("video_{}", random_id(16).replace(['-', '_'], "x")),
        model,
        prompt,
        seconds,
        size,
        created_at: unix_now(),
        completed_at: None,
        step: 0,
        remixed_from,
    };
    let view = job.to_json();
    state.videos.lock().unwrap().insert(job.id.clone(), job);
    view
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = JsonBody::parse(&headers, &body)?.only(&["model", "prompt", "seconds", "size"])?;
    let model = body.required_str("model")?.to_string();
    let prompt = body.required_str("prompt")?.to_string();
    caller.summarize(json!({"model": model, "prompt": prompt}));
    models::check(&state, &model, Kind::Video)?;
    let seconds = seconds_of(&body)?;
    let size = body.optional_str("size")?.unwrap_or("720x1280").to_string();
    if !SIZES.contains(&size.as_str()) {
        return Err(ApiError::invalid(format!(
            "'size' '{size}' is not one of {}",
            SIZES.join(", ")
        )));
    }
    caller.summarize(json!({"model": model, "prompt": prompt, "seconds": seconds, "size": size}));
    let charge = state.reserve(COST)?;
    let job = new_job(&state, model, prompt, seconds, size, None);
    charge.commit();
    if caller.token.api_key {
        // The developer-key reference's shape: only the id; the status is read from `/status`.
        return Ok(Json(json!({"videoId": job["id"]})));
    }
    Ok(Json(job))
}

/// `GET /videos/{id}/status`, the developer-key reference's shape: `videoId`, `status`,
/// `progress`, and `downloadUrl` once done (a file URL, like a provider's CDN).
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.summarize(json!({"id": id}));
    let (view, mp4) = {
        let mut videos = state.videos.lock().unwrap();
        let job = videos.get_mut(&id).ok_or_else(|| unknown(&id))?;
        job.advance();
        let mp4 = job
            .completed()
            .then(|| minimal_mp4(&seed(&format!("{}\n{}", job.id, job.prompt))));
        (job.to_json(), mp4)
    };
    let mut answer = json!({
        "videoId": view["id"],
        "status": view["status"],
        "progress": view["progress"],
        "seconds": view["seconds"].as_str().and_then(|s| s.parse::<u64>().ok()),
    });
    if let Some(mp4) = mp4 {
        answer["downloadUrl"] = json!(state.store_file("mp4", mp4));
    }
    if let Some(error) = view.get("error") {
        answer["error"] = error.clone();
    }
    Ok(Json(answer))
}

fn unknown(id: &str) -> ApiError {
    ApiError::not_found(format!("Video '{id}' not found"))
}

pub(crate) async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.summarize(json!({"id": id}));
    let mut videos = state.videos.lock().unwrap();
    let job = videos.get_mut(&id).ok_or_else(|| unknown(&id))?;
    if caller.token.api_key {
        // The developer-key shape carries no status here.
        return Ok(Json(
            json!({"videoId": job.id, "model": job.model, "prompt": job.prompt}),
        ));
    }
    job.advance();
    Ok(Json(job.to_json()))
}

pub(crate) async fn content(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    caller.summarize(json!({"id": id}));
    let variant = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "variant")
        .map(|(_, v)| v.into_owned());
    if variant.as_deref().is_some_and(|v| v != "video") {
        return Err(ApiError::invalid("only variant=video is available"));
    }
    let videos = state.videos.lock().unwrap();
    let job = videos.get(&id).ok_or_else(|| unknown(&id))?;
    if !job.completed() {
        return Err(ApiError::not_found(format!(
            "Video '{id}' has no content yet (status: {})",
            job.to_json()["status"].as_str().unwrap_or("unknown")
        )));
    }
    let mp4 = minimal_mp4(&seed(&format!("{}\n{}", job.id, job.prompt)));
    Ok(([(header::CONTENT_TYPE, "video/mp4")], mp4).into_response())
}

pub(crate) async fn remix(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = JsonBody::parse(&headers, &body)?.only(&["prompt"])?;
    let prompt = body.required_str("prompt")?.to_string();
    caller.summarize(json!({"id": id, "prompt": prompt}));
    let source = state
        .videos
        .lock()
        .unwrap()
        .get(&id)
        .cloned()
        .ok_or_else(|| unknown(&id))?;
    if !source.completed() {
        return Err(ApiError::invalid(format!(
            "Video '{id}' must be completed before it can be remixed"
        )));
    }
    let charge = state.reserve(COST)?;
    let job = new_job(
        &state,
        source.model,
        prompt,
        source.seconds,
        source.size,
        Some(id),
    );
    charge.commit();
    Ok(Json(job))
}
