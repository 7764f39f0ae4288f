//! Downloads of inputs an agent gives as http(s) URLs: through [`crate::net_policy`] (checked
//! URL, checked redirects, checked addresses), no AI Pass credentials, no proxy, a size cap
//! enforced while streaming and a time limit.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header;
use url::Url;

use crate::net_policy::{REFUSED_MESSAGE, UrlPolicy, is_refusal};

/// The longest an input download may take, whatever the request timeout.
pub const INPUT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

const USER_AGENT: &str = concat!("aipass-mcp/", env!("CARGO_PKG_VERSION"));

/// The client for input URLs. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct InputFetcher {
    inner: Arc<Inner>,
}

struct Inner {
    policy: UrlPolicy,
    connect_timeout: Duration,
    timeout: Duration,
    /// Built on first use, like the API client: building loads TLS roots.
    http: OnceLock<Result<reqwest::Client, String>>,
}

impl InputFetcher {
    /// Downloads take at most `timeout` (and never more than [`INPUT_DOWNLOAD_TIMEOUT`]).
    pub fn new(policy: UrlPolicy, connect_timeout: Duration, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                policy,
                connect_timeout,
                timeout: timeout.min(INPUT_DOWNLOAD_TIMEOUT),
                http: OnceLock::new(),
            }),
        }
    }

    /// Downloads `url`, refused as soon as the body passes `max_bytes`. The policy is checked
    /// before anything is sent. The error is a sentence for the agent. Not retried: the URL is
    /// the caller's, and a retry would only double the wait.
    pub async fn download(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
        let parsed = Url::parse(url).map_err(|e| format!("it is not a valid URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "only http and https URLs are accepted, not '{}:'",
                parsed.scheme()
            ));
        }
        self.inner
            .policy
            .check_url(&parsed)
            .map_err(|_| REFUSED_MESSAGE.to_string())?;
        let http = self.http()?;
        let limit = self.inner.timeout;
        let work = async {
            let mut resp = http
                .get(parsed)
                .header(header::ACCEPT, "*/*")
                .send()
                .await
                .map_err(describe)?;
            if !resp.status().is_success() {
                return Err(format!("the server answered HTTP {}", resp.status()));
            }
            let too_large =
                || format!("it is larger than the {max_bytes}-byte limit for this input");
            if resp.content_length().is_some_and(|len| len > max_bytes) {
                return Err(too_large());
            }
            let hint = resp
                .content_length()
                .unwrap_or(0)
                .min(max_bytes)
                .min(8 << 20);
            let mut body = Vec::with_capacity(hint as usize);
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("the download broke off ({})", describe(e)))?
            {
                if body.len() as u64 + chunk.len() as u64 > max_bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        tokio::time::timeout(limit, work).await.map_err(|_| {
            format!(
                "it did not finish downloading within {} s",
                limit.as_secs_f32()
            )
        })?
    }

    fn http(&self) -> Result<&reqwest::Client, String> {
        let built = self.inner.http.get_or_init(|| {
            let policy = &self.inner.policy;
            crate::tls::client_builder()
                .user_agent(USER_AGENT)
                .connect_timeout(self.inner.connect_timeout)
                // A proxy would resolve the name itself, past the address check.
                .no_proxy()
                .redirect(policy.redirect_policy())
                .referer(false)
                .dns_resolver(policy.resolver())
                .build()
                .map_err(describe)
        });
        built
            .as_ref()
            .map_err(|m| format!("the HTTP client could not be set up ({m})"))
    }
}

/// The error's text without its URL; a policy refusal is always the same sentence.
fn describe(error: reqwest::Error) -> String {
    if is_refusal(&error) {
        return REFUSED_MESSAGE.to_string();
    }
    crate::api::sse::describe_error(&error.without_url())
}
