//! The live token rules, end to end through the real binary: a refresh answered 503 with
//! Retry-After is waited out and retried once; only `invalid_grant`, or a 400/401 from the
//! token endpoint, deletes a stored grant; `logout` revokes with the live form (refresh token
//! first, then access token), reports which were revoked, and follows no redirect.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;
use testkit::facts::ErrorCode;

use aipass_fake::{Fault, FaultKind};
use serde_json::json;
use testkit::auth::{BALANCE, Env, text};

const TOKEN: &str = "/oauth2/token";

fn status_fault(status: u16, retry_after: Option<u64>) -> Fault {
    Fault::new(FaultKind::Status {
        status,
        retry_after,
        body: None,
    })
    .on("POST", TOKEN)
}

/// Requests to the token endpoint (answered or faulted).
fn token_posts(env: &Env) -> usize {
    env.fake
        .requests()
        .iter()
        .filter(|r| r.path == TOKEN)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_answered_503_with_retry_after_is_retried_once() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, -30);
    env.fake.inject_fault(status_fault(503, Some(1)));
    let server = env.server(&[]).await;
    server.balance_ok().await;
    let stats = env.fake.stats();
    assert_eq!(token_posts(&env), 2);
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.authorize, 0, "no sign-in");
    let (access, _) = env.stored().expect("the rotated pair was stored");
    assert_ne!(access, pair.access_token);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_still_busy_after_one_retry_keeps_the_grant() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, -30);
    env.fake.inject_fault(status_fault(503, Some(1)).times(2));
    let server = env.server(&[]).await;
    let result = server.call(BALANCE, json!({"refresh": true})).await;
    assert_eq!(result.is_error, Some(true), "{}", text(&result));
    assert!(
        !text(&result).starts_with(ErrorCode::AuthRequired.as_str()),
        "{}",
        text(&result)
    );
    assert_eq!(token_posts(&env), 2, "exactly one retry");
    let (_, refresh) = env.stored().expect("the grant is kept");
    assert_eq!(refresh.as_deref(), Some(pair.refresh_token.as_str()));
    // Once the token endpoint is back, the same grant refreshes.
    server.balance_ok().await;
    assert_eq!(env.fake.stats().refreshes, 1);
    server.stop().await;
}

/// 403, 404, 407, a redirect and 5xx from the token endpoint are not "sign in again".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_but_invalid_grant_or_400_401_deletes_the_grant() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, -30);
    let server = env.server(&[]).await;
    let faults: Vec<(String, Fault)> = [403, 404, 407, 500, 502, 503]
        .into_iter()
        .map(|status| (format!("HTTP {status}"), status_fault(status, None)))
        .chain([
            (
                "a 302 redirect".to_string(),
                Fault::new(FaultKind::Redirect {
                    status: 302,
                    location: "http://127.0.0.1:9/elsewhere".into(),
                })
                .on("POST", TOKEN),
            ),
            (
                "a 307 redirect".to_string(),
                Fault::new(FaultKind::Redirect {
                    status: 307,
                    location: "http://127.0.0.1:9/elsewhere".into(),
                })
                .on("POST", TOKEN),
            ),
        ])
        .collect();
    for (what, fault) in faults {
        env.fake.inject_fault(fault);
        let result = server.call(BALANCE, json!({"refresh": true})).await;
        assert_eq!(result.is_error, Some(true), "{what}: {}", text(&result));
        let (_, refresh) = env
            .stored()
            .unwrap_or_else(|| panic!("{what} deleted the stored grant"));
        assert_eq!(
            refresh.as_deref(),
            Some(pair.refresh_token.as_str()),
            "{what}"
        );
    }
    assert_eq!(env.fake.stats().authorize, 0, "no sign-in was started");
    // The grant still works.
    server.balance_ok().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_from_the_token_endpoint_deletes_the_grant() {
    let mut env = Env::new().await;
    env.login_timeout = "1".into();
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, -30);
    env.fake.inject_fault(
        Fault::new(FaultKind::Status {
            status: 400,
            retry_after: None,
            body: Some(json!({"error": "invalid_request", "error_description": "malformed"})),
        })
        .on("POST", TOKEN),
    );
    let server = env.server(&[]).await;
    let result = server.call(BALANCE, json!({"refresh": true})).await;
    assert!(
        text(&result).starts_with(ErrorCode::AuthRequired.as_str()),
        "{}",
        text(&result)
    );
    assert!(
        env.stored().is_none(),
        "a 400 from the token endpoint ends the grant"
    );
    server.stop().await;
}

/// The revoke requests `logout` sent, in order: (token kind, client id).
fn revocations(env: &Env) -> Vec<(String, String)> {
    env.fake
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth2/revoke")
        .map(|r| {
            (
                r.summary["token_kind"]
                    .as_str()
                    .unwrap_or("refused")
                    .to_string(),
                r.summary["client_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_refresh_token_then_the_access_token_by_the_live_form() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, 3000);
    let logout = env.cli(&["logout"], &[]).await;
    assert_eq!(logout.code, Some(0), "{logout:?}");
    assert!(
        logout.stdout.contains(
            "Signed out: the refresh token was revoked; the access token was revoked at AI Pass"
        ),
        "{logout:?}"
    );
    // The fake refuses every other shape (query, JSON, no client_id), so these were form bodies.
    assert_eq!(
        revocations(&env),
        [
            ("refresh".to_string(), testkit::auth::CLIENT_ID.to_string()),
            ("access".to_string(), testkit::auth::CLIENT_ID.to_string())
        ]
    );
    assert!(env.stored().is_none());
    for run in [&logout.stdout, &logout.stderr] {
        assert!(!run.contains(&pair.access_token) && !run.contains(&pair.refresh_token));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_says_which_token_was_not_revoked() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, 3000);
    env.fake.inject_fault(
        Fault::new(FaultKind::Status {
            status: 500,
            retry_after: None,
            body: None,
        })
        .on("POST", "/oauth2/revoke"),
    );
    let logout = env.cli(&["logout"], &[]).await;
    assert_eq!(logout.code, Some(0), "{logout:?}");
    assert!(logout.stdout.contains("Signed out locally"), "{logout:?}");
    assert!(
        logout
            .stdout
            .contains("the refresh token was NOT revoked (AI Pass answered HTTP 500"),
        "{logout:?}"
    );
    assert!(
        logout.stdout.contains("the access token was revoked"),
        "{logout:?}"
    );
}

/// Security issue 14 item 3: a revoke answered with a redirect is not followed (the token would
/// go wherever `Location` points) and counts as not revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_follows_no_redirect_and_the_target_receives_nothing() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    env.seed(&pair, 3000);
    // A loopback listener that nobody should contact. The kernel queues a connection even
    // before `accept`, so after the logout a non-blocking accept shows whether one came.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    let trap_addr = trap.local_addr().unwrap();
    trap.set_nonblocking(true).unwrap();
    env.fake.inject_fault(
        Fault::new(FaultKind::Redirect {
            status: 307,
            location: format!("http://{trap_addr}/steal"),
        })
        .on("POST", "/oauth2/revoke")
        .times(2),
    );
    let logout = env.cli(&["logout"], &[]).await;
    assert_eq!(logout.code, Some(0), "{logout:?}");
    assert!(
        logout.stdout.contains(
            "the refresh token was NOT revoked (AI Pass answered with a redirect (HTTP 307)"
        ),
        "{logout:?}"
    );
    assert!(logout.stdout.contains("Signed out locally"), "{logout:?}");
    // The CLI has exited, so any request it sent has connected by now.
    match trap.accept() {
        Ok((mut stream, _)) => {
            let mut request = String::new();
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = stream.read_to_string(&mut request);
            panic!(
                "the redirect target was contacted: {}",
                request.lines().next().unwrap_or("")
            );
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
}
