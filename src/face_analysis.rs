//! The faces analysis of a whole video, and the vision stage that feeds it: every analysed
//! frame's faces go into a signal trace, and the trace is checked for exactly one face
//! throughout, large enough, the same track (no cut to another person), and not a still image.

use crossbeam_channel::bounded;

use crate::report::{FacesReport, IdentityReport, Outcome, Reason, ReasonCode};

use crate::actions::trace::{IdentitySample, LipSample, Sample, SignalTrace};
use crate::decode::Frame;
use crate::report::rounding::round3;
use crate::vision::analyzer::{
    FaceReader, FaceTracker, FrameAnalyzer, LipReading, TrackedFrame, VisionModels,
};
use crate::vision::embedder::cosine;
use crate::vision::image::{thumbnail, RgbView};
use crate::vision::VisionError;

/// Share of frames without a face above which the face was not always visible.
const MISSING_ATTENTION: f64 = 0.2;
/// Share of frames without a face above which there is no usable face at all.
const MISSING_REJECTED: f64 = 0.8;
/// Share of frames with several faces from which another person is present.
const SEVERAL_ATTENTION: f64 = 0.05;
/// ... and from which the video cannot be attributed to one person.
const SEVERAL_REJECTED: f64 = 0.2;
/// Main face narrower than this share of the frame's shorter side is too small to analyse.
const MIN_FACE_SHARE: f64 = 0.12;
/// Between frames at most this far apart (s), a jump of the face centre by more than this
/// many face widths, or a change of face size by more than this factor, breaks the track.
const TRACK_DT: f64 = 0.25;
const TRACK_JUMP: f32 = 0.6;
const TRACK_SCALE: f32 = 1.6;
/// Median frame-to-frame luminance change (0..255, 32x32 thumbnail) under which the picture
/// never changes: a still image looped into a video. Measured here: 0.000-0.001 for a photo
/// re-encoded as H.264 at two qualities, 0.42 to 11 for the real clips (the stillest are
/// studio recordings).
const STATIC_MOTION: f32 = 0.1;
/// Thumbnail side for the motion measure.
const THUMB: usize = 32;
/// Seconds between identity embeddings of the main face.
const IDENTITY_EVERY: f64 = 1.0;
/// Identity is compared on near-frontal faces only (|yaw| and |pitch| at most this many
/// degrees): embeddings of a turned head drift even for the same person.
const FRONTAL_DEG: f32 = 25.0;
/// Cosine similarity to the first face under which a face may be another person's, when it
/// holds for `CHANGE_SAMPLES` identity samples in a row. Measured (`tests/identity_eval.rs`,
/// 11 real single-person clips, 11 real cuts between different people, one descriptor a
/// second): the same person never fell under 0.72 (head turns, blinks, talking, studio and
/// webcam light), while after a cut to another person no sample was above 0.53; this sits in
/// that gap.
const SAME_PERSON_MIN: f32 = 0.60;
/// Under this similarity throughout the run, the face is clearly another person's
/// (`rejected`); between the two it is `attention`.
const OTHER_PERSON_MAX: f32 = 0.45;
/// Identity samples in a row (`IDENTITY_EVERY` apart) that must fall under
/// `SAME_PERSON_MIN` to report a change.
const CHANGE_SAMPLES: usize = 2;

/// Follows the main face's identity through a video: the first near-frontal embedding is the
/// reference; later ones are compared with it.
#[derive(Debug, Default)]
struct IdentityTracker {
    reference: Option<Vec<f32>>,
}

impl IdentityTracker {
    fn observe(&mut self, t: f64, embedding: Vec<f32>) -> IdentitySample {
        let reference = self.reference.get_or_insert(embedding.clone());
        IdentitySample {
            t,
            to_reference: cosine(reference, &embedding),
        }
    }
}

/// What the vision stage reads in the frames it is sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FramePlan {
    /// Read the eyes with the eye-contour model (needed for blinks).
    pub eyes: bool,
    /// Frames fully analysed per second (faces, pose, eyes, identity); 0: every frame sent.
    /// The actions and the faces analysis read these.
    pub full_fps: f64,
    /// Stretches of media time (speech, with a margin) in which the lips of every frame sent
    /// are read for lip sync; outside them, only the fully analysed frames' lips are.
    pub lip_spans: Vec<(f64, f64)>,
}

impl FramePlan {
    /// Whether lips are read at all.
    fn reads_lips(&self) -> bool {
        !self.lip_spans.is_empty()
    }

    fn in_lip_span(&self, t: f64) -> bool {
        self.lip_spans.iter().any(|(a, b)| (*a..=*b).contains(&t))
    }
}

/// Runs the vision stage over decoded frames (already sub-sampled by the decoder) as `plan`
/// says, on two threads: this one tracks the face from frame to frame (detector and mesh,
/// which each frame's crop depends on), a second one reads each fully analysed frame (its
/// signals, eyes, identity and motion) and builds the trace, a few frames behind. Each
/// half's state runs through the frames in order, so the trace is the one
/// `analyse_frames_on_one_thread` builds.
pub fn analyse_frames(
    models: &VisionModels,
    frames: impl Iterator<Item = Frame>,
    plan: &FramePlan,
) -> Result<SignalTrace, VisionError> {
    let (tracker, mut builder) = halves(models, plan);
    let (tx, rx) = bounded::<Handoff>(HANDOFF_QUEUE);
    std::thread::scope(|s| {
        let reading = std::thread::Builder::new()
            .name("face-reader".into())
            .spawn_scoped(s, move || {
                for handoff in rx {
                    builder.push(handoff)?;
                }
                Ok(builder.trace)
            })
            .map_err(|e| VisionError::Inference(format!("cannot start a thread: {e}")))?;
        // A failed send means the reader stopped on an error, which its result gives.
        let tracked = track_frames(tracker, frames, plan, |h| Ok(tx.send(h).is_ok()));
        drop(tx);
        let trace = reading
            .join()
            .unwrap_or_else(|_| Err(VisionError::Inference("the face reader panicked".into())));
        tracked.and(trace)
    })
}

/// `analyse_frames` on the calling thread alone: the same trace, for a caller that keeps the
/// other cores busy itself (and to check that the two threads change nothing).
#[cfg(any(test, feature = "internals"))]
pub fn analyse_frames_on_one_thread(
    models: &VisionModels,
    frames: impl Iterator<Item = Frame>,
    plan: &FramePlan,
) -> Result<SignalTrace, VisionError> {
    let (tracker, mut builder) = halves(models, plan);
    track_frames(tracker, frames, plan, |h| builder.push(h).map(|()| true))?;
    Ok(builder.trace)
}

/// Frames the tracking thread may run ahead of the reading thread (each holds its picture:
/// about 0.4 MB at 480 px).
const HANDOFF_QUEUE: usize = 4;

/// What the tracking half hands the reading half, in frame order.
enum Handoff {
    /// A frame between two fully analysed ones, whose lips alone were read.
    Lips { t: f64, reading: Option<LipReading> },
    /// A frame to analyse fully: its picture and where its face is.
    Full { frame: Frame, tracked: TrackedFrame },
}

/// The two halves of the vision stage for `plan`.
fn halves<'m>(models: &'m VisionModels, plan: &FramePlan) -> (FaceTracker<'m>, TraceBuilder<'m>) {
    let mut analyzer = FrameAnalyzer::new(models, plan.eyes).with_identity(IDENTITY_EVERY);
    if plan.reads_lips() {
        analyzer = analyzer.with_lips();
    }
    let (tracker, reader) = analyzer.into_parts();
    let builder = TraceBuilder {
        reader,
        reads_lips: plan.reads_lips(),
        trace: SignalTrace::default(),
        identity: IdentityTracker::default(),
        previous: None,
    };
    (tracker, builder)
}

/// The tracking half: tracks the face through `frames` and hands each frame to `hand`, which
/// answers whether to go on.
fn track_frames(
    mut tracker: FaceTracker,
    frames: impl Iterator<Item = Frame>,
    plan: &FramePlan,
    mut hand: impl FnMut(Handoff) -> Result<bool, VisionError>,
) -> Result<(), VisionError> {
    let mut last_full: Option<f64> = None;
    for frame in frames {
        let Some(img) = RgbView::new(frame.width as usize, frame.height as usize, &frame.rgb)
        else {
            continue;
        };
        // The same choice of frames as the decoder's own rate limit would make.
        let full = plan.full_fps <= 0.0
            || last_full.is_none_or(|l| frame.pts - l >= 1.0 / plan.full_fps - 1e-3);
        let handoff = if full {
            last_full = Some(frame.pts);
            let tracked = tracker.track(&img, frame.pts)?;
            Handoff::Full { frame, tracked }
        } else if plan.in_lip_span(frame.pts) {
            let reading = tracker.lips(&img)?;
            Handoff::Lips {
                t: frame.pts,
                reading,
            }
        } else {
            continue;
        };
        if !hand(handoff)? {
            break;
        }
    }
    Ok(())
}

/// The reading half: completes each frame's analysis, in order, into the trace.
struct TraceBuilder<'m> {
    reader: FaceReader<'m>,
    reads_lips: bool,
    trace: SignalTrace,
    identity: IdentityTracker,
    /// The previous fully analysed frame's thumbnail (for the motion measure).
    previous: Option<Vec<f32>>,
}

impl TraceBuilder<'_> {
    fn push(&mut self, handoff: Handoff) -> Result<(), VisionError> {
        let (frame, tracked) = match handoff {
            Handoff::Lips { t, reading } => {
                self.trace.lips.push(LipSample {
                    t,
                    reading,
                    faces: None,
                });
                return Ok(());
            }
            Handoff::Full { frame, tracked } => (frame, tracked),
        };
        let Some(img) = RgbView::new(frame.width as usize, frame.height as usize, &frame.rgb)
        else {
            return Ok(());
        };
        let o = self.reader.read(&img, tracked)?;
        let trace = &mut self.trace;
        trace.frame_size = o.size;
        let thumb = thumbnail(&img, THUMB);
        let motion = self.previous.as_ref().map(|p| {
            p.iter()
                .zip(&thumb)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / thumb.len() as f32
        });
        self.previous = Some(thumb);
        if let (Some(e), Some(s)) = (o.embedding, o.main.as_ref()) {
            if s.yaw.abs() <= FRONTAL_DEG && s.pitch.abs() <= FRONTAL_DEG {
                trace.identity.push(self.identity.observe(o.t, e));
            }
        }
        if self.reads_lips {
            trace.lips.push(LipSample {
                t: o.t,
                reading: o.lips,
                faces: o.faces.as_ref().map(Vec::len),
            });
        }
        trace.push(Sample {
            t: o.t,
            faces: o.faces.as_ref().map(Vec::len),
            main_box: o.main_box,
            main: o.main,
            motion,
        });
        Ok(())
    }
}

/// The median frame-to-frame picture change (see `Sample::motion`); None with fewer than ten
/// frames.
fn median_motion(trace: &SignalTrace) -> Option<f32> {
    let mut v: Vec<f32> = trace.samples.iter().filter_map(|s| s.motion).collect();
    if v.len() < 10 {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// The identity verdict of a trace: where a run of `CHANGE_SAMPLES` samples falls under
/// `SAME_PERSON_MIN`, and whether that run is clearly another person (all under
/// `OTHER_PERSON_MAX`).
fn identity_report(samples: &[IdentitySample]) -> Option<IdentityReport> {
    if samples.is_empty() {
        return None;
    }
    let min = samples
        .iter()
        .map(|s| s.to_reference)
        .fold(f32::MAX, f32::min);
    let run = samples
        .windows(CHANGE_SAMPLES)
        .find(|w| w.iter().all(|s| s.to_reference < SAME_PERSON_MIN));
    Some(IdentityReport {
        samples: samples.len(),
        min_similarity: round3(f64::from(min)),
        changed_at: run.map(|w| round3(w[0].t)),
        clearly_other: run.is_some_and(|w| w.iter().all(|s| s.to_reference < OTHER_PERSON_MAX)),
    })
}

/// Checks a trace's faces.
pub fn faces_report(trace: &SignalTrace) -> FacesReport {
    let analysed = trace.samples.len();
    let counts: Vec<usize> = trace.samples.iter().filter_map(|s| s.faces).collect();
    let n = counts.len();
    let without = counts.iter().filter(|c| **c == 0).count();
    let several = counts.iter().filter(|c| **c > 1).count();
    let one = n - without - several;
    let short_side = trace.frame_size.0.min(trace.frame_size.1).max(1) as f64;
    let mut widths: Vec<f64> = trace
        .samples
        .iter()
        .filter_map(|s| s.main_box.map(|b| f64::from(b.w) / short_side))
        .collect();
    widths.sort_by(f64::total_cmp);
    let face_size = widths.get(widths.len() / 2).copied().unwrap_or(0.0);
    let mut track_breaks = Vec::new();
    for pair in trace.samples.windows(2) {
        let (Some(a), Some(b)) = (pair[0].main_box, pair[1].main_box) else {
            continue;
        };
        if pair[1].t - pair[0].t > TRACK_DT {
            continue;
        }
        let jump = ((a.x + a.w / 2.0 - b.x - b.w / 2.0).powi(2)
            + (a.y + a.h / 2.0 - b.y - b.h / 2.0).powi(2))
        .sqrt()
            / a.w.max(1.0);
        let scale = (b.w / a.w.max(1.0)).max(a.w / b.w.max(1.0));
        if jump > TRACK_JUMP || scale > TRACK_SCALE {
            track_breaks.push(round3(pair[1].t));
        }
    }
    let share = |k: usize| if n == 0 { 1.0 } else { k as f64 / n as f64 };
    let mut reasons = Vec::new();
    let mut outcome = Outcome::Clear;
    let mut flag = |o: Outcome, code: ReasonCode, message: String| {
        outcome = outcome.worst(o);
        reasons.push(Reason::new(code, message));
    };
    if n == 0 {
        flag(
            Outcome::Rejected,
            ReasonCode::NoVideoFrames,
            "no video frames to analyse".into(),
        );
    } else if share(without) > MISSING_REJECTED {
        flag(
            Outcome::Rejected,
            ReasonCode::NoFace,
            format!("no face in {without} of {n} frames"),
        );
    } else if share(without) > MISSING_ATTENTION {
        flag(
            Outcome::Attention,
            ReasonCode::FaceNotAlwaysVisible,
            format!("no face in {without} of {n} frames"),
        );
    }
    if n == 0 {
        // No frames: nothing to count faces in (no_video_frames says so).
    } else if share(several) >= SEVERAL_REJECTED {
        flag(
            Outcome::Rejected,
            ReasonCode::MultipleFaces,
            format!("more than one face in {several} of {n} frames"),
        );
    } else if share(several) >= SEVERAL_ATTENTION && several >= 2 {
        flag(
            Outcome::Attention,
            ReasonCode::MultipleFaces,
            format!("more than one face in {several} of {n} frames"),
        );
    }
    if n > 0 && without < n && face_size < MIN_FACE_SHARE {
        flag(
            Outcome::Attention,
            ReasonCode::FaceTooSmall,
            format!("the face spans {:.0}% of the frame", face_size * 100.0),
        );
    }
    if !track_breaks.is_empty() {
        flag(
            Outcome::Attention,
            ReasonCode::FaceTrackBreak,
            format!(
                "the face jumped or changed at {:?} s (a cut or another person?)",
                track_breaks
            ),
        );
    }
    let identity = identity_report(&trace.identity);
    if let Some(IdentityReport {
        changed_at: Some(at),
        min_similarity,
        clearly_other,
        ..
    }) = &identity
    {
        let (level, how) = if *clearly_other {
            (Outcome::Rejected, "is another person's")
        } else {
            (Outcome::Attention, "may be another person's")
        };
        flag(
            level,
            ReasonCode::FaceChanged,
            format!(
                "from {at} s the face {how} (similarity to the first face down to {min_similarity})"
            ),
        );
    }
    if let Some(motion) = median_motion(trace) {
        if motion < STATIC_MOTION {
            flag(
                Outcome::Rejected,
                ReasonCode::StaticFace,
                format!("the picture never changes (median change {motion:.2}): a still image, not a live person"),
            );
        }
    }
    FacesReport {
        outcome,
        reasons,
        frames_analysed: analysed,
        frames_detected: n,
        frames_with_one_face: one,
        frames_without_face: without,
        frames_with_several_faces: several,
        face_size: round3(face_size),
        track_breaks,
        identity,
        motion: median_motion(trace).map(|m| round3(f64::from(m))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::analyzer::FaceBox;

    /// A 15 fps trace of `n` frames, the detector running every frame.
    fn trace(n: usize, f: impl Fn(usize) -> (usize, Option<FaceBox>, f32)) -> SignalTrace {
        let mut t = SignalTrace {
            frame_size: (480, 480),
            ..SignalTrace::default()
        };
        for i in 0..n {
            let (faces, main_box, motion) = f(i);
            t.push(Sample {
                t: i as f64 / 15.0,
                faces: Some(faces),
                main_box,
                main: None,
                motion: (i > 0).then_some(motion),
            });
        }
        t
    }

    fn identity(sims: &[f32]) -> Vec<IdentitySample> {
        sims.iter()
            .enumerate()
            .map(|(i, s)| IdentitySample {
                t: i as f64 * 0.5,
                to_reference: *s,
            })
            .collect()
    }

    #[test]
    fn identity_changes_need_a_run_of_low_similarity() {
        let same = identity_report(&identity(&[1.0, 0.8, 0.55, 0.8, 0.9])).unwrap();
        assert_eq!((same.changed_at, same.clearly_other), (None, false));
        let maybe = identity_report(&identity(&[1.0, 0.9, 0.5, 0.55, 0.5])).unwrap();
        assert_eq!((maybe.changed_at, maybe.clearly_other), (Some(1.0), false));
        let other = identity_report(&identity(&[1.0, 0.9, 0.3, 0.35])).unwrap();
        assert_eq!((other.changed_at, other.clearly_other), (Some(1.0), true));
        assert!(identity_report(&[]).is_none());
    }

    fn face(x: f32, w: f32) -> Option<FaceBox> {
        Some(FaceBox {
            x,
            y: 100.0,
            w,
            h: w,
        })
    }

    fn codes(r: &FacesReport) -> Vec<ReasonCode> {
        r.reasons.iter().map(|x| x.code).collect()
    }

    #[test]
    fn one_steady_face_is_clear() {
        let r = faces_report(&trace(60, |_| (1, face(100.0, 200.0), 1.0)));
        assert_eq!(r.outcome, Outcome::Clear, "{r:?}");
        assert_eq!((r.frames_with_one_face, r.frames_detected), (60, 60));
    }

    #[test]
    fn missing_several_small_and_jumping_faces_are_reported() {
        let r = faces_report(&trace(60, |_| (0, None, 1.0)));
        assert_eq!(
            (r.outcome, codes(&r)),
            (Outcome::Rejected, vec![ReasonCode::NoFace])
        );
        let r = faces_report(&trace(60, |i| {
            (if i % 2 == 0 { 2 } else { 1 }, face(100.0, 200.0), 1.0)
        }));
        assert_eq!(
            (r.outcome, codes(&r)),
            (Outcome::Rejected, vec![ReasonCode::MultipleFaces])
        );
        let r = faces_report(&trace(60, |_| (1, face(100.0, 30.0), 1.0)));
        assert_eq!(
            (r.outcome, codes(&r)),
            (Outcome::Attention, vec![ReasonCode::FaceTooSmall])
        );
        let r = faces_report(&trace(60, |i| {
            (1, face(if i < 30 { 50.0 } else { 250.0 }, 150.0), 1.0)
        }));
        assert_eq!(codes(&r), vec![ReasonCode::FaceTrackBreak]);
        assert_eq!(r.track_breaks, vec![2.0]);
    }

    #[test]
    fn a_picture_that_never_changes_is_a_still_image() {
        let r = faces_report(&trace(60, |_| (1, face(100.0, 200.0), 0.0)));
        assert_eq!(
            (r.outcome, codes(&r)),
            (Outcome::Rejected, vec![ReasonCode::StaticFace])
        );
    }
}
