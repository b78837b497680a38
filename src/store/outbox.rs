//! The webhook outbox: deliveries queued in the transaction that finishes a check (with
//! their payload), claimed with a lease by any process, finished or retried.

use super::checks::{check_from_row, CHECKS};
use super::*;

impl Store {
    /// Claims a webhook delivery that is due (pending, or in flight with an expired lease).
    pub async fn claim_delivery(
        &self,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until = $1, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM webhook_deliveries WHERE status = 'pending' \
             AND next_attempt_at <= $2 AND lease_until < $2 ORDER BY next_attempt_at, created_at, id LIMIT 1 {lock}) \
             RETURNING id, url, secret, payload, attempts"
        );
        let row = sqlx::query(audited(&sql))
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| WebhookDelivery {
            id: r.get("id"),
            url: r.get("url"),
            secret: r.get("secret"),
            payload: r.get("payload"),
            attempts: r.get("attempts"),
        }))
    }

    /// Records the result of one delivery attempt: delivered, retried at `retry_at`, or given
    /// up (`retry_at` None after a failure).
    pub async fn finish_delivery(
        &self,
        id: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let status = match (error, retry_at) {
            (None, _) => "delivered",
            (Some(_), Some(_)) => "pending",
            (Some(_), None) => "failed",
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, last_error = $3, next_attempt_at = $4, \
             lease_until = 0, delivered_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(error)
        .bind(retry_at.unwrap_or(0))
        .bind(if error.is_none() {
            Some(now_text())
        } else {
            None
        })
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deliveries of one check (for tests and operators): `(status, attempts, last_error)`.
    #[cfg(test)]
    pub async fn deliveries_of(
        &self,
        check_id: &str,
    ) -> Result<Vec<(String, i64, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, attempts, last_error FROM webhook_deliveries WHERE check_id = $1",
        )
        .bind(check_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("status"), r.get("attempts"), r.get("last_error")))
            .collect())
    }
}

/// Queues a finished check's webhook for every hook of its account, inside the transaction
/// that finished it (so a result is never stored without its notification), with the body
/// `payload` makes of the finished check.
pub(super) async fn enqueue_webhooks(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account_id: &str,
    check_id: &str,
    now: &str,
    payload: WebhookPayload,
) -> Result<(), StoreError> {
    let hooks = sqlx::query(
        "SELECT webhook_url, webhook_secret FROM api_keys WHERE account_id = $1 \
         AND webhook_url IS NOT NULL",
    )
    .bind(account_id)
    .fetch_all(&mut **tx)
    .await?;
    if hooks.is_empty() {
        return Ok(());
    }
    let check_sql = format!("SELECT {} FROM checks WHERE id = $1", CHECKS.columns);
    let check_row = sqlx::query(audited(&check_sql))
        .bind(check_id)
        .fetch_one(&mut **tx)
        .await?;
    let check = check_from_row(&check_row)?;
    let payload = payload(&check).to_string();
    for h in hooks {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, account_id, check_id, url, secret, payload, \
             status, attempts, next_attempt_at, lease_until, last_error, created_at, \
             delivered_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, 0, 0, NULL, $7, NULL)",
        )
        .bind(new_id())
        .bind(account_id)
        .bind(check_id)
        .bind(h.get::<String, _>("webhook_url"))
        .bind(
            h.get::<Option<String>, _>("webhook_secret")
                .unwrap_or_default(),
        )
        .bind(&payload)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
