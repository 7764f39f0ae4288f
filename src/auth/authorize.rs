//! The links one sign-in shows: the authorize URL (with the PKCE challenge and state) and the
//! short loopback start links that redirect to it.

use url::Url;

use super::pkce::{CHALLENGE_METHOD, Pkce};

/// `{base}/oauth2/authorize?client_id&response_type=code&redirect_uri&scope&state&code_challenge&code_challenge_method=S256`,
/// in the order the API doc shows, spaces in `scope` as `%20`.
pub fn authorize_url(
    base_url: &Url,
    client_id: &str,
    redirect_uri: &Url,
    scopes: &str,
    pkce: &Pkce,
) -> String {
    let scope = scopes.split_whitespace().collect::<Vec<_>>().join(" ");
    let params = [
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", scope.as_str()),
        ("state", pkce.state()),
        ("code_challenge", pkce.challenge()),
        ("code_challenge_method", CHALLENGE_METHOD),
    ];
    let query = params
        .iter()
        .map(|(key, value)| format!("{key}={}", encode_component(value)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}/oauth2/authorize?{query}", origin(base_url))
}

/// The base URL without its trailing slash.
pub fn origin(base_url: &Url) -> &str {
    base_url.as_str().trim_end_matches('/')
}

/// The path of the short sign-in links on the loopback listener; each adds `/<nonce>`.
pub const START_PATH: &str = "/start";

/// A fresh random nonce for one short sign-in link (128 bits, base64url).
pub fn start_nonce() -> String {
    super::pkce::random_urlsafe(16)
}

/// The short sign-in link, `http://127.0.0.1:<port>/start/<nonce>`: the listener answers it
/// once with a redirect to the authorize URL, so hosts can show a link that carries no state or
/// challenge, and another local user who cannot see the nonce cannot get them.
pub fn start_link(redirect_uri: &Url, nonce: &str) -> String {
    let mut link = redirect_uri.clone();
    link.set_path(&format!("{START_PATH}/{nonce}"));
    link.set_query(None);
    link.set_fragment(None);
    link.to_string()
}

/// Percent-encodes a query value; a space becomes `%20` (a literal `+` is already `%2B`).
fn encode_component(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_matches_the_doc() {
        let pkce = Pkce::from_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            "st4te".into(),
        );
        let url = authorize_url(
            &Url::parse("https://aipass.one").unwrap(),
            "my-client",
            &Url::parse("http://127.0.0.1:47821/callback").unwrap(),
            "api:access  profile:read",
            &pkce,
        );
        assert_eq!(
            url,
            "https://aipass.one/oauth2/authorize?client_id=my-client&response_type=code\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A47821%2Fcallback\
             &scope=api%3Aaccess%20profile%3Aread&state=st4te\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
        );
        let parsed = Url::parse(&url).unwrap();
        let scope = parsed
            .query_pairs()
            .find(|(k, _)| k == "scope")
            .unwrap()
            .1
            .into_owned();
        assert_eq!(scope, "api:access profile:read");
    }

    #[test]
    fn start_link_is_short_and_carries_nothing_but_its_nonce() {
        let nonce = start_nonce();
        assert_eq!(nonce.len(), 22);
        assert_ne!(nonce, start_nonce());
        let link = start_link(
            &Url::parse("http://127.0.0.1:47821/callback?x=1#y").unwrap(),
            &nonce,
        );
        assert_eq!(link, format!("http://127.0.0.1:47821/start/{nonce}"));
    }
}
