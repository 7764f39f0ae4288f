//! The AI Pass endpoints: each one's method, path and answer written once, and the typed call
//! that sends it (the sending itself is in `send.rs`).

use futures::TryStreamExt;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::call::{Call, Endpoint, Expect, Root};
use super::error::{self, ApiError};
use super::multipart;
use super::send::{ApiClient, content_type, invalid_json, is_json, parse_json};
use super::sse;
use super::types::{
    self, Binary, ChatCompletionWire, ChatWire, ModelList, RemixWire, StreamOptions, UsageEnvelope,
};

const fn api(method: Method, path: &'static str, expect: Expect) -> Endpoint {
    Endpoint {
        method,
        root: Root::Api,
        path,
        expect,
    }
}

const fn origin(method: Method, path: &'static str) -> Endpoint {
    Endpoint {
        method,
        root: Root::Origin,
        path,
        expect: Expect::Json,
    }
}

const LIST_MODELS: Endpoint = api(Method::GET, "models", Expect::Json);
const GET_MODEL: Endpoint = api(Method::GET, "models/{id}", Expect::Json);
const CHAT: Endpoint = api(Method::POST, "chat/completions", Expect::Json);
const EMBEDDINGS: Endpoint = api(Method::POST, "embeddings", Expect::Json);
const GENERATE_IMAGES: Endpoint = api(Method::POST, "images/generations", Expect::Json);
const EDIT_IMAGES: Endpoint = api(Method::POST, "images/edits", Expect::Json);
const IMAGE_VARIATIONS: Endpoint = api(Method::POST, "images/variations", Expect::Json);
const SPEECH: Endpoint = api(Method::POST, "audio/speech", Expect::Media);
const TRANSCRIBE: Endpoint = api(Method::POST, "audio/transcriptions", Expect::Json);
const CREATE_VIDEO: Endpoint = api(Method::POST, "videos", Expect::Json);
const GET_VIDEO: Endpoint = api(Method::GET, "videos/{id}", Expect::Json);
const VIDEO_STATUS: Endpoint = api(Method::GET, "videos/{id}/status", Expect::Json);
const VIDEO_CONTENT: Endpoint = api(Method::GET, "videos/{id}/content", Expect::Media);
const REMIX_VIDEO: Endpoint = api(Method::POST, "videos/{id}/remix", Expect::Json);
const USERINFO: Endpoint = origin(Method::GET, "oauth2/userinfo");
const USAGE_SUMMARY: Endpoint = origin(Method::GET, "api/v1/usage/me/summary");

impl ApiClient {
    /// `GET /v1/models`, with server-side filters (`type`, `method`, `capability`) when given.
    /// Old servers ignore the filters, so callers filter the answer as well.
    pub async fn list_models(
        &self,
        filters: &[(&str, &str)],
    ) -> Result<Vec<types::Model>, ApiError> {
        let call = self.call(&LIST_MODELS, &[], filters)?;
        let list: ModelList = self.json_of(&call).await?;
        Ok(list.into_models())
    }

    /// `GET /v1/models/{id}`; the id's slashes stay path separators.
    pub async fn get_model(&self, id: &str) -> Result<types::Model, ApiError> {
        let call = self.call(&GET_MODEL, &model_id_segments(id)?, &[])?;
        self.json_of(&call).await
    }

    /// `POST /v1/chat/completions` with `stream: false`.
    pub async fn chat(&self, req: &types::ChatRequest) -> Result<types::ChatResult, ApiError> {
        let wire = ChatWire {
            request: req,
            stream: false,
            stream_options: None,
        };
        let call = self.call(&CHAT, &[], &[])?.json(&wire)?;
        let completion: ChatCompletionWire = self.json_of(&call).await?;
        completion_result(completion, &req.model)
    }

    /// Streamed chat: calls `on_text` for each piece of text as it arrives. A stream that breaks
    /// after some text gives `complete: false` with the partial text.
    pub async fn chat_stream(
        &self,
        req: &types::ChatRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<types::ChatResult, ApiError> {
        let wire = ChatWire {
            request: req,
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
        };
        let call = self
            .call(&CHAT.expecting(Expect::Stream), &[], &[])?
            .json(&wire)?;
        let mut retries = 0;
        let resp = self.execute(&call, &mut retries).await?;
        let content_type = content_type(&resp);
        if content_type.as_deref().is_some_and(is_json) {
            // The server ignored `stream: true` and sent the whole answer at once.
            let body = self.read_body(resp, &call).await?;
            let completion: ChatCompletionWire = parse_json(&body, &call)?;
            let result = completion_result(completion, &req.model)?;
            if !result.text.is_empty() {
                on_text(&result.text);
            }
            return Ok(result);
        }
        if let Some(ct) = content_type
            .as_deref()
            .filter(|ct| !ct.to_ascii_lowercase().starts_with("text/event-stream"))
        {
            return Err(ApiError::InvalidResponse {
                message: format!("expected an event stream from {}, got {ct}", call.what),
                maybe_charged: call.paid,
            });
        }
        let bytes = resp.bytes_stream().map_err(reqwest::Error::without_url);
        sse::assemble(
            bytes,
            &req.model,
            self.settings().request_timeout,
            self.settings().max_response_bytes,
            on_text,
        )
        .await
    }

    /// `POST /v1/embeddings`.
    pub async fn embeddings(
        &self,
        req: &types::EmbeddingRequest,
    ) -> Result<types::EmbeddingResponse, ApiError> {
        let call = self.call(&EMBEDDINGS, &[], &[])?.json(req)?;
        self.json_of(&call).await
    }

    /// `POST /v1/images/generations`.
    pub async fn generate_images(
        &self,
        req: &types::ImageGenerationRequest,
    ) -> Result<types::ImagesResponse, ApiError> {
        let call = self.call(&GENERATE_IMAGES, &[], &[])?.json(req)?;
        self.images_of(&call).await
    }

    /// `POST /v1/images/edits` (multipart, one `image` part per input).
    pub async fn edit_images(
        &self,
        req: types::ImageEditRequest,
    ) -> Result<types::ImagesResponse, ApiError> {
        let call = self.call(&EDIT_IMAGES, &[], &[])?;
        // Build once up front so a bad upload fails before any token or network work.
        multipart::edit_form(&req)?;
        let build = || multipart::edit_form(&req);
        self.images_of(&call.multipart(&build)).await
    }

    /// `POST /v1/images/variations` (multipart).
    pub async fn image_variations(
        &self,
        req: types::ImageVariationRequest,
    ) -> Result<types::ImagesResponse, ApiError> {
        let call = self.call(&IMAGE_VARIATIONS, &[], &[])?;
        multipart::variation_form(&req)?;
        let build = || multipart::variation_form(&req);
        self.images_of(&call.multipart(&build)).await
    }

    /// An image answer, its body kept (not copied) for decoding its base64 in place.
    async fn images_of(&self, call: &Call<'_>) -> Result<types::ImagesResponse, ApiError> {
        let (body, _) = self.fetch(call).await?;
        types::ImagesResponse::from_body(body).map_err(|e| invalid_json(&e, call))
    }

    /// `POST /v1/audio/speech`: the audio bytes.
    pub async fn speech(&self, req: &types::SpeechRequest) -> Result<Binary, ApiError> {
        let call = self.call(&SPEECH, &[], &[])?.json(req)?;
        self.binary_of(&call).await
    }

    /// `POST /v1/audio/transcriptions` (multipart: file, model, language).
    pub async fn transcribe(
        &self,
        req: types::TranscriptionRequest,
    ) -> Result<types::Transcription, ApiError> {
        let call = self.call(&TRANSCRIBE, &[], &[])?;
        multipart::transcription_form(&req)?;
        let build = || multipart::transcription_form(&req);
        self.json_of(&call.multipart(&build)).await
    }

    /// `POST /v1/videos`: starts a video job.
    pub async fn create_video(
        &self,
        req: &types::VideoRequest,
    ) -> Result<types::VideoJob, ApiError> {
        let call = self.call(&CREATE_VIDEO, &[], &[])?.json(req)?;
        self.json_of(&call).await
    }

    /// `GET /v1/videos/{id}`: the job's status.
    pub async fn get_video(&self, id: &str) -> Result<types::VideoJob, ApiError> {
        let call = self.call(&GET_VIDEO, &[video_id(id)?], &[])?;
        self.json_of(&call).await
    }

    /// `GET /v1/videos/{id}/status` (the developer-key reference's status endpoint).
    pub async fn video_status(&self, id: &str) -> Result<types::VideoJob, ApiError> {
        let call = self.call(&VIDEO_STATUS, &[video_id(id)?], &[])?;
        self.json_of(&call).await
    }

    /// `GET /v1/videos/{id}/content`: the finished video.
    pub async fn video_content(&self, id: &str) -> Result<Binary, ApiError> {
        let call = self.call(&VIDEO_CONTENT, &[video_id(id)?], &[])?;
        self.binary_of(&call).await
    }

    /// `POST /v1/videos/{id}/remix`.
    pub async fn remix_video(&self, id: &str, prompt: &str) -> Result<types::VideoJob, ApiError> {
        let call = self
            .call(&REMIX_VIDEO, &[video_id(id)?], &[])?
            .json(&RemixWire { prompt })?;
        self.json_of(&call).await
    }

    /// `GET /oauth2/userinfo` (needs the `profile:read` scope).
    pub async fn userinfo(&self) -> Result<Value, ApiError> {
        let call = self.call(&USERINFO, &[], &[])?;
        self.json_of(&call).await
    }

    /// `GET /api/v1/usage/me/summary`, unwrapped from `{"success","data"}`.
    pub async fn usage_summary(&self) -> Result<types::UsageSummary, ApiError> {
        let call = self.call(&USAGE_SUMMARY, &[], &[])?;
        let envelope: UsageEnvelope = self.json_of(&call).await?;
        if envelope.success == Some(false) || envelope.data.is_none() {
            if let Some(err) = envelope.error.filter(|e| !e.is_null()) {
                return Err(error::embedded_error(
                    &serde_json::json!({ "error": err }),
                    false,
                ));
            }
            if envelope.success == Some(false) {
                return Err(ApiError::Upstream {
                    status: 200,
                    message: envelope
                        .message
                        .map(|m| error::truncate(&m))
                        .unwrap_or_else(|| "the usage summary reported success: false".into()),
                    maybe_charged: false,
                });
            }
            return Err(ApiError::InvalidResponse {
                message: format!("{} answered without a data object", call.what),
                maybe_charged: false,
            });
        }
        Ok(envelope.data.expect("checked above"))
    }

    /// Downloads a file the API pointed to (an image URL). The bearer token goes only to the
    /// API's own origin.
    pub async fn download(&self, url: &str) -> Result<Binary, ApiError> {
        let parsed = Url::parse(url).map_err(|e| ApiError::InvalidInput {
            message: format!("The download URL is not a valid URL ({e})."),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ApiError::InvalidInput {
                message: format!(
                    "Only http and https URLs can be downloaded, not '{}:'.",
                    parsed.scheme()
                ),
            });
        }
        let same_origin = parsed.origin() == self.settings().base_url.origin();
        tracing::debug!(
            host = parsed.host_str().unwrap_or(""),
            same_origin,
            "downloading a file"
        );
        let mut call = Call::new(Method::GET, parsed, "download", Expect::Any);
        call.bearer = same_origin;
        call.first_party = same_origin;
        self.binary_of(&call).await
    }
}

fn completion_result(
    completion: ChatCompletionWire,
    requested_model: &str,
) -> Result<types::ChatResult, ApiError> {
    if completion.choices.is_empty()
        && let Some(err) = completion.error.as_ref().filter(|e| !e.is_null())
    {
        return Err(error::embedded_error(
            &serde_json::json!({ "error": err }),
            true,
        ));
    }
    Ok(completion.into_result(requested_model))
}

/// Splits a model id like `fal-ai/nano-banana-2/edit` into path segments, refusing ids that
/// would change the path's meaning.
fn model_id_segments(id: &str) -> Result<Vec<&str>, ApiError> {
    let segments: Vec<&str> = id.split('/').collect();
    let bad = id.is_empty()
        || id.len() > 512
        || id.chars().any(char::is_control)
        || segments
            .iter()
            .any(|s| s.is_empty() || *s == "." || *s == "..");
    if bad {
        return Err(ApiError::InvalidInput {
            message: format!(
                "'{}' is not a valid model id.",
                error::truncate(&id.escape_debug().to_string())
            ),
        });
    }
    Ok(segments)
}

fn video_id(id: &str) -> Result<&str, ApiError> {
    if id.is_empty()
        || id == "."
        || id == ".."
        || id.len() > 512
        || id.chars().any(char::is_control)
    {
        return Err(ApiError::InvalidInput {
            message: format!(
                "'{}' is not a valid video id.",
                error::truncate(&id.escape_debug().to_string())
            ),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::{ApiSettings, StaticTokenProvider};

    fn client(base: &str) -> ApiClient {
        ApiClient::new(
            ApiSettings::new(Url::parse(base).unwrap()),
            Arc::new(StaticTokenProvider::new(None)),
        )
    }

    #[test]
    fn model_ids_keep_slashes_and_encode_the_rest() {
        let c = client("https://aipass.one");
        let url = |id: &str| {
            let call = c.call(&GET_MODEL, &model_id_segments(id).unwrap(), &[]);
            call.unwrap().url.to_string()
        };
        assert_eq!(
            url("fal-ai/nano-banana-2/edit"),
            "https://aipass.one/v1/models/fal-ai/nano-banana-2/edit"
        );
        assert_eq!(
            url("gemini/gemini-2.5-pro"),
            "https://aipass.one/v1/models/gemini/gemini-2.5-pro"
        );
        assert_eq!(
            url("we ird?#%x"),
            "https://aipass.one/v1/models/we%20ird%3F%23%25x"
        );
        for bad in ["", "/gpt", "a//b", "a/", "../x", "a/./b", "a\nb"] {
            assert!(model_id_segments(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base_url_prefix_is_kept() {
        let c = client("http://127.0.0.1:8080/proxy/?x=1");
        let call = c.call(&LIST_MODELS, &[], &[]).unwrap();
        assert_eq!(call.url.as_str(), "http://127.0.0.1:8080/proxy/v1/models");
        let c = client("https://aipass.one/");
        let call = c.call(&VIDEO_CONTENT, &[video_id("a/b").unwrap()], &[]);
        assert_eq!(
            call.unwrap().url.as_str(),
            "https://aipass.one/v1/videos/a%2Fb/content"
        );
        let call = c.call(&USERINFO, &[], &[("a", "b")]).unwrap();
        assert_eq!(call.url.as_str(), "https://aipass.one/oauth2/userinfo?a=b");
        assert!(video_id("..").is_err());
    }

    #[test]
    fn endpoints_name_themselves_as_before() {
        assert_eq!(GET_VIDEO.what(), "GET /v1/videos/{id}");
        assert_eq!(CHAT.what(), "POST /v1/chat/completions");
        assert_eq!(
            CHAT.expecting(Expect::Stream).what(),
            "POST /v1/chat/completions (stream)"
        );
        assert_eq!(USAGE_SUMMARY.what(), "GET /api/v1/usage/me/summary");
        assert_eq!(USERINFO.what(), "GET /oauth2/userinfo");
    }
}
