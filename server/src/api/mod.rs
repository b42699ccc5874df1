//! The REST API, `/api/v1`: what the pages do, for scripts, over the same services.
//!
//! A script sends `Authorization: Bearer <API token>` and acts as the token's user, with that
//! user's roles as they are now. Every answer that is not a success has one JSON shape
//! ([`error`]). Each token may make `RAMPART_API_REQUESTS_PER_MINUTE` requests a minute, counted
//! across replicas ([`limits`]); a `POST` sent with an `Idempotency-Key` is applied once however
//! often it is retried ([`idempotency`]). The OpenAPI document is made from the handlers
//! themselves ([`document`]) and served at `/api/v1/openapi.json`, with a reference page at
//! `/api/v1/docs`.

pub mod audit;
pub mod change_requests;
pub mod document;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod limits;
pub mod migrations;
pub mod model;
pub mod reference;

use std::future::ready;

use app::api::session::{CurrentUser, authorize};
use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State},
    http::header,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rollout::Permission;
use utoipa_axum::{router::OpenApiRouter, routes};

use self::error::ApiError;
use crate::{auth::tokens, state::AppState};

/// The largest request body the API reads.
pub const LARGEST_BODY: usize = 64 * 1024;

/// Who is calling: the token's user, and the token (requests are counted per token).
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: CurrentUser,
    pub token_id: i64,
}

impl Caller {
    /// The user, if they may do `permission`; 403 otherwise.
    pub fn may(&self, permission: Permission) -> Result<&CurrentUser, ApiError> {
        authorize(Some(self.user.clone()), permission)?;
        Ok(&self.user)
    }
}

/// The API's routes, under `/api/v1`, and its OpenAPI document.
pub fn router(state: &AppState) -> Router<AppState> {
    let (operations, document) = OpenApiRouter::with_openapi(document::base())
        .routes(routes!(migrations::list, migrations::create))
        .routes(routes!(migrations::get, migrations::update))
        .routes(routes!(migrations::check_in))
        .routes(routes!(migrations::advance))
        .routes(routes!(migrations::kill))
        .routes(routes!(migrations::panels))
        .routes(routes!(change_requests::create))
        .routes(routes!(change_requests::approve))
        .routes(routes!(change_requests::reject))
        .routes(routes!(audit::list))
        .split_for_parts();
    let document = document::finish(document);
    let operations = operations
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::apply_once,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::count_request,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(DefaultBodyLimit::max(LARGEST_BODY));
    // Both made once, at start-up.
    let reference = axum::response::Html(Bytes::from(reference::page(&document)));
    let json = Bytes::from(document.to_string());
    Router::new()
        .route(
            "/openapi.json",
            get(move || ready(([(header::CONTENT_TYPE, "application/json")], json.clone()))),
        )
        .route("/docs", get(move || ready(reference.clone())))
        .route(
            "/docs.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], reference::STYLES) }),
        )
        .merge(operations)
        .fallback(|| async { ApiError::not_found("there is no such API operation") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this operation does not take that method",
            )
        })
}

/// Puts the [`Caller`] into the request, or answers 401 for a missing or bad token.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(authorization) = request.headers().get(header::AUTHORIZATION) else {
        return ApiError::unauthorized("send an API token: Authorization: Bearer rpt_…")
            .into_response();
    };
    let authorization = authorization.to_str().unwrap_or("?");
    match tokens::user_of_bearer(&state.pool, Some(authorization)).await {
        Ok(Ok(Some(bearer))) => {
            request.extensions_mut().insert(Caller {
                user: bearer.user,
                token_id: bearer.token_id,
            });
            next.run(request).await
        }
        Ok(_) => ApiError::unauthorized(
            "the API token is malformed, unknown or revoked, or its user is deactivated",
        )
        .into_response(),
        Err(error) => {
            tracing::error!(error = %crate::error::chain(&error), "cannot check an API token");
            ApiError::unavailable("Rampart cannot reach its database right now; try again")
                .into_response()
        }
    }
}
