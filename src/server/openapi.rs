//! The OpenAPI document, generated from the handlers' annotations and the resource types.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::views::{ChallengeResource, CheckResource, LivePhotoResource, LiveVideoResource};
use super::{api, probes};

/// Adds the `Authorization` API key scheme.
struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The API key as printed by `liveness keys create` (optionally `Bearer KEY`)",
            ))),
        );
    }
}

/// Adds `429 rate_limit_exceeded` (with `Retry-After`) to every operation that needs a key:
/// those are the ones `serve --rate-limit` and `--max-uploads-in-flight` can refuse.
struct RateLimitResponses;

impl Modify for RateLimitResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let response = ResponseBuilder::new()
            .description("A per-key limit was reached: try again after Retry-After seconds")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(1)),
                    )
                    .description(Some("Seconds to wait"))
                    .build(),
            )
            .build();
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                // An operation with its own (empty) security needs no key.
                if op.security.is_none() {
                    op.responses
                        .responses
                        .insert("429".into(), response.clone().into());
                }
            }
        }
    }
}

/// The service's API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "liveness",
        description = "Video liveness challenge verification with ComplyCube-style Live Videos, \
            Live Photos and Checks."
    ),
    paths(
        api::create_live_video, api::list_live_videos, api::get_live_video,
        api::download_live_video, api::redact_live_video, api::delete_live_video,
        api::create_live_photo, api::list_live_photos, api::get_live_photo,
        api::download_live_photo, api::redact_live_photo, api::delete_live_photo,
        api::create_challenge, api::get_challenge,
        api::create_check, api::list_checks, api::get_check, openapi_json, api::health,
        probes::healthz, probes::readyz, probes::metrics_text,
    ),
    components(schemas(
        ErrorBody, LiveVideoResource, LivePhotoResource, CheckResource, api::LiveVideoList,
        api::LivePhotoList, api::CheckList, api::CreateCheckBody, api::CreateVideoCheck,
        api::CreatePhotoCheck, api::CheckStatus, api::CheckType, api::LiveVideoUpload,
        api::LivePhotoUpload, ChallengeResource, api::CreateChallenge, api::VoiceDraw,
        api::ActionsDraw, probes::Health, probes::Readiness,
    )),
    modifiers(&ApiKeyScheme, &RateLimitResponses),
    security(("apiKey" = [])),
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "Service", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
