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

/// The stable error codes a failed tool result starts with (`<code>: <message>`).
// The one copy in the tests; to be the library's own `ErrorCode` once it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidInput,
    ModelNotFound,
    BudgetExceeded,
    RateLimited,
    UpstreamError,
    Timeout,
    AuthRequired,
    Cancelled,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::InvalidInput,
        ErrorCode::ModelNotFound,
        ErrorCode::BudgetExceeded,
        ErrorCode::RateLimited,
        ErrorCode::UpstreamError,
        ErrorCode::Timeout,
        ErrorCode::AuthRequired,
        ErrorCode::Cancelled,
    ];

    /// The code as it starts a message (`auth_required`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::ModelNotFound => "model_not_found",
            ErrorCode::BudgetExceeded => "budget_exceeded",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UpstreamError => "upstream_error",
            ErrorCode::Timeout => "timeout",
            ErrorCode::AuthRequired => "auth_required",
            ErrorCode::Cancelled => "cancelled",
        }
    }

    /// How a message with this code starts: the code and its colon (`auth_required:`).
    pub fn prefix(self) -> String {
        format!("{}:", self.as_str())
    }
}

/// Every stable code, as text.
pub const ERROR_CODES: [&str; 8] = [
    "invalid_input",
    "model_not_found",
    "budget_exceeded",
    "rate_limited",
    "upstream_error",
    "timeout",
    "auth_required",
    "cancelled",
];

/// The code a failed tool result's text starts with, when it is a stable one.
pub fn error_code(text: &str) -> Option<ErrorCode> {
    let code = text.split(':').next().unwrap_or_default();
    ErrorCode::ALL
        .into_iter()
        .find(|known| known.as_str() == code)
}
