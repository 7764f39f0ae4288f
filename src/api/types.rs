//! Request and response shapes of the AI Pass REST API (OpenAI-style payloads), as serde types.
//!
//! Requests leave out unset fields; responses ignore unknown fields and tolerate missing optional
//! ones, because different upstream models answer in slightly different shapes.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::lenient;

// ---------- files ----------

#[derive(Clone)]
pub struct Upload {
    /// Shared, not copied, by every form built from it (one per attempt).
    pub bytes: bytes::Bytes,
    pub file_name: String,
    pub mime_type: String,
}

impl fmt::Debug for Upload {
    // The bytes would flood logs; their size says enough.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("file_name", &self.file_name)
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A binary answer (audio, video, a downloaded image).
#[derive(Clone, Debug)]
pub struct Binary {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

// ---------- models ----------

/// One entry of `GET /v1/models`. Live servers add `type`, `methods` and `capabilities` (the
/// contract for what a model does); plain LiteLLM sends `mode`; old servers send only `id`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Model {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<i64>,
    /// `text`, `image`, `audio`, `embedding`, `video`, …
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_type: Option<String>,
    /// API methods the model serves: `chat_completions`, `image_edit`, `audio_speech`, …
    #[serde(
        default,
        deserialize_with = "lenient::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub methods: Vec<String>,
    /// Features such as `vision`.
    #[serde(
        default,
        deserialize_with = "lenient::strings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capabilities: Vec<String>,
    /// LiteLLM's `mode` (`chat`, `embedding`, `image_generation`, …).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Model {
    /// An entry known only by its id (the plain-array answer).
    pub fn from_id(id: String) -> Self {
        Model {
            id,
            owned_by: None,
            created: None,
            model_type: None,
            methods: Vec::new(),
            capabilities: Vec::new(),
            mode: None,
            extra: Map::new(),
        }
    }

    /// True when the server said what the model does (not only its id).
    pub fn has_metadata(&self) -> bool {
        self.model_type.is_some() || !self.methods.is_empty() || self.mode.is_some()
    }
}

/// One element of a model list: an object, or (the historical shape) just the id.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ModelEntryWire {
    Id(String),
    Full(Model),
}

/// The list answer: the envelope `{"object":"list","data":[…]}`, or a bare array; either may
/// hold objects or id strings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ModelList {
    Wrapped { data: Vec<ModelEntryWire> },
    Bare(Vec<ModelEntryWire>),
}

impl ModelList {
    pub(crate) fn into_models(self) -> Vec<Model> {
        let (ModelList::Wrapped { data } | ModelList::Bare(data)) = self;
        data.into_iter()
            .map(|entry| match entry {
                ModelEntryWire::Id(id) => Model::from_id(id),
                ModelEntryWire::Full(model) => model,
            })
            .filter(|model| !model.id.trim().is_empty())
            .collect()
    }
}

// ---------- chat ----------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    pub content: MessageContent,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ImageUrl {
    pub url: String,
}

/// What the client sends: the caller's request plus the streaming switches.
#[derive(Serialize)]
pub(crate) struct ChatWire<'a> {
    #[serde(flatten)]
    pub request: &'a ChatRequest,
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
pub(crate) struct StreamOptions {
    pub include_usage: bool,
}

/// A finished (or, with `complete: false`, cut-off) chat answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChatResult {
    pub text: String,
    pub model: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// False when a stream ended early: `text` is then only the part that arrived.
    pub complete: bool,
    /// When AI Pass ended the stream with an error after some text: what it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
}

/// Token counts. JsonSchema because tools put it in their output schemas.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
pub struct Usage {
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub prompt_tokens: u64,
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub completion_tokens: u64,
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub total_tokens: u64,
}

/// `chat.completion` as sent with `stream: false`.
#[derive(Deserialize)]
pub(crate) struct ChatCompletionWire {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<ChoiceWire>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Some proxies answer 200 with an error object instead of choices.
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Deserialize)]
pub(crate) struct ChoiceWire {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub message: Option<AssistantMessageWire>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct AssistantMessageWire {
    #[serde(default)]
    pub content: Option<Value>,
    #[serde(default)]
    pub refusal: Option<String>,
}

impl ChatCompletionWire {
    pub(crate) fn into_result(self, requested_model: &str) -> ChatResult {
        let choice = self
            .choices
            .into_iter()
            .min_by_key(|c| c.index.unwrap_or(0));
        let (text, finish_reason) = match choice {
            Some(c) => {
                let text = c
                    .message
                    .map(|m| {
                        let t = content_text(m.content.as_ref());
                        if t.is_empty() {
                            m.refusal.unwrap_or_default()
                        } else {
                            t
                        }
                    })
                    .unwrap_or_default();
                (text, c.finish_reason)
            }
            None => (String::new(), None),
        };
        ChatResult {
            text,
            model: self
                .model
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| requested_model.to_string()),
            finish_reason,
            usage: self.usage,
            complete: true,
            stopped_by: None,
        }
    }
}

/// Text of a message `content`: a string, or an array of parts whose `text` fields are joined.
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

// ---------- embeddings ----------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: EmbeddingInput,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EmbeddingResponse {
    #[serde(default)]
    pub data: Vec<Embedding>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub usage: Option<Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Embedding {
    #[serde(default)]
    pub index: usize,
    pub embedding: Vector,
}

/// One embedding vector, kept as the JSON text the API sent: its numbers are neither parsed
/// nor printed again on their way to the file (that was most of an `embed` call's CPU time).
/// On arrival it is checked to be a flat array of numbers, and its length counted.
#[derive(Clone, Debug)]
pub struct Vector {
    raw: Box<RawValue>,
    len: usize,
}

impl Vector {
    /// How many numbers.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The array as the API wrote it, e.g. `[0.1,-0.2]`.
    pub fn json(&self) -> &str {
        self.raw.get()
    }
}

impl PartialEq for Vector {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Serialize for Vector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let len = count_numbers(raw.get())
            .ok_or_else(|| serde::de::Error::custom("an embedding must be an array of numbers"))?;
        Ok(Vector { raw, len })
    }
}

/// The length of a JSON array of numbers, or None for anything else. The text is valid JSON
/// already, so it holds numbers only when no element opens as anything else (a string, array,
/// object, `true`, `false` or `null`), and then one more number than commas. Three SIMD scans
/// (memchr): a byte-by-byte check was a third of an `embed` call's CPU time.
fn count_numbers(json: &str) -> Option<usize> {
    let inner = json.trim().strip_prefix('[')?.strip_suffix(']')?.as_bytes();
    if memchr::memchr3(b'"', b'[', b'{', inner).is_some()
        || memchr::memchr3(b't', b'f', b'n', inner).is_some()
    {
        return None;
    }
    if inner.trim_ascii().is_empty() {
        return Some(0);
    }
    Some(memchr::memchr_iter(b',', inner).count() + 1)
}

// ---------- images ----------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ImageGenerationRequest {
    pub model: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<String>,
}

/// `POST /images/edits` (multipart): every upload goes in its own `image` part.
#[derive(Clone, Debug)]
pub struct ImageEditRequest {
    pub model: String,
    pub prompt: String,
    pub images: Vec<Upload>,
    pub size: Option<String>,
    pub n: Option<u32>,
    pub response_format: Option<String>,
}

/// `POST /images/variations` (multipart).
#[derive(Clone, Debug)]
pub struct ImageVariationRequest {
    pub model: String,
    pub image: Upload,
    pub size: Option<String>,
    pub n: Option<u32>,
    pub response_format: Option<String>,
}

/// Image answers keep their body, so that their base64 is decoded in place: see `images.rs`.
pub use super::images::{Base64Text, ImageDatum, ImageSource, ImagesResponse};

// ---------- audio ----------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SpeechRequest {
    pub model: String,
    pub input: String,
    pub voice: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<String>,
}

/// `POST /audio/transcriptions` (multipart: file, model, language).
#[derive(Clone, Debug)]
pub struct TranscriptionRequest {
    pub model: String,
    pub file: Upload,
    pub language: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Transcription {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub language: Option<String>,
}

// ---------- video ----------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VideoRequest {
    pub model: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct RemixWire<'a> {
    pub prompt: &'a str,
}

/// A video job in either documented shape: OpenAI's (`id`, `status`, `progress`) or the
/// developer-key reference's (`videoId`, status from `/videos/{id}/status`, `downloadUrl`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VideoJob {
    #[serde(alias = "videoId", alias = "video_id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string_or_empty")]
    pub status: String,
    /// Where the finished file can be fetched, when the job says (instead of `/content`).
    #[serde(
        default,
        alias = "downloadUrl",
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub download_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub progress: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a video job's status word means, in the one vocabulary results use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoState {
    /// Queued or running (or a word this client does not know yet).
    Pending,
    Completed,
    Failed,
}

impl VideoState {
    pub fn of(status: &str) -> Self {
        match status.trim().to_ascii_lowercase().as_str() {
            "completed" | "complete" | "succeeded" | "success" | "done" | "finished" | "ready" => {
                VideoState::Completed
            }
            "failed" | "failure" | "error" | "errored" | "cancelled" | "canceled" | "expired"
            | "rejected" => VideoState::Failed,
            _ => VideoState::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VideoState::Pending => "pending",
            VideoState::Completed => "completed",
            VideoState::Failed => "failed",
        }
    }
}

// ---------- usage ----------

/// Budget figures in dollars. Read from the API's camelCase, written in snake_case.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
pub struct UsageSummary {
    #[serde(alias = "totalCost", deserialize_with = "lenient::f64_value")]
    pub total_cost: f64,
    /// None: the account has no budget limit (`maxBudget: null`).
    #[serde(alias = "maxBudget", default, deserialize_with = "lenient::opt_f64")]
    pub max_budget: Option<f64>,
    /// None with no limit.
    #[serde(
        alias = "remainingBudget",
        default,
        deserialize_with = "lenient::opt_f64"
    )]
    pub remaining_budget: Option<f64>,
}

/// `{"success": true, "data": {…}}`.
#[derive(Deserialize)]
pub(crate) struct UsageEnvelope {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub data: Option<UsageSummary>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(json: &str) -> Result<Vector, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn vectors_keep_the_api_text_and_count_their_numbers() {
        let v = vector("[0.1, -2e-3,3E+2 ,\n4]").unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v.json(), "[0.1, -2e-3,3E+2 ,\n4]");
        assert_eq!(vector("[7]").unwrap().len(), 1);
        assert!(vector("[ ]").unwrap().is_empty());
    }

    #[test]
    fn vectors_of_anything_but_numbers_are_refused() {
        for bad in [
            r#"[1, "2"]"#,
            "[1, [2]]",
            r#"[1, {"a": 2}]"#,
            "[1, true]",
            "[false]",
            "[1, null]",
            "3",
            r#""[1]""#,
            "{}",
        ] {
            assert!(vector(bad).is_err(), "{bad} was accepted");
        }
    }
}
