//! A tool session: the strict fake AI Pass in-process, the real `aipass-mcp` binary spawned over
//! stdio, and rmcp's client speaking to it in either protocol era.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use aipass_fake::{Catalogue, FakeConfig, FakeServer};
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ListRootsResult, ProgressNotificationParam, Root,
};
use rmcp::service::NotificationContext;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientServiceExt, RoleClient};
use serde_json::Value;

use crate::ports::{ReservedPort, reserve_port};
use crate::spawn::{capture, clean_vars_in, command};

// What the tool tests use beside sessions, under one name.
pub use crate::fixtures::{files, text, write_png};
pub use crate::spawn::{Era, binary};

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
    /// Keeps the sign-in redirect URI's port to this session while it lives.
    _redirect_port: ReservedPort,
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
    let home = output.path();
    let mut vars = clean_vars_in(home);
    let redirect_port = reserve_port();
    vars.extend(
        [
            ("AIPASS_BASE_URL", fake.base_url()),
            ("AIPASS_CLIENT_ID", "aipass-mcp-demo".into()),
            ("AIPASS_LOG", "debug".into()),
            // Sign-in (when a test gives no token) must not wait long.
            ("AIPASS_LOGIN_TIMEOUT", "2".into()),
            (
                "AIPASS_REDIRECT_URI",
                format!("http://127.0.0.1:{}/callback", redirect_port.number()),
            ),
        ]
        .map(|(key, value)| (key.to_string(), value)),
    );
    if let Some(scope) = options.token_scope {
        vars.push((
            "AIPASS_ACCESS_TOKEN".into(),
            fake.issue_token(scope).access_token,
        ));
    }
    if options.api_key {
        vars.push(("AIPASS_API_KEY".into(), fake.issue_api_key()));
    }
    // `{fake}` in a value stands for the fake's origin (`127.0.0.1:<port>`), known only now.
    let fake_origin = fake.base_url().trim_start_matches("http://").to_string();
    for (key, value) in &options.extra_env {
        vars.push((key.clone(), value.replace("{fake}", &fake_origin)));
    }
    let work_dir = options.working_dir.as_deref().unwrap_or(home);
    let command = tokio::process::Command::from(command(&[], vars, work_dir));
    let (transport, stderr_pipe) = TokioChildProcess::builder(command)
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary spawns");
    let stderr = capture(stderr_pipe.expect("piped stderr"));
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
        _redirect_port: redirect_port,
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

    /// Makes `folder` one of the roots this client reports (asked for by the server in the
    /// 2025-11-25 era; the 2026-07-28 era has no roots).
    pub fn add_root(&self, folder: &std::path::Path) {
        let uri = url::Url::from_directory_path(folder).expect("an absolute folder");
        self.handler.roots.lock().unwrap().push(uri.to_string());
    }

    /// Writes a real PNG of the given size into the session's temp folder.
    pub fn write_png(&self, name: &str, width: u32, height: u32) -> PathBuf {
        let path = self.output.path().join(name);
        write_png(&path, width, height);
        path
    }
}
