//! Audit input: a folder where each video `NAME.<ext>` sits beside its Live Video `NAME.json`,
//! or a JSONL manifest of `{"video": path, "liveVideo": {...}}` lines. Problems with single
//! entries (a video without its JSON, unreadable JSON, a duplicate id) are listed, and the
//! rest still run.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::report::{Classify, ErrorClass};
use serde::{Deserialize, Serialize};

/// File extensions taken as videos in a folder.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "mov", "m4v", "webm", "mkv", "avi", "mpg", "mpeg", "3gp", "ogv",
];

/// One video to verify.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditJob {
    /// The Live Video's id (unique in the batch).
    pub id: String,
    /// The video file.
    pub video: PathBuf,
    /// The Live Video object, as JSON text.
    pub live_video: String,
}

/// An input entry that cannot run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputError {
    /// The file or manifest line concerned.
    pub source: String,
    /// What is wrong.
    pub message: String,
}

/// The jobs found and the entries that cannot run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditInput {
    /// Jobs in a stable order (by file name, or manifest order).
    pub jobs: Vec<AuditJob>,
    /// Entries that cannot run.
    pub errors: Vec<InputError>,
}

/// Errors that stop the whole audit before it starts.
#[derive(Debug, thiserror::Error)]
pub enum InputFailure {
    /// The input path does not exist.
    #[error("audit input not found: {0}")]
    NotFound(PathBuf),
    /// It cannot be read.
    #[error("cannot read audit input {path}: {message}")]
    Unreadable {
        /// The input.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl Classify for InputFailure {
    fn class(&self) -> ErrorClass {
        match self {
            InputFailure::NotFound(_) => ErrorClass::NotFound,
            InputFailure::Unreadable { .. } => ErrorClass::InvalidRequest,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestLine {
    video: PathBuf,
    live_video: serde_json::Value,
}

/// Reads a folder or a JSONL manifest.
pub fn read_input(path: &Path) -> Result<AuditInput, InputFailure> {
    if !path.exists() {
        return Err(InputFailure::NotFound(path.to_path_buf()));
    }
    let unreadable = |e: std::io::Error| InputFailure::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut input = if path.is_dir() {
        read_folder(path).map_err(unreadable)?
    } else {
        read_manifest(path).map_err(unreadable)?
    };
    dedupe(&mut input);
    Ok(input)
}

fn id_of(source: &str, json: &str) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("{source}: invalid JSON: {e}"))?;
    match v.get("id").and_then(|i| i.as_str()) {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(format!("{source}: the Live Video has no \"id\"")),
    }
}

fn read_folder(dir: &Path) -> std::io::Result<AuditInput> {
    let mut videos: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut jsons: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let ext = ext.to_ascii_lowercase();
        if ext == "json" {
            jsons.insert(stem.to_string(), path);
        } else if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
            videos.insert(stem.to_string(), path);
        }
    }
    let mut input = AuditInput::default();
    for (stem, video) in &videos {
        let Some(json_path) = jsons.get(stem) else {
            input.errors.push(InputError {
                source: video.display().to_string(),
                message: format!("no Live Video {stem}.json beside the video"),
            });
            continue;
        };
        let source = json_path.display().to_string();
        // No further than a Live Video may be long: a larger file is listed, not read whole
        // and kept in the queue until the verifier refuses it.
        let limit = crate::live_video::LIMITS.json_bytes;
        let text = match crate::sniff::read_bounded_text(json_path, limit) {
            Ok(t) if t.len() > limit => {
                input.errors.push(InputError {
                    source,
                    message: format!("the Live Video is larger than the {limit} bytes allowed"),
                });
                continue;
            }
            Ok(t) => t,
            Err(e) => {
                input.errors.push(InputError {
                    source,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        match id_of(&source, &text) {
            Ok(id) => input.jobs.push(AuditJob {
                id,
                video: video.clone(),
                live_video: text,
            }),
            Err(message) => input.errors.push(InputError { source, message }),
        }
    }
    for (stem, json) in &jsons {
        if !videos.contains_key(stem) {
            input.errors.push(InputError {
                source: json.display().to_string(),
                message: format!("no video named {stem}.<ext> beside the Live Video"),
            });
        }
    }
    Ok(input)
}

fn read_manifest(path: &Path) -> std::io::Result<AuditInput> {
    let text = std::fs::read_to_string(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut input = AuditInput::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let source = format!("{}:{}", path.display(), n + 1);
        let entry: ManifestLine = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(e) => {
                input.errors.push(InputError {
                    source,
                    message: format!("invalid manifest line: {e}"),
                });
                continue;
            }
        };
        let video = if entry.video.is_absolute() {
            entry.video
        } else {
            base.join(entry.video)
        };
        let json = entry.live_video.to_string();
        match id_of(&source, &json) {
            Ok(id) => input.jobs.push(AuditJob {
                id,
                video,
                live_video: json,
            }),
            Err(message) => input.errors.push(InputError { source, message }),
        }
    }
    Ok(input)
}

/// Every id must be unique: later duplicates become input errors.
fn dedupe(input: &mut AuditInput) {
    let mut seen = HashSet::new();
    let mut kept = Vec::with_capacity(input.jobs.len());
    for job in input.jobs.drain(..) {
        if seen.insert(job.id.clone()) {
            kept.push(job);
        } else {
            input.errors.push(InputError {
                source: job.video.display().to_string(),
                message: format!("duplicate Live Video id {}", job.id),
            });
        }
    }
    input.jobs = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_pair_videos_with_their_json_and_list_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let w = |name: &str, text: &str| std::fs::write(d.path().join(name), text).unwrap();
        w("a.mp4", "");
        w("a.json", r#"{"id":"A","language":"en","challenges":[]}"#);
        w("b.webm", "");
        w("c.json", r#"{"id":"C"}"#);
        w("d.mov", "");
        w("d.json", "{not json");
        w("e.mkv", "");
        w("e.json", r#"{"id":"A"}"#);
        w("notes.txt", "ignored");
        // Valid JSON ten times the size a Live Video may be: listed, read only to the limit.
        let limit = crate::live_video::LIMITS.json_bytes;
        w("f.mp4", "");
        w(
            "f.json",
            &format!(r#"{{"id":"F","pad":"{}"}}"#, "x".repeat(10 * limit)),
        );
        // A byte-order mark (as Windows editors write) is dropped, as `verify` drops it, and
        // not counted against the limit: a Live Video of exactly the limit after it is queued.
        w("g.mp4", "");
        let at_limit = r#"{"id":"G","language":"en","challenges":[],"pad":""}"#;
        let pad = "x".repeat(limit - at_limit.len());
        w("g.json", &format!("\u{feff}{}", at_limit.replace(r#""pad":"""#, &format!(r#""pad":"{pad}""#))));
        let input = read_input(d.path()).unwrap();
        assert_eq!(input.jobs.len(), 2);
        assert_eq!(input.jobs[0].id, "A");
        assert_eq!(input.jobs[1].id, "G");
        assert_eq!(input.jobs[1].live_video.len(), limit);
        assert!(input.jobs[1].live_video.starts_with('{'));
        let messages: Vec<&str> = input.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(input.errors.len(), 5, "{messages:?}");
        assert!(messages
            .iter()
            .any(|m| m.contains(&format!("larger than the {limit} bytes"))));
        assert!(messages.iter().any(|m| m.contains("no Live Video b.json")));
        assert!(messages.iter().any(|m| m.contains("no video named c")));
        assert!(messages.iter().any(|m| m.contains("invalid JSON")));
        assert!(messages
            .iter()
            .any(|m| m.contains("duplicate Live Video id A")));
    }

    #[test]
    fn manifests_resolve_paths_beside_them() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("m.jsonl");
        std::fs::write(
            &m,
            "{\"video\":\"v/x.mp4\",\"liveVideo\":{\"id\":\"X\"}}\n\nnot json\n{\"video\":\"/abs.mp4\",\"liveVideo\":{}}\n",
        )
        .unwrap();
        let input = read_input(&m).unwrap();
        assert_eq!(input.jobs.len(), 1);
        assert_eq!(input.jobs[0].video, d.path().join("v/x.mp4"));
        assert_eq!(input.errors.len(), 2);
        assert!(matches!(
            read_input(&d.path().join("none")),
            Err(InputFailure::NotFound(_))
        ));
    }
}
