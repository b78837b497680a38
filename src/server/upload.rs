//! Receiving an upload: a multipart form streamed to a temporary file (size limit enforced as
//! the bytes arrive, sha256 computed on the way), its text fields, and content sniffing from
//! the first bytes — the file name and the declared content type are never trusted.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use axum::extract::multipart::{Field, Multipart};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::error::ApiError;

/// Longest text field accepted.
const MAX_FIELD_BYTES: usize = 64 << 10;

/// A received file.
#[derive(Debug)]
pub struct Received {
    /// The bytes, in a temporary file removed on drop.
    pub file: NamedTempFile,
    /// Byte count.
    pub size: u64,
    /// sha256 of the bytes (hex).
    pub sha256: String,
    /// The first bytes (for sniffing).
    pub head: Vec<u8>,
}

/// A received form: text fields and at most one file.
#[derive(Debug, Default)]
pub struct Form {
    /// Text fields by name.
    pub fields: HashMap<String, String>,
    /// The file field, if sent.
    pub file: Option<Received>,
}

impl Form {
    /// A required, non-empty text field.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.fields.get(name).map(|s| s.trim()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::invalid(name, format!("{name} is required"))),
        }
    }
}

/// Reads a multipart form whose file field is `file_field`, at most `max_bytes` long, into a
/// temporary file under `tmp_dir`.
pub async fn receive(
    mut multipart: Multipart,
    file_field: &str,
    max_bytes: u64,
    tmp_dir: &Path,
) -> Result<Form, ApiError> {
    let mut form = Form::default();
    loop {
        let field = multipart.next_field().await.map_err(multipart_error)?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_string();
        if name == file_field {
            if form.file.is_some() {
                return Err(ApiError::invalid(file_field, "only one file may be sent"));
            }
            form.file = Some(receive_file(field, file_field, max_bytes, tmp_dir).await?);
        } else {
            let text = receive_text(field, &name).await?;
            form.fields.insert(name, text);
        }
    }
    Ok(form)
}

async fn receive_file(
    mut field: Field<'_>,
    name: &str,
    max_bytes: u64,
    tmp_dir: &Path,
) -> Result<Received, ApiError> {
    let mut file = NamedTempFile::new_in(tmp_dir).map_err(|e| ApiError::internal("upload", e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    let too_large =
        || ApiError::too_large(format!("{name} is larger than the {max_bytes}-byte limit"));
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        size += chunk.len() as u64;
        if size > max_bytes {
            // Read the rest without keeping it (the request body limit bounds this), so the
            // client gets the 413 instead of a connection closed mid-upload.
            while let Ok(Some(_)) = field.chunk().await {}
            return Err(too_large());
        }
        if head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        // Small synchronous writes to a local temporary file; the chunks are at most a few
        // hundred kilobytes.
        file.write_all(&chunk)
            .map_err(|e| ApiError::internal("upload", e))?;
    }
    file.flush().map_err(|e| ApiError::internal("upload", e))?;
    if size == 0 {
        return Err(ApiError::media(format!("{name} is empty")));
    }
    Ok(Received {
        file,
        size,
        sha256: hex::encode(hasher.finalize()),
        head,
    })
}

async fn receive_text(mut field: Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_FIELD_BYTES {
            return Err(ApiError::invalid(name, "field too long"));
        }
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid(name, "field is not UTF-8 text"))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(e.body_text())
    } else {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("malformed multipart body: {}", e.body_text()),
        )
    }
}

pub use crate::sniff::{image as sniff_image, video as sniff_video, HEAD_BYTES};

/// File extension for a sniffed content type (download names).
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        "video/x-matroska" => "mkv",
        "video/x-msvideo" => "avi",
        "video/mpeg" => "mpg",
        "video/mp2t" => "ts",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_follow_the_sniffed_type() {
        assert_eq!(extension("video/webm"), "webm");
        assert_eq!(extension("video/mp2t"), "ts");
        assert_eq!(extension("application/x-unknown"), "bin");
    }
}
