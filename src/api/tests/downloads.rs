//! Downloads (the token only to the API origin), and futures that can cross threads.

use super::*;

#[tokio::test]
async fn download_sends_the_token_only_to_the_api_origin() {
    let api = Server::start(vec![reply(200, "image/png", "PNG-1", &[])]).await;
    let cdn = Server::start(vec![reply(200, "image/png", "PNG-2", &[])]).await;
    let client = static_client(&api);
    let own = api.base.join("/files/a.png").unwrap();
    let foreign = cdn.base.join("/b.png?sig=abc").unwrap();
    let a = client.download(own.as_str()).await.unwrap();
    let b = client.download(foreign.as_str()).await.unwrap();
    assert_eq!(
        (a.bytes.as_slice(), b.bytes.as_slice()),
        (&b"PNG-1"[..], &b"PNG-2"[..])
    );
    assert_eq!(
        api.requests()[0].header("authorization"),
        Some("Bearer tok-static")
    );
    assert_eq!(cdn.requests()[0].header("authorization"), None);
    assert_eq!(cdn.requests()[0].header("x-aipass-oauth-client-id"), None);
    assert_eq!(cdn.requests()[0].target, "/b.png?sig=abc");
    for bad in ["file:///etc/passwd", "ftp://x/y.png", "not a url"] {
        assert_eq!(
            client.download(bad).await.unwrap_err().code().as_str(),
            "invalid_input"
        );
    }
}

// ---------- the futures can cross threads (rmcp handlers need Send) ----------

#[test]
fn client_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = ApiClient::new(
        ApiSettings::new(Url::parse("http://127.0.0.1:9").unwrap()),
        Arc::new(StaticTokenProvider::new(None)),
    );
    let req = chat_request();
    let mut sink = |_: &str| {};
    assert_send(&client.chat_stream(&req, &mut sink));
    assert_send(&client.list_models(&[]));
    assert_send(&client.edit_images(ImageEditRequest {
        model: "m".into(),
        prompt: "p".into(),
        images: vec![],
        size: None,
        n: None,
        response_format: None,
    }));
    assert_send(&client.download("http://x"));
}
