//! No secret leaks: a whole session at the most verbose log level (sign-in, every tool, a
//! refresh, upstream failures, then `status`, `logout`, `login`, `logout`) is searched for every
//! access token, refresh token, authorization code and PKCE verifier the fake issued or received,
//! and a first run without a client id for every `asg_` setup grant and device code (on disk too).
//! The Debug output of every type that holds one of them is redacted.

use std::path::Path;
use std::time::Duration;

use aipass_fake::{Fault, FaultKind, IssuedSecrets};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};
use testkit::auth::{BALANCE, Browser, Env, query_param, text};

/// Everything the user or the agent could see: stderr, tool results, errors, pages, CLI output.
#[derive(Default)]
struct Seen {
    parts: Vec<(String, String)>,
}

impl Seen {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.parts.push((what.into(), text.into()));
    }

    fn result(&mut self, what: &str, result: &Result<CallToolResult, rmcp::ServiceError>) {
        match result {
            Ok(result) => self.add(what, serde_json::to_string(result).unwrap()),
            Err(e) => self.add(format!("{what} (JSON-RPC error)"), format!("{e} {e:?}")),
        }
    }

    /// Fails on the first secret found, naming where (and only the secret's first characters).
    fn assert_clean(&self, secrets: &IssuedSecrets) {
        for (what, text) in &self.parts {
            if let Some(secret) = secrets.found_in(text) {
                panic!("{what} shows a secret ({secret})");
            }
            // A token cut short is still a leak of most of it.
            for prefix in ["aipass_at_", "aipass_rt_", "asg_"] {
                assert!(!text.contains(prefix), "{what} shows a {prefix}… token");
            }
        }
    }
}

async fn call(
    server: &testkit::auth::Server,
    name: &str,
    arguments: Value,
) -> Result<CallToolResult, rmcp::ServiceError> {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    let call = server
        .client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(arguments));
    tokio::time::timeout(Duration::from_secs(90), call)
        .await
        .unwrap_or_else(|_| panic!("{name} did not answer in 90 s"))
}

/// Calls a tool that must succeed; returns its structured content.
async fn ok(
    seen: &mut Seen,
    server: &testkit::auth::Server,
    name: &str,
    arguments: Value,
) -> Value {
    let result = call(server, name, arguments).await;
    seen.result(name, &result);
    let result = result.unwrap_or_else(|e| panic!("{name}: JSON-RPC error {e}"));
    assert_ne!(result.is_error, Some(true), "{name}: {}", text(&result));
    result.structured_content.unwrap_or(Value::Null)
}

/// Calls a tool that must fail (a result with isError, or a JSON-RPC error).
async fn fails(seen: &mut Seen, server: &testkit::auth::Server, name: &str, arguments: Value) {
    let result = call(server, name, arguments).await;
    seen.result(name, &result);
    if let Ok(result) = &result {
        assert_eq!(result.is_error, Some(true), "{name}: {}", text(result));
    }
}

fn first_path(structured: &Value) -> String {
    structured["files"][0]["path"]
        .as_str()
        .expect("a file path")
        .to_string()
}

fn write_png(path: &Path) {
    image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    })
    .save(path)
    .expect("write png");
}

/// Valid arguments for every tool the catalogue had when this was written; a tool added later
/// is still called (with `{}`) by the loop over tools/list.
async fn call_every_tool_validly(
    seen: &mut Seen,
    server: &testkit::auth::Server,
    png: &str,
) -> Vec<&'static str> {
    ok(seen, server, "whoami", json!({})).await;
    ok(seen, server, "list_models", json!({})).await;
    ok(seen, server, "list_models", json!({"id": "gpt-5-nano"})).await;
    ok(
        seen,
        server,
        "chat",
        json!({"prompt": "Hello", "images": [png]}),
    )
    .await;
    ok(seen, server, "embed", json!({"input": ["one", "two"]})).await;
    ok(
        seen,
        server,
        "generate_image",
        json!({"prompt": "A fox", "size": "96x64"}),
    )
    .await;
    ok(
        seen,
        server,
        "generate_image",
        json!({"prompt": "A fox by URL", "model": "nano-banana-2"}),
    )
    .await;
    ok(
        seen,
        server,
        "edit_image",
        json!({"prompt": "Bluer", "images": [png]}),
    )
    .await;
    ok(seen, server, "vary_image", json!({"image": png})).await;
    let spoken = ok(seen, server, "speak", json!({"text": "Say nothing secret"})).await;
    let heard = ok(
        seen,
        server,
        "transcribe",
        json!({"file": first_path(&spoken)}),
    )
    .await;
    assert_eq!(heard["text"], "Say nothing secret");
    let video = ok(
        seen,
        server,
        "generate_video",
        json!({"prompt": "A boat", "wait_seconds": 0}),
    )
    .await;
    let video_id = video["video_id"].as_str().expect("video_id").to_string();
    let done = ok(
        seen,
        server,
        "get_video",
        json!({"video_id": video_id, "wait_seconds": 20}),
    )
    .await;
    assert_eq!(done["status"], "completed");
    ok(
        seen,
        server,
        "remix_video",
        json!({"video_id": video_id, "prompt": "At night", "wait_seconds": 0}),
    )
    .await;
    ok(seen, server, BALANCE, json!({"refresh": true})).await;
    vec![
        "whoami",
        "list_models",
        "chat",
        "embed",
        "generate_image",
        "edit_image",
        "vary_image",
        "speak",
        "transcribe",
        "generate_video",
        "get_video",
        "remix_video",
        BALANCE,
    ]
}

/// The whole life of a session at `AIPASS_LOG=trace`, searched for every secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_at_trace_level_shows_no_secret() {
    let mut env = Env::new().await;
    env.log_level = "trace".into();
    let browser = Browser::auto(&env);
    let png = env.dir.path().join("in.png");
    write_png(&png);
    let png = png.display().to_string();
    let mut seen = Seen::default();

    // Sign-in on first use, then every tool with valid arguments.
    let server = env.server(&[]).await;
    let tools = server.client.list_all_tools().await.expect("tools/list");
    seen.add("tools/list", serde_json::to_string(&tools).unwrap());
    ok(&mut seen, &server, BALANCE, json!({})).await;
    assert_eq!(env.fake.stats().code_exchanges, 1, "signed in");
    let called = call_every_tool_validly(&mut seen, &server, &png).await;

    // Every listed tool: the ones not covered above with no arguments, and all of them with
    // wrong ones (each answer, error or not, is searched).
    let junk = json!({
        "prompt": 5, "text": {}, "input": 7, "model": "no-such-model", "images": "x",
        "image": "/nonexistent/in.png", "file": "/nonexistent/in.wav", "video_id": "video_none",
        "capability": "bogus", "wait_seconds": 999, "size": "big",
    });
    for tool in &tools {
        let name = tool.name.to_string();
        if !called.contains(&name.as_str()) {
            let result = call(&server, &name, json!({})).await;
            seen.result(&name, &result);
        }
        let result = call(&server, &name, junk.clone()).await;
        seen.result(&format!("{name} with wrong arguments"), &result);
    }
    let result = call(&server, "no_such_tool", json!({})).await;
    assert!(result.is_err(), "an unknown tool is a JSON-RPC error");
    seen.result("no_such_tool", &result);

    // The access token expires at AI Pass: a 401, one refresh, the call retried.
    env.fake.expire_all_tokens();
    ok(&mut seen, &server, BALANCE, json!({"refresh": true})).await;
    assert_eq!(env.fake.stats().refreshes, 1);

    // Upstream failures, including at the token endpoint during a refresh.
    env.fake.inject_fault(
        Fault::new(FaultKind::Status {
            status: 500,
            retry_after: None,
            body: None,
        })
        .on("POST", "/v1/chat/completions")
        .times(10),
    );
    fails(&mut seen, &server, "chat", json!({"prompt": "fail"})).await;
    env.fake.inject_fault(
        Fault::new(FaultKind::Reset)
            .on("POST", "/v1/embeddings")
            .times(10),
    );
    fails(&mut seen, &server, "embed", json!({"input": "fail"})).await;
    env.fake.clear_faults();
    env.fake.expire_all_tokens();
    env.fake.inject_fault(
        Fault::new(FaultKind::Status {
            status: 503,
            retry_after: None,
            body: None,
        })
        .on("POST", "/oauth2/token")
        .times(10),
    );
    fails(&mut seen, &server, BALANCE, json!({"refresh": true})).await;
    env.fake.clear_faults();
    ok(&mut seen, &server, BALANCE, json!({"refresh": true})).await;
    assert_eq!(env.fake.stats().refreshes, 2);
    let stderr = server.stop().await;
    assert!(stderr.contains("TRACE"), "trace logging is on");
    seen.add("server stderr", stderr);

    // The terminal commands: status, a logout whose revocation fails, login, logout.
    let status = env.cli(&["status"], &[]).await;
    assert_eq!(status.code, Some(0), "{status:?}");
    env.fake.inject_fault(
        Fault::new(FaultKind::Reset)
            .on("POST", "/oauth2/revoke")
            .times(10),
    );
    let failed_logout = env.cli(&["logout"], &[]).await;
    assert!(
        failed_logout.stdout.contains("Signed out locally"),
        "{failed_logout:?}"
    );
    env.fake.clear_faults();
    let login = env.cli(&["login"], &[]).await;
    assert_eq!(login.code, Some(0), "{login:?}");
    let (stored_access, _) = env.stored().expect("login stored tokens");
    let logout = env.cli(&["logout"], &[]).await;
    assert!(logout.stdout.contains("Signed out:"), "{logout:?}");
    for (name, run) in [
        ("status", status),
        ("failed logout", failed_logout),
        ("login", login),
        ("logout", logout),
    ] {
        seen.add(format!("{name} stdout"), run.stdout);
        seen.add(format!("{name} stderr"), run.stderr);
    }
    let visits = browser.wait_for_visits(2).await;
    for visit in &visits {
        seen.add("the page the browser showed", visit.body.clone());
    }

    // The list is real: it holds what the browser carried and what the store held.
    let secrets = env.fake.issued_secrets();
    let code = query_param(&visits[1].final_url, "code").expect("a code");
    assert!(secrets.iter().any(|s| s == code), "the code is checked");
    assert!(
        secrets.iter().any(|s| s == stored_access),
        "tokens are checked"
    );
    // 2 codes, 2 verifiers, 4 access and 4 refresh tokens (sign-in, 2 refreshes, login).
    assert!(secrets.len() >= 12, "only {} secrets seen", secrets.len());
    eprintln!(
        "secrets checked: {} values in {} outputs ({} tools listed)",
        secrets.len(),
        seen.parts.len(),
        tools.len()
    );
    seen.assert_clean(&secrets);
}

/// First run with no client id, at trace level: the `asg_` setup grant and the device code never
/// show in logs, results, CLI output or pages, and never reach a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_setup_shows_no_grant_and_writes_none() {
    let mut env = Env::new().await;
    env.log_level = "trace".into();
    let browser = Browser::auto(&env);
    let mut seen = Seen::default();
    let no_client = [("AIPASS_CLIENT_ID", "")];
    let server = env.server(&no_client).await;
    ok(&mut seen, &server, BALANCE, json!({})).await;
    assert_eq!(env.fake.agent_auth_stats().clients_created, 1, "set up");
    seen.add("server stderr", server.stop().await);
    // Once more through the terminal: forget the client, log in (a second setup), status.
    for args in [
        &["logout", "--forget-client"][..],
        &["login"][..],
        &["status"][..],
    ] {
        let run = env.cli(args, &no_client).await;
        assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
        seen.add(format!("{args:?} stdout"), run.stdout);
        seen.add(format!("{args:?} stderr"), run.stderr);
    }
    for visit in browser.wait_for_visits(4).await {
        seen.add("the page the browser showed", visit.body);
    }
    // Every file the server and the CLI wrote (the token store holds OAuth tokens by design:
    // the files are searched for the setup's secrets).
    let mut files = Vec::new();
    let mut folders = vec![env.dir.path().to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    let secrets = env.fake.issued_secrets();
    let grants = secrets.iter().filter(|s| s.starts_with("asg_")).count();
    let device_codes = secrets.iter().filter(|s| s.starts_with("dc_")).count();
    assert_eq!(
        (grants, device_codes),
        (2, 2),
        "both setups' grants and codes are checked"
    );
    assert_eq!(
        env.fake.agent_auth_stats().sessions_revoked,
        2,
        "both grants revoked"
    );
    seen.assert_clean(&secrets);
}

/// A token given in AIPASS_ACCESS_TOKEN never shows either, even once AI Pass rejects it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_the_environment_never_shows() {
    let mut env = Env::new().await;
    env.log_level = "trace".into();
    let pair = env.fake.issue_token("api:access profile:read");
    let token = [("AIPASS_ACCESS_TOKEN", pair.access_token.as_str())];
    let mut seen = Seen::default();
    let server = env.server(&token).await;
    ok(&mut seen, &server, BALANCE, json!({"refresh": true})).await;
    ok(&mut seen, &server, "whoami", json!({})).await;
    env.fake.expire_all_tokens();
    fails(&mut seen, &server, BALANCE, json!({"refresh": true})).await;
    fails(
        &mut seen,
        &server,
        "chat",
        json!({"prompt": "after expiry"}),
    )
    .await;
    seen.add("server stderr", server.stop().await);
    let status = env.cli(&["status"], &token).await;
    assert_eq!(status.code, Some(1), "the token is dead: {status:?}");
    seen.add("status stdout", status.stdout);
    seen.add("status stderr", status.stderr);
    let secrets = env.fake.issued_secrets();
    assert!(secrets.iter().any(|s| s == pair.access_token));
    seen.assert_clean(&secrets);
}

/// Every type that holds a token, code or verifier prints it redacted.
#[tokio::test]
async fn debug_output_of_token_types_is_redacted() {
    use aipass_mcp::api::{AccessToken, StaticTokenProvider};
    use aipass_mcp::auth::flow::{CallbackOutcome, TokenResponse};
    use aipass_mcp::auth::pkce::Pkce;
    use aipass_mcp::auth::store::{FileStore, TokenStore};
    use aipass_mcp::auth::{AuthConfig, AuthSession, StoredTokens};

    const ACCESS: &str = "aipass_at_DEBUGaccess0123456789abcdefghij";
    const REFRESH: &str = "aipass_rt_DEBUGrefresh0123456789abcdefghi";
    const CODE: &str = "DEBUGcode0123456789abcdefghijklmnopqrstuv";
    const VERIFIER: &str = "DEBUGverifier0123456789abcdefghijklmnopqr";
    let stored = StoredTokens {
        access_token: ACCESS.into(),
        refresh_token: Some(REFRESH.into()),
        expires_at: Some(4_000_000_000),
        scope: Some("api:access".into()),
    };
    let response: TokenResponse = serde_json::from_value(json!({
        "access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 3600,
        "token_type": "Bearer", "scope": "api:access",
    }))
    .unwrap();
    let pkce = Pkce::from_verifier(VERIFIER.into(), "DEBUGstate0123456789abcd".into());

    // A session holding tokens in memory.
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path(), "debug@test");
    store.save(&stored).unwrap();
    let config = AuthConfig {
        base_url: "http://127.0.0.1:9".parse().unwrap(),
        client_id: Some("debug".into()),
        redirect_uri: "http://127.0.0.1:9/callback".parse().unwrap(),
        scopes: "api:access".into(),
        token_store: aipass_mcp::config::TokenStoreMode::File,
        config_dir: dir.path().to_path_buf(),
        browser: None,
        login_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        sign_in_lifetime: Duration::from_secs(1),
        refresh_skew: Duration::from_secs(60),
        allow_sign_in: false,
        lock_wait: aipass_mcp::auth::session::LOCK_WAIT,
    };
    let session = AuthSession::with_store(config, std::sync::Arc::new(store));
    assert!(session.current_tokens().await.is_some(), "tokens in memory");

    let shown = [
        format!("{:?}", AccessToken::new(ACCESS)),
        format!("{:?}", StaticTokenProvider::new(Some(ACCESS.into()))),
        format!("{stored:?}"),
        format!("{:?}", Some(stored.clone())),
        format!("{response:?}"),
        format!("{pkce:?}"),
        format!("{:?}", CallbackOutcome::Code(CODE.into())),
        format!("{session:?}"),
        format!("{:#?}", (&stored, &response, &pkce)),
    ];
    for text in &shown {
        for secret in [ACCESS, REFRESH, CODE, VERIFIER] {
            assert!(!text.contains(secret), "Debug shows a secret: {text}");
        }
        assert!(
            !text.contains("DEBUGstate"),
            "Debug shows the state: {text}"
        );
    }
    // Redacted, not empty: the non-secret fields are still there to debug with.
    assert!(
        shown[2].contains("expires_at: Some(4000000000)"),
        "{}",
        shown[2]
    );
    assert!(shown[4].contains("expires_in: Some(3600)"), "{}", shown[4]);
    assert!(shown[5].contains(pkce.challenge()), "{}", shown[5]);
}
