//! The API's views of the stored records (ComplyCube's camelCase resource shapes) and the
//! webhook payload built from a check's view.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{
    CheckRecord, CheckState, IssuedChallengeRecord, LivePhotoRecord, LiveVideoRecord,
};

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
    /// The issued challenge it was uploaded with (its challenges are this video's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
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
            challenge_id: self.challenge_id.clone(),
        }
    }
}

/// Challenges the service drew for one recording, as the API shows them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeResource {
    /// Id: upload the recording with `challengeId` set to it.
    pub id: String,
    /// The client they were drawn for (the upload must name the same).
    pub client_id: String,
    /// Language of the voice challenge.
    pub language: String,
    /// The challenges to perform (`[{type, value}]`), as a Live Video holds them.
    #[schema(value_type = Vec<Object>)]
    pub challenges: serde_json::Value,
    /// After this time (RFC 3339) an upload with them is refused (422 `challenge_expired`).
    pub expires_at: String,
    /// When an upload used them (each serves one upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<String>,
    /// The Live Video that used them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_video_id: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

impl IssuedChallengeRecord {
    /// The API view.
    pub fn to_api(&self) -> ChallengeResource {
        ChallengeResource {
            id: self.id.clone(),
            client_id: self.client_id.clone(),
            language: self.language.clone(),
            challenges: self.challenges.clone(),
            expires_at: self.expires_at.clone(),
            used_at: self.used_at.clone(),
            live_video_id: self.live_video_id.clone(),
            created_at: self.created_at.clone(),
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
    #[schema(value_type = super::api::CheckStatus)]
    pub status: CheckState,
    /// Once complete: `{outcome, breakdown}`; `outcome` is ComplyCube's `clear`/`attention`,
    /// `breakdown` the full report (whose own `outcome` may be the sharper `rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Box<serde_json::value::RawValue>>,
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

impl CheckRecord {
    /// The API view (`running` shows as `pending`; the error only once failed).
    pub fn to_api(&self) -> CheckResource {
        CheckResource {
            id: self.id.clone(),
            client_id: self.client_id.clone(),
            kind: self.kind.clone(),
            live_video_id: self.live_video_id.clone(),
            live_photo_id: self.live_photo_id.clone(),
            status: self.status.public(),
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

/// The body posted to a webhook when a check finishes: `{"type": "check.complete" or
/// "check.failed", "data": the check as `GET /v1/checks/{id}` shows it}`.
pub fn webhook_payload(check: &CheckRecord) -> serde_json::Value {
    serde_json::json!({
        "type": format!("check.{}", check.status),
        "data": check.to_api(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: CheckState) -> CheckRecord {
        CheckRecord {
            id: "c1".into(),
            account_id: "a1".into(),
            client_id: "client".into(),
            kind: "liveness_video_check".into(),
            live_video_id: Some("v1".into()),
            live_photo_id: None,
            status,
            result: None,
            error: Some(serde_json::json!({"type": "invalid_media", "message": "m"})),
            max_attempts: 3,
            created_at: "2026-11-30T00:00:00.000Z".into(),
            updated_at: "2026-11-30T00:00:01.000Z".into(),
            completed_at: None,
        }
    }

    #[test]
    fn the_webhook_carries_the_checks_api_view() {
        let body = webhook_payload(&check(CheckState::Failed));
        assert_eq!(body["type"], "check.failed");
        assert_eq!(body["data"]["status"], "failed");
        assert_eq!(body["data"]["type"], "liveness_video_check");
        assert_eq!(body["data"]["error"]["type"], "invalid_media");
        assert!(
            body["data"].get("accountId").is_none(),
            "no internal fields"
        );
        // A running check shows as pending, without the error of an earlier attempt.
        let view = check(CheckState::Running).to_api();
        assert_eq!((view.status, view.error), (CheckState::Pending, None));
    }
}
