//! What each model can do (by the API's documented ID convention) and a short-lived cache of
//! the live model list, used to list models and to pick one when a call names none.

use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::api::{ApiClient, ApiError};
use crate::tools::{ToolError, ToolResult};

/// How long the model list is trusted before it is fetched again.
const MODEL_LIST_TTL: Duration = Duration::from_secs(300);

/// What a model is for.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Chat,
    Image,
    ImageEdit,
    Tts,
    Transcription,
    Embedding,
    Video,
    Other,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Chat => "chat",
            Capability::Image => "image",
            Capability::ImageEdit => "image_edit",
            Capability::Tts => "tts",
            Capability::Transcription => "transcription",
            Capability::Embedding => "embedding",
            Capability::Video => "video",
            Capability::Other => "other",
        }
    }
}

/// Image providers whose ids mean image generation when they do not end in `/edit`.
const IMAGE_PROVIDER_PREFIXES: [&str; 12] = [
    "fal-ai/",
    "imagen",
    "openai/",
    "dall-e",
    "gpt-image",
    "flux",
    "black-forest-labs/",
    "stability",
    "stable-diffusion",
    "ideogram",
    "recraft",
    "midjourney",
];

/// Classifies a model id by the API's convention (`…/edit`, `gpt-*`/`claude-*`/`gemini/*`,
/// `tts-*`, `*whisper*`, `text-embedding-*`, image-provider prefixes). Video models are not in
/// the convention; `sora*`, `veo*` and ids mentioning video are taken as video.
/// Anything else is `other`, never dropped.
pub fn classify(id: &str) -> Capability {
    let id = id.to_ascii_lowercase();
    if id.ends_with("/edit") {
        Capability::ImageEdit
    } else if id.starts_with("tts-") {
        Capability::Tts
    } else if id.contains("whisper") {
        Capability::Transcription
    } else if id.starts_with("text-embedding-") {
        Capability::Embedding
    } else if id.starts_with("sora") || id.starts_with("veo") || id.contains("video") {
        Capability::Video
    } else if IMAGE_PROVIDER_PREFIXES.iter().any(|p| id.starts_with(p)) {
        Capability::Image
    } else if id.starts_with("gpt-")
        || id.starts_with("claude-")
        || id.starts_with("gemini/")
        || id.starts_with("gemini-")
    {
        Capability::Chat
    } else {
        Capability::Other
    }
}

/// The live model list, fetched at most every few minutes.
pub struct ModelCatalog {
    api: ApiClient,
    cached: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
}

impl ModelCatalog {
    pub fn new(api: ApiClient) -> Self {
        Self {
            api,
            cached: Mutex::new(None),
        }
    }

    /// Model ids, from the cache when it is fresh.
    pub async fn ids(&self) -> Result<Arc<Vec<String>>, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some((fetched, ids)) = cached.as_ref()
            && fetched.elapsed() < MODEL_LIST_TTL
        {
            return Ok(ids.clone());
        }
        let ids: Arc<Vec<String>> = Arc::new(
            self.api
                .list_models()
                .await?
                .into_iter()
                .map(|model| model.id)
                .collect(),
        );
        *cached = Some((Instant::now(), ids.clone()));
        Ok(ids)
    }

    /// The model a call asked for, else the first live model with that capability.
    pub async fn choose(
        &self,
        requested: Option<&str>,
        capability: Capability,
    ) -> ToolResult<String> {
        if let Some(model) = requested.map(str::trim).filter(|m| !m.is_empty()) {
            return Ok(model.to_string());
        }
        let ids = self.ids().await?;
        ids.iter()
            .find(|id| classify(id) == capability)
            .cloned()
            .ok_or_else(|| ToolError {
                code: "model_not_found",
                message: format!(
                    "no {} model is available on this account right now; call list_models to see what is",
                    capability.as_str()
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_documented_convention() {
        let cases = [
            ("fal-ai/nano-banana-2/edit", Capability::ImageEdit),
            ("openai/gpt-image-2/edit", Capability::ImageEdit),
            ("imagen4/preview/ultra", Capability::Image),
            ("fal-ai/flux/dev", Capability::Image),
            ("openai/gpt-image-2", Capability::Image),
            ("gpt-image-1", Capability::Image),
            ("gpt-5-mini", Capability::Chat),
            ("claude-sonnet-4-5", Capability::Chat),
            ("gemini/gemini-2.5-flash", Capability::Chat),
            ("tts-1", Capability::Tts),
            ("whisper-1", Capability::Transcription),
            ("text-embedding-3-small", Capability::Embedding),
            ("sora-2", Capability::Video),
            ("omni-moderation-latest", Capability::Other),
            ("", Capability::Other),
        ];
        for (id, expected) in cases {
            assert_eq!(classify(id), expected, "{id}");
        }
    }
}
