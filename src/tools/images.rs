//! `generate_image` and `edit_image`: images from text or from other images, saved to files.

use crate::error::ErrorCode;
use rmcp::model::{CallToolResult, ContentBlock as Content};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::call::{Call, CallScope};
use super::{ToolError, ToolResult, args, file_link, input_schema, output_schema, success};
use crate::api::Upload;
use crate::api::types::{
    ImageEditRequest, ImageGenerationRequest, ImageSource, ImageVariationRequest, ImagesResponse,
};
use crate::media::{self, OutputFile, VISION_MIME_TYPES};
use crate::models::{Capability, Need};
use crate::preview;
use crate::state::AipassServer;

/// Images one call may ask for or send.
const MAX_IMAGES: u32 = 10;
const MAX_EDIT_INPUTS: usize = 16;

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GenerateImageArgs {
    /// What to draw.
    pub prompt: String,
    /// Model id; omitted = a suitable one from list_models.
    pub model: Option<String>,
    /// Size as WIDTHxHEIGHT, e.g. 1024x1024.
    pub size: Option<String>,
    /// How many images, 1 to 10 (default 1).
    #[serde(default, deserialize_with = "args::opt_u32")]
    pub n: Option<u32>,
    /// Folder for the files; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EditImageArgs {
    /// What to change.
    pub prompt: String,
    /// Input images (1 or more; several for multi-image models): local paths, http(s) URLs or data: URIs.
    pub images: Vec<String>,
    /// Model id; omitted = a suitable one from list_models.
    pub model: Option<String>,
    /// Output size as WIDTHxHEIGHT.
    pub size: Option<String>,
    /// Folder for the files; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VaryImageArgs {
    /// The image to make variations of: a local path, http(s) URL or data: URI.
    pub image: String,
    /// Model id; omitted = a suitable one from list_models.
    pub model: Option<String>,
    /// How many variations, 1 to 10 (default 1).
    #[serde(default, deserialize_with = "args::opt_u32")]
    pub n: Option<u32>,
    /// Size as WIDTHxHEIGHT.
    pub size: Option<String>,
    /// Folder for the files; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ImagesOutput {
    /// The saved images.
    pub files: Vec<OutputFile>,
    /// The model used.
    pub model: String,
}

#[tool_router(router = images_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "generate_image",
        description = "Create images from a text prompt with any AI Pass image model and save them as files. Returns the absolute paths (files[].path). Spends AI Pass budget.",
        input_schema = input_schema::<GenerateImageArgs>(),
        output_schema = output_schema::<ImagesOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "Generate images", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn generate_image(&self, call: Call) -> CallToolResult {
        self.run(call, Self::generate_image_impl).await
    }

    #[tool(
        name = "edit_image",
        description = "Edit one or more images with a prompt (e.g. change a style, combine a subject with a reference) and save the results as files. Returns the absolute paths (files[].path). Spends AI Pass budget.",
        input_schema = input_schema::<EditImageArgs>(),
        output_schema = output_schema::<ImagesOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "Edit images", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn edit_image(&self, call: Call) -> CallToolResult {
        self.run(call, Self::edit_image_impl).await
    }

    #[tool(
        name = "vary_image",
        description = "Make variations of one image and save them as files. Returns the absolute paths (files[].path). Spends AI Pass budget.",
        input_schema = input_schema::<VaryImageArgs>(),
        output_schema = output_schema::<ImagesOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "Image variations", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn vary_image(&self, call: Call) -> CallToolResult {
        self.run(call, Self::vary_image_impl).await
    }
}

impl AipassServer {
    async fn generate_image_impl(
        &self,
        args: GenerateImageArgs,
        _call: CallScope,
    ) -> ToolResult<CallToolResult> {
        let prompt = required_text(&args.prompt, "prompt")?;
        let n = args.n.unwrap_or(1);
        if !(1..=MAX_IMAGES).contains(&n) {
            return Err(ToolError::invalid_input(format!(
                "n must be 1 to {MAX_IMAGES}"
            )));
        }
        let size = checked_size(args.size.as_deref())?;
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let model = self
            .state
            .models
            .choose(args.model.as_deref(), Capability::Image)
            .await?;
        let request = ImageGenerationRequest {
            model: model.clone(),
            prompt: prompt.to_string(),
            size,
            n: Some(n),
            response_format: Some("b64_json".into()),
        };
        let response = self.state.api.generate_images(&request).await?;
        let files = self.save_images(response, &dir, prompt).await?;
        Ok(self.images_result(files, model).await)
    }

    async fn edit_image_impl(
        &self,
        args: EditImageArgs,
        _call: CallScope,
    ) -> ToolResult<CallToolResult> {
        let prompt = required_text(&args.prompt, "prompt")?;
        if args.images.is_empty() || args.images.len() > MAX_EDIT_INPUTS {
            return Err(ToolError::invalid_input(format!(
                "images must list 1 to {MAX_EDIT_INPUTS} inputs"
            )));
        }
        let size = checked_size(args.size.as_deref())?;
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let mut uploads = Vec::with_capacity(args.images.len());
        for spec in &args.images {
            uploads.push(self.image_upload(spec, uploads.len()).await?);
        }
        let model = self
            .state
            .models
            .choose(args.model.as_deref(), Capability::ImageEdit)
            .await?;
        let request = ImageEditRequest {
            model: model.clone(),
            prompt: prompt.to_string(),
            images: uploads,
            size,
            n: None,
            response_format: Some("b64_json".into()),
        };
        let response = self.state.api.edit_images(request).await?;
        let files = self.save_images(response, &dir, prompt).await?;
        Ok(self.images_result(files, model).await)
    }

    async fn vary_image_impl(
        &self,
        args: VaryImageArgs,
        _call: CallScope,
    ) -> ToolResult<CallToolResult> {
        let spec = required_text(&args.image, "image")?;
        let n = args.n.unwrap_or(1);
        if !(1..=MAX_IMAGES).contains(&n) {
            return Err(ToolError::invalid_input(format!(
                "n must be 1 to {MAX_IMAGES}"
            )));
        }
        let size = checked_size(args.size.as_deref())?;
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let image = self.image_upload(spec, 0).await?;
        let description = format!("variation of {}", image.file_name);
        // A proxy in front of many providers routes by model, so one is always named.
        let model = self
            .state
            .models
            .choose(args.model.as_deref(), Need::Variation)
            .await?;
        let request = ImageVariationRequest {
            model: model.clone(),
            image,
            size,
            n: Some(n),
            response_format: Some("b64_json".into()),
        };
        let response = self.state.api.image_variations(request).await?;
        let files = self.save_images(response, &dir, &description).await?;
        Ok(self.images_result(files, model).await)
    }

    /// Loads an input image for upload, checking it is a JPEG, PNG, GIF or WebP.
    async fn image_upload(&self, spec: &str, index: usize) -> ToolResult<Upload> {
        let input = media::load_input(&self.state.fetcher, spec, media::MAX_IMAGE_BYTES).await?;
        if !VISION_MIME_TYPES.contains(&input.mime_type.as_str()) {
            return Err(ToolError::invalid_input(format!(
                "'{}' is not a JPEG, PNG, GIF or WebP image",
                input.file_name
            )));
        }
        Ok(Upload {
            file_name: upload_name(&input.file_name, &input.mime_type, index),
            mime_type: input.mime_type,
            bytes: input.bytes.into(),
        })
    }

    /// Saves every image of an answer, whether it came as `b64_json` or as a `url`.
    pub(crate) async fn save_images(
        &self,
        response: ImagesResponse,
        dir: &std::path::Path,
        prompt: &str,
    ) -> ToolResult<Vec<OutputFile>> {
        if response.data.is_empty() {
            return Err(ToolError {
                code: ErrorCode::UpstreamError,
                message: "AI Pass answered with no images".into(),
            });
        }
        let images = response.into_images().map_err(|e| ToolError {
            code: ErrorCode::UpstreamError,
            message: format!("AI Pass sent an image that is not valid base64: {e}"),
        })?;
        let base = media::base_name("image", prompt);
        let mut files = Vec::with_capacity(images.len());
        for image in images {
            let bytes = match image {
                // Decoded where the answer had it: a slice of the answer, not a copy.
                ImageSource::Decoded(bytes) => bytes,
                ImageSource::Url(url) if url.starts_with("data:") => {
                    media::decode_data_uri(&url["data:".len()..])
                        .map_err(|e| ToolError {
                            code: ErrorCode::UpstreamError,
                            message: format!(
                                "AI Pass sent an image data: URL that could not be read ({})",
                                e.message
                            ),
                        })?
                        .into()
                }
                ImageSource::Url(url) => self.state.api.download(&url).await?.bytes.into(),
                ImageSource::Missing => {
                    return Err(ToolError {
                        code: ErrorCode::UpstreamError,
                        message: "AI Pass sent an image entry with neither url nor b64_json".into(),
                    });
                }
            };
            let mime = media::sniff_mime(&bytes)
                .filter(|m| m.starts_with("image/"))
                .ok_or_else(|| ToolError {
                    code: ErrorCode::UpstreamError,
                    message: "AI Pass sent image data that is not PNG, JPEG, GIF or WebP".into(),
                })?;
            files.push(
                media::save_new_file(dir, &base, media::extension_for(mime), mime, bytes).await?,
            );
        }
        Ok(files)
    }
}

impl AipassServer {
    /// The result for saved images: paths, resource links and previews within the budget.
    async fn images_result(&self, files: Vec<OutputFile>, model: String) -> CallToolResult {
        let budget = self.state.preview_budget;
        let for_previews = files.clone();
        let previews =
            tokio::task::spawn_blocking(move || preview::image_previews(&for_previews, budget))
                .await
                .unwrap_or_default();
        images_result(files, model, previews)
    }
}

fn images_result(files: Vec<OutputFile>, model: String, previews: Vec<Content>) -> CallToolResult {
    let mut links: Vec<Content> = files.iter().map(file_link).collect();
    links.extend(previews);
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let text = format!(
        "Saved {} image(s) from {model}: {}",
        files.len(),
        paths.join(", ")
    );
    success(text, &ImagesOutput { files, model }, links)
}

pub(crate) fn required_text<'a>(value: &'a str, name: &str) -> ToolResult<&'a str> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ToolError::invalid_input(format!(
            "`{name}` must not be empty"
        )));
    }
    Ok(trimmed)
}

/// Accepts `WIDTHxHEIGHT` (both 1..=8192), passing it on as the API expects.
pub(crate) fn checked_size(size: Option<&str>) -> ToolResult<Option<String>> {
    let Some(size) = size.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let valid = size
        .to_ascii_lowercase()
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .is_some_and(|(w, h)| (1..=8192).contains(&w) && (1..=8192).contains(&h));
    if !valid {
        return Err(ToolError::invalid_input(format!(
            "size must look like 1024x1024, got '{size}'"
        )));
    }
    Ok(Some(size.to_ascii_lowercase()))
}

/// A file name with the extension its bytes call for (some providers check it).
fn upload_name(original: &str, mime_type: &str, index: usize) -> String {
    let stem = std::path::Path::new(original)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("image{}", index + 1));
    format!("{stem}.{}", media::extension_for(mime_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        assert_eq!(
            checked_size(Some("1024x768")).unwrap().as_deref(),
            Some("1024x768")
        );
        assert_eq!(checked_size(None).unwrap(), None);
        assert!(checked_size(Some("big")).is_err());
        assert!(checked_size(Some("0x10")).is_err());
    }

    #[test]
    fn upload_names_follow_the_bytes() {
        assert_eq!(upload_name("photo.jpeg", "image/png", 0), "photo.png");
        assert_eq!(upload_name("", "image/webp", 1), "image2.webp");
    }
}
