//! `list_models`: the models available now, by capability.

use rmcp::RoleServer;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::progress::supervise;
use super::{ToolResult, finish, input_schema, output_schema, parse_args, success};
use crate::models::{Capability, classify};
use crate::server::AipassServer;

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ListModelsArgs {
    /// Only models with this capability.
    pub capability: Option<Capability>,
    /// Only ids containing this text (case-insensitive).
    pub search: Option<String>,
    /// One model's id: show its details from AI Pass.
    pub id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ModelEntry {
    /// Model id to pass as `model` to the other tools.
    pub id: String,
    /// What the model is for.
    pub capability: Capability,
}

#[derive(Serialize, JsonSchema)]
pub struct ListModelsOutput {
    pub models: Vec<ModelEntry>,
    /// With `id`: everything AI Pass says about that model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

#[tool_router(router = models_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "list_models",
        description = "List the AI models this AI Pass account can use now, each with its capability (chat, image, image_edit, tts, transcription, embedding, video, other). Filter by capability or by text in the id; give `id` for one model's details. Free.",
        input_schema = input_schema::<ListModelsArgs>(),
        output_schema = output_schema::<ListModelsOutput>(),
        annotations(title = "List AI models", read_only_hint = true, open_world_hint = true)
    )]
    async fn list_models(
        &self,
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let activity = self.activity("list_models");
        finish(supervise(&context, &activity, self.list_models_impl(arguments)).await)
    }
}

impl AipassServer {
    async fn list_models_impl(&self, arguments: JsonObject) -> ToolResult<CallToolResult> {
        let args: ListModelsArgs = parse_args(arguments)?;
        if let Some(id) = args
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            return self.model_details(id).await;
        }
        let search = args.search.as_deref().map(str::to_lowercase);
        let ids = self.state.models.ids().await?;
        let models: Vec<ModelEntry> = ids
            .iter()
            .map(|id| ModelEntry {
                id: id.clone(),
                capability: classify(id),
            })
            .filter(|m| args.capability.is_none_or(|c| m.capability == c))
            .filter(|m| {
                search
                    .as_deref()
                    .is_none_or(|s| m.id.to_lowercase().contains(s))
            })
            .collect();
        let text = if models.is_empty() {
            "No models match.".to_string()
        } else {
            let lines: Vec<String> = models
                .iter()
                .map(|m| format!("{} ({})", m.id, m.capability.as_str()))
                .collect();
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
        let capability = classify(&model.id);
        let details = match serde_json::to_value(&model) {
            Ok(serde_json::Value::Object(details)) => details,
            _ => serde_json::Map::new(),
        };
        let text = format!(
            "{} ({}): {}",
            model.id,
            capability.as_str(),
            serde_json::Value::Object(details.clone())
        );
        let output = ListModelsOutput {
            models: vec![ModelEntry {
                id: model.id,
                capability,
            }],
            details: Some(details),
        };
        Ok(success(text, &output, Vec::new()))
    }
}
