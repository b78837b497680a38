//! API keys: created with a random secret shown once, stored as a sha256, looked up by it.

use super::*;

impl Store {
    /// Creates an API key (in a new account unless `account_id` is given) and returns the key
    /// itself, which is shown once and stored only as a hash.
    pub async fn create_key(
        &self,
        account_id: Option<&str>,
        webhook_url: Option<&str>,
    ) -> Result<(String, ApiKey), StoreError> {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let key = format!("live_{}", hex::encode(secret));
        let webhook_secret = webhook_url.map(|_| format!("whsec_{}", new_id()));
        let record = ApiKey {
            id: new_id(),
            account_id: account_id.map_or_else(new_id, str::to_string),
            webhook_url: webhook_url.map(str::to_string),
            webhook_secret,
            created_at: now_text(),
        };
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, key_hash, webhook_url, webhook_secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.id)
        .bind(&record.account_id)
        .bind(hash_key(&key))
        .bind(&record.webhook_url)
        .bind(&record.webhook_secret)
        .bind(&record.created_at)
        .execute(&self.pool)
        .await?;
        Ok((key, record))
    }

    /// The key record a presented key belongs to, if any.
    pub async fn find_key(&self, key: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, account_id, webhook_url, webhook_secret, created_at FROM api_keys \
             WHERE key_hash = $1",
        )
        .bind(hash_key(key))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| ApiKey {
            id: r.get("id"),
            account_id: r.get("account_id"),
            webhook_url: r.get("webhook_url"),
            webhook_secret: r.get("webhook_secret"),
            created_at: r.get("created_at"),
        }))
    }
}
