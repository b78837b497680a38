//! The service's records: API keys, Live Videos, Live Photos, Checks (which are also the job
//! queue) and webhook deliveries, in SQLite (embedded, the default) or PostgreSQL (many
//! workers), through one set of SQL statements; media bytes live in a [`media::MediaStore`].
//!
//! Every read and write that a client can cause takes the caller's account id, so one
//! account's objects are invisible to another. Jobs are claimed atomically
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer otherwise) with a lease that
//! a live worker renews; a row whose lease ran out is claimed again, up to `max_attempts`.
//!
//! One file per record type: `keys`, `live_videos`, `live_photos`, `checks` (the job queue and
//! its retry policy), `outbox` (webhook deliveries and their payload) and `redaction`; this
//! file holds the connection, the schema, and the fetch, list and delete helpers they share.

mod challenges;
mod checks;
mod keys;
mod live_photos;
mod live_videos;
pub mod media;
mod outbox;
pub mod records;
mod redaction;

use crate::report::{Classify, ErrorClass};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use challenges::ConsumeError;
pub use checks::JobFailure;
use checks::CHECKS;
pub use records::*;
pub use redaction::redact_voice_evidence;

/// Makes the body of a finished check's webhook (the service decides its shape; the store
/// queues it in the transaction that finishes the check).
pub type WebhookPayload = fn(&CheckRecord) -> serde_json::Value;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no (connection, SQL, constraint).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database URL is not one we speak.
    #[error("unsupported database URL {0:?} (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    /// A stored JSON column does not parse (a bug or a hand-edited row).
    #[error("stored {what} is not valid JSON: {message}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// The parser's words.
        message: String,
    },
}

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The service's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

/// Milliseconds since the Unix epoch (lease and retry clocks).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The current time as stored and shown: RFC 3339, UTC, milliseconds (sorts as text).
pub fn now_text() -> String {
    format_time(chrono::Utc::now())
}

/// A time as stored and shown (`report::time`'s form, which the reports use too).
pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    crate::report::time::format_ms(t.timestamp_millis())
}

/// An unguessable id: 128 random bits from the OS, as 32 hex digits.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored form of an API key: its sha256 (keys are 256 random bits, so a plain hash is
/// enough to make a leaked database useless for calling the API).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Tables and indexes, written once for both dialects (`BIGINT` and `TEXT` only).
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, \
     key_hash TEXT NOT NULL UNIQUE, webhook_url TEXT, webhook_secret TEXT, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS live_videos (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, \
     client_id TEXT NOT NULL, language TEXT NOT NULL, challenges TEXT NOT NULL, \
     mirrored BIGINT NOT NULL, media_key TEXT, content_type TEXT NOT NULL, size BIGINT NOT NULL, \
     sha256 TEXT NOT NULL, duration_ms BIGINT, redacted BIGINT NOT NULL, \
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS live_videos_account ON live_videos (account_id, created_at)",
    "CREATE TABLE IF NOT EXISTS live_photos (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, \
     client_id TEXT NOT NULL, perform_liveness_check BIGINT NOT NULL, media_key TEXT, \
     content_type TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL, inspections TEXT, \
     redacted BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS live_photos_account ON live_photos (account_id, created_at)",
    "CREATE TABLE IF NOT EXISTS checks (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, \
     client_id TEXT NOT NULL, kind TEXT NOT NULL, live_video_id TEXT, live_photo_id TEXT, \
     status TEXT NOT NULL, result TEXT, error TEXT, attempts BIGINT NOT NULL, \
     max_attempts BIGINT NOT NULL, lease_until BIGINT NOT NULL, run_after BIGINT NOT NULL, \
     worker TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, completed_at TEXT)",
    "CREATE INDEX IF NOT EXISTS checks_account ON checks (account_id, created_at)",
    "CREATE INDEX IF NOT EXISTS checks_queue ON checks (status, run_after)",
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, \
     check_id TEXT NOT NULL, url TEXT NOT NULL, secret TEXT NOT NULL, payload TEXT NOT NULL, \
     status TEXT NOT NULL, attempts BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL, \
     lease_until BIGINT NOT NULL, last_error TEXT, created_at TEXT NOT NULL, delivered_at TEXT)",
    "CREATE INDEX IF NOT EXISTS webhook_queue ON webhook_deliveries (status, next_attempt_at)",
    "CREATE TABLE IF NOT EXISTS issued_challenges (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, \
     client_id TEXT NOT NULL, language TEXT NOT NULL, challenges TEXT NOT NULL, \
     expires_at TEXT NOT NULL, expires_at_ms BIGINT NOT NULL, used_at TEXT, live_video_id TEXT, \
     created_at TEXT NOT NULL)",
];

/// Text columns added to tables after they were first made: (table, column).
/// `live_videos.challenge_id`: the issued challenges an upload used; `checks.claimed_from`:
/// the state a check was claimed from (`running` when its previous lease ran out).
const ADDED_COLUMNS: &[(&str, &str)] =
    &[("live_videos", "challenge_id"), ("checks", "claimed_from")];

/// A table an account owns rows of, with the columns its records are read from.
struct Table {
    name: &'static str,
    columns: &'static str,
}

/// A filter and page for list endpoints.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only this client's objects.
    pub client_id: Option<String>,
    /// Only checks in this status.
    pub status: Option<String>,
    /// Only checks of this type.
    pub kind: Option<String>,
    /// Created strictly after (stored time format).
    pub created_after: Option<String>,
    /// Created strictly before.
    pub created_before: Option<String>,
    /// Updated strictly after.
    pub updated_after: Option<String>,
    /// Updated strictly before.
    pub updated_before: Option<String>,
    /// 1-based page.
    pub page: i64,
    /// Items per page.
    pub page_size: i64,
}

impl ListQuery {
    /// `WHERE` clauses (after `account_id = $1`) and their text arguments.
    fn clauses(&self, allow_check_fields: bool) -> (String, Vec<String>) {
        let mut sql = String::from("account_id = $1");
        let mut args: Vec<String> = Vec::new();
        let mut add = |sql: &mut String, column: &str, op: &str, value: &Option<String>| {
            if let Some(v) = value {
                args.push(v.clone());
                sql.push_str(&format!(" AND {column} {op} ${}", args.len() + 1));
            }
        };
        add(&mut sql, "client_id", "=", &self.client_id);
        add(&mut sql, "created_at", ">", &self.created_after);
        add(&mut sql, "created_at", "<", &self.created_before);
        add(&mut sql, "updated_at", ">", &self.updated_after);
        add(&mut sql, "updated_at", "<", &self.updated_before);
        if allow_check_fields {
            // The API's `pending` covers queued and running checks.
            match self.status.as_deref() {
                Some("pending") => sql.push_str(" AND status IN ('pending', 'running')"),
                _ => add(&mut sql, "status", "=", &self.status),
            }
            add(&mut sql, "kind", "=", &self.kind);
        }
        (sql, args)
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// Items matching the filter, on all pages.
    pub total: i64,
}

impl Store {
    /// Connects (creating an SQLite file if needed) and brings the schema up to date.
    /// `url`: `sqlite://PATH` or `postgres://...`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            (Dialect::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let options = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 8 })
            .acquire_timeout(std::time::Duration::from_secs(10));
        let options = if dialect == Dialect::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(&url).await?;
        let store = Self { pool, dialect };
        store.migrate().await?;
        Ok(store)
    }

    /// A transaction that writes. On SQLite it takes the write lock when it starts (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
    /// "database is locked" when another writer committed in between (the busy timeout does
    /// not apply to that upgrade), while an immediate one waits its turn.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }

    /// Whether the database answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Postgres {
            // Many processes may start at once: one migrates, the others wait.
            sqlx::query("SELECT pg_advisory_xact_lock(7283451)")
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&mut *tx)
                .await
                .ok();
        }
        for statement in SCHEMA {
            sqlx::query(*statement).execute(&mut *tx).await?;
        }
        // Columns added since a table was first made (SQLite has no ADD COLUMN IF NOT EXISTS).
        for (table, column) in ADDED_COLUMNS {
            let present = match self.dialect {
                Dialect::Sqlite => {
                    sqlx::query(audited(&format!(
                        "SELECT COUNT(*) AS n FROM pragma_table_info('{table}') \
                         WHERE name = '{column}'"
                    )))
                    .fetch_one(&mut *tx)
                    .await?
                    .get::<i64, _>("n")
                        > 0
                }
                Dialect::Postgres => false,
            };
            if !present {
                let exists = if self.dialect == Dialect::Postgres {
                    "IF NOT EXISTS "
                } else {
                    ""
                };
                sqlx::query(audited(&format!(
                    "ALTER TABLE {table} ADD COLUMN {exists}{column} TEXT"
                )))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A stored setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get::<String, _>("value")))
    }

    /// Stores a setting (insert or replace).
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One row of `table` in an account, decoded.
    async fn fetch_owned<T>(
        &self,
        table: &Table,
        account_id: &str,
        id: &str,
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE account_id = $1 AND id = $2",
            table.columns, table.name
        );
        let row = sqlx::query(audited(&sql))
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// A page of `table` in an account, decoded (status and type filters apply to checks).
    async fn page_of<T>(
        &self,
        table: &Table,
        account_id: &str,
        q: &ListQuery,
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let (rows, total) = self
            .list_rows(
                table.name,
                table.columns,
                account_id,
                q,
                table.name == CHECKS.name,
            )
            .await?;
        Ok(Page {
            items: rows.iter().map(decode).collect::<Result<_, _>>()?,
            total,
        })
    }

    /// Deletes one row of `table` in an account; returns its media key, or `None` when absent.
    async fn delete_owned(
        &self,
        table: &str,
        account_id: &str,
        id: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let sql =
            format!("DELETE FROM {table} WHERE account_id = $1 AND id = $2 RETURNING media_key");
        let row = sqlx::query(audited(&sql))
            .bind(account_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get("media_key")))
    }

    async fn list_rows(
        &self,
        table: &str,
        columns: &str,
        account_id: &str,
        q: &ListQuery,
        check_fields: bool,
    ) -> Result<(Vec<AnyRow>, i64), StoreError> {
        let (clauses, args) = q.clauses(check_fields);
        let count_sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {clauses}");
        let mut count = sqlx::query(audited(&count_sql)).bind(account_id);
        for a in &args {
            count = count.bind(a);
        }
        let total: i64 = count.fetch_one(&self.pool).await?.get("n");
        let n = args.len() + 2;
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {clauses} ORDER BY created_at DESC, id \
             LIMIT ${n} OFFSET ${}",
            n + 1
        );
        let mut query = sqlx::query(audited(&sql)).bind(account_id);
        for a in &args {
            query = query.bind(a);
        }
        let rows = query
            .bind(q.page_size)
            .bind((q.page - 1).max(0) * q.page_size)
            .fetch_all(&self.pool)
            .await?;
        Ok((rows, total))
    }
}

/// Marks SQL assembled in this module as safe: only constant column lists, table names and
/// numbered placeholders are ever formatted in; every value is bound.
fn audited(sql: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.to_string())
}

/// A JSON text column as checked, unparsed JSON (see `json_column`).
fn raw_json_column(
    text: Option<String>,
    what: &'static str,
) -> Result<Option<Box<serde_json::value::RawValue>>, StoreError> {
    text.map(|t| {
        serde_json::value::RawValue::from_string(t).map_err(|e| StoreError::Corrupt {
            what,
            message: e.to_string(),
        })
    })
    .transpose()
}

fn json_column(
    text: Option<String>,
    what: &'static str,
) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
            what,
            message: e.to_string(),
        })
    })
    .transpose()
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Database(_) => ErrorClass::ServiceUnavailable,
            StoreError::UnsupportedUrl(_) => ErrorClass::Usage,
            StoreError::Corrupt { .. } => ErrorClass::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A webhook body for the tests (the service's own shape is `server::views`).
    fn payload(check: &CheckRecord) -> serde_json::Value {
        serde_json::json!({"type": format!("check.{}", check.status), "id": check.id})
    }

    #[test]
    fn ids_are_long_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn list_clauses_number_their_arguments() {
        let q = ListQuery {
            client_id: Some("c".into()),
            created_after: Some("2026".into()),
            status: Some("complete".into()),
            ..Default::default()
        };
        let (sql, args) = q.clauses(true);
        assert_eq!(
            sql,
            "account_id = $1 AND client_id = $2 AND created_at > $3 AND status = $4"
        );
        assert_eq!(args, vec!["c", "2026", "complete"]);
        let pending = ListQuery {
            status: Some("pending".into()),
            ..Default::default()
        };
        assert!(pending
            .clauses(true)
            .0
            .contains("IN ('pending', 'running')"));
        // Check-only fields are ignored for other tables.
        assert_eq!(q.clauses(false).1.len(), 2);
    }

    #[test]
    fn redaction_blanks_voice_evidence_only() {
        let mut v = serde_json::json!({"breakdown": {"challenges": [
            {"type": "voice", "evidence": {"transcript": "seven nine"},
             "reasons": [{"code": "x", "message": "transcript \"seven nine\" differs"}]},
            {"type": "actions", "evidence": {"performed": []}}
        ]}});
        redact_voice_evidence(&mut v);
        assert_eq!(
            v["breakdown"]["challenges"][0]["reasons"][0]["message"],
            "[redacted]"
        );
        assert_eq!(
            v["breakdown"]["challenges"][0]["evidence"]["redacted"],
            true
        );
        assert!(v.to_string().find("seven").is_none());
        assert!(v["breakdown"]["challenges"][1]["evidence"]["performed"].is_array());
    }

    /// Read-then-write transactions (redaction) racing other writers wait their turn on
    /// SQLite instead of failing with "database is locked" (schemathesis met that as a 503).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_read_then_write_transactions_wait_for_other_writers() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = Store::open(&url).await.unwrap();
        let (_, key) = store.create_key(None, None).await.unwrap();
        let photo = |i: usize| LivePhotoRecord {
            id: format!("p{i}"),
            account_id: key.account_id.clone(),
            client_id: "client".into(),
            perform_liveness_check: false,
            media_key: Some(format!("k{i}")),
            content_type: "image/jpeg".into(),
            size: 1,
            sha256: String::new(),
            inspections: None,
            redacted: false,
            created_at: now_text(),
            updated_at: now_text(),
        };
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..8 {
            let store = store.clone();
            let account = key.account_id.clone();
            let records: Vec<LivePhotoRecord> = (0..40).map(|i| photo(t * 1000 + i)).collect();
            tasks.spawn(async move {
                for (i, r) in records.iter().enumerate() {
                    store.insert_live_photo(r).await?;
                    if i > 0 {
                        store
                            .redact_live_photo(&account, &records[i - 1].id)
                            .await?;
                    }
                }
                Ok::<_, StoreError>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn sqlite_claims_each_job_once_and_reclaims_expired_leases() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = Store::open(&url).await.unwrap();
        let (_, key) = store.create_key(None, None).await.unwrap();
        let now = now_text();
        let check = CheckRecord {
            id: new_id(),
            account_id: key.account_id.clone(),
            client_id: "client".into(),
            kind: "liveness_video_check".into(),
            live_video_id: Some("v".into()),
            live_photo_id: None,
            status: CheckState::Pending,
            result: None,
            error: None,
            max_attempts: 2,
            created_at: now.clone(),
            updated_at: now,
            completed_at: None,
        };
        store.insert_check(&check).await.unwrap();
        let t = now_ms();
        let a = store.claim_check("a", t, 1000).await.unwrap().unwrap();
        assert_eq!(a.attempts, 1);
        assert!(!a.reclaimed, "claimed from the queue");
        assert!(store.claim_check("b", t, 1000).await.unwrap().is_none());
        // Worker a dies; after its lease b takes the job over, and a's late result is dropped.
        let b = store
            .claim_check("b", t + 2000, 1000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.attempts, 2);
        assert!(b.reclaimed, "taken over after a's lease ran out");
        assert!(!store
            .complete_check(&a, "a", Ok(serde_json::json!({"x": 1})), payload)
            .await
            .unwrap());
        assert!(store
            .complete_check(&b, "b", Ok(serde_json::json!({"x": 2})), payload)
            .await
            .unwrap());
        let done = store
            .check(&key.account_id, &check.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.status, CheckState::Complete);
        let result: serde_json::Value = serde_json::from_str(done.result.unwrap().get()).unwrap();
        assert_eq!(result["x"], 2);
        // Another account sees nothing.
        assert!(store.check("other", &check.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_check_whose_worker_dies_every_time_fails_and_notifies() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = Store::open(&url).await.unwrap();
        let (_, key) = store
            .create_key(None, Some("http://127.0.0.1:9/hook"))
            .await
            .unwrap();
        let now = now_text();
        let check = CheckRecord {
            id: new_id(),
            account_id: key.account_id.clone(),
            client_id: "client".into(),
            kind: "liveness_video_check".into(),
            live_video_id: Some("v".into()),
            live_photo_id: None,
            status: CheckState::Pending,
            result: None,
            error: None,
            max_attempts: 1,
            created_at: now.clone(),
            updated_at: now,
            completed_at: None,
        };
        store.insert_check(&check).await.unwrap();
        let t = now_ms();
        store.claim_check("a", t, 1000).await.unwrap().unwrap();
        // Lease out, no attempts left: nobody may claim it, the sweep fails it.
        assert!(store
            .claim_check("b", t + 5000, 1000)
            .await
            .unwrap()
            .is_none());
        assert_eq!(store.fail_exhausted(t + 5000, payload).await.unwrap(), 1);
        let failed = store
            .check(&key.account_id, &check.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.status, CheckState::Failed);
        assert_eq!(failed.to_api().error.unwrap()["type"], "internal_error");
        let deliveries = store.deliveries_of(&check.id).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].0, "pending");
    }
}
