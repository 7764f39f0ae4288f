//! Sign-in on first use, end to end: the real `aipass-mcp` binary over stdio, rmcp's client, the
//! strict fake AI Pass, and a browser stand-in (see testkit/src/auth.rs).

use std::time::{Duration, Instant};
use testkit::facts::ErrorCode;

use serde_json::json;
use testkit::auth::{
    BALANCE, Browser, Env, Era, assert_no_secrets, get_status, path_mode, query_param, text, visit,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_call_signs_in_and_completes_initialize_era() {
    first_call_signs_in_and_completes(Era::Initialize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_call_signs_in_and_completes_discover_era() {
    first_call_signs_in_and_completes(Era::Discover).await;
}

async fn first_call_signs_in_and_completes(era: Era) {
    let env = Env::new().await;
    let browser = Browser::auto(&env);
    let server = env.server_with(&[], &[], era).await;
    // Starting and listing tools does not sign in.
    server.client.list_all_tools().await.expect("tools/list");
    assert_eq!(env.fake.stats().authorize, 0, "no sign-in at startup");
    assert!(env.opened_urls().is_empty());

    let remaining = server.balance_ok().await;
    assert_eq!(remaining, 10.0);
    let stats = env.fake.stats();
    assert_eq!((stats.authorize, stats.code_exchanges), (1, 1));

    // The browser was opened on a short single-use link, which led to the documented
    // authorize URL.
    let opened = env.opened_urls().remove(0);
    let link_base = env.redirect_uri.replace("/callback", "/start/");
    assert!(opened.starts_with(&link_base), "{opened}");
    assert!(
        !opened.contains("state") && !opened.contains("challenge"),
        "{opened}"
    );
    let url = browser.wait_for_visits(1).await[0].authorize_url.clone();
    let base = format!(
        "{}/oauth2/authorize?client_id=aipass-mcp-test&response_type=code&redirect_uri=",
        env.fake.base_url()
    );
    assert!(url.starts_with(&base), "{url}");
    assert_eq!(
        query_param(&url, "redirect_uri").as_deref(),
        Some(env.redirect_uri.as_str())
    );
    assert_eq!(
        query_param(&url, "scope").as_deref(),
        Some("api:access profile:read")
    );
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&url, "code_challenge").map(|c| c.len()),
        Some(43)
    );
    // The browser saw the success page on the loopback callback.
    let visits = browser.wait_for_visits(1).await;
    assert_eq!(visits.len(), 1);
    assert!(
        visits[0].final_url.starts_with(&env.redirect_uri),
        "{}",
        visits[0].final_url
    );
    assert_eq!(visits[0].status, 200);
    assert!(visits[0].body.contains("Signed in"), "{}", visits[0].body);
    assert!(visits[0].body.contains("close this tab"));

    // The tokens are stored in a 0600 file, and the next call needs no sign-in.
    assert!(env.stored().is_some(), "tokens were saved");
    assert_eq!(path_mode(&env.credentials_path()), 0o600);
    assert_eq!(path_mode(&env.config_dir()), 0o700);
    server.balance_ok().await;
    assert_eq!(env.fake.stats().authorize, 1);
    // The listener is closed after the sign-in.
    assert!(
        std::net::TcpListener::bind(
            env.redirect_uri
                .trim_start_matches("http://")
                .trim_end_matches("/callback")
        )
        .is_ok()
    );
    server.stop().await;

    // A new process uses the stored tokens: no browser.
    let again = env.server(&[]).await;
    again.balance_ok().await;
    assert_eq!(env.fake.stats().authorize, 1);
    assert_eq!(env.opened_urls().len(), 1);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_ends_the_sign_in_with_a_clear_result() {
    let env = Env::new().await;
    env.fake.set_consent(aipass_fake::Consent::Deny);
    let browser = Browser::auto(&env);
    let server = env.server(&[]).await;
    let started = Instant::now();
    let result = server.call(BALANCE, json!({})).await;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.starts_with(ErrorCode::AuthRequired.as_str()),
        "{message}"
    );
    assert!(
        message.contains("declined") && message.contains("access_denied"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a denial does not wait for the timeout"
    );
    let visits = browser.wait_for_visits(1).await;
    assert_eq!(visits.len(), 1);
    assert!(
        visits[0].body.contains("did not complete"),
        "{}",
        visits[0].body
    );
    assert!(visits[0].body.contains("close this tab"));
    assert!(env.stored().is_none());
    assert_eq!(env.fake.stats().code_exchanges, 0);

    // Asking again starts a new sign-in, which can now succeed.
    env.fake.set_consent(aipass_fake::Consent::Approve);
    server.balance_ok().await;
    assert_eq!(env.fake.stats().authorize, 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_callback_does_not_complete_the_flow() {
    let env = Env::new().await;
    let server = env.server(&[]).await;
    forge_then_approve(&env, &server).await;
    let stats = env.fake.stats();
    assert_eq!((stats.authorize, stats.code_exchanges), (1, 1));
    server.stop().await;
}

async fn forge_then_approve(env: &Env, server: &testkit::auth::Server) {
    let call = server.call(BALANCE, json!({}));
    tokio::pin!(call);
    let url = tokio::select! {
        url = env.wait_for_url(1) => url,
        _ = &mut call => panic!("the call ended before the sign-in"),
    };
    let callback = env.redirect_uri.clone();
    // A wrong state, a missing state, another path: refused, and the sign-in goes on.
    let forged = [
        (
            format!("{callback}?code=forged-code&state=wrong-state"),
            400,
        ),
        (format!("{callback}?code=forged-code"), 400),
        (
            format!("{callback}?error=access_denied&state=wrong-state"),
            400,
        ),
        (callback.replace("/callback", "/favicon.ico"), 404),
    ];
    for (target, expected) in forged {
        let status = tokio::select! {
            status = get_status(&target) => status,
            _ = &mut call => panic!("a forged callback ended the call"),
        };
        assert_eq!(status, expected, "{target}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut call)
            .await
            .is_err(),
        "still waiting"
    );
    assert_eq!(
        env.fake.stats().failed_token_requests,
        0,
        "the forged code was never sent"
    );

    // The real consent completes the original call.
    let (visit, result) = tokio::join!(visit(&url), call);
    assert_eq!(visit.status, 200);
    assert_ne!(result.is_error, Some(true), "{}", text(&result));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_returns_the_url_then_the_next_call_succeeds() {
    let mut env = Env::new().await;
    env.login_timeout = "2".into();
    let server = env.server(&[]).await;
    let started = Instant::now();
    let result = server.call(BALANCE, json!({})).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(20),
        "{elapsed:?}"
    );
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.starts_with(ErrorCode::AuthRequired.as_str()),
        "{message}"
    );
    let url = env.wait_for_url(1).await;
    // The result carries the short link on the loopback listener, not the authorize URL.
    let link = env.redirect_uri.replace("/callback", "/start");
    assert!(
        message.contains(&link),
        "the result carries the sign-in link: {message}"
    );
    assert!(
        !message.contains(&url) && !message.contains("code_challenge"),
        "{message}"
    );

    // The listener kept waiting: approving now lets the next call through, without a new tab.
    let visit = visit(&url).await;
    assert_eq!(visit.status, 200, "{}", visit.body);
    server.balance_ok().await;
    assert_eq!(env.opened_urls().len(), 1);
    let stats = env.fake.stats();
    assert_eq!((stats.authorize, stats.code_exchanges), (1, 1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refreshed_once_before_the_call() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, -30);
    env.fake.expire_all_tokens();
    let server = env.server(&[]).await;
    server.balance_ok().await;
    server.balance_ok().await;
    let stats = env.fake.stats();
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.authorize, 0);
    assert_eq!(
        stats.requests.get("GET /api/v1/usage/me/summary"),
        Some(&2),
        "no call went out with the expired token"
    );
    // The rotated pair was saved.
    let (access, refresh) = env.stored().expect("stored");
    assert_ne!(access, pair.access_token);
    assert_ne!(refresh.as_deref(), Some(pair.refresh_token.as_str()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_refreshes_and_retries_once() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, 3000);
    // The server revokes the access tokens' validity; the client still thinks it is fresh.
    env.fake.expire_all_tokens();
    let server = env.server(&[]).await;
    server.balance_ok().await;
    let stats = env.fake.stats();
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.authorize, 0);
    assert_eq!(
        stats.requests.get("GET /api/v1/usage/me/summary"),
        Some(&2),
        "401, then the retry"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_refresh_leads_to_a_new_sign_in() {
    let env = Env::new().await;
    env.seed_raw(
        "aipass_at_dead",
        Some("aipass_rt_unknown-to-the-server"),
        -30,
    );
    let browser = Browser::auto(&env);
    let server = env.server(&[]).await;
    server.balance_ok().await;
    let stats = env.fake.stats();
    assert_eq!(stats.refreshes, 0);
    assert_eq!(
        stats.failed_token_requests, 1,
        "the refresh was tried and refused"
    );
    assert_eq!((stats.authorize, stats.code_exchanges), (1, 1));
    browser.wait_for_visits(1).await;
    let (access, _) = env.stored().expect("the new tokens were stored");
    assert_ne!(access, "aipass_at_dead");
    server.stop().await;
}

/// 20 concurrent chat calls (they do not serialise in the tool layer) all find the token
/// expired: exactly one refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_calls_with_an_expired_token_refresh_once() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, -30);
    env.fake.expire_all_tokens();
    let server = env.server(&[]).await;
    let calls = (0..20).map(|i| {
        server.call(
            "chat",
            json!({"prompt": format!("hello {i}"), "model": "gpt-5-nano", "max_tokens": 16}),
        )
    });
    let results = futures::future::join_all(calls).await;
    for result in &results {
        assert_ne!(result.is_error, Some(true), "{}", text(result));
    }
    let stats = env.fake.stats();
    eprintln!(
        "20 concurrent calls, expired token: refreshes = {}",
        stats.refreshes
    );
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.authorize, 0);
    assert_eq!(stats.requests.get("POST /v1/chat/completions"), Some(&20));
    server.stop().await;
}

/// The same, when the server alone knows the token is dead: 20 × 401 → one refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_unauthorized_calls_refresh_once() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, 3000);
    env.fake.expire_all_tokens();
    let server = env.server(&[]).await;
    let calls = (0..20).map(|i| {
        server.call(
            "chat",
            json!({"prompt": format!("hi {i}"), "model": "gpt-5-nano", "max_tokens": 16}),
        )
    });
    let results = futures::future::join_all(calls).await;
    for result in &results {
        assert_ne!(result.is_error, Some(true), "{}", text(result));
    }
    let stats = env.fake.stats();
    eprintln!("20 concurrent calls, 401s: refreshes = {}", stats.refreshes);
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.authorize, 0);
    server.stop().await;
}

/// Two server processes (same user, same config folder) need sign-in at the same time: one
/// binds the callback port and runs it, the other waits for the stored tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_sign_in() {
    let env = Env::new().await;
    let first = env.server(&[]).await;
    let second = env.server(&[]).await;
    race_two(&env, &first, &second).await;
    let stats = env.fake.stats();
    eprintln!(
        "two processes: authorize = {}, code exchanges = {}, browser tabs = {}",
        stats.authorize,
        stats.code_exchanges,
        env.opened_urls().len()
    );
    assert_eq!(stats.authorize, 1);
    assert_eq!(stats.code_exchanges, 1);
    assert_eq!(env.opened_urls().len(), 1, "one browser tab");
    first.stop().await;
    second.stop().await;
}

async fn race_two(env: &Env, first: &testkit::auth::Server, second: &testkit::auth::Server) {
    let both = async {
        tokio::join!(
            first.call(BALANCE, json!({})),
            second.call(BALANCE, json!({}))
        )
    };
    tokio::pin!(both);
    // Wait until one has opened the browser and the other has found the port taken.
    let waiting = async {
        let url = env.wait_for_url(1).await;
        loop {
            if first.stderr().contains("is in use") || second.stderr().contains("is in use") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        url
    };
    let url = tokio::select! {
        url = waiting => url,
        _ = &mut both => panic!("the calls ended before the sign-in"),
    };
    let (visit, (a, b)) = tokio::join!(visit(&url), both);
    assert_eq!(visit.status, 200);
    assert_ne!(a.is_error, Some(true), "first: {}", text(&a));
    assert_ne!(b.is_error, Some(true), "second: {}", text(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_from_the_environment_wins() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access");
    let server = env
        .server(&[("AIPASS_ACCESS_TOKEN", pair.access_token.as_str())])
        .await;
    server.balance_ok().await;
    assert_eq!(env.fake.stats().authorize, 0);
    assert!(env.opened_urls().is_empty());
    assert!(!env.credentials_path().exists(), "the store is not touched");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_store_without_a_keyring_falls_back_to_the_file_with_one_warning() {
    let env = Env::new().await;
    let browser = Browser::auto(&env);
    let server = env.server(&[("AIPASS_TOKEN_STORE", "auto")]).await;
    server.balance_ok().await;
    server.balance_ok().await;
    let stderr = server.stop().await;
    browser.wait_for_visits(1).await;
    assert_eq!(
        stderr.matches("the OS keyring cannot be used").count(),
        1,
        "{stderr}"
    );
    assert!(env.stored().is_some(), "tokens went to credentials.json");
    assert_eq!(path_mode(&env.credentials_path()), 0o600);
}

/// The store `auto` chose is remembered: a later run that finds the keyring again does not
/// switch, and one that was told "keyring" earlier does not fall back to the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auto_store_choice_is_stable_across_runs() {
    let env = Env::new().await;
    let choice = env
        .config_dir()
        .join(aipass_mcp::auth::store_choice::CHOICE_FILE);
    let status = env
        .cli(&["status"], &[("AIPASS_TOKEN_STORE", "auto")])
        .await;
    assert!(status.stdout.contains("Token store: file"), "{status:?}");
    assert_eq!(std::fs::read_to_string(&choice).unwrap(), "file");
    // An earlier run chose the keyring: without a keyring now, the tokens do not move to a
    // file for this run (no fallback, no warning about it); they stay where they were.
    std::fs::write(&choice, "keyring").unwrap();
    let status = env
        .cli(&["status"], &[("AIPASS_TOKEN_STORE", "auto")])
        .await;
    assert!(!status.stdout.contains("Token store: file"), "{status:?}");
    assert!(
        !status.stderr.contains("keeping tokens in"),
        "{}",
        status.stderr
    );
}

/// `logout` deletes the tokens from every store that may hold them: here the file a
/// `file`-mode run left behind, while the keyring is the store in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_clears_every_store() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, 3000);
    assert!(env.credentials_path().exists());
    let logout = env
        .cli(&["logout"], &[("AIPASS_TOKEN_STORE", "keyring")])
        .await;
    assert_eq!(logout.code, Some(0), "{logout:?}");
    assert!(
        env.stored().is_none(),
        "the file still holds tokens: {logout:?}"
    );
}

/// At the most verbose log level, stderr shows no access token, refresh token, authorization
/// code or PKCE verifier, through sign-in, a 401 refresh, and logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_stderr_at_trace_level() {
    let mut env = Env::new().await;
    env.log_level = "trace".into();
    let browser = Browser::auto(&env);
    let server = env.server(&[]).await;
    server.balance_ok().await;
    let (first_access, first_refresh) = env.stored().expect("signed in");
    env.fake.expire_all_tokens();
    server.balance_ok().await;
    assert_eq!(env.fake.stats().refreshes, 1);
    let (second_access, second_refresh) = env.stored().expect("refreshed");
    let stderr = server.stop().await;
    let logout = env.cli(&["logout"], &[]).await;
    assert_eq!(logout.code, Some(0), "{logout:?}");

    let visit = browser.wait_for_visits(1).await.remove(0);
    let code = query_param(&visit.final_url, "code").expect("the callback carried a code");
    let state = query_param(&visit.authorize_url, "state").unwrap();
    let challenge = query_param(&visit.authorize_url, "code_challenge").unwrap();
    let secrets = [
        first_access.as_str(),
        first_refresh.as_deref().unwrap(),
        second_access.as_str(),
        second_refresh.as_deref().unwrap(),
        code.as_str(),
    ];
    // The sign-in URL (with its state and challenge) is meant to be shown.
    let allowed = [state.as_str(), challenge.as_str()];
    assert!(
        stderr.contains("TRACE") || stderr.contains("trace"),
        "trace logging is on"
    );
    assert_no_secrets(&stderr, &secrets, &allowed, "server stderr");
    assert_no_secrets(&logout.stderr, &secrets, &allowed, "logout stderr");
    assert_no_secrets(&logout.stdout, &secrets, &allowed, "logout stdout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_status_logout_commands() {
    let env = Env::new().await;
    let status = env.cli(&["status"], &[]).await;
    assert_eq!(status.code, Some(1), "{status:?}");
    assert!(status.stdout.contains("Not signed in"), "{status:?}");

    let browser = Browser::auto(&env);
    let login = env.cli(&["login"], &[]).await;
    assert_eq!(login.code, Some(0), "{login:?}");
    // The browser and the terminal each get their own single-use short link.
    let opened = env.wait_for_url(1).await;
    let link_base = env.redirect_uri.replace("/callback", "/start/");
    assert!(opened.starts_with(&link_base), "{opened}");
    assert!(
        login.stderr.contains(&link_base) && !login.stderr.contains(&opened),
        "login shows its own short link on stderr: {login:?}"
    );
    // The full sign-in URL (with the state) is logged at debug level only.
    let above_debug: Vec<&str> = login
        .stderr
        .lines()
        .filter(|line| !line.contains(" DEBUG ") && !line.contains(" TRACE "))
        .collect();
    assert!(
        above_debug.iter().all(|line| !line.contains("state=")),
        "{above_debug:?}"
    );
    assert!(login.stdout.contains("Signed in to AI Pass"), "{login:?}");
    browser.wait_for_visits(1).await;
    let (access, refresh) = env.stored().expect("login stored the tokens");
    let refresh = refresh.expect("a refresh token");

    let status = env.cli(&["status"], &[]).await;
    assert_eq!(status.code, Some(0), "{status:?}");
    assert!(
        status
            .stdout
            .contains("Signed in as: Demo User <demo@example.com>"),
        "{status:?}"
    );
    assert!(
        status.stdout.contains("Balance: $10.00 left of $10.00"),
        "{status:?}"
    );
    assert!(
        status.stdout.contains("Access token: expires"),
        "{status:?}"
    );
    assert!(
        status.stdout.contains(&format!(
            "Token store: file {}",
            env.credentials_path().display()
        )),
        "{status:?}"
    );
    for run in [&login, &status] {
        assert!(!run.stdout.contains(&access) && !run.stderr.contains(&access));
        assert!(!run.stdout.contains(&refresh) && !run.stderr.contains(&refresh));
    }

    let logout = env.cli(&["logout"], &[]).await;
    assert_eq!(logout.code, Some(0), "{logout:?}");
    assert!(logout.stdout.contains("Signed out"), "{logout:?}");
    assert!(env.fake.stats().revocations >= 1);
    assert!(env.stored().is_none(), "the tokens were deleted");
    // The revoked tokens no longer work at AI Pass.
    let server = env
        .server(&[("AIPASS_ACCESS_TOKEN", access.as_str())])
        .await;
    let result = server.call(BALANCE, json!({})).await;
    assert_eq!(result.is_error, Some(true), "{}", text(&result));
    server.stop().await;

    let status = env.cli(&["status"], &[]).await;
    assert_eq!(status.code, Some(1));
    assert!(status.stdout.contains("Not signed in"), "{status:?}");
}
