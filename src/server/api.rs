//! The `/v1` handlers: Live Videos, Live Photos and Checks (ComplyCube's conventions:
//! camelCase JSON, `{"type","message"}` errors, `page`/`pageSize` lists with `totalItems`).
//! Every handler takes the caller's [`Account`] and passes its id to the store, so another
//! account's objects answer 404 and never appear in lists.
//! The handlers only take requests apart and put answers together; what a request does
//! (validation, media, records) is in [`super::service`].

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Account;
use super::error::{ApiError, ErrorBody};
use super::service;
use super::upload;
use super::views::{ChallengeResource, CheckResource, LivePhotoResource, LiveVideoResource};
use super::AppState;
use crate::challenge_draw::{DrawRequest, DEFAULT_ACTIONS, DEFAULT_DIGITS};
use crate::store::{CheckRecord, ListQuery, LivePhotoRecord, LiveVideoRecord};

/// Largest `pageSize`.
pub const MAX_PAGE_SIZE: i64 = 1000;
/// `pageSize` when none is given.
pub const DEFAULT_PAGE_SIZE: i64 = 100;

/// List filters and paging (all optional).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Items per page, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<i64>,
    /// Only this client's objects.
    client_id: Option<String>,
    /// Created after this time (RFC 3339).
    #[param(format = DateTime)]
    created_after: Option<String>,
    /// Created before this time.
    #[param(format = DateTime)]
    created_before: Option<String>,
    /// Updated after this time.
    #[param(format = DateTime)]
    updated_after: Option<String>,
    /// Updated before this time.
    #[param(format = DateTime)]
    updated_before: Option<String>,
    /// Checks only: `pending`, `complete` or `failed`.
    #[param(value_type = Option<CheckStatus>)]
    status: Option<String>,
    /// Checks only: `liveness_video_check` or `liveness_photo_check`.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<CheckType>)]
    kind: Option<String>,
}

/// A check's status.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CheckStatus {
    /// Queued or running.
    Pending,
    /// Done: `result` holds the outcome.
    Complete,
    /// Failed: `error` says why.
    Failed,
}

/// A check's type.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CheckType {
    /// Verifies a Live Video.
    LivenessVideoCheck,
    /// Inspects a Live Photo.
    LivenessPhotoCheck,
}

/// A JSON request body of type `T`, or 400 `invalid_request` saying it is not a `what`
/// request.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let refuse = |e: &dyn std::fmt::Display| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("body is not a {what} request: {e}"),
        )
    };
    // An object only: serde's derived structs would also read an array of the fields.
    match serde_json::from_slice::<serde_json::Value>(body).map_err(|e| refuse(&e))? {
        object @ serde_json::Value::Object(_) => {
            serde_json::from_value(object).map_err(|e| refuse(&e))
        }
        _ => Err(refuse(&"expected a JSON object")),
    }
}

/// The highest `page` accepted.
const MAX_PAGE: i64 = 1_000_000;

/// Parses list parameters, answering bad ones with `invalid_request`.
fn list_query(raw: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
    let number = |name: &str, default: i64, max: i64| -> Result<i64, ApiError> {
        match raw.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(name, format!("{name} must be an integer in 1..={max}"))
                }),
        }
    };
    let time = |name: &str| -> Result<Option<String>, ApiError> {
        raw.get(name)
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| crate::store::format_time(t.with_timezone(&chrono::Utc)))
                    .map_err(|_| {
                        ApiError::invalid(name, format!("{name} must be an RFC 3339 time"))
                    })
            })
            .transpose()
    };
    let status = raw.get("status").map(|s| match s.as_str() {
        "pending" | "complete" | "failed" => Ok(s.clone()),
        _ => Err(ApiError::invalid(
            "status",
            "status must be pending, complete or failed",
        )),
    });
    let kind = raw.get("type").map(|s| match s.as_str() {
        "liveness_video_check" | "liveness_photo_check" => Ok(s.clone()),
        _ => Err(ApiError::invalid(
            "type",
            "type must be liveness_video_check or liveness_photo_check",
        )),
    });
    Ok(ListQuery {
        client_id: raw.get("clientId").cloned(),
        status: status.transpose()?,
        kind: kind.transpose()?,
        created_after: time("createdAfter")?,
        created_before: time("createdBefore")?,
        updated_after: time("updatedAfter")?,
        updated_before: time("updatedBefore")?,
        page: number("page", 1, MAX_PAGE)?,
        page_size: number("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
    })
}

macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// This page (1-based).
            pub page: i64,
            /// Items per page.
            pub page_size: i64,
            /// Items matching the filter, on all pages.
            pub total_items: i64,
            /// Number of pages.
            pub pages: i64,
            /// The items on this page, newest first.
            pub items: Vec<$item>,
        }

        impl $name {
            fn new(q: &ListQuery, total: i64, items: Vec<$item>) -> Self {
                Self {
                    page: q.page,
                    page_size: q.page_size,
                    total_items: total,
                    pages: (total + q.page_size - 1) / q.page_size,
                    items,
                }
            }
        }
    };
}

page_type!(LiveVideoList, LiveVideoResource, "A page of Live Videos.");
page_type!(LivePhotoList, LivePhotoResource, "A page of Live Photos.");
page_type!(CheckList, CheckResource, "A page of checks.");

/// The Live Video upload form (`multipart/form-data`).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct LiveVideoUpload {
    /// The recording (MP4, MOV, WebM, MKV, MPEG-PS/TS or AVI; sniffed from its bytes). Limits:
    /// `--max-video-mb` (413 `payload_too_large`); `--max-video-seconds`, frames of at most
    /// 8192 pixels a side and 40 megapixels, at most 16 audio channels (422
    /// `limit_exceeded`).
    #[schema(value_type = String, format = Binary)]
    video: Vec<u8>,
    /// The client (person) it belongs to: 1 to 128 characters, not only spaces, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    client_id: String,
    /// BCP-47 language of the voice challenges (`en-GB`, `fr`, ...). Required with
    /// `challenges`; with `challengeId` it may be left out (or must match the issued one).
    language: Option<String>,
    /// The challenges as a JSON string: `[{"type":"voice","value":["7","9","1","7"]}, ...]`.
    /// Limits (400 `limit_exceeded`): 8 challenges, 16 values each, per voice challenge 16
    /// digits, 40 words and 300 characters, 64 KiB for the whole Live Video. Give either
    /// this or `challengeId`; a service run with `--require-issued-challenges` refuses it.
    challenges: Option<String>,
    /// Challenges issued by `POST /v1/challenges` for the same `clientId`: the upload is
    /// bound to them and uses them up (409 `challenge_used` the second time, 422
    /// `challenge_expired` after `expiresAt`, 404 for another account's).
    challenge_id: Option<String>,
    /// `true` when the recording is mirrored (selfie preview).
    mirrored: Option<bool>,
}

/// The Live Photo upload form (`multipart/form-data`).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct LivePhotoUpload {
    /// The image (JPEG or PNG; sniffed from its bytes).
    #[schema(value_type = String, format = Binary)]
    photo: Vec<u8>,
    /// The client it belongs to (as for Live Videos).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    client_id: String,
    /// Run the liveness inspection (default true).
    perform_liveness_check: Option<bool>,
}

/// The body of `POST /v1/checks`, as documented: a Live Video check or a Live Photo check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum CreateCheckBody {
    /// Verify a Live Video.
    Video(CreateVideoCheck),
    /// Inspect a Live Photo.
    Photo(CreatePhotoCheck),
}

/// `{"clientId", "type": "liveness_video_check", "liveVideoId"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct CreateVideoCheck {
    /// The client the check is for (must own the Live Video).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    client_id: String,
    /// `liveness_video_check`.
    #[serde(rename = "type")]
    #[schema(pattern = "^liveness_video_check$")]
    kind: String,
    /// The Live Video to verify.
    #[schema(min_length = 1)]
    live_video_id: String,
}

/// `{"clientId", "type": "liveness_photo_check", "livePhotoId"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct CreatePhotoCheck {
    /// The client the check is for (must own the Live Photo).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    client_id: String,
    /// `liveness_photo_check`.
    #[serde(rename = "type")]
    #[schema(pattern = "^liveness_photo_check$")]
    kind: String,
    /// The Live Photo to inspect.
    #[schema(min_length = 1)]
    live_photo_id: String,
}

/// The body of `POST /v1/checks` as the server reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCheck {
    /// The client the check is for (must own the Live Video or Photo).
    pub client_id: String,
    /// `liveness_video_check` or `liveness_photo_check`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `liveness_video_check`.
    pub live_video_id: Option<String>,
    /// For `liveness_photo_check`.
    pub live_photo_id: Option<String>,
}

fn not_multipart(e: MultipartRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("expected a multipart/form-data body: {}", e.body_text()),
    )
}

fn parse_bool(name: &str, value: Option<&String>, default: bool) -> Result<bool, ApiError> {
    match value.map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ApiError::invalid(
            name,
            format!("{name} must be true or false"),
        )),
    }
}

/// Upload a Live Video with its challenges.
#[utoipa::path(post, path = "/v1/liveVideos", tag = "Live Videos",
    request_body(content = LiveVideoUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = LiveVideoResource),
        (status = 400, description = "Invalid form or challenges", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "challengeId names no challenge of this account", body = ErrorBody),
        (status = 409, description = "The issued challenge was already used (`challenge_used`)", body = ErrorBody),
        (status = 413, description = "Video over the size limit", body = ErrorBody),
        (status = 422, description = "Not a video we read, or too long, or the issued challenge expired (`challenge_expired`)", body = ErrorBody),
    ))]
pub async fn create_live_video(
    State(state): State<AppState>,
    account: Account,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<LiveVideoResource>), ApiError> {
    let _permit = state.limits.upload(&account.id)?;
    let form = upload::receive(
        multipart.map_err(not_multipart)?,
        "video",
        state.config.max_video_bytes,
        &state.config.tmp_dir,
    )
    .await?;
    let optional = |name: &str| form.fields.get(name).map(|v| v.to_string());
    let upload = service::VideoUpload {
        client_id: form.required("clientId")?.to_string(),
        language: optional("language"),
        challenges: optional("challenges"),
        challenge_id: optional("challengeId"),
        mirrored: parse_bool("mirrored", form.fields.get("mirrored"), false)?,
        video: form.file,
    };
    let record = service::upload_live_video(&state, &account, upload).await?;
    Ok((StatusCode::CREATED, Json(record.to_api())))
}

/// Get one Live Video.
#[utoipa::path(get, path = "/v1/liveVideos/{id}", tag = "Live Videos",
    params(("id" = String, Path, description = "Live Video id")),
    responses(
        (status = 200, description = "The Live Video", body = LiveVideoResource),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such Live Video in this account", body = ErrorBody),
    ))]
pub async fn get_live_video(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<LiveVideoResource>, ApiError> {
    let v: LiveVideoRecord = service::get(&state, &account, &id).await?;
    Ok(Json(v.to_api()))
}

/// List Live Videos, newest first.
#[utoipa::path(get, path = "/v1/liveVideos", tag = "Live Videos", params(ListParams),
    responses(
        (status = 200, description = "A page", body = LiveVideoList),
        (status = 400, description = "Bad filter or page", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
    ))]
pub async fn list_live_videos(
    State(state): State<AppState>,
    account: Account,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<LiveVideoList>, ApiError> {
    let q = list_query(&raw)?;
    let page = service::list::<LiveVideoRecord>(&state, &account, &q).await?;
    let items = page.items.iter().map(LiveVideoRecord::to_api).collect();
    Ok(Json(LiveVideoList::new(&q, page.total, items)))
}

/// Download a Live Video's bytes.
#[utoipa::path(get, path = "/v1/liveVideos/{id}/download", tag = "Live Videos",
    params(("id" = String, Path, description = "Live Video id")),
    responses(
        (status = 200, description = "The video bytes, with the type sniffed at upload", content(
            (String = "video/mp4"), (String = "video/quicktime"), (String = "video/webm"),
            (String = "video/x-matroska"), (String = "video/mpeg"), (String = "video/mp2t"),
            (String = "video/x-msvideo"))),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such Live Video in this account", body = ErrorBody),
        (status = 410, description = "The media was redacted", body = ErrorBody),
    ))]
pub async fn download_live_video(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(attachment(
        service::download::<LiveVideoRecord>(&state, &account, &id).await?,
    ))
}

/// Streams a record's media as an attachment.
fn attachment(d: service::Download) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", d.file_name);
    (
        [
            (header::CONTENT_TYPE, d.content_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(d.stream),
    )
        .into_response()
}

/// Redact a Live Video: its media bytes and the recital transcripts in its checks are erased;
/// the record stays, marked `redacted`.
#[utoipa::path(post, path = "/v1/liveVideos/{id}/redact", tag = "Live Videos",
    params(("id" = String, Path, description = "Live Video id")),
    responses(
        (status = 200, description = "Redacted", body = LiveVideoResource),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such Live Video in this account", body = ErrorBody),
    ))]
pub async fn redact_live_video(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<LiveVideoResource>, ApiError> {
    let v: LiveVideoRecord = service::redact(&state, &account, &id).await?;
    Ok(Json(v.to_api()))
}

/// Delete a Live Video and its media.
#[utoipa::path(delete, path = "/v1/liveVideos/{id}", tag = "Live Videos",
    params(("id" = String, Path, description = "Live Video id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such Live Video in this account", body = ErrorBody),
    ))]
pub async fn delete_live_video(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::delete::<LiveVideoRecord>(&state, &account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Upload a Live Photo; the four inspections run on it at once.
#[utoipa::path(post, path = "/v1/livePhotos", tag = "Live Photos",
    request_body(content = LivePhotoUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored and inspected", body = LivePhotoResource),
        (status = 400, description = "Invalid form", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 413, description = "Image over the size limit", body = ErrorBody),
        (status = 422, description = "Not a JPEG or PNG we can read", body = ErrorBody),
    ))]
pub async fn create_live_photo(
    State(state): State<AppState>,
    account: Account,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<LivePhotoResource>), ApiError> {
    let _permit = state.limits.upload(&account.id)?;
    let form = upload::receive(
        multipart.map_err(not_multipart)?,
        "photo",
        state.config.max_photo_bytes,
        &state.config.tmp_dir,
    )
    .await?;
    let upload = service::PhotoUpload {
        client_id: form.required("clientId")?.to_string(),
        perform_liveness_check: parse_bool(
            "performLivenessCheck",
            form.fields.get("performLivenessCheck"),
            true,
        )?,
        photo: form.file,
    };
    let record = service::upload_live_photo(&state, &account, upload).await?;
    Ok((StatusCode::CREATED, Json(record.to_api())))
}

/// Get one Live Photo.
#[utoipa::path(get, path = "/v1/livePhotos/{id}", tag = "Live Photos",
    params(("id" = String, Path, description = "Live Photo id")),
    responses(
        (status = 200, description = "The Live Photo", body = LivePhotoResource),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such Live Photo in this account", body = ErrorBody),
    ))]
pub async fn get_live_photo(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<LivePhotoResource>, ApiError> {
    let p: LivePhotoRecord = service::get(&state, &account, &id).await?;
    Ok(Json(p.to_api()))
}

/// List Live Photos, newest first.
#[utoipa::path(get, path = "/v1/livePhotos", tag = "Live Photos", params(ListParams),
    responses(
        (status = 200, description = "A page", body = LivePhotoList),
        (status = 400, description = "Bad filter or page", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
    ))]
pub async fn list_live_photos(
    State(state): State<AppState>,
    account: Account,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<LivePhotoList>, ApiError> {
    let q = list_query(&raw)?;
    let page = service::list::<LivePhotoRecord>(&state, &account, &q).await?;
    let items = page.items.iter().map(LivePhotoRecord::to_api).collect();
    Ok(Json(LivePhotoList::new(&q, page.total, items)))
}

/// Download a Live Photo's bytes.
#[utoipa::path(get, path = "/v1/livePhotos/{id}/download", tag = "Live Photos",
    params(("id" = String, Path, description = "Live Photo id")),
    responses(
        (status = 200, description = "The image bytes, with the type sniffed at upload", content(
            (String = "image/jpeg"), (String = "image/png"))),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such Live Photo in this account", body = ErrorBody),
        (status = 410, description = "The media was redacted", body = ErrorBody),
    ))]
pub async fn download_live_photo(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(attachment(
        service::download::<LivePhotoRecord>(&state, &account, &id).await?,
    ))
}

/// Redact a Live Photo: its image bytes are erased, the record stays, marked `redacted`.
#[utoipa::path(post, path = "/v1/livePhotos/{id}/redact", tag = "Live Photos",
    params(("id" = String, Path, description = "Live Photo id")),
    responses(
        (status = 200, description = "Redacted", body = LivePhotoResource),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such Live Photo in this account", body = ErrorBody),
    ))]
pub async fn redact_live_photo(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<LivePhotoResource>, ApiError> {
    let p: LivePhotoRecord = service::redact(&state, &account, &id).await?;
    Ok(Json(p.to_api()))
}

/// Delete a Live Photo and its image.
#[utoipa::path(delete, path = "/v1/livePhotos/{id}", tag = "Live Photos",
    params(("id" = String, Path, description = "Live Photo id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such Live Photo in this account", body = ErrorBody),
    ))]
pub async fn delete_live_photo(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::delete::<LivePhotoRecord>(&state, &account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /v1/challenges`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateChallenge {
    /// The client the recording will be uploaded for.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    client_id: String,
    /// BCP-47 language of the recital: a primary subtag with a language pack (`en`, `fr`,
    /// `es`, `de`, `it`, `pt`, `nl`, `ru`, `pl`, `sv`), optionally a region (`en-GB`).
    #[schema(
        max_length = 35,
        pattern = r"^(en|fr|es|de|it|pt|nl|ru|pl|sv)([-_][A-Za-z0-9]{1,8})*$"
    )]
    language: String,
    /// A voice challenge of `digits` digits (3 to 10, default 4).
    #[serde(default, deserialize_with = "object_or_null")]
    voice: Option<VoiceDraw>,
    /// An actions challenge of `count` actions (1 to 4, default 2).
    #[serde(default, deserialize_with = "object_or_null")]
    actions: Option<ActionsDraw>,
}

/// Reads a JSON object (or null) into `T`: serde's derived structs also take an array of
/// their fields in order (`[null]`), which the documented schema does not allow.
fn object_or_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(map) => T::deserialize(serde_json::Value::Object(map))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// How many digits to draw.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceDraw {
    /// Digits to recite (3 to 10, default 4).
    #[schema(value_type = Option<u32>, minimum = 3, maximum = 10)]
    digits: Option<serde_json::Number>,
}

/// How many actions to draw.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionsDraw {
    /// Actions to perform (1 to 4, default 2).
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 4)]
    count: Option<serde_json::Number>,
}

/// Draw fresh challenges for one recording: digits to recite and actions to perform, chosen
/// by the service with a secure generator. Upload the recording with `challengeId` before
/// `expiresAt`; each serves one upload. Without `voice` and `actions` both are drawn.
#[utoipa::path(post, path = "/v1/challenges", tag = "Challenges", request_body = CreateChallenge,
    responses(
        (status = 201, description = "Drawn", body = ChallengeResource),
        (status = 400, description = "Invalid body, language without a pack, or counts out of range", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
    ))]
pub async fn create_challenge(
    State(state): State<AppState>,
    account: Account,
    body: Bytes,
) -> Result<(StatusCode, Json<ChallengeResource>), ApiError> {
    let req: CreateChallenge = json_body(&body, "challenge")?;
    // A count is a whole number of at least 1 (JSON's `3.0` is one; 0 would mean no
    // challenge of that type, which is said by leaving it out); the draw checks the range.
    let whole = |n: &Option<serde_json::Number>, param: &str, default: usize| {
        match n {
        None => Ok(default),
        Some(n) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (1.0..=1e6).contains(f))
            .map(|f| f as usize)
            .ok_or_else(|| ApiError::invalid(param, format!("{param}: the count must be a whole number of at least 1 (leave {param} out for none)"))),
    }
    };
    let both = req.voice.is_none() && req.actions.is_none();
    let digits = match (&req.voice, both) {
        (Some(v), _) => whole(&v.digits, "voice", DEFAULT_DIGITS)?,
        (None, true) => DEFAULT_DIGITS,
        (None, false) => 0,
    };
    let count = match (&req.actions, both) {
        (Some(a), _) => whole(&a.count, "actions", DEFAULT_ACTIONS)?,
        (None, true) => DEFAULT_ACTIONS,
        (None, false) => 0,
    };
    let request = service::ChallengeRequest {
        client_id: req.client_id,
        language: req.language,
        draw: DrawRequest {
            digits,
            actions: count,
        },
    };
    let issued = service::issue_challenge(&state, &account, request).await?;
    Ok((StatusCode::CREATED, Json(issued.to_api())))
}

/// Get issued challenges (`usedAt` and `liveVideoId` once an upload used them).
#[utoipa::path(get, path = "/v1/challenges/{id}", tag = "Challenges",
    params(("id" = String, Path, description = "Challenge id")),
    responses(
        (status = 200, description = "The challenges", body = ChallengeResource),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such challenge in this account", body = ErrorBody),
    ))]
pub async fn get_challenge(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<ChallengeResource>, ApiError> {
    Ok(Json(
        service::get_challenge(&state, &account, &id)
            .await?
            .to_api(),
    ))
}

/// Create a check; it is queued (`pending`) and a worker runs it.
#[utoipa::path(post, path = "/v1/checks", tag = "Checks", request_body = CreateCheckBody,
    responses(
        (status = 201, description = "Queued", body = CheckResource),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "The Live Video or Photo is not in this account", body = ErrorBody),
    ))]
pub async fn create_check(
    State(state): State<AppState>,
    account: Account,
    body: Bytes,
) -> Result<(StatusCode, Json<CheckResource>), ApiError> {
    let req: CreateCheck = json_body(&body, "check")?;
    let request = service::CheckRequest {
        client_id: req.client_id,
        kind: req.kind,
        live_video_id: req.live_video_id,
        live_photo_id: req.live_photo_id,
    };
    let check = service::queue_check(&state, &account, request).await?;
    super::metrics::global().check_created(&check.kind);
    Ok((StatusCode::CREATED, Json(check.to_api())))
}

/// Get one check (poll until `status` is `complete` or `failed`).
#[utoipa::path(get, path = "/v1/checks/{id}", tag = "Checks",
    params(("id" = String, Path, description = "Check id")),
    responses(
        (status = 200, description = "The check", body = CheckResource),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such check in this account", body = ErrorBody),
    ))]
pub async fn get_check(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Json<CheckResource>, ApiError> {
    let c: CheckRecord = service::get(&state, &account, &id).await?;
    Ok(Json(c.to_api()))
}

/// List checks, newest first.
#[utoipa::path(get, path = "/v1/checks", tag = "Checks", params(ListParams),
    responses(
        (status = 200, description = "A page", body = CheckList),
        (status = 400, description = "Bad filter or page", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
    ))]
pub async fn list_checks(
    State(state): State<AppState>,
    account: Account,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<CheckList>, ApiError> {
    let q = list_query(&raw)?;
    let page = service::list::<CheckRecord>(&state, &account, &q).await?;
    let items = page.items.iter().map(CheckRecord::to_api).collect();
    Ok(Json(CheckList::new(&q, page.total, items)))
}

/// Liveness of the service itself (no key needed).
#[utoipa::path(get, path = "/health", tag = "Service", security(()),
    responses((status = 200, description = "Up", body = Object)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.setting("media_url").await?;
    Ok(Json(serde_json::json!({"status": "ok"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn list_parameters_are_checked() {
        let q = list_query(&raw(&[])).unwrap();
        assert_eq!((q.page, q.page_size), (1, DEFAULT_PAGE_SIZE));
        let e = list_query(&raw(&[("pageSize", "1001")])).unwrap_err();
        assert_eq!(e.body.param.as_deref(), Some("pageSize"));
        assert!(list_query(&raw(&[("page", "0")])).is_err());
        assert!(list_query(&raw(&[("createdAfter", "yesterday")])).is_err());
        let q = list_query(&raw(&[("createdAfter", "2026-11-23T01:00:00+01:00")])).unwrap();
        assert_eq!(q.created_after.as_deref(), Some("2026-11-23T00:00:00.000Z"));
        assert!(list_query(&raw(&[("status", "running")])).is_err());
    }

    /// Bodies are JSON objects, and so are their nested requests; serde's derived structs
    /// would also read arrays of their fields (schemathesis sent `"actions": [null]`).
    #[test]
    fn request_bodies_are_objects_only() {
        let parse = |body: &str| json_body::<CreateChallenge>(body.as_bytes(), "challenge");
        let ok = parse(r#"{"clientId":"c","language":"en","actions":{"count":1},"voice":null}"#)
            .unwrap();
        assert!(ok.actions.is_some() && ok.voice.is_none());
        for bad in [
            r#"{"clientId":"c","language":"en","actions":[null]}"#,
            r#"{"clientId":"c","language":"en","voice":[4]}"#,
            r#"["c","en"]"#,
            r#"{"clientId":"c","language":"en","voice":{"digits":4,"x":1}}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        assert!(
            json_body::<CreateCheck>(br#"["c","liveness_video_check",null,null]"#, "check")
                .is_err()
        );
    }

    /// The challenge request's documented languages are exactly those with a pack.
    #[test]
    fn the_documented_languages_are_the_packs() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(super::super::openapi::ApiDoc::openapi()).unwrap();
        let pattern = doc["components"]["schemas"]["CreateChallenge"]["properties"]["language"]
            ["pattern"]
            .as_str()
            .unwrap()
            .to_string();
        let listed = pattern
            .strip_prefix("^(")
            .and_then(|p| p.split(')').next())
            .unwrap();
        let mut documented: Vec<&str> = listed.split('|').collect();
        let packs = crate::speech::normalize::LanguagePacks::builtin().unwrap();
        let mut codes = packs.codes();
        documented.sort_unstable();
        codes.sort_unstable();
        assert_eq!(documented, codes);
    }
}
