//! Load: 200 concurrent mixed tool calls from one client, each answer checked, with the server's
//! peak memory; and 5 server processes on one token store through several token expiries, with
//! exactly one refresh per rotation.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};
use testkit::auth::{Env, Server, text};

/// Generous: the server peaked at about 40 MiB for the burst when this was written.
const PEAK_RSS_LIMIT_KIB: u64 = 512 * 1024;

fn write_png(path: &std::path::Path) {
    image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, 60])
    })
    .save(path)
    .expect("write png");
}

/// The structured content of a call that must succeed.
async fn ok(server: &Server, name: &str, arguments: Value) -> Value {
    let result = server.call(name, arguments).await;
    assert_ne!(result.is_error, Some(true), "{name}: {}", text(&result));
    result
        .structured_content
        .unwrap_or_else(|| panic!("{name}: no structuredContent"))
}

fn saved_file(out: &Value) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(out["files"][0]["path"].as_str().expect("a file"));
    let size = std::fs::metadata(&path).expect("the file exists").len();
    assert_eq!(Some(size), out["files"][0]["bytes"].as_u64(), "{path:?}");
    path
}

/// Call number `i` of the burst: its tool, arguments, and a check of its answer.
async fn mixed_call(server: &Server, i: usize, png: &str, clip: &str) -> &'static str {
    match i % 10 {
        0 => {
            let out = ok(server, "list_models", json!({"capability": "tts"})).await;
            let ids: Vec<&str> = out["models"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, ["gpt-4o-mini-tts", "tts-1"], "{out}");
            "list_models"
        }
        1 => {
            let out = ok(server, "balance", json!({})).await;
            assert_eq!(out["max_budget"], 10.0, "{out}");
            let (total, left) = (out["total_cost"].as_f64(), out["remaining_budget"].as_f64());
            assert!(
                (total.unwrap() + left.unwrap() - 10.0).abs() < 1e-9,
                "{out}"
            );
            "balance"
        }
        2 => {
            let prompt = format!("Load test message {i}");
            let out = ok(
                server,
                "chat",
                json!({"prompt": prompt, "model": "gpt-5-nano"}),
            )
            .await;
            assert_eq!(out["text"], format!("Echo from gpt-5-nano: {prompt}"));
            "chat"
        }
        3 => {
            let input = format!("embedding input {i}");
            let out = ok(server, "embed", json!({"input": [input]})).await;
            assert_eq!(
                (out["count"].as_u64(), out["dimensions"].as_u64()),
                (Some(1), Some(1536))
            );
            let saved: Value = serde_json::from_slice(&std::fs::read(saved_file(&out)).unwrap())
                .expect("embeddings JSON");
            assert_eq!(saved["inputs"], json!([input]));
            "embed"
        }
        4 => {
            let out = ok(
                server,
                "generate_image",
                json!({"prompt": format!("Load test image {i}"), "size": "96x64"}),
            )
            .await;
            assert_eq!(image::image_dimensions(saved_file(&out)).unwrap(), (96, 64));
            "generate_image"
        }
        5 => {
            let text = format!("Spoken line {i}");
            let out = ok(server, "speak", json!({"text": text})).await;
            let audio = std::fs::read(saved_file(&out)).unwrap();
            assert!(audio.starts_with(b"ID3"), "an mp3");
            // The fake's mp3 carries its text in an ID3 frame (UTF-16 LE).
            let carried: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
            assert!(audio.windows(carried.len()).any(|w| w == carried), "{text}");
            "speak"
        }
        6 => {
            let out = ok(server, "transcribe", json!({"file": clip})).await;
            assert_eq!(out["text"], "The prepared clip", "{out}");
            "transcribe"
        }
        7 => {
            let out = ok(server, "whoami", json!({})).await;
            assert_eq!(out["sub"], "user_demo", "{out}");
            "whoami"
        }
        8 => {
            let out = ok(
                server,
                "vary_image",
                json!({"image": png, "size": "128x96"}),
            )
            .await;
            assert_eq!(
                image::image_dimensions(saved_file(&out)).unwrap(),
                (128, 96)
            );
            "vary_image"
        }
        _ => {
            let out = ok(
                server,
                "chat",
                json!({"prompt": format!("Which image? {i}"), "model": "claude-haiku-4-5", "images": [png]}),
            )
            .await;
            let reply = out["text"].as_str().unwrap();
            assert!(
                reply.starts_with(&format!("Echo from claude-haiku-4-5: Which image? {i}")),
                "{reply}"
            );
            assert!(reply.contains("saw 1 image(s): png 40x30"), "{reply}");
            "chat with an image"
        }
    }
}

/// 200 calls of 10 kinds in flight at once on one connection; every answer is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_mixed_calls_all_complete_correctly() {
    const CALLS: usize = 200;
    let env = Env::new().await;
    env.seed(&env.fake.issue_token("api:access profile:read"), 3600);
    let png = env.dir.path().join("in.png");
    write_png(&png);
    let png = png.display().to_string();
    let server = env.server(&[]).await;
    let clip = ok(&server, "speak", json!({"text": "The prepared clip"})).await;
    let clip = saved_file(&clip).display().to_string();
    let before = env.fake.stats().requests;

    let started = Instant::now();
    let calls = (0..CALLS).map(|i| mixed_call(&server, i, &png, &clip));
    let done = futures::future::join_all(calls).await;
    let burst = started.elapsed();
    let peak_kib = server.peak_rss_kib();
    if cfg!(target_os = "linux") {
        assert!(peak_kib.is_some(), "VmHWM is readable on Linux");
    }
    let peak_kib = peak_kib.unwrap_or(0);

    let mut by_tool = BTreeMap::new();
    for tool in done {
        *by_tool.entry(tool).or_insert(0) += 1;
    }
    assert_eq!(by_tool.values().sum::<usize>(), CALLS);
    // Each call reached AI Pass once: nothing lost, nothing sent twice.
    let after = env.fake.stats().requests;
    let sent = |key: &str| after.get(key).unwrap_or(&0) - before.get(key).unwrap_or(&0);
    assert_eq!(sent("POST /v1/chat/completions"), 40);
    assert_eq!(sent("POST /v1/embeddings"), 20);
    assert_eq!(sent("POST /v1/images/generations"), 20);
    assert_eq!(sent("POST /v1/audio/speech"), 20);
    assert_eq!(sent("POST /v1/audio/transcriptions"), 20);
    assert_eq!(sent("POST /v1/images/variations"), 20);
    eprintln!(
        "load: {CALLS} concurrent calls ({by_tool:?}) in {:.2} s; server peak RSS {:.1} MiB",
        burst.as_secs_f64(),
        peak_kib as f64 / 1024.0
    );
    assert!(
        peak_kib < PEAK_RSS_LIMIT_KIB,
        "the server peaked at {peak_kib} KiB"
    );
    // Still serving.
    ok(&server, "whoami", json!({})).await;
    server.stop().await;
}

/// Calls through one server that must all succeed (a mix that always reaches AI Pass).
async fn round_of_calls(server: &Server, process: usize, round: usize) {
    let prompt = format!("process {process} round {round}");
    let calls = async {
        tokio::join!(
            ok(
                server,
                "chat",
                json!({"prompt": prompt, "model": "gpt-5-nano"})
            ),
            ok(server, "balance", json!({"refresh": true})),
            ok(server, "whoami", json!({})),
            ok(server, "embed", json!({"input": prompt})),
        )
    };
    let (chat, balance, whoami, embed) = calls.await;
    assert_eq!(chat["text"], format!("Echo from gpt-5-nano: {prompt}"));
    assert_eq!(balance["max_budget"], 10.0);
    assert_eq!(whoami["sub"], "user_demo");
    assert_eq!(embed["count"], 1);
}

/// 5 processes share one credentials file. Rotation 1: the stored token has expired (each
/// process sees it before calling). Rotations 2–4: AI Pass expires the token (each process
/// gets 401s). Every time exactly one process refreshes; the others pick up its tokens, so no
/// rotated refresh token is ever sent again (the fake would refuse it and revoke the family).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_processes_on_one_token_store_refresh_once_per_rotation() {
    const PROCESSES: usize = 5;
    const ROTATIONS: usize = 4;
    // round_of_calls makes 4 calls, each one API request unless it meets a 401.
    const CALLS_PER_ROUND: u64 = PROCESSES as u64 * 4;
    let env = Env::new().await;
    env.seed(&env.fake.issue_token("api:access profile:read"), -30);
    let mut servers = Vec::new();
    for _ in 0..PROCESSES {
        servers.push(env.server(&[]).await);
    }

    // The calls' own requests (each process also fetches the model list once, to check models).
    let api_requests = || {
        let requests = env.fake.stats().requests;
        [
            "POST /v1/chat/completions",
            "GET /api/v1/usage/me/summary",
            "GET /oauth2/userinfo",
            "POST /v1/embeddings",
        ]
        .iter()
        .map(|key| requests.get(*key).copied().unwrap_or(0))
        .sum::<u64>()
    };
    let mut refreshes = Vec::new();
    let mut requests_per_round = Vec::new();
    for round in 1..=ROTATIONS {
        if round > 1 {
            env.fake.expire_all_tokens();
        }
        let before = api_requests();
        let rounds = servers
            .iter()
            .enumerate()
            .map(|(process, server)| round_of_calls(server, process, round));
        futures::future::join_all(rounds).await;
        refreshes.push(env.fake.stats().refreshes);
        requests_per_round.push(api_requests() - before);
    }

    let stats = env.fake.stats();
    eprintln!(
        "load: {PROCESSES} processes, {ROTATIONS} rotations, {CALLS_PER_ROUND} calls a rotation: \
         refreshes after each rotation {refreshes:?}, API requests per rotation \
         {requests_per_round:?}, refused token requests {}, sign-ins {}",
        stats.failed_token_requests, stats.authorize
    );
    assert_eq!(refreshes, [1, 2, 3, 4], "one refresh per rotation");
    // Rotation 1 (expired in the store): no call went out with the old token. Later ones
    // (expired at AI Pass): every process met a 401, and each call was retried at most once.
    assert_eq!(requests_per_round[0], CALLS_PER_ROUND);
    for &requests in &requests_per_round[1..] {
        assert!(
            (CALLS_PER_ROUND + PROCESSES as u64..=2 * CALLS_PER_ROUND).contains(&requests),
            "{requests_per_round:?}"
        );
    }
    assert_eq!(stats.failed_token_requests, 0, "no refresh token reused");
    assert_eq!(stats.authorize, 0, "nobody had to sign in again");
    // The store holds the last rotation's tokens, and every process still works with them.
    let (access, _) = env.stored().expect("tokens stored");
    assert!(env.fake.issued_secrets().iter().any(|s| s == access));
    for (process, server) in servers.iter().enumerate() {
        round_of_calls(server, process, ROTATIONS + 1).await;
    }
    assert_eq!(env.fake.stats().refreshes, ROTATIONS as u64);
    for server in servers {
        let stderr = server.stop().await;
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
