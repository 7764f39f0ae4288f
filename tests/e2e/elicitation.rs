//! Sign-in through URL-mode elicitation, end to end: the real `aipass-mcp` binary, the strict
//! fake AI Pass, and an rmcp client playing a host. A host that declares URL mode is asked once,
//! with the short `/start` link on the loopback listener; when it accepts it "opens" the link
//! (follows the redirects as a browser would). Hosts without URL mode, and the 2026-07-28 era,
//! get the fallback: progress messages with the link, then `auth_required`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::facts::ErrorCode;

use rmcp::model::{
    CallToolResult, ClientCapabilities, ClientConfig, CustomNotification, ElicitRequestParams,
    ElicitResult, ElicitationAction, ElicitationCapability, FormElicitationCapability,
    Implementation, ProgressNotificationParam, UrlElicitationCapability,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, RoleClient};
use serde_json::{Value, json};
use testkit::auth::{BALANCE, Env, Era, Visit, text, visit};

/// What the host answers to an elicitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    /// Accept and open the link in the "browser" (the user then approves).
    AcceptAndOpen,
    /// Accept; the test opens the link itself, when it wants.
    AcceptOnly,
    Decline,
    Cancel,
}

/// One elicitation as the host received it.
#[derive(Clone, Debug)]
struct Asked {
    mode_url: bool,
    url: String,
    message: String,
    id: String,
}

/// A host: declares URL-mode elicitation (or not) and records everything the server sends.
#[derive(Clone)]
struct Host {
    url_mode: bool,
    reply: Arc<Mutex<Reply>>,
    asked: Arc<Mutex<Vec<Asked>>>,
    /// When the host sent its last answer.
    answered_at: Arc<Mutex<Option<Instant>>>,
    visits: Arc<Mutex<Vec<Visit>>>,
    /// `elicitationId`s of `notifications/elicitation/complete`.
    completed: Arc<Mutex<Vec<String>>>,
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl Host {
    fn new(url_mode: bool, reply: Reply) -> Host {
        Host {
            url_mode,
            reply: Arc::new(Mutex::new(reply)),
            asked: Arc::default(),
            answered_at: Arc::default(),
            visits: Arc::default(),
            completed: Arc::default(),
            progress: Arc::default(),
        }
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    fn completed(&self) -> Vec<String> {
        self.completed.lock().unwrap().clone()
    }

    fn progress_messages(&self) -> Vec<String> {
        self.progress
            .lock()
            .unwrap()
            .iter()
            .filter_map(|p| p.message.clone())
            .collect()
    }

    /// Waits until `n` completion notifications arrived (they follow the tool result).
    async fn wait_for_completed(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let completed = self.completed();
            if completed.len() >= n {
                return completed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} elicitation/complete notifications, not {n}",
            self.completed().len()
        );
    }

    /// Waits until the browser finished `n` visits of the link.
    async fn wait_for_visits(&self, n: usize) -> Vec<Visit> {
        for _ in 0..400 {
            let visits = self.visits.lock().unwrap().clone();
            if visits.len() >= n {
                return visits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the browser never finished visit #{n}");
    }
}

impl ClientHandler for Host {
    fn get_info(&self) -> ClientConfig {
        // Without URL mode the host still declares form mode: only URL mode may bring the link.
        let elicitation = if self.url_mode {
            ElicitationCapability::new().with_url(UrlElicitationCapability::new())
        } else {
            ElicitationCapability::new().with_form(FormElicitationCapability::default())
        };
        let mut capabilities = ClientCapabilities::default();
        capabilities.elicitation = Some(elicitation);
        ClientConfig::new(
            capabilities,
            Implementation::new("aipass-mcp-elicitation-tests", "0.1.0"),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        let asked = match request {
            ElicitRequestParams::UrlElicitationParams {
                message,
                url,
                elicitation_id,
                ..
            } => Asked {
                mode_url: true,
                url,
                message,
                id: elicitation_id,
            },
            other => Asked {
                mode_url: false,
                url: String::new(),
                message: format!("{other:?}"),
                id: String::new(),
            },
        };
        self.asked.lock().unwrap().push(asked.clone());
        let reply = *self.reply.lock().unwrap();
        let action = match reply {
            Reply::AcceptAndOpen => {
                let visits = self.visits.clone();
                tokio::spawn(async move {
                    let visit = visit(&asked.url).await;
                    visits.lock().unwrap().push(visit);
                });
                ElicitationAction::Accept
            }
            Reply::AcceptOnly => ElicitationAction::Accept,
            Reply::Decline => ElicitationAction::Decline,
            Reply::Cancel => ElicitationAction::Cancel,
        };
        *self.answered_at.lock().unwrap() = Some(Instant::now());
        Ok(ElicitResult::new(action))
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        if notification.method == "notifications/elicitation/complete" {
            let id = notification
                .params
                .as_ref()
                .and_then(|p| p["elicitationId"].as_str())
                .unwrap_or_default()
                .to_owned();
            self.completed.lock().unwrap().push(id);
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// The server binary with a [`Host`] connected.
struct Hosted {
    server: testkit::auth::Server<Host>,
    /// Bytes of the largest tool result seen (JSON).
    largest_result: Mutex<usize>,
}

async fn start(env: &Env, host: Host, era: Era) -> Hosted {
    Hosted {
        server: env.server_for(host, &[], &[], era).await,
        largest_result: Mutex::new(0),
    }
}

impl Hosted {
    async fn call(&self, name: &str, arguments: Value) -> CallToolResult {
        let result = self.server.call(name, arguments).await;
        let bytes = serde_json::to_vec(&result).unwrap().len();
        let mut largest = self.largest_result.lock().unwrap();
        *largest = (*largest).max(bytes);
        result
    }

    async fn balance_ok(&self) {
        let result = self.call(BALANCE, json!({"refresh": true})).await;
        assert_ne!(result.is_error, Some(true), "{}", text(&result));
        let remaining = result
            .structured_content
            .as_ref()
            .expect("structuredContent")["remaining_budget"]
            .as_f64();
        assert_eq!(remaining, Some(10.0));
    }

    async fn stop(self) -> String {
        eprintln!(
            "largest tool result: {} bytes",
            self.largest_result.lock().unwrap()
        );
        self.server.stop().await
    }
}

/// The short link `text` shows, nonce included.
fn link_in(text: &str, env: &Env) -> String {
    let prefix = env.link_prefix();
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link in {text}"));
    let nonce: String = text[at + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("{prefix}{nonce}")
}

fn assert_short_link(text: &str, env: &Env, what: &str) {
    let link = link_in(text, env);
    assert_eq!(link.len(), env.link_prefix().len() + 22, "{what}: {text}");
    for secret_part in ["/oauth2/authorize", "code_challenge", "state="] {
        assert!(
            !text.contains(secret_part),
            "{what} shows {secret_part}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_url_mode_is_asked_once_and_the_link_signs_in() {
    let env = Env::new().await;
    let host = Host::new(true, Reply::AcceptAndOpen);
    let server = start(&env, host.clone(), Era::Initialize).await;
    server.balance_ok().await;

    let asked = host.asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].mode_url);
    assert_eq!(
        asked[0].url,
        link_in(&asked[0].url, &env),
        "the short link, nothing more"
    );
    assert_short_link(&asked[0].url, &env, "the elicitation URL");
    assert!(asked[0].message.contains("AI Pass"), "{}", asked[0].message);
    assert!(
        asked[0].id.starts_with("aipass-sign-in-"),
        "{}",
        asked[0].id
    );

    // Opening the link went through the sign-in page to the callback.
    let visits = host.wait_for_visits(1).await;
    assert_eq!(visits[0].status, 200, "{}", visits[0].body);
    assert!(
        visits[0].final_url.starts_with(&env.redirect_uri),
        "{}",
        visits[0].final_url
    );
    assert!(visits[0].body.contains("Signed in"), "{}", visits[0].body);
    let stats = env.fake.stats();
    assert_eq!((stats.authorize, stats.code_exchanges), (1, 1));

    // The host learns the sign-in is done.
    assert_eq!(host.wait_for_completed(1).await, vec![asked[0].id.clone()]);
    // Signed in: the next call asks nothing.
    server.balance_ok().await;
    assert_eq!(host.asked().len(), 1);
    // The host showed the link, so the server opened no browser of its own.
    assert_eq!(env.opened_urls(), Vec::<String>::new());
    let stderr = server.stop().await;
    assert!(
        stderr.contains("/oauth2/authorize?"),
        "stderr keeps the full URL"
    );
    assert!(
        stderr.contains("the MCP client will show the sign-in link"),
        "{stderr}"
    );
}

/// `tool` is called signed out; the host refuses the sign-in prompt.
async fn refusing(reply: Reply, tool: &str, arguments: Value) {
    let env = Env::new().await;
    let host = Host::new(true, reply);
    let server = start(&env, host.clone(), Era::Initialize).await;
    let started = Instant::now();
    let result = server.call(tool, arguments).await;
    let answered_at = host
        .answered_at
        .lock()
        .unwrap()
        .expect("the host was asked");
    let after_answer = answered_at.elapsed();
    eprintln!(
        "{reply:?}: auth_required {} ms after the host's answer ({} ms after the call)",
        after_answer.as_millis(),
        started.elapsed().as_millis()
    );
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.starts_with(ErrorCode::AuthRequired.as_str()),
        "{message}"
    );
    assert!(message.contains("declined"), "{message}");
    assert!(message.contains("aipass-mcp login"), "{message}");
    assert_short_link(&message, &env, "the result");
    // Declined: no browser tab opened behind the user's back.
    assert_eq!(env.opened_urls(), Vec::<String>::new());
    // The login timeout is 60 s: the call did not wait for it.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(host.asked().len(), 1);

    // The sign-in goes on in the background: asking again sends a new elicitation, and
    // accepting it now completes that same sign-in.
    *host.reply.lock().unwrap() = Reply::AcceptAndOpen;
    server.balance_ok().await;
    let asked = host.asked();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_ne!(asked[0].id, asked[1].id);
    assert_eq!(
        asked[1].url, asked[0].url,
        "the same sign-in, the same link"
    );
    let stats = env.fake.stats();
    assert_eq!((stats.authorize, stats.code_exchanges), (1, 1));
    assert_eq!(host.wait_for_completed(1).await, vec![asked[1].id.clone()]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_answers_auth_required_at_once() {
    refusing(Reply::Decline, BALANCE, json!({})).await;
}

/// Video goes through the same call path: a declined sign-in ends the call too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_ends_a_video_call_at_once() {
    let arguments = json!({"prompt": "A paper boat", "wait_seconds": 0});
    refusing(Reply::Decline, "generate_video", arguments).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_answers_auth_required_at_once() {
    refusing(Reply::Cancel, BALANCE, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_elicitation() {
    let env = Env::new().await;
    let host = Host::new(true, Reply::AcceptOnly);
    let server = start(&env, host.clone(), Era::Initialize).await;
    {
        let calls = futures::future::join_all((0..5).map(|i| {
            server.call(
                "chat",
                json!({"prompt": format!("hi {i}"), "model": "gpt-5-nano"}),
            )
        }));
        tokio::pin!(calls);
        // Wait until all five calls have reported waiting for the sign-in.
        let waiting = async {
            loop {
                let tokens: std::collections::HashSet<String> = host
                    .progress
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|p| p.message.as_deref().is_some_and(|m| m.contains("sign in")))
                    .map(|p| format!("{:?}", p.progress_token))
                    .collect();
                if tokens.len() == 5 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            _ = waiting => {}
            _ = &mut calls => panic!("the calls ended before the sign-in"),
        }
        assert_eq!(
            host.asked().len(),
            1,
            "one elicitation for five waiting calls"
        );
        let link = env.shown_link().await;
        let (visit, results) = tokio::join!(visit(&link), calls);
        assert_eq!(visit.status, 200, "{}", visit.body);
        for result in &results {
            assert_ne!(result.is_error, Some(true), "{}", text(result));
            assert!(
                text(result).contains("Echo from gpt-5-nano"),
                "{}",
                text(result)
            );
        }
    }
    assert_eq!(host.asked().len(), 1);
    let id = host.asked()[0].id.clone();
    assert_eq!(host.wait_for_completed(1).await, vec![id]);
    let stats = env.fake.stats();
    assert_eq!((stats.authorize, stats.code_exchanges), (1, 1));
    server.stop().await;
}

/// The fallback: no elicitation, progress messages and the result carry the short link.
async fn fallback(env: &Env, host: &Host, era: Era) {
    let server = start(env, host.clone(), era).await;
    let started = Instant::now();
    let result = server.call(BALANCE, json!({})).await;
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "waited the login timeout"
    );
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.starts_with(ErrorCode::AuthRequired.as_str()),
        "{message}"
    );
    assert_short_link(&message, env, "the result");
    let progress = host.progress_messages();
    assert!(
        progress.iter().any(|m| m.contains("sign in")),
        "{progress:?}"
    );
    for message in &progress {
        if message.contains("sign in") {
            assert_short_link(message, env, "a progress message");
        }
    }
    // The link still works: the sign-in completes and the next call goes through.
    let visit = visit(&link_in(&message, env)).await;
    assert_eq!(visit.status, 200, "{}", visit.body);
    server.balance_ok().await;
    assert!(
        host.asked().is_empty(),
        "no elicitation: {:?}",
        host.asked()
    );
    assert!(host.completed().is_empty());
    // Without a prompt in the host, the server opened the sign-in page in the browser itself.
    assert_eq!(env.opened_urls().len(), 1, "{:?}", env.opened_urls());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_url_mode_gets_progress_and_the_fallback() {
    let mut env = Env::new().await;
    env.login_timeout = "3".into();
    let host = Host::new(false, Reply::AcceptAndOpen);
    fallback(&env, &host, Era::Initialize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2026_era_never_elicits() {
    let mut env = Env::new().await;
    env.login_timeout = "3".into();
    let host = Host::new(true, Reply::AcceptAndOpen);
    fallback(&env, &host, Era::Discover).await;
}

/// The short links while the listener waits: a local client without the nonce, or with a
/// foreign `Host`, gets nothing; the shown link answers 302 to the sign-in page once, then 410;
/// POST → 405; the browser's own link still signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_link_works_once_and_only_with_its_nonce() {
    let env = Env::new().await;
    let host = Host::new(false, Reply::Decline);
    let server = start(&env, host.clone(), Era::Initialize).await;
    {
        let call = server.call(BALANCE, json!({}));
        tokio::pin!(call);
        let http = aipass_mcp::tls::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let links = async { (env.shown_link().await, env.wait_for_url(1).await) };
        let (link, browser_link) = tokio::select! {
            links = links => links,
            _ = &mut call => panic!("the call ended before the sign-in"),
        };
        assert_ne!(link, browser_link, "the browser has a link of its own");
        let prefix = env.link_prefix();
        // Another local client racing for the sign-in page, without the nonce.
        for guess in [
            prefix.trim_end_matches('/').to_string(),
            prefix.clone(),
            format!("{prefix}AAAAAAAAAAAAAAAAAAAAAA"),
            link[..link.len() - 1].to_string(),
        ] {
            let response = http.get(&guess).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 404, "{guess}");
            assert!(response.headers().get("location").is_none());
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("state=") && !body.contains("authorize"),
                "{body}"
            );
        }
        // A page reaching the port through a rebinding DNS name sends its own Host.
        let foreign = http
            .get(&link)
            .header("host", "evil.example:47821")
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status().as_u16(), 421);
        assert!(foreign.headers().get("location").is_none());

        let response = http.get(&link).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(&format!("{}/oauth2/authorize?", env.fake.base_url())),
            "{location}"
        );
        assert!(location.contains("code_challenge=") && location.contains("state="));
        let again = http.get(&link).send().await.unwrap();
        assert_eq!(again.status().as_u16(), 410, "the link works once");
        assert!(again.headers().get("location").is_none());
        let post = http
            .post(&browser_link)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(post, 405);

        let visit = visit(&browser_link).await;
        assert_eq!(
            visit.authorize_url, location,
            "one sign-in page behind both links"
        );
        assert_eq!(visit.status, 200, "{}", visit.body);
        let result = call.await;
        assert_ne!(result.is_error, Some(true), "{}", text(&result));
        // The listener is closed after the sign-in.
        assert!(http.get(&link).send().await.is_err());
    }
    server.stop().await;
}

/// First run without a client id: the host is asked to open the setup approval page, then the
/// sign-in link, and no browser tab is opened besides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_the_host_shows_the_approval_then_the_sign_in() {
    let env = Env::new().await;
    let host = Host::new(true, Reply::AcceptAndOpen);
    let hosted = Hosted {
        server: env
            .server_for(host.clone(), &[], &["AIPASS_CLIENT_ID"], Era::Initialize)
            .await,
        largest_result: Mutex::new(0),
    };
    hosted.balance_ok().await;
    let asked = host.asked();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|a| a.mode_url));
    let approval = format!("{}/device?user_code=", env.fake.base_url());
    assert!(asked[0].url.starts_with(&approval), "{asked:?}");
    assert!(asked[1].url.starts_with(&env.link_prefix()), "{asked:?}");
    assert_ne!(asked[0].id, asked[1].id);
    assert!(env.opened_urls().is_empty(), "no browser tab as well");
    assert_eq!(env.fake.agent_auth_stats().clients_created, 1);
    hosted.stop().await;
}
