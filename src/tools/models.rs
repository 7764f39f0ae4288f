//! `list_models`: the models available now, with what the catalogue says each one does.

use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::call::{Call, CallScope};
use super::{ToolResult, input_schema, output_schema, success};
use crate::api::Model;
use crate::models::{Capability, kinds, primary_kind};
use crate::state::AipassServer;

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ListModelsArgs {
    /// Only models with this capability.
    pub capability: Option<Capability>,
    /// Only ids containing this text (case-insensitive).
    pub search: Option<String>,
    /// One model's id: show its details from AI Pass.
    pub id: Option<String>,
    /// Only this catalogue type (text, image, audio, …).
    #[serde(rename = "type")]
    pub model_type: Option<String>,
    /// Only models with this method (chat_completions, image_edit, …).
    pub method: Option<String>,
    /// Only models with this catalogue capability, e.g. vision.
    pub feature: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ModelEntry {
    /// Model id to pass as `model` to the other tools.
    pub id: String,
    /// What the model is for.
    pub capability: Capability,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// True when the catalogue gave no metadata and the id's shape was read instead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_id: bool,
}

impl ModelEntry {
    fn of(model: &Model) -> Self {
        ModelEntry {
            id: model.id.clone(),
            capability: primary_kind(model),
            model_type: model.model_type.clone(),
            methods: model.methods.clone(),
            capabilities: model.capabilities.clone(),
            from_id: !model.has_metadata(),
        }
    }

    fn line(&self) -> String {
        let mut facts = vec![self.capability.as_str().to_string()];
        facts.extend(self.capabilities.iter().cloned());
        format!("{} ({})", self.id, facts.join(", "))
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ListModelsOutput {
    pub models: Vec<ModelEntry>,
    /// With `id`: everything AI Pass says about that model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The catalogue `type` an entry without metadata would have, from its kind.
fn inferred_type(kind: Capability) -> Option<&'static str> {
    Some(match kind {
        Capability::Chat => "text",
        Capability::Image | Capability::ImageEdit => "image",
        Capability::Tts | Capability::Transcription => "audio",
        Capability::Embedding => "embedding",
        Capability::Video => "video",
        Capability::Other => return None,
    })
}

/// The API method a kind stands for.
fn method_of(kind: Capability) -> Option<&'static str> {
    Some(match kind {
        Capability::Chat => "chat_completions",
        Capability::Image => "image_generation",
        Capability::ImageEdit => "image_edit",
        Capability::Tts => "audio_speech",
        Capability::Transcription => "audio_transcription",
        Capability::Embedding => "embeddings",
        Capability::Video => "video_generation",
        Capability::Other => return None,
    })
}

/// The filters, applied here too: servers that predate them send the whole list. Entries
/// without metadata are matched by what their id says.
fn matches(model: &Model, args: &ListModelsArgs, search: Option<&str>) -> bool {
    let model_kinds = kinds(model);
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b.trim());
    let type_ok = args
        .model_type
        .as_deref()
        .is_none_or(|wanted| match &model.model_type {
            Some(t) => same(t, wanted),
            None => model_kinds
                .iter()
                .any(|k| inferred_type(*k).is_some_and(|t| same(t, wanted))),
        });
    let method_ok = args.method.as_deref().is_none_or(|wanted| {
        model.methods.iter().any(|m| same(m, wanted))
            || model_kinds
                .iter()
                .any(|k| method_of(*k).is_some_and(|m| same(m, wanted)))
    });
    let feature_ok = args
        .feature
        .as_deref()
        .is_none_or(|wanted| model.capabilities.iter().any(|c| same(c, wanted)));
    type_ok
        && method_ok
        && feature_ok
        && args.capability.is_none_or(|c| model_kinds.contains(&c))
        && search.is_none_or(|s| model.id.to_lowercase().contains(s))
}

#[tool_router(router = models_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "list_models",
        description = "List the AI models this AI Pass account can use now, each with its capability (chat, image, image_edit, tts, transcription, embedding, video, other) and the catalogue's type, methods and capabilities. Filter by these or by id text; `id` shows one model. Free.",
        input_schema = input_schema::<ListModelsArgs>(),
        output_schema = output_schema::<ListModelsOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "List AI models", read_only_hint = true, open_world_hint = true)
    )]
    async fn list_models(&self, call: Call) -> CallToolResult {
        self.run(call, Self::list_models_impl).await
    }
}

impl AipassServer {
    async fn list_models_impl(
        &self,
        args: ListModelsArgs,
        _call: CallScope,
    ) -> ToolResult<CallToolResult> {
        if let Some(id) = args
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            return self.model_details(id).await;
        }
        let search = args.search.as_deref().map(str::to_lowercase);
        let filters: Vec<(&str, &str)> = [
            ("type", args.model_type.as_deref()),
            ("method", args.method.as_deref()),
            ("capability", args.feature.as_deref()),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key, value?.trim())).filter(|(_, v)| !v.is_empty()))
        .collect();
        // Filtered lists come from the server each time; the cache holds the whole list.
        let listed = if filters.is_empty() {
            self.state.models.models().await?
        } else {
            std::sync::Arc::new(self.state.api.list_models(&filters).await?)
        };
        let models: Vec<ModelEntry> = listed
            .iter()
            .filter(|m| matches(m, &args, search.as_deref()))
            .map(ModelEntry::of)
            .collect();
        let text = if models.is_empty() {
            "No models match.".to_string()
        } else {
            let lines: Vec<String> = models.iter().map(ModelEntry::line).collect();
            format!("{} models: {}", models.len(), lines.join(", "))
        };
        let output = ListModelsOutput {
            models,
            details: None,
        };
        Ok(success(text, &output, Vec::new()))
    }

    async fn model_details(&self, id: &str) -> ToolResult<CallToolResult> {
        let model = self.state.api.get_model(id).await?;
        let entry = ModelEntry::of(&model);
        let details = match serde_json::to_value(&model) {
            Ok(serde_json::Value::Object(details)) => details,
            _ => serde_json::Map::new(),
        };
        let text = format!(
            "{}: {}",
            entry.line(),
            serde_json::Value::Object(details.clone())
        );
        let output = ListModelsOutput {
            models: vec![entry],
            details: Some(details),
        };
        Ok(success(text, &output, Vec::new()))
    }
}
