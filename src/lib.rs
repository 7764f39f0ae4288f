//! aipass-mcp: an MCP server that gives AI agents every AI Pass model through one account.
//!
//! The layers, top to bottom; a file imports only from its own layer or below:
//!
//! 1. `main.rs`, `auth::cli`: the binary and its subcommands (settings from `config`).
//! 2. [`server`]: identity, instructions, the combined router, serving over stdio
//!    (`line_cap`, `transport`, [`tools_list`]: the catalogue serialised once, [`ui`] for MCP
//!    Apps hosts).
//! 3. [`tools`]: one file per tool family, and the one call path every tool takes
//!    (`tools::call`: typed arguments, call scope from `tools::progress`, result shaping).
//! 4. [`models`], [`media`], [`saved_files`], [`file_scope`], [`fetch`], [`preview`],
//!    [`catalogue`]: what tools share (model choice, files in and out, previews, docs).
//! 5. [`api`] and [`auth`]: the AI Pass client and the sign-in session.
//! 6. [`error`] and [`config`]: the error codes and types every layer fails with; settings;
//!    [`tls`]: the one way an HTTP client is made.

pub mod api;
pub mod auth;
pub mod catalogue;
pub mod config;
pub mod error;
pub mod fetch;
pub mod file_scope;
pub mod folder_check;
pub mod free_names;
pub mod image_limits;
pub mod line_cap;
pub mod media;
pub mod models;
pub mod net_policy;
pub mod preview;
pub mod saved_files;
pub mod server;
pub mod tls;
pub mod tools;
pub mod tools_list;
pub mod transport;
pub mod ui;
