//! The end-to-end tests, one binary: the real `aipass-mcp` over stdio against the strict fake AI
//! Pass, driven through the shared harness (`testkit/`). One module per topic; see
//! docs/development.md for how to add one.

#[macro_use]
extern crate testkit;

mod agent_experience;
mod apps;
mod auth;
mod auth_store;
mod docs;
mod elicitation;
mod failures;
mod faults;
mod files;
mod fuzz;
mod limits;
mod live;
mod load;
mod malformed;
mod provision;
mod secrets;
mod security;
mod stdio;
mod tokens;
mod tools;
mod version;
mod video;
mod video_scope;
