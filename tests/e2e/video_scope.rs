//! The video tools go through the one call path like every other tool: a relative `output_dir`
//! resolves against the client's first root, and a failed download leaves nothing behind.
//! (A declined sign-in ending a video call is in `elicitation`, beside the other refusals.)

use aipass_fake::{Fault, FaultKind};
use serde_json::json;
use testkit::facts::ErrorCode;
use testkit::session::{Era, files, start, text};

/// What a folder holds, temp files included.
fn entries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|read| {
            read.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn a_relative_output_dir_follows_the_clients_first_root(era: Era) {
    let s = start(era).await;
    let root = s.output.path().join("project");
    std::fs::create_dir_all(&root).unwrap();
    s.add_root(&root);
    let out = s
        .ok(
            "generate_video",
            json!({"prompt": "A lighthouse at dusk", "output_dir": "clips"}),
        )
        .await;
    let paths = files(&out);
    assert_eq!(paths.len(), 1, "{out}");
    match era {
        // Roots are a server-to-client request, which only the 2025-11-25 era has.
        Era::Initialize => assert!(paths[0].starts_with(root.join("clips")), "{paths:?}"),
        // Without roots, relative paths resolve against the working directory, never the root.
        Era::Discover => assert!(!paths[0].starts_with(&root), "{paths:?}"),
    }
}

async fn a_failed_download_leaves_no_file(era: Era) {
    let s = start(era).await;
    let dir = s.output.path().join("videos");
    let pending = s
        .ok(
            "generate_video",
            json!({"prompt": "Rain on a window", "wait_seconds": 0}),
        )
        .await;
    let video_id = pending["video_id"].as_str().unwrap().to_string();
    // Every attempt at the file fails, retries included.
    s.fake.inject_fault(
        Fault::new(FaultKind::Status {
            status: 500,
            retry_after: None,
            body: None,
        })
        .on("GET", &format!("/v1/videos/{video_id}/content"))
        .times(10),
    );
    let result = s
        .call(
            "get_video",
            json!({"video_id": video_id, "wait_seconds": 20, "output_dir": dir}),
        )
        .await;
    assert_eq!(result.is_error, Some(true), "{}", text(&result));
    assert!(
        text(&result).starts_with(&ErrorCode::UpstreamError.prefix()),
        "{}",
        text(&result)
    );
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
}

both_eras!(
    a_relative_output_dir_follows_the_clients_first_root,
    a_failed_download_leaves_no_file,
);
