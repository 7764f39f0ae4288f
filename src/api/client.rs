//! The typed AI Pass HTTP client: endpoint URLs, bearer auth with one refresh on 401, retries
//! that never repeat a paid request after an ambiguous failure, and capped response bodies.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::error::{self, ApiError};
use super::multipart;
use super::sse;
use super::token::{AccessToken, TokenProvider};
use super::types::{
    self, ChatCompletionWire, ChatWire, ModelList, RemixWire, StreamOptions, UsageEnvelope,
};

const CLIENT_ID_HEADER: &str = "x-aipass-oauth-client-id";
const USER_AGENT: &str = concat!("aipass-mcp/", env!("CARGO_PKG_VERSION"));
/// Error bodies are only read for their message; a small cap is plenty.
const ERROR_BODY_CAP: u64 = 64 * 1024;
/// Extra attempts for a GET after a connect error, timeout or 5xx.
const GET_RETRIES: u32 = 2;
/// Extra attempts for a POST whose connection never opened (nothing was sent, nothing charged).
const POST_CONNECT_RETRIES: u32 = 1;
/// Backoff before retry n (from 0): `BACKOFF_BASE * 4^n`, at most `BACKOFF_CAP`, plus jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
const BACKOFF_JITTER_MS: u64 = 100;
/// Extra attempts after a 429 (any request: a 429 means it was not processed, so not charged).
const RATE_LIMIT_RETRIES: u32 = 2;
/// The wait after a 429 that names none.
const RATE_LIMIT_DEFAULT_WAIT: Duration = Duration::from_secs(1);
const RATE_LIMIT_JITTER_MS: u64 = 250;

/// Where and how the client talks to AI Pass.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// The API origin, e.g. `https://aipass.one` (a path prefix is kept).
    pub base_url: Url,
    /// Sent as `X-AIPass-OAuth-Client-Id` when set.
    pub client_id: Option<String>,
    pub connect_timeout: Duration,
    /// Whole-request limit; for streamed chat, the longest wait for the next piece.
    pub request_timeout: Duration,
    pub max_response_bytes: u64,
    /// The longest `Retry-After` waited out before retrying a 429; longer ones fail at once.
    pub max_retry_wait: Duration,
    /// Path segments of the model API under the origin (`v1`).
    pub api_path: Vec<String>,
    /// Tried once when a route under `api_path` answers 404 (a server that has only the
    /// compatibility alias, such as `oauth2/v1`); kept once it answers. None: no fallback.
    pub alias_path: Option<Vec<String>>,
}

/// The model API's canonical base path.
pub const API_PATH: &str = "/v1";
/// The alias OAuth clients fall back to (the seed document's base path).
pub const OAUTH_ALIAS_PATH: &str = "/oauth2/v1";
/// The alias for developer API keys.
pub const API_KEY_ALIAS_PATH: &str = "/apikey/v1";

/// `/oauth2/v1` as path segments.
pub fn path_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl ApiSettings {
    pub fn new(base_url: Url) -> Self {
        ApiSettings {
            base_url,
            client_id: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            max_response_bytes: 64 * 1024 * 1024,
            max_retry_wait: Duration::from_secs(10),
            api_path: path_segments(API_PATH),
            alias_path: Some(path_segments(OAUTH_ALIAS_PATH)),
        }
    }
}

impl ApiSettings {
    /// The settings the server and the CLI use. With a developer API key the client id header
    /// is left out (it is for OAuth clients) and the fallback alias is `/apikey/v1`; an explicit
    /// `AIPASS_API_PATH` turns the fallback off.
    pub fn from_settings(settings: &crate::config::Settings, api_key: bool) -> Self {
        let mut api = ApiSettings::new(settings.base_url.clone());
        api.client_id = if api_key {
            None
        } else {
            settings.client_id.clone()
        };
        api.connect_timeout = settings.connect_timeout;
        api.request_timeout = settings.request_timeout;
        api.max_retry_wait = settings.max_retry_wait;
        match &settings.api_path {
            Some(path) => {
                api.api_path = path_segments(path);
                api.alias_path = None;
            }
            None if api_key => api.alias_path = Some(path_segments(API_KEY_ALIAS_PATH)),
            None => {}
        }
        api
    }
}

/// A file to send in a multipart body.
#[derive(Clone)]
pub struct Upload {
    pub bytes: Vec<u8>,
    pub file_name: String,
    pub mime_type: String,
}

impl fmt::Debug for Upload {
    // The bytes would flood logs; their size says enough.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("file_name", &self.file_name)
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A binary answer (audio, video, a downloaded image).
#[derive(Clone, Debug)]
pub struct Binary {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// The AI Pass client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ApiSettings,
    tokens: Arc<dyn TokenProvider>,
    /// Built on first use: building loads TLS roots, which startup must not wait for.
    http: OnceLock<Result<reqwest::Client, String>>,
    /// Set once the alias path answered where the canonical path had no route.
    on_alias: AtomicBool,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base_url", &self.inner.settings.base_url.as_str())
            .finish_non_exhaustive()
    }
}

type FormBuilder<'a> = dyn Fn() -> Result<reqwest::multipart::Form, ApiError> + Sync + 'a;

enum Payload<'a> {
    Empty,
    Json(Vec<u8>),
    /// Rebuilt for every attempt: a sent form is consumed.
    Multipart(&'a FormBuilder<'a>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Json,
    /// Audio or video: a JSON or HTML answer is a disguised error.
    Media,
    Any,
    Stream,
}

/// One logical request, possibly sent several times.
struct Call<'a> {
    method: Method,
    url: Url,
    /// For logs and messages; never the URL (it may hold a token in its query).
    what: &'static str,
    /// Send the bearer token (and handle 401 by refreshing).
    bearer: bool,
    /// The URL is on the API origin (so the client id header may go along).
    first_party: bool,
    /// The request spends money: ambiguous failures are never retried and say so.
    paid: bool,
    payload: Payload<'a>,
    expect: Expect,
    /// A secret in the request besides the bearer token, to scrub from error text.
    extra_secret: Option<&'a str>,
    /// The same endpoint under the alias path, tried when `url` has no route (404).
    alias_url: Option<Url>,
}

/// Where a call goes: a URL, and for model-API endpoints the same endpoint under the alias path.
struct Target {
    url: Url,
    alias: Option<Url>,
}

impl From<Url> for Target {
    fn from(url: Url) -> Self {
        Target { url, alias: None }
    }
}

impl Target {
    /// Adds query parameters to both URLs.
    fn with_query(mut self, pairs: &[(&str, &str)]) -> Self {
        if !pairs.is_empty() {
            for url in std::iter::once(&mut self.url).chain(self.alias.as_mut()) {
                url.query_pairs_mut().extend_pairs(pairs);
            }
        }
        self
    }
}

impl<'a> Call<'a> {
    fn new(method: Method, target: impl Into<Target>, what: &'static str, expect: Expect) -> Self {
        let paid = method == Method::POST;
        let Target { url, alias } = target.into();
        Call {
            method,
            url,
            what,
            bearer: true,
            first_party: true,
            paid,
            payload: Payload::Empty,
            expect,
            extra_secret: None,
            alias_url: alias,
        }
    }

    fn json(mut self, body: &impl Serialize) -> Result<Self, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::InvalidInput {
            message: format!("The request could not be encoded as JSON ({e})."),
        })?;
        self.payload = Payload::Json(bytes);
        Ok(self)
    }

    fn multipart(mut self, build: &'a FormBuilder<'a>) -> Self {
        self.payload = Payload::Multipart(build);
        self
    }
}

impl ApiClient {
    /// Does no I/O and builds no TLS state; the HTTP client is made on the first request.
    pub fn new(settings: ApiSettings, tokens: Arc<dyn TokenProvider>) -> Self {
        ApiClient {
            inner: Arc::new(Inner {
                settings,
                tokens,
                http: OnceLock::new(),
                on_alias: AtomicBool::new(false),
            }),
        }
    }

    pub fn settings(&self) -> &ApiSettings {
        &self.inner.settings
    }

    // ---------- endpoints ----------

    /// `GET /v1/models`, with server-side filters (`type`, `method`, `capability`) when given.
    /// Old servers ignore the filters, so callers filter the answer as well.
    pub async fn list_models(
        &self,
        filters: &[(&str, &str)],
    ) -> Result<Vec<types::Model>, ApiError> {
        let target = self.api_url(&["models"], &[])?.with_query(filters);
        let call = Call::new(Method::GET, target, "GET /v1/models", Expect::Json);
        let list: ModelList = self.json_of(&call).await?;
        Ok(list.into_models())
    }

    /// `GET /v1/models/{id}`; the id's slashes stay path separators.
    pub async fn get_model(&self, id: &str) -> Result<types::Model, ApiError> {
        let segments = model_id_segments(id)?;
        let url = self.api_url(&["models"], &segments)?;
        let call = Call::new(Method::GET, url, "GET /v1/models/{id}", Expect::Json);
        self.json_of(&call).await
    }

    /// `POST /v1/chat/completions` with `stream: false`.
    pub async fn chat(&self, req: &types::ChatRequest) -> Result<types::ChatResult, ApiError> {
        let url = self.api_url(&["chat", "completions"], &[])?;
        let wire = ChatWire {
            request: req,
            stream: false,
            stream_options: None,
        };
        let call =
            Call::new(Method::POST, url, "POST /v1/chat/completions", Expect::Json).json(&wire)?;
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
        let url = self.api_url(&["chat", "completions"], &[])?;
        let wire = ChatWire {
            request: req,
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
        };
        let call = Call::new(
            Method::POST,
            url,
            "POST /v1/chat/completions (stream)",
            Expect::Stream,
        )
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
            self.inner.settings.request_timeout,
            self.inner.settings.max_response_bytes,
            on_text,
        )
        .await
    }

    /// `POST /v1/embeddings`.
    pub async fn embeddings(
        &self,
        req: &types::EmbeddingRequest,
    ) -> Result<types::EmbeddingResponse, ApiError> {
        let url = self.api_url(&["embeddings"], &[])?;
        let call = Call::new(Method::POST, url, "POST /v1/embeddings", Expect::Json).json(req)?;
        self.json_of(&call).await
    }

    /// `POST /v1/images/generations`.
    pub async fn generate_images(
        &self,
        req: &types::ImageGenerationRequest,
    ) -> Result<types::ImagesResponse, ApiError> {
        let url = self.api_url(&["images", "generations"], &[])?;
        let call = Call::new(
            Method::POST,
            url,
            "POST /v1/images/generations",
            Expect::Json,
        )
        .json(req)?;
        self.json_of(&call).await
    }

    /// `POST /v1/images/edits` (multipart, one `image` part per input).
    pub async fn edit_images(
        &self,
        req: types::ImageEditRequest,
    ) -> Result<types::ImagesResponse, ApiError> {
        let url = self.api_url(&["images", "edits"], &[])?;
        // Build once up front so a bad upload fails before any token or network work.
        multipart::edit_form(&req)?;
        let build = || multipart::edit_form(&req);
        let call =
            Call::new(Method::POST, url, "POST /v1/images/edits", Expect::Json).multipart(&build);
        self.json_of(&call).await
    }

    /// `POST /v1/images/variations` (multipart).
    pub async fn image_variations(
        &self,
        req: types::ImageVariationRequest,
    ) -> Result<types::ImagesResponse, ApiError> {
        let url = self.api_url(&["images", "variations"], &[])?;
        multipart::variation_form(&req)?;
        let build = || multipart::variation_form(&req);
        let call = Call::new(
            Method::POST,
            url,
            "POST /v1/images/variations",
            Expect::Json,
        )
        .multipart(&build);
        self.json_of(&call).await
    }

    /// `POST /v1/audio/speech`: the audio bytes.
    pub async fn speech(&self, req: &types::SpeechRequest) -> Result<Binary, ApiError> {
        let url = self.api_url(&["audio", "speech"], &[])?;
        let call =
            Call::new(Method::POST, url, "POST /v1/audio/speech", Expect::Media).json(req)?;
        self.binary_of(&call).await
    }

    /// `POST /v1/audio/transcriptions` (multipart: file, model, language).
    pub async fn transcribe(
        &self,
        req: types::TranscriptionRequest,
    ) -> Result<types::Transcription, ApiError> {
        let url = self.api_url(&["audio", "transcriptions"], &[])?;
        multipart::transcription_form(&req)?;
        let build = || multipart::transcription_form(&req);
        let call = Call::new(
            Method::POST,
            url,
            "POST /v1/audio/transcriptions",
            Expect::Json,
        )
        .multipart(&build);
        self.json_of(&call).await
    }

    /// `POST /v1/videos`: starts a video job.
    pub async fn create_video(
        &self,
        req: &types::VideoRequest,
    ) -> Result<types::VideoJob, ApiError> {
        let url = self.api_url(&["videos"], &[])?;
        let call = Call::new(Method::POST, url, "POST /v1/videos", Expect::Json).json(req)?;
        self.json_of(&call).await
    }

    /// `GET /v1/videos/{id}`: the job's status.
    pub async fn get_video(&self, id: &str) -> Result<types::VideoJob, ApiError> {
        let url = self.api_url(&["videos"], &[video_id(id)?])?;
        let call = Call::new(Method::GET, url, "GET /v1/videos/{id}", Expect::Json);
        self.json_of(&call).await
    }

    /// `GET /v1/videos/{id}/status` (the developer-key reference's status endpoint).
    pub async fn video_status(&self, id: &str) -> Result<types::VideoJob, ApiError> {
        let url = self.api_url(&["videos"], &[video_id(id)?, "status"])?;
        let call = Call::new(Method::GET, url, "GET /v1/videos/{id}/status", Expect::Json);
        self.json_of(&call).await
    }

    /// `GET /v1/videos/{id}/content`: the finished video.
    pub async fn video_content(&self, id: &str) -> Result<Binary, ApiError> {
        let url = self.api_url(&["videos"], &[video_id(id)?, "content"])?;
        let call = Call::new(
            Method::GET,
            url,
            "GET /v1/videos/{id}/content",
            Expect::Media,
        );
        self.binary_of(&call).await
    }

    /// `POST /v1/videos/{id}/remix`.
    pub async fn remix_video(&self, id: &str, prompt: &str) -> Result<types::VideoJob, ApiError> {
        let url = self.api_url(&["videos"], &[video_id(id)?, "remix"])?;
        let call = Call::new(
            Method::POST,
            url,
            "POST /v1/videos/{id}/remix",
            Expect::Json,
        )
        .json(&RemixWire { prompt })?;
        self.json_of(&call).await
    }

    /// `GET /oauth2/userinfo` (needs the `profile:read` scope).
    pub async fn userinfo(&self) -> Result<Value, ApiError> {
        let url = self.url(&["oauth2", "userinfo"], &[])?;
        let call = Call::new(Method::GET, url, "GET /oauth2/userinfo", Expect::Json);
        self.json_of(&call).await
    }

    /// `GET /api/v1/usage/me/summary`, unwrapped from `{"success","data"}`.
    pub async fn usage_summary(&self) -> Result<types::UsageSummary, ApiError> {
        let url = self.url(&["api", "v1", "usage", "me", "summary"], &[])?;
        let call = Call::new(
            Method::GET,
            url,
            "GET /api/v1/usage/me/summary",
            Expect::Json,
        );
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
        let same_origin = parsed.origin() == self.inner.settings.base_url.origin();
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

    // ---------- machinery ----------

    fn http(&self) -> Result<&reqwest::Client, ApiError> {
        let built = self.inner.http.get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(self.inner.settings.connect_timeout)
                .build()
                .map_err(|e| sse::describe_error(&e.without_url()))
        });
        built.as_ref().map_err(|m| ApiError::Network {
            message: format!("the HTTP client could not be set up ({m})"),
            maybe_charged: false,
        })
    }

    /// `base_url` + fixed segments + dynamic segments (each percent-encoded on its own).
    fn url(&self, fixed: &[&str], dynamic: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.inner.settings.base_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| ApiError::InvalidInput {
                    message:
                        "The AI Pass base URL must be an http(s) URL such as https://aipass.one."
                            .to_string(),
                })?;
            segments
                .pop_if_empty()
                .extend(fixed.iter().copied())
                .extend(dynamic.iter().copied());
        }
        Ok(url)
    }

    /// A model-API endpoint: under the alias path once the server turned out to have only that,
    /// else under the canonical path with the alias kept for a fallback.
    fn api_url(&self, fixed: &[&str], dynamic: &[&str]) -> Result<Target, ApiError> {
        let settings = &self.inner.settings;
        let under = |base: &[String]| {
            let segments: Vec<&str> = base
                .iter()
                .map(String::as_str)
                .chain(fixed.iter().copied())
                .collect();
            self.url(&segments, dynamic)
        };
        match &settings.alias_path {
            Some(alias) if self.inner.on_alias.load(Ordering::Relaxed) => Ok(under(alias)?.into()),
            Some(alias) => Ok(Target {
                url: under(&settings.api_path)?,
                alias: Some(under(alias)?),
            }),
            None => Ok(under(&settings.api_path)?.into()),
        }
    }

    async fn json_of<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, ApiError> {
        let (body, _) = self.fetch(call).await?;
        parse_json(&body, call)
    }

    async fn binary_of(&self, call: &Call<'_>) -> Result<Binary, ApiError> {
        let (bytes, content_type) = self.fetch(call).await?;
        Ok(Binary {
            bytes,
            content_type,
        })
    }

    /// Sends the call and reads the whole successful body. A GET whose body broke off is
    /// retried like one whose connection failed.
    async fn fetch(&self, call: &Call<'_>) -> Result<(Vec<u8>, Option<String>), ApiError> {
        let mut retries = 0;
        loop {
            let resp = self.execute(call, &mut retries).await?;
            let content_type = content_type(&resp);
            match self.read_body(resp, call).await {
                Ok(body) => return Ok((body, content_type)),
                Err(err @ (ApiError::Network { .. } | ApiError::Timeout { .. }))
                    if call.method == Method::GET && retries < GET_RETRIES =>
                {
                    tracing::debug!(what = call.what, error = %err, "response body failed; retrying");
                    backoff(retries).await;
                    retries += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Sends until there is a successful response (status and content type checked), an error
    /// that must not be retried, or no retries left. Handles the 401 → refresh → retry step.
    async fn execute(&self, call: &Call<'_>, retries: &mut u32) -> Result<Response, ApiError> {
        let http = self.http()?;
        let mut token = if call.bearer {
            Some(self.inner.tokens.access_token().await?)
        } else {
            None
        };
        let mut refreshed = false;
        let mut rate_waits = 0;
        let mut url = &call.url;
        loop {
            let request = self.build(http, call, url, token.as_ref())?;
            let started = Instant::now();
            let sent = if call.expect == Expect::Stream {
                // Streams have no whole-request timeout; bound the wait for the headers here.
                match tokio::time::timeout(self.inner.settings.request_timeout, request.send())
                    .await
                {
                    Ok(sent) => sent,
                    Err(_) => {
                        return Err(ApiError::Timeout {
                            maybe_charged: call.paid,
                        });
                    }
                }
            } else {
                request.send().await
            };
            let resp = match sent {
                Ok(resp) => resp,
                Err(e) => {
                    let connect = e.is_connect();
                    let err = self.send_error(e, call);
                    tracing::debug!(what = call.what, attempt = *retries + 1, error = %err, "request failed");
                    let allowed = if call.method == Method::GET {
                        GET_RETRIES
                    } else if connect {
                        POST_CONNECT_RETRIES
                    } else {
                        0
                    };
                    if *retries < allowed {
                        backoff(*retries).await;
                        *retries += 1;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = resp.status();
            if let Some(alias) = call.alias_url.as_ref() {
                if status == StatusCode::NOT_FOUND && url != alias {
                    // No such route here (unless the 404 is about the model); a server with only
                    // the alias path may have it. A 404 was not processed: sending again is free.
                    let err = self.status_error(resp, call, token.as_ref()).await;
                    if matches!(err, ApiError::ModelNotFound { .. }) {
                        return Err(err);
                    }
                    tracing::debug!(
                        what = call.what,
                        "no route under the API path; trying the alias path"
                    );
                    url = alias;
                    continue;
                }
                if url == alias && status != StatusCode::NOT_FOUND {
                    self.inner.on_alias.store(true, Ordering::Relaxed);
                }
            }
            tracing::debug!(
                what = call.what,
                status = status.as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                attempt = *retries + 1,
                "AI Pass answered"
            );
            if status.is_success() {
                return self.check_content_type(resp, call).await;
            }
            if status == StatusCode::UNAUTHORIZED
                && let Some(failed) = token.take()
            {
                if !refreshed {
                    refreshed = true;
                    if let Some(fresh) = self
                        .inner
                        .tokens
                        .refresh_after_unauthorized(&failed)
                        .await?
                    {
                        tracing::debug!(what = call.what, "retrying with a refreshed token");
                        token = Some(fresh);
                        continue;
                    }
                }
                return Err(self.status_error(resp, call, Some(&failed)).await);
            }
            if status.is_server_error() && call.method == Method::GET && *retries < GET_RETRIES {
                backoff(*retries).await;
                *retries += 1;
                continue;
            }
            let err = self.status_error(resp, call, token.as_ref()).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = rate_limit_step(err, rate_waits, self.inner.settings.max_retry_wait)?;
                tracing::info!(
                    what = call.what,
                    wait_ms = wait.as_millis() as u64,
                    "rate limited by AI Pass; waiting before retrying"
                );
                tokio::time::sleep(wait + jitter(RATE_LIMIT_JITTER_MS)).await;
                rate_waits += 1;
                continue;
            }
            return Err(err);
        }
    }

    fn build(
        &self,
        http: &reqwest::Client,
        call: &Call<'_>,
        url: &Url,
        token: Option<&AccessToken>,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        let mut rb = http.request(call.method.clone(), url.clone());
        if call.expect != Expect::Stream {
            rb = rb.timeout(self.inner.settings.request_timeout);
        }
        let accept = match call.expect {
            Expect::Json => "application/json",
            Expect::Stream => "text/event-stream",
            Expect::Media | Expect::Any => "*/*",
        };
        rb = rb.header(header::ACCEPT, accept);
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.secret()))
                .map_err(|_| ApiError::AuthRequired {
                    message: "The AI Pass access token contains characters that cannot be sent in an HTTP header; sign in again.".to_string(),
                    sign_in_url: None,
                })?;
            value.set_sensitive(true);
            rb = rb.header(header::AUTHORIZATION, value);
        }
        let client_id = self
            .inner
            .settings
            .client_id
            .clone()
            .or_else(|| self.inner.tokens.client_id());
        if call.first_party
            && let Some(id) = &client_id
        {
            let value = HeaderValue::from_str(id).map_err(|_| ApiError::InvalidInput {
                message: "The AI Pass client id contains characters that cannot be sent in an HTTP header.".to_string(),
            })?;
            rb = rb.header(CLIENT_ID_HEADER, value);
        }
        rb = match &call.payload {
            Payload::Empty => rb,
            Payload::Json(bytes) => rb
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Payload::Multipart(build) => rb.multipart(build()?),
        };
        Ok(rb)
    }

    /// A request that got no answer. Never formats the URL (revoke carries a token in it).
    fn send_error(&self, e: reqwest::Error, call: &Call<'_>) -> ApiError {
        let connect = e.is_connect();
        let timeout = e.is_timeout();
        let detail = sse::describe_error(&e.without_url());
        if connect {
            let host = call.url.host_str().unwrap_or("the server").to_string();
            // The connection never opened, so nothing was sent and nothing charged.
            return ApiError::Network {
                message: format!("the connection to {host} failed ({detail})"),
                maybe_charged: false,
            };
        }
        if timeout {
            return ApiError::Timeout {
                maybe_charged: call.paid,
            };
        }
        let err = ApiError::Network {
            message: format!("the request to {} failed ({detail})", call.what),
            maybe_charged: call.paid,
        };
        match call.extra_secret {
            Some(s) => err.redact(s),
            None => err,
        }
    }

    /// Maps a non-success answer, reading a little of its body for the API's message.
    /// The bearer token and the call's other secret are taken out of the body before it is
    /// parsed and cut short, so no piece of a secret survives at the cut.
    async fn status_error(
        &self,
        resp: Response,
        call: &Call<'_>,
        token: Option<&AccessToken>,
    ) -> ApiError {
        let status = resp.status().as_u16();
        let content_type = content_type(&resp);
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(error::parse_retry_after);
        let body = read_capped(resp, ERROR_BODY_CAP).await.unwrap_or_default();
        let secrets: Vec<&str> = token
            .map(AccessToken::secret)
            .into_iter()
            .chain(call.extra_secret)
            .collect();
        let parsed = error::parse_error_body_redacted(&body, content_type.as_deref(), &secrets);
        let err = if status == 401 && !call.bearer {
            // No token was sent, so this is not about the user's sign-in.
            ApiError::Upstream {
                status,
                message: parsed.message.unwrap_or_else(|| "unauthorized".to_string()),
                maybe_charged: false,
            }
        } else {
            error::from_parts(status, retry_after, &parsed, call.paid)
        };
        tracing::debug!(
            what = call.what,
            status,
            code = err.code(),
            "AI Pass refused the request"
        );
        secrets.iter().fold(err, |err, secret| err.redact(secret))
    }

    async fn check_content_type(
        &self,
        resp: Response,
        call: &Call<'_>,
    ) -> Result<Response, ApiError> {
        let Some(ct) = content_type(&resp) else {
            return Ok(resp);
        };
        let lower = ct.to_ascii_lowercase();
        match call.expect {
            Expect::Json if !is_json(&lower) => Err(ApiError::InvalidResponse {
                message: format!("expected JSON from {}, got {}", call.what, short_ct(&ct)),
                maybe_charged: call.paid,
            }),
            Expect::Media if is_json(&lower) || lower.starts_with("text/html") => {
                let body = read_capped(resp, ERROR_BODY_CAP).await.unwrap_or_default();
                let parsed = error::parse_error_body(&body, Some(&ct));
                Err(ApiError::InvalidResponse {
                    message: format!(
                        "expected media from {}, got {}{}",
                        call.what,
                        short_ct(&ct),
                        parsed.message.map(|m| format!(": {m}")).unwrap_or_default()
                    ),
                    maybe_charged: call.paid,
                })
            }
            _ => Ok(resp),
        }
    }

    async fn read_body(&self, resp: Response, call: &Call<'_>) -> Result<Vec<u8>, ApiError> {
        let cap = self.inner.settings.max_response_bytes;
        read_capped(resp, cap).await.map_err(|e| match e {
            ReadError::TooLarge(size) => ApiError::InvalidResponse {
                message: match size {
                    Some(size) => format!(
                        "the answer of {} is {size} bytes, over the {cap}-byte limit",
                        call.what
                    ),
                    None => format!("the answer of {} is over the {cap}-byte limit", call.what),
                },
                maybe_charged: call.paid,
            },
            ReadError::Http(e) if e.is_timeout() => ApiError::Timeout {
                maybe_charged: call.paid,
            },
            ReadError::Http(e) => ApiError::Network {
                message: format!(
                    "the answer of {} broke off ({})",
                    call.what,
                    sse::describe_error(&e.without_url())
                ),
                maybe_charged: call.paid,
            },
        })
    }
}

enum ReadError {
    TooLarge(Option<u64>),
    Http(reqwest::Error),
}

/// Reads a body, failing as soon as it grows past `cap` (and up front on a large Content-Length).
async fn read_capped(mut resp: Response, cap: u64) -> Result<Vec<u8>, ReadError> {
    if let Some(len) = resp.content_length()
        && len > cap
    {
        return Err(ReadError::TooLarge(Some(len)));
    }
    let hint = resp.content_length().unwrap_or(0).min(cap).min(8 << 20);
    let mut buf = Vec::with_capacity(hint as usize);
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
        if buf.len() as u64 + chunk.len() as u64 > cap {
            return Err(ReadError::TooLarge(None));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn content_type(resp: &Response) -> Option<String> {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn is_json(content_type: &str) -> bool {
    let lower = content_type.to_ascii_lowercase();
    let essence = lower.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

/// The media type without parameters, for messages.
fn short_ct(content_type: &str) -> String {
    error::truncate(
        content_type
            .split(';')
            .next()
            .unwrap_or(content_type)
            .trim(),
    )
}

fn parse_json<T: DeserializeOwned>(body: &[u8], call: &Call<'_>) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::InvalidResponse {
        // serde's message names the line and column, not the body, so it stays short.
        message: format!(
            "the answer of {} was not the expected JSON ({})",
            call.what,
            error::truncate(&e.to_string())
        ),
        maybe_charged: call.paid,
    })
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

/// Capped exponential backoff with jitter (so many clients do not retry in step).
async fn backoff(retries_so_far: u32) {
    tokio::time::sleep(backoff_delay(retries_so_far) + jitter(BACKOFF_JITTER_MS)).await;
}

fn backoff_delay(retries_so_far: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(4u32.saturating_pow(retries_so_far))
        .min(BACKOFF_CAP)
}

fn jitter(max_ms: u64) -> Duration {
    Duration::from_millis(rand::random_range(0..=max_ms))
}

/// What to do after a 429: wait this long and retry, or give up with this error.
fn rate_limit_step(
    err: ApiError,
    waits_so_far: u32,
    max_wait: Duration,
) -> Result<Duration, ApiError> {
    let ApiError::RateLimited {
        message,
        retry_after_seconds,
    } = err
    else {
        return Err(err);
    };
    let wait = retry_after_seconds.map_or(RATE_LIMIT_DEFAULT_WAIT, Duration::from_secs);
    if waits_so_far >= RATE_LIMIT_RETRIES {
        return Err(ApiError::RateLimited {
            message: format!("{message} It was retried {waits_so_far} times."),
            retry_after_seconds,
        });
    }
    if wait > max_wait {
        let limit = format!("AIPASS_MAX_RETRY_WAIT ({} s)", max_wait.as_secs_f64());
        let why = match retry_after_seconds {
            Some(s) => format!("It asked to wait {s} s, longer than {limit}"),
            None => format!(
                "The {} s wait before a retry is longer than {limit}",
                wait.as_secs()
            ),
        };
        return Err(ApiError::RateLimited {
            message: format!("{message} {why}, so it was not retried."),
            retry_after_seconds,
        });
    }
    Ok(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StaticTokenProvider;

    fn client(base: &str) -> ApiClient {
        ApiClient::new(
            ApiSettings::new(Url::parse(base).unwrap()),
            Arc::new(StaticTokenProvider::new(None)),
        )
    }

    #[test]
    fn new_does_not_build_the_http_client() {
        let c = client("https://aipass.one");
        assert!(c.inner.http.get().is_none());
        assert_eq!(c.settings().request_timeout, Duration::from_secs(300));
        assert_eq!(c.settings().max_response_bytes, 64 * 1024 * 1024);
        assert_eq!(c.settings().connect_timeout, Duration::from_secs(10));
    }

    #[test]
    fn model_ids_keep_slashes_and_encode_the_rest() {
        let c = client("https://aipass.one");
        let url = |id: &str| {
            c.url(&["oauth2", "v1", "models"], &model_id_segments(id).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(
            url("fal-ai/nano-banana-2/edit"),
            "https://aipass.one/oauth2/v1/models/fal-ai/nano-banana-2/edit"
        );
        assert_eq!(
            url("gemini/gemini-2.5-pro"),
            "https://aipass.one/oauth2/v1/models/gemini/gemini-2.5-pro"
        );
        assert_eq!(
            url("we ird?#%x"),
            "https://aipass.one/oauth2/v1/models/we%20ird%3F%23%25x"
        );
        for bad in ["", "/gpt", "a//b", "a/", "../x", "a/./b", "a\nb"] {
            assert!(model_id_segments(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base_url_prefix_is_kept() {
        let c = client("http://127.0.0.1:8080/proxy/?x=1");
        assert_eq!(
            c.url(&["oauth2", "v1", "models"], &[]).unwrap().as_str(),
            "http://127.0.0.1:8080/proxy/oauth2/v1/models"
        );
        let c = client("https://aipass.one/");
        assert_eq!(
            c.url(
                &["oauth2", "v1", "videos"],
                &[video_id("a/b").unwrap(), "content"]
            )
            .unwrap()
            .as_str(),
            "https://aipass.one/oauth2/v1/videos/a%2Fb/content"
        );
        assert!(video_id("..").is_err());
    }

    #[test]
    fn upload_debug_hides_bytes() {
        let u = Upload {
            bytes: vec![1; 10],
            file_name: "a.png".into(),
            mime_type: "image/png".into(),
        };
        assert_eq!(
            format!("{u:?}"),
            r#"Upload { file_name: "a.png", mime_type: "image/png", bytes: 10 }"#
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_delay(0), Duration::from_millis(200));
        assert_eq!(backoff_delay(1), Duration::from_millis(800));
        assert_eq!(backoff_delay(2), Duration::from_secs(2));
        assert_eq!(backoff_delay(30), Duration::from_secs(2));
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/html"));
        assert!(!is_json("application/jsonl"));
    }
}
