//! The sending machinery behind every endpoint: bearer auth with one refresh on 401, retries
//! that never repeat a paid request after an ambiguous failure, the alias-path fallback, and
//! capped response bodies.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::call::{Call, Endpoint, Expect, Payload, Root, Target};
use super::error::{self, ApiError};
use super::settings::ApiSettings;
use super::sse;
use super::token::{AccessToken, TokenProvider};
use super::types::Binary;

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

    /// A call to `endpoint` with `id` in its path and `query` on its URL.
    pub(super) fn call<'a>(
        &self,
        endpoint: &Endpoint,
        id: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Call<'a>, ApiError> {
        let segments = endpoint.segments(id);
        let target = match endpoint.root {
            Root::Api => self.api_url(&segments)?,
            Root::Origin => self.url(&segments)?.into(),
        };
        Ok(Call::to(
            endpoint.method.clone(),
            target.with_query(query),
            endpoint.what(),
            endpoint.expect,
        ))
    }
    // ---------- machinery ----------

    fn http(&self) -> Result<&reqwest::Client, ApiError> {
        let built = self.inner.http.get_or_init(|| {
            crate::tls::client_builder()
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

    /// `base_url` + `segments` (each percent-encoded on its own).
    fn url(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.inner.settings.base_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|_| ApiError::InvalidInput {
                message: "The AI Pass base URL must be an http(s) URL such as https://aipass.one."
                    .to_string(),
            })?
            .pop_if_empty()
            .extend(segments.iter().copied());
        Ok(url)
    }

    /// A model-API endpoint: under the alias path once the server turned out to have only that,
    /// else under the canonical path with the alias kept for a fallback.
    fn api_url(&self, segments: &[&str]) -> Result<Target, ApiError> {
        let settings = &self.inner.settings;
        let under = |base: &[String]| {
            let full: Vec<&str> = base
                .iter()
                .map(String::as_str)
                .chain(segments.iter().copied())
                .collect();
            self.url(&full)
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

    pub(super) async fn json_of<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> Result<T, ApiError> {
        let (body, _) = self.fetch(call).await?;
        parse_json(&body, call)
    }

    pub(super) async fn binary_of(&self, call: &Call<'_>) -> Result<Binary, ApiError> {
        let (bytes, content_type) = self.fetch(call).await?;
        Ok(Binary {
            bytes,
            content_type,
        })
    }

    /// Sends the call and reads the whole successful body. A GET whose body broke off is
    /// retried like one whose connection failed.
    pub(super) async fn fetch(
        &self,
        call: &Call<'_>,
    ) -> Result<(Vec<u8>, Option<String>), ApiError> {
        let mut retries = 0;
        loop {
            let resp = self.execute(call, &mut retries).await?;
            let content_type = content_type(&resp);
            match self.read_body(resp, call).await {
                Ok(body) => return Ok((body, content_type)),
                Err(err @ (ApiError::Network { .. } | ApiError::Timeout { .. }))
                    if call.method == Method::GET && retries < GET_RETRIES =>
                {
                    tracing::debug!(what = call.what.as_str(), error = %err, "response body failed; retrying");
                    backoff(retries).await;
                    retries += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Sends until there is a successful response (status and content type checked), an error
    /// that must not be retried, or no retries left. Handles the 401 → refresh → retry step.
    pub(super) async fn execute(
        &self,
        call: &Call<'_>,
        retries: &mut u32,
    ) -> Result<Response, ApiError> {
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
                    tracing::debug!(what = call.what.as_str(), attempt = *retries + 1, error = %err, "request failed");
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
                        what = call.what.as_str(),
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
                what = call.what.as_str(),
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
                        tracing::debug!(
                            what = call.what.as_str(),
                            "retrying with a refreshed token"
                        );
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
                    what = call.what.as_str(),
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
            what = call.what.as_str(),
            status,
            code = err.code().as_str(),
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

    pub(super) async fn read_body(
        &self,
        resp: Response,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, ApiError> {
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

pub(super) fn content_type(resp: &Response) -> Option<String> {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub(super) fn is_json(content_type: &str) -> bool {
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

pub(super) fn parse_json<T: DeserializeOwned>(body: &[u8], call: &Call<'_>) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| invalid_json(&e, call))
}

pub(super) fn invalid_json(e: &serde_json::Error, call: &Call<'_>) -> ApiError {
    ApiError::InvalidResponse {
        // serde's message names the line and column, not the body, so it stays short.
        message: format!(
            "the answer of {} was not the expected JSON ({})",
            call.what,
            error::truncate(&e.to_string())
        ),
        maybe_charged: call.paid,
    }
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

    #[test]
    fn new_does_not_build_the_http_client() {
        let c = ApiClient::new(
            ApiSettings::new(Url::parse("https://aipass.one").unwrap()),
            Arc::new(StaticTokenProvider::new(None)),
        );
        assert!(c.inner.http.get().is_none());
        assert_eq!(c.settings().request_timeout, Duration::from_secs(300));
        assert_eq!(c.settings().max_response_bytes, 64 * 1024 * 1024);
        assert_eq!(c.settings().connect_timeout, Duration::from_secs(10));
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
