//! The one test harness for aipass-mcp: the real binary over stdio against the strict fake AI
//! Pass, used by the end-to-end tests (`tests/e2e`), the demo and the bench.
//!
//! - [`spawn`]: finding the binary, its clean environment, stderr capture, protocol eras.
//! - [`session`]: an rmcp client session against the in-process fake (most tool tests).
//! - [`auth`]: sign-in worlds: a registered client, a browser stand-in, CLI runs, token files.
//! - [`raw`]: raw stdio pipes, for bytes no MCP client would send.
//! - [`ports`]: loopback ports no other test or socket takes meanwhile.
//! - [`facts`]: contract facts the tests check (tool names, error codes), read from the library.
//! - [`fixtures`]: sample files and result helpers.

pub mod auth;
pub mod facts;
pub mod fixtures;
pub mod ports;
pub mod raw;
pub mod session;
pub mod spawn;

pub use ports::{ReservedPort, reserve_port};
pub use spawn::{Era, binary};
