//! Live Photo records: insert, fetch, list, redact, delete.

use super::redaction::erase_media;
use super::*;

const LIVE_PHOTOS: Table = Table {
    name: "live_photos",
    columns: "id, account_id, client_id, perform_liveness_check, \
        media_key, content_type, size, sha256, inspections, redacted, created_at, updated_at",
};

impl Store {
    /// Stores a new Live Photo record.
    pub async fn insert_live_photo(&self, p: &LivePhotoRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO live_photos (id, account_id, client_id, perform_liveness_check, media_key, \
             content_type, size, sha256, inspections, redacted, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&p.id)
        .bind(&p.account_id)
        .bind(&p.client_id)
        .bind(i64::from(p.perform_liveness_check))
        .bind(&p.media_key)
        .bind(&p.content_type)
        .bind(p.size)
        .bind(&p.sha256)
        .bind(p.inspections.as_ref().map(|v| v.to_string()))
        .bind(i64::from(p.redacted))
        .bind(&p.created_at)
        .bind(&p.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One of the account's Live Photos.
    pub async fn live_photo(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<LivePhotoRecord>, StoreError> {
        self.fetch_owned(&LIVE_PHOTOS, account_id, id, live_photo_from_row)
            .await
    }

    /// A page of the account's Live Photos, newest first.
    pub async fn list_live_photos(
        &self,
        account_id: &str,
        q: &ListQuery,
    ) -> Result<Page<LivePhotoRecord>, StoreError> {
        self.page_of(&LIVE_PHOTOS, account_id, q, live_photo_from_row)
            .await
    }

    /// Erases a Live Photo's media reference and marks it redacted (its inspections, which
    /// hold measurements and no picture, stay). Returns the media key to delete, or `None`
    /// when the photo does not exist in this account.
    pub async fn redact_live_photo(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let key = erase_media(&mut tx, "live_photos", account_id, id).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Deletes a Live Photo record; returns its media key or `None` when absent.
    pub async fn delete_live_photo(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        self.delete_owned("live_photos", account_id, id).await
    }
}

fn live_photo_from_row(r: &AnyRow) -> Result<LivePhotoRecord, StoreError> {
    Ok(LivePhotoRecord {
        id: r.get("id"),
        account_id: r.get("account_id"),
        client_id: r.get("client_id"),
        perform_liveness_check: r.get::<i64, _>("perform_liveness_check") != 0,
        media_key: r.get("media_key"),
        content_type: r.get("content_type"),
        size: r.get("size"),
        sha256: r.get("sha256"),
        inspections: json_column(r.get("inspections"), "inspections")?,
        redacted: r.get::<i64, _>("redacted") != 0,
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    })
}
