//! Harness for the sign-in tests: the strict fake AI Pass with a client registered on a free
//! loopback port, the real `aipass-mcp` binary, and a browser stand-in.
//!
//! The browser stand-in: `AIPASS_BROWSER` is `sh <dir>/browser.sh`, a two-line script that
//! appends the URL it is given to `<dir>/browser.log` (so no browser, curl or other program is
//! needed). A [`Browser`] task in the test then plays the user: it reads each new URL, GETs the
//! authorize page on the fake and follows the 302 to the server's loopback callback, exactly as a
//! browser does, and keeps what the callback answered.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aipass_fake::{FakeClient, FakeConfig, FakeServer, TokenPair};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientServiceExt, RoleClient};
use serde_json::Value;

use crate::fixtures::peak_memory_kib;
use crate::ports::ReservedPort;
use crate::spawn::{Folders, capture, clean_vars, command};

// What the sign-in tests use beside their world, under one name.
pub use crate::fixtures::{path_mode, text};
pub use crate::ports::reserve_port;
pub use crate::spawn::{Era, binary};

/// The OAuth client the tests register with the fake.
pub const CLIENT_ID: &str = "aipass-mcp-test";
/// A call that needs the account and spends nothing.
pub const BALANCE: &str = "balance";

/// One test's world: the fake, a private config folder and the browser stand-in.
pub struct Env {
    pub fake: FakeServer,
    pub dir: tempfile::TempDir,
    pub redirect_uri: String,
    /// Keeps the redirect URI's port to this world while it lives.
    _redirect_port: ReservedPort,
    pub login_timeout: String,
    pub log_level: String,
    /// A command the binary is run under (e.g. `dbus-run-session -- sh keyring.sh`); empty = none.
    pub wrapper: Vec<String>,
    /// Extra variables for every run.
    pub extra_vars: Vec<(String, String)>,
}

impl Env {
    pub async fn new() -> Env {
        Self::with_ttl(Duration::from_secs(3600)).await
    }

    pub async fn with_ttl(ttl: Duration) -> Env {
        let port = reserve_port();
        let redirect_uri = format!("http://127.0.0.1:{}/callback", port.number());
        let fake = FakeServer::start(FakeConfig {
            clients: vec![FakeClient {
                client_id: CLIENT_ID.into(),
                redirect_uris: vec![redirect_uri.clone()],
            }],
            access_token_ttl: ttl,
            ..FakeConfig::default()
        })
        .await
        .expect("the fake starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let env = Env {
            fake,
            dir,
            redirect_uri,
            _redirect_port: port,
            login_timeout: "60".into(),
            log_level: "debug".into(),
            wrapper: Vec::new(),
            extra_vars: Vec::new(),
        };
        std::fs::write(
            env.dir.path().join("browser.sh"),
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
                env.browser_log().display()
            ),
        )
        .expect("browser script");
        env
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.config_dir().join("credentials.json")
    }

    pub fn browser_log(&self) -> PathBuf {
        self.dir.path().join("browser.log")
    }

    pub fn browser_command(&self) -> String {
        format!("sh {}", self.dir.path().join("browser.sh").display())
    }

    /// URLs the server asked the browser to open, in order.
    pub fn opened_urls(&self) -> Vec<String> {
        std::fs::read_to_string(self.browser_log())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the browser was asked to open at least `n` URLs; returns the n-th.
    pub async fn wait_for_url(&self, n: usize) -> String {
        for _ in 0..300 {
            let urls = self.opened_urls();
            if urls.len() >= n {
                return urls[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server never opened URL #{n} in the browser");
    }

    /// The start of every short sign-in link of this env (`http://127.0.0.1:<port>/start/`).
    pub fn link_prefix(&self) -> String {
        self.redirect_uri.replace("/callback", "/start/")
    }

    /// The short link a running sign-in shows (the one it shares with other processes),
    /// once the listener is up.
    pub async fn shown_link(&self) -> String {
        let file = self
            .config_dir()
            .join(aipass_mcp::auth::session::SIGN_IN_URL_FILE);
        for _ in 0..300 {
            if let Ok(link) = std::fs::read_to_string(&file) {
                return link;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no sign-in link was shown");
    }

    /// The environment every server and CLI run gets (a clean one: no D-Bus, no real HOME).
    pub fn vars(&self) -> Vec<(String, String)> {
        let home = self.dir.path().join("home");
        let mut vars = clean_vars(&Folders {
            home: &home,
            config: &self.config_dir(),
            output: &self.dir.path().join("out"),
        });
        // This world's browser stand-in instead of none.
        vars.retain(|(key, _)| key != "AIPASS_BROWSER");
        let extra = [
            (
                "XDG_CONFIG_HOME",
                home.join(".config").display().to_string(),
            ),
            // No keyring unless a test starts one (dbus-run-session sets its own address).
            (
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", self.dir.path().join("no-bus").display()),
            ),
            ("AIPASS_BASE_URL", self.fake.base_url()),
            ("AIPASS_CLIENT_ID", CLIENT_ID.into()),
            ("AIPASS_REDIRECT_URI", self.redirect_uri.clone()),
            ("AIPASS_BROWSER", self.browser_command()),
            ("AIPASS_LOGIN_TIMEOUT", self.login_timeout.clone()),
            ("AIPASS_LOG", self.log_level.clone()),
        ];
        vars.extend(extra.map(|(key, value)| (key.to_string(), value)));
        vars
    }

    fn command(&self, extra: &[(&str, &str)], removed: &[&str]) -> tokio::process::Command {
        let vars = self
            .vars()
            .into_iter()
            .chain(self.extra_vars.clone())
            .filter(|(key, _)| !removed.contains(&key.as_str()));
        let mut command =
            tokio::process::Command::from(command(&self.wrapper, vars, self.dir.path()));
        for (key, value) in extra {
            command.env(key, value);
        }
        command
    }

    /// Starts `aipass-mcp` (serve) and connects rmcp's client in the `initialize` era.
    pub async fn server(&self, extra: &[(&str, &str)]) -> Server {
        self.server_with(extra, &[], Era::Initialize).await
    }

    pub async fn server_with(&self, extra: &[(&str, &str)], removed: &[&str], era: Era) -> Server {
        self.server_for((), extra, removed, era).await
    }

    /// Starts `aipass-mcp` (serve) with `host` as the client (a test's own `ClientHandler`).
    pub async fn server_for<H: ClientHandler>(
        &self,
        host: H,
        extra: &[(&str, &str)],
        removed: &[&str],
        era: Era,
    ) -> Server<H> {
        let command = self.command(extra, removed);
        let (transport, stderr_pipe) = TokioChildProcess::builder(command)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let pid = transport.id();
        let stderr = capture(stderr_pipe.expect("piped stderr"));
        let lifecycle = era.lifecycle();
        let client = tokio::time::timeout(
            Duration::from_secs(30),
            host.serve_with_lifecycle(transport, lifecycle),
        )
        .await
        .expect("the client connects in time")
        .expect("the client connects");
        Server {
            client,
            stderr,
            pid,
        }
    }

    /// Runs a CLI subcommand (`login`, `logout`, `status`) to the end.
    pub async fn cli(&self, args: &[&str], extra: &[(&str, &str)]) -> CliRun {
        let mut command = self.command(extra, &[]);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("the command ends in time")
            .expect("the command runs");
        CliRun {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Writes tokens to the file store as a previous session would have.
    pub fn seed(&self, pair: &TokenPair, expires_in: i64) {
        self.seed_raw(&pair.access_token, Some(&pair.refresh_token), expires_in);
    }

    pub fn seed_raw(&self, access: &str, refresh: Option<&str>, expires_in: i64) {
        let now = chrono_now();
        let mut record = serde_json::json!({
            "access_token": access,
            "expires_at": now + expires_in,
            "scope": "api:access profile:read",
        });
        if let Some(refresh) = refresh {
            record["refresh_token"] = refresh.into();
        }
        let account = format!("{CLIENT_ID}@{}", self.fake.base_url());
        let file = serde_json::json!({ "accounts": { account: record } });
        std::fs::create_dir_all(self.config_dir()).unwrap();
        std::fs::write(
            self.credentials_path(),
            serde_json::to_vec_pretty(&file).unwrap(),
        )
        .unwrap();
    }

    /// The tokens in the file store (access, refresh).
    pub fn stored(&self) -> Option<(String, Option<String>)> {
        let text = std::fs::read_to_string(self.credentials_path()).ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        let account = format!("{CLIENT_ID}@{}", self.fake.base_url());
        let record = value["accounts"].get(&account)?;
        Some((
            record["access_token"].as_str()?.to_owned(),
            record["refresh_token"].as_str().map(str::to_owned),
        ))
    }
}

pub fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A running `aipass-mcp` with a connected client.
pub struct Server<H: ClientHandler = ()> {
    pub client: RunningService<RoleClient, H>,
    stderr: Arc<Mutex<String>>,
    /// The process id of the binary (or of the wrapper it runs under).
    pid: Option<u32>,
}

impl<H: ClientHandler> Server<H> {
    pub async fn call(&self, name: &str, arguments: Value) -> CallToolResult {
        let Value::Object(arguments) = arguments else {
            panic!("arguments must be an object");
        };
        let call = self
            .client
            .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(arguments));
        tokio::time::timeout(Duration::from_secs(90), call)
            .await
            .unwrap_or_else(|_| panic!("{name} did not answer in 90 s"))
            .unwrap_or_else(|e| panic!("{name}: JSON-RPC error {e}"))
    }

    /// A `balance` call that must succeed; returns the remaining budget.
    pub async fn balance_ok(&self) -> f64 {
        let result = self
            .call(BALANCE, serde_json::json!({"refresh": true}))
            .await;
        assert_ne!(
            result.is_error,
            Some(true),
            "balance failed: {}",
            text(&result)
        );
        result
            .structured_content
            .as_ref()
            .expect("structuredContent")["remaining_budget"]
            .as_f64()
            .expect("remaining_budget")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.pid.expect("the server process has an id")
    }

    /// The process's peak resident memory so far (`VmHWM` in /proc/<pid>/status), in KiB;
    /// None where there is no /proc (not Linux).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_memory_kib(self.pid())
    }

    /// Waits until stderr contains `needle`.
    pub async fn wait_for_stderr(&self, needle: &str) {
        for _ in 0..400 {
            if self.stderr().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("stderr never showed {needle:?}:\n{}", self.stderr());
    }

    pub async fn stop(self) -> String {
        let stderr = self.stderr.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.cancel()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        stderr.lock().unwrap().clone()
    }
}

/// The outcome of one CLI run.
#[derive(Debug)]
pub struct CliRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// What the stand-in browser saw at the end of one visit.
#[derive(Clone, Debug)]
pub struct Visit {
    /// The URL it opened (the short sign-in link, or an authorize URL given directly).
    pub url: String,
    /// The authorize URL the short link sent it on to (with state and challenge).
    pub authorize_url: String,
    /// Where the redirects ended (the loopback callback, with code and state).
    pub final_url: String,
    pub status: u16,
    pub body: String,
}

/// Plays the user's browser: follows the short link to the authorize URL (recorded), then
/// through the fake's 302 to the callback.
pub async fn visit(url: &str) -> Visit {
    let authorize_url = if url.contains("/start") {
        start_location(url).await.expect("the short link redirects")
    } else {
        url.to_owned()
    };
    let http = aipass_mcp::tls::client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = http
        .get(&authorize_url)
        .send()
        .await
        .expect("the browser reaches the page");
    let final_url = response.url().to_string();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Visit {
        url: url.to_owned(),
        authorize_url,
        final_url,
        status,
        body,
    }
}

/// Where a short sign-in link redirects (the authorize URL), without following it; None when
/// it answers anything but a redirect. Opening it spends the link.
pub async fn start_location(link: &str) -> Option<String> {
    let http = aipass_mcp::tls::client_builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http.get(link).send().await.expect("GET the short link");
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get("location")?.to_str().ok()?;
    Some(location.to_owned())
}

/// A GET as a stray or hostile page would send it; returns the status.
pub async fn get_status(url: &str) -> u16 {
    let http = aipass_mcp::tls::client_builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    http.get(url).send().await.expect("GET").status().as_u16()
}

/// A browser that approves every URL the server opens, as soon as it appears.
pub struct Browser {
    visits: Arc<Mutex<Vec<Visit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Browser {
    pub fn auto(env: &Env) -> Browser {
        let log = env.browser_log();
        let visits = Arc::new(Mutex::new(Vec::new()));
        let sink = visits.clone();
        let task = tokio::spawn(async move {
            let mut seen = 0usize;
            loop {
                let urls: Vec<String> = std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect();
                for url in urls.iter().skip(seen) {
                    let visit = visit(url).await;
                    sink.lock().unwrap().push(visit);
                }
                seen = urls.len();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Browser { visits, task }
    }

    pub fn visits(&self) -> Vec<Visit> {
        self.visits.lock().unwrap().clone()
    }

    /// The visits once exactly `n` have finished (the server may answer its caller before the
    /// browser has read the page); fails on more.
    pub async fn wait_for_visits(&self, n: usize) -> Vec<Visit> {
        for _ in 0..200 {
            let visits = self.visits();
            if visits.len() >= n {
                assert_eq!(visits.len(), n, "browser visits");
                return visits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the browser finished {} visits, not {n}",
            self.visits().len()
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Asserts that none of `secrets` appears in `text`, and that no long base64url run other than
/// the `allowed` ones does (the PKCE verifier is such a run and is never known to the test).
pub fn assert_no_secrets(text: &str, secrets: &[&str], allowed: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !secret.is_empty() && !text.contains(secret),
            "{what} shows a secret ({}…)",
            &secret[..secret.len().min(12)]
        );
    }
    let mut run = String::new();
    let mut suspicious = Vec::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            run.push(c);
            continue;
        }
        if run.len() >= 40
            && !allowed.iter().any(|a| a.contains(run.as_str()))
            && looks_random(&run)
        {
            suspicious.push(run.clone());
        }
        run.clear();
    }
    assert!(
        suspicious.is_empty(),
        "{what} shows values that look like secrets: {suspicious:?}"
    );
}

/// Random base64url has upper case, lower case and digits mixed throughout.
fn looks_random(run: &str) -> bool {
    run.chars().any(|c| c.is_ascii_uppercase())
        && run.chars().any(|c| c.is_ascii_lowercase())
        && run.chars().any(|c| c.is_ascii_digit())
}
