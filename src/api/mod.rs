//! The AI Pass REST API client: typed requests and answers, auth, retries, streaming.

pub mod client;
pub mod error;
mod multipart;
pub mod sse;
pub mod token;
pub mod types;

#[cfg(test)]
mod tests;

pub use client::{ApiClient, ApiSettings, Binary, Upload};
pub use error::ApiError;
pub use token::{AccessToken, StaticTokenProvider, TokenProvider};
pub use types::Model;
