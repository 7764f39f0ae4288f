//! `POST /embeddings`: deterministic, L2-normalised vectors derived from a hash of each input.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::input::{JsonBody, wrong_type};
use crate::media::seed;
use crate::models::{self, Kind};
use crate::state::AppState;

const COST_PER_INPUT: f64 = 0.0001;

fn native_dimensions(model: &str) -> usize {
    if model.ends_with("-large") {
        3072
    } else {
        1536
    }
}

/// SplitMix64: tiny, stable across crate versions, so vectors never change between releases.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Same text, same vector; components in [-1, 1), then scaled to unit length.
pub(crate) fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let digest = seed(text);
    let mut state = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
    let mut vector: Vec<f32> = (0..dimensions)
        .map(|_| (splitmix(&mut state) >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

fn read_inputs(input: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let inputs = match input {
        None => return Err(ApiError::missing("input")),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| wrong_type("input", "a string or an array of strings"))?,
        Some(_) => return Err(wrong_type("input", "a string or an array of strings")),
    };
    if inputs.is_empty() {
        return Err(ApiError::invalid("'input' must not be empty"));
    }
    if let Some(i) = inputs.iter().position(|s| s.trim().is_empty()) {
        return Err(ApiError::invalid(format!("'input[{i}]' must not be empty")));
    }
    Ok(inputs)
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = JsonBody::parse(&headers, &body)?.only(&[
        "model",
        "input",
        "encoding_format",
        "dimensions",
        "user",
    ])?;
    let model = body.required_str("model")?.to_string();
    models::check(&state, &model, Kind::Embedding)?;
    let inputs = read_inputs(body.get("input"))?;
    caller.summarize(json!({"model": model, "inputs": inputs.len()}));
    let native = native_dimensions(&model);
    let dimensions = match body.optional_u64("dimensions")? {
        None => native,
        Some(d) if (1..=native as u64).contains(&d) => d as usize,
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "'dimensions' must be between 1 and {native} for {model}"
            )));
        }
    };
    let base64 = match body.optional_str("encoding_format")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "'encoding_format' '{other}' is not one of float, base64"
            )));
        }
    };

    let charge = state.reserve(COST_PER_INPUT * inputs.len() as f64)?;
    let tokens: usize = inputs.iter().map(|s| s.split_whitespace().count()).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embed(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    charge.commit();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_and_unit_length() {
        let a = embed("hello", 1536);
        assert_eq!(a, embed("hello", 1536));
        assert_ne!(a, embed("world", 1536));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
