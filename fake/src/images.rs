//! `POST /images/generations`, `/images/edits` and `/images/variations`: real PNGs, answered as URL
//! or base64 depending on the provider, as the API documentation warns.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::clock::unix_now;
use crate::error::{ApiError, ApiResult};
use crate::input::{Form, JsonBody};
use crate::media::{ImageInfo, parse_size, render_png, seed};
use crate::models::{self, ImageAnswer, Kind};
use crate::state::AppState;
use crate::types::Catalogue;

const GENERATION_COST: f64 = 0.04;
const EDIT_COST: f64 = 0.05;
const VARIATION_COST: f64 = 0.04;
const MAX_EDIT_IMAGES: usize = 16;
const DEFAULT_VARIATION_MODEL: &str = "openai/gpt-image-2";

/// How one answer carries its images.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Url,
    ForeignUrl,
    DataUrl,
    Base64,
    UnpaddedBase64,
}

/// `response_format` must be valid, but many providers ignore it (as the API documentation
/// warns): each catalogue entry says how its model answers.
fn output_format(
    state: &AppState,
    model: &str,
    requested: Option<&str>,
) -> Result<Format, ApiError> {
    let requested = match requested {
        None | Some("url") => Format::Url,
        Some("b64_json") => Format::Base64,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "'response_format' '{other}' is not one of url, b64_json"
            )));
        }
    };
    let answer = models::find(state, model).map_or(ImageAnswer::AsAsked, |m| m.image_answer);
    Ok(match answer {
        ImageAnswer::AsAsked => requested,
        ImageAnswer::AlwaysUrl => Format::Url,
        ImageAnswer::ForeignUrl => Format::ForeignUrl,
        ImageAnswer::DataUrl => Format::DataUrl,
        ImageAnswer::AlwaysBase64 => Format::Base64,
        ImageAnswer::UnpaddedBase64 => Format::UnpaddedBase64,
    })
}

fn check_n(n: Option<u64>) -> Result<u32, ApiError> {
    match n {
        None => Ok(1),
        Some(n @ 1..=10) => Ok(n as u32),
        Some(_) => Err(ApiError::invalid("'n' must be between 1 and 10")),
    }
}

/// What to render; the same for all three endpoints.
struct Output {
    model: String,
    prompt: String,
    n: u32,
    size: (u32, u32),
    format: Format,
}

/// Renders the images off the async threads and shapes `{"created","data":[...]}`.
async fn render(state: &AppState, out: Output) -> ApiResult<Json<Value>> {
    let Output {
        model,
        prompt,
        n,
        size: (width, height),
        format,
    } = out;
    let seed_text = format!("{model}\n{prompt}");
    let pngs = tokio::task::spawn_blocking(move || {
        (0..n)
            .map(|i| render_png(width, height, &seed(&format!("{seed_text}\n{i}"))))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::internal(format!("image rendering failed: {e}")))?;
    let data: Vec<Value> = pngs
        .into_iter()
        .map(|png| match format {
            Format::Base64 => json!({"b64_json": STANDARD.encode(&png), "revised_prompt": prompt}),
            Format::UnpaddedBase64 => {
                json!({"b64_json": STANDARD_NO_PAD.encode(&png), "revised_prompt": prompt})
            }
            Format::Url => json!({"url": state.store_file("png", png), "revised_prompt": prompt}),
            Format::ForeignUrl => json!({"url": state.store_foreign_file("png", png)}),
            Format::DataUrl => {
                json!({"url": format!("data:image/png;base64,{}", STANDARD.encode(&png))})
            }
        })
        .collect();
    Ok(Json(json!({"created": unix_now(), "data": data})))
}

pub(crate) async fn generations(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = JsonBody::parse(&headers, &body)?.only(&[
        "model",
        "prompt",
        "size",
        "n",
        "response_format",
        "quality",
        "style",
        "user",
    ])?;
    let model = body.required_str("model")?.to_string();
    let prompt = body.required_str("prompt")?.to_string();
    let size_text = body
        .optional_str("size")?
        .unwrap_or("1024x1024")
        .to_string();
    let n = body.optional_u64("n")?;
    let response_format = body.optional_str("response_format")?.map(str::to_string);
    caller.summarize(json!({
        "model": model, "prompt": prompt, "n": n.unwrap_or(1),
        "size": size_text, "response_format": response_format,
    }));
    models::check(&state, &model, Kind::ImageGeneration)?;
    let size = parse_size("size", &size_text)?;
    let n = check_n(n)?;
    let format = output_format(&state, &model, response_format.as_deref())?;

    let charge = state.reserve(GENERATION_COST * n as f64)?;
    let response = render(
        &state,
        Output {
            model,
            prompt,
            n,
            size,
            format,
        },
    )
    .await?;
    charge.commit();
    Ok(response)
}

/// `size`, `n` and `response_format` as the two multipart endpoints take them.
fn form_options(
    state: &AppState,
    form: &Form,
    model: &str,
    default_size: (u32, u32),
) -> Result<(u32, (u32, u32), Format), ApiError> {
    let n = check_n(form.optional_u64("n")?)?;
    let size = match form.text("size")? {
        Some(text) => parse_size("size", text.trim())?,
        // Follow the input, within what the renderer will produce.
        None => (default_size.0.clamp(1, 4096), default_size.1.clamp(1, 4096)),
    };
    let format = output_format(state, model, form.text("response_format")?.as_deref())?;
    Ok((n, size, format))
}

pub(crate) async fn edits(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let form = Form::read(multipart).await?;
    let model = form.required_text("model")?;
    let prompt = form.required_text("prompt")?;
    let parts = form.all("image");
    let mut images = Vec::new();
    let mut problem = None;
    for (i, part) in parts.iter().enumerate() {
        let name = part.file_name.as_deref().unwrap_or("unnamed");
        match ImageInfo::inspect(&part.data, &format!("image {} ('{name}')", i + 1)) {
            Ok(info) => images.push(info),
            Err(e) => {
                problem.get_or_insert(e);
            }
        }
    }
    caller.summarize(json!({
        "model": model,
        "prompt": prompt,
        "image_count": parts.len(),
        "image_types": images.iter().map(|i| i.kind.name()).collect::<Vec<_>>(),
        "image_bytes": parts.iter().map(|p| p.data.len()).collect::<Vec<_>>(),
    }));
    models::check(&state, &model, Kind::ImageEdit)?;
    if parts.is_empty() {
        return Err(ApiError::missing("image"));
    }
    if parts.len() > MAX_EDIT_IMAGES {
        return Err(ApiError::invalid(format!(
            "At most {MAX_EDIT_IMAGES} 'image' parts are allowed, got {}",
            parts.len()
        )));
    }
    if let Some(problem) = problem {
        return Err(problem);
    }
    let first = &images[0];
    let (n, size, format) = form_options(&state, &form, &model, (first.width, first.height))?;

    let charge = state.reserve(EDIT_COST * n as f64)?;
    let response = render(
        &state,
        Output {
            model,
            prompt,
            n,
            size,
            format,
        },
    )
    .await?;
    charge.commit();
    Ok(response)
}

pub(crate) async fn variations(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let form = Form::read(multipart).await?;
    // The seed's server filled in a model; the live proxy routes by model, so it needs one.
    let model = match form.text("model")?.filter(|m| !m.trim().is_empty()) {
        Some(model) => model,
        None if state.config.catalogue == Catalogue::Seed => DEFAULT_VARIATION_MODEL.to_string(),
        None => return Err(ApiError::missing("model")),
    };
    let parts = form.all("image");
    caller.summarize(json!({
        "model": model,
        "image_count": parts.len(),
        "image_bytes": parts.iter().map(|p| p.data.len()).collect::<Vec<_>>(),
    }));
    models::check_variation(&state, &model)?;
    let part = match parts.as_slice() {
        [] => return Err(ApiError::missing("image")),
        [part] => part,
        _ => return Err(ApiError::invalid("Exactly one 'image' part is allowed")),
    };
    let name = part.file_name.as_deref().unwrap_or("unnamed");
    let info = ImageInfo::inspect(&part.data, &format!("image ('{name}')"))?;
    let (n, size, format) = form_options(&state, &form, &model, (info.width, info.height))?;

    let charge = state.reserve(VARIATION_COST * n as f64)?;
    let prompt = format!("variation of a {}", info.describe());
    let response = render(
        &state,
        Output {
            model,
            prompt,
            n,
            size,
            format,
        },
    )
    .await?;
    charge.commit();
    Ok(response)
}
