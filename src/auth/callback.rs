//! The loopback callback listener: it answers the short start links once with a redirect to
//! the authorize URL, takes the callback with the right `state`, and shows the result page.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use url::Url;

use super::authorize::START_PATH;
use super::pkce::constant_time_eq;

/// The longest request head the callback listener reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How long one browser connection may take to send its request.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing the answer page may take.
const RESPONSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the browser brought back to the callback with the right `state`.
#[derive(Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Consent given: the authorization code.
    Code(String),
    /// The authorization server sent an error (`access_denied` when the user declined).
    Error {
        /// The OAuth `error` code.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
}

impl fmt::Debug for CallbackOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackOutcome::Code(_) => f.write_str("Code(<redacted>)"),
            CallbackOutcome::Error { error, description } => f
                .debug_struct("Error")
                .field("error", error)
                .field("description", description)
                .finish(),
        }
    }
}

/// The page shown in the browser at the end.
#[derive(Clone, Debug)]
pub struct Page {
    /// True when sign-in worked.
    pub success: bool,
    /// One or two sentences (plain text, escaped on output).
    pub message: String,
}

impl Page {
    /// "You are signed in" page.
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: message.into(),
        }
    }

    /// "Sign-in did not work" page.
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            success: false,
            message: message.into(),
        }
    }

    fn html(&self) -> String {
        let (title, colour) = if self.success {
            ("Signed in to AI Pass", "#1a7f37")
        } else {
            ("AI Pass sign-in did not complete", "#b42318")
        };
        html_page(title, colour, &self.message, "You can close this tab.")
    }
}

fn html_page(title: &str, colour: &str, message: &str, footer: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\
         <body style=\"font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem;\">\
         <h1 style=\"color: {colour}; font-size: 1.5rem;\">{title}</h1>\
         <p>{message}</p><p style=\"color: #555;\">{footer}</p>\
         <p style=\"color: #888; font-size: 0.8rem;\">aipass-mcp</p></body></html>",
        message = escape_html(message),
        footer = escape_html(footer),
    )
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The address the listener binds for a redirect URI: `127.0.0.1` for `127.0.0.1` and
/// `localhost`, `::1` for `[::1]`; never a public interface.
pub fn callback_addr(redirect_uri: &Url) -> io::Result<SocketAddr> {
    let port = redirect_uri.port().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the redirect URI needs an explicit port",
        )
    })?;
    let ip = match redirect_uri.host() {
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => IpAddr::V6(ip),
        Some(url::Host::Ipv6(_)) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    Ok(SocketAddr::new(ip, port))
}

/// The loopback listener of one sign-in; the port is released when it is dropped.
pub struct CallbackServer {
    listener: TcpListener,
    path: String,
    /// The only `Host` header accepted: the redirect URI's host and the bound port. A page that
    /// reaches the port through a rebinding DNS name sends its own name and is refused.
    host: String,
}

struct IncomingRequest {
    stream: TcpStream,
    method: String,
    path: String,
    host: Option<String>,
    query: Vec<(String, String)>,
}

impl CallbackServer {
    /// Binds the host and port of the redirect URI. `AddrInUse` means another process (most
    /// likely another aipass-mcp signing in) holds it.
    pub async fn bind(redirect_uri: &Url) -> io::Result<Self> {
        let addr = callback_addr(redirect_uri)?;
        let listener = TcpListener::bind(addr).await?;
        let port = listener.local_addr()?.port();
        let host = format!("{}:{port}", redirect_uri.host_str().unwrap_or("127.0.0.1"));
        Ok(Self {
            listener,
            path: redirect_uri.path().to_owned(),
            host: host.to_ascii_lowercase(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves the browser until a request to the callback path carries `state`; anything else
    /// (another path, a wrong or missing state, no code, a foreign `Host`) is answered 4xx and
    /// the wait goes on. `GET /start/<nonce>` answers 302 to `authorize_url` once per nonce in
    /// `start_nonces` (before the callback arrived), then 410; any other `/start` path is 404.
    /// `finish` turns the outcome into the result and the page the browser shows; while it runs
    /// (the code exchange) the listener keeps answering.
    pub async fn wait<T>(
        self,
        state: &str,
        authorize_url: &str,
        start_nonces: Vec<String>,
        finish: impl AsyncFnOnce(CallbackOutcome) -> (T, Page),
    ) -> T {
        let mut unused = start_nonces;
        let mut spent: Vec<String> = Vec::new();
        let (tx, mut rx) = mpsc::channel::<IncomingRequest>(16);
        let mut finish = Some(finish);
        // The callback's connection and the exchange, once the right callback arrived.
        let mut callback: Option<TcpStream> = None;
        let mut finishing = std::pin::pin!(futures::future::OptionFuture::from(None));
        loop {
            tokio::select! {
                Some((result, page)) = &mut finishing, if callback.is_some() => {
                    let page: Page = page;
                    let status = if page.success { 200 } else { 400 };
                    if let Some(stream) = callback.take() {
                        respond(stream, status, &[], &page.html()).await;
                    }
                    return result;
                }
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tracing::trace!(%peer, "sign-in listener: connection");
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            if let Some(request) = read_request(stream).await {
                                let _ = tx.send(request).await;
                            }
                        });
                    }
                    Err(e) => {
                        tracing::debug!("sign-in listener: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(request) = rx.recv() => {
                    let used = callback.is_some();
                    let nonce = request.path.strip_prefix(START_PATH).and_then(|rest| rest.strip_prefix('/'));
                    let live = nonce.and_then(|n| unused.iter().position(|u| constant_time_eq(u, n)));
                    if let (Some(index), true, false) = (live, request.method == "GET", used)
                        && self.host_matches(&request)
                    {
                        spent.push(unused.swap_remove(index));
                        tracing::debug!("sign-in listener: sent the browser on to the sign-in page");
                        let location = authorize_url.to_owned();
                        let body = html_page("Opening AI Pass sign-in", "#555", "Taking you to the AI Pass sign-in page.", "If nothing happens, go back and open the link again.");
                        tokio::spawn(async move {
                            respond(request.stream, 302, &[("Location", &location)], &body).await
                        });
                        continue;
                    }
                    let was_spent = nonce.is_some_and(|n| spent.iter().any(|u| constant_time_eq(u, n)));
                    match self.classify(&request, state, used, was_spent) {
                        Ok(outcome) => {
                            if let Some(finish) = finish.take() {
                                callback = Some(request.stream);
                                finishing.set(Some(finish(outcome)).into());
                            }
                        }
                        Err((status, message)) => {
                            tracing::debug!(
                                status,
                                method = %request.method,
                                path = %request.path,
                                "sign-in listener: ignored a request"
                            );
                            let body = html_page("Not an AI Pass sign-in", "#555", message, "This page can be closed.");
                            tokio::spawn(async move { respond(request.stream, status, &[], &body).await });
                        }
                    }
                }
            }
        }
    }

    /// Whether the request names this listener in its `Host` header.
    fn host_matches(&self, request: &IncomingRequest) -> bool {
        request
            .host
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&self.host))
    }

    /// What a request other than a live `GET /start/<nonce>` gets; `used` is true once the
    /// callback arrived (the sign-in is being finished: its links are spent), `spent_link` when
    /// the request names a start link that was already opened.
    fn classify(
        &self,
        request: &IncomingRequest,
        expected_state: &str,
        used: bool,
        spent_link: bool,
    ) -> Result<CallbackOutcome, (u16, &'static str)> {
        if !self.host_matches(request) {
            return Err((421, "This address is not the aipass-mcp sign-in listener."));
        }
        if request.path == START_PATH || request.path.starts_with("/start/") {
            if request.method != "GET" {
                return Err((405, "Open this link in a browser."));
            }
            if spent_link || used {
                return Err((
                    410,
                    "This sign-in link was already opened, and works only once. Finish signing in on the page it opened; if you closed it, ask your agent for a new link.",
                ));
            }
            return Err((404, "There is nothing here."));
        }
        if request.path != self.path {
            return Err((404, "There is nothing here."));
        }
        if request.method != "GET" {
            return Err((405, "Only the browser's redirect is accepted here."));
        }
        if used {
            return Err((
                410,
                "This sign-in is already being finished. You can close this tab.",
            ));
        }
        let param = |name: &str| {
            request
                .query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        match param("state") {
            Some(state) if constant_time_eq(state, expected_state) => {}
            _ => {
                return Err((
                    400,
                    "This link does not belong to the sign-in that is waiting (its state does not match). Start again from the link aipass-mcp showed.",
                ));
            }
        }
        if let Some(error) = param("error").filter(|e| !e.is_empty()) {
            return Ok(CallbackOutcome::Error {
                error: error.to_owned(),
                description: param("error_description")
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned),
            });
        }
        match param("code").filter(|c| !c.is_empty()) {
            Some(code) => Ok(CallbackOutcome::Code(code.to_owned())),
            None => Err((400, "The redirect carries no authorization code.")),
        }
    }
}

/// Reads one request head; None when the connection sent nothing usable in time.
async fn read_request(mut stream: TcpStream) -> Option<IncomingRequest> {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(REQUEST_READ_TIMEOUT, async {
        let mut chunk = [0u8; 2048];
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
                return Some(());
            }
            if buf.len() > MAX_REQUEST_HEAD {
                return None;
            }
        }
    })
    .await;
    if !matches!(read, Ok(Some(()))) {
        return None;
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let host = head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("host")
            .then(|| value.trim().to_owned())
    });
    let query = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Some(IncomingRequest {
        stream,
        method,
        path: path.to_owned(),
        host,
        query,
    })
}

async fn respond(mut stream: TcpStream, status: u16, headers: &[(&str, &str)], body: &str) {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        421 => "Misdirected Request",
        410 => "Gone",
        _ => "Error",
    };
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         {extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(RESPONSE_WRITE_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_binds_loopback_only() {
        let addr = callback_addr(&Url::parse("http://localhost:47821/callback").unwrap()).unwrap();
        assert_eq!(addr, "127.0.0.1:47821".parse().unwrap());
        let addr = callback_addr(&Url::parse("http://[::1]:5000/cb").unwrap()).unwrap();
        assert_eq!(addr, "[::1]:5000".parse().unwrap());
    }

    #[test]
    fn pages_escape_messages() {
        let html = Page::failure("<script>").html();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("close this tab"));
    }

    async fn get(addr: SocketAddr, target: &str) -> (u16, String) {
        request(addr, "GET", target).await
    }

    async fn request(addr: SocketAddr, method: &str, target: &str) -> (u16, String) {
        request_to(addr, &addr.to_string(), method, target).await
    }

    async fn request_to(addr: SocketAddr, host: &str, method: &str, target: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        (status, response)
    }

    #[tokio::test]
    async fn listener_ignores_strangers_and_ends_on_the_right_state() {
        let redirect = Url::parse("http://127.0.0.1:0/callback").unwrap();
        let server = CallbackServer::bind(&redirect).await.unwrap();
        let addr = server.local_addr().unwrap();
        let waiting = tokio::spawn(server.wait(
            "good",
            "http://auth.example/authorize?state=good",
            Vec::new(),
            async |outcome| (outcome, Page::success("done")),
        ));
        assert_eq!(get(addr, "/favicon.ico").await.0, 404);
        assert_eq!(get(addr, "/callback?code=abc&state=bad").await.0, 400);
        assert_eq!(get(addr, "/callback?code=abc").await.0, 400);
        assert_eq!(get(addr, "/callback?state=good").await.0, 400);
        // A connection that never sends anything does not block the others.
        let _idle = TcpStream::connect(addr).await.unwrap();
        let (status, page) = get(addr, "/callback?code=abc&state=good").await;
        assert_eq!(status, 200);
        assert!(page.contains("Signed in"));
        assert_eq!(waiting.await.unwrap(), CallbackOutcome::Code("abc".into()));
        // `wait` consumes the listener, so the port is released when it returns. Connecting to
        // the freed port to prove it would race every other test that binds an ephemeral port.
    }

    #[tokio::test]
    async fn listener_reports_denial() {
        let redirect = Url::parse("http://127.0.0.1:0/cb").unwrap();
        let server = CallbackServer::bind(&redirect).await.unwrap();
        let addr = server.local_addr().unwrap();
        let waiting = tokio::spawn(server.wait(
            "s",
            "http://auth.example/a",
            Vec::new(),
            async |outcome| (outcome, Page::failure("declined")),
        ));
        let (status, _) = get(
            addr,
            "/cb?error=access_denied&error_description=The+user+denied&state=s",
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            waiting.await.unwrap(),
            CallbackOutcome::Error {
                error: "access_denied".into(),
                description: Some("The user denied".into())
            }
        );
    }

    #[tokio::test]
    async fn a_foreign_host_is_refused_on_every_route() {
        let redirect = Url::parse("http://127.0.0.1:0/callback").unwrap();
        let server = CallbackServer::bind(&redirect).await.unwrap();
        let addr = server.local_addr().unwrap();
        let nonce = "n1".to_string();
        let waiting = tokio::spawn(server.wait(
            "good",
            "http://auth.example/authorize?state=good",
            vec![nonce],
            async |outcome| (outcome, Page::success("done")),
        ));
        // What a web page reaching the port through a rebinding DNS name would send.
        for host in ["evil.example:80", &format!("localhost:{}", addr.port()), ""] {
            for target in ["/start/n1", "/callback?code=abc&state=good", "/"] {
                let (status, response) = request_to(addr, host, "GET", target).await;
                assert_eq!(status, 421, "{host} {target}");
                assert!(!response.contains("state=good"), "{response}");
            }
        }
        // The right Host still gets the link, once.
        assert_eq!(get(addr, "/start/n1").await.0, 302);
        assert_eq!(get(addr, "/callback?code=abc&state=good").await.0, 200);
        assert_eq!(waiting.await.unwrap(), CallbackOutcome::Code("abc".into()));
    }

    #[tokio::test]
    async fn start_redirects_while_waiting_then_is_gone() {
        let redirect = Url::parse("http://127.0.0.1:0/callback").unwrap();
        let server = CallbackServer::bind(&redirect).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let nonces = ["first".to_string(), "second".to_string()];
        let waiting = tokio::spawn(server.wait(
            "good",
            "http://auth.example/authorize?state=good",
            nonces.to_vec(),
            async move |outcome| {
                // The code exchange: the listener must keep answering meanwhile.
                let _ = released.await;
                (outcome, Page::success("done"))
            },
        ));
        // Without a nonce, or with a wrong one, there is nothing to get.
        for target in ["/start", "/start/", "/start/guess", "/start/firs"] {
            let (status, response) = get(addr, target).await;
            assert_eq!(status, 404, "{target}");
            assert!(!response.contains("state=good"), "{response}");
        }
        let (status, response) = get(addr, "/start/first").await;
        assert_eq!(status, 302);
        assert!(
            response.contains("\r\nLocation: http://auth.example/authorize?state=good\r\n"),
            "{response}"
        );
        let (status, response) = get(addr, "/start/first").await;
        assert_eq!(status, 410, "each link works once");
        assert!(!response.contains("state=good"), "{response}");
        assert_eq!(request(addr, "POST", "/start/second").await.0, 405);
        let callback = tokio::spawn(get(addr, "/callback?code=abc&state=good"));
        // While the exchange runs, the link and the callback are spent.
        let mut gone = false;
        for _ in 0..200 {
            if get(addr, "/start/second").await.0 == 410 {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone, "/start answers 410 once the callback arrived");
        assert_eq!(get(addr, "/callback?code=abc&state=good").await.0, 410);
        release.send(()).unwrap();
        assert_eq!(callback.await.unwrap().0, 200);
        assert_eq!(waiting.await.unwrap(), CallbackOutcome::Code("abc".into()));
    }
}
