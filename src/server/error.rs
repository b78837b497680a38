//! The API's error answer: ComplyCube's `{"type","message","param"?}` with a fitting status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::report::{Classify, ErrorClass};
use crate::store::media::MediaError;
use crate::store::StoreError;

/// The JSON body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ErrorBody {
    /// Error class: `invalid_request`, `unauthorized`, `resource_not_found`,
    /// `route_not_found`, `method_not_allowed`, `payload_too_large`, `invalid_media`,
    /// `limit_exceeded`, `rate_limit_exceeded`, `resource_redacted`, `challenge_used`,
    /// `challenge_expired`, `internal_error`, `service_unavailable`.
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
    /// Seconds after which the client may try again (`Retry-After`), when known.
    pub retry_after: Option<u64>,
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
            retry_after: None,
        }
    }

    /// 429 `rate_limit_exceeded`: a per-key limit was reached; try again after `seconds`.
    pub fn rate_limited(message: impl Into<String>, seconds: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            message,
        );
        e.retry_after = Some(seconds.max(1));
        e
    }

    /// 400 `invalid_request` about one field.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            ErrorClass::InvalidRequest.error_type(),
            message,
        );
        e.body.param = Some(param.into());
        e
    }

    /// 404 `resource_not_found` (also what another account's objects look like).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorClass::NotFound.error_type(),
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
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::InvalidMedia.error_type(),
            message,
        )
    }

    /// `limit_exceeded` about one input (400 for a request field, 422 for media).
    pub fn limit(status: StatusCode, param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(status, ErrorClass::LimitReached.error_type(), message);
        e.body.param = Some(param.into());
        e
    }

    /// 413 `payload_too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 500 `internal_error` (the details go to the log, not to the client).
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorClass::Internal.error_type(),
            format!("{context} failed"),
        )
    }
}

impl ApiError {
    /// `classified`, naming `param` as the request field at fault when the client is at fault.
    pub fn classified_at(context: &str, e: &(impl Classify + ?Sized), param: &str) -> Self {
        let mut err = Self::classified(context, e);
        if err.status.is_client_error() {
            err.body.param = Some(param.into());
        }
        err
    }

    /// The answer for a classified error: its class gives the status and the type. Our own
    /// failures and unavailable dependencies are logged with their details and answered
    /// with `{context} failed` (nothing internal reaches the client).
    pub fn classified(context: &str, e: &(impl Classify + ?Sized)) -> Self {
        let class = e.class();
        let status = match class {
            ErrorClass::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorClass::InvalidMedia => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::LimitReached => match e.param().as_deref() {
                Some("video" | "photo" | "image") => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            },
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::ModelUnavailable | ErrorClass::ServiceUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorClass::Cancelled => StatusCode::GATEWAY_TIMEOUT,
            // A usage error inside the server is its own misconfiguration, not the client's.
            ErrorClass::Internal | ErrorClass::Output | ErrorClass::Usage => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        match class {
            ErrorClass::Internal
            | ErrorClass::Output
            | ErrorClass::Usage
            | ErrorClass::ModelUnavailable
            | ErrorClass::ServiceUnavailable
            | ErrorClass::Cancelled => {
                let mut err = Self::internal(context, e);
                err.status = status;
                if status != StatusCode::INTERNAL_SERVER_ERROR {
                    // Unavailable or stopped: the client may try again, so say which.
                    err.body.kind = class.error_type().into();
                }
                err
            }
            _ => {
                let mut err = Self::new(status, class.error_type(), e.to_string());
                err.body.param = e.param();
                err
            }
        }
    }

    /// The answer for a classified error about the file uploaded in the form field `field`:
    /// media we cannot use is a 422 naming the field; anything else as [`Self::classified`].
    pub fn about_upload(context: &str, field: &str, e: &(impl Classify + ?Sized)) -> Self {
        match e.class() {
            ErrorClass::InvalidMedia => Self::media(e.to_string()),
            ErrorClass::LimitReached => {
                Self::limit(StatusCode::UNPROCESSABLE_ENTITY, field, e.to_string())
            }
            _ => Self::classified(context, e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::classified("database", &e)
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::NotFound(_) => Self::not_found("media"),
            other => Self::classified("media store", &other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_gives_the_status_and_our_failures_stay_ours() {
        let unsupported = crate::store::StoreError::UnsupportedUrl("ftp://x".into());
        let e = ApiError::classified("database", &unsupported);
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.body.kind, "internal_error");
        assert_eq!(e.body.message, "database failed");
        let e = ApiError::classified(
            "media store",
            &MediaError::Store(object_store::Error::NotImplemented {
                operation: "put".into(),
                implementer: "test".into(),
            }),
        );
        assert_eq!(
            (e.status, e.body.kind.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable")
        );
    }
}
