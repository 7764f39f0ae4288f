//! OpenAI-style JSON errors (`{"error":{"message","type","code"}}`) used by every API endpoint.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            code,
        }
    }

    /// 400 `invalid_request_error`: a malformed or missing argument.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            message,
        )
    }

    pub fn missing(field: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("missing_required_parameter"),
            format!("Missing required parameter: '{field}'."),
        )
    }

    pub fn unauthorized() -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Some("invalid_token"),
            "Invalid or expired access token",
        )
    }

    pub fn insufficient_scope(scope: &str) -> ApiError {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            Some("insufficient_scope"),
            format!("insufficient_scope: {scope} required"),
        )
    }

    pub fn model_not_found(model: &str) -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!("Model '{model}' not found"),
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("not_found"),
            message,
        )
    }

    pub fn budget_exceeded(left: f64, needed: f64) -> ApiError {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "budget_exceeded",
            Some("budget_exceeded"),
            format!(
                "Budget exceeded: ${left:.2} left, this request needs ${needed:.2}. \
                 Add funds at https://aipass.one/panel"
            ),
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            None,
            message,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "message": self.message, "type": self.kind, "code": self.code }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;
