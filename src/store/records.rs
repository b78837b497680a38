//! Stored rows and the API views of them (ComplyCube's camelCase resource shapes).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An API key's record (the key itself is never stored, only its hash).
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// The account every object made with this key belongs to.
    pub account_id: String,
    /// Where completed checks are posted, if anywhere.
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 secret for the webhook signature.
    pub webhook_secret: Option<String>,
    /// Creation time.
    pub created_at: String,
}

/// A stored Live Video.
#[derive(Debug, Clone)]
pub struct LiveVideoRecord {
    /// Id (32 random hex digits).
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// The client (person) it belongs to.
    pub client_id: String,
    /// Language of the voice challenges.
    pub language: String,
    /// The challenges, validated, as JSON.
    pub challenges: serde_json::Value,
    /// Recording is mirrored.
    pub mirrored: bool,
    /// Where the media bytes are (None once redacted).
    pub media_key: Option<String>,
    /// Sniffed content type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// sha256 of the bytes.
    pub sha256: String,
    /// Container duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// Media and transcripts erased.
    pub redacted: bool,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
}

/// A stored Live Photo.
#[derive(Debug, Clone)]
pub struct LivePhotoRecord {
    /// Id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// The client it belongs to.
    pub client_id: String,
    /// Whether the liveness inspection is asked for.
    pub perform_liveness_check: bool,
    /// Where the image bytes are (None once redacted).
    pub media_key: Option<String>,
    /// Sniffed content type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// sha256 of the bytes.
    pub sha256: String,
    /// The inspections run at upload (the photo report), if they ran.
    pub inspections: Option<serde_json::Value>,
    /// Media erased.
    pub redacted: bool,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
}

/// A stored check (and job).
#[derive(Debug, Clone)]
pub struct CheckRecord {
    /// Id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// The client it belongs to.
    pub client_id: String,
    /// `liveness_video_check` or `liveness_photo_check`.
    pub kind: String,
    /// The Live Video checked.
    pub live_video_id: Option<String>,
    /// The Live Photo checked.
    pub live_photo_id: Option<String>,
    /// `pending`, `running`, `complete`, `failed`.
    pub status: CheckState,
    /// `{outcome, breakdown}` once complete.
    pub result: Option<serde_json::Value>,
    /// `{type, message}` of the last failure.
    pub error: Option<serde_json::Value>,
    /// Attempts started.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// The worker that holds or held it.
    pub worker: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
    /// When it completed or failed.
    pub completed_at: Option<String>,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct ClaimedCheck {
    /// Check id.
    pub id: String,
    /// Account.
    pub account_id: String,
    /// Check type.
    pub kind: String,
    /// Live Video to verify.
    pub live_video_id: Option<String>,
    /// Live Photo to inspect.
    pub live_photo_id: Option<String>,
    /// This attempt's number (1-based).
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
}

/// A claimed webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    /// Delivery id.
    pub id: String,
    /// The check it reports.
    pub check_id: String,
    /// Where to post.
    pub url: String,
    /// HMAC secret.
    pub secret: String,
    /// JSON body.
    pub payload: String,
    /// This attempt's number.
    pub attempts: i64,
}

/// A Live Video as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveVideoResource {
    /// Id.
    pub id: String,
    /// The client it belongs to.
    pub client_id: String,
    /// Language of the voice challenges.
    pub language: String,
    /// The challenges (`[{type, value}]`).
    #[schema(value_type = Vec<Object>)]
    pub challenges: serde_json::Value,
    /// Recording is mirrored (left and right swapped).
    pub mirrored: bool,
    /// Where to download the video (absent once redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_link: Option<String>,
    /// Sniffed content type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Container duration in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Media and recital transcripts have been erased.
    pub redacted: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
}

impl LiveVideoRecord {
    /// The API view.
    pub fn to_api(&self) -> LiveVideoResource {
        LiveVideoResource {
            id: self.id.clone(),
            client_id: self.client_id.clone(),
            language: self.language.clone(),
            challenges: self.challenges.clone(),
            mirrored: self.mirrored,
            download_link: self
                .media_key
                .as_ref()
                .map(|_| format!("/v1/liveVideos/{}/download", self.id)),
            content_type: self.content_type.clone(),
            size: self.size,
            duration: self.duration_ms.map(|ms| ms as f64 / 1000.0),
            redacted: self.redacted,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// A Live Photo as the API shows it (the seed's object plus the inspections).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LivePhotoResource {
    /// Id.
    pub id: String,
    /// The client it belongs to.
    pub client_id: String,
    /// Whether the liveness inspection was asked for.
    pub perform_liveness_check: bool,
    /// Where to download the image (absent once redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_link: Option<String>,
    /// Sniffed content type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// The four inspections run at upload (`faceAnalysis`, `facialObstruction`,
    /// `facialOrientation`, `liveness`), as `liveness photo` prints them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub inspections: Option<serde_json::Value>,
    /// Media erased.
    pub redacted: bool,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
}

impl LivePhotoRecord {
    /// The API view.
    pub fn to_api(&self) -> LivePhotoResource {
        LivePhotoResource {
            id: self.id.clone(),
            client_id: self.client_id.clone(),
            perform_liveness_check: self.perform_liveness_check,
            download_link: self
                .media_key
                .as_ref()
                .map(|_| format!("/v1/livePhotos/{}/download", self.id)),
            content_type: self.content_type.clone(),
            size: self.size,
            inspections: self.inspections.clone(),
            redacted: self.redacted,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// A check as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResource {
    /// Id.
    pub id: String,
    /// The client it belongs to.
    pub client_id: String,
    /// `liveness_video_check` or `liveness_photo_check`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Live Video checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_video_id: Option<String>,
    /// The Live Photo checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_photo_id: Option<String>,
    /// `pending` (queued or running), `complete` or `failed`.
    pub status: String,
    /// Once complete: `{outcome, breakdown}`; `outcome` is ComplyCube's `clear`/`attention`,
    /// `breakdown` the full report (whose own `outcome` may be the sharper `rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Once failed: `{type, message}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
    /// Completion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// Where a check is in its life, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Queued (or waiting for a retry).
    Pending,
    /// Claimed by a worker under a lease.
    Running,
    /// Done: its result is stored.
    Complete,
    /// Failed for good: its error is stored.
    Failed,
}

impl CheckState {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Pending => "pending",
            CheckState::Running => "running",
            CheckState::Complete => "complete",
            CheckState::Failed => "failed",
        }
    }

    /// The state a stored word names.
    pub fn parse(word: &str) -> Option<Self> {
        [
            CheckState::Pending,
            CheckState::Running,
            CheckState::Complete,
            CheckState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }

    /// As the API shows it: a running check is still `pending` to its client.
    pub fn public(self) -> Self {
        match self {
            CheckState::Running => CheckState::Pending,
            other => other,
        }
    }

    /// Whether the check is finished (complete or failed).
    pub fn is_final(self) -> bool {
        matches!(self, CheckState::Complete | CheckState::Failed)
    }
}

impl std::fmt::Display for CheckState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CheckRecord {
    /// The API view (`running` shows as `pending`; the error only once failed).
    pub fn to_api(&self) -> CheckResource {
        let status = self.status.public().as_str();
        CheckResource {
            id: self.id.clone(),
            client_id: self.client_id.clone(),
            kind: self.kind.clone(),
            live_video_id: self.live_video_id.clone(),
            live_photo_id: self.live_photo_id.clone(),
            status: status.to_string(),
            result: self.result.clone(),
            error: if self.status == CheckState::Failed {
                self.error.clone()
            } else {
                None
            },
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            completed_at: self.completed_at.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_states_round_trip_and_running_shows_as_pending() {
        for s in [
            CheckState::Pending,
            CheckState::Running,
            CheckState::Complete,
            CheckState::Failed,
        ] {
            assert_eq!(CheckState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_ne!(s.public(), CheckState::Running);
        }
        assert_eq!(CheckState::parse("done"), None);
        assert!(CheckState::Failed.is_final() && !CheckState::Running.is_final());
    }
}
