//! Vision: faces in decoded frames, with MediaPipe's models run through ONNX Runtime (`ort`).
//! A short-range face detector finds faces; the 468-point face mesh runs on a crop around the
//! main face (rotated upright from the eye line); per-frame signals (head pose, eye and mouth
//! openness, mouth width) come from the mesh geometry.

pub mod analyzer;
pub mod detector;
pub mod embedder;
pub mod eyes;
pub mod image;
pub mod mesh;
pub mod runtime;
pub mod signals;

use crate::report::{Classify, ErrorClass};
use std::path::PathBuf;

/// Errors from the vision stage.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// ONNX Runtime could not be loaded or initialised.
    #[error("ONNX Runtime unavailable ({path}): {message}")]
    Runtime {
        /// The library tried.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A model could not be loaded.
    #[error("cannot load vision model {path}: {message}")]
    Load {
        /// Model path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Inference failed or returned an unexpected shape.
    #[error("vision inference failed: {0}")]
    Inference(String),
}

impl VisionError {
    fn inference(e: impl std::fmt::Display) -> Self {
        Self::Inference(e.to_string())
    }
}

impl Classify for VisionError {
    fn class(&self) -> ErrorClass {
        match self {
            VisionError::Runtime { .. } | VisionError::Load { .. } => ErrorClass::ModelUnavailable,
            VisionError::Inference(_) => ErrorClass::Internal,
        }
    }
}
