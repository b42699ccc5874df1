//! Plain axum routes and the middleware around every response.

pub mod assets;
pub mod deflate;
pub mod errors;
pub mod events;
pub mod exports;
pub mod health;
pub mod metrics;
pub mod security;
pub mod shared_html;
pub mod sso;
pub mod test_clock;
pub mod tracing;
