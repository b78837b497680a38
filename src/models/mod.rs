//! Locating, checking (sha256) and converting model files. Nothing here downloads anything:
//! the set-up script fetches registry packages, and this module turns them into the files the
//! verifier loads.

internal_mod! {
    #[cfg(feature = "import")]
    ct2;
    lazy;
    #[cfg(feature = "import")]
    mel;
    #[cfg(feature = "import")]
    whisper_ggml;
}

use crate::report::{Classify, ErrorClass};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Errors from locating, checking or converting models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A model file or folder the verifier needs is not there.
    #[error("model file missing: {0} (run scripts/setup.sh, or point --models / LIVENESS_MODELS at the folder)")]
    Missing(PathBuf),
    /// A model file is there but its checksum differs from the manifest.
    #[error("model file {path} is corrupt: sha256 {actual}, expected {expected}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// What the manifest says.
        expected: String,
        /// What the file hashes to.
        actual: String,
    },
    /// A model or manifest file is malformed.
    #[error("malformed model data: {0}")]
    Format(String),
    /// The inference library refused to load a model.
    #[error("cannot load model {path}: {message}")]
    Load {
        /// The file.
        path: PathBuf,
        /// The library's words.
        message: String,
    },
    /// Reading or writing a model file failed.
    #[error("model I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// One entry of `models/manifest.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestEntry {
    /// Short name used in code and logs (`whisper-base`).
    pub name: String,
    /// File name inside the models folder.
    pub file: String,
    /// Size in bytes, for files that are reproduced byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Expected sha256 (hex), for files that are reproduced byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// sha256 of the registry file a converted model is made from, where the conversion is not
    /// byte-identical from run to run (the converted file is then checked by running it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
    /// For such converted models: the sums of their outputs on a fixed input (checked by
    /// `liveness models check`; equal across conversions, unlike the bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Vec<f64>>,
    /// Where it comes from (registry packages and the conversion step).
    pub source: String,
    /// Licence of the weights.
    pub licence: String,
}

/// The committed list of model files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Every model the verifier can use.
    #[serde(rename = "model")]
    pub models: Vec<ManifestEntry>,
}

/// The manifest shipped with the source, compiled in so the binary can check files anywhere.
pub const MANIFEST_TOML: &str = include_str!("../../models/manifest.toml");

impl Manifest {
    /// The manifest compiled into this build.
    pub fn builtin() -> Self {
        toml::from_str(MANIFEST_TOML).expect("models/manifest.toml is valid (checked by tests)")
    }

    /// The entry with this name.
    pub fn entry(&self, name: &str) -> Option<&ManifestEntry> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// Name of the Whisper model entry in the manifest.
pub const WHISPER_BASE: &str = "whisper-base";
/// Name of the 8-bit (`Q8_0`) form of the same weights in the manifest.
pub const WHISPER_BASE_Q8_0: &str = "whisper-base-q8_0";

/// Which form of the whisper weights recognises speech: the f16 conversion of the registry
/// weights, or its 8-bit quantisation (smaller and faster on CPU; see docs/models.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhisperWeights {
    /// `ggml-base.bin`, f16.
    #[default]
    F16,
    /// `ggml-base-q8_0.bin`, ggml `Q8_0` blocks.
    Q8_0,
}

impl WhisperWeights {
    /// The manifest entry of these weights.
    pub fn manifest_name(self) -> &'static str {
        match self {
            WhisperWeights::F16 => WHISPER_BASE,
            WhisperWeights::Q8_0 => WHISPER_BASE_Q8_0,
        }
    }

    /// The word for them on the command line and in `LIVENESS_WHISPER_WEIGHTS`.
    pub fn as_str(self) -> &'static str {
        match self {
            WhisperWeights::F16 => "f16",
            WhisperWeights::Q8_0 => "q8_0",
        }
    }

    /// The weights a word names (`f16` or `q8_0`).
    pub fn parse(word: &str) -> Option<Self> {
        [WhisperWeights::F16, WhisperWeights::Q8_0]
            .into_iter()
            .find(|w| w.as_str() == word)
    }
}

/// A folder of model files.
#[derive(Debug, Clone)]
pub struct ModelsDir {
    root: PathBuf,
}

impl ModelsDir {
    /// Resolves the folder: an explicit path, else `LIVENESS_MODELS`, else `./models`, else the
    /// `models/` folder beside the executable's project (for `cargo run` from elsewhere).
    pub fn locate(explicit: Option<&Path>) -> Self {
        if let Some(p) = explicit {
            return Self {
                root: p.to_path_buf(),
            };
        }
        if let Some(p) = std::env::var_os("LIVENESS_MODELS").filter(|p| !p.is_empty()) {
            return Self {
                root: PathBuf::from(p),
            };
        }
        let local = PathBuf::from("models");
        if local.join("manifest.toml").exists() || local.join("ggml-base.bin").exists() {
            return Self { root: local };
        }
        Self {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
        }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a manifest entry's file, checked to exist (not hashed: see [`Self::verify`]).
    pub fn path_of(&self, entry: &ManifestEntry) -> Result<PathBuf, ModelError> {
        let p = self.root.join(&entry.file);
        if p.is_file() {
            Ok(p)
        } else {
            Err(ModelError::Missing(p))
        }
    }

    /// Whether the files the verifier needs with `weights` are present with their manifest
    /// sizes: a cheap check (no hashing) for a readiness probe. The first missing or
    /// wrong-sized file is the error.
    pub fn present(&self, weights: WhisperWeights) -> Result<(), ModelError> {
        let unused = [WhisperWeights::F16, WhisperWeights::Q8_0]
            .into_iter()
            .find(|w| *w != weights)
            .map(WhisperWeights::manifest_name);
        for entry in Manifest::builtin().models.iter() {
            if Some(entry.name.as_str()) == unused {
                continue;
            }
            let p = self.path_of(entry)?;
            let len = std::fs::metadata(&p)?.len();
            if let (Some(size), Some(expected)) = (entry.size, &entry.sha256) {
                if size != len {
                    return Err(ModelError::Checksum {
                        path: p,
                        expected: expected.clone(),
                        actual: format!("(size {len}, expected {size})"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks one entry's size and sha256 (only that the file exists for entries checked by
    /// running them instead).
    pub fn verify(&self, entry: &ManifestEntry) -> Result<PathBuf, ModelError> {
        let p = self.path_of(entry)?;
        let Some(expected) = &entry.sha256 else {
            return Ok(p);
        };
        let len = std::fs::metadata(&p)?.len();
        let actual = match entry.size {
            Some(size) if size != len => format!("(size {len}, expected {size})"),
            _ => sha256_file(&p)?,
        };
        if &actual != expected {
            return Err(ModelError::Checksum {
                path: p,
                expected: expected.clone(),
                actual,
            });
        }
        Ok(p)
    }
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let f = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::Missing(path.to_path_buf()),
        _ => ModelError::Io(e),
    })?;
    let mut h = Sha256::new();
    hash_reader(&mut h, f)?;
    Ok(format!("{:x}", h.finalize()))
}

/// Feeds everything `r` yields into `h`, 1 MiB at a time.
pub fn hash_reader(h: &mut Sha256, mut r: impl Read) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

#[cfg(feature = "import")]
/// Converts a CTranslate2 Whisper folder (`model.bin` + `vocabulary.txt`, or `model.bin` given
/// as split parts) into a ggml file at `out`, written atomically (temp file, then rename).
pub fn import_ct2_whisper(
    model_parts: &[PathBuf],
    vocabulary: &Path,
    out: &Path,
) -> Result<whisper_ggml::ConversionSummary, ModelError> {
    use std::io::{BufReader, BufWriter};
    let mut readers: Vec<Box<dyn Read>> = Vec::new();
    for p in model_parts {
        let f = File::open(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelError::Missing(p.clone()),
            _ => ModelError::Io(e),
        })?;
        readers.push(Box::new(f));
    }
    let joined = readers
        .into_iter()
        .reduce(|a, b| Box::new(a.chain(b)))
        .ok_or_else(|| ModelError::Format("no model.bin part given".into()))?;
    let model = ct2::Ct2Model::read(BufReader::new(joined))?;
    let vocab = std::fs::read_to_string(vocabulary).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::Missing(vocabulary.to_path_buf()),
        _ => ModelError::Io(e),
    })?;
    let tmp = out.with_extension("partial");
    let summary = whisper_ggml::write_ggml(&model, &vocab, BufWriter::new(File::create(&tmp)?))?;
    std::fs::rename(&tmp, out)?;
    Ok(summary)
}

#[cfg(feature = "import")]
/// Writes the `Q8_0` form of an f16 whisper ggml file (see `whisper_ggml::quantize_q8_0`) to
/// `out`, atomically (temp file, then rename).
pub fn quantize_whisper_q8_0(
    input: &Path,
    out: &Path,
) -> Result<whisper_ggml::QuantizeSummary, ModelError> {
    use std::io::{BufReader, BufWriter};
    let f = File::open(input).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::Missing(input.to_path_buf()),
        _ => ModelError::Io(e),
    })?;
    let tmp = out.with_extension("partial");
    let summary =
        whisper_ggml::quantize_q8_0(BufReader::new(f), BufWriter::new(File::create(&tmp)?))?;
    std::fs::rename(&tmp, out)?;
    Ok(summary)
}

impl Classify for ModelError {
    fn class(&self) -> ErrorClass {
        ErrorClass::ModelUnavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_names_whisper() {
        let m = Manifest::builtin();
        let w = m.entry(WHISPER_BASE).expect("whisper-base entry");
        assert_eq!(w.sha256.as_ref().unwrap().len(), 64);
        assert!(w.size.unwrap() > 100_000_000);
        for weights in [WhisperWeights::F16, WhisperWeights::Q8_0] {
            let e = m
                .entry(weights.manifest_name())
                .expect("whisper weights entry");
            assert_eq!(e.sha256.as_ref().unwrap().len(), 64);
            assert_eq!(WhisperWeights::parse(weights.as_str()), Some(weights));
        }
        assert_eq!(WhisperWeights::parse("q4_0"), None);
        for vision in [
            "face-detector",
            "face-mesh",
            "iris",
            "face-embedder",
            "onnxruntime",
        ] {
            let e = m.entry(vision).expect(vision);
            assert!(e.sha256.is_some() || e.source_sha256.is_some(), "{vision}");
        }
    }

    #[test]
    fn verify_reports_missing_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let models = ModelsDir::locate(Some(dir.path()));
        let entry = ManifestEntry {
            name: "x".into(),
            file: "x.bin".into(),
            size: Some(3),
            sha256: Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()),
            source_sha256: None,
            fingerprint: None,
            source: "test".into(),
            licence: "MIT".into(),
        };
        assert!(matches!(models.verify(&entry), Err(ModelError::Missing(_))));
        std::fs::write(dir.path().join("x.bin"), b"abd").unwrap();
        assert!(matches!(
            models.verify(&entry),
            Err(ModelError::Checksum { .. })
        ));
        std::fs::write(dir.path().join("x.bin"), b"abc").unwrap();
        assert!(models.verify(&entry).is_ok());
    }
}
