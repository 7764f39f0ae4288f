//! The one way an HTTP client is made: rustls on the `ring` crypto provider.
//!
//! reqwest is built with `rustls-no-provider` so that aws-lc (1.5 MB of machine code and most
//! of a clean build's C work) is not linked; rustls then needs a process-wide provider before
//! the first `reqwest::Client` is built, or reqwest panics. Every client in the server, the
//! tests, the testkit and the bench starts from [`client_builder`] (or calls [`install`]).

/// Installs `ring` as the process's rustls provider; later calls (or a provider someone else
/// installed first) leave it as it is.
pub fn install() {
    // Err only means a provider is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `reqwest::Client::builder()` with the crypto provider installed first.
pub fn client_builder() -> reqwest::ClientBuilder {
    install();
    reqwest::Client::builder()
}
