//! The failures a tool call answers with: a stable [`ErrorCode`] and a message for the agent.
//! It sits below every other layer (api, media, models, saved files, tools), so each can fail
//! in the agent's words without importing the tools; the instructions, docs/tools.md and the
//! tests read the codes from [`ErrorCode::ALL`].

use rmcp::model::{CallToolResult, ContentBlock as Content};
use serde::Serialize;

/// The stable codes a failed tool result starts with (`<code>: <message>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    AuthRequired,
    BudgetExceeded,
    RateLimited,
    InvalidInput,
    ModelNotFound,
    UpstreamError,
    Timeout,
    Cancelled,
}

impl ErrorCode {
    /// Every code, in the order the docs list them.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::AuthRequired,
        ErrorCode::BudgetExceeded,
        ErrorCode::RateLimited,
        ErrorCode::InvalidInput,
        ErrorCode::ModelNotFound,
        ErrorCode::UpstreamError,
        ErrorCode::Timeout,
        ErrorCode::Cancelled,
    ];

    /// The code as it starts a message (`auth_required`); the same word serde writes.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AuthRequired => "auth_required",
            ErrorCode::BudgetExceeded => "budget_exceeded",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::ModelNotFound => "model_not_found",
            ErrorCode::UpstreamError => "upstream_error",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Cancelled => "cancelled",
        }
    }

    /// What the code means, for docs/tools.md.
    pub const fn meaning(self) -> &'static str {
        match self {
            ErrorCode::AuthRequired => "no usable AI Pass token",
            ErrorCode::BudgetExceeded => {
                "the account's budget cannot pay for this call (the API's message is included)"
            }
            ErrorCode::RateLimited => {
                "AI Pass asked to slow down, and the server's own waits (up to 2, each at most \
                 `AIPASS_MAX_RETRY_WAIT`) did not help"
            }
            ErrorCode::InvalidInput => "an argument, file or URL is wrong, missing or too large",
            ErrorCode::ModelNotFound => "no such model, or none of the needed kind",
            ErrorCode::UpstreamError => {
                "AI Pass failed or answered something unusable (status and message included)"
            }
            ErrorCode::Timeout => "AI Pass did not answer in time",
            ErrorCode::Cancelled => "the client cancelled the call; it saved nothing",
        }
    }

    /// What an agent should do about it, for docs/tools.md.
    pub const fn remedy(self) -> &'static str {
        match self {
            ErrorCode::AuthRequired => "sign in (the message says how)",
            ErrorCode::BudgetExceeded => "top up, or call `balance`",
            ErrorCode::RateLimited => "wait the seconds it gives, then retry",
            ErrorCode::InvalidInput => "fix the argument named",
            ErrorCode::ModelNotFound => "call `list_models`",
            ErrorCode::UpstreamError => {
                "retry later; a paid call that may have been charged is never retried automatically"
            }
            ErrorCode::Timeout => "retry later, or raise `AIPASS_REQUEST_TIMEOUT`",
            ErrorCode::Cancelled => "call again if the result is still wanted",
        }
    }

    /// How a message with this code starts: the code and its colon (`auth_required:`).
    pub fn prefix(self) -> String {
        format!("{}:", self.as_str())
    }

    /// The code a failed tool result's text starts with, when it is a stable one.
    pub fn of_message(text: &str) -> Option<ErrorCode> {
        let code = text.split(':').next().unwrap_or_default();
        Self::ALL.into_iter().find(|known| known.as_str() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure an agent can act on: shown as an `isError` result whose text starts with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ToolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UpstreamError, message)
    }

    /// The result the agent sees: `code: message`.
    pub fn into_result(self) -> CallToolResult {
        CallToolResult::error(vec![Content::text(format!(
            "{}: {}",
            self.code, self.message
        ))])
    }
}

pub type ToolResult<T> = Result<T, ToolError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_the_words_messages_start_with() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
            assert_eq!(ErrorCode::of_message(&format!("{code}: x")), Some(code));
        }
        assert_eq!(ErrorCode::of_message("nonsense: x"), None);
    }
}
