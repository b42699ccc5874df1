//! The API's one error shape, `{"error": {"code", "message", "field"?}}`, and the status each
//! error answers with. The app's errors ([`AppError`]) and axum's rejections of a request it
//! cannot read all become one of these, so a script handles every failure the same way.

use app::error::AppError;
use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// What went wrong, for a script to branch on (`code`) and a person to read (`message`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "soak_not_elapsed", "message": "the stage's soak has not elapsed: 11 min left"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: `malformed`, `invalid`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `rate_limited`, `unavailable`, … or the domain's refusal code (`soak_not_elapsed`).
    pub code: String,
    pub message: String,
    /// The request field the error is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// Seconds to wait before trying again (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// The request could not be read: bad JSON, a wrong type, a missing field.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    /// A field that was read but is not acceptable.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid", message)
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("this token has made too many requests; try again in {retry_after} s"),
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            AppError::Internal.to_string(),
        )
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let message = error.to_string();
        match error {
            AppError::NotFound { .. } => Self::not_found(message),
            AppError::Unauthorized | AppError::WrongCredentials => Self::unauthorized(message),
            AppError::TooManyRequests { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            }
            AppError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            // One field is named; the message names them all.
            AppError::Validation { fields } => Self {
                field: fields.keys().next().cloned(),
                ..Self::new(StatusCode::BAD_REQUEST, "invalid", message)
            },
            AppError::Conflict { .. } => Self::conflict("conflict", message),
            AppError::Refused { code, message } => {
                // A pending request is a conflict with what is already there, not a rule.
                let pending: &str = rollout::refusal::RefusalCode::RequestAlreadyPending.into();
                let status = if code == pending {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                Self::new(status, &code, message)
            }
            AppError::Upstream { .. } => Self::unavailable(message),
            AppError::Transport { .. } => Self::malformed(message),
            AppError::Internal => Self::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="rampart""#),
            );
        }
        response
    }
}
