//! Issued challenges: stored when drawn, fetched by their account, and consumed by exactly
//! one Live Video upload, in the same transaction as that Live Video's record.

use super::live_videos::insert_query;
use super::*;

const ISSUED_CHALLENGES: Table = Table {
    name: "issued_challenges",
    columns: "id, account_id, client_id, language, challenges, expires_at, expires_at_ms, \
        used_at, live_video_id, created_at",
};

/// Why an upload could not consume an issued challenge.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// No such challenge in the account.
    #[error("no such challenge in this account")]
    NotFound,
    /// Another upload consumed it.
    #[error("the challenge was already used by another Live Video")]
    Used,
    /// Its time ran out.
    #[error("the challenge expired at {0}")]
    Expired(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ConsumeError {
    fn from(e: sqlx::Error) -> Self {
        ConsumeError::Store(e.into())
    }
}

impl Store {
    /// Stores newly drawn challenges.
    pub async fn insert_issued_challenge(
        &self,
        c: &IssuedChallengeRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issued_challenges (id, account_id, client_id, language, challenges, \
             expires_at, expires_at_ms, used_at, live_video_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&c.id)
        .bind(&c.account_id)
        .bind(&c.client_id)
        .bind(&c.language)
        .bind(c.challenges.to_string())
        .bind(&c.expires_at)
        .bind(c.expires_at_ms)
        .bind(&c.used_at)
        .bind(&c.live_video_id)
        .bind(&c.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One of the account's issued challenges.
    pub async fn issued_challenge(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<IssuedChallengeRecord>, StoreError> {
        self.fetch_owned(&ISSUED_CHALLENGES, account_id, id, challenge_from_row)
            .await
    }

    /// Stores a Live Video record that consumes the issued challenge `challenge_id` (its
    /// `challenge_id`), both in one transaction: the challenge is marked used only if it is
    /// the account's, unused and unexpired at `now_ms`, and the record is stored only if it
    /// was. Of any number of concurrent uploads with one challenge, exactly one succeeds.
    pub async fn insert_live_video_consuming(
        &self,
        v: &LiveVideoRecord,
        challenge_id: &str,
        now_ms: i64,
    ) -> Result<(), ConsumeError> {
        let mut tx = self.begin_write().await?;
        let consumed = sqlx::query(
            "UPDATE issued_challenges SET used_at = $1, live_video_id = $2 \
             WHERE account_id = $3 AND id = $4 AND used_at IS NULL AND expires_at_ms > $5",
        )
        .bind(&v.created_at)
        .bind(&v.id)
        .bind(&v.account_id)
        .bind(challenge_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if consumed != 1 {
            tx.rollback().await?;
            return Err(
                match self.issued_challenge(&v.account_id, challenge_id).await? {
                    None => ConsumeError::NotFound,
                    Some(c) if c.used_at.is_some() => ConsumeError::Used,
                    Some(c) => ConsumeError::Expired(c.expires_at),
                },
            );
        }
        insert_query(v).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn challenge_from_row(r: &AnyRow) -> Result<IssuedChallengeRecord, StoreError> {
    Ok(IssuedChallengeRecord {
        id: r.get("id"),
        account_id: r.get("account_id"),
        client_id: r.get("client_id"),
        language: r.get("language"),
        challenges: json_column(Some(r.get("challenges")), "challenges")?.unwrap_or_default(),
        expires_at: r.get("expires_at"),
        expires_at_ms: r.get("expires_at_ms"),
        used_at: r.get("used_at"),
        live_video_id: r.get("live_video_id"),
        created_at: r.get("created_at"),
    })
}
