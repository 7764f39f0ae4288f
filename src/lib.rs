//! aipass-mcp: an MCP server that gives AI agents every AI Pass model through one account.
//!
//! The layers, top to bottom; a file imports only from its own layer or below:
//!
//! 1. `main.rs`, `auth::cli`: the binary and its subcommands (settings from `config`).
//! 2. [`server`]: identity, instructions, the combined router, serving over stdio
//!    (`line_cap`, `transport`, [`ui`] for MCP Apps hosts).
//! 3. `tools`: one file per tool family, and the one call path every tool takes
//!    (`tools::call`: typed arguments, call scope from `tools::progress`, result shaping).
//! 4. [`models`], `media`, `saved_files`, `written_files`, `free_names`, `file_scope`, `fetch`,
//!    `preview`, [`catalogue`]: what tools share (model choice, files in and out, previews,
//!    docs).
//! 5. [`api`] and [`auth`]: the AI Pass client and the sign-in session.
//! 6. [`error`] and [`config`]: the error codes and types every layer fails with; settings.

// Used by the binary, the tests, the bench and the demo; the rest is internal.
pub mod api;
pub mod auth;
pub mod catalogue;
pub mod config;
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
mod tools;
mod transport;
pub mod ui;
mod written_files;
