//! Strict request-body reading: JSON objects and multipart forms, with errors that name the field.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON request body (must be `application/json` and an object).
pub(crate) struct JsonBody(pub Map<String, Value>);

impl JsonBody {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<JsonBody, ApiError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::invalid(format!(
                "Content-Type must be application/json (got '{content_type}')"
            )));
        }
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => Ok(JsonBody(map)),
            Ok(_) => Err(ApiError::invalid("The request body must be a JSON object")),
            Err(e) => Err(ApiError::invalid(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    /// Refuses a field outside `known` (OpenAI's parameters for the endpoint), as the proxy does
    /// for parameters no provider takes, so a misspelled field fails instead of being ignored.
    pub fn only(self, known: &[&str]) -> Result<JsonBody, ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(ApiError::invalid(format!(
                "Unrecognized request argument supplied: {unknown}"
            ))),
            None => Ok(self),
        }
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    pub fn required_str(&self, field: &str) -> Result<&str, ApiError> {
        match self.get(field) {
            None => Err(ApiError::missing(field)),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(ApiError::invalid(format!("'{field}' must not be empty")))
            }
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(wrong_type(field, "a string")),
        }
    }

    pub fn optional_str(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(field, "a string")),
        }
    }

    pub fn optional_u64(&self, field: &str) -> Result<Option<u64>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong_type(field, "a non-negative integer")),
        }
    }

    pub fn optional_f64(&self, field: &str) -> Result<Option<f64>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| wrong_type(field, "a number")),
        }
    }

    pub fn optional_bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| wrong_type(field, "a boolean")),
        }
    }
}

pub(crate) fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

pub(crate) fn wrong_type(field: &str, expected: &str) -> ApiError {
    ApiError::invalid(format!("Invalid type for '{field}': expected {expected}"))
}

/// One part of a multipart form.
pub(crate) struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub data: Bytes,
}

/// A whole multipart form read into memory (bodies are capped by `DefaultBodyLimit`).
pub(crate) struct Form(pub Vec<Part>);

impl Form {
    pub async fn read(multipart: Result<Multipart, MultipartRejection>) -> Result<Form, ApiError> {
        let mut multipart = multipart.map_err(|e| {
            ApiError::invalid(format!(
                "Expected a multipart/form-data body: {}",
                e.body_text()
            ))
        })?;
        let mut parts = Vec::new();
        loop {
            let field = multipart.next_field().await.map_err(multipart_error)?;
            let Some(field) = field else { break };
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let data = field.bytes().await.map_err(multipart_error)?;
            parts.push(Part {
                name,
                file_name,
                data,
            });
        }
        Ok(Form(parts))
    }

    pub fn all(&self, name: &str) -> Vec<&Part> {
        self.0.iter().filter(|p| p.name == name).collect()
    }

    pub fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.all(name).first() {
            None => Ok(None),
            Some(part) => String::from_utf8(part.data.to_vec())
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("'{name}' must be UTF-8 text"))),
        }
    }

    pub fn required_text(&self, name: &str) -> Result<String, ApiError> {
        match self.text(name)? {
            None => Err(ApiError::missing(name)),
            Some(s) if s.trim().is_empty() => {
                Err(ApiError::invalid(format!("'{name}' must not be empty")))
            }
            Some(s) => Ok(s),
        }
    }

    pub fn optional_u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.text(name)?
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|_| wrong_type(name, "a non-negative integer"))
            })
            .transpose()
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    let status = e.status();
    let mut error = ApiError::invalid(format!(
        "Could not read the multipart body: {}",
        e.body_text()
    ));
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        error.status = status;
    }
    error
}
