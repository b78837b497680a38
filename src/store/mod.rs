//! The service's records: API keys, Live Videos, Live Photos, Checks (which are also the job
//! queue) and webhook deliveries, in SQLite (embedded, the default) or PostgreSQL (many
//! workers), through one set of SQL statements; media bytes live in a [`media::MediaStore`].
//!
//! Every read and write that a client can cause takes the caller's account id, so one
//! account's objects are invisible to another. Jobs are claimed atomically
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer otherwise) with a lease that
//! a live worker renews; a row whose lease ran out is claimed again, up to `max_attempts`.

pub mod media;
pub mod records;

use crate::report::{Classify, ErrorClass};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use records::*;

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

/// A time as stored and shown.
pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
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
];

/// A table an account owns rows of, with the columns its records are read from.
struct Table {
    name: &'static str,
    columns: &'static str,
}

const LIVE_VIDEOS: Table = Table {
    name: "live_videos",
    columns: "id, account_id, client_id, language, challenges, \
        mirrored, media_key, content_type, size, sha256, duration_ms, redacted, created_at, updated_at",
};

const LIVE_PHOTOS: Table = Table {
    name: "live_photos",
    columns: "id, account_id, client_id, perform_liveness_check, \
        media_key, content_type, size, sha256, inspections, redacted, created_at, updated_at",
};

const CHECKS: Table = Table {
    name: "checks",
    columns: "id, account_id, client_id, kind, live_video_id, \
        live_photo_id, status, result, error, attempts, max_attempts, worker, created_at, \
        updated_at, completed_at",
};

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

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
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

    // ---------------------------------------------------------------- API keys

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

    // ---------------------------------------------------------------- Live Videos

    /// Stores a new Live Video record.
    pub async fn insert_live_video(&self, v: &LiveVideoRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO live_videos (id, account_id, client_id, language, challenges, mirrored, \
             media_key, content_type, size, sha256, duration_ms, redacted, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
        .execute(&self.pool)
        .await?;
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
        let mut tx = self.pool.begin().await?;
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

    // ---------------------------------------------------------------- Live Photos

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
        let mut tx = self.pool.begin().await?;
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

    // ---------------------------------------------------------------- Checks and jobs

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
            "UPDATE checks SET status = 'running', worker = $1, lease_until = $2, \
             attempts = attempts + 1 \
             WHERE id = (SELECT id FROM checks WHERE attempts < max_attempts AND \
             ((status = 'pending' AND run_after <= $3) OR (status = 'running' AND lease_until < $3)) \
             ORDER BY created_at, id LIMIT 1 {lock}) \
             RETURNING id, account_id, kind, live_video_id, live_photo_id, attempts, max_attempts"
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
        }))
    }

    /// Marks as failed the checks whose lease ran out on their last attempt (their worker died
    /// every time). Returns how many.
    pub async fn fail_exhausted(&self, now: i64) -> Result<u64, StoreError> {
        let stamp = now_text();
        let mut tx = self.pool.begin().await?;
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
            enqueue_webhooks(&mut tx, &account, &id, &stamp).await?;
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
    ) -> Result<bool, StoreError> {
        let now = now_text();
        let mut tx = self.pool.begin().await?;
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
            enqueue_webhooks(&mut tx, &claimed.account_id, &claimed.id, &now).await?;
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

    // ---------------------------------------------------------------- Webhooks

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
             RETURNING id, check_id, url, secret, payload, attempts"
        );
        let row = sqlx::query(audited(&sql))
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| WebhookDelivery {
            id: r.get("id"),
            check_id: r.get("check_id"),
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

/// Takes a row's media key and marks the row redacted, inside `tx`; None when the row is not
/// in the account.
async fn erase_media(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    account_id: &str,
    id: &str,
) -> Result<Option<Option<String>>, StoreError> {
    let select = format!("SELECT media_key FROM {table} WHERE account_id = $1 AND id = $2");
    let Some(row) = sqlx::query(audited(&select))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let update = format!(
        "UPDATE {table} SET media_key = NULL, redacted = 1, updated_at = $3 \
         WHERE account_id = $1 AND id = $2"
    );
    sqlx::query(audited(&update))
        .bind(account_id)
        .bind(id)
        .bind(now_text())
        .execute(&mut **tx)
        .await?;
    Ok(Some(row.get("media_key")))
}

/// Queues a finished check's webhook for every hook of its account, inside the transaction
/// that finished it (so a result is never stored without its notification).
async fn enqueue_webhooks(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account_id: &str,
    check_id: &str,
    now: &str,
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
    let payload = serde_json::json!({
        "type": format!("check.{}", check.status),
        "data": check.to_api(),
    })
    .to_string();
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

/// Marks SQL assembled in this module as safe: only constant column lists, table names and
/// numbered placeholders are ever formatted in; every value is bound.
fn audited(sql: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.to_string())
}

fn failure_json(f: &JobFailure) -> String {
    serde_json::json!({"type": f.kind, "message": f.message}).to_string()
}

/// Replaces the evidence of every voice challenge in a stored check result with a redaction
/// mark (the transcript, heard tokens and likelihoods are what the person said), and any other
/// text that quotes a transcript (reason messages) with `[redacted]`.
pub fn redact_voice_evidence(result: &mut serde_json::Value) {
    let Some(challenges) = result
        .pointer_mut("/breakdown/challenges")
        .and_then(|c| c.as_array_mut())
    else {
        return;
    };
    let mut heard = Vec::new();
    for c in challenges {
        if c.get("type").and_then(|t| t.as_str()) == Some("voice") {
            if let Some(t) = c.pointer("/evidence/transcript").and_then(|t| t.as_str()) {
                if !t.trim().is_empty() {
                    heard.push(t.to_string());
                }
            }
            if let Some(obj) = c.as_object_mut() {
                obj.insert("evidence".into(), serde_json::json!({"redacted": true}));
            }
        }
    }
    scrub_strings(result, &heard);
}

fn scrub_strings(value: &mut serde_json::Value, heard: &[String]) {
    match value {
        serde_json::Value::String(s) if heard.iter().any(|h| s.contains(h.as_str())) => {
            *s = "[redacted]".into();
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_strings(v, heard)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub_strings(v, heard)),
        _ => {}
    }
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
    })
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

fn check_from_row(r: &AnyRow) -> Result<CheckRecord, StoreError> {
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
        result: json_column(r.get("result"), "result")?,
        error: json_column(r.get("error"), "error")?,
        attempts: r.get("attempts"),
        max_attempts: r.get("max_attempts"),
        worker: r.get("worker"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        completed_at: r.get("completed_at"),
    })
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
            attempts: 0,
            max_attempts: 2,
            worker: None,
            created_at: now.clone(),
            updated_at: now,
            completed_at: None,
        };
        store.insert_check(&check).await.unwrap();
        let t = now_ms();
        let a = store.claim_check("a", t, 1000).await.unwrap().unwrap();
        assert_eq!(a.attempts, 1);
        assert!(store.claim_check("b", t, 1000).await.unwrap().is_none());
        // Worker a dies; after its lease b takes the job over, and a's late result is dropped.
        let b = store
            .claim_check("b", t + 2000, 1000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.attempts, 2);
        assert!(!store
            .complete_check(&a, "a", Ok(serde_json::json!({"x": 1})))
            .await
            .unwrap());
        assert!(store
            .complete_check(&b, "b", Ok(serde_json::json!({"x": 2})))
            .await
            .unwrap());
        let done = store
            .check(&key.account_id, &check.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.status, CheckState::Complete);
        assert_eq!(done.result.unwrap()["x"], 2);
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
            attempts: 0,
            max_attempts: 1,
            worker: None,
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
        assert_eq!(store.fail_exhausted(t + 5000).await.unwrap(), 1);
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
