//! What each model can do and which one a call gets when it names none, and a short-lived cache
//! of the live model list.
//!
//! The catalogue's `methods`, `type` and `capabilities` (or LiteLLM's `mode`) say what a model
//! does; the id's shape is read only for entries without them (the seed document's convention).
//! A default is the first suitable model in a preference order (cheap, widely available models
//! first; `AIPASS_DEFAULT_MODELS` puts the user's choices in front), else the suitable model whose
//! id sorts first: never the server's list order, which changes between deployments.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::api::{ApiClient, ApiError, Model};
use crate::error::{ErrorCode, ToolError, ToolResult};

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

/// What a call needs from the model it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Need {
    /// A model of this kind.
    Kind(Capability),
    /// Chat with image inputs: capability `vision` when the catalogue marks any, else chat.
    Vision,
    /// Image variations: what the catalogue marks for them, else image generation.
    Variation,
}

impl From<Capability> for Need {
    fn from(capability: Capability) -> Self {
        Need::Kind(capability)
    }
}

impl Need {
    /// The name used in messages and in `AIPASS_DEFAULT_MODELS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Kind(capability) => capability.as_str(),
            Need::Vision => "vision",
            Need::Variation => "variation",
        }
    }

    const ALL: [Need; 10] = [
        Need::Kind(Capability::Chat),
        Need::Vision,
        Need::Kind(Capability::Image),
        Need::Kind(Capability::ImageEdit),
        Need::Variation,
        Need::Kind(Capability::Tts),
        Need::Kind(Capability::Transcription),
        Need::Kind(Capability::Embedding),
        Need::Kind(Capability::Video),
        Need::Kind(Capability::Other),
    ];
}

/// The built-in preference order per need: cheap, widely available models first. Seed-era ids
/// follow the live ones so old servers get the same kind of default.
fn built_in_preferences(need: Need) -> &'static [&'static str] {
    match need {
        Need::Kind(Capability::Chat) => &[
            "gpt-5-mini",
            "gpt-5-nano",
            "gemini-2.5-flash-lite",
            "claude-haiku-4-5",
            "gemini-2.5-flash",
            "gpt-4o-mini",
            "gemini/gemini-2.5-flash",
        ],
        Need::Vision => &[
            "gemini-2.5-flash",
            "gpt-5-mini",
            "gemini-2.5-pro",
            "gemini/gemini-2.5-flash",
            "gpt-4o",
        ],
        Need::Kind(Capability::Image) => &[
            "nano-banana-2",
            "gpt-image-1",
            "imagen-4-ultra",
            "flux-pro-v1.1-ultra",
            "imagen4/preview/ultra",
            "openai/gpt-image-2",
        ],
        Need::Kind(Capability::ImageEdit) => &[
            "nano-banana-2-edit",
            "gpt-image-2-edit",
            "nano-banana-pro-edit",
            "fal-ai/nano-banana-2/edit",
            "openai/gpt-image-2/edit",
        ],
        Need::Variation => &["dall-e-2", "gpt-image-1", "openai/gpt-image-2"],
        Need::Kind(Capability::Tts) => &["tts-1", "gpt-4o-mini-tts", "tts-1-hd"],
        Need::Kind(Capability::Transcription) => &["whisper-1"],
        Need::Kind(Capability::Embedding) => &["text-embedding-3-small", "text-embedding-3-large"],
        Need::Kind(Capability::Video) => &["sora-2", "veo-3.1-fast-generate-preview"],
        Need::Kind(Capability::Other) => &[],
    }
}

/// The user's own preferences, from `AIPASS_DEFAULT_MODELS`: `need=id[,need=id…]`, e.g.
/// `chat=claude-haiku-4-5,image=imagen-4-ultra`. Several ids for one need are tried in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelPreferences(HashMap<Need, Vec<String>>);

impl ModelPreferences {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut preferences: HashMap<Need, Vec<String>> = HashMap::new();
        for item in text
            .split([',', ';'])
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            let (name, id) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}' is not of the form need=model"))?;
            let need = Need::ALL
                .into_iter()
                .find(|n| n.as_str() == name.trim())
                .ok_or_else(|| {
                    let names: Vec<&str> = Need::ALL.iter().map(|n| n.as_str()).collect();
                    format!("'{}' is not one of {}", name.trim(), names.join(", "))
                })?;
            let id = id.trim();
            if id.is_empty() {
                return Err(format!("no model given for '{}'", need.as_str()));
            }
            preferences.entry(need).or_default().push(id.to_string());
        }
        Ok(ModelPreferences(preferences))
    }

    fn order(&self, need: Need) -> impl Iterator<Item = &str> {
        self.0
            .get(&need)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .chain(built_in_preferences(need).iter().copied())
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

/// Classifies a model id by the seed document's convention (`…/edit`, `gpt-*`/`claude-*`/
/// `gemini/*`, `tts-*`, `*whisper*`, `text-embedding-*`, image-provider prefixes). Video models
/// are not in the convention; `sora*`, `veo*` and ids mentioning video are taken as video.
/// Anything else is `other`, never dropped. Used only for entries without metadata.
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

/// The kind an API method (or LiteLLM `mode`) stands for.
fn kind_of_method(method: &str) -> Option<Capability> {
    Some(match method {
        "chat_completions" | "chat" | "completion" | "responses" => Capability::Chat,
        "image_generation" | "image_generations" => Capability::Image,
        "image_edit" | "image_edits" => Capability::ImageEdit,
        "audio_speech" | "speech" => Capability::Tts,
        "audio_transcription" | "audio_transcriptions" | "transcription" => {
            Capability::Transcription
        }
        "embeddings" | "embedding" => Capability::Embedding,
        "video_generation" | "video_generations" | "videos" => Capability::Video,
        _ => return None,
    })
}

/// Every kind a model serves, its main one first. Metadata decides; the id only without it.
pub fn kinds(model: &Model) -> Vec<Capability> {
    let mut kinds: Vec<Capability> = Vec::new();
    for method in model.methods.iter().chain(model.mode.iter()) {
        if let Some(kind) = kind_of_method(&method.to_ascii_lowercase())
            && !kinds.contains(&kind)
        {
            kinds.push(kind);
        }
    }
    if kinds.is_empty()
        && let Some(model_type) = &model.model_type
    {
        let by_type = match model_type.to_ascii_lowercase().as_str() {
            "text" | "chat" | "llm" => Some(Capability::Chat),
            "image" => Some(Capability::Image),
            "embedding" | "embeddings" => Some(Capability::Embedding),
            "video" => Some(Capability::Video),
            // `audio` alone does not say speech or transcription; the id may.
            "audio" => Some(classify(&model.id))
                .filter(|k| matches!(k, Capability::Tts | Capability::Transcription)),
            _ => None,
        };
        kinds.extend(by_type);
    }
    if kinds.is_empty() {
        kinds.push(if model.has_metadata() {
            Capability::Other
        } else {
            classify(&model.id)
        });
    }
    kinds
}

/// The model's main kind, as `list_models` shows it.
pub fn primary_kind(model: &Model) -> Capability {
    kinds(model)[0]
}

fn has_capability(model: &Model, capability: &str) -> bool {
    model
        .capabilities
        .iter()
        .any(|c| c.eq_ignore_ascii_case(capability))
}

fn marked_for_variations(model: &Model) -> bool {
    model.methods.iter().any(|m| {
        let m = m.to_ascii_lowercase();
        m == "image_variation" || m == "image_variations"
    })
}

/// The models fit for `need`, in catalogue order.
pub fn suitable(models: &[Model], need: Need) -> Vec<&Model> {
    let of_kind = |kind: Capability| -> Vec<&Model> {
        models.iter().filter(|m| kinds(m).contains(&kind)).collect()
    };
    match need {
        Need::Kind(kind) => of_kind(kind),
        Need::Vision => {
            let vision: Vec<&Model> = models
                .iter()
                .filter(|m| has_capability(m, "vision") && kinds(m).contains(&Capability::Chat))
                .collect();
            if vision.is_empty() {
                of_kind(Capability::Chat)
            } else {
                vision
            }
        }
        Need::Variation => {
            let marked: Vec<&Model> = models.iter().filter(|m| marked_for_variations(m)).collect();
            if marked.is_empty() {
                of_kind(Capability::Image)
            } else {
                marked
            }
        }
    }
}

/// The default for `need`: the first suitable model in the preference order, else the suitable
/// model whose id sorts first.
pub fn pick<'a>(
    models: &'a [Model],
    need: Need,
    preferences: &ModelPreferences,
) -> Option<&'a str> {
    let candidates = suitable(models, need);
    preferences
        .order(need)
        .find_map(|preferred| candidates.iter().find(|m| m.id == preferred))
        .or_else(|| candidates.iter().min_by(|a, b| a.id.cmp(&b.id)))
        .map(|m| m.id.as_str())
}

/// Up to three catalogue ids that look like `wanted` (for a model the API did not know).
pub fn close_matches<'a>(models: &'a [Model], wanted: &str) -> Vec<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    let mut scored: Vec<(f64, &str)> = models
        .iter()
        .map(|m| {
            let id = m.id.to_ascii_lowercase();
            let mut score = strsim::jaro_winkler(&wanted, &id);
            if id.contains(&wanted) || wanted.contains(&id) {
                score += 0.2;
            }
            (score, m.id.as_str())
        })
        .filter(|(score, _)| *score >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, id)| id).collect()
}

/// The model id named in an API's "unknown model" message (`model=…`, `Model '…'`).
fn model_named_in(message: &str) -> Option<String> {
    let named = if let Some(at) = message.find("model=") {
        message[at + "model=".len()..]
            .split(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == ',')
            .next()
            .map(|id| id.trim_end_matches(['.', ')']))
    } else {
        let at = message.find("odel '")?;
        message[at + "odel '".len()..].split('\'').next()
    };
    named.filter(|id| !id.is_empty()).map(str::to_string)
}

/// The live model list, fetched at most every few minutes.
pub struct ModelCatalog {
    api: ApiClient,
    preferences: ModelPreferences,
    cached: Mutex<Option<(Instant, Arc<Vec<Model>>)>>,
}

impl ModelCatalog {
    pub fn new(api: ApiClient) -> Self {
        Self::with_preferences(api, ModelPreferences::default())
    }

    pub fn with_preferences(api: ApiClient, preferences: ModelPreferences) -> Self {
        Self {
            api,
            preferences,
            cached: Mutex::new(None),
        }
    }

    /// The models, from the cache when it is fresh.
    pub async fn models(&self) -> Result<Arc<Vec<Model>>, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some((fetched, models)) = cached.as_ref()
            && fetched.elapsed() < MODEL_LIST_TTL
        {
            return Ok(models.clone());
        }
        let models = Arc::new(self.api.list_models(&[]).await?);
        *cached = Some((Instant::now(), models.clone()));
        Ok(models)
    }

    /// The model a call asked for, else the preferred live model for `need`.
    pub async fn choose(
        &self,
        requested: Option<&str>,
        need: impl Into<Need>,
    ) -> ToolResult<String> {
        if let Some(model) = requested.map(str::trim).filter(|m| !m.is_empty()) {
            return Ok(model.to_string());
        }
        let need = need.into();
        let models = self.models().await?;
        pick(&models, need, &self.preferences)
            .map(str::to_string)
            .ok_or_else(|| ToolError {
                code: ErrorCode::ModelNotFound,
                message: format!(
                    "no {} model is available on this account right now; call list_models to see what is",
                    need.as_str()
                ),
            })
    }

    /// Adds close catalogue matches to a `model_not_found` error that names a model.
    pub async fn explain(&self, error: ToolError) -> ToolError {
        if error.code != ErrorCode::ModelNotFound || error.message.contains("Close matches") {
            return error;
        }
        let Some(wanted) = model_named_in(&error.message) else {
            return error;
        };
        let Ok(models) = self.models().await else {
            return error;
        };
        let matches = close_matches(&models, &wanted);
        if matches.is_empty() {
            return error;
        }
        ToolError {
            code: error.code,
            message: format!(
                "{} Close matches: {}.",
                error.message.trim_end(),
                matches.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live_catalogue() -> Vec<Model> {
        serde_json::from_value(json!([
            {"id": "gpt-4o-mini-tts", "type": "audio", "methods": ["audio_speech"]},
            {"id": "nano-banana-2-edit", "type": "image", "methods": ["image_edit"]},
            {"id": "aura-sr", "type": "image", "methods": ["image_edit"]},
            {"id": "claude-haiku-4-5", "type": "text", "methods": ["chat_completions"]},
            {"id": "gemini-2.5-flash", "type": "text", "methods": ["chat_completions"], "capabilities": ["vision"]},
            {"id": "gpt-5-mini", "type": "text", "methods": ["chat_completions"]},
            {"id": "nano-banana-2", "type": "image", "methods": ["image_generation"]},
            {"id": "dall-e-2", "type": "image", "methods": ["image_generation", "image_variation"]},
            {"id": "whisper-1", "type": "audio", "methods": ["audio_transcription"]},
            {"id": "text-embedding-3-small", "type": "embedding", "methods": ["embeddings"]},
            {"id": "sora-2", "type": "video", "methods": ["video_generation"]},
            {"id": "omni-moderation-latest", "type": "moderation", "methods": ["moderations"]}
        ]))
        .unwrap()
    }

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
            assert_eq!(primary_kind(&Model::from_id(id.into())), expected, "{id}");
        }
    }

    #[test]
    fn metadata_wins_over_the_id_shape() {
        let models = live_catalogue();
        let kind = |id: &str| primary_kind(models.iter().find(|m| m.id == id).unwrap());
        // Each of these would be misread from its id alone.
        assert_eq!(kind("gpt-4o-mini-tts"), Capability::Tts);
        assert_eq!(kind("nano-banana-2-edit"), Capability::ImageEdit);
        assert_eq!(kind("aura-sr"), Capability::ImageEdit);
        assert_eq!(kind("omni-moderation-latest"), Capability::Other);
        let lite: Model = serde_json::from_value(json!({"id": "x", "mode": "embedding"})).unwrap();
        assert_eq!(primary_kind(&lite), Capability::Embedding);
        let typed: Model = serde_json::from_value(json!({"id": "y", "type": "video"})).unwrap();
        assert_eq!(primary_kind(&typed), Capability::Video);
    }

    #[test]
    fn defaults_follow_the_preference_order_not_the_list_order() {
        let models = live_catalogue();
        let prefs = ModelPreferences::default();
        let pick = |need: Need| pick(&models, need, &prefs);
        assert_eq!(pick(Capability::Chat.into()), Some("gpt-5-mini"));
        assert_eq!(pick(Need::Vision), Some("gemini-2.5-flash"));
        assert_eq!(pick(Capability::Image.into()), Some("nano-banana-2"));
        assert_eq!(
            pick(Capability::ImageEdit.into()),
            Some("nano-banana-2-edit")
        );
        assert_eq!(pick(Need::Variation), Some("dall-e-2"));
        assert_eq!(pick(Capability::Tts.into()), Some("gpt-4o-mini-tts"));
        assert_eq!(pick(Capability::Transcription.into()), Some("whisper-1"));
        assert_eq!(
            pick(Capability::Embedding.into()),
            Some("text-embedding-3-small")
        );
        assert_eq!(pick(Capability::Video.into()), Some("sora-2"));
        // Nothing preferred: the id that sorts first, whatever the server's order.
        let mut reversed = live_catalogue();
        reversed.retain(|m| m.id != "nano-banana-2-edit");
        reversed.reverse();
        assert_eq!(
            super::pick(&reversed, Capability::ImageEdit.into(), &prefs),
            Some("aura-sr")
        );
    }

    #[test]
    fn user_preferences_come_first_and_are_checked() {
        let models = live_catalogue();
        let prefs =
            ModelPreferences::parse("chat=claude-haiku-4-5, tts=missing, tts=whisper-1").unwrap();
        assert_eq!(
            pick(&models, Capability::Chat.into(), &prefs),
            Some("claude-haiku-4-5")
        );
        // A preferred id that is absent or of the wrong kind is skipped.
        assert_eq!(
            pick(&models, Capability::Tts.into(), &prefs),
            Some("gpt-4o-mini-tts")
        );
        assert!(ModelPreferences::parse("speech").is_err());
        assert!(
            ModelPreferences::parse("talk=tts-1")
                .unwrap_err()
                .contains("not one of")
        );
        assert!(ModelPreferences::parse("chat=").is_err());
        assert_eq!(
            ModelPreferences::parse("").unwrap(),
            ModelPreferences::default()
        );
    }

    #[test]
    fn vision_and_variations_fall_back_without_marks() {
        let plain: Vec<Model> = [
            "gpt-4o",
            "claude-sonnet-4-5",
            "openai/gpt-image-2",
            "fal-ai/flux/dev",
        ]
        .into_iter()
        .map(|id| Model::from_id(id.into()))
        .collect();
        let prefs = ModelPreferences::default();
        assert_eq!(pick(&plain, Need::Vision, &prefs), Some("gpt-4o"));
        assert_eq!(
            pick(&plain, Need::Variation, &prefs),
            Some("openai/gpt-image-2")
        );
    }

    #[test]
    fn close_matches_and_named_models() {
        let models = live_catalogue();
        assert_eq!(close_matches(&models, "gpt-5-mni")[0], "gpt-5-mini");
        assert!(close_matches(&models, "nano-banana-2/edit").contains(&"nano-banana-2-edit"));
        assert!(close_matches(&models, "zzzzzz").is_empty());
        assert_eq!(
            model_named_in(
                "HTTP 400: Invalid model name passed in model=gpt-5-mni. Call `/v1/models`"
            )
            .as_deref(),
            Some("gpt-5-mni")
        );
        assert_eq!(
            model_named_in("Model 'gemini-2.5-flsh' not found").as_deref(),
            Some("gemini-2.5-flsh")
        );
        assert_eq!(model_named_in("no such thing"), None);
    }
}
