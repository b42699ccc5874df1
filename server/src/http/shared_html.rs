//! Sends a page's shared HTML (see `app::components::shared_html`) beside the page rather than
//! copied into it: the page goes out in three pieces, the part before the marker, the shared
//! HTML itself, and the rest. The shared HTML is never copied on its way to the socket; to a
//! browser that takes gzip, it goes compressed once for everyone (`deflate.rs`), and only the
//! page's own parts are compressed for each response.

use std::convert::Infallible;
use std::sync::Arc;

use app::components::shared_html::Splice;
use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use flate2::Compression;
use leptos::prelude::*;

use super::deflate::{Deflated, KeptDeflated, accepts_gzip, gzip};

pub async fn splice(
    State(kept): State<Arc<KeptDeflated>>,
    mut request: Request,
    next: Next,
) -> Response {
    let gzip_taken = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(accepts_gzip);
    let splice = Splice::default();
    request.extensions_mut().insert(splice.clone());
    let response = next.run(request).await;
    // A page rendered before its response (Leptos' async mode) has taken its HTML by now; one
    // streamed after writes it into the page itself.
    let Some(shared) = splice.close() else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    // The page without the shared HTML is small: the shell around it.
    let page = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(page) => page,
        Err(error) => {
            tracing::error!(%error, "could not read a page to splice into");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    // No place for it: the part of the page that held it was rendered and dropped (an error
    // boundary showing its fallback instead), so the page is whole without it.
    let Some(at) = find(&page, Splice::MARKER) else {
        return Response::from_parts(parts, Body::from(page));
    };
    let (before, after) = (&page[..at], &page[at + Splice::MARKER.len()..]);
    let pieces = if gzip_taken && !parts.headers.contains_key(header::CONTENT_ENCODING) {
        let headers = &mut parts.headers;
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        gzip(&[
            &Deflated::new(before, Compression::fast(), false),
            &kept.get(&shared),
            &Deflated::new(after, Compression::fast(), true),
        ])
    } else {
        vec![
            page.slice(..at),
            Bytes::from_owner(SharedBytes(shared)),
            page.slice(at + Splice::MARKER.len()..),
        ]
    };
    let body = Body::from_stream(futures_util::stream::iter(
        pieces.into_iter().map(Ok::<_, Infallible>),
    ));
    Response::from_parts(parts, body)
}

/// Leptos context hook: this request's splice, for the pages' `SharedHtml`.
pub fn provide_splice() {
    let splice = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Splice>().cloned());
    if let Some(splice) = splice {
        provide_context(splice);
    }
}

/// Where `marker` starts in `page`, which Leptos wrote from a `String`.
fn find(page: &[u8], marker: &str) -> Option<usize> {
    std::str::from_utf8(page).ok()?.find(marker)
}

struct SharedBytes(Arc<str>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use app::components::shared_html::SharedHtml;
    use axum::{Router, middleware, routing::get};
    use tower::ServiceExt;

    use super::*;

    /// A page holding the table, rendered as Leptos renders pages: within the request's context.
    async fn page(request: Request) -> String {
        let splice = request.extensions().get::<Splice>().cloned();
        Owner::new().with(|| {
            if let Some(splice) = splice {
                provide_context(splice);
            }
            let table = SharedHtml::new("<table><tr><td>a</td></tr></table>".into());
            format!("<main><h1>In flight</h1>{}</main>", table.to_html())
        })
    }

    /// A page whose part holding the table was dropped, as an error boundary drops its children
    /// for its fallback.
    async fn failed_page(request: Request) -> String {
        let splice = request.extensions().get::<Splice>().cloned().unwrap();
        Owner::new().with(|| {
            provide_context(splice);
            let _dropped = SharedHtml::new("<table></table>".into()).to_html();
            "<main><p>Could not load the migrations.</p></main>".to_owned()
        })
    }

    async fn body_of(app: Router, path: &str) -> String {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    fn app() -> Router {
        Router::new()
            .route("/", get(page))
            .route("/plain", get(|| async { "<main>plain</main>" }))
            .route("/failed", get(failed_page))
            .layer(middleware::from_fn_with_state(
                Arc::new(KeptDeflated::default()),
                splice,
            ))
    }

    #[tokio::test]
    async fn the_shared_html_is_sent_where_the_page_holds_its_place() {
        let app = app();
        assert_eq!(
            body_of(app.clone(), "/").await,
            "<main><h1>In flight</h1><table><tr><td>a</td></tr></table></main>"
        );
        assert_eq!(body_of(app.clone(), "/plain").await, "<main>plain</main>");
        assert_eq!(
            body_of(app, "/failed").await,
            "<main><p>Could not load the migrations.</p></main>"
        );
    }

    #[tokio::test]
    async fn a_browser_taking_gzip_gets_the_page_gzipped_around_the_shared_html() {
        use std::io::Read;

        let request = Request::get("/")
            .header(header::ACCEPT_ENCODING, "gzip, deflate, br, zstd")
            .body(Body::empty())
            .unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(response.headers()[header::VARY], "accept-encoding");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let mut page = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut page)
            .unwrap();
        assert_eq!(
            page,
            "<main><h1>In flight</h1><table><tr><td>a</td></tr></table></main>"
        );
    }

    #[test]
    fn leptos_gets_the_splice_of_the_request_it_renders() {
        let splice = Splice::default();
        let mut request = Request::new(Body::empty());
        request.extensions_mut().insert(splice.clone());
        let (parts, _) = request.into_parts();
        Owner::new().with(|| {
            // As leptos_axum provides the request's parts to every page.
            provide_context(parts);
            provide_splice();
            let table = SharedHtml::new("<table></table>".into()).to_html();
            assert_eq!(table, Splice::MARKER);
        });
        assert_eq!(splice.close().as_deref(), Some("<table></table>"));
    }

    #[tokio::test]
    async fn without_the_middleware_the_page_has_the_html_in_it() {
        let app = Router::new().route("/", get(page));
        assert_eq!(
            body_of(app, "/").await,
            "<main><h1>In flight</h1><table><tr><td>a</td></tr></table></main>"
        );
    }
}
