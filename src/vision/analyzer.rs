//! Per-frame face analysis: detect every face, run the mesh on the main one (the largest), and
//! turn it into signals.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::detector::{Detection, FaceDetector};
use super::embedder::FaceEmbedder;
use super::eyes::EyeModel;
use super::image::{RgbView, Roi};
use super::mesh::{roi_for, FaceMesh, Mesh};
use super::signals::{face_signals, FaceSignals};
use super::VisionError;

/// Mesh face-presence probability below which the mesh is not trusted.
const MIN_PRESENCE: f32 = 0.5;

/// The vision models, loaded once and shared (inference is serialised per model).
#[derive(Debug)]
pub struct VisionModels {
    detector: FaceDetector,
    mesh: FaceMesh,
    eyes: EyeModel,
    embedder: FaceEmbedder,
}

/// File names inside the models folder.
pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";
/// Face detector file.
pub const DETECTOR_FILE: &str = "face_detection_short_range.onnx";
/// Face mesh file.
pub const MESH_FILE: &str = "face_landmark.onnx";
/// Eye contour (iris) model file.
pub const EYES_FILE: &str = "iris_landmark.onnx";
/// Face embedding (identity) model file.
pub const EMBEDDER_FILE: &str = "face_embedder.onnx";

impl VisionModels {
    /// Loads ONNX Runtime and the models from a models folder. `ORT_DYLIB_PATH` overrides the
    /// runtime library's location.
    pub fn load(models: &Path) -> Result<Self, VisionError> {
        let runtime = std::env::var_os("ORT_DYLIB_PATH")
            .filter(|p| !p.is_empty())
            .map(Into::into)
            .unwrap_or_else(|| models.join(RUNTIME_FILE));
        // Each session takes 7 to 25 ms to create (the face embedder the longest): two threads
        // create them, the embedder and the detector on one, the mesh and the eye model on
        // the other, so that a video without a voice (no whisper model loading beside them)
        // does not wait for the four in a row.
        std::thread::scope(|s| {
            let second = s.spawn(|| {
                (
                    FaceEmbedder::load(&runtime, &models.join(EMBEDDER_FILE)),
                    FaceDetector::load(&runtime, &models.join(DETECTOR_FILE)),
                )
            });
            let mesh = FaceMesh::load(&runtime, &models.join(MESH_FILE));
            let eyes = EyeModel::load(&runtime, &models.join(EYES_FILE));
            let (embedder, detector) = second.join().map_err(|_| VisionError::Load {
                path: models.to_path_buf(),
                message: "loading the vision models panicked".into(),
            })?;
            // The first failure in this order is the one reported, as when they loaded in turn.
            Ok(Self {
                detector: detector?,
                mesh: mesh?,
                eyes: eyes?,
                embedder: embedder?,
            })
        })
    }
}

impl VisionModels {
    /// Each model's manifest name and output fingerprint (see `OnnxModel::fingerprint`).
    pub fn fingerprints(&self) -> Result<Vec<(&'static str, Vec<f64>)>, VisionError> {
        Ok(vec![
            ("face-detector", self.detector.fingerprint()?),
            ("face-mesh", self.mesh.fingerprint()?),
            ("iris", self.eyes.fingerprint()?),
            ("face-embedder", self.embedder.fingerprint()?),
        ])
    }
}

/// Whether a fingerprint matches the expected one within a relative tolerance of 1e-3.
pub fn fingerprint_matches(actual: &[f64], expected: &[f64]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| (a - e).abs() <= 1e-3 * e.abs().max(1.0))
}

/// A face box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl From<&Detection> for FaceBox {
    fn from(d: &Detection) -> Self {
        Self {
            x: d.cx - d.w / 2.0,
            y: d.cy - d.h / 2.0,
            w: d.w,
            h: d.h,
        }
    }
}

/// What one frame shows.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameObservation {
    /// Media time, seconds.
    pub t: f64,
    /// Frame width and height.
    pub size: (usize, usize),
    /// Every face the detector found, strongest first; None on frames where the face was
    /// tracked from the previous frame and the detector did not run.
    pub faces: Option<Vec<FaceBox>>,
    /// The main face's box (from its mesh when trusted, else from the detector).
    pub main_box: Option<FaceBox>,
    /// The main face's signals, when its mesh is trusted.
    pub main: Option<FaceSignals>,
    /// The face mesh's own probability that a whole face is in the main face's crop (None
    /// without a face): low when the face is covered or cut off.
    pub main_presence: Option<f32>,
    /// The main face's mesh (None without a face).
    pub mesh: Option<Mesh>,
    /// The main face's identity embedding, on the frames where it was taken (see
    /// `FaceReader::with_identity`).
    pub embedding: Option<Vec<f32>>,
    /// The lips as lip sync reads them (see `FaceTracker::with_lips`), when asked for.
    pub lips: Option<LipReading>,
}

/// The lips of the main face in one frame, read on the crop the face is tracked with (see
/// `FaceTracker::lips`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LipReading {
    /// Lip opening (`FaceSignals::lip_area`).
    pub lip_area: f32,
    /// Head yaw, degrees.
    pub yaw: f32,
    /// The face's width, pixels.
    pub face_width: f32,
}

/// Share of the recent open level at which one open eye settles the frame.
const EYE_OPEN_SHARE: f32 = 0.7;
/// Per-frame decay of the eye-openness high-water mark (halves in about 2 s at 15 fps).
const EYE_LEVEL_DECAY: f32 = 0.98;

/// Frames analysed between two runs of the detector while the face is tracked: the detector
/// still runs twice a second at 15 fps, so a second face entering is counted.
const DETECT_EVERY: usize = 8;

/// The crop for the next frame from a trusted mesh, as MediaPipe tracks a face: the landmarks'
/// bounding box, squared and enlarged 1.5x, levelled on the outer eye corners.
fn roi_from_mesh(mesh: &Mesh) -> Roi {
    let b = mesh_box(mesh);
    let (r, l) = (mesh.points[33], mesh.points[263]);
    Roi {
        cx: b.x + b.w / 2.0,
        cy: b.y + b.h / 2.0,
        side: b.w.max(b.h) * 1.5,
        angle: (l[1] - r[1]).atan2(l[0] - r[0]),
    }
}

/// The axis-aligned box of a mesh's landmarks.
fn mesh_box(mesh: &Mesh) -> FaceBox {
    let (x0, x1, y0, y1) = mesh.points.iter().fold(
        (f32::MAX, f32::MIN, f32::MAX, f32::MIN),
        |(x0, x1, y0, y1), p| (x0.min(p[0]), x1.max(p[0]), y0.min(p[1]), y1.max(p[1])),
    );
    FaceBox {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    }
}

/// The lips of a trusted mesh.
fn lip_reading(mesh: &Mesh) -> Option<LipReading> {
    let s = face_signals(mesh).filter(|_| mesh.presence >= MIN_PRESENCE)?;
    Some(LipReading {
        lip_area: s.lip_area,
        yaw: s.yaw,
        face_width: mesh_box(mesh).w,
    })
}

/// What a detector run gives: every face, and the crop and box of the largest.
type Detected = (Vec<FaceBox>, Option<(Roi, FaceBox)>);

/// The first half of one frame's analysis (see [`FaceTracker::track`]): where the faces are
/// and the main face's mesh. [`FaceReader::read`] completes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedFrame {
    /// Media time, seconds.
    pub t: f64,
    /// Every face the detector found (None when the face was tracked and it did not run).
    pub faces: Option<Vec<FaceBox>>,
    /// The detector's box of the main face, when it ran and found one.
    detected_box: Option<FaceBox>,
    /// The main face's mesh (None without a face).
    pub mesh: Option<Mesh>,
    /// The lips as lip sync reads them, when asked for.
    pub lips: Option<LipReading>,
}

impl TrackedFrame {
    /// The mesh, when the model trusts it (`MIN_PRESENCE`).
    fn trusted(&self) -> Option<&Mesh> {
        self.mesh.as_ref().filter(|m| m.presence >= MIN_PRESENCE)
    }
}

/// Finds the main face of a video and follows it from frame to frame, as MediaPipe does: the
/// detector runs on the first frame, when tracking is lost, and every `DETECT_EVERY` frames;
/// in between, each frame's mesh gives the next frame's crop. Its state is the track, so the
/// frames must come in order.
pub struct FaceTracker<'m> {
    models: &'m VisionModels,
    scratch: Vec<f32>,
    /// The crop to run the mesh on in the next frame, while the face is tracked.
    track: Option<Roi>,
    /// Frames since the detector last ran.
    since_detect: usize,
    /// Read the lips on every tracked frame.
    read_lips: bool,
}

impl<'m> FaceTracker<'m> {
    /// A tracker over shared models, with no face tracked yet.
    pub fn new(models: &'m VisionModels) -> Self {
        Self {
            models,
            scratch: Vec::new(),
            track: None,
            since_detect: 0,
            read_lips: false,
        }
    }

    /// Also reads the lips on every tracked frame (`TrackedFrame::lips`), for lip sync.
    pub fn with_lips(mut self) -> Self {
        self.read_lips = true;
        self
    }

    /// Reads the lips alone, on a frame between two fully analysed ones: the mesh on the
    /// crop the face is tracked with, nothing else (no detector; the track is left as it is,
    /// so the full analysis is the same with or without these frames). None when no face is
    /// being tracked or the mesh loses it.
    pub fn lips(&mut self, img: &RgbView) -> Result<Option<LipReading>, VisionError> {
        let Some(roi) = self.track else {
            return Ok(None);
        };
        let mesh = self.models.mesh.run(img, roi, &mut self.scratch)?;
        Ok(lip_reading(&mesh))
    }

    /// Runs the detector: every face, and the crop around the largest.
    fn detect(&mut self, img: &RgbView) -> Result<Detected, VisionError> {
        self.since_detect = 0;
        let detections = self.models.detector.detect(img, &mut self.scratch)?;
        let main = detections
            .iter()
            .max_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)))
            .map(|d| (roi_for(d), FaceBox::from(d)));
        Ok((detections.iter().map(FaceBox::from).collect(), main))
    }

    /// Finds the faces of one RGB frame taken at media time `t` and runs the mesh on the main
    /// one, moving the track on.
    pub fn track(&mut self, img: &RgbView, t: f64) -> Result<TrackedFrame, VisionError> {
        let mut faces = None;
        let mut detected_box = None;
        let tracked = self.track;
        let mut roi = match self.track {
            Some(roi) if self.since_detect + 1 < DETECT_EVERY => {
                self.since_detect += 1;
                Some(roi)
            }
            _ => {
                let (all, main) = self.detect(img)?;
                faces = Some(all);
                detected_box = main.map(|m| m.1);
                main.map(|m| m.0)
            }
        };
        let mut mesh = match roi {
            Some(r) => Some(self.models.mesh.run(img, r, &mut self.scratch)?),
            None => None,
        };
        if faces.is_none() && mesh.as_ref().is_none_or(|m| m.presence < MIN_PRESENCE) {
            // Tracking lost: find the face again.
            let (all, main) = self.detect(img)?;
            faces = Some(all);
            detected_box = main.map(|m| m.1);
            roi = main.map(|m| m.0);
            mesh = match roi {
                Some(r) => Some(self.models.mesh.run(img, r, &mut self.scratch)?),
                None => None,
            };
        }
        let trusted = mesh.as_ref().filter(|m| m.presence >= MIN_PRESENCE);
        self.track = trusted.map(roi_from_mesh);
        let lips = if !self.read_lips {
            None
        } else if faces.is_none() {
            // Tracked: this frame's mesh serves the lips too.
            mesh.as_ref().and_then(lip_reading)
        } else {
            // The detector ran and re-centred the crop on its box, which moves the mesh by a
            // few pixels: a jolt every `DETECT_EVERY` frames that the actions do not notice but
            // that lands in the band of syllables lip sync reads. The lips are read on the
            // crop the face was tracked with instead (or on the new one when there was none).
            match tracked.or(self.track) {
                Some(r) => lip_reading(&self.models.mesh.run(img, r, &mut self.scratch)?),
                None => None,
            }
        };
        Ok(TrackedFrame {
            t,
            faces,
            detected_box,
            mesh,
            lips,
        })
    }
}

/// Reads what the tracked main face of a frame shows: its signals (pose, mouth, smile), its
/// eyes with the eye-contour model when asked, and its identity embedding now and then. Its
/// state (the recent eye-openness level, the time of the next embedding) runs with the
/// video, so the frames must come in order; it needs nothing from the tracker but each
/// frame's [`TrackedFrame`], so the two can run on two threads.
pub struct FaceReader<'m> {
    models: &'m VisionModels,
    eyes: bool,
    scratch: Vec<f32>,
    /// A slowly decaying high-water mark of eye openness in this video.
    eye_level: f32,
    /// Seconds between identity embeddings (None: no embeddings).
    identity_every: Option<f64>,
    /// Media time of the next embedding.
    next_identity: f64,
}

impl<'m> FaceReader<'m> {
    /// A reader over shared models, reading the eyes with the eye-contour model (about half
    /// the per-frame cost) only when `eyes` is set, that is when a blink is asked for;
    /// otherwise `FaceSignals::eyes` is the mesh's own, coarser reading.
    pub fn new(models: &'m VisionModels, eyes: bool) -> Self {
        Self {
            models,
            eyes,
            scratch: Vec::new(),
            eye_level: 0.0,
            identity_every: None,
            next_identity: f64::MIN,
        }
    }

    /// Also takes the main face's identity embedding every `seconds` of media time (on the
    /// first trusted mesh from then on), so a change of person can be seen.
    pub fn with_identity(mut self, seconds: f64) -> Self {
        self.identity_every = Some(seconds.max(0.0));
        self
    }

    /// Completes the analysis of the frame `img` that `tracked` was found in.
    pub fn read(
        &mut self,
        img: &RgbView,
        tracked: TrackedFrame,
    ) -> Result<FrameObservation, VisionError> {
        let t = tracked.t;
        let trusted = tracked.trusted();
        let main = match trusted.and_then(face_signals) {
            Some(mut s) => {
                if self.eyes {
                    if let Some(m) = trusted {
                        // One eye clearly open (70% of the recent open level) rules out a
                        // blink: the other eye is read only otherwise.
                        let open_enough = EYE_OPEN_SHARE * self.eye_level;
                        s.eyes =
                            self.models
                                .eyes
                                .more_open(img, m, open_enough, &mut self.scratch)?;
                        self.eye_level = (self.eye_level * EYE_LEVEL_DECAY).max(s.eyes);
                    }
                }
                Some(s)
            }
            None => None,
        };
        let embedding = match (self.identity_every, trusted) {
            (Some(every), Some(m)) if t >= self.next_identity => {
                self.next_identity = t + every;
                Some(self.models.embedder.embed(img, m, &mut self.scratch)?)
            }
            _ => None,
        };
        let main_box = trusted.map(mesh_box).or(tracked.detected_box);
        Ok(FrameObservation {
            lips: tracked.lips,
            t,
            size: (img.width, img.height),
            faces: tracked.faces,
            main_box,
            main,
            main_presence: tracked.mesh.as_ref().map(|m| m.presence),
            mesh: tracked.mesh,
            embedding,
        })
    }
}

/// Analyses the frames of one video with shared models, one frame at a time: a
/// [`FaceTracker`] and a [`FaceReader`] in turn (scratch buffers, the face track and the
/// reader's state are its own). `into_parts` hands the two halves to two threads.
pub struct FrameAnalyzer<'m> {
    tracker: FaceTracker<'m>,
    reader: FaceReader<'m>,
}

impl<'m> FrameAnalyzer<'m> {
    /// A new analyzer over shared models (see `FaceReader::new` for `eyes`).
    pub fn new(models: &'m VisionModels, eyes: bool) -> Self {
        Self {
            tracker: FaceTracker::new(models),
            reader: FaceReader::new(models, eyes),
        }
    }

    /// Also takes identity embeddings (see `FaceReader::with_identity`).
    pub fn with_identity(mut self, seconds: f64) -> Self {
        self.reader = self.reader.with_identity(seconds);
        self
    }

    /// Also reads the lips on every analysed frame (`FrameObservation::lips`), for lip sync.
    pub fn with_lips(mut self) -> Self {
        self.tracker = self.tracker.with_lips();
        self
    }

    /// Analyses one RGB frame taken at media time `t`: tracks the face, then reads it.
    pub fn analyze(&mut self, img: &RgbView, t: f64) -> Result<FrameObservation, VisionError> {
        let tracked = self.tracker.track(img, t)?;
        self.reader.read(img, tracked)
    }

    /// The two halves, to run on two threads: the tracker on the frames in order, the reader
    /// on each frame with its `TrackedFrame`, in the same order.
    pub fn into_parts(self) -> (FaceTracker<'m>, FaceReader<'m>) {
        (self.tracker, self.reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The models load on two threads; a missing one is reported as when they loaded in
    /// turn (detector, mesh, eye contours, embedder): the first missing in that order.
    #[test]
    fn a_missing_vision_model_is_named_in_load_order() {
        let installed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let all = [RUNTIME_FILE, DETECTOR_FILE, MESH_FILE, EYES_FILE, EMBEDDER_FILE];
        assert!(
            all.iter().all(|f| installed.join(f).is_file()),
            "vision models not installed in {} (scripts/setup.sh)",
            installed.display()
        );
        let folder_without = |missing: &[&str]| {
            let d = tempfile::tempdir().unwrap();
            for f in all.iter().filter(|f| !missing.contains(f)) {
                let target = std::fs::canonicalize(installed.join(f)).unwrap();
                std::os::unix::fs::symlink(target, d.path().join(f)).unwrap();
            }
            d
        };
        for (missing, named) in [
            (&[DETECTOR_FILE, EMBEDDER_FILE][..], DETECTOR_FILE),
            (&[EMBEDDER_FILE, EYES_FILE][..], EYES_FILE),
            (&[EMBEDDER_FILE][..], EMBEDDER_FILE),
            (&[MESH_FILE, EMBEDDER_FILE][..], MESH_FILE),
        ] {
            let d = folder_without(missing);
            match VisionModels::load(d.path()) {
                Err(VisionError::Load { path, .. }) => {
                    assert_eq!(path, d.path().join(named), "{missing:?}")
                }
                other => panic!("{missing:?}: {other:?}"),
            }
        }
        let d = folder_without(&[]);
        let models = VisionModels::load(d.path()).unwrap();
        assert_eq!(models.fingerprints().unwrap().len(), 4);
    }

    #[test]
    fn fingerprints_match_within_a_relative_thousandth() {
        assert!(fingerprint_matches(&[1000.0, -2.0], &[1000.5, -2.0005]));
        assert!(!fingerprint_matches(&[1000.0, -2.0], &[1002.0, -2.0]));
        assert!(!fingerprint_matches(&[1000.0], &[1000.0, 1.0]));
    }
}
