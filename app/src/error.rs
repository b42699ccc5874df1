//! The one error type the browser sees, from server functions and pages alike.
//!
//! Server code turns its own failures (database, upstream HTTP, …) into an [`AppError`] at the edge:
//! the cause chain goes to the log there, and only the safe, human message below crosses to the
//! browser. Use the variant that tells the user what to do next; `Internal` is for "not your fault".

use std::collections::BTreeMap;

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("{what} was not found")]
    NotFound { what: String },
    #[error("please sign in first")]
    Unauthorized,
    /// A sign-in that did not match an account: the same for an unknown name and a wrong password.
    #[error("the username or the password is wrong")]
    WrongCredentials,
    #[error("{message}")]
    TooManyRequests { message: String },
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Bad input, one message per field so a form can show each beside its input.
    #[error("{}", describe_fields(.fields))]
    Validation { fields: BTreeMap<String, String> },
    /// Someone else changed it first; the message says who and when.
    #[error("{message}")]
    Conflict { message: String },
    /// A rule of the rollout said no: the domain's refusal, its code and its sentence.
    #[error("{message}")]
    Refused { code: String, message: String },
    #[error("{system} did not answer as expected; try again in a moment")]
    Upstream { system: String },
    #[error("something went wrong on our side; it has been logged")]
    Internal,
    /// The request never reached the server function or its answer was unreadable.
    #[error("the server could not be reached: {message}")]
    Transport { message: String },
}

impl AppError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            fields: BTreeMap::from([(field.into(), message.into())]),
        }
    }

    /// The HTTP status that matches this error.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::Unauthorized | Self::WrongCredentials => 401,
            Self::TooManyRequests { .. } => 429,
            Self::Forbidden => 403,
            Self::Validation { .. } => 422,
            Self::Conflict { .. } => 409,
            Self::Refused { .. } => 422,
            Self::Upstream { .. } => 502,
            Self::Internal => 500,
            Self::Transport { .. } => 400,
        }
    }
}

fn describe_fields(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(field, message)| format!("{field}: {message}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<rollout::Refusal> for AppError {
    fn from(refusal: rollout::Refusal) -> Self {
        Self::Refused {
            code: refusal.code().to_owned(),
            message: refusal.to_string(),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport {
            message: value.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_message_names_every_field() {
        let error = AppError::Validation {
            fields: BTreeMap::from([
                ("flag".to_string(), "must start with a letter".to_string()),
                ("method".to_string(), "expected Service::Method".to_string()),
            ]),
        };
        assert_eq!(
            error.to_string(),
            "flag: must start with a letter; method: expected Service::Method"
        );
        assert_eq!(error.status_code(), 422);
    }

    #[test]
    fn internal_error_says_nothing_about_the_cause() {
        assert_eq!(
            AppError::Internal.to_string(),
            "something went wrong on our side; it has been logged"
        );
    }
}
