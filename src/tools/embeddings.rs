//! `embed`: embedding vectors for one or more texts, written to a JSON file (never inline: they
//! would flood the agent's context).

use crate::error::ErrorCode;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::call::{Call, CallScope};
use super::{ToolError, ToolResult, file_link, input_schema, output_schema, success};
use crate::api::types::{EmbeddingInput, EmbeddingRequest, Vector};
use crate::media::{self, OutputFile};
use crate::models::Capability;
use crate::state::AipassServer;

/// Texts one call may embed.
const MAX_INPUTS: usize = 2048;

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TextOrTexts {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedArgs {
    /// A text or a list of texts to embed.
    pub input: TextOrTexts,
    /// Model id; omitted = a suitable one from list_models.
    pub model: Option<String>,
    /// Folder for the JSON file; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct EmbedOutput {
    /// The model used.
    pub model: String,
    /// How many vectors.
    pub count: usize,
    /// Length of each vector.
    pub dimensions: usize,
    /// The JSON file with `inputs` and `embeddings` (same order).
    pub files: Vec<OutputFile>,
}

/// What the JSON file holds. The vectors are spliced in as the API wrote them.
#[derive(Serialize)]
struct EmbeddingsFile<'a> {
    model: &'a str,
    dimensions: usize,
    inputs: &'a [String],
    embeddings: Vec<&'a Vector>,
}

#[tool_router(router = embeddings_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "embed",
        description = "Compute embedding vectors for a text or a list of texts. The vectors are written to a JSON file (inputs and embeddings in the same order); the result gives its path, the count and the dimensions. Spends AI Pass budget.",
        input_schema = input_schema::<EmbedArgs>(),
        output_schema = output_schema::<EmbedOutput>(),
        annotations(title = "Embed texts", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn embed(&self, call: Call) -> CallToolResult {
        self.run(call, Self::embed_impl).await
    }
}

impl AipassServer {
    async fn embed_impl(&self, args: EmbedArgs, _call: CallScope) -> ToolResult<CallToolResult> {
        let inputs = match args.input {
            TextOrTexts::One(text) => vec![text],
            TextOrTexts::Many(texts) => texts,
        };
        if inputs.is_empty() || inputs.len() > MAX_INPUTS {
            return Err(ToolError::invalid_input(format!(
                "input must hold 1 to {MAX_INPUTS} texts"
            )));
        }
        if inputs.iter().any(|t| t.trim().is_empty()) {
            return Err(ToolError::invalid_input("input texts must not be empty"));
        }
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let model = self
            .state
            .models
            .choose(args.model.as_deref(), Capability::Embedding)
            .await?;
        let request = EmbeddingRequest {
            model: model.clone(),
            input: EmbeddingInput::Many(inputs.clone()),
        };
        // The file is opened while the request is out, so only writing it waits for the answer.
        let (file, response) = tokio::join!(
            media::NewFile::open(&dir),
            self.state.api.embeddings(&request)
        );
        let mut response = response?;
        let file = file?;
        if response.data.len() != inputs.len() {
            return Err(ToolError {
                code: ErrorCode::UpstreamError,
                message: format!(
                    "AI Pass returned {} vectors for {} inputs",
                    response.data.len(),
                    inputs.len()
                ),
            });
        }
        response.data.sort_by_key(|e| e.index);
        let embeddings: Vec<&Vector> = response.data.iter().map(|e| &e.embedding).collect();
        let dimensions = embeddings.first().map_or(0, |v| v.len());
        // Sized up front: the vectors are copied once, into the file's bytes, and never moved.
        let size = embeddings.iter().map(|v| v.json().len() + 1).sum::<usize>()
            + inputs.iter().map(|t| t.len() + 8).sum::<usize>()
            + model.len()
            + 64;
        let mut json = Vec::with_capacity(size);
        let document = EmbeddingsFile {
            model: &model,
            dimensions,
            inputs: &inputs,
            embeddings,
        };
        serde_json::to_writer(&mut json, &document).map_err(|e| ToolError {
            code: ErrorCode::UpstreamError,
            message: format!("could not encode the vectors: {e}"),
        })?;
        drop(response);
        let base = media::base_name("embeddings", &inputs[0]);
        let file = file.save(&base, "json", "application/json", json).await?;
        let text = format!(
            "Embedded {} text(s) with {model} ({dimensions} dimensions); vectors saved to {}",
            inputs.len(),
            file.path
        );
        let links = vec![file_link(&file)];
        let output = EmbedOutput {
            model,
            count: inputs.len(),
            dimensions,
            files: vec![file],
        };
        Ok(success(text, &output, links))
    }
}
