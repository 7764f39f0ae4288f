//! `POST /audio/speech` (text → a fake audio file that carries the text) and
//! `POST /audio/transcriptions` (gives that text back, or a placeholder for real audio).

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use serde_json::json;

use crate::audio_files::{self, SPEECH_FORMATS};
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::input::{Form, JsonBody};
use crate::models::{self, Kind};
use crate::state::AppState;

const SPEECH_COST: f64 = 0.015;
const TRANSCRIPTION_COST: f64 = 0.006;
const VOICES: [&str; 6] = ["alloy", "echo", "fable", "onyx", "nova", "shimmer"];
const MAX_SPEECH_CHARS: usize = 4096;
/// Whisper's upload limit.
const MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;

pub(crate) async fn speech(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = JsonBody::parse(&headers, &body)?.only(&[
        "model",
        "input",
        "voice",
        "response_format",
        "speed",
        "instructions",
    ])?;
    let model = body.required_str("model")?.to_string();
    let input = body.required_str("input")?.to_string();
    let voice = body.required_str("voice")?.to_string();
    let format = body
        .optional_str("response_format")?
        .unwrap_or("mp3")
        .to_string();
    caller.summarize(json!({
        "model": model, "input_chars": input.chars().count(), "voice": voice, "response_format": format,
    }));
    models::check(&state, &model, Kind::Speech)?;
    if input.chars().count() > MAX_SPEECH_CHARS {
        return Err(ApiError::invalid(format!(
            "'input' is longer than {MAX_SPEECH_CHARS} characters"
        )));
    }
    if !VOICES.contains(&voice.as_str()) {
        return Err(ApiError::invalid(format!(
            "'voice' '{voice}' is not one of {}",
            VOICES.join(", ")
        )));
    }
    let Some((_, content_type)) = SPEECH_FORMATS.iter().find(|(name, _)| *name == format) else {
        return Err(ApiError::invalid(format!(
            "'response_format' '{format}' is not one of mp3, opus, aac, flac, wav, pcm"
        )));
    };
    if let Some(speed) = body.optional_f64("speed")?
        && !(0.25..=4.0).contains(&speed)
    {
        return Err(ApiError::invalid("'speed' must be between 0.25 and 4.0"));
    }

    let charge = state.reserve(SPEECH_COST)?;
    let audio = audio_files::encode(&format, &input);
    charge.commit();
    Ok(([(header::CONTENT_TYPE, *content_type)], audio).into_response())
}

pub(crate) async fn transcriptions(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult {
    let form = Form::read(multipart).await?;
    let model = form.required_text("model")?;
    let language = form.text("language")?.filter(|l| !l.is_empty());
    let file = form.all("file").first().map(|p| p.data.clone());
    let kind = file.as_deref().and_then(audio_files::detect);
    caller.summarize(json!({
        "model": model, "language": language,
        "bytes": file.as_ref().map(Bytes::len), "type": kind,
        "response_format": form.text("response_format")?,
    }));
    models::check(&state, &model, Kind::Transcription)?;
    let Some(file) = file else {
        return Err(ApiError::missing("file"));
    };
    if let Some(language) = &language
        && !(2..=3).contains(&language.len())
    {
        return Err(ApiError::invalid(format!(
            "'language' '{language}' must be an ISO-639-1 code such as 'en'"
        )));
    }
    if file.len() > MAX_AUDIO_BYTES {
        return Err(ApiError::invalid("'file' is larger than the 25 MB limit"));
    }
    let Some(kind) = kind else {
        return Err(ApiError::invalid(
            "unsupported audio format (supported: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm)",
        ));
    };
    let format = form
        .text("response_format")?
        .unwrap_or_else(|| "json".into());
    if !["json", "text", "verbose_json", "srt", "vtt"].contains(&format.as_str()) {
        return Err(ApiError::invalid(format!(
            "'response_format' '{format}' is not one of json, text, verbose_json, srt, vtt"
        )));
    }

    let charge = state.reserve(TRANSCRIPTION_COST)?;
    let text = audio_files::carried_text(&file)
        .unwrap_or_else(|| format!("(fake transcript of {} bytes of {kind} audio)", file.len()));
    charge.commit();
    let seconds = text.split_whitespace().count().max(1) as f64 * 0.06;
    let response = match format.as_str() {
        "text" => text.into_response(),
        "srt" => {
            format!("1\n00:00:00,000 --> {}\n{text}\n", timestamp(seconds, ',')).into_response()
        }
        "vtt" => format!(
            "WEBVTT\n\n00:00:00.000 --> {}\n{text}\n",
            timestamp(seconds, '.')
        )
        .into_response(),
        "verbose_json" => axum::Json(json!({
            "task": "transcribe",
            "language": language.unwrap_or_else(|| "en".into()),
            "duration": seconds,
            "text": text,
            "segments": [{"id": 0, "start": 0.0, "end": seconds, "text": text}],
        }))
        .into_response(),
        _ => axum::Json(json!({"text": text})).into_response(),
    };
    Ok(response)
}

/// `00:00:01,234` (SRT) or `00:00:01.234` (VTT).
fn timestamp(seconds: f64, separator: char) -> String {
    let millis = (seconds * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}
