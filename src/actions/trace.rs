//! The signal trace of one video: per analysed frame, how many faces and the main face's
//! signals; the person's neutral baseline; deviations from it per recogniser signal; and a
//! compact pose trace for reviewers. A trace holds a few numbers per frame, never pixels.

use crate::report::rounding::round3;
use crate::report::{Baseline, PosePoint};
use crate::vision::analyzer::{FaceBox, LipReading};
use crate::vision::signals::FaceSignals;

/// The per-frame signals recognisers read (see `challenges/actions.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Head yaw deviation, degrees, + towards the subject's left.
    Yaw,
    /// Head pitch deviation, degrees, + up.
    Pitch,
    /// Eye closure: 1 - openness / baseline.
    Eyes,
    /// Mouth widening: width / baseline - 1.
    MouthWidth,
    /// Mouth opening (lip gap over mouth width) above baseline.
    MouthOpening,
}

impl Signal {
    /// Parses a signal name as written in `actions.toml`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "yaw" => Self::Yaw,
            "pitch" => Self::Pitch,
            "eyes" => Self::Eyes,
            "mouthWidth" => Self::MouthWidth,
            "mouthOpening" => Self::MouthOpening,
            _ => return None,
        })
    }
}

/// One analysed frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Media time, seconds.
    pub t: f64,
    /// Faces the detector found in the frame; None where the face was tracked and the
    /// detector did not run.
    pub faces: Option<usize>,
    /// The main (largest) face's box, when there is a face.
    pub main_box: Option<FaceBox>,
    /// The main face's signals, when its mesh was trusted.
    pub main: Option<FaceSignals>,
    /// Mean absolute luminance change (0..255) of a 32x32 thumbnail of the frame since the
    /// previous analysed frame (None on the first).
    pub motion: Option<f32>,
}

/// Fewest frames with a face needed for a baseline.
pub const MIN_BASELINE_FRAMES: usize = 5;

fn quantile(mut v: Vec<f32>, q: f32) -> f32 {
    v.sort_by(f32::total_cmp);
    let i = ((v.len() - 1) as f32 * q).round() as usize;
    v[i]
}

/// The analysed frames of one video, in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignalTrace {
    /// Samples in time order.
    pub samples: Vec<Sample>,
    /// Width and height of the analysed frames.
    pub frame_size: (usize, usize),
    /// Identity samples of the main face (near-frontal frames, about a second apart), in time
    /// order.
    pub identity: Vec<IdentitySample>,
    /// The lips of every frame read for lip sync (the fully analysed ones and, while speech is
    /// heard, those in between), in time order; empty when lips were not read.
    pub lips: Vec<LipSample>,
}

/// The lips in one frame, for lip sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LipSample {
    /// Media time, seconds.
    pub t: f64,
    /// The main face's lips (None: no face followed, or the mesh lost it).
    pub reading: Option<LipReading>,
    /// Faces the detector found, on the frames where it ran.
    pub faces: Option<usize>,
}

/// How much the main face looks like the person at the start of the video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdentitySample {
    /// Media time, seconds.
    pub t: f64,
    /// Cosine similarity of this face's embedding to the first near-frontal one (1 for that
    /// first one).
    pub to_reference: f32,
}

impl SignalTrace {
    /// Adds a frame's analysis.
    pub fn push(&mut self, sample: Sample) {
        self.samples.push(sample);
    }

    /// Frames that have a trusted main face.
    pub fn faces(&self) -> impl Iterator<Item = (f64, &FaceSignals)> {
        self.samples
            .iter()
            .filter_map(|s| s.main.as_ref().map(|m| (s.t, m)))
    }

    /// The neutral baseline (None with too few face frames).
    pub fn baseline(&self) -> Option<Baseline> {
        let faces: Vec<&FaceSignals> = self.faces().map(|(_, f)| f).collect();
        if faces.len() < MIN_BASELINE_FRAMES {
            return None;
        }
        let col = |f: fn(&FaceSignals) -> f32| faces.iter().map(|s| f(s)).collect::<Vec<f32>>();
        Some(Baseline {
            yaw: quantile(col(|s| s.yaw), 0.5),
            pitch: quantile(col(|s| s.pitch), 0.5),
            eyes: quantile(col(|s| s.eyes), 0.5),
            mouth_width: quantile(col(|s| s.mouth_width), 0.25),
            mouth_opening: quantile(col(|s| s.mouth_opening), 0.25),
        })
    }
}

/// A face's deviation from the baseline on one signal. `mirrored` flips yaw so that + stays
/// the subject's own left.
pub fn deviation(signal: Signal, face: &FaceSignals, base: &Baseline, mirrored: bool) -> f32 {
    match signal {
        Signal::Yaw => {
            let d = face.yaw - base.yaw;
            if mirrored {
                -d
            } else {
                d
            }
        }
        Signal::Pitch => face.pitch - base.pitch,
        Signal::Eyes => {
            if base.eyes <= f32::EPSILON {
                0.0
            } else {
                1.0 - face.eyes / base.eyes
            }
        }
        Signal::MouthWidth => {
            if base.mouth_width <= f32::EPSILON {
                0.0
            } else {
                face.mouth_width / base.mouth_width - 1.0
            }
        }
        Signal::MouthOpening => face.mouth_opening - base.mouth_opening,
    }
}

/// The trace resampled to at most `hz` points a second (the first face frame of each 1/hz
/// slot), values rounded to keep reports small.
pub fn pose_trace(trace: &SignalTrace, base: &Baseline, mirrored: bool, hz: f64) -> Vec<PosePoint> {
    let mut out: Vec<PosePoint> = Vec::new();
    let r1 = |v: f32| (v * 10.0).round() / 10.0;
    let r2 = |v: f32| (v * 100.0).round() / 100.0;
    let mut last_slot = None;
    for (t, f) in trace.faces() {
        let slot = (t * hz).floor() as i64;
        if last_slot == Some(slot) {
            continue;
        }
        last_slot = Some(slot);
        out.push(PosePoint {
            t: round3(t),
            yaw: r1(deviation(Signal::Yaw, f, base, mirrored)),
            pitch: r1(deviation(Signal::Pitch, f, base, mirrored)),
            eyes: r2(deviation(Signal::Eyes, f, base, mirrored)),
            smile: r2(deviation(Signal::MouthWidth, f, base, mirrored)),
            mouth: r2(deviation(Signal::MouthOpening, f, base, mirrored)),
        });
    }
    out
}
