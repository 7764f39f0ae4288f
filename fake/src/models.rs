//! The model catalogue (`GET /models`, `GET /models/{id}`) and the model checks every endpoint uses.
//!
//! Two catalogues: the live one (provider-neutral ids with `type`, `methods` and `capabilities`,
//! the envelope by default, `?detailed=false` for plain ids, server-side filters, `400` for an
//! unknown model) and the seed document's (prefixed ids, no metadata, plain ids by default,
//! `404` for an unknown model).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::types::{Catalogue, FakeConfig};

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

/// How a model answers an image request, whatever `response_format` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ImageAnswer {
    /// Honours `response_format`.
    AsAsked,
    /// Always a URL on the fake's origin.
    AlwaysUrl,
    /// Always a URL on another origin (a provider's CDN: `localhost` instead of `127.0.0.1`).
    ForeignUrl,
    /// Always a `data:` URL.
    DataUrl,
    /// Always `b64_json`.
    AlwaysBase64,
    /// Always `b64_json` without `=` padding.
    UnpaddedBase64,
}

/// One catalogue entry.
pub(crate) struct ModelSpec {
    pub id: &'static str,
    pub owned_by: &'static str,
    pub kind: Kind,
    /// Live metadata: `type`, `methods`, `capabilities`.
    pub model_type: &'static str,
    pub methods: &'static [&'static str],
    pub capabilities: &'static [&'static str],
    pub image_answer: ImageAnswer,
}

const fn spec(
    id: &'static str,
    owned_by: &'static str,
    kind: Kind,
    model_type: &'static str,
    methods: &'static [&'static str],
    capabilities: &'static [&'static str],
    image_answer: ImageAnswer,
) -> ModelSpec {
    ModelSpec {
        id,
        owned_by,
        kind,
        model_type,
        methods,
        capabilities,
        image_answer,
    }
}

use ImageAnswer::*;

/// The live catalogue. Its order is deliberately unhelpful: a speech model whose id starts like
/// a chat model comes first, and edit models come before generation models, so a client that
/// picks by list order or id shape picks wrong.
#[rustfmt::skip]
pub(crate) const LIVE_MODELS: [ModelSpec; 19] = [
    spec("gpt-4o-mini-tts", "openai", Kind::Speech, "audio", &["audio_speech"], &["tts"], AsAsked),
    spec("nano-banana-2-edit", "google", Kind::ImageEdit, "image", &["image_edit"], &["image_input", "multi_image"], AlwaysUrl),
    spec("aura-sr", "fal", Kind::ImageEdit, "image", &["image_edit"], &["upscale"], ForeignUrl),
    spec("gpt-image-2-edit", "openai", Kind::ImageEdit, "image", &["image_edit"], &["image_input", "multi_image"], DataUrl),
    spec("claude-haiku-4-5", "anthropic", Kind::Chat, "text", &["chat_completions"], &["streaming"], AsAsked),
    spec("gemini-2.5-flash", "google", Kind::Chat, "text", &["chat_completions"], &["streaming", "vision"], AsAsked),
    spec("gpt-5-nano", "openai", Kind::Chat, "text", &["chat_completions"], &["streaming"], AsAsked),
    spec("gpt-5-mini", "openai", Kind::Chat, "text", &["chat_completions"], &["streaming"], AsAsked),
    spec("imagen-4-ultra", "google", Kind::ImageGeneration, "image", &["image_generation"], &[], AlwaysBase64),
    spec("nano-banana-2", "google", Kind::ImageGeneration, "image", &["image_generation"], &[], AlwaysUrl),
    spec("gpt-image-1", "openai", Kind::ImageGeneration, "image", &["image_generation"], &[], UnpaddedBase64),
    spec("dall-e-2", "openai", Kind::ImageGeneration, "image", &["image_generation", "image_variation"], &[], AsAsked),
    spec("tts-1", "openai", Kind::Speech, "audio", &["audio_speech"], &[], AsAsked),
    spec("whisper-1", "openai", Kind::Transcription, "audio", &["audio_transcription"], &[], AsAsked),
    spec("text-embedding-3-large", "openai", Kind::Embedding, "embedding", &["embeddings"], &[], AsAsked),
    spec("text-embedding-3-small", "openai", Kind::Embedding, "embedding", &["embeddings"], &[], AsAsked),
    spec("veo-3.1-fast-generate-preview", "google", Kind::Video, "video", &["video_generation"], &[], AsAsked),
    spec("sora-2", "openai", Kind::Video, "video", &["video_generation"], &[], AsAsked),
    spec("omni-moderation-latest", "openai", Kind::Other, "moderation", &["moderations"], &[], AsAsked),
];

/// The seed document's catalogue: ids carry the provider, no metadata.
#[rustfmt::skip]
pub(crate) const SEED_MODELS: [ModelSpec; 17] = [
    spec("gpt-5-mini", "openai", Kind::Chat, "", &[], &[], AsAsked),
    spec("gpt-4o", "openai", Kind::Chat, "", &[], &[], AsAsked),
    spec("claude-sonnet-4-5", "anthropic", Kind::Chat, "", &[], &[], AsAsked),
    spec("gemini/gemini-2.5-flash", "google", Kind::Chat, "", &[], &[], AsAsked),
    spec("imagen4/preview/ultra", "google", Kind::ImageGeneration, "", &[], &[], AlwaysBase64),
    spec("fal-ai/flux/dev", "fal-ai", Kind::ImageGeneration, "", &[], &[], AlwaysUrl),
    spec("openai/gpt-image-2", "openai", Kind::ImageGeneration, "", &[], &[], AsAsked),
    spec("fal-ai/nano-banana-2/edit", "fal-ai", Kind::ImageEdit, "", &[], &[], AlwaysUrl),
    spec("openai/gpt-image-2/edit", "openai", Kind::ImageEdit, "", &[], &[], AsAsked),
    spec("fal-ai/nano-banana-pro/edit", "fal-ai", Kind::ImageEdit, "", &[], &[], AlwaysUrl),
    spec("tts-1", "openai", Kind::Speech, "", &[], &[], AsAsked),
    spec("tts-1-hd", "openai", Kind::Speech, "", &[], &[], AsAsked),
    spec("whisper-1", "openai", Kind::Transcription, "", &[], &[], AsAsked),
    spec("text-embedding-3-small", "openai", Kind::Embedding, "", &[], &[], AsAsked),
    spec("text-embedding-3-large", "openai", Kind::Embedding, "", &[], &[], AsAsked),
    spec("sora-2", "openai", Kind::Video, "", &[], &[], AsAsked),
    spec("omni-moderation-latest", "openai", Kind::Other, "", &[], &[], AsAsked),
];

/// Unix time of 2025-01-01, the `created` of every model.
const CREATED: u64 = 1_735_689_600;

/// The catalogue this fake serves.
pub(crate) fn catalogue(config: &FakeConfig) -> &'static [ModelSpec] {
    match config.catalogue {
        Catalogue::Live => &LIVE_MODELS,
        Catalogue::Seed => &SEED_MODELS,
    }
}

fn model_json(config: &FakeConfig, model: &ModelSpec) -> Value {
    let mut entry =
        json!({"id": model.id, "object": "model", "created": CREATED, "owned_by": model.owned_by});
    if config.catalogue == Catalogue::Live {
        entry["type"] = json!(model.model_type);
        entry["methods"] = json!(model.methods);
        entry["capabilities"] = json!(model.capabilities);
    }
    entry
}

/// The model's entry, if the catalogue has it.
pub(crate) fn find(state: &AppState, model: &str) -> Option<&'static ModelSpec> {
    catalogue(&state.config).iter().find(|m| m.id == model)
}

/// The model must exist (else live `400`, seed `404`) and be of `kind` (else 400).
pub(crate) fn check(state: &AppState, model: &str, kind: Kind) -> Result<(), ApiError> {
    let spec = find(state, model).ok_or_else(|| unknown_model(state, model))?;
    if spec.kind != kind {
        return Err(ApiError::invalid(format!(
            "Model '{model}' does not support {}",
            kind.describe()
        )));
    }
    Ok(())
}

/// Variations: a model the catalogue marks with `image_variation`, or (seed) any generation model.
pub(crate) fn check_variation(state: &AppState, model: &str) -> Result<(), ApiError> {
    let spec = find(state, model).ok_or_else(|| unknown_model(state, model))?;
    let accepted = match state.config.catalogue {
        Catalogue::Live => spec.methods.contains(&"image_variation"),
        Catalogue::Seed => spec.kind == Kind::ImageGeneration,
    };
    if !accepted {
        return Err(ApiError::invalid(format!(
            "Model '{model}' does not support image variations"
        )));
    }
    Ok(())
}

/// The live proxy (LiteLLM) answers an unknown model with 400 and this wording; the seed's 404.
fn unknown_model(state: &AppState, model: &str) -> ApiError {
    match state.config.catalogue {
        Catalogue::Live => ApiError::invalid(format!(
            "Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key."
        )),
        Catalogue::Seed => ApiError::model_not_found(model),
    }
}

/// The query of `GET /models`: `detailed` and the live filters.
struct ListQuery {
    detailed: Option<bool>,
    model_type: Option<String>,
    method: Option<String>,
    capability: Option<String>,
}

fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery {
        detailed: None,
        model_type: None,
        method: None,
        capability: None,
    };
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "detailed" => {
                query.detailed = Some(match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ApiError::invalid("'detailed' must be true or false")),
                })
            }
            "type" => query.model_type = Some(value),
            "method" => query.method = Some(value),
            "capability" => query.capability = Some(value),
            other => {
                return Err(ApiError::invalid(format!(
                    "Unknown query parameter '{other}'"
                )));
            }
        }
    }
    Ok(query)
}

pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    caller.summarize(json!({"query": raw}));
    let query = parse_list_query(raw.as_deref())?;
    let live = state.config.catalogue == Catalogue::Live;
    // Filters are a live feature; the seed-era server ignores them, as old servers do.
    let models = catalogue(&state.config).iter().filter(|m| {
        !live
            || (query
                .model_type
                .as_deref()
                .is_none_or(|t| m.model_type == t)
                && query
                    .method
                    .as_deref()
                    .is_none_or(|x| m.methods.contains(&x))
                && query
                    .capability
                    .as_deref()
                    .is_none_or(|c| m.capabilities.contains(&c)))
    });
    let detailed = query.detailed.unwrap_or(live);
    if !detailed {
        let ids: Vec<&str> = models.map(|m| m.id).collect();
        return Ok(Json(json!(ids)));
    }
    let data: Vec<Value> = models.map(|m| model_json(&state.config, m)).collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.summarize(json!({"id": id}));
    find(&state, &id)
        .map(|m| Json(model_json(&state.config, m)))
        .ok_or_else(|| ApiError::model_not_found(&id))
}
