//! Which addresses the server may fetch from on an agent's behalf (image and audio URLs): public
//! internet addresses only, unless the user opted in to local ones. Checked on the URL, on every
//! redirect hop, and on the addresses DNS returns (the ones actually connected to), so neither a
//! redirect nor DNS rebinding reaches a service on this machine or its private network.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use url::{Host, Url};

/// The one answer for every refused address: it says nothing about what listens there.
pub const REFUSED_MESSAGE: &str = "the address is not allowed: only public http(s) addresses are \
fetched (set AIPASS_ALLOW_LOCAL_URLS to allow local or private ones)";

/// The most redirects followed for one input (each hop checked again).
pub const MAX_REDIRECTS: usize = 5;

/// What `AIPASS_ALLOW_LOCAL_URLS` says: nothing local (the default), everything, or only some
/// `host:port` origins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LocalUrls {
    #[default]
    Refused,
    Allowed,
    /// Only these `host:port` pairs (lower-case host, as in a URL) may be local.
    Only(Vec<(String, u16)>),
}

impl LocalUrls {
    /// `1`/`true`/`yes` = all, `0`/`false`/`no`/empty = none, else a comma-separated list of
    /// `host:port` origins such as `127.0.0.1:8080,localhost:3000`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        match value.to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "no" => return Ok(Self::Refused),
            "1" | "true" | "yes" => return Ok(Self::Allowed),
            _ => {}
        }
        let mut origins = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let url = Url::parse(&format!("http://{item}"))
                .map_err(|_| format!("'{item}' is not a host:port pair"))?;
            let (Some(host), Some(port)) = (url.host_str(), url.port()) else {
                return Err(format!("'{item}' needs a port, such as 127.0.0.1:8080"));
            };
            if url.path() != "/" {
                return Err(format!("'{item}' is not a host:port pair"));
            }
            origins.push((host.to_string(), port));
        }
        Ok(Self::Only(origins))
    }

    fn allows_origin(&self, host: &str, port: u16) -> bool {
        match self {
            Self::Refused => false,
            Self::Allowed => true,
            Self::Only(list) => list.iter().any(|(h, p)| h == host && *p == port),
        }
    }

    /// Whether addresses that `name` resolves to skip the check (see [`UrlPolicy::check_url`]
    /// for why a listed name with another port is refused before DNS).
    fn allows_name(&self, name: &str) -> bool {
        match self {
            Self::Refused => false,
            Self::Allowed => true,
            Self::Only(list) => list.iter().any(|(h, _)| h.eq_ignore_ascii_case(name)),
        }
    }
}

/// The policy one fetch client applies.
#[derive(Clone, Debug, Default)]
pub struct UrlPolicy {
    local: Arc<LocalUrls>,
}

/// A URL or address the policy refused. Its text is [`REFUSED_MESSAGE`], whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REFUSED_MESSAGE)
    }
}

impl std::error::Error for Refused {}

impl UrlPolicy {
    pub fn new(local: LocalUrls) -> Self {
        Self {
            local: Arc::new(local),
        }
    }

    /// Checks a URL before it is requested (the first one and every redirect): http(s) only,
    /// and an address written in the URL must be public unless its origin is allowed. Names are
    /// checked again when they resolve ([`PolicyResolver`]).
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused);
        }
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(Refused);
        };
        let shown = match &host {
            Host::Ipv6(ip) => format!("[{ip}]"),
            other => other.to_string(),
        };
        if self.local.allows_origin(&shown, port) {
            return Ok(());
        }
        match host {
            Host::Ipv4(ip) if is_public(IpAddr::V4(ip)) => Ok(()),
            Host::Ipv6(ip) if is_public(IpAddr::V6(ip)) => Ok(()),
            Host::Ipv4(_) | Host::Ipv6(_) => Err(Refused),
            // The resolver only sees the name, not the port: a name listed for another port
            // would pass it, so refuse it here.
            Host::Domain(name) if self.local.allows_name(name) => match *self.local {
                LocalUrls::Allowed => Ok(()),
                _ => Err(Refused),
            },
            Host::Domain(_) => Ok(()),
        }
    }

    /// The redirect rule for the fetch client: each hop is checked like the first URL, and
    /// at most [`MAX_REDIRECTS`] are followed.
    pub fn redirect_policy(&self) -> reqwest::redirect::Policy {
        let policy = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if policy.check_url(attempt.url()).is_err() {
                attempt.error(Refused)
            } else {
                attempt.follow()
            }
        })
    }

    /// The DNS resolver for the fetch client: the system resolver, with refused addresses
    /// removed, so the address connected to is one that was checked.
    pub fn resolver(&self) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver {
            policy: self.clone(),
        })
    }
}

/// Resolves names with the system resolver and keeps only the addresses the policy allows.
pub struct PolicyResolver {
    policy: UrlPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let unfiltered = self.policy.local.allows_name(name.as_str());
        let host = name.as_str().to_string();
        let lookup: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>)?
                .filter(|addr| unfiltered || is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        });
        lookup
    }
}

/// Whether the error chain of a failed fetch holds a policy refusal.
pub fn is_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<Refused>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Whether `ip` is an ordinary public internet address (not loopback, private, link-local,
/// shared, multicast, reserved or documentation space, in any IPv6 form that wraps IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: hides an IPv4 address we cannot check
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64, RFC 8215
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only
        || s[0] == 0) // the rest of ::/16 is reserved
}

/// The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d),
/// NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:aabb:ccdd::) address: reaching it reaches that.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[..5] == [0; 5] && (s[5] == 0xffff || (s[5] == 0 && (s[6] != 0 || s[7] > 1))) {
        return Some(low(s[6], s[7]));
    }
    if s[..6] == [0x0064, 0xff9b, 0, 0, 0, 0] {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn local_private_and_reserved_addresses_are_refused() {
        for address in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254", // cloud metadata
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "100::1",
        ] {
            assert!(!is_public(ip(address)), "{address} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(address)), "{address} should be allowed");
        }
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn urls_with_local_addresses_or_other_schemes_are_refused() {
        let policy = UrlPolicy::default();
        for refused in [
            "http://127.0.0.1:8080/a.png",
            "http://[::1]/a.png",
            "http://[::ffff:7f00:1]/a.png",
            "http://0x7f000001/a.png", // the URL parser reads this as 127.0.0.1
            "http://2130706433/a.png",
            "http://017700000001/a.png",
            "https://10.1.2.3/a.png",
            "http://169.254.169.254/latest/meta-data/",
            "ftp://example.com/a.png",
            "file:///etc/passwd",
        ] {
            assert_eq!(policy.check_url(&url(refused)), Err(Refused), "{refused}");
        }
        for allowed in ["https://example.com/a.png", "http://8.8.8.8/a.png"] {
            assert_eq!(policy.check_url(&url(allowed)), Ok(()), "{allowed}");
        }
    }

    #[test]
    fn the_opt_in_allows_everything_or_only_the_listed_origins() {
        let all = UrlPolicy::new(LocalUrls::parse("1").unwrap());
        assert_eq!(all.check_url(&url("http://127.0.0.1:9/a")), Ok(()));
        assert_eq!(all.check_url(&url("http://localhost:9/a")), Ok(()));
        assert_eq!(all.check_url(&url("ftp://127.0.0.1/a")), Err(Refused));

        let some = UrlPolicy::new(LocalUrls::parse("127.0.0.1:8080, localhost:3000").unwrap());
        assert_eq!(some.check_url(&url("http://127.0.0.1:8080/a")), Ok(()));
        assert_eq!(
            some.check_url(&url("http://127.0.0.1:8081/a")),
            Err(Refused)
        );
        assert_eq!(some.check_url(&url("http://localhost:3000/a")), Ok(()));
        // The resolver cannot see ports: a listed name on another port is refused up front.
        assert_eq!(some.check_url(&url("http://localhost:22/a")), Err(Refused));
        assert!(some.local.allows_name("LOCALHOST"));
        assert!(!some.local.allows_name("example.com"));

        assert_eq!(LocalUrls::parse("").unwrap(), LocalUrls::Refused);
        assert_eq!(LocalUrls::parse("no").unwrap(), LocalUrls::Refused);
        assert!(LocalUrls::parse("127.0.0.1").is_err());
        assert!(LocalUrls::parse("127.0.0.1:80/x").is_err());
    }

    #[test]
    fn refusals_are_found_in_error_chains_and_say_nothing_specific() {
        #[derive(Debug)]
        struct Outer(Refused);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert!(is_refusal(&Outer(Refused)));
        assert!(!is_refusal(&std::io::Error::other("x")));
        assert_eq!(Refused.to_string(), REFUSED_MESSAGE);
    }

    #[tokio::test]
    async fn the_resolver_drops_local_addresses() {
        use reqwest::dns::Resolve;
        let refusing = UrlPolicy::default().resolver();
        let error = refusing
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost has only loopback addresses");
        assert!(is_refusal(error.as_ref()));
        let allowing = UrlPolicy::new(LocalUrls::Allowed).resolver();
        let found: Vec<_> = allowing
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap_or_else(|e| panic!("localhost resolves: {e}"))
            .collect();
        assert!(found.iter().all(|a| a.ip().is_loopback()), "{found:?}");
    }
}
