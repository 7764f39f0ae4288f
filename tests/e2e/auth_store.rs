//! Token stores and the session's refresh rules: keyring-core's mock store, storage failures,
//! single flight and the cross-process lock (in-process, against the strict fake), and a real
//! Secret Service round trip through gnome-keyring under `dbus-run-session`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::facts::ErrorCode;

use aipass_mcp::api::{AccessToken, ApiError, TokenProvider};
use aipass_mcp::auth::store::{
    FileStore, KEYRING_SERVICE, KeyringStore, StoreError, StoredTokens, TokenStore, account_key,
};
use aipass_mcp::auth::{AuthConfig, AuthSession};
use aipass_mcp::config::TokenStoreMode;
use keyring_core::Entry;
use serde_json::json;
use testkit::auth::{BALANCE, Browser, CLIENT_ID, Env, assert_no_secrets, chrono_now};
use url::Url;

fn config(env: &Env) -> AuthConfig {
    AuthConfig {
        base_url: Url::parse(&env.fake.base_url()).unwrap(),
        client_id: Some(CLIENT_ID.into()),
        redirect_uri: Url::parse(&env.redirect_uri).unwrap(),
        scopes: "api:access profile:read".into(),
        token_store: TokenStoreMode::File,
        config_dir: env.config_dir(),
        browser: Some("none".into()),
        login_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(5),
        sign_in_lifetime: Duration::from_secs(30),
        refresh_skew: Duration::from_secs(60),
        // In-process tests never start a browser sign-in.
        allow_sign_in: false,
        lock_wait: aipass_mcp::auth::session::LOCK_WAIT,
    }
}

fn account(env: &Env) -> String {
    account_key(CLIENT_ID, &Url::parse(&env.fake.base_url()).unwrap())
}

fn tokens(pair: &aipass_fake::TokenPair, expires_in: i64) -> StoredTokens {
    StoredTokens {
        access_token: pair.access_token.clone(),
        refresh_token: Some(pair.refresh_token.clone()),
        expires_at: Some(chrono_now() + expires_in),
        scope: Some(pair.scope.clone()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_keyring_store_serves_refreshes_and_keeps_the_rotated_pair() {
    let env = Env::new().await;
    let mock: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    let store = KeyringStore::new(mock.clone(), &account(&env), "mock", Duration::from_secs(5));
    let pair = env.fake.issue_token("api:access profile:read");
    store.save(&tokens(&pair, -10)).unwrap();
    env.fake.expire_all_tokens();

    let session = AuthSession::with_store(config(&env), Arc::new(store.clone()));
    let token = session.access_token().await.expect("a refreshed token");
    assert_ne!(token.secret(), pair.access_token);
    assert_eq!(env.fake.stats().refreshes, 1);

    // The rotated pair is in the keyring, in two entries (access JSON, refresh token).
    let refresh = Entry::new_in_store(
        &mock,
        KEYRING_SERVICE,
        &format!("{}:refresh", account(&env)),
    )
    .unwrap()
    .get_password()
    .unwrap();
    assert_ne!(refresh, pair.refresh_token);
    let access = Entry::new_in_store(&mock, KEYRING_SERVICE, &format!("{}:access", account(&env)))
        .unwrap()
        .get_password()
        .unwrap();
    assert!(access.contains(token.secret()) && !access.contains(&refresh));
    assert_eq!(store.load().unwrap().unwrap().access_token, token.secret());

    // A second session (another process) reads them without refreshing.
    let other = AuthSession::with_store(config(&env), Arc::new(store));
    assert_eq!(other.access_token().await.unwrap(), token);
    assert_eq!(env.fake.stats().refreshes, 1);
}

/// The mock keyring, made to fail every write of the refresh entry (as a keyring that got
/// locked between the read and the write would).
struct LockedOnWrite {
    inner: KeyringStore,
    mock: Arc<keyring_core::CredentialStore>,
    account: String,
    failures: AtomicUsize,
}

impl TokenStore for LockedOnWrite {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        self.inner.load()
    }
    fn save(&self, tokens: &StoredTokens) -> Result<(), StoreError> {
        let entry = Entry::new_in_store(
            &self.mock,
            KEYRING_SERVICE,
            &format!("{}:refresh", self.account),
        )
        .unwrap();
        let cred: &keyring_core::mock::Cred = entry.as_any().downcast_ref().unwrap();
        cred.set_error(keyring_core::Error::NoStorageAccess("locked".into()));
        let result = self.inner.save(tokens);
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
    fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_keyring_errors_do_not_lose_the_token() {
    let env = Env::new().await;
    let mock: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    let inner = KeyringStore::new(mock.clone(), &account(&env), "mock", Duration::from_secs(5));
    let pair = env.fake.issue_token("api:access profile:read");
    inner.save(&tokens(&pair, -10)).unwrap();
    let store = Arc::new(LockedOnWrite {
        inner: inner.clone(),
        mock,
        account: account(&env),
        failures: AtomicUsize::new(0),
    });
    let session = AuthSession::with_store(config(&env), store.clone());
    let token = session
        .access_token()
        .await
        .expect("the refreshed token is served");
    assert_eq!(
        store.failures.load(Ordering::SeqCst),
        1,
        "the keyring write failed"
    );
    // The keyring still holds the old, rotated pair; memory wins: no second refresh (a reuse).
    assert_eq!(
        inner.load().unwrap().unwrap().access_token,
        pair.access_token
    );
    for _ in 0..3 {
        assert_eq!(session.access_token().await.unwrap(), token);
    }
    assert_eq!(env.fake.stats().refreshes, 1);
    assert_eq!(env.fake.stats().failed_token_requests, 0);
}

/// A store whose saves always fail (a full disk, a read-only folder).
struct BrokenSaves(FileStore, AtomicUsize);

impl TokenStore for BrokenSaves {
    fn describe(&self) -> String {
        "broken".into()
    }
    fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        self.0.load()
    }
    fn save(&self, _tokens: &StoredTokens) -> Result<(), StoreError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::Unavailable("disk full".into()))
    }
    fn clear(&self) -> Result<(), StoreError> {
        self.0.clear()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_keeps_the_token_in_memory() {
    let env = Env::new().await;
    let file = FileStore::new(&env.config_dir(), &account(&env));
    let pair = env.fake.issue_token("api:access profile:read");
    file.save(&tokens(&pair, -10)).unwrap();
    let store = Arc::new(BrokenSaves(file, AtomicUsize::new(0)));
    let session = AuthSession::with_store(config(&env), store.clone());
    let first = session.access_token().await.unwrap();
    assert_eq!(store.1.load(Ordering::SeqCst), 1, "the save was tried");
    // The store still holds the old (now rotated) pair; memory wins, nothing is reused.
    for _ in 0..3 {
        assert_eq!(session.access_token().await.unwrap(), first);
    }
    assert_eq!(env.fake.stats().refreshes, 1);
    assert_eq!(env.fake.stats().failed_token_requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_callers_in_one_process_refresh_once() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    FileStore::new(&env.config_dir(), &account(&env))
        .save(&tokens(&pair, -10))
        .unwrap();
    let session = AuthSession::with_config(config(&env));
    let calls = (0..20).map(|_| session.access_token());
    let results = futures::future::join_all(calls).await;
    let first = results[0].as_ref().unwrap().clone();
    assert!(results.iter().all(|r| r.as_ref().unwrap() == &first));
    assert_eq!(env.fake.stats().refreshes, 1);
}

/// Two sessions over the same config folder behave like two processes: the lock file and the
/// re-read after taking it leave exactly one refresh (a second would be a refresh-token reuse,
/// which the fake punishes by revoking the family).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_sharing_the_store_refresh_once() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    FileStore::new(&env.config_dir(), &account(&env))
        .save(&tokens(&pair, -10))
        .unwrap();
    let a = AuthSession::with_config(config(&env));
    let b = AuthSession::with_config(config(&env));
    let calls = (0..10).flat_map(|_| [a.access_token(), b.access_token()]);
    let results = futures::future::join_all(calls).await;
    for result in &results {
        result.as_ref().expect("every caller gets a token");
    }
    assert_eq!(env.fake.stats().refreshes, 1);
    assert_eq!(env.fake.stats().failed_token_requests, 0);
    // The token works at the API (the family was not revoked by a reuse).
    let token = a.access_token().await.unwrap();
    let status = aipass_mcp::tls::client_builder()
        .build()
        .unwrap()
        .get(format!("{}/api/v1/usage/me/summary", env.fake.base_url()))
        .bearer_auth(token.secret())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

/// While another process holds the token lock (it may be refreshing), nobody refreshes
/// without it: the caller gets a temporary error, the stored pair is untouched, and once the
/// lock is free the refresh goes ahead, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_gives_a_temporary_error_never_an_unlocked_refresh() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    let file = FileStore::new(&env.config_dir(), &account(&env));
    file.save(&tokens(&pair, -10)).unwrap();
    let lock_path = env.config_dir().join(aipass_mcp::auth::session::LOCK_FILE);
    let other_process = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    other_process.lock().unwrap();
    let mut short_wait = config(&env);
    short_wait.lock_wait = Duration::from_millis(300);
    let session = AuthSession::with_config(short_wait);
    let error = session
        .access_token()
        .await
        .expect_err("no token without the lock");
    assert!(error.to_string().contains("token lock"), "{error}");
    assert_eq!(env.fake.stats().refreshes, 0, "refreshed without the lock");
    assert_eq!(
        file.load().unwrap().unwrap().refresh_token.as_deref(),
        Some(pair.refresh_token.as_str())
    );
    other_process.unlock().unwrap();
    session
        .access_token()
        .await
        .expect("refreshes once the lock is free");
    assert_eq!(env.fake.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_after_another_process_refreshed_uses_its_token() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    let file = FileStore::new(&env.config_dir(), &account(&env));
    file.save(&tokens(&pair, 3000)).unwrap();
    let a = AuthSession::with_config(config(&env));
    let b = AuthSession::with_config(config(&env));
    let old = a.access_token().await.unwrap();
    assert_eq!(b.access_token().await.unwrap(), old);
    env.fake.expire_all_tokens();
    // B meets the 401 first and refreshes; A then meets its own 401 and finds B's token.
    let from_b = b.refresh_after_unauthorized(&old).await.unwrap().unwrap();
    let from_a = a.refresh_after_unauthorized(&old).await.unwrap().unwrap();
    assert_eq!(from_a, from_b);
    assert_ne!(from_a, old);
    assert_eq!(env.fake.stats().refreshes, 1);
}

/// A store that hands out the tokens of `stale` on the first `stale_loads` reads, then those of
/// `fresh`: another process (one that does not take our lock) rotated them meanwhile.
struct RotatedElsewhere {
    stale: StoredTokens,
    fresh: StoredTokens,
    stale_loads: usize,
    loads: AtomicUsize,
    clears: AtomicUsize,
}

impl TokenStore for RotatedElsewhere {
    fn describe(&self) -> String {
        "rotated elsewhere".into()
    }
    fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        let n = self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(Some(if n < self.stale_loads {
            self.stale.clone()
        } else {
            self.fresh.clone()
        }))
    }
    fn save(&self, _tokens: &StoredTokens) -> Result<(), StoreError> {
        Ok(())
    }
    fn clear(&self) -> Result<(), StoreError> {
        self.clears.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_rereads_and_keeps_tokens_rotated_elsewhere() {
    let env = Env::new().await;
    let first = env.fake.issue_token("api:access profile:read");
    // "Another process" refreshed: the first refresh token is now used up.
    let client = aipass_mcp::tls::client_builder().build().unwrap();
    let fresh: aipass_fake::TokenPair = client
        .post(format!("{}/oauth2/token", env.fake.base_url()))
        .json(&json!({"grantType": "refresh_token", "refreshToken": first.refresh_token, "clientId": CLIENT_ID}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let store = Arc::new(RotatedElsewhere {
        stale: tokens(&first, -10),
        fresh: tokens(&fresh, 3000),
        stale_loads: 2,
        loads: AtomicUsize::new(0),
        clears: AtomicUsize::new(0),
    });
    let session = AuthSession::with_store(config(&env), store.clone());
    let token = session
        .access_token()
        .await
        .expect("the re-read finds the new pair");
    assert_eq!(token.secret(), fresh.access_token);
    assert_eq!(
        store.clears.load(Ordering::SeqCst),
        0,
        "tokens of another process are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_clears_the_store_when_it_still_holds_the_failed_token() {
    let env = Env::new().await;
    let file = FileStore::new(&env.config_dir(), &account(&env));
    file.save(&StoredTokens {
        access_token: "aipass_at_gone".into(),
        refresh_token: Some("aipass_rt_gone".into()),
        expires_at: Some(chrono_now() - 10),
        scope: None,
    })
    .unwrap();
    let session = AuthSession::with_config(config(&env));
    let error = session.access_token().await.unwrap_err();
    assert!(matches!(error, ApiError::AuthRequired { .. }), "{error:?}");
    assert_eq!(file.load().unwrap(), None, "the dead tokens were removed");
    assert_eq!(env.fake.stats().failed_token_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_refresh_failure_keeps_the_tokens() {
    let env = Env::new().await;
    let pair = env.fake.issue_token("api:access profile:read");
    let mut cfg = config(&env);
    // Nothing listens here (and no other test may bind it meanwhile): the token endpoint
    // cannot be reached.
    let silent = testkit::reserve_port();
    cfg.base_url = Url::parse(&format!("http://127.0.0.1:{}", silent.number())).unwrap();
    let other_account = account_key(CLIENT_ID, &cfg.base_url);
    let moved = FileStore::new(&env.config_dir(), &other_account);
    moved.save(&tokens(&pair, -10)).unwrap();
    let session = AuthSession::with_config(cfg);
    let error = session.access_token().await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::UpstreamError, "{error}");
    assert!(
        moved.load().unwrap().is_some(),
        "a network error never deletes tokens"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn construction_does_no_io() {
    let env = Env::new().await;
    let mut cfg = config(&env);
    cfg.config_dir = env.dir.path().join("never-created");
    let session = AuthSession::with_config(cfg.clone());
    let _status = session.sign_in_status();
    drop(session);
    assert!(!cfg.config_dir.exists());
    assert_eq!(env.fake.stats().requests.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_without_a_refresh_token_needs_a_sign_in() {
    // No refresh token and sign-in not allowed: the 401 ends as auth_required.
    let env = Env::new().await;
    let file = FileStore::new(&env.config_dir(), &account(&env));
    let pair = env.fake.issue_token("api:access");
    file.save(&StoredTokens {
        refresh_token: None,
        ..tokens(&pair, 3000)
    })
    .unwrap();
    let session = AuthSession::with_config(config(&env));
    let token = session.access_token().await.unwrap();
    let error = session
        .refresh_after_unauthorized(&AccessToken::new(token.secret()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::AuthRequired);
}

// ---------------------------------------------------------------------------------------------
// A real Secret Service: gnome-keyring under dbus-run-session
// ---------------------------------------------------------------------------------------------

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Runs its arguments in the current D-Bus session after starting gnome-keyring's secrets
/// component, unlocked with the password given first (the login keyring persists in $HOME).
const KEYRING_SESSION: &str = r#"#!/bin/sh
password="$1"; shift
printf '%s' "$password" | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
daemon=$!
i=0
while [ $i -lt 100 ]; do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
       org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    break
  fi
  sleep 0.1
  i=$((i + 1))
done
"$@"
rc=$?
kill "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
exit $rc
"#;

fn write_script(dir: &Path) -> String {
    let path = dir.join("keyring-session.sh");
    std::fs::write(&path, KEYRING_SESSION).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_service_round_trip_through_gnome_keyring() {
    let missing: Vec<&str> = ["dbus-run-session", "dbus-send", "gnome-keyring-daemon"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "SKIPPED secret_service_round_trip_through_gnome_keyring: {} not installed \
             (Debian: apt-get install -y dbus-daemon dbus-bin gnome-keyring)",
            missing.join(", ")
        );
        return;
    }
    let mut env = Env::new().await;
    env.log_level = "trace".into();
    let runtime_dir = env.dir.path().join("runtime");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let script = write_script(env.dir.path());
    env.wrapper = vec![
        "dbus-run-session".into(),
        "--".into(),
        "sh".into(),
        script,
        "aipass-test-password".into(),
    ];
    env.extra_vars = vec![
        ("XDG_RUNTIME_DIR".into(), runtime_dir.display().to_string()),
        ("AIPASS_TOKEN_STORE".into(), "keyring".into()),
    ];
    let browser = Browser::auto(&env);
    let mut outputs = Vec::new();

    // Sign in: the tokens go to the Secret Service, not to a file.
    let login = env.cli(&["login"], &[]).await;
    assert_eq!(login.code, Some(0), "{login:?}");
    browser.wait_for_visits(1).await;
    assert!(
        !env.credentials_path().exists(),
        "no credentials file with the keyring"
    );
    assert!(
        env.dir.path().join("home/.local/share/keyrings").is_dir(),
        "gnome-keyring keeps a login keyring in HOME"
    );
    outputs.push(login);

    // A new D-Bus session and a new keyring daemon read them back from the persisted keyring.
    let status = env.cli(&["status"], &[]).await;
    assert_eq!(status.code, Some(0), "{status:?}");
    assert!(
        status
            .stdout
            .contains("Token store: OS keyring (Secret Service)"),
        "{status:?}"
    );
    assert!(
        status.stdout.contains("Signed in as: Demo User"),
        "{status:?}"
    );
    outputs.push(status);

    // The server in `auto` mode finds the keyring (no fallback warning) and needs no sign-in.
    let server = env.server(&[("AIPASS_TOKEN_STORE", "auto")]).await;
    server.balance_ok().await;
    let result = server.call(BALANCE, json!({"refresh": true})).await;
    assert_ne!(result.is_error, Some(true));
    let stderr = server.stop().await;
    assert!(!stderr.contains("cannot be used"), "{stderr}");
    assert_eq!(env.fake.stats().authorize, 1);
    assert!(!env.credentials_path().exists());

    let logout = env.cli(&["logout"], &[]).await;
    assert_eq!(logout.code, Some(0), "{logout:?}");
    outputs.push(logout);
    let status = env.cli(&["status"], &[]).await;
    assert_eq!(status.code, Some(1), "{status:?}");
    assert!(status.stdout.contains("Not signed in"), "{status:?}");
    outputs.push(status);

    // Nothing secret was printed, even at trace level (zbus and keyring-core log there too).
    let visit = browser.wait_for_visits(1).await.remove(0);
    let code = testkit::auth::query_param(&visit.final_url, "code").unwrap();
    let state = testkit::auth::query_param(&visit.authorize_url, "state").unwrap();
    let challenge = testkit::auth::query_param(&visit.authorize_url, "code_challenge").unwrap();
    let seen: Arc<Mutex<String>> = Arc::new(Mutex::new(stderr));
    for run in &outputs {
        seen.lock().unwrap().push_str(&run.stdout);
        seen.lock().unwrap().push_str(&run.stderr);
    }
    let all = seen.lock().unwrap().clone();
    assert_no_secrets(
        &all,
        &[code.as_str()],
        &[state.as_str(), challenge.as_str()],
        "keyring runs",
    );
}
