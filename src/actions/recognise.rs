//! Temporal recognisers: small state machines over a signal trace that turn per-frame
//! deviations from the person's baseline into timestamped action events, with hysteresis, a
//! minimum amplitude and duration, and, where the action implies it, a return towards neutral
//! within a maximum duration.

use crate::report::{ActionEvent, Baseline};

use super::trace::{deviation, Signal, SignalTrace};
use super::{ActionSpec, Recogniser, RecogniserKind};
use crate::report::rounding::round3;

/// Longest run of frames without any face that an event may bridge, seconds.
const MAX_GAP: f64 = 0.5;
/// Longest run of frames where a face is detected but its mesh is not trusted (a head turned
/// far, seen nearly in profile) that an event may bridge, seconds.
const MAX_GAP_FACE_SEEN: f64 = 2.0;
/// Half-width of the window giving the eyes' local open level, seconds: a blink is a brief
/// closing relative to how open the eyes are around it (people widen and narrow their eyes
/// while talking and smiling).
const EYES_WINDOW: f64 = 1.0;
/// Quantile of openness in that window taken as the open level.
const EYES_OPEN_QUANTILE: f64 = 0.8;
/// The open level never drops below this share of the whole video's baseline, so that eyes
/// kept shut for long do not become their own reference.
const EYES_LEVEL_FLOOR: f32 = 0.85;
/// Confidence below which a detected event is weak (`attention`, not `clear`).
pub const WEAK_CONFIDENCE: f64 = 0.6;

/// A run of frames past `exit` in one direction that reached `enter`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    start: f64,
    end: f64,
    peak: f64,
    amplitude: f32,
    /// The run ended on a frame back below `exit` (not at the end of the video or of the
    /// face track).
    returned: bool,
    /// The run began after a frame below `exit` (not at the start of the video or track).
    from_neutral: bool,
}

/// One point of a recogniser's series: time, value (None where the frame has no usable face;
/// NaN where it is gated out, which ends a run), and whether a face was detected at all.
type Point = (f64, Option<f32>, bool);

/// The eyes' local open level around each sample (None where there is no face).
fn local_eye_levels(trace: &SignalTrace, base: &Baseline) -> Vec<Option<f32>> {
    let s = &trace.samples;
    let mut lo = 0;
    let mut hi = 0;
    s.iter()
        .map(|x| {
            x.main?;
            while s[lo].t < x.t - EYES_WINDOW {
                lo += 1;
            }
            while hi < s.len() && s[hi].t <= x.t + EYES_WINDOW {
                hi += 1;
            }
            let mut v: Vec<f32> = s[lo..hi]
                .iter()
                .filter_map(|y| y.main.map(|m| m.eyes))
                .collect();
            v.sort_by(f32::total_cmp);
            v.get(((v.len() - 1) as f64 * EYES_OPEN_QUANTILE).round() as usize)
                .map(|level| level.max(base.eyes * EYES_LEVEL_FLOOR))
        })
        .collect()
}

/// The signed deviation series of one recogniser.
fn series(
    trace: &SignalTrace,
    base: &Baseline,
    signal: Signal,
    r: &Recogniser,
    mirrored: bool,
) -> Vec<Point> {
    let eye_levels = (signal == Signal::Eyes).then(|| local_eye_levels(trace, base));
    let versus = r.must_exceed.as_deref().and_then(Signal::parse);
    trace
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v = s.main.as_ref().map(|f| {
                let yaw = deviation(Signal::Yaw, f, base, mirrored);
                if r.gate_yaw.is_some_and(|g| yaw.abs() > g) {
                    return f32::NAN;
                }
                if r.gate_smile
                    .is_some_and(|g| deviation(Signal::MouthWidth, f, base, mirrored) > g)
                {
                    return f32::NAN;
                }
                let v = match eye_levels.as_ref().and_then(|l| l[i]) {
                    Some(level) if level > f32::EPSILON => 1.0 - f.eyes / level,
                    _ => deviation(signal, f, base, mirrored),
                };
                match versus {
                    Some(other) if deviation(other, f, base, mirrored) >= v => f32::NAN,
                    _ => v,
                }
            });
            (s.t, v, s.main_box.is_some())
        })
        .collect()
}

/// Runs past `exit` (in direction `sign`) that reach `enter`, bridging gaps up to `MAX_GAP`
/// (`MAX_GAP_FACE_SEEN` while a face is still detected).
fn runs(series: &[Point], sign: f32, enter: f32, exit: f32) -> Vec<Run> {
    let mut out = Vec::new();
    let mut current: Option<Run> = None;
    let mut last_seen = f64::NEG_INFINITY;
    let mut gap_had_no_face = false;
    let mut below_seen = false;
    for &(t, v, face) in series {
        let Some(v) = v.map(|v| v * sign) else {
            gap_had_no_face |= !face;
            let limit = if gap_had_no_face {
                MAX_GAP
            } else {
                MAX_GAP_FACE_SEEN
            };
            if t - last_seen > limit {
                out.extend(current.take());
                below_seen = false;
            }
            continue;
        };
        gap_had_no_face = false;
        match current.as_mut() {
            Some(run) if v >= exit => {
                run.end = t;
                if v > run.amplitude {
                    run.amplitude = v;
                    run.peak = t;
                }
            }
            Some(run) => {
                // Below exit, or gated out (NaN): the run is over.
                run.returned = !v.is_nan();
                out.extend(current.take());
                below_seen = !v.is_nan();
            }
            None if v >= exit => {
                current = Some(Run {
                    start: t,
                    end: t,
                    peak: t,
                    amplitude: v,
                    returned: false,
                    from_neutral: below_seen,
                });
            }
            None => below_seen = !v.is_nan(),
        }
        last_seen = t;
    }
    out.extend(current);
    out.retain(|r| r.amplitude >= enter);
    out
}

/// An event; its confidence is the amplitude over `strong` (capped at 1), halved and scaled
/// by the duration over `min_duration` for events held shorter than that: a movement too brief
/// for the action asked is always weak.
fn event(spec: &ActionSpec, start: f64, end: f64, peak: f64, amplitude: f32) -> ActionEvent {
    let r = &spec.recogniser;
    let held = if end - start < r.min_duration {
        0.5 * (end - start) / r.min_duration
    } else {
        1.0
    };
    ActionEvent {
        action: spec.name.clone(),
        start: round3(start),
        end: round3(end),
        peak: round3(peak),
        amplitude: round3(f64::from(amplitude)),
        confidence: round3(f64::from(amplitude / r.strong).min(1.0) * held),
    }
}

/// Every event of one action in a trace.
pub fn recognise(
    trace: &SignalTrace,
    base: &Baseline,
    spec: &ActionSpec,
    mirrored: bool,
) -> Vec<ActionEvent> {
    let r = &spec.recogniser;
    let Some(signal) = Signal::parse(&spec.signal) else {
        return Vec::new();
    };
    let s = series(trace, base, signal, r, mirrored);
    // Runs held at least half the minimum count, as weak events below the minimum.
    let long_enough = |run: &Run| run.end - run.start >= r.min_duration / 2.0;
    match r.kind {
        RecogniserKind::Hold => runs(&s, r.sign, r.enter, r.exit)
            .into_iter()
            .filter(long_enough)
            .filter(|run| {
                r.max_duration.is_none_or(|max| {
                    run.from_neutral && run.returned && run.end - run.start <= max
                })
            })
            .map(|run| event(spec, run.start, run.end, run.peak, run.amplitude))
            .collect(),
        RecogniserKind::Alternate => {
            let mut both: Vec<Run> = runs(&s, 1.0, r.enter, r.exit)
                .into_iter()
                .chain(runs(&s, -1.0, r.enter, r.exit).into_iter().map(|mut run| {
                    run.amplitude = -run.amplitude;
                    run
                }))
                .filter(long_enough)
                .collect();
            both.sort_by(|a, b| a.start.total_cmp(&b.start));
            let window = r.max_duration.unwrap_or(f64::INFINITY);
            let mut out: Vec<ActionEvent> = Vec::new();
            for pair in both.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let opposite = (a.amplitude > 0.0) != (b.amplitude > 0.0);
                let overlaps_previous = out.last().is_some_and(|e| a.start < e.end);
                if opposite && b.end - a.start <= window && !overlaps_previous {
                    let amplitude = a.amplitude.abs().min(b.amplitude.abs());
                    let peak = if a.amplitude.abs() >= b.amplitude.abs() {
                        a.peak
                    } else {
                        b.peak
                    };
                    out.push(event(spec, a.start, b.end, peak, amplitude));
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::trace::Sample;
    use crate::actions::ActionVocabulary;
    use crate::vision::signals::FaceSignals;

    fn face(yaw: f32, pitch: f32, eyes: f32) -> FaceSignals {
        FaceSignals {
            yaw,
            pitch,
            roll: 0.0,
            eyes,
            mouth_opening: 0.02,
            lip_area: 0.0,
            mouth_width: 0.4,
        }
    }

    /// A 15 fps trace from a function of time.
    fn trace(seconds: f64, f: impl Fn(f64) -> Option<FaceSignals>) -> SignalTrace {
        let mut t = SignalTrace::default();
        let n = (seconds * 15.0) as usize;
        for i in 0..n {
            let time = i as f64 / 15.0;
            t.push(Sample {
                t: time,
                faces: Some(1),
                main_box: None,
                motion: None,
                main: f(time),
            });
        }
        t
    }

    fn events(t: &SignalTrace, action: &str, mirrored: bool) -> Vec<ActionEvent> {
        let v = ActionVocabulary::builtin().unwrap();
        let base = t.baseline().unwrap();
        recognise(t, &base, v.resolve(action).unwrap(), mirrored)
    }

    #[test]
    fn a_held_turn_is_one_event_in_the_subjects_frame() {
        let t = trace(6.0, |s| {
            Some(face(
                if (2.0..3.0).contains(&s) { 40.0 } else { 2.0 },
                0.0,
                0.4,
            ))
        });
        let left = events(&t, "turnHeadLeft", false);
        assert_eq!(left.len(), 1, "{left:?}");
        assert!((left[0].start - 2.0).abs() < 0.1 && (left[0].end - 2.93).abs() < 0.1);
        assert_eq!(left[0].confidence, 1.0);
        assert!(events(&t, "turnHeadRight", false).is_empty());
        // A mirrored recording flips left and right.
        assert_eq!(events(&t, "turnHeadRight", true).len(), 1);
        assert!(events(&t, "turnHeadLeft", true).is_empty());
    }

    #[test]
    fn a_blink_must_reopen_and_a_wink_or_long_closure_is_not_one() {
        let blink = trace(4.0, |s| {
            Some(face(
                0.0,
                0.0,
                if (1.0..1.3).contains(&s) { 0.1 } else { 0.4 },
            ))
        });
        assert_eq!(events(&blink, "blink", false).len(), 1);
        let shut = trace(6.0, |s| {
            Some(face(
                0.0,
                0.0,
                if (1.0..3.0).contains(&s) { 0.1 } else { 0.4 },
            ))
        });
        assert!(events(&shut, "blink", false).is_empty());
        // Eyes still shut when the video ends: no return, no blink.
        let end = trace(3.0, |s| {
            Some(face(0.0, 0.0, if s >= 2.6 { 0.1 } else { 0.4 }))
        });
        assert!(events(&end, "blink", false).is_empty());
    }

    #[test]
    fn gaps_are_bridged_only_briefly_and_gated_frames_do_not_count() {
        // Face lost for 0.3 s mid-turn: still one event.
        let t = trace(6.0, |s| {
            if (2.3..2.6).contains(&s) {
                None
            } else {
                Some(face(
                    if (2.0..3.0).contains(&s) { -40.0 } else { 0.0 },
                    0.0,
                    0.4,
                ))
            }
        });
        assert_eq!(events(&t, "turnHeadRight", false).len(), 1);
        // Pitch raised only while the head is turned far: not a lookUp.
        let t = trace(6.0, |s| {
            let turned = (2.0..3.0).contains(&s);
            Some(face(
                if turned { 40.0 } else { 0.0 },
                if turned { 20.0 } else { 0.0 },
                0.4,
            ))
        });
        assert!(events(&t, "lookUp", false).is_empty());
    }

    #[test]
    fn a_shake_needs_both_directions_and_a_nod_needs_the_return() {
        let shake = trace(6.0, |s| {
            let yaw = if (1.0..1.5).contains(&s) {
                25.0
            } else if (1.7..2.2).contains(&s) {
                -25.0
            } else {
                0.0
            };
            Some(face(yaw, 0.0, 0.4))
        });
        assert_eq!(events(&shake, "shakeHead", false).len(), 1);
        let one_way = trace(6.0, |s| {
            Some(face(
                if (1.0..1.5).contains(&s) { 25.0 } else { 0.0 },
                0.0,
                0.4,
            ))
        });
        assert!(events(&one_way, "shakeHead", false).is_empty());
        let nod = trace(6.0, |s| {
            Some(face(
                0.0,
                if (2.0..2.5).contains(&s) { -18.0 } else { 0.0 },
                0.4,
            ))
        });
        assert_eq!(events(&nod, "nod", false).len(), 1);
        let stays_down = trace(6.0, |s| {
            Some(face(
                0.0,
                if (2.0..4.5).contains(&s) { -18.0 } else { 0.0 },
                0.4,
            ))
        });
        assert!(events(&stays_down, "nod", false).is_empty());
        assert_eq!(events(&stays_down, "lookDown", false).len(), 1);
    }
}
