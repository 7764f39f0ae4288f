//! The model catalogue (`GET /models`, `GET /models/{id}`) and the model checks every endpoint uses.

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};

/// What a model can be used for; an endpoint accepts only its own kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Chat,
    ImageGeneration,
    ImageEdit,
    Speech,
    Transcription,
    Embedding,
    Video,
    Other,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Chat => "chat completions",
            Kind::ImageGeneration => "image generation",
            Kind::ImageEdit => "image editing",
            Kind::Speech => "text to speech",
            Kind::Transcription => "transcription",
            Kind::Embedding => "embeddings",
            Kind::Video => "video generation",
            Kind::Other => "this endpoint",
        }
    }
}

/// Unix time of 2025-01-01, the `created` of every model.
const CREATED: u64 = 1_735_689_600;

/// (id, owned_by, kind), in the order `GET /models` lists them.
pub(crate) const MODELS: [(&str, &str, Kind); 17] = [
    ("gpt-5-mini", "openai", Kind::Chat),
    ("gpt-4o", "openai", Kind::Chat),
    ("claude-sonnet-4-5", "anthropic", Kind::Chat),
    ("gemini/gemini-2.5-flash", "google", Kind::Chat),
    ("imagen4/preview/ultra", "google", Kind::ImageGeneration),
    ("fal-ai/flux/dev", "fal-ai", Kind::ImageGeneration),
    ("openai/gpt-image-2", "openai", Kind::ImageGeneration),
    ("fal-ai/nano-banana-2/edit", "fal-ai", Kind::ImageEdit),
    ("openai/gpt-image-2/edit", "openai", Kind::ImageEdit),
    ("fal-ai/nano-banana-pro/edit", "fal-ai", Kind::ImageEdit),
    ("tts-1", "openai", Kind::Speech),
    ("tts-1-hd", "openai", Kind::Speech),
    ("whisper-1", "openai", Kind::Transcription),
    ("text-embedding-3-small", "openai", Kind::Embedding),
    ("text-embedding-3-large", "openai", Kind::Embedding),
    ("sora-2", "openai", Kind::Video),
    ("omni-moderation-latest", "openai", Kind::Other),
];

fn model_json(id: &str, owned_by: &str) -> Value {
    json!({"id": id, "object": "model", "created": CREATED, "owned_by": owned_by})
}

/// The model must exist (else 404 `model_not_found`) and be of `kind` (else 400).
pub(crate) fn check(model: &str, kind: Kind) -> Result<(), ApiError> {
    let (_, _, actual) = MODELS
        .iter()
        .find(|(id, _, _)| *id == model)
        .ok_or_else(|| ApiError::model_not_found(model))?;
    if *actual != kind {
        return Err(ApiError::invalid(format!(
            "Model '{model}' does not support {}",
            kind.describe()
        )));
    }
    Ok(())
}

pub(crate) async fn list(caller: Caller) -> Json<Value> {
    caller.summarize(json!({}));
    let data: Vec<Value> = MODELS
        .iter()
        .map(|(id, owner, _)| model_json(id, owner))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

pub(crate) async fn get(caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    caller.summarize(json!({"id": id}));
    MODELS
        .iter()
        .find(|(model, _, _)| *model == id)
        .map(|(model, owner, _)| Json(model_json(model, owner)))
        .ok_or_else(|| ApiError::model_not_found(&id))
}
