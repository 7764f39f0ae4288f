//! Shared end-to-end harness: the strict fake AI Pass in-process, the real `aipass-mcp` binary
//! spawned over stdio, and rmcp's client speaking to it in either protocol era.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use aipass_fake::{Catalogue, FakeConfig, FakeServer};
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ListRootsResult, ProgressNotificationParam, ProtocolVersion, Root,
};
use rmcp::service::NotificationContext;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::Value;
use tokio::io::AsyncReadExt;

/// The two protocol eras the server must speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25: `initialize` handshake.
    Initialize,
    /// 2026-07-28: `server/discover`, then self-contained requests.
    Discover,
}

impl Era {
    fn lifecycle(self) -> ClientLifecycleMode {
        match self {
            Era::Initialize => ClientLifecycleMode::Initialize,
            Era::Discover => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        }
    }
}

/// Generates one `#[tokio::test]` per era from an `async fn(Era)`.
#[macro_export]
macro_rules! both_eras {
    ($($name:ident),* $(,)?) => {
        mod initialize_era {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Era::Initialize).await;
                }
            )*
        }
        mod discover_era {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Era::Discover).await;
                }
            )*
        }
    };
}

/// The test's MCP client: records every progress notification it receives.
#[derive(Clone, Default)]
pub struct TestClient {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    /// Roots it lists when asked (file:// URIs); it always declares the roots capability.
    pub roots: Arc<Mutex<Vec<String>>>,
}

#[allow(deprecated)] // roots are deprecated by SEP-2577, yet hosts still send them
impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_roots().build(),
            Implementation::new("aipass-mcp-tests", "0.1.0"),
        )
    }

    async fn list_roots(
        &self,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, rmcp::ErrorData> {
        let roots = self
            .roots
            .lock()
            .unwrap()
            .iter()
            .map(|uri| Root::new(uri.clone()))
            .collect();
        Ok(ListRootsResult::new(roots))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// A running fake, a running server binary and a connected client.
pub struct Session {
    pub fake: FakeServer,
    pub output: tempfile::TempDir,
    pub client: RunningService<RoleClient, TestClient>,
    pub handler: TestClient,
    stderr: Arc<Mutex<String>>,
}

/// How to start a session.
pub struct Options {
    pub era: Era,
    /// Scope of the token the fake issues; None = no token at all.
    pub token_scope: Option<&'static str>,
    pub extra_env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    /// Which AI Pass the fake plays (the live one unless a test asks for the seed's).
    pub catalogue: Catalogue,
    /// Give the server a developer API key from the fake (`AIPASS_API_KEY`).
    pub api_key: bool,
}

impl Options {
    pub fn new(era: Era) -> Self {
        Self {
            era,
            token_scope: Some("api:access profile:read"),
            extra_env: Vec::new(),
            working_dir: None,
            catalogue: Catalogue::Live,
            api_key: false,
        }
    }

    /// Lets input URLs reach loopback (`AIPASS_ALLOW_LOCAL_URLS`): only for tests whose input
    /// URLs are served on this machine on purpose; every other test runs with the policy on.
    pub fn allowing_local_urls(mut self, value: &str) -> Self {
        self.extra_env
            .push(("AIPASS_ALLOW_LOCAL_URLS".into(), value.into()));
        self
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_aipass-mcp")
}

pub async fn start(era: Era) -> Session {
    start_with(Options::new(era)).await
}

/// A session against the fake playing the seed document's AI Pass.
pub async fn start_seed(era: Era) -> Session {
    start_with(Options {
        catalogue: Catalogue::Seed,
        ..Options::new(era)
    })
    .await
}

pub async fn start_with(options: Options) -> Session {
    let fake = FakeServer::start(FakeConfig {
        catalogue: options.catalogue,
        ..FakeConfig::default()
    })
    .await
    .expect("fake AI Pass starts");
    let output = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new(binary());
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", output.path())
        .env("AIPASS_BASE_URL", fake.base_url())
        .env("AIPASS_CLIENT_ID", "aipass-mcp-demo")
        .env("AIPASS_OUTPUT_DIR", output.path().join("out"))
        .env("AIPASS_LOG", "debug")
        // Sign-in (when a test gives no token) must not open a browser or wait long.
        .env("AIPASS_BROWSER", "none")
        .env("AIPASS_LOGIN_TIMEOUT", "2")
        .env(
            "AIPASS_REDIRECT_URI",
            format!("http://127.0.0.1:{}/callback", free_port()),
        )
        .env("AIPASS_CONFIG_DIR", output.path().join("config"))
        .env("AIPASS_TOKEN_STORE", "file");
    if let Some(scope) = options.token_scope {
        command.env("AIPASS_ACCESS_TOKEN", fake.issue_token(scope).access_token);
    }
    if options.api_key {
        command.env("AIPASS_API_KEY", fake.issue_api_key());
    }
    // `{fake}` in a value stands for the fake's origin (`127.0.0.1:<port>`), known only now.
    let fake_origin = fake.base_url().trim_start_matches("http://").to_string();
    for (key, value) in &options.extra_env {
        command.env(key, value.replace("{fake}", &fake_origin));
    }
    command.current_dir(options.working_dir.as_deref().unwrap_or(output.path()));
    let (transport, stderr_pipe) = TokioChildProcess::builder(command)
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary spawns");
    let stderr = Arc::new(Mutex::new(String::new()));
    if let Some(mut pipe) = stderr_pipe {
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let handler = TestClient::default();
    let client = handler
        .clone()
        .serve_with_lifecycle(transport, options.era.lifecycle())
        .await
        .expect("client connects");
    Session {
        fake,
        output,
        client,
        handler,
        stderr,
    }
}

impl Session {
    /// Calls a tool; a JSON-RPC error fails the test (tools report problems as results).
    pub async fn call(&self, name: &str, arguments: Value) -> CallToolResult {
        self.try_call(name, arguments)
            .await
            .unwrap_or_else(|e| panic!("{name}: JSON-RPC error {e}"))
    }

    pub async fn try_call(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, rmcp::ServiceError> {
        let Value::Object(arguments) = arguments else {
            panic!("arguments must be an object");
        };
        self.client
            .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(arguments))
            .await
    }

    /// Calls a tool that must succeed and returns its structured content.
    pub async fn ok(&self, name: &str, arguments: Value) -> Value {
        let result = self.call(name, arguments).await;
        assert_ne!(
            result.is_error,
            Some(true),
            "{name} failed: {}",
            text(&result)
        );
        result
            .structured_content
            .clone()
            .unwrap_or_else(|| panic!("{name}: no structuredContent"))
    }

    /// Calls a tool that must fail and returns its text, which starts with the error code.
    pub async fn err(&self, name: &str, arguments: Value) -> String {
        let result = self.call(name, arguments).await;
        assert_eq!(
            result.is_error,
            Some(true),
            "{name} should fail: {}",
            text(&result)
        );
        text(&result)
    }

    /// The progress messages received so far.
    pub fn progress_messages(&self) -> Vec<String> {
        self.handler
            .progress
            .lock()
            .unwrap()
            .iter()
            .filter_map(|p| p.message.clone())
            .collect()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn out_dir(&self) -> PathBuf {
        self.output.path().join("out")
    }

    /// Writes a real PNG of the given size into the session's temp folder.
    pub fn write_png(&self, name: &str, width: u32, height: u32) -> PathBuf {
        let path = self.output.path().join(name);
        write_png(&path, width, height);
        path
    }
}

/// A loopback port that was free a moment ago (so parallel tests do not share one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// All text blocks of a result, joined.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A PNG whose pixels vary, so it does not compress to nothing.
pub fn write_png(path: &Path, width: u32, height: u32) {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([((x * 7) ^ (y * 13)) as u8, (x * y) as u8, (x + y * 3) as u8])
    });
    image.save(path).expect("write png");
}

/// Paths listed in a result's `files`, checked to exist, be absolute and have the stated size.
pub fn files(structured: &Value) -> Vec<PathBuf> {
    structured["files"]
        .as_array()
        .expect("files is a list")
        .iter()
        .map(|file| {
            let path = PathBuf::from(file["path"].as_str().expect("path"));
            assert!(path.is_absolute(), "{path:?} is not absolute");
            let size = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{path:?}: {e}"))
                .len();
            assert_eq!(Some(size), file["bytes"].as_u64(), "{path:?} size");
            path
        })
        .collect()
}
