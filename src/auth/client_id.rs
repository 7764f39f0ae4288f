//! Which OAuth client signs the user in, and where it came from: `AIPASS_CLIENT_ID` when set,
//! else the one aipass-mcp created on the user's account, kept in `client.json` (mode 0600) in
//! the config folder together with the installation's fingerprint and idempotency key.
//!
//! `client.json` holds no secret: the fingerprint is a public correlation id, the client id is
//! public too. It is written atomically (a 0600 temp file renamed over it), only while the
//! provisioning lock is held.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::private_dir::create_private_dir;

/// The installation record in the config folder.
pub const CLIENT_FILE: &str = "client.json";
/// The first idempotency key; a deleted client moves it to `oauth-client:v2`, and so on.
pub const FIRST_KEY: &str = "oauth-client:v1";

/// Where the client id in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientSource {
    /// `AIPASS_CLIENT_ID` (or `--client-id`): always wins, nothing is created.
    Configured,
    /// Created on the user's account by aipass-mcp (device-approved setup), kept in this file.
    Provisioned(PathBuf),
}

/// The client id in use and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedClient {
    /// The public OAuth client id.
    pub id: String,
    /// Where it came from.
    pub source: ClientSource,
}

impl fmt::Display for ClientSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientSource::Configured => f.write_str("from AIPASS_CLIENT_ID"),
            ClientSource::Provisioned(path) => write!(
                f,
                "created on your AI Pass account by aipass-mcp, stored in {}",
                path.display()
            ),
        }
    }
}

/// `client.json`: one fingerprint per installation, one client per API origin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Installation {
    /// Always 1.
    pub schema_version: u32,
    /// A random UUID v4, made once and sent with every device request of this installation.
    pub project_fingerprint: String,
    /// Per API origin (`https://aipass.one`): the key and the client it produced.
    #[serde(default)]
    pub origins: BTreeMap<String, OriginClient>,
}

/// The client of one API origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OriginClient {
    /// The idempotency key `ensure` is called with (`oauth-client:v1`, `v2`, ...).
    pub oauth_client_idempotency_key: String,
    /// The client `ensure` answered; None until it has (or after `logout --forget-client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The exact callback the client is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
}

impl Default for OriginClient {
    fn default() -> Self {
        OriginClient {
            oauth_client_idempotency_key: FIRST_KEY.into(),
            client_id: None,
            redirect_uri: None,
        }
    }
}

impl Installation {
    /// A new installation with a fresh random fingerprint.
    pub fn new() -> Self {
        Installation {
            schema_version: 1,
            project_fingerprint: uuid::Uuid::new_v4().to_string(),
            origins: BTreeMap::new(),
        }
    }

    /// The stored client usable for `origin` and `redirect_uri` (a client bound to another
    /// callback cannot sign in here).
    pub fn client_for(&self, origin: &str, redirect_uri: &str) -> Option<&str> {
        let entry = self.origins.get(origin)?;
        if entry.redirect_uri.as_deref() != Some(redirect_uri) {
            return None;
        }
        entry.client_id.as_deref()
    }

    /// The origin's entry, created with the first key when missing.
    pub fn origin_mut(&mut self, origin: &str) -> &mut OriginClient {
        self.origins.entry(origin.to_owned()).or_default()
    }
}

/// The next idempotency key: `oauth-client:v1` → `oauth-client:v2`; anything unexpected
/// starts a fresh numbered series after it.
pub fn next_key(key: &str) -> String {
    match key
        .strip_prefix("oauth-client:v")
        .and_then(|n| n.parse::<u32>().ok())
    {
        Some(n) => format!("oauth-client:v{}", n.saturating_add(1)),
        None => "oauth-client:v2".into(),
    }
}

/// Reads `client.json`; Ok(None) when there is none. A file that cannot be understood is an
/// error (it is never silently replaced: its fingerprint and key matter).
pub fn load(dir: &Path) -> Result<Option<Installation>, String> {
    let path = dir.join(CLIENT_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let installation: Installation = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not readable ({e}); move it away to start over",
            path.display()
        )
    })?;
    if uuid::Uuid::parse_str(&installation.project_fingerprint).is_err() {
        return Err(format!(
            "{} has no valid projectFingerprint; move it away to start over",
            path.display()
        ));
    }
    Ok(Some(installation))
}

/// Writes `client.json` atomically with mode 0600 (the folder 0700).
pub fn save(dir: &Path, installation: &Installation) -> Result<(), String> {
    let path = dir.join(CLIENT_FILE);
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = serde_json::to_vec_pretty(installation).map_err(|e| e.to_string())?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".client-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut temp = builder.tempfile_in(dir).map_err(fail)?;
    temp.write_all(&json).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(&path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_count_up() {
        assert_eq!(next_key(FIRST_KEY), "oauth-client:v2");
        assert_eq!(next_key("oauth-client:v9"), "oauth-client:v10");
        assert_eq!(next_key("something"), "oauth-client:v2");
    }

    #[test]
    fn fingerprints_are_random_v4() {
        let (a, b) = (Installation::new(), Installation::new());
        assert_ne!(a.project_fingerprint, b.project_fingerprint);
        let parsed = uuid::Uuid::parse_str(&a.project_fingerprint).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn a_client_bound_elsewhere_is_not_used() {
        let mut installation = Installation::new();
        let entry = installation.origin_mut("https://aipass.one");
        entry.client_id = Some("c1".into());
        entry.redirect_uri = Some("http://127.0.0.1:47821/callback".into());
        assert_eq!(
            installation.client_for("https://aipass.one", "http://127.0.0.1:47821/callback"),
            Some("c1")
        );
        assert_eq!(
            installation.client_for("https://aipass.one", "http://127.0.0.1:9/callback"),
            None
        );
        assert_eq!(
            installation.client_for("http://127.0.0.1:8080", "http://127.0.0.1:47821/callback"),
            None
        );
    }

    #[test]
    fn saved_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        assert_eq!(load(&config).unwrap(), None);
        let installation = Installation::new();
        save(&config, &installation).unwrap();
        assert_eq!(load(&config).unwrap(), Some(installation));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(config.join(CLIENT_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(config.join(CLIENT_FILE), "{not json").unwrap();
        assert!(
            load(&config).is_err(),
            "a broken file is reported, not replaced"
        );
    }
}
