//! `results.jsonl`: one line per verified video, appended and flushed as soon as it is known,
//! so that an interrupted audit loses at most the videos in flight. A re-run reads it back and
//! skips every video whose id and input sha256 already have a line.

use crate::report::ErrorObject;
use crate::report::VerifyReport;

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::models::hash_reader;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultLine {
    /// The Live Video id.
    pub live_video_id: String,
    /// The video file as given.
    pub video: String,
    /// sha256 of the video's bytes followed by the Live Video JSON's bytes.
    pub input_sha256: String,
    /// The verify report, when the video could be verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<VerifyReport>,
    /// The error, when it could not (`{"type","message"}`, as `liveness verify` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
    /// Wall time spent on this video, seconds.
    pub seconds: f64,
    /// Thumbnails taken for the report (files under the output folder's `thumbs/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thumbnails: Vec<Thumbnail>,
}

/// A thumbnail of a video at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thumbnail {
    /// Media time, seconds.
    pub t: f64,
    /// What happened then (an action's name, or "middle").
    pub label: String,
    /// File name inside `thumbs/`.
    pub file: String,
}

/// The sha256 identifying one input: the video's bytes, then the Live Video JSON's.
pub fn input_sha256(video: &Path, live_video: &str) -> std::io::Result<String> {
    let mut h = Sha256::new();
    hash_reader(&mut h, File::open(video)?)?;
    h.update(live_video.as_bytes());
    Ok(format!("{:x}", h.finalize()))
}

/// The results file of an audit, open for appending.
pub struct ResultsFile {
    file: File,
}

impl ResultsFile {
    /// Opens (creating) `path` for appending and returns the `(id, input sha256)` pairs
    /// already in it (read line by line, not kept). A last line cut short by an interruption
    /// is ignored, and a newline is added so that the next line starts clean.
    pub fn open(path: &Path) -> std::io::Result<(Self, HashSet<(String, String)>)> {
        let mut done = HashSet::new();
        for_each_line(path, |_, r| {
            done.insert((r.live_video_id, r.input_sha256));
        })?;
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            let mut reader = File::open(path)?;
            std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(len - 1))?;
            reader.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok((Self { file }, done))
    }

    /// Appends one line and flushes it to the operating system.
    pub fn append(&mut self, line: &ResultLine) -> std::io::Result<()> {
        let mut text = serde_json::to_string(line).map_err(std::io::Error::other)?;
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }
}

/// Calls `f` with the number and content of every readable line of a results file (none
/// when it does not exist), one at a time.
pub fn for_each_line(path: &Path, mut f: impl FnMut(usize, ResultLine)) -> std::io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    for (n, line) in BufReader::new(File::open(path)?).lines().enumerate() {
        if let Ok(r) = serde_json::from_str::<ResultLine>(&line?) {
            f(n, r);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str) -> ResultLine {
        ResultLine {
            live_video_id: id.into(),
            video: "v.mp4".into(),
            input_sha256: "00".into(),
            report: None,
            error: Some(ErrorObject {
                kind: "invalid_media".into(),
                message: "x".into(),
                param: None,
            }),
            seconds: 0.1,
            thumbnails: Vec::new(),
        }
    }

    #[test]
    fn appends_survive_and_a_cut_last_line_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("results.jsonl");
        let (mut f, done) = ResultsFile::open(&p).unwrap();
        assert!(done.is_empty());
        f.append(&line("a")).unwrap();
        f.append(&line("b")).unwrap();
        drop(f);
        // An interruption in the middle of writing a third line.
        let mut raw = OpenOptions::new().append(true).open(&p).unwrap();
        raw.write_all(br#"{"liveVideoId":"c","vid"#).unwrap();
        drop(raw);
        let (mut f, done) = ResultsFile::open(&p).unwrap();
        assert_eq!(done.len(), 2);
        f.append(&line("c")).unwrap();
        drop(f);
        let (_, done) = ResultsFile::open(&p).unwrap();
        assert_eq!(done.len(), 3);
        assert!(done.contains(&("c".to_string(), "00".to_string())));
        let mut ids = Vec::new();
        for_each_line(&p, |n, l| ids.push((n, l.live_video_id))).unwrap();
        // The cut line is line 2 and skipped; "c" follows it on line 3.
        let ids: Vec<(usize, &str)> = ids.iter().map(|(n, i)| (*n, i.as_str())).collect();
        assert_eq!(ids, [(0, "a"), (1, "b"), (3, "c")]);
    }

    #[test]
    fn input_hash_covers_video_and_live_video() {
        let d = tempfile::tempdir().unwrap();
        let v = d.path().join("v.bin");
        std::fs::write(&v, b"abc").unwrap();
        let a = input_sha256(&v, "{}").unwrap();
        assert_ne!(a, input_sha256(&v, "{ }").unwrap());
        std::fs::write(&v, b"abd").unwrap();
        assert_ne!(a, input_sha256(&v, "{}").unwrap());
    }
}
