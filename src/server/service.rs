//! The service's use cases, between the HTTP handlers ([`super::api`]) and the records
//! ([`crate::store`]): upload a Live Video or a Live Photo (validate, sniff, probe or inspect,
//! store the media, insert the record, take the media back if the insert fails), queue a
//! check, and the get / list / download / redact / delete that the resources share, written
//! once over the [`Resource`] and [`MediaResource`] traits. Nothing here reads a request or
//! builds a response: `api` takes requests apart and puts the answers together.

use std::future::Future;

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::stream::BoxStream;

use super::auth::Account;
use super::error::ApiError;
use super::upload::{self, Received};
use super::AppState;
use crate::challenge_draw::{draw_challenges, DrawError, DrawRequest};
use crate::live_video::{LiveVideo, LiveVideoError};
use crate::report::ErrorClass;
use crate::store::{
    format_time, new_id, now_ms, now_text, CheckRecord, CheckState, ConsumeError,
    IssuedChallengeRecord, ListQuery, LivePhotoRecord, LiveVideoRecord, Page, Store, StoreError,
};

/// A record the API serves to the account that owns it.
pub trait Resource: Sized + Send {
    /// What errors call it ("Live Video").
    const NAME: &'static str;
    /// One of the account's records, if it exists.
    fn fetch(
        store: &Store,
        account_id: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send;
    /// A page of the account's records, newest first.
    fn page(
        store: &Store,
        account_id: &str,
        q: &ListQuery,
    ) -> impl Future<Output = Result<Page<Self>, StoreError>> + Send;
}

/// A resource that holds uploaded media: it can be downloaded, redacted and deleted.
pub trait MediaResource: Resource {
    /// Its id.
    fn id(&self) -> &str;
    /// Where its bytes are (None once redacted).
    fn media_key(&self) -> Option<&str>;
    /// The content type sniffed at upload.
    fn content_type(&self) -> &str;
    /// Marks the record redacted (and whatever it implies for its checks); the media key to
    /// delete, or None when the record is not in the account.
    fn redact(
        store: &Store,
        account_id: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Option<String>>, StoreError>> + Send;
    /// Deletes the record; its media key, or None when it is not in the account.
    fn delete(
        store: &Store,
        account_id: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Option<String>>, StoreError>> + Send;
}

/// `Resource` for a record type read through the named store methods.
macro_rules! resource {
    ($record:ty, $name:literal, $fetch:ident, $page:ident) => {
        impl Resource for $record {
            const NAME: &'static str = $name;
            async fn fetch(
                store: &Store,
                account_id: &str,
                id: &str,
            ) -> Result<Option<Self>, StoreError> {
                store.$fetch(account_id, id).await
            }
            async fn page(
                store: &Store,
                account_id: &str,
                q: &ListQuery,
            ) -> Result<Page<Self>, StoreError> {
                store.$page(account_id, q).await
            }
        }
    };
}

/// `MediaResource` for a record type with `id`, `media_key` and `content_type` fields,
/// redacted and deleted through the named store methods.
macro_rules! media_resource {
    ($record:ty, $redact:ident, $delete:ident) => {
        impl MediaResource for $record {
            fn id(&self) -> &str {
                &self.id
            }
            fn media_key(&self) -> Option<&str> {
                self.media_key.as_deref()
            }
            fn content_type(&self) -> &str {
                &self.content_type
            }
            async fn redact(
                store: &Store,
                account_id: &str,
                id: &str,
            ) -> Result<Option<Option<String>>, StoreError> {
                store.$redact(account_id, id).await
            }
            async fn delete(
                store: &Store,
                account_id: &str,
                id: &str,
            ) -> Result<Option<Option<String>>, StoreError> {
                store.$delete(account_id, id).await
            }
        }
    };
}

resource!(LiveVideoRecord, "Live Video", live_video, list_live_videos);
media_resource!(LiveVideoRecord, redact_live_video, delete_live_video);
resource!(LivePhotoRecord, "Live Photo", live_photo, list_live_photos);
media_resource!(LivePhotoRecord, redact_live_photo, delete_live_photo);
resource!(CheckRecord, "check", check, list_checks);

/// One of the account's records, or 404.
pub async fn get<R: Resource>(
    state: &AppState,
    account: &Account,
    id: &str,
) -> Result<R, ApiError> {
    R::fetch(&state.store, &account.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(R::NAME))
}

/// A page of the account's records.
pub async fn list<R: Resource>(
    state: &AppState,
    account: &Account,
    q: &ListQuery,
) -> Result<Page<R>, ApiError> {
    Ok(R::page(&state.store, &account.id, q).await?)
}

/// A record's media, ready to stream.
pub struct Download {
    /// The bytes.
    pub stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
    /// Its content type.
    pub content_type: String,
    /// The file name to offer (`{id}.{extension}`).
    pub file_name: String,
}

/// The media of one of the account's records: 404 when absent, 410 once redacted.
pub async fn download<R: MediaResource>(
    state: &AppState,
    account: &Account,
    id: &str,
) -> Result<Download, ApiError> {
    let record: R = get(state, account, id).await?;
    let key = record.media_key().ok_or_else(redacted)?;
    Ok(Download {
        stream: state.media.stream(key).await?,
        content_type: record.content_type().to_string(),
        file_name: format!(
            "{}.{}",
            record.id(),
            upload::extension(record.content_type())
        ),
    })
}

/// Redacts one of the account's records and erases its media; the record as it now is.
pub async fn redact<R: MediaResource>(
    state: &AppState,
    account: &Account,
    id: &str,
) -> Result<R, ApiError> {
    let key = R::redact(&state.store, &account.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(R::NAME))?;
    if let Some(key) = key {
        state.media.delete(&key).await?;
    }
    get(state, account, id).await
}

/// Deletes one of the account's records and its media.
pub async fn delete<R: MediaResource>(
    state: &AppState,
    account: &Account,
    id: &str,
) -> Result<(), ApiError> {
    let key = R::delete(&state.store, &account.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(R::NAME))?;
    if let Some(key) = key {
        state.media.delete(&key).await?;
    }
    Ok(())
}

/// 410: the media was redacted.
fn redacted() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "resource_redacted",
        "the media was redacted",
    )
}

/// A client id as the API accepts it: 1 to 128 printable characters, not only spaces.
pub fn client_id(value: &str) -> Result<String, ApiError> {
    if value.trim().is_empty() || value.chars().count() > 128 || value.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            "clientId",
            "clientId must be 1 to 128 printable characters, not only spaces",
        ));
    }
    Ok(value.to_string())
}

/// Runs blocking work (media probing, inspection) off the async threads, bounded.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = state
        .blocking
        .acquire()
        .await
        .map_err(|e| ApiError::internal("worker pool", e))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("media inspection", e))
}

/// What a Live Video upload brought, as the form's fields say it.
pub struct VideoUpload {
    /// `clientId`.
    pub client_id: String,
    /// `language` (may be left out with `challengeId`: the issued challenges' language).
    pub language: Option<String>,
    /// `challenges`, a JSON array in a string (or `challengeId` instead).
    pub challenges: Option<String>,
    /// `challengeId`: challenges issued by `POST /v1/challenges`, consumed by this upload.
    pub challenge_id: Option<String>,
    /// `mirrored`.
    pub mirrored: bool,
    /// The `video` file, if sent.
    pub video: Option<Received>,
}

/// 409: an issued challenge already served an upload.
fn challenge_used() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "challenge_used",
        "the challenge was already used by another Live Video: ask for a new one",
    )
}

/// 422: an issued challenge ran out of time.
fn challenge_expired(at: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "challenge_expired",
        format!("the challenge expired at {at}: ask for a new one"),
    )
}

impl From<ConsumeError> for ApiError {
    fn from(e: ConsumeError) -> Self {
        match e {
            ConsumeError::NotFound => ApiError::not_found("challenge"),
            ConsumeError::Used => challenge_used(),
            ConsumeError::Expired(at) => challenge_expired(&at),
            ConsumeError::Store(e) => e.into(),
        }
    }
}

/// Where a Live Video's challenges come from.
enum Challenges {
    /// Chosen by the uploader (a JSON array).
    Given(String),
    /// Issued by the service, to be consumed by this upload.
    Issued(Box<IssuedChallengeRecord>),
}

/// Which challenges an upload is bound to: its own `challenges`, or the issued ones
/// `challengeId` names (the account's, for the same client, unused and unexpired; consumed
/// later, with the record).
async fn upload_challenges(
    state: &AppState,
    account: &Account,
    client_id: &str,
    upload: &mut VideoUpload,
) -> Result<(String, Challenges), ApiError> {
    match (upload.challenges.take(), upload.challenge_id.take()) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "challenges",
            "give challenges or challengeId, not both",
        )),
        (None, None) => Err(ApiError::invalid(
            "challenges",
            "challenges is required (or challengeId, for issued challenges)",
        )),
        (Some(_), None) if state.config.require_issued_challenges => Err(ApiError::invalid(
            "challenges",
            "this service accepts issued challenges only: POST /v1/challenges, then upload \
             with challengeId",
        )),
        (Some(given), None) => {
            let language = upload
                .language
                .take()
                .ok_or_else(|| ApiError::invalid("language", "language is required"))?;
            Ok((language, Challenges::Given(given)))
        }
        (None, Some(id)) => {
            let issued = state
                .store
                .issued_challenge(&account.id, &id)
                .await?
                .ok_or_else(|| ApiError::not_found("challenge"))?;
            if issued.client_id != client_id {
                return Err(ApiError::invalid(
                    "clientId",
                    "the challenge was issued for another clientId",
                ));
            }
            if let Some(language) = upload.language.take() {
                if language != issued.language {
                    return Err(ApiError::invalid(
                        "language",
                        format!("the challenge was issued in {}", issued.language),
                    ));
                }
            }
            // Refused early when already decided (the consuming insert decides races).
            if issued.used_at.is_some() {
                return Err(challenge_used());
            }
            if issued.expires_at_ms <= now_ms() {
                return Err(challenge_expired(&issued.expires_at));
            }
            Ok((
                issued.language.clone(),
                Challenges::Issued(Box::new(issued)),
            ))
        }
    }
}

/// Uploads a Live Video: validates the Live Video it makes, sniffs and probes the file,
/// stores the media and then the record (taking the media back if the record fails). With
/// issued challenges the record consumes them in the same transaction.
pub async fn upload_live_video(
    state: &AppState,
    account: &Account,
    mut upload: VideoUpload,
) -> Result<LiveVideoRecord, ApiError> {
    let client_id = client_id(&upload.client_id)?;
    let (language, source) = upload_challenges(state, account, &client_id, &mut upload).await?;
    let challenges: serde_json::Value = match &source {
        Challenges::Given(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::invalid("challenges", format!("challenges is not JSON: {e}")))?,
        Challenges::Issued(issued) => issued.challenges.clone(),
    };
    let id = new_id();
    let object = serde_json::json!({
        "id": id, "clientId": client_id, "language": language, "challenges": challenges,
    });
    let live_video = LiveVideo::parse(&object.to_string(), &state.packs, &state.vocabulary)
        .map_err(|e| {
            // The form field at fault: the language, or the challenges (whichever part).
            let field = match e {
                LiveVideoError::Language(_) => "language",
                _ => "challenges",
            };
            ApiError::classified_at("challenges", &e, field)
        })?;
    let received = upload
        .video
        .ok_or_else(|| ApiError::invalid("video", "video is required"))?;
    let content_type = upload::sniff_video(&received.head).ok_or_else(|| {
        ApiError::media("video is not an MP4, MOV, WebM, Matroska, MPEG or AVI file")
    })?;
    let duration_ms = probe_video(state, &received).await?;
    let key = format!("{}/live-videos/{}", account.id, id);
    let now = now_text();
    let record = LiveVideoRecord {
        id,
        account_id: account.id.clone(),
        client_id,
        language,
        challenges: serde_json::to_value(&live_video.challenges)
            .map_err(|e| ApiError::internal("challenges", e))?,
        mirrored: upload.mirrored,
        media_key: Some(key.clone()),
        content_type: content_type.into(),
        size: received.size as i64,
        sha256: received.sha256.clone(),
        duration_ms,
        redacted: false,
        created_at: now.clone(),
        updated_at: now,
        challenge_id: match &source {
            Challenges::Issued(issued) => Some(issued.id.clone()),
            Challenges::Given(_) => None,
        },
    };
    match &source {
        Challenges::Given(_) => {
            keep_upload(
                state,
                &key,
                &received,
                state.store.insert_live_video(&record),
            )
            .await?
        }
        Challenges::Issued(issued) => {
            let insert = state
                .store
                .insert_live_video_consuming(&record, &issued.id, now_ms());
            keep_upload(state, &key, &received, insert).await?
        }
    }
    Ok(record)
}

/// What `POST /v1/challenges` asks for.
pub struct ChallengeRequest {
    /// The client the recording will be uploaded for.
    pub client_id: String,
    /// Language of the voice challenge (one with a pack).
    pub language: String,
    /// How many digits and actions to draw.
    pub draw: DrawRequest,
}

/// Draws fresh challenges for one recording and stores them, valid for the configured time.
pub async fn issue_challenge(
    state: &AppState,
    account: &Account,
    request: ChallengeRequest,
) -> Result<IssuedChallengeRecord, ApiError> {
    let client_id = client_id(&request.client_id)?;
    if request.language.len() > 35 {
        return Err(ApiError::invalid(
            "language",
            "language must be a BCP-47 tag of at most 35 characters",
        ));
    }
    let challenges = draw_challenges(
        &mut rand::rngs::OsRng,
        &state.packs,
        &state.vocabulary,
        &request.language,
        request.draw,
    )
    .map_err(|e| {
        let param = match &e {
            DrawError::Language(_) | DrawError::LanguageCase(_) => "language",
            DrawError::Digits(_) => "voice",
            _ => "actions",
        };
        ApiError::classified_at("challenges", &e, param)
    })?;
    let created = chrono::Utc::now();
    let ttl = chrono::Duration::from_std(state.config.challenge_ttl)
        .unwrap_or(chrono::Duration::seconds(300));
    let expires = created + ttl;
    let record = IssuedChallengeRecord {
        id: new_id(),
        account_id: account.id.clone(),
        client_id,
        language: request.language,
        challenges: serde_json::to_value(&challenges)
            .map_err(|e| ApiError::internal("challenges", e))?,
        expires_at: format_time(expires),
        expires_at_ms: expires.timestamp_millis(),
        used_at: None,
        live_video_id: None,
        created_at: format_time(created),
    };
    state.store.insert_issued_challenge(&record).await?;
    Ok(record)
}

/// One of the account's issued challenges.
pub async fn get_challenge(
    state: &AppState,
    account: &Account,
    id: &str,
) -> Result<IssuedChallengeRecord, ApiError> {
    state
        .store
        .issued_challenge(&account.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("challenge"))
}

/// Keeps an upload: its bytes under `key` in the media store, then its record through
/// `insert`; when the record cannot be stored the bytes are taken back, so no object is left
/// without a record.
async fn keep_upload<E: Into<ApiError>>(
    state: &AppState,
    key: &str,
    received: &Received,
    insert: impl Future<Output = Result<(), E>>,
) -> Result<(), ApiError> {
    state.media.put_file(key, received.file.path()).await?;
    if let Err(e) = insert.await {
        state.media.delete(key).await.ok();
        return Err(e.into());
    }
    Ok(())
}

/// Opens the upload with FFmpeg: it must hold a decodable video stream no longer than the
/// limit. Returns the container duration in milliseconds.
async fn probe_video(state: &AppState, received: &Received) -> Result<Option<i64>, ApiError> {
    let path = received.file.path().to_path_buf();
    let engine = state.engine.clone();
    let info = blocking(state, move || engine.probe_video(&path))
        .await?
        .map_err(|e| ApiError::about_upload("media probe", "video", &e))?;
    if !info.has_video {
        return Err(ApiError::media("the file has no video stream"));
    }
    let limit = state.config.max_video_seconds;
    if let Some(d) = info.duration_seconds.filter(|d| *d > limit) {
        return Err(ApiError::limit(
            StatusCode::UNPROCESSABLE_ENTITY,
            "video",
            format!("limit reached: the video is {d:.1} s long; the limit is {limit:.0} s"),
        ));
    }
    Ok(info.duration_seconds.map(|d| (d * 1000.0).round() as i64))
}

/// What a Live Photo upload brought.
pub struct PhotoUpload {
    /// `clientId`.
    pub client_id: String,
    /// `performLivenessCheck`.
    pub perform_liveness_check: bool,
    /// The `photo` file, if sent.
    pub photo: Option<Received>,
}

/// Uploads a Live Photo: sniffs it, runs the four inspections, stores the media and then the
/// record (taking the media back if the record fails).
pub async fn upload_live_photo(
    state: &AppState,
    account: &Account,
    upload: PhotoUpload,
) -> Result<LivePhotoRecord, ApiError> {
    let client_id = client_id(&upload.client_id)?;
    let perform = upload.perform_liveness_check;
    let received = upload
        .photo
        .ok_or_else(|| ApiError::invalid("photo", "photo is required"))?;
    let content_type = upload::sniff_image(&received.head)
        .ok_or_else(|| ApiError::media("photo is not a JPEG or PNG image"))?;
    let inspections = inspect(state, &received, perform).await?;
    let id = new_id();
    let key = format!("{}/live-photos/{}", account.id, id);
    let now = now_text();
    let record = LivePhotoRecord {
        id,
        account_id: account.id.clone(),
        client_id,
        perform_liveness_check: perform,
        media_key: Some(key.clone()),
        content_type: content_type.into(),
        size: received.size as i64,
        sha256: received.sha256.clone(),
        inspections,
        redacted: false,
        created_at: now.clone(),
        updated_at: now,
    };
    keep_upload(
        state,
        &key,
        &received,
        state.store.insert_live_photo(&record),
    )
    .await?;
    Ok(record)
}

/// Runs the photo inspections (vision models loaded on first use); an undecodable image is a
/// 422; models that cannot load leave `inspections` absent (the photo check will say why).
async fn inspect(
    state: &AppState,
    received: &Received,
    perform_liveness: bool,
) -> Result<Option<serde_json::Value>, ApiError> {
    let path = received.file.path().to_path_buf();
    let engine = state.engine.clone();
    let outcome = blocking(state, move || engine.inspect_photo(&path, perform_liveness)).await?;
    match outcome {
        Ok(report) => Ok(Some(report)),
        Err(e) if matches!(e.class, ErrorClass::InvalidMedia | ErrorClass::LimitReached) => {
            Err(ApiError::about_upload("photo inspection", "photo", &e))
        }
        Err(e) => {
            tracing::warn!("photo inspection skipped: {e}");
            Ok(None)
        }
    }
}

/// What a check request asks for.
pub struct CheckRequest {
    /// `clientId`.
    pub client_id: String,
    /// `type`: `liveness_video_check` or `liveness_photo_check`.
    pub kind: String,
    /// The Live Video to verify.
    pub live_video_id: Option<String>,
    /// The Live Photo to inspect.
    pub live_photo_id: Option<String>,
}

/// Queues a check of one of the account's (unredacted) Live Videos or Photos, belonging to
/// the client it names, and wakes this process's workers.
pub async fn queue_check(
    state: &AppState,
    account: &Account,
    req: CheckRequest,
) -> Result<CheckRecord, ApiError> {
    let client_id = client_id(&req.client_id)?;
    let (live_video_id, live_photo_id) = match req.kind.as_str() {
        "liveness_video_check" => {
            let id = req.live_video_id.ok_or_else(|| {
                ApiError::invalid("liveVideoId", "liveVideoId is required for this type")
            })?;
            let v: LiveVideoRecord = get(state, account, &id).await?;
            owned_by(&v.client_id, &client_id, v.redacted)?;
            (Some(id), None)
        }
        "liveness_photo_check" => {
            let id = req.live_photo_id.ok_or_else(|| {
                ApiError::invalid("livePhotoId", "livePhotoId is required for this type")
            })?;
            let p: LivePhotoRecord = get(state, account, &id).await?;
            owned_by(&p.client_id, &client_id, p.redacted)?;
            (None, Some(id))
        }
        other => {
            return Err(ApiError::invalid(
                "type",
                format!(
                    "unknown check type {other:?} (liveness_video_check, liveness_photo_check)"
                ),
            ))
        }
    };
    let now = now_text();
    let check = CheckRecord {
        id: new_id(),
        account_id: account.id.clone(),
        client_id,
        kind: req.kind,
        live_video_id,
        live_photo_id,
        status: CheckState::Pending,
        result: None,
        error: None,
        max_attempts: state.config.max_attempts,
        created_at: now.clone(),
        updated_at: now,
        completed_at: None,
    };
    state.store.insert_check(&check).await?;
    state.wake.notify_one();
    Ok(check)
}

/// A check may only be asked by the client the media belongs to, and not of erased media.
fn owned_by(owner: &str, client_id: &str, redacted: bool) -> Result<(), ApiError> {
    if owner != client_id {
        return Err(ApiError::invalid(
            "clientId",
            "the media belongs to another client",
        ));
    }
    if redacted {
        return Err(self::redacted());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_printable_and_bounded() {
        assert_eq!(client_id("c-1").unwrap(), "c-1");
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(129)] {
            let e = client_id(bad).unwrap_err();
            assert_eq!(e.body.param.as_deref(), Some("clientId"), "{bad:?}");
        }
        assert!(client_id(&"é".repeat(128)).is_ok(), "characters, not bytes");
    }

    #[test]
    fn a_check_of_another_clients_or_erased_media_is_refused() {
        assert!(owned_by("a", "a", false).is_ok());
        let e = owned_by("a", "b", false).unwrap_err();
        assert_eq!(
            (e.status, e.body.param.as_deref()),
            (StatusCode::BAD_REQUEST, Some("clientId"))
        );
        let e = owned_by("a", "a", true).unwrap_err();
        assert_eq!(
            (e.status, e.body.kind.as_str()),
            (StatusCode::GONE, "resource_redacted")
        );
    }
}
