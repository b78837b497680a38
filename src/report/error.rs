//! Error classes (what the caller can do about an error) and the JSON error object. Every
//! module error has a `class()`; exit codes, error `type`s, HTTP statuses, job retries and
//! audit error lines are each one `match` on the class.

use serde::{Deserialize, Serialize};

/// What a caller can do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorClass {
    /// The command line or configuration is wrong: fix the invocation.
    Usage,
    /// The request (a Live Video object, a field) is malformed: fix the request.
    InvalidRequest,
    /// The media is not a picture or recording we can read: another file is needed.
    InvalidMedia,
    /// The input is over a limit that protects the machine: a smaller input is needed.
    LimitReached,
    /// A named input does not exist.
    NotFound,
    /// A model is missing or does not load: install it, or try on another machine.
    ModelUnavailable,
    /// A service we depend on (the database, the media store) cannot be reached: try later.
    ServiceUnavailable,
    /// The work was stopped: its time limit passed or it was called off.
    Cancelled,
    /// Our own failure (a crashed stage, a bug): not the caller's fault; try again.
    Internal,
    /// Writing the output failed.
    Output,
}

impl ErrorClass {
    /// The error object's `type`.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorClass::Usage => "usage_error",
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::InvalidMedia => "invalid_media",
            ErrorClass::LimitReached => "limit_exceeded",
            ErrorClass::NotFound => "resource_not_found",
            ErrorClass::ModelUnavailable => "model_unavailable",
            ErrorClass::ServiceUnavailable => "service_unavailable",
            ErrorClass::Cancelled => "timeout",
            ErrorClass::Internal => "internal_error",
            ErrorClass::Output => "io_error",
        }
    }

    /// The process exit status (the BSD `sysexits` convention).
    pub const fn exit_code(self) -> i32 {
        match self {
            ErrorClass::Usage => 64,
            ErrorClass::InvalidRequest | ErrorClass::InvalidMedia | ErrorClass::LimitReached => 65,
            ErrorClass::NotFound => 66,
            ErrorClass::ModelUnavailable | ErrorClass::ServiceUnavailable => 69,
            ErrorClass::Cancelled | ErrorClass::Internal => 70,
            ErrorClass::Output => 74,
        }
    }

    /// Whether another attempt at the same job may succeed (a job worker retries these; the
    /// others fail the job at once). A job stopped at its time limit would stop there again.
    pub fn retryable(self) -> bool {
        match self {
            ErrorClass::ModelUnavailable
            | ErrorClass::ServiceUnavailable
            | ErrorClass::Internal => true,
            ErrorClass::Usage
            | ErrorClass::InvalidRequest
            | ErrorClass::InvalidMedia
            | ErrorClass::LimitReached
            | ErrorClass::NotFound
            | ErrorClass::Cancelled
            | ErrorClass::Output => false,
        }
    }
}

/// An error that knows its class: every module error implements it, and every edge (the
/// command line, the HTTP API, the job queue, the audit) turns errors into exit codes, error
/// objects, statuses and retries through it alone.
pub trait Classify: std::fmt::Display {
    /// What the caller can do about it.
    fn class(&self) -> ErrorClass;

    /// The input at fault, when one is (a Live Video field, `video`, `image`).
    fn param(&self) -> Option<String> {
        None
    }

    /// The JSON error object: the class's type, this error's message and param.
    fn to_object(&self) -> ErrorObject {
        ErrorObject::of(self.class(), self.to_string(), self.param())
    }
}

/// The JSON error object (ComplyCube's shape: `type`, `message`, `param`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorObject {
    /// The class's error type: `invalid_request`, `invalid_media`, `limit_exceeded`,
    /// `resource_not_found`, `model_unavailable`, `service_unavailable`, `timeout`,
    /// `internal_error`, `usage_error`, `io_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The input at fault, when one is (`limit_exceeded`: the Live Video field, or `video`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl ErrorObject {
    /// The error object of an error of this class.
    pub fn of(class: ErrorClass, message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            kind: class.error_type().into(),
            message: message.into(),
            param,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_is_retried_and_never_the_uploaders_fault() {
        assert!(ErrorClass::Internal.retryable());
        assert_eq!(ErrorClass::Internal.error_type(), "internal_error");
        assert_eq!(ErrorClass::Internal.exit_code(), 70);
        for class in [
            ErrorClass::InvalidRequest,
            ErrorClass::InvalidMedia,
            ErrorClass::LimitReached,
        ] {
            assert!(!class.retryable());
            assert_eq!(class.exit_code(), 65);
        }
    }
}
