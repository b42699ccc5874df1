//! The HTTP status of a server function's error, set in one place for every function.
//!
//! A server function answers `Err(AppError)` with the error's JSON and status 500, whatever the
//! error. This middleware reads that JSON and sets the status the error calls for
//! ([`AppError::status_code`]): 401, 403, 404, 422, …. Pages get theirs from the error view,
//! which does the same while it renders.

use app::error::AppError;
use axum::{
    body::Body,
    extract::Request,
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};

/// An error's JSON is short; a body longer than this is not one.
const LONGEST_ERROR: usize = 64 * 1024;

pub async fn server_function_status(request: Request, next: Next) -> Response {
    let server_function = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !server_function || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, LONGEST_ERROR).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes)
        && let Ok(status) = StatusCode::from_u16(error.status_code())
    {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A plain route's error (a download, the events stream): its status and its sentence.
pub fn refusal(error: &AppError) -> Response {
    let status = StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, error.to_string()).into_response()
}
