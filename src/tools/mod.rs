//! The MCP tools, one file per family, and what they share: argument parsing, schemas, results.

pub mod account;
pub mod args;
pub mod audio;
pub mod call;
pub mod chat;
pub mod embeddings;
pub mod images;
pub mod models;
pub mod progress;
pub mod sign_in;
pub mod video;

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock as Content, JsonObject, Resource};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::media::OutputFile;

pub use crate::error::{ToolError, ToolResult};

/// Turns the arguments object into `T`, reporting any mismatch as `invalid_input`
/// (a tool result the agent can correct, not a protocol error).
pub fn parse_args<T: DeserializeOwned>(arguments: JsonObject) -> ToolResult<T> {
    serde_json::from_value(serde_json::Value::Object(arguments))
        .map_err(|e| ToolError::invalid_input(format!("bad arguments: {e}")))
}

/// A successful result: `structuredContent` plus a short text for people and older clients,
/// and any extra blocks (resource links, previews).
pub fn success<T: Serialize>(text: String, value: &T, extra: Vec<Content>) -> CallToolResult {
    let structured = match serde_json::to_value(value) {
        Ok(structured) => structured,
        Err(e) => {
            return ToolError::upstream(format!("could not encode the result: {e}")).into_result();
        }
    };
    let mut content = vec![Content::text(text)];
    content.extend(extra);
    let mut result = CallToolResult::success(content);
    result.structured_content = Some(structured);
    result
}

/// A `resource_link` block for a file the tool wrote.
pub fn file_link(file: &OutputFile) -> Content {
    let name = std::path::Path::new(&file.path)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.path.clone());
    let uri = url::Url::from_file_path(&file.path)
        .map(String::from)
        .unwrap_or_else(|()| format!("file://{}", file.path));
    Content::resource_link(
        Resource::new(uri, name)
            .with_mime_type(file.mime_type.clone())
            .with_size(file.bytes),
    )
}

/// Input schema for `T`, made plain for picky clients: no `["T","null"]` unions.
pub fn input_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let schema = rmcp::handler::server::common::schema_for_input::<T>()
        .unwrap_or_else(|e| panic!("input schema of {}: {e}", std::any::type_name::<T>()));
    Arc::new(args::plain_schema(schema.as_ref().clone()))
}

/// Output schema for `T`, made plain the same way and without descriptions: every
/// catalogue entry is read into every agent session, and the tool's description and the
/// result's text already say what comes back.
pub fn output_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let schema = rmcp::handler::server::common::schema_for_output::<T>();
    let mut plain = args::plain_schema(schema.as_ref().clone());
    args::strip_key(&mut plain, "description");
    Arc::new(plain)
}
