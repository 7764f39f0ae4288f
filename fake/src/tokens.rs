//! Authorization codes, access and refresh tokens, token families (rotation, reuse detection) and PKCE.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::types::TokenPair;

/// Codes are good for one minute, like the real service.
const CODE_TTL: Duration = Duration::from_secs(60);

/// `BASE64URL-NOPAD(SHA256(verifier))`, the S256 PKCE challenge (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`.
pub(crate) fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// An S256 challenge is 32 bytes in base64url without padding: exactly 43 characters.
pub(crate) fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `bytes` random bytes as base64url: unguessable ids for tokens, codes and files.
pub(crate) fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Why a grant failed; `description` goes into `error_description`.
#[derive(Debug)]
pub(crate) struct GrantError {
    pub description: String,
}

fn invalid_grant(description: &str) -> GrantError {
    GrantError {
        description: description.to_string(),
    }
}

/// Who a valid access token belongs to.
#[derive(Clone, Debug)]
pub(crate) struct TokenInfo {
    pub scope: String,
    /// A developer API key rather than an OAuth access token.
    pub api_key: bool,
}

impl TokenInfo {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split_whitespace().any(|s| s == scope)
    }
}

struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    expires_at: Instant,
    used: bool,
    /// The family issued from this code, revoked if the code is replayed.
    family: Option<u64>,
}

struct AccessToken {
    family: u64,
    scope: String,
    expires_at: Instant,
    revoked: bool,
}

struct RefreshToken {
    family: u64,
    client_id: String,
    scope: String,
    rotated: bool,
}

/// Everything OAuth keeps in memory. A family is one sign-in and every token refreshed from it.
#[derive(Default)]
pub(crate) struct TokenStore {
    codes: HashMap<String, AuthCode>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    revoked_families: HashSet<u64>,
    next_family: u64,
    /// Developer API keys (`aipass_sk_…`), good for the model API until the fake stops.
    api_keys: HashSet<String>,
    /// Every token, code and verifier issued or received, so tests can search output for them.
    secrets_seen: BTreeSet<String>,
}

/// What the code was issued for; the exchange must repeat it exactly.
pub(crate) struct CodeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub challenge: &'a str,
    pub scope: &'a str,
}

impl TokenStore {
    /// A new family (a fresh sign-in) with its first token pair.
    pub fn issue(&mut self, client_id: &str, scope: &str, ttl: Duration) -> TokenPair {
        self.next_family += 1;
        let family = self.next_family;
        self.pair(family, client_id, scope, ttl)
    }

    fn pair(&mut self, family: u64, client_id: &str, scope: &str, ttl: Duration) -> TokenPair {
        let access_token = format!("aipass_at_{}", random_id(32));
        let refresh_token = format!("aipass_rt_{}", random_id(32));
        self.note_secret(&access_token);
        self.note_secret(&refresh_token);
        self.access.insert(
            access_token.clone(),
            AccessToken {
                family,
                scope: scope.to_string(),
                expires_at: Instant::now() + ttl,
                revoked: false,
            },
        );
        self.refresh.insert(
            refresh_token.clone(),
            RefreshToken {
                family,
                client_id: client_id.to_string(),
                scope: scope.to_string(),
                rotated: false,
            },
        );
        TokenPair {
            access_token,
            refresh_token,
            expires_in: ttl.as_secs(),
            token_type: "Bearer".into(),
            scope: scope.to_string(),
        }
    }

    pub fn create_code(&mut self, request: CodeRequest) -> String {
        let code = random_id(32);
        self.note_secret(&code);
        self.codes.insert(
            code.clone(),
            AuthCode {
                client_id: request.client_id.into(),
                redirect_uri: request.redirect_uri.into(),
                challenge: request.challenge.into(),
                scope: request.scope.into(),
                expires_at: Instant::now() + CODE_TTL,
                used: false,
                family: None,
            },
        );
        code
    }

    /// The `authorization_code` grant. Any attempt burns the code, right or wrong.
    pub fn exchange_code(
        &mut self,
        code: &str,
        verifier: &str,
        client_id: &str,
        redirect_uri: &str,
        ttl: Duration,
    ) -> Result<TokenPair, GrantError> {
        self.note_secret(code);
        self.note_secret(verifier);
        let Some(entry) = self.codes.get_mut(code) else {
            return Err(invalid_grant("authorization code is unknown"));
        };
        if entry.used {
            // RFC 6749 §4.1.2: a replayed code revokes what it was exchanged for.
            if let Some(family) = entry.family {
                self.revoked_families.insert(family);
            }
            return Err(invalid_grant("authorization code was already used"));
        }
        entry.used = true;
        if Instant::now() >= entry.expires_at {
            return Err(invalid_grant("authorization code has expired"));
        }
        if entry.client_id != client_id {
            return Err(invalid_grant(
                "clientId does not match the client the code was issued to",
            ));
        }
        if entry.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                "redirectUri does not match the redirect_uri of the authorization request",
            ));
        }
        if !is_valid_verifier(verifier) {
            return Err(invalid_grant(
                "codeVerifier must be 43-128 characters of [A-Za-z0-9-._~]",
            ));
        }
        if pkce_challenge(verifier) != entry.challenge {
            return Err(invalid_grant("codeVerifier does not match code_challenge"));
        }
        let scope = entry.scope.clone();
        self.next_family += 1;
        let family = self.next_family;
        if let Some(entry) = self.codes.get_mut(code) {
            entry.family = Some(family);
        }
        Ok(self.pair(family, client_id, &scope, ttl))
    }

    /// The `refresh_token` grant: rotates, and a replayed refresh token kills its whole family.
    pub fn refresh(
        &mut self,
        refresh_token: &str,
        client_id: &str,
        ttl: Duration,
    ) -> Result<TokenPair, GrantError> {
        self.note_secret(refresh_token);
        let Some(entry) = self.refresh.get_mut(refresh_token) else {
            return Err(invalid_grant("refresh token is unknown"));
        };
        let family = entry.family;
        if self.revoked_families.contains(&family) {
            return Err(invalid_grant("refresh token has been revoked"));
        }
        if entry.rotated {
            self.revoked_families.insert(family);
            return Err(invalid_grant(
                "refresh token was already used; the token family is revoked",
            ));
        }
        if entry.client_id != client_id {
            return Err(invalid_grant(
                "clientId does not match the client the token was issued to",
            ));
        }
        entry.rotated = true;
        let scope = entry.scope.clone();
        Ok(self.pair(family, client_id, &scope, ttl))
    }

    /// Revokes an access token alone, or a refresh token with its whole family. Unknown: no-op.
    pub fn revoke(&mut self, token: &str) {
        self.note_secret(token);
        if let Some(access) = self.access.get_mut(token) {
            access.revoked = true;
        } else if let Some(refresh) = self.refresh.get(token) {
            self.revoked_families.insert(refresh.family);
        }
    }

    /// A new developer API key (what the developer panel hands out).
    pub fn issue_api_key(&mut self) -> String {
        let key = format!("aipass_sk_{}", random_id(32));
        self.note_secret(&key);
        self.api_keys.insert(key.clone());
        key
    }

    /// The client id a refresh token was issued to, if the fake issued it.
    pub fn refresh_client(&self, token: &str) -> Option<&str> {
        self.refresh.get(token).map(|r| r.client_id.as_str())
    }

    /// True when the fake issued this access token.
    pub fn is_access_token(&self, token: &str) -> bool {
        self.access.contains_key(token)
    }

    /// The token's grant if it is known, unexpired and not revoked.
    pub fn check_access(&self, token: &str) -> Option<TokenInfo> {
        if self.api_keys.contains(token) {
            return Some(TokenInfo {
                scope: "api:access".into(),
                api_key: true,
            });
        }
        let access = self.access.get(token)?;
        let usable = !access.revoked
            && !self.revoked_families.contains(&access.family)
            && Instant::now() < access.expires_at;
        usable.then(|| TokenInfo {
            scope: access.scope.clone(),
            api_key: false,
        })
    }

    /// Remembers a secret the fake issued or was sent (empty values are not secrets).
    pub fn note_secret(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets_seen.contains(secret) {
            self.secrets_seen.insert(secret.to_string());
        }
    }

    /// Every access token, refresh token, authorization code and PKCE verifier seen so far.
    pub fn secrets_seen(&self) -> Vec<String> {
        self.secrets_seen.iter().cloned().collect()
    }

    pub fn expire_all(&mut self) {
        let now = Instant::now();
        for access in self.access.values_mut() {
            access.expires_at = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B. (Some copies of this vector end in `…KT8zRrj-mGKw-Jn2Xg`; that is a
    /// typo: SHA-256 of the verifier gives the value below, as the RFC says.)
    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_and_challenge_shapes() {
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(is_valid_challenge(&pkce_challenge(&"x".repeat(50))));
        assert!(!is_valid_challenge("short"));
    }

    #[test]
    fn refresh_reuse_revokes_family() {
        let mut store = TokenStore::default();
        let ttl = Duration::from_secs(60);
        let first = store.issue("c", "api:access", ttl);
        let second = store.refresh(&first.refresh_token, "c", ttl).unwrap();
        assert!(store.check_access(&second.access_token).is_some());
        assert!(store.refresh(&first.refresh_token, "c", ttl).is_err());
        assert!(store.check_access(&second.access_token).is_none());
        assert!(store.refresh(&second.refresh_token, "c", ttl).is_err());
    }
}
