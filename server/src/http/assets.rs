//! The browser's files under `/pkg`: wasm, JS and CSS built by cargo-leptos.

use std::path::Path;

use axum::{
    Router,
    http::{HeaderValue, header},
};
use tower_http::{services::ServeDir, set_header::SetResponseHeaderLayer};

/// With hashed file names a file's content never changes, so browsers may keep it for a year;
/// without them every load must revalidate or a deploy would leave browsers on old code.
pub fn router<S: Clone + Send + Sync + 'static>(site_root: &Path, hashed_names: bool) -> Router<S> {
    let cache_control = if hashed_names {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Router::new()
        .fallback_service(
            ServeDir::new(site_root.join("pkg"))
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ))
}
