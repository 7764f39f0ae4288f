//! Input limits through the real binary: size caps for images and audio, types checked by magic
//! bytes, URL inputs only over http(s), capped while streaming and given up after a timeout.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use testkit::facts::ErrorCode;

use serde_json::json;
use testkit::session::{Era, Options, Session, start, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
const MAX_AUDIO_BYTES: u64 = 25 * 1024 * 1024;

/// A file of `size` bytes that starts with `magic`.
fn write_sized(path: &Path, magic: &[u8], size: u64) {
    let mut bytes = magic.to_vec();
    bytes.resize(size as usize, 0x5A);
    std::fs::write(path, bytes).unwrap();
}

fn png_magic() -> &'static [u8] {
    b"\x89PNG\r\n\x1a\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_over_the_size_caps_are_refused_clearly() {
    let s = start(Era::Initialize).await;
    let big_image = s.output.path().join("big.png");
    write_sized(&big_image, png_magic(), MAX_IMAGE_BYTES + 1);
    for (tool, args) in [
        ("chat", json!({"prompt": "look", "images": [big_image]})),
        (
            "edit_image",
            json!({"prompt": "redo", "images": [big_image]}),
        ),
        ("vary_image", json!({"image": big_image})),
    ] {
        let text = s.err(tool, args).await;
        assert!(
            text.starts_with(&ErrorCode::InvalidInput.prefix())
                && text.contains(&format!("the limit is {MAX_IMAGE_BYTES} bytes")),
            "{tool}: {text}"
        );
    }
    let big_audio = s.output.path().join("big.mp3");
    write_sized(&big_audio, b"ID3\x03\0", MAX_AUDIO_BYTES + 1);
    let text = s.err("transcribe", json!({"file": big_audio})).await;
    assert!(
        text.starts_with(&ErrorCode::InvalidInput.prefix())
            && text.contains(&format!("the limit is {MAX_AUDIO_BYTES} bytes")),
        "{text}"
    );
    // An image exactly at the cap is not refused for its size (the fake decodes it and finds
    // it is no real PNG, which is a different error).
    let at_cap = s.output.path().join("at-cap.png");
    write_sized(&at_cap, png_magic(), MAX_IMAGE_BYTES);
    let text = s.err("vary_image", json!({"image": at_cap})).await;
    assert!(!text.contains("the limit is"), "{text}");
    // A data: URI over the cap (about 27 MiB of base64 on one line) gets the same clear error.
    let mut bytes = png_magic().to_vec();
    bytes.resize(MAX_IMAGE_BYTES as usize + 1, 0x5A);
    let uri = format!(
        "data:image/png;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes)
    );
    let text = s
        .err("chat", json!({"prompt": "look", "images": [uri]}))
        .await;
    assert!(text.contains("the limit is"), "{text}");
    s.ok("chat", json!({"prompt": "still serving"})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_are_checked_by_magic_bytes_not_names() {
    let s = start(Era::Initialize).await;
    let fake_png = s.output.path().join("notes.png");
    std::fs::write(&fake_png, "these are notes, not a picture").unwrap();
    let text = s
        .err("chat", json!({"prompt": "look", "images": [fake_png]}))
        .await;
    assert!(
        text.starts_with(&ErrorCode::InvalidInput.prefix())
            && text.contains("is not a JPEG, PNG, GIF or WebP image"),
        "{text}"
    );
    let text = s
        .err("edit_image", json!({"prompt": "x", "images": [fake_png]}))
        .await;
    assert!(
        text.contains("is not a JPEG, PNG, GIF or WebP image"),
        "{text}"
    );
    // A real PNG named .mp3 is not audio.
    let png_as_mp3 = s.output.path().join("song.mp3");
    testkit::session::write_png(&s.output.path().join("real.png"), 8, 8);
    std::fs::copy(s.output.path().join("real.png"), &png_as_mp3).unwrap();
    let text = s.err("transcribe", json!({"file": png_as_mp3})).await;
    assert!(
        text.starts_with(&ErrorCode::InvalidInput.prefix())
            && text.contains("is not a supported audio file"),
        "{text}"
    );
    // And a real PNG named .txt is an image.
    let png_as_txt = s.output.path().join("picture.txt");
    std::fs::copy(s.output.path().join("real.png"), &png_as_txt).unwrap();
    let answer = s
        .ok("chat", json!({"prompt": "look", "images": [png_as_txt]}))
        .await;
    assert!(
        answer["text"].as_str().unwrap().contains("saw 1 image"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_http_and_https_urls_are_accepted() {
    let s = start(Era::Initialize).await;
    let secret = s.output.path().join("secret.png");
    testkit::session::write_png(&secret, 4, 4);
    for url in [
        format!("file://{}", secret.display()),
        "ftp://127.0.0.1/image.png".to_string(),
        "gopher://127.0.0.1/1".to_string(),
    ] {
        let text = s
            .err("chat", json!({"prompt": "look", "images": [url]}))
            .await;
        assert!(
            text.starts_with(&ErrorCode::InvalidInput.prefix())
                && text.contains("give a local path, an http(s) URL or a data: URI"),
            "{url}: {text}"
        );
        let text = s.err("transcribe", json!({"file": url})).await;
        assert!(
            text.starts_with(&ErrorCode::InvalidInput.prefix()),
            "{url}: {text}"
        );
    }
}

/// What the little web server answers for input URLs.
#[derive(Clone, Copy)]
enum Body {
    /// A real PNG.
    Png,
    /// PNG magic, then bytes without end (no Content-Length).
    Endless,
    /// Headers and a few bytes, then nothing.
    Stall,
}

/// A web server on loopback serving `body` to every request; counts the bytes it sent.
async fn web_server(body: Body) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/input.png", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let png = {
                    let mut bytes = std::io::Cursor::new(Vec::new());
                    image::RgbImage::new(4, 4)
                        .write_to(&mut bytes, image::ImageFormat::Png)
                        .unwrap();
                    bytes.into_inner()
                };
                let head = match body {
                    Body::Png => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        png.len()
                    ),
                    _ => "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\nconnection: close\r\n\r\n"
                        .into(),
                };
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                match body {
                    Body::Png => {
                        let _ = socket.write_all(&png).await;
                    }
                    Body::Endless => {
                        let mut chunk = vec![0x5Au8; 64 * 1024];
                        chunk[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
                        while socket.write_all(&chunk).await.is_ok() {
                            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                            chunk[..8].fill(0x5A);
                        }
                    }
                    Body::Stall => {
                        let _ = socket.write_all(b"\x89PNG\r\n\x1a\n").await;
                        tokio::time::sleep(Duration::from_secs(120)).await;
                    }
                }
            });
        }
    });
    (url, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_input_is_downloaded() {
    let s = start_with(Options::new(Era::Initialize).allowing_local_urls("1")).await;
    let (url, _) = web_server(Body::Png).await;
    let answer = s
        .ok("chat", json!({"prompt": "look", "images": [url]}))
        .await;
    assert!(
        answer["text"].as_str().unwrap().contains("saw 1 image"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_without_end_is_refused_at_the_cap_while_streaming() {
    let s = start_with(Options::new(Era::Initialize).allowing_local_urls("1")).await;
    let (url, sent) = web_server(Body::Endless).await;
    // The body never ends: only a cap checked while streaming can answer at all.
    let text = tokio::time::timeout(
        Duration::from_secs(60),
        s.err("chat", json!({"prompt": "look", "images": [url]})),
    )
    .await
    .expect("the endless download was cut off");
    assert!(
        text.starts_with(&ErrorCode::InvalidInput.prefix())
            && text.contains(&format!("larger than the {MAX_IMAGE_BYTES}-byte limit")),
        "{text}"
    );
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("endless URL: refused after the web server had sent {sent} bytes");
    // The last chunk may have been read in part before its write failed.
    assert!(
        sent + 64 * 1024 >= MAX_IMAGE_BYTES,
        "refused before the cap: {sent}"
    );
    s.ok("chat", json!({"prompt": "still serving"})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_url_times_out() {
    let mut options = Options::new(Era::Initialize).allowing_local_urls("1");
    options
        .extra_env
        .push(("AIPASS_REQUEST_TIMEOUT".into(), "2".into()));
    let s: Session = start_with(options).await;
    let (url, _) = web_server(Body::Stall).await;
    let started = Instant::now();
    let text = s
        .err("chat", json!({"prompt": "look", "images": [url]}))
        .await;
    let waited = started.elapsed();
    eprintln!("stalled URL: gave up after {waited:?}");
    assert!(
        text.starts_with(&ErrorCode::InvalidInput.prefix())
            && text.contains("did not finish downloading within 2 s"),
        "{text}"
    );
    assert!(waited < Duration::from_secs(30), "{waited:?}");
}
