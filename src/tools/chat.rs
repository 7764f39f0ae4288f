//! `chat`: a chat completion from any chat model, with images for vision; streamed from the API.

use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::call::{Call, CallScope};
use super::{ToolError, ToolResult, args, input_schema, output_schema, success};
use crate::api::types::{ChatMessage, ChatRequest, ContentPart, ImageUrl, MessageContent, Usage};
use crate::media::{self, VISION_MIME_TYPES};
use crate::models::{Capability, Need};
use crate::state::AipassServer;

/// Images one chat call may attach.
const MAX_IMAGES: usize = 16;

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ChatArgs {
    /// The user's message. Give this or `messages`.
    pub prompt: Option<String>,
    /// Earlier turns, oldest first; `prompt`, when also given, is added as the last user turn.
    pub messages: Option<Vec<ChatTurn>>,
    /// System instruction.
    pub system: Option<String>,
    /// Model id; omitted = a suitable one from list_models.
    pub model: Option<String>,
    /// Images for vision, attached to the last user turn: local paths, http(s) URLs or data: URIs (JPEG, PNG, GIF, WebP).
    pub images: Option<Vec<String>>,
    /// Upper bound on the reply length, in tokens.
    #[serde(default, deserialize_with = "args::opt_u32")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, deserialize_with = "args::opt_f32")]
    pub temperature: Option<f32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatTurn {
    pub role: Role,
    pub content: String,
}

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ChatOutput {
    /// The reply.
    pub text: String,
    /// The model that answered.
    pub model: String,
    /// Why the reply ended: stop, length, … or incomplete when the stream broke off.
    pub finish_reason: String,
    /// Token counts, when the API reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[tool_router(router = chat_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "chat",
        description = "Ask any chat model (GPT, Claude, Gemini, …) through AI Pass and get its reply. Give `prompt` or `messages`; add `images` (paths, URLs or data URIs) for vision. Returns the text, the model, finish_reason and token usage. Spends AI Pass budget.",
        input_schema = input_schema::<ChatArgs>(),
        output_schema = output_schema::<ChatOutput>(),
        annotations(title = "Chat with a model", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn chat(&self, call: Call) -> CallToolResult {
        self.run(call, Self::chat_impl).await
    }
}

impl AipassServer {
    async fn chat_impl(&self, args: ChatArgs, call: CallScope) -> ToolResult<CallToolResult> {
        if args.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(ToolError::invalid_input(
                "temperature must be between 0 and 2",
            ));
        }
        if args.max_tokens == Some(0) {
            return Err(ToolError::invalid_input("max_tokens must be at least 1"));
        }
        let images = args.images.clone().unwrap_or_default();
        if images.len() > MAX_IMAGES {
            return Err(ToolError::invalid_input(format!(
                "at most {MAX_IMAGES} images per call"
            )));
        }
        let mut messages = build_messages(&args)?;
        if !images.is_empty() {
            let parts = self.vision_parts(&images).await?;
            attach_images(&mut messages, parts);
        }
        let model = self
            .state
            .models
            .choose(
                args.model.as_deref(),
                if images.is_empty() {
                    Need::Kind(Capability::Chat)
                } else {
                    Need::Vision
                },
            )
            .await?;
        let request = ChatRequest {
            model: model.clone(),
            messages,
            max_tokens: args.max_tokens,
            temperature: args.temperature,
        };
        let reply = self
            .state
            .api
            .chat_stream(&request, &mut |delta: &str| {
                call.activity.add_characters(delta.chars().count())
            })
            .await?;
        let finish_reason = if reply.complete {
            reply.finish_reason.unwrap_or_else(|| "stop".into())
        } else {
            "incomplete".into()
        };
        let model = if reply.model.is_empty() {
            model
        } else {
            reply.model
        };
        let mut text = reply.text.clone();
        if finish_reason == "incomplete" {
            match &reply.stopped_by {
                Some(reason) => text.push_str(&format!(
                    "\n\n[incomplete: AI Pass ended the stream with an error ({reason}); this is the part that arrived]"
                )),
                None => text.push_str("\n\n[incomplete: the stream from AI Pass broke off; this is the part that arrived]"),
            }
        }
        let output = ChatOutput {
            text: reply.text,
            model,
            finish_reason,
            usage: reply.usage,
        };
        Ok(success(text, &output, Vec::new()))
    }

    /// Loads each image, checks its type and shrinks it to about 800 KB, as `image_url` parts.
    async fn vision_parts(&self, images: &[String]) -> ToolResult<Vec<ContentPart>> {
        let mut parts = Vec::with_capacity(images.len());
        for spec in images {
            let loaded =
                media::load_input(&self.state.fetcher, spec, media::MAX_IMAGE_BYTES).await?;
            if !VISION_MIME_TYPES.contains(&loaded.mime_type.as_str()) {
                return Err(ToolError::invalid_input(format!(
                    "'{}' is not a JPEG, PNG, GIF or WebP image",
                    loaded.file_name
                )));
            }
            let shrunk = tokio::task::spawn_blocking(move || media::shrink_for_vision(loaded))
                .await
                .map_err(|e| ToolError::invalid_input(format!("image processing failed: {e}")))??;
            parts.push(ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: media::data_uri(&shrunk),
                },
            });
        }
        Ok(parts)
    }
}

fn build_messages(args: &ChatArgs) -> ToolResult<Vec<ChatMessage>> {
    let mut messages = Vec::new();
    if let Some(system) = args.system.as_deref().filter(|s| !s.trim().is_empty()) {
        messages.push(text_message("system", system));
    }
    for turn in args.messages.iter().flatten() {
        messages.push(text_message(turn.role.as_str(), &turn.content));
    }
    if let Some(prompt) = args.prompt.as_deref().filter(|p| !p.trim().is_empty()) {
        messages.push(text_message("user", prompt));
    }
    if !messages.iter().any(|m| m.role == "user") {
        return Err(ToolError::invalid_input(
            "give `prompt` (text) or `messages` with at least one user turn",
        ));
    }
    Ok(messages)
}

fn text_message(role: &str, text: &str) -> ChatMessage {
    ChatMessage {
        role: role.to_string(),
        content: MessageContent::Text(text.to_string()),
    }
}

/// Turns the last user message into text + image parts.
fn attach_images(messages: &mut [ChatMessage], images: Vec<ContentPart>) {
    let Some(last_user) = messages.iter_mut().rev().find(|m| m.role == "user") else {
        return;
    };
    let text = match &last_user.content {
        MessageContent::Text(text) => text.clone(),
        MessageContent::Parts(_) => String::new(),
    };
    let mut parts = vec![ContentPart::Text { text }];
    parts.extend(images);
    last_user.content = MessageContent::Parts(parts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_follows_history_and_system_comes_first() {
        let args: ChatArgs = serde_json::from_value(serde_json::json!({
            "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "prompt": "and now?"
        }))
        .unwrap();
        let roles: Vec<String> = build_messages(&args)
            .unwrap()
            .into_iter()
            .map(|m| m.role)
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
    }

    #[test]
    fn a_user_turn_is_required() {
        let args: ChatArgs = serde_json::from_value(serde_json::json!({"system": "x"})).unwrap();
        assert_eq!(
            build_messages(&args).unwrap_err().code,
            crate::error::ErrorCode::InvalidInput
        );
    }
}
