//! `list_models`: the models available now, by capability.

use rmcp::model::{CallToolResult, JsonObject};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
}

#[tool_router(router = models_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "list_models",
        description = "List the AI models this AI Pass account can use now, each with its capability (chat, image, image_edit, tts, transcription, embedding, video, other). Filter by capability or by text in the id. Free.",
        input_schema = input_schema::<ListModelsArgs>(),
        output_schema = output_schema::<ListModelsOutput>(),
        annotations(title = "List AI models", read_only_hint = true, open_world_hint = true)
    )]
    async fn list_models(&self, arguments: JsonObject) -> CallToolResult {
        finish(self.list_models_impl(arguments).await)
    }
}

impl AipassServer {
    async fn list_models_impl(&self, arguments: JsonObject) -> ToolResult<CallToolResult> {
        let args: ListModelsArgs = parse_args(arguments)?;
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
        Ok(success(text, &ListModelsOutput { models }, Vec::new()))
    }
}
