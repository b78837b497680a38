//! Live Video records: insert, fetch, list, redact (with the transcripts in its checks), delete.

use super::redaction::erase_media;
use super::*;

const LIVE_VIDEOS: Table = Table {
    name: "live_videos",
    columns: "id, account_id, client_id, language, challenges, \
        mirrored, media_key, content_type, size, sha256, duration_ms, redacted, created_at, updated_at, \
        challenge_id",
};

/// The insert of a Live Video record, to run on the pool or in a transaction.
pub(super) fn insert_query(
    v: &LiveVideoRecord,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "INSERT INTO live_videos (id, account_id, client_id, language, challenges, mirrored, \
         media_key, content_type, size, sha256, duration_ms, redacted, created_at, updated_at, \
         challenge_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&v.id)
    .bind(&v.account_id)
    .bind(&v.client_id)
    .bind(&v.language)
    .bind(v.challenges.to_string())
    .bind(i64::from(v.mirrored))
    .bind(&v.media_key)
    .bind(&v.content_type)
    .bind(v.size)
    .bind(&v.sha256)
    .bind(v.duration_ms)
    .bind(i64::from(v.redacted))
    .bind(&v.created_at)
    .bind(&v.updated_at)
    .bind(&v.challenge_id)
}

impl Store {
    /// Stores a new Live Video record.
    pub async fn insert_live_video(&self, v: &LiveVideoRecord) -> Result<(), StoreError> {
        insert_query(v).execute(&self.pool).await?;
        Ok(())
    }

    /// One of the account's Live Videos.
    pub async fn live_video(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<LiveVideoRecord>, StoreError> {
        self.fetch_owned(&LIVE_VIDEOS, account_id, id, live_video_from_row)
            .await
    }

    /// A page of the account's Live Videos, newest first.
    pub async fn list_live_videos(
        &self,
        account_id: &str,
        q: &ListQuery,
    ) -> Result<Page<LiveVideoRecord>, StoreError> {
        self.page_of(&LIVE_VIDEOS, account_id, q, live_video_from_row)
            .await
    }

    /// Erases a Live Video's media reference and marks it redacted; the transcripts of its
    /// checks' voice evidence are erased too. Returns the media key to delete, or `None` when
    /// the video does not exist in this account.
    pub async fn redact_live_video(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(media_key) = erase_media(&mut tx, "live_videos", account_id, id).await? else {
            return Ok(None);
        };
        let checks = sqlx::query(
            "SELECT id, result FROM checks WHERE account_id = $1 AND live_video_id = $2 \
             AND result IS NOT NULL",
        )
        .bind(account_id)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for check in checks {
            let text: String = check.get("result");
            let mut value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    what: "check result",
                    message: e.to_string(),
                })?;
            redact_voice_evidence(&mut value);
            sqlx::query("UPDATE checks SET result = $2, updated_at = $3 WHERE id = $1")
                .bind(check.get::<String, _>("id"))
                .bind(value.to_string())
                .bind(now_text())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(media_key))
    }

    /// Deletes a Live Video record; returns its media key (to delete) or `None` when absent.
    pub async fn delete_live_video(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        self.delete_owned("live_videos", account_id, id).await
    }
}

fn live_video_from_row(r: &AnyRow) -> Result<LiveVideoRecord, StoreError> {
    Ok(LiveVideoRecord {
        id: r.get("id"),
        account_id: r.get("account_id"),
        client_id: r.get("client_id"),
        language: r.get("language"),
        challenges: json_column(Some(r.get("challenges")), "challenges")?.unwrap_or_default(),
        mirrored: r.get::<i64, _>("mirrored") != 0,
        media_key: r.get("media_key"),
        content_type: r.get("content_type"),
        size: r.get("size"),
        sha256: r.get("sha256"),
        duration_ms: r.get("duration_ms"),
        redacted: r.get::<i64, _>("redacted") != 0,
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        challenge_id: r.get("challenge_id"),
    })
}
