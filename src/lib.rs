//! aipass-mcp: an MCP server that gives AI agents every AI Pass model through one account.
//!
//! The layers, top to bottom; a file imports only from its own layer or below, and no files
//! import each other round a circle (`layers_test` checks both):
//!
//! 1. `main.rs`, `auth::cli`: the binary and its subcommands (settings from `config`).
//! 2. [`server`]: the MCP handler and serving over stdio (`line_cap`, `transport`,
//!    `tools_list`: the catalogue serialised once), and [`catalogue`]: the combined tool router
//!    and docs/tools.md.
//! 3. `tools`: one file per tool family, and the one call path every tool takes
//!    (`tools::call`: typed arguments, the call scope from `tools::progress`, result shaping).
//! 4. `state` (the server value and what tools share), [`models`], `media`, `saved_files`,
//!    `written_files`, `free_names`, `file_scope`, `fetch`, `preview`, `image_limits`,
//!    `downscale`, [`ui`] (the MCP Apps view).
//! 5. [`api`] and [`auth`]: the AI Pass client and the sign-in session.
//! 6. [`error`], [`config`], [`net_policy`], `folder_check`, [`tls`]: error codes, settings,
//!    address and folder rules, the one way an HTTP client is made.

// Used by the binary, the tests, the bench and the demo; the rest is internal.
pub mod api;
pub mod auth;
pub mod catalogue;
pub mod config;
mod downscale;
pub mod error;
mod fetch;
mod file_scope;
mod folder_check;
mod free_names;
mod image_limits;
mod line_cap;
mod media;
pub mod models;
pub mod net_policy;
mod preview;
mod saved_files;
pub mod server;
mod state;
pub mod tls;
mod tools;
mod tools_list;
mod transport;
pub mod ui;
mod written_files;

#[cfg(test)]
mod layers_test;
