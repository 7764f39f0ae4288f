//! Security end to end, through the real binary and the fake (docs/security.md names these
//! tests): input URLs cannot reach local services, directly, by name or through a redirect.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use testkit::facts::ErrorCode;

use aipass_mcp::net_policy::REFUSED_MESSAGE;
use serde_json::json;
use testkit::session::{Era, Options, Session, start, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback web server standing in for an internal service (an admin page, a metadata
/// endpoint): answers every request with a real PNG and counts the connections it accepted.
async fn internal_service() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let png = {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(4, 4)
            .write_to(&mut bytes, image::ImageFormat::Png)
            .unwrap();
        bytes.into_inner()
    };
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let png = png.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    png.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&png).await;
            });
        }
    });
    (addr, connections)
}

/// Every tool that fetches URLs, called with `url`; each must give the one refusal text.
async fn assert_every_fetch_refused(s: &Session, url: &str) {
    // The URL is shown shortened; what follows it is the same sentence for every refusal.
    let ending = format!("': {REFUSED_MESSAGE}");
    for (tool, arguments) in [
        ("chat", json!({"prompt": "look", "images": [url]})),
        ("edit_image", json!({"prompt": "x", "images": [url]})),
        ("vary_image", json!({"image": url})),
        ("transcribe", json!({"file": url})),
    ] {
        let text = s.err(tool, arguments).await;
        assert!(
            text.starts_with(&format!(
                "{}: could not download '",
                ErrorCode::InvalidInput.as_str()
            )) && text.ends_with(&ending),
            "{tool} with {url}: {text}"
        );
    }
}

async fn local_addresses_are_refused_before_any_connection(era: Era) {
    let s = start(era).await;
    let (service, connections) = internal_service().await;
    let port = service.port();
    for url in [
        format!("http://127.0.0.1:{port}/admin.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/admin.png"),
        format!("http://0x7f000001:{port}/admin.png"),
        // A name: refused by the resolver, on the address that would be connected to.
        format!("http://localhost:{port}/admin.png"),
    ] {
        assert_every_fetch_refused(&s, &url).await;
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the internal service was reached"
    );
    // Nothing was spent either: the refusal comes before any AI Pass call.
    assert!(s.fake.requests().is_empty(), "{:?}", s.fake.requests());
    s.ok("chat", json!({"prompt": "still serving"})).await;
}

async fn redirects_to_local_addresses_are_refused(era: Era) {
    let (internal, internal_hits) = internal_service().await;
    let (trusted, trusted_hits) = internal_service().await;
    // The fake and one trusted loopback server are allowed; the internal service is not.
    let allowed = format!("{{fake}},127.0.0.1:{}", trusted.port());
    let s = start_with(Options::new(era).allowing_local_urls(&allowed)).await;
    let via_fake = |target: &str| {
        format!(
            "{}/_fake/redirect?to={}",
            s.fake.base_url(),
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        )
    };
    for target in [
        format!("http://127.0.0.1:{}/admin.png", internal.port()),
        format!("http://localhost:{}/admin.png", internal.port()),
        format!("http://[::1]:{}/admin.png", internal.port()),
    ] {
        let url = via_fake(&target);
        assert_every_fetch_refused(&s, &url).await;
    }
    assert_eq!(
        internal_hits.load(Ordering::SeqCst),
        0,
        "reached by redirect"
    );
    // The same redirect to an allowed origin is followed: the refusals above were the policy.
    let allowed_target = via_fake(&format!("http://127.0.0.1:{}/ok.png", trusted.port()));
    let answer = s
        .ok(
            "chat",
            json!({"prompt": "look", "images": [allowed_target]}),
        )
        .await;
    assert!(
        answer["text"].as_str().unwrap().contains("saw 1 image"),
        "{answer}"
    );
    assert_eq!(trusted_hits.load(Ordering::SeqCst), 1);
}

async fn the_opt_in_allows_local_urls(era: Era) {
    let (service, connections) = internal_service().await;
    let s = start_with(Options::new(era).allowing_local_urls("1")).await;
    let url = format!("http://localhost:{}/ok.png", service.port());
    let answer = s
        .ok("chat", json!({"prompt": "look", "images": [url]}))
        .await;
    assert!(
        answer["text"].as_str().unwrap().contains("saw 1 image"),
        "{answer}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

/// A folder other users can write to is refused for outputs, and nothing is saved in it.
async fn a_world_writable_output_folder_is_refused(era: Era) {
    if cfg!(not(unix)) {
        return;
    }
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;
    let s = start(era).await;
    let shared = s.output.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let text = s
        .err(
            "generate_image",
            json!({"prompt": "a fox", "output_dir": shared.display().to_string()}),
        )
        .await;
    assert!(
        text.starts_with(&ErrorCode::InvalidInput.prefix())
            && text.contains("writable by every user"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0);
}

/// A PNG over the vision size target whose header claims a huge picture (a decompression
/// bomb): refused by the decoder's limits, before its pixels are allocated.
async fn a_decompression_bomb_is_refused(era: Era) {
    let s = start(era).await;
    let bomb = s.output.path().join("bomb.png");
    let mut ihdr = 11_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&11_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &vec![0u8; 900 * 1024]));
    std::fs::write(&bomb, png).unwrap();
    let text = s
        .err("chat", json!({"prompt": "look", "images": [bomb]}))
        .await;
    assert!(
        text.starts_with(&format!(
            "{}: cannot decode image bomb.png",
            ErrorCode::InvalidInput.as_str()
        )) && text.contains("limit"),
        "{text}"
    );
    s.ok("chat", json!({"prompt": "still serving"})).await;
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in &body {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&(!crc).to_be_bytes());
    out
}

/// With roots declared (2025-11-25 era), inputs and output folders are confined to the roots,
/// the default output folder and AIPASS_ALLOWED_DIRS, after `..` and symlinks; the refusal is
/// the same whether the file exists or not. Without roots (2026 era) paths work as before.
async fn files_are_confined_to_the_clients_roots(era: Era) {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("project");
    let extra = base.path().join("extra");
    let outside = base.path().join("outside");
    for dir in [&root, &extra, &outside] {
        std::fs::create_dir_all(dir).unwrap();
    }
    testkit::session::write_png(&root.join("in.png"), 8, 8);
    testkit::session::write_png(&extra.join("in.png"), 8, 8);
    testkit::session::write_png(&outside.join("secret.png"), 8, 8);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    let mut options = Options::new(era);
    options
        .extra_env
        .push(("AIPASS_ALLOWED_DIRS".into(), extra.display().to_string()));
    options.working_dir = Some(root.clone());
    let s = start_with(options).await;
    s.add_root(&root);
    let look = |image: String| json!({"prompt": "look", "images": [image]});
    let secret = outside.join("secret.png").display().to_string();
    let missing = outside.join("missing.png").display().to_string();
    if era == Era::Discover {
        // No roots in this era: today's behaviour, any path the user can read.
        s.ok("chat", look(secret)).await;
        return;
    }
    s.ok("chat", look("in.png".into())).await;
    s.ok("chat", look(extra.join("in.png").display().to_string()))
        .await;
    let mut refusals = Vec::new();
    for spec in [
        secret.clone(),
        missing.clone(),
        "../outside/secret.png".to_string(),
        "link/secret.png".to_string(),
    ] {
        let text = s.err("chat", look(spec.clone())).await;
        assert!(
            text.starts_with(&ErrorCode::InvalidInput.prefix())
                && text.contains("outside the folders"),
            "{spec}: {text}"
        );
        refusals.push(text.replace(&spec, "<spec>"));
    }
    assert!(refusals.windows(2).all(|w| w[0] == w[1]), "{refusals:?}");
    // Writes: an output folder outside is refused and not created; inside and the default work.
    let elsewhere = outside.join("new");
    let text = s
        .err(
            "generate_image",
            json!({"prompt": "a fox", "output_dir": elsewhere.display().to_string()}),
        )
        .await;
    assert!(text.contains("outside the folders"), "{text}");
    assert!(!elsewhere.exists());
    let out = s
        .ok(
            "generate_image",
            json!({"prompt": "a fox", "output_dir": "art"}),
        )
        .await;
    assert!(testkit::session::files(&out)[0].starts_with(root.join("art")));
    let out = s.ok("generate_image", json!({"prompt": "a fox"})).await;
    assert!(testkit::session::files(&out)[0].starts_with(s.out_dir()));
}

both_eras!(
    files_are_confined_to_the_clients_roots,
    local_addresses_are_refused_before_any_connection,
    redirects_to_local_addresses_are_refused,
    the_opt_in_allows_local_urls,
    a_decompression_bomb_is_refused,
    a_world_writable_output_folder_is_refused,
);
