//! How the tools feel in a host: progress while slow, cancellation that reaches upstream and
//! leaves no file, and a catalogue that is small, plain and reviewed.

use aipass_mcp::catalogue::{FREE, SPENDS_BUDGET};
use std::process::Command;
use std::time::Duration;

use aipass_fake::{Fault, FaultKind};
use serde_json::{Value, json};
use testkit::session::{Era, Options, start, start_with};

async fn a_slow_chat_stream_reports_progress(era: Era) {
    let s = start(era).await;
    s.fake.set_stream_chunk_delay(Duration::from_millis(250));
    let prompt = "Tell me, slowly and in many words, everything about progress notifications";
    let out = s.ok("chat", json!({"prompt": prompt})).await;
    assert_eq!(out["finish_reason"], "stop");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let messages = s.progress_messages();
    assert!(!messages.is_empty(), "no progress during a ~2 s stream");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("chat: ") && m.contains("characters received")),
        "{messages:?}"
    );
    let values: Vec<f64> = s
        .handler
        .progress
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.progress)
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "progress must increase: {values:?}"
    );
}

async fn cancelling_a_chat_closes_the_upstream_stream(era: Era) {
    let s = start(era).await;
    s.fake.set_stream_chunk_delay(Duration::from_millis(300));
    let call = s.call(
        "chat",
        json!({"prompt": "a long answer, please, with many many words in it"}),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(700), call)
            .await
            .is_err()
    );
    let mut closed = 0;
    for _ in 0..30 {
        closed = s.fake.stats().connections_closed_early;
        if closed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(closed, 1, "the fake saw the connection close");
    s.fake.set_stream_chunk_delay(Duration::ZERO);
    s.ok("chat", json!({"prompt": "still serving?"})).await;
}

async fn a_cancelled_image_call_writes_nothing(era: Era) {
    let s = start(era).await;
    s.fake.inject_fault(Fault {
        path: Some("/v1/images/generations".into()),
        method: None,
        count: 1,
        kind: FaultKind::Delay { ms: 2000 },
    });
    let call = s.call("generate_image", json!({"prompt": "never mind"}));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), call)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let written = std::fs::read_dir(s.out_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(written, 0, "a cancelled call left a file");
    assert_eq!(s.fake.stats().connections_closed_early, 1);
}

async fn image_results_carry_previews_within_the_budget(era: Era) {
    let s = start(era).await;
    let result = s
        .call(
            "generate_image",
            json!({"prompt": "four previews", "n": 4, "size": "1536x1536"}),
        )
        .await;
    let images: Vec<Value> = result
        .content
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .filter(|c| c["type"] == "image")
        .collect();
    assert_eq!(images.len(), 4);
    let inline: usize = images
        .iter()
        .map(|i| i["data"].as_str().unwrap().len())
        .sum();
    assert!(inline <= 700_000, "{inline} bytes inline");
    let whole = serde_json::to_string(&result).unwrap().len();
    assert!(whole < 1024 * 1024, "result is {whole} bytes");
    eprintln!("4-image result: {whole} bytes, {inline} of them inline previews");
    let links = result
        .content
        .iter()
        .filter(|c| c.as_resource_link().is_some())
        .count();
    assert_eq!(links, 4);

    let speech = s.call("speak", json!({"text": "short and small"})).await;
    let audio = speech
        .content
        .iter()
        .filter(|c| serde_json::to_value(c).unwrap()["type"] == "audio")
        .count();
    assert_eq!(audio, 1, "small audio is inlined");
}

async fn previews_can_be_turned_off(era: Era) {
    let mut options = Options::new(era);
    options
        .extra_env
        .push(("AIPASS_INLINE".into(), "never".into()));
    let s = start_with(options).await;
    let result = s
        .call("generate_image", json!({"prompt": "no preview"}))
        .await;
    assert!(result.content.iter().all(|c| c.as_image().is_none()));
    assert_eq!(
        result
            .content
            .iter()
            .filter(|c| c.as_resource_link().is_some())
            .count(),
        1
    );
}

async fn a_long_transcript_goes_to_a_file(era: Era) {
    let s = start(era).await;
    let long_text = "word ".repeat(6000);
    let audio = s.output.path().join("long.flac");
    std::fs::write(
        &audio,
        [
            b"fLaC".as_slice(),
            b"AIPASS-FAKE-TEXT:",
            long_text.as_bytes(),
        ]
        .concat(),
    )
    .unwrap();
    let out = s.ok("transcribe", json!({"file": audio})).await;
    let paths = testkit::session::files(&out);
    assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), long_text);
    assert_eq!(out["text"].as_str().unwrap().chars().count(), 2000);
}

async fn relative_paths_follow_the_clients_first_root(era: Era) {
    let s = start(era).await;
    let root = s.output.path().join("project");
    std::fs::create_dir_all(&root).unwrap();
    testkit::session::write_png(&root.join("input.png"), 64, 64);
    s.add_root(&root);
    let result = s
        .call(
            "edit_image",
            json!({"prompt": "x", "images": ["input.png"], "output_dir": "art"}),
        )
        .await;
    match era {
        // Roots are a server-to-client request, which only the 2025-11-25 era has.
        Era::Initialize => {
            let out = result.structured_content.expect("edit succeeds");
            let paths = testkit::session::files(&out);
            assert!(paths[0].starts_with(root.join("art")), "{paths:?}");
        }
        // Without roots, relative paths resolve against the working directory.
        Era::Discover => {
            assert_eq!(result.is_error, Some(true));
            assert!(testkit::session::text(&result).contains("file not found"));
        }
    }
}

both_eras!(
    relative_paths_follow_the_clients_first_root,
    image_results_carry_previews_within_the_budget,
    previews_can_be_turned_off,
    a_long_transcript_goes_to_a_file,
    a_slow_chat_stream_reports_progress,
    cancelling_a_chat_closes_the_upstream_stream,
    a_cancelled_image_call_writes_nothing,
);

fn catalogue() -> (String, Value) {
    let output = Command::new(testkit::session::binary())
        .arg("tools")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let value = serde_json::from_str(&text).unwrap();
    (text, value)
}

#[test]
fn the_catalogue_matches_its_reviewed_snapshot() {
    let (text, _) = catalogue();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/catalogue.json"
    );
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &text).unwrap();
    }
    let reviewed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text == reviewed,
        "the tool catalogue changed: review it, then run UPDATE_SNAPSHOTS=1 cargo test --test agent_experience"
    );
}

#[test]
fn the_catalogue_is_small_and_plain() {
    let (_, catalogue) = catalogue();
    let compact = serde_json::to_string(&catalogue).unwrap();
    assert!(
        compact.len() < 16 * 1024,
        "tools/list is {} bytes",
        compact.len()
    );
    for tool in catalogue["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap();
        let description = tool["description"].as_str().unwrap();
        assert!(
            description.len() <= 400,
            "{name}: {} chars",
            description.len()
        );
        for schema in [&tool["inputSchema"], &tool["outputSchema"]] {
            let root = schema.as_object().unwrap();
            for combinator in ["anyOf", "oneOf", "allOf"] {
                assert!(
                    !root.contains_key(combinator),
                    "{name}: {combinator} at the root"
                );
            }
            assert!(
                !schema.to_string().contains("\"null\""),
                "{name}: nullable type"
            );
        }
        let paid = testkit::facts::paid_tools().contains(&name.to_string());
        assert_eq!(description.ends_with(SPENDS_BUDGET), paid, "{name}");
        assert_eq!(description.ends_with(FREE), !paid, "{name}");
    }
}
