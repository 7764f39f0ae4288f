//! Multipart bodies for image edits, image variations and transcriptions, rebuilt per attempt.

use reqwest::multipart::{Form, Part};

use super::error::ApiError;
use super::types::Upload;
use super::types::{ImageEditRequest, ImageVariationRequest, TranscriptionRequest};

/// A file part with its name and MIME type. A form is consumed by sending, and a retry after
/// 401 needs a fresh one: each part shares the upload's bytes (a reference count, no copy).
fn file_part(upload: &Upload) -> Result<Part, ApiError> {
    let length = upload.bytes.len() as u64;
    Part::stream_with_length(reqwest::Body::from(upload.bytes.clone()), length)
        .file_name(upload.file_name.clone())
        .mime_str(&upload.mime_type)
        .map_err(|_| ApiError::InvalidInput {
            message: format!(
                "'{}' is not a valid MIME type for the file '{}'.",
                upload.mime_type, upload.file_name
            ),
        })
}

fn optional(form: Form, name: &'static str, value: Option<String>) -> Form {
    match value {
        Some(v) => form.text(name, v),
        None => form,
    }
}

/// `POST /images/edits`: one `image` part per input (the API reads repeated parts as an array).
pub(crate) fn edit_form(req: &ImageEditRequest) -> Result<Form, ApiError> {
    if req.images.is_empty() {
        return Err(ApiError::InvalidInput {
            message: "An image edit needs at least one input image.".to_string(),
        });
    }
    let mut form = Form::new();
    for image in &req.images {
        form = form.part("image", file_part(image)?);
    }
    form = form
        .text("prompt", req.prompt.clone())
        .text("model", req.model.clone());
    form = optional(form, "size", req.size.clone());
    form = optional(form, "n", req.n.map(|n| n.to_string()));
    Ok(optional(
        form,
        "response_format",
        req.response_format.clone(),
    ))
}

/// `POST /images/variations`.
pub(crate) fn variation_form(req: &ImageVariationRequest) -> Result<Form, ApiError> {
    let mut form = Form::new()
        .part("image", file_part(&req.image)?)
        .text("model", req.model.clone());
    form = optional(form, "size", req.size.clone());
    form = optional(form, "n", req.n.map(|n| n.to_string()));
    Ok(optional(
        form,
        "response_format",
        req.response_format.clone(),
    ))
}

/// `POST /audio/transcriptions`.
pub(crate) fn transcription_form(req: &TranscriptionRequest) -> Result<Form, ApiError> {
    let form = Form::new()
        .part("file", file_part(&req.file)?)
        .text("model", req.model.clone())
        // The live references send it; `json` is the `{text}` answer this client reads.
        .text("response_format", "json");
    Ok(optional(form, "language", req.language.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn upload(name: &str, mime: &str, bytes: &[u8]) -> Upload {
        Upload {
            bytes: bytes.to_vec().into(),
            file_name: name.to_string(),
            mime_type: mime.to_string(),
        }
    }

    async fn body_of(form: Form) -> (String, String) {
        let boundary = form.boundary().to_string();
        let chunks: Vec<_> = form.into_stream().try_collect().await.unwrap();
        let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
        (boundary, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn edit_form_repeats_image_parts() {
        let req = ImageEditRequest {
            model: "fal-ai/nano-banana-2/edit".into(),
            prompt: "Apply the hairstyle".into(),
            images: vec![
                upload("target.jpg", "image/jpeg", b"JPEGDATA"),
                upload("reference.png", "image/png", b"PNGDATA"),
            ],
            size: Some("1024x1024".into()),
            n: Some(1),
            response_format: None,
        };
        let (boundary, body) = body_of(edit_form(&req).unwrap()).await;
        assert!(!boundary.is_empty());
        assert_eq!(body.matches(&format!("--{boundary}\r\n")).count(), 6);
        assert!(body.ends_with(&format!("--{boundary}--\r\n")));
        assert_eq!(body.matches("name=\"image\"").count(), 2);
        assert!(body.contains(
            "name=\"image\"; filename=\"target.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nJPEGDATA"
        ));
        assert!(body.contains(
            "name=\"image\"; filename=\"reference.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA"
        ));
        assert!(body.contains("name=\"model\"\r\n\r\nfal-ai/nano-banana-2/edit\r\n"));
        assert!(body.contains("name=\"size\"\r\n\r\n1024x1024\r\n"));
        assert!(body.contains("name=\"n\"\r\n\r\n1\r\n"));
        assert!(!body.contains("response_format"));
        // The same request builds again (the client rebuilds it for a retry after 401).
        assert!(edit_form(&req).is_ok());
    }

    #[test]
    fn edit_form_needs_an_image_and_valid_mime() {
        let mut req = ImageEditRequest {
            model: "m/edit".into(),
            prompt: "p".into(),
            images: vec![],
            size: None,
            n: None,
            response_format: None,
        };
        assert_eq!(
            edit_form(&req).unwrap_err().code().as_str(),
            "invalid_input"
        );
        req.images.push(upload("a.jpg", "not a mime", b"x"));
        assert_eq!(
            edit_form(&req).unwrap_err().code().as_str(),
            "invalid_input"
        );
    }

    #[tokio::test]
    async fn transcription_and_variation_forms() {
        let t = TranscriptionRequest {
            model: "whisper-1".into(),
            file: upload("audio.mp3", "audio/mpeg", b"ID3"),
            language: Some("en".into()),
        };
        let (_, body) = body_of(transcription_form(&t).unwrap()).await;
        assert!(body.contains("name=\"file\"; filename=\"audio.mp3\"\r\nContent-Type: audio/mpeg"));
        assert!(body.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"));
        assert!(body.contains("name=\"language\"\r\n\r\nen\r\n"));
        assert!(body.contains("name=\"response_format\"\r\n\r\njson\r\n"));

        let v = ImageVariationRequest {
            model: "dall-e-2".into(),
            image: upload("a.png", "image/png", b"PNG"),
            size: None,
            n: Some(2),
            response_format: Some("b64_json".into()),
        };
        let (_, body) = body_of(variation_form(&v).unwrap()).await;
        assert!(body.contains("name=\"model\"\r\n\r\ndall-e-2\r\n"));
        assert!(body.contains("name=\"response_format\"\r\n\r\nb64_json\r\n"));
    }
}
