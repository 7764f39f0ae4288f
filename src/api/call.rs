//! What one request is, before it is sent: the endpoint it goes to (method, path, answer
//! kind, written once per endpoint), its URL (and the alias path's), body and secrets.

use reqwest::Method;
use serde::Serialize;
use url::Url;

use super::error::ApiError;
use super::settings::API_PATH;

pub(super) type FormBuilder<'a> =
    dyn Fn() -> Result<reqwest::multipart::Form, ApiError> + Sync + 'a;

pub(super) enum Payload<'a> {
    Empty,
    Json(Vec<u8>),
    /// Rebuilt for every attempt: a sent form is consumed.
    Multipart(&'a FormBuilder<'a>),
}

/// The kind of answer an endpoint gives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Expect {
    Json,
    /// Audio or video: a JSON or HTML answer is a disguised error.
    Media,
    Any,
    Stream,
}

/// Where an endpoint's path starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Root {
    /// Under the model API path (`/v1`), with the alias path as a fallback.
    Api,
    /// Under the origin itself (`/oauth2/...`, `/api/v1/...`).
    Origin,
}

/// One AI Pass endpoint, written once: its method, its path (`{id}` stands for the caller's id,
/// which may be several segments) and the kind of answer it gives.
pub(super) struct Endpoint {
    pub method: Method,
    pub root: Root,
    pub path: &'static str,
    pub expect: Expect,
}

impl Endpoint {
    /// For logs and messages, e.g. `POST /v1/chat/completions`.
    pub(super) fn what(&self) -> String {
        let prefix = match self.root {
            Root::Api => API_PATH,
            Root::Origin => "",
        };
        let stream = if self.expect == Expect::Stream {
            " (stream)"
        } else {
            ""
        };
        format!("{} {prefix}/{}{stream}", self.method, self.path)
    }

    /// The path's segments with `{id}` replaced by `id`.
    pub(super) fn segments<'s>(&'s self, id: &[&'s str]) -> Vec<&'s str> {
        self.path
            .split('/')
            .flat_map(|s| match s {
                "{id}" => id.to_vec(),
                fixed => vec![fixed],
            })
            .collect()
    }

    /// The same endpoint with another kind of answer (chat, streamed).
    pub(super) fn expecting(&self, expect: Expect) -> Self {
        Endpoint {
            method: self.method.clone(),
            expect,
            ..*self
        }
    }
}

/// One logical request, possibly sent several times.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) url: Url,
    /// For logs and messages; never the URL (it may hold a token in its query).
    pub(super) what: String,
    /// Send the bearer token (and handle 401 by refreshing).
    pub(super) bearer: bool,
    /// The URL is on the API origin (so the client id header may go along).
    pub(super) first_party: bool,
    /// The request spends money: ambiguous failures are never retried and say so.
    pub(super) paid: bool,
    pub(super) payload: Payload<'a>,
    pub(super) expect: Expect,
    /// A secret in the request besides the bearer token, to scrub from error text.
    pub(super) extra_secret: Option<&'a str>,
    /// The same endpoint under the alias path, tried when `url` has no route (404).
    pub(super) alias_url: Option<Url>,
}

/// Where a call goes: a URL, and for model-API endpoints the same endpoint under the alias path.
pub(super) struct Target {
    pub(super) url: Url,
    pub(super) alias: Option<Url>,
}

impl From<Url> for Target {
    fn from(url: Url) -> Self {
        Target { url, alias: None }
    }
}

impl Target {
    /// Adds query parameters to both URLs.
    pub(super) fn with_query(mut self, pairs: &[(&str, &str)]) -> Self {
        if !pairs.is_empty() {
            for url in std::iter::once(&mut self.url).chain(self.alias.as_mut()) {
                url.query_pairs_mut().extend_pairs(pairs);
            }
        }
        self
    }
}

impl<'a> Call<'a> {
    /// A call to a URL that is not one of the API's endpoints (a download).
    pub(super) fn new(method: Method, url: Url, what: &str, expect: Expect) -> Self {
        Self::to(method, url.into(), what.to_string(), expect)
    }

    pub(super) fn to(method: Method, target: Target, what: String, expect: Expect) -> Self {
        let paid = method == Method::POST;
        let Target { url, alias } = target;
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

    pub(super) fn json(mut self, body: &impl Serialize) -> Result<Self, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::InvalidInput {
            message: format!("The request could not be encoded as JSON ({e})."),
        })?;
        self.payload = Payload::Json(bytes);
        Ok(self)
    }

    pub(super) fn multipart(mut self, build: &'a FormBuilder<'a>) -> Self {
        self.payload = Payload::Multipart(build);
        self
    }
}
