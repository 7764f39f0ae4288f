//! Injected faults, closed-early accounting, the `/_fake` control surface and the binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use aipass_fake::{Fault, FaultKind};
use futures::StreamExt;
use serde_json::{Value, json};

const CHAT: &str = "/oauth2/v1/chat/completions";

fn chat_body(stream: bool) -> Value {
    json!({"model": "gpt-5-mini", "stream": stream,
           "messages": [{"role": "user", "content": "tell me something long enough to span chunks"}]})
}

async fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_fault_with_retry_after_hits_count_times() {
    let (fake, http, token) = signed_in().await;
    fake.inject_fault(
        Fault::new(FaultKind::Status {
            status: 429,
            retry_after: Some(2),
            body: None,
        })
        .on("POST", CHAT)
        .times(2),
    );
    // Other paths and methods are not hit.
    assert_eq!(get(&fake, &http, &token, "/oauth2/v1/models").await.0, 200);
    for _ in 0..2 {
        let response = http
            .post(format!("{}{CHAT}", fake.base_url()))
            .bearer_auth(&token)
            .json(&chat_body(false))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "2");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["message"], "Injected fault: HTTP 429");
    }
    assert_eq!(
        post(&fake, &http, &token, CHAT, chat_body(false)).await.0,
        200
    );
    // Faulted requests are counted and recorded, but charge nothing.
    assert_eq!(fake.stats().requests[&format!("POST {CHAT}")], 3);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 429, 429, 200]);
    assert_eq!(fake.requests()[1].summary["fault"], "status");
    let (_, usage) = get(&fake, &http, &token, "/api/v1/usage/me/summary").await;
    assert_eq!(usage["data"]["totalCost"], 0.002);

    // A custom body, and faults hit even without a token.
    fake.inject_fault(Fault::new(FaultKind::Status {
        status: 503,
        retry_after: None,
        body: Some(json!({"oops": 1})),
    }));
    let response = http
        .get(format!("{}/oauth2/v1/models", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"oops": 1}));
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_looks_like_a_connection_error() {
    let (fake, http, token) = signed_in().await;
    fake.inject_fault(Fault::new(FaultKind::Reset).on("POST", CHAT));
    let error = http
        .post(format!("{}{CHAT}", fake.base_url()))
        .bearer_auth(&token)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout() && !error.is_status(), "{error:?}");
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    assert_eq!(fake.requests().last().unwrap().status, 0);
    // The server itself is fine.
    assert_eq!(
        post(&fake, &http, &token, CHAT, chat_body(false)).await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delay_then_normal_answer() {
    let (fake, http, token) = signed_in().await;
    fake.inject_fault(Fault::new(FaultKind::Delay { ms: 150 }));
    let started = Instant::now();
    assert_eq!(get(&fake, &http, &token, "/oauth2/v1/models").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    // A client that gives up during the delay counts as closed early.
    fake.inject_fault(Fault::new(FaultKind::Delay { ms: 2000 }));
    let error = http
        .get(format!("{}/oauth2/v1/models", fake.base_url()))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    wait_for("closed early", || {
        fake.stats().connections_closed_early == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_stream_cuts_after_n_chunks() {
    let (fake, http, token) = signed_in().await;
    fake.inject_fault(Fault::new(FaultKind::DropStream { after_chunks: 2 }).on("POST", CHAT));
    // A non-streaming request does not consume it.
    assert_eq!(
        post(&fake, &http, &token, CHAT, chat_body(false)).await.0,
        200
    );
    let response = http
        .post(format!("{}{CHAT}", fake.base_url()))
        .bearer_auth(&token)
        .json(&chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end in an error");
    let events = sse_events(&text);
    assert_eq!(events.len(), 2);
    assert!(!text.contains("[DONE]"));
    assert_eq!(fake.stats().connections_closed_early, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_hanging_up_mid_stream_is_counted() {
    let (fake, http, token) = signed_in().await;
    fake.set_stream_chunk_delay(Duration::from_millis(50));
    let started = Instant::now();
    let response = http
        .post(format!("{}{CHAT}", fake.base_url()))
        .bearer_auth(&token)
        .json(&chat_body(true))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(body);
    wait_for("closed early", || {
        fake.stats().connections_closed_early == 1
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));

    // A stream read to the end is not counted.
    fake.set_stream_chunk_delay(Duration::from_millis(1));
    let response = http
        .post(format!("{}{CHAT}", fake.base_url()))
        .bearer_auth(&token)
        .json(&chat_body(true))
        .send()
        .await
        .unwrap();
    assert!(response.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.stats().connections_closed_early, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_bodies() {
    let (fake, http, token) = signed_in().await;
    let models = format!("{}/oauth2/v1/models", fake.base_url());

    fake.inject_fault(Fault::new(FaultKind::MalformedJson));
    let response = http.get(&models).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.json::<Value>().await.is_err());

    fake.inject_fault(Fault::new(FaultKind::WrongContentType));
    let response = http.get(&models).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(response.text().await.unwrap(), "<html>gateway</html>");

    fake.inject_fault(Fault::new(FaultKind::Oversized { bytes: 3_000_000 }));
    let response = http.get(&models).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.content_length(), Some(3_000_000));
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 3_000_000);
    assert!(serde_json::from_slice::<Value>(&body).unwrap().is_string());
    assert_eq!(get(&fake, &http, &token, "/oauth2/v1/models").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_hit_the_oauth_endpoints_too() {
    let fake = start().await;
    let http = http();
    fake.inject_fault(
        Fault::new(FaultKind::Status {
            status: 500,
            retry_after: None,
            body: None,
        })
        .on("POST", "/oauth2/token"),
    );
    let code = authorize(&fake, &http).await;
    let (status, _) = exchange(&fake, &http, code_body(&code, VERIFIER)).await;
    assert_eq!(status, 500);
    // The faulted request never reached the handler, so the code is still good.
    let (status, _) = exchange(&fake, &http, code_body(&code, VERIFIER)).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn control_surface_over_http() {
    let fake = start().await;
    let http = http();
    let base = fake.base_url();
    let control =
        |path: &str, body: Value| http.post(format!("{base}/_fake/{path}")).json(&body).send();

    let pair: Value = http
        .post(format!("{base}/_fake/token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pair["scope"], "api:access profile:read");
    let token = pair["access_token"].as_str().unwrap().to_string();
    let narrow: Value = control("token", json!({"scope": "api:access"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(narrow["scope"], "api:access");

    // Flat and nested fault forms.
    let flat =
        json!({"path": "/oauth2/v1/models", "method": "GET", "kind": "status", "status": 418});
    assert_eq!(control("faults", flat).await.unwrap().status(), 204);
    assert_eq!(get(&fake, &http, &token, "/oauth2/v1/models").await.0, 418);
    let nested = json!({"count": 2, "kind": {"kind": "status", "status": 502}});
    assert_eq!(control("faults", nested).await.unwrap().status(), 204);
    assert_eq!(get(&fake, &http, &token, "/oauth2/v1/models").await.0, 502);
    assert_eq!(
        http.delete(format!("{base}/_fake/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(get(&fake, &http, &token, "/oauth2/v1/models").await.0, 200);
    assert_eq!(
        control("faults", json!({"kind": "explode"}))
            .await
            .unwrap()
            .status(),
        400
    );

    assert_eq!(
        control("budget", json!({"max_budget": 1, "total_cost": 0.25}))
            .await
            .unwrap()
            .status(),
        204
    );
    let (_, usage) = get(&fake, &http, &token, "/api/v1/usage/me/summary").await;
    assert_eq!(usage["data"]["remainingBudget"], 0.75);

    assert_eq!(
        control("consent", json!({"consent": "deny"}))
            .await
            .unwrap()
            .status(),
        204
    );
    let response = http.get(authorize_url(&fake, &[])).send().await.unwrap();
    assert_eq!(redirect_params(&response)["error"], "access_denied");
    control("consent", json!({"consent": "approve"}))
        .await
        .unwrap();
    authorize(&fake, &http).await;

    assert_eq!(
        control("stream", json!({"chunk_delay_ms": 5}))
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http.post(format!("{base}/_fake/expire_tokens"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(get(&fake, &http, &token, "/oauth2/v1/models").await.0, 401);

    let stats: Value = http
        .get(format!("{base}/_fake/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["authorize"], 2);
    assert_eq!(stats["requests"]["GET /oauth2/v1/models"], 4);
    let requests: Value = http
        .get(format!("{base}/_fake/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = requests.as_array().unwrap();
    assert!(
        requests
            .iter()
            .all(|r| !r["path"].as_str().unwrap().starts_with("/_fake"))
    );
    assert_eq!(requests.last().unwrap()["status"], 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_bounded() {
    let (fake, http, token) = signed_in().await;
    for _ in 0..210 {
        get(&fake, &http, &token, "/oauth2/v1/models/gpt-4o").await;
    }
    assert_eq!(fake.requests().len(), 200);
}

#[test]
fn binary_prints_its_url_logs_safely_and_exits_on_stdin_eof() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aipass-fake"))
        .args([
            "--client-id",
            "my-app",
            "--redirect-uri",
            "http://127.0.0.1:5555/cb",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line.trim().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let secret_code = runtime.block_on(async {
        let http = http();
        let url = format!(
            "{base}/oauth2/authorize?client_id=my-app&response_type=code&redirect_uri=http://127.0.0.1:5555/cb\
             &state=s&code_challenge={}&code_challenge_method=S256",
            aipass_fake::pkce_challenge(VERIFIER)
        );
        let response = http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let pair: Value = http.post(format!("{base}/_fake/token")).send().await.unwrap().json().await.unwrap();
        let token = pair["access_token"].as_str().unwrap().to_string();
        let status = http.get(format!("{base}/oauth2/v1/models")).bearer_auth(&token).send().await.unwrap().status();
        assert_eq!(status, 200);
        (location, token)
    });

    drop(child.stdin.take()); // EOF
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the fake did not exit on stdin EOF"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "exactly one stdout line");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("GET /oauth2/v1/models 200"), "{log}");
    assert!(log.contains("GET /oauth2/authorize 302"), "{log}");
    let code = secret_code
        .0
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    assert!(
        !log.contains(&code) && !log.contains(&secret_code.1),
        "secrets in the log: {log}"
    );
}
