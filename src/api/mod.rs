//! The AI Pass REST API client: typed requests and answers, auth, retries, streaming.

mod call;
pub mod client;
pub mod error;
pub(crate) mod images;
mod lenient;
mod multipart;
mod send;
pub mod settings;
pub mod sse;
pub mod token;
pub mod types;

#[cfg(test)]
mod tests;

pub use error::ApiError;
pub use send::ApiClient;
pub use settings::ApiSettings;
pub use token::{AccessToken, StaticTokenProvider, TokenProvider};
pub use types::Model;
pub use types::{Binary, Upload};
