//! API key authentication: `Authorization: <key>` (ComplyCube) or `Authorization: Bearer <key>`;
//! each authenticated request takes one from its key's rate limit bucket.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;

/// The account a request acts for.
#[derive(Debug, Clone)]
pub struct Account {
    /// Account id: every object read or written is filtered by it.
    pub id: String,
}

impl FromRequestParts<AppState> for Account {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let key = header.strip_prefix("Bearer ").unwrap_or(header).trim();
        if key.is_empty() || key.len() > 200 {
            return Err(ApiError::unauthorized());
        }
        let record = state
            .store
            .find_key(key)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        state.limits.take(&record.id)?;
        Ok(Account {
            id: record.account_id,
        })
    }
}
