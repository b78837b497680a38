//! Stored rows (the API shows them through `server::views`).

use serde::{Deserialize, Serialize};

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
    /// The issued challenge it was bound to (and consumed), when it came with one.
    pub challenge_id: Option<String>,
}

/// Challenges the service drew and handed out: bound to one Live Video upload, before they
/// expire.
#[derive(Debug, Clone)]
pub struct IssuedChallengeRecord {
    /// Id (32 random hex digits).
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// The client (person) they were drawn for.
    pub client_id: String,
    /// Language of the voice challenge.
    pub language: String,
    /// The drawn challenges, as JSON.
    pub challenges: serde_json::Value,
    /// When they stop being accepted (stored time format).
    pub expires_at: String,
    /// The same, in milliseconds since the epoch (what expiry is decided on).
    pub expires_at_ms: i64,
    /// When an upload consumed them.
    pub used_at: Option<String>,
    /// The Live Video that consumed them.
    pub live_video_id: Option<String>,
    /// Creation time.
    pub created_at: String,
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
    /// `{outcome, breakdown}` once complete, as stored: JSON text checked once when read,
    /// then written out verbatim (a page of checks is not parsed into trees and back).
    pub result: Option<Box<serde_json::value::RawValue>>,
    /// `{type, message}` of the last failure.
    pub error: Option<serde_json::Value>,
    /// Attempts allowed.
    pub max_attempts: i64,
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
    /// Whether it was taken over from a worker whose lease ran out (that worker died or
    /// stalled), rather than claimed from the queue.
    pub reclaimed: bool,
}

/// The check queue at one moment.
#[derive(Debug, Clone, Default)]
pub struct QueueState {
    /// Checks waiting for a worker.
    pub pending: i64,
    /// Checks a worker holds.
    pub running: i64,
    /// Creation time (RFC 3339) of the oldest waiting check.
    pub oldest_pending_created_at: Option<String>,
}

/// A claimed webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    /// Delivery id.
    pub id: String,
    /// Where to post.
    pub url: String,
    /// HMAC secret.
    pub secret: String,
    /// JSON body.
    pub payload: String,
    /// This attempt's number.
    pub attempts: i64,
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
