//! aipass-mcp: an MCP server that gives AI agents every AI Pass model through one account.

pub mod api;
pub mod auth;
pub mod catalogue;
pub mod config;
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
pub mod tools;
pub mod transport;
pub mod ui;
