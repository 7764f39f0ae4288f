//! Contract facts the tests check, read from the library where it states them, so a test never
//! keeps its own copy of a list that can drift.

use aipass_mcp::server::AipassServer;

/// Every tool's name, from the server's router (the catalogue `tools/list` returns).
pub fn tool_names() -> Vec<String> {
    AipassServer::catalogue()
        .into_iter()
        .map(|tool| tool.name.into_owned())
        .collect()
}

/// The tools that spend budget, as the library states it (the end of each description).
pub fn paid_tools() -> Vec<String> {
    AipassServer::catalogue()
        .into_iter()
        .filter(aipass_mcp::catalogue::spends_budget)
        .map(|tool| tool.name.into_owned())
        .collect()
}

/// The tools whose results the MCP Apps view shows, as each tool's own metadata states it.
pub fn view_tools() -> Vec<String> {
    aipass_mcp::catalogue::router()
        .list_all()
        .into_iter()
        .filter(aipass_mcp::ui::shows_results_of)
        .map(|tool| tool.name.into_owned())
        .collect()
}

/// The stable error codes a failed tool result starts with (`<code>: <message>`): the library's.
pub use aipass_mcp::error::ErrorCode;

/// Every stable code, as text.
pub fn error_codes() -> Vec<&'static str> {
    ErrorCode::ALL.iter().map(|code| code.as_str()).collect()
}

/// The code a failed tool result's text starts with, when it is a stable one.
pub fn error_code(text: &str) -> Option<ErrorCode> {
    ErrorCode::of_message(text)
}
