//! `aipass-mcp login`, `logout` and `status`: for a person at a terminal. They print results on
//! stdout and the sign-in URL and problems on stderr, and never print a token.

use std::process::ExitCode;
use std::sync::Arc;

use super::client_id::ClientSource;
use super::provision::Shown;
use super::revoke;
use super::session::{AuthConfig, AuthSession, SignInStatus, now_unix};
use super::store::StoredTokens;
use crate::api::{ApiClient, ApiError, ApiSettings, StaticTokenProvider, TokenProvider};
use crate::config::{self, Settings};

/// `aipass-mcp login`: signs in through the browser (even when already signed in), prints the
/// URL on stderr, waits for the consent, and stores the tokens.
pub fn login(settings: &Settings) -> ExitCode {
    run(async {
        if config::access_token_from_env().is_some() {
            eprintln!(
                "note: AIPASS_ACCESS_TOKEN is set; while it is, the server uses it instead of the stored sign-in."
            );
        }
        let session = AuthSession::new(settings);
        if session.client().await.is_none() {
            eprintln!(
                "No AI Pass client yet: aipass-mcp will ask you to approve creating one on your account, then to sign in."
            );
        }
        let setup_printer = tokio::spawn(print_setup(session.setup_status()));
        let mut status = session.sign_in_status();
        let setup = session.setup_status();
        let printer = tokio::spawn(async move {
            let mut shown: Option<String> = None;
            while status.changed().await.is_ok() {
                let current = status.borrow_and_update().clone();
                match current {
                    // The terminal shows the short link too: the full URL carries the state,
                    // and terminals are scrolled back, logged and shared. The setup's approval
                    // link is printed by `print_setup`.
                    SignInStatus::Waiting {
                        url,
                        browser_opened,
                        ..
                    } if shown.as_deref() != Some(url.as_str()) && setup.borrow().is_none() => {
                        if browser_opened {
                            eprintln!(
                                "Opened the AI Pass sign-in page in your browser. If it did not appear, open this URL:"
                            );
                        } else {
                            eprintln!("Open this URL in a browser to sign in to AI Pass:");
                        }
                        eprintln!("\n  {url}\n");
                        eprintln!("Waiting for you to approve access (Ctrl-C to give up)...");
                        shown = Some(url);
                    }
                    SignInStatus::WaitingForOtherProcess { url }
                        if shown.is_none() && setup.borrow().is_none() =>
                    {
                        eprintln!(
                            "Another aipass-mcp is already signing in; waiting for it to finish."
                        );
                        if let Some(url) = url {
                            eprintln!("Its sign-in page:\n\n  {url}\n");
                        }
                        shown = Some(String::new());
                    }
                    _ => {}
                }
            }
        });
        let result = session.sign_in_now().await;
        printer.abort();
        setup_printer.abort();
        match result {
            Ok(tokens) => {
                let store = session.token_store().await.describe();
                println!("Signed in to AI Pass."); // stdout-ok
                if let Some(client) = session.client().await {
                    println!("OAuth client: {} ({})", client.id, client.source); // stdout-ok
                }
                println!("Access token: {}", expiry_text(&tokens)); // stdout-ok
                println!("Token store: {store}"); // stdout-ok
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: sign-in failed: {message}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `aipass-mcp logout`: revokes the tokens at AI Pass (refresh token first, then the access
/// token; see [`revoke`]), says which were revoked, and deletes them from the store.
pub fn logout(settings: &Settings, forget_client: bool) -> ExitCode {
    run(async {
        let session = quiet_session(settings);
        let code = sign_out(settings, &session).await;
        if !forget_client || code != ExitCode::SUCCESS {
            return code;
        }
        match session.forget_client().await {
            Ok(true) => {
                println!(
                    "Removed the stored OAuth client id; the next sign-in asks you to approve the setup again."
                ); // stdout-ok
                ExitCode::SUCCESS
            }
            Ok(false) => {
                println!("No stored OAuth client id to remove."); // stdout-ok
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: could not remove the stored OAuth client id: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Prints the first-run setup's approval link and code each time a new one is shown.
async fn print_setup(mut setup: tokio::sync::watch::Receiver<Option<Shown>>) {
    let mut shown = String::new();
    while setup.changed().await.is_ok() {
        let current = setup.borrow_and_update().clone();
        match current {
            Some(Shown::Approval {
                url,
                user_code,
                browser_opened,
            }) if shown != url => {
                if browser_opened {
                    eprintln!(
                        "Opened the AI Pass setup approval page in your browser. If it did not appear, open:"
                    );
                } else {
                    eprintln!(
                        "Open this page to approve that aipass-mcp creates its sign-in client on your AI Pass account:"
                    );
                }
                eprintln!(
                    "\n  {url}\n\nThe page shows the code {user_code}. Waiting for your approval (Ctrl-C to give up)..."
                );
                shown = url;
            }
            Some(Shown::OtherProcess { url }) if shown.is_empty() => {
                eprintln!("Another aipass-mcp is setting up the AI Pass client; waiting for it.");
                if let Some(url) = url {
                    eprintln!("Its approval page:\n\n  {url}\n");
                }
                shown = "other".into();
            }
            _ => {}
        }
    }
}

/// Revokes and deletes the tokens of the client in use.
async fn sign_out(settings: &Settings, session: &Arc<AuthSession>) -> ExitCode {
    {
        let Some(client) = session.client().await else {
            println!(
                "Not signed in, and no OAuth client is configured or stored; nothing to remove."
            ); // stdout-ok
            return ExitCode::SUCCESS;
        };
        let held = session.current_tokens().await;
        let Some(tokens) = held else {
            // The store in use is empty, but another one (an earlier mode) may not be.
            if let Err(e) = session.forget().await {
                eprintln!("warning: could not clear every token store: {e}");
            }
            let store = session.token_store().await.describe();
            println!("Not signed in; nothing to remove from {store}."); // stdout-ok
            if config::access_token_from_env().is_some() {
                println!("AIPASS_ACCESS_TOKEN is set in the environment; unset it yourself."); // stdout-ok
            }
            return ExitCode::SUCCESS;
        };
        let http = revoke::revoke_http_client(settings.connect_timeout);
        // The client the tokens were issued to (configured, or created by the first-run setup).
        let revocations = revoke::revoke_all(&http, &settings.base_url, &client.id, &tokens).await;
        let revoked = revocations.iter().all(|r| r.outcome.is_ok());
        let report = revoke::describe(&revocations);
        let store = session.token_store().await.describe();
        match session.forget().await {
            Ok(_) => {
                let outcome = if revoked {
                    format!(
                        "Signed out: {report} at AI Pass, and the tokens were deleted from {store}."
                    )
                } else {
                    format!(
                        "Signed out locally: the tokens were deleted from {store}, but at AI Pass {report}."
                    )
                };
                println!("{outcome}"); // stdout-ok
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: could not delete the stored tokens from {store}: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

const ENV_TOKEN_STATUS: &str = "Signed in with AIPASS_ACCESS_TOKEN from the environment (the token store and sign-in are not used).";
const NOT_SIGNED_IN: &str =
    "Not signed in. Run `aipass-mcp login`, or call any AI Pass tool to sign in from your agent.";

/// `aipass-mcp status`: signed in or not, the user (when `profile:read` was granted), token
/// expiry, the store in use, and the balance. Exits 1 when not signed in.
pub fn status(settings: &Settings) -> ExitCode {
    run(async {
        let base_url = settings.base_url.as_str().trim_end_matches('/');
        println!("AI Pass: {base_url}"); // stdout-ok
        if let Some(key) = config::api_key_from_env() {
            println!("Using the developer API key from AIPASS_API_KEY (sign-in is not used)."); // stdout-ok
            let provider: Arc<dyn TokenProvider> = Arc::new(StaticTokenProvider::new(Some(key)));
            let api = ApiClient::new(ApiSettings::from_settings(settings, true), provider);
            // The user profile is for OAuth tokens; a key shows the balance only.
            return report_account(&api, false).await;
        }
        if let Some(token) = config::access_token_from_env() {
            println!("{ENV_TOKEN_STATUS}"); // stdout-ok
            let provider: Arc<dyn TokenProvider> = Arc::new(StaticTokenProvider::new(Some(token)));
            let api = ApiClient::new(api_settings(settings), provider);
            return report_account(&api, true).await;
        }
        let session = quiet_session(settings);
        let Some(client) = session.client().await else {
            println!(
                "OAuth client: none yet (the first sign-in creates one on your AI Pass account, after you approve it)"
            ); // stdout-ok
            println!("{NOT_SIGNED_IN}"); // stdout-ok
            return ExitCode::FAILURE;
        };
        println!("OAuth client: {} ({})", client.id, client.source); // stdout-ok
        if matches!(client.source, ClientSource::Provisioned(_)) {
            let panel = super::session::DEVELOPER_PANEL_URL;
            println!("Manage it (see or delete it) in the AI Pass developer panel: {panel}"); // stdout-ok
        }
        let store = session.token_store().await.describe();
        let Some(tokens) = session.current_tokens().await else {
            println!("{NOT_SIGNED_IN}"); // stdout-ok
            println!("Token store: {store}"); // stdout-ok
            return ExitCode::FAILURE;
        };
        let api = api_client(settings, session.clone());
        let profile = tokens.has_scope("profile:read");
        let code = report_account(&api, profile).await;
        // The calls above may have refreshed the tokens.
        let tokens = session.current_tokens().await.unwrap_or(tokens);
        println!("Access token: {}", expiry_text(&tokens)); // stdout-ok
        let refresh = if tokens.refresh_token.is_some() {
            "stored"
        } else {
            "none (sign in again when the access token expires)"
        };
        println!("Refresh token: {refresh}"); // stdout-ok
        if let Some(scope) = &tokens.scope {
            println!("Scopes: {scope}"); // stdout-ok
        }
        println!("Token store: {store}"); // stdout-ok
        code
    })
}

/// Prints the user and the balance; FAILURE when the API refuses the tokens.
async fn report_account(api: &ApiClient, profile: bool) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    if profile {
        match api.userinfo().await {
            Ok(user) => {
                let field = |name: &str| user.get(name).and_then(|v| v.as_str()).map(str::to_owned);
                let who = match (field("name"), field("email"), field("sub")) {
                    (Some(name), Some(email), _) => format!("{name} <{email}>"),
                    (Some(name), None, _) => name,
                    (None, Some(email), _) => email,
                    (None, None, Some(sub)) => sub,
                    _ => "(the profile has no name)".into(),
                };
                println!("Signed in as: {who}"); // stdout-ok
            }
            Err(e) => {
                code = report_api_error("the user profile", &e);
            }
        }
    } else {
        println!(
            "Signed in (the user is not shown: no profile:read scope, or a developer API key)."
        ); // stdout-ok
    }
    match api.usage_summary().await {
        Ok(usage) => {
            let spent = usage.total_cost;
            match (usage.remaining_budget, usage.max_budget) {
                (Some(left), Some(budget)) => {
                    println!("Balance: ${left:.2} left of ${budget:.2} (spent ${spent:.2})"); // stdout-ok
                }
                _ => println!("Balance: no limit (spent ${spent:.2})"), // stdout-ok
            }
        }
        Err(e) => {
            let balance_code = report_api_error("the balance", &e);
            if balance_code != ExitCode::SUCCESS {
                code = balance_code;
            }
        }
    }
    code
}

fn report_api_error(what: &str, error: &ApiError) -> ExitCode {
    match error {
        ApiError::AuthRequired { .. } => {
            println!("Signed in, but AI Pass did not accept the tokens for {what}: {error}"); // stdout-ok
            println!("Run `aipass-mcp login` to sign in again."); // stdout-ok
            ExitCode::FAILURE
        }
        _ => {
            eprintln!("warning: could not read {what}: {error}");
            ExitCode::SUCCESS
        }
    }
}

/// "expires 2026-05-01 14:03 +02:00 (in 59 min)".
fn expiry_text(tokens: &StoredTokens) -> String {
    let Some(expires_at) = tokens.expires_at else {
        return "no expiry given".into();
    };
    let when = chrono::DateTime::from_timestamp(expires_at, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M %:z")
                .to_string()
        })
        .unwrap_or_else(|| expires_at.to_string());
    let left = expires_at - now_unix();
    if left <= 0 {
        format!("expired at {when} (it is refreshed on the next call)")
    } else if left < 120 {
        format!("expires {when} (in {left} s)")
    } else if left < 2 * 3600 {
        format!("expires {when} (in {} min)", left / 60)
    } else {
        format!("expires {when} (in {} h)", left / 3600)
    }
}

/// A session that refreshes but never opens a browser.
fn quiet_session(settings: &Settings) -> Arc<AuthSession> {
    let mut config = AuthConfig::from_settings(settings);
    config.allow_sign_in = false;
    AuthSession::with_config(config)
}

fn api_settings(settings: &Settings) -> ApiSettings {
    ApiSettings::from_settings(settings, false)
}

fn api_client(settings: &Settings, session: Arc<AuthSession>) -> ApiClient {
    ApiClient::new(api_settings(settings), session)
}

fn run(future: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
