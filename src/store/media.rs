//! Media bytes (uploaded videos and photos) in an object store: a local or shared directory
//! (`file:///srv/liveness/media`) or an S3-compatible bucket (`s3://bucket/prefix`, configured
//! from the usual `AWS_*` variables). Keys are made by the service from random ids, never from
//! anything a client sent.

use crate::report::{Classify, ErrorClass};
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What went wrong with media bytes.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The media URL is not one we can open.
    #[error("media location {url:?}: {message}")]
    Location {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The object is not there (deleted or redacted).
    #[error("media object {0} not found")]
    NotFound(String),
    /// The object store failed.
    #[error("media store: {0}")]
    Store(#[from] object_store::Error),
    /// A local file could not be read or written.
    #[error("media file: {0}")]
    Io(#[from] std::io::Error),
}

/// How S3 requests are retried: transport errors and 5xx answers, with backoff from 0.25 s up
/// to 8 s between tries, for up to 90 s. A server restarting (seen: SeaweedFS answers 500 for
/// about 15 s after it starts) is ridden out within one request instead of failing the upload
/// or the job; the workers renew their lease meanwhile.
fn s3_retries() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(250),
            max_backoff: std::time::Duration::from_secs(8),
            base: 2.0,
        },
        max_retries: 30,
        retry_timeout: std::time::Duration::from_secs(90),
    }
}

/// Where media bytes live.
#[derive(Debug, Clone)]
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// Bytes per chunk when streaming a file into the store.
const CHUNK: usize = 4 << 20;

impl MediaStore {
    /// Opens `file:///dir` (created if missing) or `s3://bucket/prefix`.
    pub fn open(url: &str) -> Result<Self, MediaError> {
        let bad = |message: String| MediaError::Location {
            url: url.to_string(),
            message,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| bad("not an absolute file path".into()))?;
                std::fs::create_dir_all(&dir).map_err(|e| bad(e.to_string()))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(e.to_string()))?;
                (Arc::new(fs), Path::default())
            }
            "s3" => {
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url)
                    .with_retry(s3_retries())
                    .build()
                    .map_err(|e| bad(e.to_string()))?;
                let prefix = Path::parse(parsed.path().trim_start_matches('/'))
                    .map_err(|e| bad(e.to_string()))?;
                (Arc::new(s3), prefix)
            }
            other => return Err(bad(format!("unsupported scheme {other:?} (file or s3)"))),
        };
        Ok(Self { store, prefix })
    }

    fn location(&self, key: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in key.split('/') {
            path = path.join(part);
        }
        path
    }

    /// Streams a local file into the store under `key`.
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<(), MediaError> {
        let upload = self.store.put_multipart(&self.location(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut f = tokio::fs::File::open(file).await?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(4).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// The object's bytes as a stream (for downloads).
    pub async fn stream(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, MediaError> {
        match self.store.get(&self.location(key)).await {
            Ok(got) => Ok(got.into_stream()),
            Err(object_store::Error::NotFound { .. }) => Err(MediaError::NotFound(key.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Copies the object into a local file (workers decode from a file).
    pub async fn get_to_file(&self, key: &str, file: &FsPath) -> Result<(), MediaError> {
        let mut stream = self.stream(key).await?;
        let mut out = tokio::fs::File::create(file).await?;
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk?).await?;
        }
        out.flush().await?;
        Ok(())
    }

    /// Whether the store answers: a metadata request for an object that need not exist (a
    /// missing one is an answer).
    pub async fn ping(&self) -> Result<(), MediaError> {
        match self.store.head(&self.location(".readyz")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the object; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), MediaError> {
        match self.store.delete(&self.location(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Classify for MediaError {
    fn class(&self) -> ErrorClass {
        match self {
            MediaError::Location { .. } => ErrorClass::Usage,
            MediaError::NotFound(_) => ErrorClass::NotFound,
            // The object store did not answer: try later.
            MediaError::Store(_) => ErrorClass::ServiceUnavailable,
            MediaError::Io(_) => ErrorClass::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_directory_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path().join("media")).unwrap();
        let media = MediaStore::open(url.as_str()).unwrap();
        let src = dir.path().join("src.bin");
        let bytes: Vec<u8> = (0..(CHUNK + 1000)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &bytes).unwrap();
        media.put_file("acct/live-videos/abc", &src).await.unwrap();
        let back = dir.path().join("back.bin");
        media
            .get_to_file("acct/live-videos/abc", &back)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&back).unwrap(), bytes);
        media.delete("acct/live-videos/abc").await.unwrap();
        assert!(matches!(
            media.get_to_file("acct/live-videos/abc", &back).await,
            Err(MediaError::NotFound(_))
        ));
        media.delete("acct/live-videos/abc").await.unwrap();
        assert!(MediaStore::open("ftp://x/y").is_err());
    }
}
