//! Reading a request: the JSON body, the query and the path, each refused with the API's error
//! shape (400) when it cannot be read, rather than axum's plain-text rejections.
//!
//! Text holding a NUL character is refused here too: PostgreSQL cannot store it, and a request
//! that would fail there is the client's mistake, not the server's.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// A JSON body of type `T`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<Value>::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                let message = rejection.body_text();
                match status {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::new(status, "too_large", "the request body is too large")
                    }
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                        status,
                        "unsupported_media_type",
                        "send the body as JSON, with Content-Type: application/json",
                    ),
                    _ => ApiError::malformed(message),
                }
            })?;
        if holds_nul(&value) {
            return Err(ApiError::malformed("text may not contain NUL characters"));
        }
        serde_json::from_value(value)
            .map(Body)
            .map_err(|error| ApiError::malformed(format!("the body does not fit: {error}")))
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(name, value)| name.contains('\0') || holds_nul(value)),
        _ => false,
    }
}

/// The query string, as `T`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or_default();
        if raw.to_ascii_lowercase().contains("%00") {
            return Err(ApiError::malformed("text may not contain NUL characters"));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(query)| Query(query))
            .map_err(|rejection| ApiError::malformed(rejection.body_text()))
    }
}

/// The path's parameters, as `T`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(path) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::malformed(rejection.body_text()))?;
        if parts.uri.path().to_ascii_lowercase().contains("%00") {
            return Err(ApiError::malformed("text may not contain NUL characters"));
        }
        Ok(Path(path))
    }
}
