//! Where tokens live between sessions: the OS keyring (keyring-core and one store crate per OS)
//! or a 0600 `credentials.json` in the config folder, chosen by `AIPASS_TOKEN_STORE`; `logout`
//! clears both ([`clear_everywhere`]).
//!
//! Every store method blocks (keyring calls go over D-Bus, XPC or Win32): the session calls them
//! off the async runtime. Keyring calls also run under a time limit, because a locked keyring can
//! wait forever for a password prompt nobody will answer.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use keyring_core::{CredentialStore, Entry};
use serde::{Deserialize, Serialize};

pub use super::private_dir::create_private_dir;
use super::store_choice;
use crate::config::TokenStoreMode;

/// The keyring "service" every entry is filed under.
pub const KEYRING_SERVICE: &str = "aipass-mcp";
/// Name of the file store inside the config folder.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// How long `auto` waits for the keyring to answer before it falls back to the file.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long any one keyring operation may take.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

/// The tokens of one account, as kept between sessions.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokens {
    /// Bearer token for API calls (may be empty when only a refresh token survived).
    pub access_token: String,
    /// Single-use refresh token (AI Pass rotates it on every refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires, in Unix seconds; None = unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Space-separated scopes granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl StoredTokens {
    /// True when `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|granted| granted.split_whitespace().any(|s| s == scope))
    }
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why a store operation failed. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The OS keyring refused or failed.
    #[error("the OS keyring failed: {0}")]
    Keyring(String),
    /// The keyring did not answer in time (often a locked keyring waiting for a prompt).
    #[error("the OS keyring did not answer within {0:?} (is it locked?)")]
    Timeout(Duration),
    /// Reading or writing the credentials file failed.
    #[error("{path}: {source}")]
    File {
        /// The file or folder concerned.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The stored data could not be understood.
    #[error("stored tokens are unreadable: {0}")]
    Format(String),
    /// No store can be used (for example `AIPASS_TOKEN_STORE=keyring` without a keyring).
    #[error("{0}")]
    Unavailable(String),
}

/// Load, save and clear the tokens of one account.
pub trait TokenStore: Send + Sync + 'static {
    /// What `status` shows, e.g. `OS keyring (Secret Service)` or `file /home/me/.config/aipass-mcp/credentials.json`.
    fn describe(&self) -> String;
    /// The stored tokens, if any.
    fn load(&self) -> Result<Option<StoredTokens>, StoreError>;
    /// Replaces the stored tokens.
    fn save(&self, tokens: &StoredTokens) -> Result<(), StoreError>;
    /// Deletes the stored tokens (no error when there were none).
    fn clear(&self) -> Result<(), StoreError>;
}

/// The key an account's tokens are filed under: the client id and the API origin, so that tokens
/// for a test server never replace the real ones.
pub fn account_key(client_id: &str, base_url: &url::Url) -> String {
    let origin = base_url.as_str().trim_end_matches('/');
    format!("{client_id}@{origin}")
}

/// Opens the store `mode` asks for. `auto` uses the store an earlier run chose
/// ([`store_choice`]); on its first run it probes the keyring (with [`PROBE_TIMEOUT`]), falls
/// back to the file with one warning on stderr, and remembers the choice. Blocking: call it off
/// the async runtime.
pub fn open(mode: TokenStoreMode, config_dir: &Path, account: &str) -> Arc<dyn TokenStore> {
    match mode {
        TokenStoreMode::File => Arc::new(FileStore::new(config_dir, account)),
        TokenStoreMode::Keyring => match KeyringStore::native(account, KEYRING_TIMEOUT) {
            Ok(store) => Arc::new(store),
            Err(e) => {
                tracing::warn!(
                    "AIPASS_TOKEN_STORE=keyring but the OS keyring cannot be used ({e}); \
                     tokens will be kept in memory only, for this process"
                );
                Arc::new(UnavailableStore {
                    reason: format!("OS keyring unavailable: {e}"),
                })
            }
        },
        TokenStoreMode::Auto => match store_choice::remembered(config_dir) {
            Some(mode) => open(mode, config_dir, account),
            None => open_auto(config_dir, account),
        },
    }
}

/// `auto` on its first run: probe the keyring, fall back to the file, remember the choice.
fn open_auto(config_dir: &Path, account: &str) -> Arc<dyn TokenStore> {
    match probe_keyring(account) {
        Ok(store) => {
            store_choice::remember(config_dir, TokenStoreMode::Keyring);
            Arc::new(store)
        }
        Err(e) => {
            store_choice::remember(config_dir, TokenStoreMode::File);
            let file = FileStore::new(config_dir, account);
            tracing::warn!(
                "the OS keyring cannot be used ({e}); keeping tokens in {} (mode 0600) instead. \
                     Set AIPASS_TOKEN_STORE=file to skip this check",
                file.path().display()
            );
            Arc::new(file)
        }
    }
}

/// Deletes this account's entries from the OS keyring, within [`PROBE_TIMEOUT`].
pub fn clear_keyring(account: &str) -> Result<(), StoreError> {
    let owned = account.to_owned();
    with_timeout(PROBE_TIMEOUT, move || {
        KeyringStore::native(&owned, KEYRING_TIMEOUT)?.clear()
    })
}

/// Connects to the OS keyring and reads this account's entry, all within [`PROBE_TIMEOUT`].
fn probe_keyring(account: &str) -> Result<KeyringStore, StoreError> {
    let owned = account.to_owned();
    let store = with_timeout(PROBE_TIMEOUT, move || {
        let store = KeyringStore::native(&owned, KEYRING_TIMEOUT)?;
        store.load_now()?;
        Ok(store)
    })?;
    Ok(store)
}

/// The OS credential store of this platform.
fn native_store() -> Result<Arc<CredentialStore>, StoreError> {
    #[cfg(target_os = "linux")]
    {
        let store = zbus_secret_service_keyring_store::Store::new()
            .map_err(|e| StoreError::Keyring(e.to_string()))?;
        Ok(store)
    }
    #[cfg(target_os = "macos")]
    {
        let store = apple_native_keyring_store::keychain::Store::new()
            .map_err(|e| StoreError::Keyring(e.to_string()))?;
        Ok(store)
    }
    #[cfg(target_os = "windows")]
    {
        let store = windows_native_keyring_store::Store::new()
            .map_err(|e| StoreError::Keyring(e.to_string()))?;
        Ok(store)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    {
        Err(StoreError::Unavailable(
            "no OS keyring is supported on this platform".into(),
        ))
    }
}

fn native_name() -> &'static str {
    if cfg!(target_os = "linux") {
        "Secret Service"
    } else if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(target_os = "windows") {
        "Windows Credential Manager"
    } else {
        "none"
    }
}

/// Runs `f` on its own thread and gives up waiting after `limit` (the thread is left behind:
/// a keyring call cannot be cancelled, and a stuck one must not hold the server up).
fn with_timeout<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("aipass-keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| StoreError::Keyring(format!("cannot start a thread: {e}")))?;
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(_) => Err(StoreError::Timeout(limit)),
    }
}

/// The access-token entry's content (the refresh token has an entry of its own: Windows limits
/// one credential to 2.5 KB, and rotating refresh tokens are the part that must never be lost).
#[derive(Serialize, Deserialize)]
struct AccessEntry {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// Tokens in a keyring-core credential store: entries `<account>:access` (JSON) and
/// `<account>:refresh` under the service `aipass-mcp`.
#[derive(Clone)]
pub struct KeyringStore {
    store: Arc<CredentialStore>,
    account: String,
    name: String,
    timeout: Duration,
}

impl KeyringStore {
    /// Uses the given credential store (tests pass `keyring_core::mock::Store::new()?`).
    pub fn new(store: Arc<CredentialStore>, account: &str, name: &str, timeout: Duration) -> Self {
        Self {
            store,
            account: account.to_owned(),
            name: name.to_owned(),
            timeout,
        }
    }

    /// The OS keyring of this platform.
    pub fn native(account: &str, timeout: Duration) -> Result<Self, StoreError> {
        Ok(Self::new(native_store()?, account, native_name(), timeout))
    }

    fn entry(&self, kind: &str) -> Result<Entry, StoreError> {
        Entry::new_in_store(
            &self.store,
            KEYRING_SERVICE,
            &format!("{}:{kind}", self.account),
        )
        .map_err(|e| StoreError::Keyring(e.to_string()))
    }

    fn read(&self, kind: &str) -> Result<Option<String>, StoreError> {
        match self.entry(kind)?.get_password() {
            Ok(value) => Ok(Some(value)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(StoreError::Keyring(e.to_string())),
        }
    }

    fn write(&self, kind: &str, value: &str) -> Result<(), StoreError> {
        self.entry(kind)?
            .set_password(value)
            .map_err(|e| StoreError::Keyring(e.to_string()))
    }

    fn delete(&self, kind: &str) -> Result<(), StoreError> {
        match self.entry(kind)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(StoreError::Keyring(e.to_string())),
        }
    }

    fn load_now(&self) -> Result<Option<StoredTokens>, StoreError> {
        let access = self.read("access")?;
        let refresh = self.read("refresh")?;
        let access = match access {
            Some(json) => Some(
                serde_json::from_str::<AccessEntry>(&json)
                    .map_err(|e| StoreError::Format(format!("keyring access entry: {e}")))?,
            ),
            None => None,
        };
        Ok(match (access, refresh) {
            (None, None) => None,
            (Some(access), refresh) => Some(StoredTokens {
                access_token: access.access_token,
                refresh_token: refresh,
                expires_at: access.expires_at,
                scope: access.scope,
            }),
            // Only the refresh token survived: an empty, expired access token makes the
            // session refresh before it is used.
            (None, Some(refresh)) => Some(StoredTokens {
                access_token: String::new(),
                refresh_token: Some(refresh),
                expires_at: Some(0),
                scope: None,
            }),
        })
    }

    fn save_now(&self, tokens: &StoredTokens) -> Result<(), StoreError> {
        // The refresh token first: it is the one that cannot be replaced without a sign-in.
        match &tokens.refresh_token {
            Some(refresh) => self.write("refresh", refresh)?,
            None => self.delete("refresh")?,
        }
        let access = AccessEntry {
            access_token: tokens.access_token.clone(),
            expires_at: tokens.expires_at,
            scope: tokens.scope.clone(),
        };
        let json = serde_json::to_string(&access).map_err(|e| StoreError::Format(e.to_string()))?;
        self.write("access", &json)
    }

    fn clear_now(&self) -> Result<(), StoreError> {
        let access = self.delete("access");
        let refresh = self.delete("refresh");
        access.and(refresh)
    }
}

impl TokenStore for KeyringStore {
    fn describe(&self) -> String {
        format!("OS keyring ({})", self.name)
    }

    fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        let this = self.clone();
        with_timeout(self.timeout, move || this.load_now())
    }

    fn save(&self, tokens: &StoredTokens) -> Result<(), StoreError> {
        let this = self.clone();
        let tokens = tokens.clone();
        with_timeout(self.timeout, move || this.save_now(&tokens))
    }

    fn clear(&self) -> Result<(), StoreError> {
        let this = self.clone();
        with_timeout(self.timeout, move || this.clear_now())
    }
}

/// `credentials.json`: `{"accounts": {"<client id>@<origin>": {access_token, refresh_token,
/// expires_at, scope}}}`, mode 0600, replaced atomically (temp file + rename).
pub struct FileStore {
    path: PathBuf,
    account: String,
}

#[derive(Default, Serialize, Deserialize)]
struct CredentialsFile {
    #[serde(default)]
    accounts: BTreeMap<String, StoredTokens>,
}

impl FileStore {
    /// The store `credentials.json` in `config_dir`.
    pub fn new(config_dir: &Path, account: &str) -> Self {
        Self {
            path: config_dir.join(CREDENTIALS_FILE),
            account: account.to_owned(),
        }
    }

    /// The credentials file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file_error(&self, source: std::io::Error) -> StoreError {
        StoreError::File {
            path: self.path.clone(),
            source,
        }
    }

    fn read_file(&self) -> Result<CredentialsFile, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Format(format!("{}: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CredentialsFile::default()),
            Err(e) => Err(self.file_error(e)),
        }
    }

    fn write_file(&self, file: &CredentialsFile) -> Result<(), StoreError> {
        let dir = self
            .path
            .parent()
            .ok_or_else(|| StoreError::Unavailable("the credentials file has no folder".into()))?;
        create_private_dir(dir).map_err(|source| StoreError::File {
            path: dir.to_path_buf(),
            source,
        })?;
        let json =
            serde_json::to_vec_pretty(file).map_err(|e| StoreError::Format(e.to_string()))?;
        // The temp file is created with mode 0600 before anything is written to it.
        let mut builder = tempfile::Builder::new();
        builder.prefix(".credentials-").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        }
        // On Windows the file inherits the ACL of the user's profile folder.
        let mut temp = builder.tempfile_in(dir).map_err(|e| self.file_error(e))?;
        temp.write_all(&json).map_err(|e| self.file_error(e))?;
        temp.as_file().sync_all().map_err(|e| self.file_error(e))?;
        temp.persist(&self.path)
            .map_err(|e| self.file_error(e.error))?;
        Ok(())
    }
}

impl TokenStore for FileStore {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        Ok(self.read_file()?.accounts.remove(&self.account))
    }

    fn save(&self, tokens: &StoredTokens) -> Result<(), StoreError> {
        // A damaged file is replaced rather than blocking sign-in forever.
        let mut file = self.read_file().unwrap_or_default();
        file.accounts.insert(self.account.clone(), tokens.clone());
        self.write_file(&file)
    }

    fn clear(&self) -> Result<(), StoreError> {
        let mut file = match self.read_file() {
            Ok(file) => file,
            Err(StoreError::Format(_)) => CredentialsFile::default(),
            Err(e) => return Err(e),
        };
        file.accounts.remove(&self.account);
        if file.accounts.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.file_error(e)),
            };
        }
        self.write_file(&file)
    }
}

/// A store that keeps nothing: used when the chosen store cannot be opened. Tokens then live in
/// memory only, and every save reports why.
pub struct UnavailableStore {
    reason: String,
}

impl UnavailableStore {
    /// A store that fails every save with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl TokenStore for UnavailableStore {
    fn describe(&self) -> String {
        format!("memory only ({})", self.reason)
    }

    fn load(&self) -> Result<Option<StoredTokens>, StoreError> {
        Ok(None)
    }

    fn save(&self, _tokens: &StoredTokens) -> Result<(), StoreError> {
        Err(StoreError::Unavailable(self.reason.clone()))
    }

    fn clear(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Deletes this account's tokens from every store that may hold them (the file and the OS
/// keyring, whichever is in use), so `logout` leaves none behind. `in_use` is cleared first and
/// its error returned; the other store is cleared as well as it can be.
pub fn clear_everywhere(
    in_use: &dyn TokenStore,
    config_dir: &Path,
    account: &str,
) -> Result<(), StoreError> {
    let result = in_use.clear();
    if let Err(e) = FileStore::new(config_dir, account).clear() {
        tracing::warn!("could not delete the token file: {e}");
    }
    // A headless machine has no keyring to clear: that is not worth a warning.
    if let Err(e) = clear_keyring(account) {
        tracing::debug!("the OS keyring was not cleared: {e}");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u8) -> StoredTokens {
        StoredTokens {
            access_token: format!("at-{n}"),
            refresh_token: Some(format!("rt-{n}")),
            expires_at: Some(1_900_000_000 + i64::from(n)),
            scope: Some("api:access profile:read".into()),
        }
    }

    #[test]
    fn debug_output_hides_tokens() {
        let text = format!("{:?}", sample(1));
        assert!(!text.contains("at-1") && !text.contains("rt-1"), "{text}");
    }

    #[test]
    fn file_store_round_trip_keeps_accounts_apart() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("nested").join("aipass-mcp");
        let a = FileStore::new(&config, "a@https://aipass.one");
        let b = FileStore::new(&config, "b@http://127.0.0.1:9");
        assert_eq!(a.load().unwrap(), None);
        a.save(&sample(1)).unwrap();
        b.save(&sample(2)).unwrap();
        assert_eq!(a.load().unwrap(), Some(sample(1)));
        assert_eq!(b.load().unwrap(), Some(sample(2)));
        a.clear().unwrap();
        assert_eq!(a.load().unwrap(), None);
        assert_eq!(b.load().unwrap(), Some(sample(2)));
        b.clear().unwrap();
        assert!(!a.path().exists(), "an empty store removes its file");
        a.clear().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn file_store_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cfg");
        let store = FileStore::new(&config, "a@x");
        store.save(&sample(1)).unwrap();
        store.save(&sample(2)).unwrap();
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(&config)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(CREDENTIALS_FILE)]);
    }

    #[test]
    fn damaged_file_is_reported_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path(), "a@x");
        std::fs::write(store.path(), b"{not json").unwrap();
        assert!(matches!(store.load(), Err(StoreError::Format(_))));
        store.save(&sample(3)).unwrap();
        assert_eq!(store.load().unwrap(), Some(sample(3)));
    }

    #[test]
    fn mock_keyring_round_trip() {
        let mock = keyring_core::mock::Store::new().unwrap();
        let store = KeyringStore::new(mock.clone(), "a@x", "mock", KEYRING_TIMEOUT);
        assert_eq!(store.load().unwrap(), None);
        store.save(&sample(1)).unwrap();
        // A second handle on the same credential store sees the same entries.
        let again = KeyringStore::new(mock, "a@x", "mock", KEYRING_TIMEOUT);
        assert_eq!(again.load().unwrap(), Some(sample(1)));
        again.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
        assert_eq!(store.describe(), "OS keyring (mock)");
    }

    #[test]
    fn slow_keyring_times_out() {
        let result = with_timeout(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        });
        assert!(matches!(result, Err(StoreError::Timeout(_))));
    }
}
