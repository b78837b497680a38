//! Checks, which are also the job queue: insert, fetch, list; claim with a lease, renew it,
//! complete once (only by the lease holder), retry with backoff, fail what every worker lost.

use super::outbox::enqueue_webhooks;
use super::*;

pub(super) const CHECKS: Table = Table {
    name: "checks",
    columns: "id, account_id, client_id, kind, live_video_id, \
        live_photo_id, status, result, error, attempts, max_attempts, worker, created_at, \
        updated_at, completed_at",
};

/// Why a job stopped without a result.
#[derive(Debug, Clone)]
pub struct JobFailure {
    /// Stable code (`invalid_media`, `timeout`, `internal_error`, ...).
    pub kind: String,
    /// What happened.
    pub message: String,
    /// Whether another attempt may succeed (the machine, not the input, failed).
    pub retryable: bool,
}

impl JobFailure {
    /// A failure of this class: its type, and retried when the class says another attempt
    /// may succeed.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            kind: class.error_type().into(),
            message: message.into(),
            retryable: class.retryable(),
        }
    }

    /// The failure a classified error makes.
    pub fn of(e: &(impl Classify + ?Sized)) -> Self {
        Self::new(e.class(), e.to_string())
    }
}

impl Store {
    /// Stores a new pending check (which is also the job).
    pub async fn insert_check(&self, c: &CheckRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checks (id, account_id, client_id, kind, live_video_id, live_photo_id, \
             status, result, error, attempts, max_attempts, lease_until, run_after, worker, \
             created_at, updated_at, completed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, 0, $8, 0, 0, NULL, $9, $10, NULL)",
        )
        .bind(&c.id)
        .bind(&c.account_id)
        .bind(&c.client_id)
        .bind(&c.kind)
        .bind(&c.live_video_id)
        .bind(&c.live_photo_id)
        .bind(c.status.as_str())
        .bind(c.max_attempts)
        .bind(&c.created_at)
        .bind(&c.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One of the account's checks.
    pub async fn check(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<CheckRecord>, StoreError> {
        self.fetch_owned(&CHECKS, account_id, id, check_from_row)
            .await
    }

    /// A page of the account's checks, newest first.
    pub async fn list_checks(
        &self,
        account_id: &str,
        q: &ListQuery,
    ) -> Result<Page<CheckRecord>, StoreError> {
        self.page_of(&CHECKS, account_id, q, check_from_row).await
    }

    /// Claims the oldest runnable check for `worker`: a pending one whose time has come, or a
    /// running one whose lease ran out (its worker died), with attempts left. The lease runs
    /// `lease_ms` from `now`.
    pub async fn claim_check(
        &self,
        worker: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<ClaimedCheck>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE checks SET claimed_from = status, status = 'running', worker = $1, \
             lease_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM checks WHERE attempts < max_attempts AND \
             ((status = 'pending' AND run_after <= $3) OR (status = 'running' AND lease_until < $3)) \
             ORDER BY created_at, id LIMIT 1 {lock}) \
             RETURNING id, account_id, kind, live_video_id, live_photo_id, attempts, max_attempts, \
             claimed_from"
        );
        let row = sqlx::query(audited(&sql))
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| ClaimedCheck {
            id: r.get("id"),
            account_id: r.get("account_id"),
            kind: r.get("kind"),
            live_video_id: r.get("live_video_id"),
            live_photo_id: r.get("live_photo_id"),
            attempts: r.get("attempts"),
            max_attempts: r.get("max_attempts"),
            reclaimed: r.get::<Option<String>, _>("claimed_from").as_deref() == Some("running"),
        }))
    }

    /// Hands a running check back to the queue at once (a worker shutting down): pending
    /// again, its lease cleared and the attempt not counted, so that another worker claims it
    /// now instead of after the lease. False when `worker` no longer holds it.
    pub async fn release_check(&self, id: &str, worker: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE checks SET status = 'pending', worker = NULL, lease_until = 0, run_after = 0, \
             attempts = attempts - 1, updated_at = $3 \
             WHERE id = $1 AND worker = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many checks wait and run, and when the oldest waiting one was created.
    pub async fn queue_state(&self) -> Result<QueueState, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(CASE WHEN status = 'pending' THEN 1 END) AS pending, \
             COUNT(CASE WHEN status = 'running' THEN 1 END) AS running, \
             MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest \
             FROM checks WHERE status IN ('pending', 'running')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueState {
            pending: row.get("pending"),
            running: row.get("running"),
            oldest_pending_created_at: row.get("oldest"),
        })
    }

    /// Marks as failed the checks whose lease ran out on their last attempt (their worker died
    /// every time). Returns how many.
    pub async fn fail_exhausted(
        &self,
        now: i64,
        payload: WebhookPayload,
    ) -> Result<u64, StoreError> {
        let stamp = now_text();
        let mut tx = self.begin_write().await?;
        let failed = sqlx::query(
            "UPDATE checks SET status = 'failed', updated_at = $2, completed_at = $2, \
             error = $3 WHERE status = 'running' AND lease_until < $1 AND attempts >= max_attempts \
             RETURNING id, account_id",
        )
        .bind(now)
        .bind(&stamp)
        .bind(
            serde_json::json!({"type": "internal_error",
                "message": "the worker running this check stopped on every attempt (worker lost)"})
            .to_string(),
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &failed {
            let (id, account): (String, String) = (row.get("id"), row.get("account_id"));
            enqueue_webhooks(&mut tx, &account, &id, &stamp, payload).await?;
        }
        tx.commit().await?;
        Ok(failed.len() as u64)
    }

    /// Extends a lease the worker still holds; false when it lost it.
    pub async fn renew_lease(
        &self,
        id: &str,
        worker: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE checks SET lease_until = $3 WHERE id = $1 AND worker = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a finished check's result (only if `worker` still holds it) and queues its
    /// webhook in the same transaction. False when the lease was lost (another worker owns
    /// the job now; this result is dropped so each check completes once).
    pub async fn complete_check(
        &self,
        claimed: &ClaimedCheck,
        worker: &str,
        outcome: Result<serde_json::Value, JobFailure>,
        payload: WebhookPayload,
    ) -> Result<bool, StoreError> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let (status, result, error, run_after) = match &outcome {
            Ok(result) => (CheckState::Complete, Some(result.to_string()), None, 0),
            Err(f) if f.retryable && claimed.attempts < claimed.max_attempts => {
                let backoff = 1000 * (1i64 << claimed.attempts.clamp(0, 8));
                let retry_at = now_ms() + backoff;
                (CheckState::Pending, None, Some(failure_json(f)), retry_at)
            }
            Err(f) => (CheckState::Failed, None, Some(failure_json(f)), 0),
        };
        let finished = status.is_final();
        let done = sqlx::query(
            "UPDATE checks SET status = $3, result = $4, error = $5, run_after = $6, \
             updated_at = $7, completed_at = $8, lease_until = 0 \
             WHERE id = $1 AND worker = $2 AND status = 'running'",
        )
        .bind(&claimed.id)
        .bind(worker)
        .bind(status.as_str())
        .bind(result)
        .bind(error)
        .bind(run_after)
        .bind(&now)
        .bind(if finished { Some(now.clone()) } else { None })
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if finished {
            enqueue_webhooks(&mut tx, &claimed.account_id, &claimed.id, &now, payload).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A Live Video for a worker (no account filter: the job already names the account).
    pub async fn live_video_for_job(
        &self,
        claimed: &ClaimedCheck,
    ) -> Result<Option<LiveVideoRecord>, StoreError> {
        match &claimed.live_video_id {
            Some(id) => self.live_video(&claimed.account_id, id).await,
            None => Ok(None),
        }
    }

    /// A Live Photo for a worker.
    pub async fn live_photo_for_job(
        &self,
        claimed: &ClaimedCheck,
    ) -> Result<Option<LivePhotoRecord>, StoreError> {
        match &claimed.live_photo_id {
            Some(id) => self.live_photo(&claimed.account_id, id).await,
            None => Ok(None),
        }
    }
}

fn failure_json(f: &JobFailure) -> String {
    serde_json::json!({"type": f.kind, "message": f.message}).to_string()
}

pub(super) fn check_from_row(r: &AnyRow) -> Result<CheckRecord, StoreError> {
    Ok(CheckRecord {
        id: r.get("id"),
        account_id: r.get("account_id"),
        client_id: r.get("client_id"),
        kind: r.get("kind"),
        live_video_id: r.get("live_video_id"),
        live_photo_id: r.get("live_photo_id"),
        status: {
            let word: String = r.get("status");
            CheckState::parse(&word).ok_or_else(|| StoreError::Corrupt {
                what: "check status",
                message: format!("unknown status {word:?}"),
            })?
        },
        result: raw_json_column(r.get("result"), "result")?,
        error: json_column(r.get("error"), "error")?,
        max_attempts: r.get("max_attempts"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        completed_at: r.get("completed_at"),
    })
}
