//! Zero configuration, end to end: with no `AIPASS_CLIENT_ID`, the real binary's first call that
//! needs the account asks the user to approve the device-approved setup, creates its OAuth client
//! on the (fake) account, signs in with it and answers the call. The browser stand-in of
//! testkit/src/auth.rs approves every page it is shown; the fake's `DeviceUser` scripts denial,
//! expiry, `slow_down` and a held `ensure` answer.

use std::time::{Duration, Instant};
use testkit::facts::ErrorCode;

use aipass_fake::{DeviceAnswer, DeviceUser};
use serde_json::{Value, json};
use testkit::auth::{BALANCE, Browser, Env, Era, Server, path_mode, query_param, text};

/// The settings a user who only ran `claude mcp add aipass -- aipass-mcp` has.
const NO_CLIENT_ID: &[&str] = &["AIPASS_CLIENT_ID"];

async fn fresh_server(env: &Env, era: Era) -> Server {
    env.server_with(&[], NO_CLIENT_ID, era).await
}

/// `client.json` in the config folder.
fn installation(env: &Env) -> Option<Value> {
    let text = std::fs::read_to_string(env.config_dir().join("client.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The client id and key stored for the fake's origin.
fn stored_client(env: &Env) -> (Option<String>, Option<String>) {
    let Some(file) = installation(env) else {
        return (None, None);
    };
    let entry = &file["origins"][env.fake.base_url()];
    (
        entry["clientId"].as_str().map(str::to_owned),
        entry["oauthClientIdempotencyKey"]
            .as_str()
            .map(str::to_owned),
    )
}

fn fingerprint(env: &Env) -> String {
    installation(env).expect("client.json")["projectFingerprint"]
        .as_str()
        .expect("a fingerprint")
        .to_owned()
}

/// Tokens saved in the file store for `client_id`.
fn stored_tokens_for(env: &Env, client_id: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(env.credentials_path()) else {
        return false;
    };
    let value: Value = serde_json::from_str(&text).unwrap_or_default();
    let account = format!("{client_id}@{}", env.fake.base_url());
    value["accounts"][account]["access_token"].is_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_creates_a_client_signs_in_and_answers_initialize_era() {
    first_run(Era::Initialize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_creates_a_client_signs_in_and_answers_discover_era() {
    first_run(Era::Discover).await;
}

async fn first_run(era: Era) {
    let env = Env::new().await;
    let browser = Browser::auto(&env);
    let server = fresh_server(&env, era).await;
    server.client.list_all_tools().await.expect("tools/list");
    assert_eq!(
        env.fake.agent_auth_stats().device_requests,
        0,
        "nothing at startup"
    );
    assert!(installation(&env).is_none(), "nothing written at startup");

    let started = Instant::now();
    let remaining = server.balance_ok().await;
    let elapsed = started.elapsed();
    assert_eq!(remaining, 10.0);

    let agent = env.fake.agent_auth_stats();
    assert_eq!(agent.device_requests, 1, "{agent:?}");
    assert_eq!(agent.approvals, 1);
    assert_eq!(agent.clients_created, 1);
    assert_eq!(agent.sessions_revoked, 1, "the setup grant is revoked");
    assert_eq!(agent.polls_too_fast, 0, "polls keep the interval");
    let stats = env.fake.stats();
    assert_eq!((stats.authorize, stats.code_exchanges), (1, 1));

    // Two pages in the browser: the setup approval, then the sign-in with the new client.
    let urls = env.opened_urls();
    eprintln!(
        "first run ({era:?}): {} browser approvals, first call to result in {} ms",
        urls.len(),
        elapsed.as_millis()
    );
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(urls[0].starts_with(&format!("{}/device?user_code=", env.fake.base_url())));
    let (client_id, key) = stored_client(&env);
    let client_id = client_id.expect("the client id is stored");
    assert_eq!(key.as_deref(), Some("oauth-client:v1"));
    // The browser is opened on the short sign-in link; the client id is in the page behind it.
    let visits = browser.wait_for_visits(2).await;
    assert_eq!(
        query_param(&visits[1].authorize_url, "client_id").as_deref(),
        Some(client_id.as_str())
    );

    // What was asked for: the smallest setup scopes and exactly the loopback callback.
    let device = env
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/agent-auth/device")
        .expect("the device request is recorded");
    assert_eq!(
        device.summary["requestedScopes"],
        json!(["setup:read", "oauth-clients:read", "oauth-clients:create"])
    );
    assert_eq!(
        device.summary["proposedRedirectUris"],
        json!([env.redirect_uri])
    );
    assert_eq!(device.summary["setupVersion"], json!(5));
    // Model and account calls name the new client.
    let summary = env
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/usage/me/summary")
        .expect("the balance request");
    assert_eq!(
        summary.client_id_header.as_deref(),
        Some(client_id.as_str())
    );

    let file = env.config_dir().join("client.json");
    assert_eq!(path_mode(&file), 0o600);
    assert!(uuid_v4(&fingerprint(&env)));
    assert!(stored_tokens_for(&env, &client_id));

    // The next call and the next process need nothing more.
    server.balance_ok().await;
    let stderr = server.stop().await;
    assert!(
        stderr.contains("created the AI Pass OAuth client"),
        "{stderr}"
    );
    let again = fresh_server(&env, era).await;
    again.balance_ok().await;
    again.stop().await;
    assert_eq!(env.fake.agent_auth_stats().device_requests, 1);
    assert_eq!(env.fake.stats().authorize, 1);
    assert_eq!(env.opened_urls().len(), 2);
}

fn uuid_v4(value: &str) -> bool {
    value.len() == 36 && value.as_bytes()[14] == b'4'
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_approval_ends_the_call_and_creates_nothing() {
    let env = Env::new().await;
    env.fake.set_device_user(DeviceUser {
        answer: DeviceAnswer::Deny,
        ..DeviceUser::default()
    });
    let _browser = Browser::auto(&env);
    let server = fresh_server(&env, Era::Initialize).await;
    let result = server.call(BALANCE, json!({})).await;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.starts_with(ErrorCode::AuthRequired.as_str()),
        "{message}"
    );
    assert!(message.contains("declined"), "{message}");
    let agent = env.fake.agent_auth_stats();
    assert_eq!(
        (agent.denials, agent.grants_issued, agent.ensures),
        (1, 0, 0)
    );
    assert_eq!(env.fake.stats().authorize, 0, "no sign-in without a client");
    assert_eq!(stored_client(&env).0, None);
    // Denial is not retried on its own, and the server keeps serving.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.fake.agent_auth_stats().device_requests, 1);
    server.client.list_all_tools().await.expect("still serving");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_approval_expires() {
    let env = Env::new().await;
    env.fake.set_device_user(DeviceUser {
        answer: DeviceAnswer::Ignore,
        expires_in: 3,
        ..DeviceUser::default()
    });
    let _browser = Browser::auto(&env);
    let server = fresh_server(&env, Era::Discover).await;
    let result = server.call(BALANCE, json!({})).await;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.starts_with(ErrorCode::AuthRequired.as_str()),
        "{message}"
    );
    assert!(message.contains("expired"), "{message}");
    let agent = env.fake.agent_auth_stats();
    assert_eq!((agent.device_requests, agent.grants_issued), (1, 0));
    assert!(agent.polls >= 1 && agent.polls <= 4, "{agent:?}");
    assert_eq!(stored_client(&env).0, None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_adds_five_seconds_to_every_later_poll() {
    let env = Env::new().await;
    env.fake.set_device_user(DeviceUser {
        slow_down_polls: 1,
        pending_polls: 1,
        ..DeviceUser::default()
    });
    let _browser = Browser::auto(&env);
    let server = fresh_server(&env, Era::Initialize).await;
    let started = Instant::now();
    server.balance_ok().await;
    let elapsed = started.elapsed();
    let agent = env.fake.agent_auth_stats();
    // Poll 1 slow_down, poll 2 pending, poll 3 approved: 1 + 6 + 6 s at least.
    assert_eq!(agent.polls, 3, "{agent:?}");
    assert_eq!(
        agent.polls_too_fast, 0,
        "no poll came sooner than the grown interval"
    );
    assert!(elapsed >= Duration::from_secs(13), "{elapsed:?}");
    assert_eq!(agent.clients_created, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_at_once_create_one_client() {
    let env = Env::new().await;
    let _browser = Browser::auto(&env);
    let (first, second) = tokio::join!(
        fresh_server(&env, Era::Initialize),
        fresh_server(&env, Era::Discover)
    );
    let (a, b) = tokio::join!(first.balance_ok(), second.balance_ok());
    assert_eq!((a, b), (10.0, 10.0));
    let agent = env.fake.agent_auth_stats();
    assert_eq!(agent.device_requests, 1, "{agent:?}");
    assert_eq!(agent.clients_created, 1);
    assert_eq!(env.fake.stats().authorize, 1, "one sign-in served both");
    assert_eq!(env.opened_urls().len(), 2);
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_ensure_resumes_with_the_same_client() {
    let env = Env::new().await;
    env.fake.set_device_user(DeviceUser {
        hold_ensure: true,
        ..DeviceUser::default()
    });
    let _browser = Browser::auto(&env);
    let doomed = fresh_server(&env, Era::Initialize).await;
    let pid = doomed.pid();
    let call = tokio::spawn(async move {
        let _ = doomed.call(BALANCE, json!({})).await;
    });
    for _ in 0..400 {
        if env.fake.agent_auth_stats().clients_created == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(env.fake.agent_auth_stats().clients_created, 1);
    let before = fingerprint(&env);
    assert_eq!(
        stored_client(&env).0,
        None,
        "killed before the id was stored"
    );
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    call.abort();
    env.fake.release_ensure();

    let server = fresh_server(&env, Era::Initialize).await;
    server.balance_ok().await;
    let agent = env.fake.agent_auth_stats();
    assert_eq!(
        agent.clients_created, 1,
        "the same client, not a second one: {agent:?}"
    );
    assert_eq!(
        agent.device_requests, 2,
        "the grant was in memory only: a new approval"
    );
    assert_eq!(agent.ensures, 2);
    assert_eq!(fingerprint(&env), before, "the same fingerprint");
    assert_eq!(stored_client(&env).1.as_deref(), Some("oauth-client:v1"));
    assert!(stored_client(&env).0.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_client_leads_to_one_fresh_approval_with_the_next_key() {
    let env = Env::new().await;
    let _browser = Browser::auto(&env);
    let server = fresh_server(&env, Era::Initialize).await;
    server.balance_ok().await;
    let (old, _) = stored_client(&env);
    let old = old.expect("a client");
    // The user deletes it in the developer panel; the access token runs out.
    assert!(env.fake.delete_client(&old));
    env.fake.expire_all_tokens();
    server.balance_ok().await;
    let (new, key) = stored_client(&env);
    let new = new.expect("a new client");
    assert_ne!(new, old);
    assert_eq!(key.as_deref(), Some("oauth-client:v2"));
    let agent = env.fake.agent_auth_stats();
    assert_eq!(agent.device_requests, 2, "one fresh approval: {agent:?}");
    assert_eq!(agent.clients_created, 2);
    assert!(stored_tokens_for(&env, &new));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_client_id_never_touches_the_device_endpoints() {
    let env = Env::new().await;
    // A stored client from an earlier run does not win over AIPASS_CLIENT_ID either.
    std::fs::create_dir_all(env.config_dir()).unwrap();
    let stale = json!({
        "schemaVersion": 1,
        "projectFingerprint": "4f23c8c2-75ee-4c7f-8762-cdb8225d7a31",
        "origins": { env.fake.base_url(): {
            "oauthClientIdempotencyKey": "oauth-client:v1",
            "clientId": "someone-elses-client",
            "redirectUri": env.redirect_uri,
        }}
    });
    std::fs::write(env.config_dir().join("client.json"), stale.to_string()).unwrap();
    let browser = Browser::auto(&env);
    let server = env.server(&[]).await;
    server.balance_ok().await;
    let visits = browser.wait_for_visits(1).await;
    assert_eq!(
        query_param(&visits[0].authorize_url, "client_id").as_deref(),
        Some(testkit::auth::CLIENT_ID)
    );
    assert_eq!(env.fake.agent_auth_stats().device_requests, 0);
    assert!(
        !env.fake
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/api/v1/agent-")),
        "no agent-auth or agent-control request"
    );
    let status = env.cli(&["status"], &[]).await;
    assert!(
        status
            .stdout
            .contains("OAuth client: aipass-mcp-test (from AIPASS_CLIENT_ID)"),
        "{status:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_login_status_and_logout_forget_client() {
    let env = Env::new().await;
    let _browser = Browser::auto(&env);
    let unset = [("AIPASS_CLIENT_ID", "")];
    let before = env.cli(&["status"], &unset).await;
    assert!(
        before.stdout.contains("OAuth client: none yet"),
        "{before:?}"
    );

    let login = env.cli(&["login"], &unset).await;
    assert_eq!(login.code, Some(0), "{login:?}");
    assert!(
        login.stderr.contains("/device?user_code="),
        "{}",
        login.stderr
    );
    assert!(
        login.stderr.contains("The page shows the code "),
        "{}",
        login.stderr
    );
    let (client_id, _) = stored_client(&env);
    let client_id = client_id.expect("a client");
    assert!(
        login.stdout.contains(&format!(
            "OAuth client: {client_id} (created on your AI Pass account"
        )),
        "{}",
        login.stdout
    );

    let status = env.cli(&["status"], &unset).await;
    assert_eq!(status.code, Some(0), "{status:?}");
    assert!(
        status.stdout.contains(&format!(
            "OAuth client: {client_id} (created on your AI Pass account by aipass-mcp, stored in "
        )),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("developer panel: https://aipass.one/panel/developer"),
        "{}",
        status.stdout
    );

    let logout = env.cli(&["logout", "--forget-client"], &unset).await;
    assert_eq!(logout.code, Some(0), "{logout:?}");
    assert!(
        logout.stdout.contains("Removed the stored OAuth client id"),
        "{}",
        logout.stdout
    );
    assert_eq!(stored_client(&env).0, None);
    assert!(!stored_tokens_for(&env, &client_id));
    let after = env.cli(&["status"], &unset).await;
    assert!(after.stdout.contains("OAuth client: none yet"), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_login_timeout_gets_the_approval_link_and_one_live_request() {
    let mut env = Env::new().await;
    env.login_timeout = "2".into();
    // Nobody approves: no browser stand-in runs.
    let server = fresh_server(&env, Era::Initialize).await;
    let result = server.call(BALANCE, json!({})).await;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.starts_with(ErrorCode::AuthRequired.as_str()),
        "{message}"
    );
    assert!(message.contains("approve"), "{message}");
    assert!(
        message.contains("AIPASS_CLIENT_ID"),
        "says how to use an own client: {message}"
    );
    let urls = env.opened_urls();
    assert_eq!(urls.len(), 1, "the approval page was opened once: {urls:?}");
    assert!(
        message.contains(&urls[0]),
        "the result carries the link: {message}"
    );
    let code = query_param(&urls[0], "user_code").expect("a user code");
    assert!(
        message.contains(&code),
        "and the code the page shows: {message}"
    );
    // The next call waits on the same live request: no second request, no second tab.
    let again = server.call(BALANCE, json!({})).await;
    assert_eq!(again.is_error, Some(true));
    assert!(text(&again).contains(&urls[0]), "{}", text(&again));
    assert_eq!(env.fake.agent_auth_stats().device_requests, 1);
    assert_eq!(env.opened_urls().len(), 1);
    // The user approves now; the call after that goes through.
    let _browser = Browser::auto(&env);
    server.balance_ok().await;
    assert_eq!(env.fake.agent_auth_stats().clients_created, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_ensure_answer_is_asked_again_with_the_same_key() {
    let env = Env::new().await;
    env.fake.inject_fault(
        aipass_fake::Fault::new(aipass_fake::FaultKind::Reset)
            .on("POST", "/api/v1/agent-control/oauth-clients/ensure"),
    );
    let _browser = Browser::auto(&env);
    let server = fresh_server(&env, Era::Initialize).await;
    server.balance_ok().await;
    let agent = env.fake.agent_auth_stats();
    assert_eq!(
        (agent.device_requests, agent.clients_created),
        (1, 1),
        "{agent:?}"
    );
    let ensures: Vec<_> = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/agent-control/oauth-clients/ensure")
        .map(|r| r.status)
        .collect();
    assert_eq!(ensures, vec![0, 200], "reset, then the same request again");
    assert_eq!(stored_client(&env).1.as_deref(), Some("oauth-client:v1"));
    server.stop().await;
}
