//! The fake's own tests, one binary (linked once): each module drives the fake over HTTP.

mod common;

mod agent_auth;
mod api;
mod faults;
mod live;
mod media_api;
mod oauth;
