//! The API's error answer: ComplyCube's `{"type","message","param"?}` with a fitting status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::media::MediaError;
use crate::store::StoreError;

/// The JSON body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ErrorBody {
    /// Error class: `invalid_request`, `unauthorized`, `resource_not_found`,
    /// `route_not_found`, `method_not_allowed`, `payload_too_large`, `invalid_media`,
    /// `resource_redacted`, `internal_error`, `service_unavailable`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with a status, type and message.
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                kind: kind.into(),
                message: message.into(),
                param: None,
            },
        }
    }

    /// 400 `invalid_request` about one field.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request", message);
        e.body.param = Some(param.into());
        e
    }

    /// 404 `resource_not_found` (also what another account's objects look like).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            format!("{what} not found"),
        )
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or unknown API key in the Authorization header",
        )
    }

    /// 422 `invalid_media`.
    pub fn media(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_media", message)
    }

    /// `limit_exceeded` about one input (400 for a request field, 422 for media).
    pub fn limit(status: StatusCode, param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(status, "limit_exceeded", message);
        e.body.param = Some(param.into());
        e
    }

    /// 413 `payload_too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 500 `internal_error` (the details go to the log, not to the client).
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        eprintln!("liveness serve: {context}: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("{context} failed"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let mut err = Self::internal("database", &e);
        if matches!(e, StoreError::Database(_)) {
            err.status = StatusCode::SERVICE_UNAVAILABLE;
            err.body.kind = "service_unavailable".into();
        }
        err
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::NotFound(_) => Self::not_found("media"),
            other => Self::internal("media store", other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
