//! Audio-visual synchrony: does the voice heard come from the mouth on screen? The opening of
//! the lips (`FaceSignals::lip_area`, every analysed frame) is set against the speech energy
//! of the audio (400-3200 Hz, where the vowels that open the mouth carry their energy), as
//! rates of change, at a range of audio-video offsets. A mouth that speaks opens as the voice
//! rises and closes as it falls, at an offset of a few hundredths of a second; a dubbed voice,
//! a replayed voice under a still or silent face, or a voice shifted in time does not follow
//! the lips. This module measures; `verdict::lip_sync_verdict` decides.

use crate::actions::trace::SignalTrace;
use crate::decode::AUDIO_RATE;
use crate::report::rounding::round3;
use crate::report::{AvSync, SpeechSegmentSync, SyncTrace};

/// Hop between speech energy values, seconds.
const HOP_S: f64 = 0.01;
/// Window over which each energy value is measured, seconds (one video frame at 25 fps).
const WINDOW_S: f64 = 0.04;
/// The speech bands (Hz), an octave each: lip opening follows the energy of vowels, which sits
/// here; the bands are weighed equally (their dB averaged) so that the loudest low band does
/// not drown the formants above it.
const BANDS: [(f64, f64); 3] = [(400.0, 800.0), (800.0, 1600.0), (1600.0, 3200.0)];
/// Under this peak level (dB relative to full scale) there is no speech at all.
const SILENCE_PEAK_DB: f32 = -50.0;
/// Voiced runs shorter than this are clicks, not speech (seconds).
const MIN_VOICED_S: f64 = 0.06;
/// Pauses shorter than this do not split a speech segment (seconds).
const MIN_PAUSE_S: f64 = 0.3;
/// Frames this far (seconds) before the first and after the last speech are analysed too: the
/// mouth opens before the voice starts and closes after it ends.
const MARGIN_S: f64 = 0.3;
/// Gaps in the mouth signal up to this long (seconds) are bridged by interpolation; longer
/// ones split it.
const MAX_GAP_S: f64 = 0.2;
/// Offsets searched (seconds, audio later than the picture when positive).
const SEARCH_S: f64 = 1.6;
/// Step of the offset search, seconds.
const STEP_S: f64 = 0.02;
/// Offsets real recordings show: audio up to 0.10 s ahead of the picture and up to 0.20 s
/// behind it (measured: GRID -0.02 to 0.06 s, the HDTF speech 0.12 s; broadcast practice
/// tolerates 0.045 s ahead and 0.125 s behind).
pub const PLAUSIBLE_OFFSET: (f64, f64) = (-0.10, 0.20);
/// Independent samples per second in a rate-of-change signal at video frame rates: the spread
/// of the agreement between mouths and voices that do not belong together corresponds to one
/// independent value every 0.1 s (measured on the 110 mismatched GRID pairs at 25 fps).
const INDEPENDENT_PER_S: f64 = 10.0;
/// Most points in the reviewer's trace (longer windows are thinned).
const TRACE_POINTS: usize = 1500;

/// Speech energy of a recording over time: the 400-3200 Hz band in dB every 10 ms (what the
/// lips are compared with), and which of those instants are voiced (from the whole band's
/// level, as the speech trimmer decides, so that quiet consonants stay inside the speech).
#[derive(Debug, Clone)]
pub struct SpeechEnvelope {
    /// Media time of the first value.
    start: f64,
    /// Band energy values in dB, floored at the background level.
    db: Vec<f32>,
    /// Background (10th percentile) band level, dB.
    floor: f32,
    /// Whether each value is voiced.
    voiced: Vec<bool>,
}

/// 10 log10 of the mean of `squares` over windows of `WINDOW_S` every `HOP_S`.
fn windowed_db(squares: &[f64], rate: f64) -> Vec<f32> {
    let mut cumulative = Vec::with_capacity(squares.len() + 1);
    cumulative.push(0.0f64);
    for s in squares {
        cumulative.push(cumulative.last().copied().unwrap_or(0.0) + s);
    }
    let hop = (HOP_S * rate) as usize;
    let half = (WINDOW_S * rate) as usize / 2;
    (0..squares.len() / hop)
        .map(|i| {
            let c = i * hop + hop / 2;
            let (a, b) = (c.saturating_sub(half), (c + half).min(squares.len()));
            let mean = (cumulative[b] - cumulative[a]) / (b - a).max(1) as f64;
            (10.0 * (mean + 1e-10).log10()) as f32
        })
        .collect()
}

/// The `q` quantile of `v` (None when empty).
fn quantile(mut v: Vec<f32>, q: f32) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[((v.len() - 1) as f32 * q).round() as usize])
}

/// A second-order IIR section (RBJ cookbook form, normalised so that a0 = 1).
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    z: [f64; 2],
}

impl Biquad {
    fn new(b: [f64; 3], a0: f64, a: [f64; 2]) -> Self {
        Self {
            b: b.map(|v| v / a0),
            a: a.map(|v| v / a0),
            z: [0.0; 2],
        }
    }

    /// A Butterworth-Q high-pass (`high`) or low-pass section at `f` Hz.
    fn pass(f: f64, rate: f64, high: bool) -> Self {
        let w = 2.0 * std::f64::consts::PI * f / rate;
        let (s, c) = w.sin_cos();
        let alpha = s / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let b = if high {
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0]
        } else {
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0]
        };
        Self::new(b, 1.0 + alpha, [-2.0 * c, 1.0 - alpha])
    }

    /// Transposed direct form II.
    fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

impl SpeechEnvelope {
    /// Measures 16 kHz mono audio whose first sample is at media time `start`.
    pub fn new(samples: &[f32], start: f64) -> Self {
        let rate = f64::from(AUDIO_RATE);
        let mut filters: Vec<[Biquad; 4]> = BANDS
            .iter()
            .map(|&(lo, hi)| {
                [
                    Biquad::pass(lo, rate, true),
                    Biquad::pass(lo, rate, true),
                    Biquad::pass(hi, rate, false),
                    Biquad::pass(hi, rate, false),
                ]
            })
            .collect();
        let mut bands: Vec<Vec<f64>> = vec![Vec::with_capacity(samples.len()); BANDS.len()];
        let mut whole: Vec<f64> = Vec::with_capacity(samples.len());
        for (n, &s) in samples.iter().enumerate() {
            // A signal far under any real noise floor (-300 dB) keeps the filters' state out
            // of subnormal numbers through digital silence, where arithmetic slows a
            // hundredfold.
            let x = f64::from(s) + if n % 2 == 0 { 1e-15 } else { -1e-15 };
            for (band, sections) in bands.iter_mut().zip(&mut filters) {
                let y = sections.iter_mut().fold(x, |acc, section| section.run(acc));
                band.push(y * y);
            }
            whole.push(f64::from(s) * f64::from(s));
        }
        let per_band: Vec<Vec<f32>> = bands.iter().map(|b| windowed_db(b, rate)).collect();
        let mut db: Vec<f32> = (0..per_band[0].len())
            .map(|i| per_band.iter().map(|b| b[i]).sum::<f32>() / BANDS.len() as f32)
            .collect();
        let whole = windowed_db(&whole, rate);
        let floor = quantile(db.clone(), 0.1).unwrap_or(-100.0);
        // Voiced as the speech trimmer (`speech::vad`) decides: 10 dB over the background, or
        // 35 dB under the peak, and never within 3 dB of it.
        let voiced_from = quantile(whole.clone(), 0.1)
            .zip(quantile(whole.clone(), 0.98))
            .filter(|(_, peak)| *peak >= SILENCE_PEAK_DB)
            .map(|(noise, peak)| (noise + 10.0).max(peak - 35.0).min(peak - 3.0));
        let voiced = whole
            .iter()
            .map(|v| voiced_from.is_some_and(|from| *v >= from))
            .collect();
        for v in &mut db {
            *v = v.max(floor);
        }
        Self {
            start,
            db,
            floor,
            voiced,
        }
    }

    /// The energy at media time `t` (dB, interpolated; the background level outside the audio).
    pub fn at(&self, t: f64) -> f32 {
        let x = (t - self.start) / HOP_S - 0.5;
        if self.db.is_empty() || x < 0.0 || x > (self.db.len() - 1) as f64 {
            return self.floor;
        }
        let i = x.floor() as usize;
        let f = (x - i as f64) as f32;
        match self.db.get(i + 1) {
            Some(next) => self.db[i] * (1.0 - f) + next * f,
            None => self.db[i],
        }
    }

    /// Whether the audio at media time `t` is voiced.
    pub fn voiced(&self, t: f64) -> bool {
        let i = ((t - self.start) / HOP_S).floor();
        i >= 0.0 && self.voiced.get(i as usize).copied().unwrap_or(false)
    }

    /// The stretches of speech (start, end in media seconds): voiced runs of at least 60 ms,
    /// joined across pauses shorter than 0.3 s.
    pub fn segments(&self) -> Vec<(f64, f64)> {
        let mut runs: Vec<(f64, f64)> = Vec::new();
        let mut open: Option<usize> = None;
        for i in 0..=self.voiced.len() {
            let voiced = self.voiced.get(i).copied().unwrap_or(false);
            match (voiced, open) {
                (true, None) => open = Some(i),
                (false, Some(s)) => {
                    let (a, b) = (self.start + s as f64 * HOP_S, self.start + i as f64 * HOP_S);
                    if b - a >= MIN_VOICED_S {
                        runs.push((a, b));
                    }
                    open = None;
                }
                _ => {}
            }
        }
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for (a, b) in runs {
            match merged.last_mut() {
                Some(last) if a - last.1 < MIN_PAUSE_S => last.1 = b,
                _ => merged.push((a, b)),
            }
        }
        merged
    }

    /// The level of the loudest speech (98th percentile), dB.
    fn peak(&self) -> f32 {
        let mut sorted = self.db.clone();
        sorted.sort_by(f32::total_cmp);
        sorted
            .get(((sorted.len().max(1) - 1) as f32 * 0.98).round() as usize)
            .copied()
            .unwrap_or(self.floor)
    }
}

/// One analysed frame as lip sync sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MouthFrame {
    t: f64,
    /// Lip opening (None: no trusted single face in this frame).
    lips: Option<f32>,
    /// Main face width over the frame's shorter side.
    face_share: Option<f64>,
    /// Head yaw, degrees.
    yaw: Option<f32>,
}

/// Yaw beyond which the lips are not read reliably (degrees).
const TURNED_DEG: f32 = 35.0;
/// Lip opening above rest by this share of its range counts as open.
const ACTIVE_SHARE_OF_RANGE: f32 = 0.25;

/// Pearson correlation of paired values (None with fewer than 8 pairs or no spread).
fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 8 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    (sxx > 1e-18 && syy > 1e-18).then(|| sxy / (sxx * syy).sqrt())
}

/// The mouth frames of a trace (its lip readings), with gaps up to `MAX_GAP_S` bridged. A
/// frame counts only while the detector's last count was one face.
fn mouth_frames(trace: &SignalTrace) -> Vec<MouthFrame> {
    let short = trace.frame_size.0.min(trace.frame_size.1).max(1) as f64;
    let mut faces = None;
    let mut frames: Vec<MouthFrame> = trace
        .lips
        .iter()
        .map(|s| {
            faces = s.faces.or(faces);
            let reading = s.reading.filter(|_| faces.is_none_or(|n| n == 1));
            MouthFrame {
                t: s.t,
                lips: reading.map(|r| r.lip_area),
                face_share: reading.map(|r| f64::from(r.face_width) / short),
                yaw: reading.map(|r| r.yaw),
            }
        })
        .collect();
    // Bridge short gaps linearly.
    let known: Vec<usize> = (0..frames.len())
        .filter(|&i| frames[i].lips.is_some())
        .collect();
    for pair in known.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b - a < 2 || frames[b].t - frames[a].t > MAX_GAP_S {
            continue;
        }
        let (la, lb) = (frames[a].lips.unwrap_or(0.0), frames[b].lips.unwrap_or(0.0));
        for i in a + 1..b {
            let f = ((frames[i].t - frames[a].t) / (frames[b].t - frames[a].t)) as f32;
            frames[i].lips = Some(la + (lb - la) * f);
        }
    }
    frames
}

/// The correlation of lip and voice rates of change at `offset`, over the frames `range`.
fn agreement_at(
    frames: &[MouthFrame],
    range: std::ops::Range<usize>,
    envelope: &SpeechEnvelope,
    offset: f64,
) -> (Option<f64>, usize) {
    let mut pairs = Vec::with_capacity(range.len());
    for i in range {
        if i == 0 || i + 1 >= frames.len() {
            continue;
        }
        let (a, b) = (&frames[i - 1], &frames[i + 1]);
        let (Some(la), Some(lb)) = (a.lips, b.lips) else {
            continue;
        };
        let dt = b.t - a.t;
        if dt <= 0.0 || dt > 2.5 * MAX_GAP_S {
            continue;
        }
        let lips = f64::from(lb - la) / dt;
        let voice = f64::from(envelope.at(b.t + offset) - envelope.at(a.t + offset)) / dt;
        pairs.push((lips, voice));
    }
    (pearson(&pairs), pairs.len())
}

/// The stretches of media time whose every frame lip sync wants read: each stretch of speech
/// with the margin the measure looks at around it (overlapping ones joined).
pub fn lip_spans(envelope: &SpeechEnvelope) -> Vec<(f64, f64)> {
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for (a, b) in envelope.segments() {
        let (a, b) = (a - MARGIN_S, b + MARGIN_S);
        match spans.last_mut() {
            Some(last) if a <= last.1 => last.1 = b,
            _ => spans.push((a, b)),
        }
    }
    spans
}

/// Strength of an agreement `r` over `seconds` of analysed stretch (see `AvSync::strength`).
pub fn strength(r: f64, seconds: f64) -> f64 {
    let n = seconds * INDEPENDENT_PER_S;
    r.clamp(-0.999, 0.999).atanh() * (n - 3.0).max(0.0).sqrt()
}

/// Measures how the lips in `trace` follow the speech in `envelope`.
pub fn measure(trace: &SignalTrace, envelope: &SpeechEnvelope) -> AvSync {
    let segments = envelope.segments();
    let frames = mouth_frames(trace);
    let voiced: Vec<bool> = frames.iter().map(|f| envelope.voiced(f.t)).collect();
    let voiced_frames: Vec<&MouthFrame> = frames
        .iter()
        .zip(&voiced)
        .filter(|(_, v)| **v)
        .map(|(f, _)| f)
        .collect();
    let speech_seconds: f64 = segments.iter().map(|(a, b)| b - a).sum();
    let share = |k: usize, n: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let with_lips = voiced_frames.iter().filter(|f| f.lips.is_some()).count();
    let turned = voiced_frames
        .iter()
        .filter(|f| f.yaw.is_some_and(|y| y.abs() > TURNED_DEG))
        .count();
    let face_size = quantile(
        voiced_frames
            .iter()
            .filter_map(|f| f.face_share.map(|s| s as f32))
            .collect(),
        0.5,
    )
    .map(|v| round3(f64::from(v)));

    // The lips' rest and range over the whole video, and what "open" means.
    let all_lips: Vec<f32> = frames.iter().filter_map(|f| f.lips).collect();
    let rest = quantile(all_lips.clone(), 0.1);
    let top = quantile(all_lips, 0.9);
    let open_from = rest
        .zip(top)
        .map(|(r, t)| r + ACTIVE_SHARE_OF_RANGE * (t - r));
    let is_open = |f: &MouthFrame| f.lips.zip(open_from).is_some_and(|(l, o)| l > o);
    let voiced_lips: Vec<f32> = voiced_frames.iter().filter_map(|f| f.lips).collect();
    let mouth_movement = quantile(voiced_lips.clone(), 0.9)
        .zip(quantile(voiced_lips, 0.1))
        .map(|(a, b)| round3(f64::from(a - b)));
    let mouth_active_share = share(
        voiced_frames.iter().filter(|f| is_open(f)).count(),
        with_lips,
    );

    // The analysed stretch: all speech with a margin, as far as the video goes.
    let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
        return AvSync {
            face_share: share(with_lips, voiced_frames.len()),
            ..AvSync::default()
        };
    };
    let (from, to) = (first.0 - MARGIN_S, last.1 + MARGIN_S);
    let start = frames.partition_point(|f| f.t < from);
    let end = frames.partition_point(|f| f.t <= to);
    let window = start..end;
    let pauses: Vec<&MouthFrame> = frames[window.clone()]
        .iter()
        .filter(|f| f.lips.is_some() && !envelope.voiced(f.t))
        .collect();
    let pause_active_share = (!pauses.is_empty())
        .then(|| share(pauses.iter().filter(|f| is_open(f)).count(), pauses.len()));

    // The offset search.
    let steps = (SEARCH_S / STEP_S).round() as i64;
    let mut best: Option<(f64, f64)> = None;
    let mut plausible: Option<(f64, f64)> = None;
    let mut frames_used = 0;
    for k in -steps..=steps {
        let offset = k as f64 * STEP_S;
        let (r, n) = agreement_at(&frames, window.clone(), envelope, offset);
        let Some(r) = r else { continue };
        if best.is_none_or(|(_, b)| r > b) {
            best = Some((offset, r));
        }
        if (PLAUSIBLE_OFFSET.0 - 1e-9..=PLAUSIBLE_OFFSET.1 + 1e-9).contains(&offset)
            && plausible.is_none_or(|(_, b)| r > b)
        {
            plausible = Some((offset, r));
            frames_used = n;
        }
    }
    let stretch = frames[window.clone()]
        .last()
        .zip(frames[window.clone()].first())
        .map_or(0.0, |(b, a)| b.t - a.t);
    let chosen = plausible.map_or(0.0, |p| p.0);
    let per_segment = segments
        .iter()
        .map(|&(a, b)| {
            let s = frames.partition_point(|f| f.t < a);
            let e = frames.partition_point(|f| f.t <= b);
            let seg: Vec<&MouthFrame> = frames[s..e]
                .iter()
                .filter(|f| envelope.voiced(f.t))
                .collect();
            let lips = seg.iter().filter(|f| f.lips.is_some()).count();
            SpeechSegmentSync {
                start: round3(a),
                end: round3(b),
                face_share: round3(share(lips, seg.len())),
                mouth_active_share: round3(share(seg.iter().filter(|f| is_open(f)).count(), lips)),
                agreement: agreement_at(&frames, s..e, envelope, chosen).0.map(round3),
            }
        })
        .collect();
    AvSync {
        offset_seconds: plausible.map(|p| round3(p.0)),
        agreement: plausible.map(|p| round3(p.1)),
        strength: plausible.map(|p| round3(strength(p.1, stretch))),
        best_offset_seconds: best.map(|b| round3(b.0)),
        best_agreement: best.map(|b| round3(b.1)),
        best_strength: best.map(|b| round3(strength(b.1, stretch))),
        speech_seconds: round3(speech_seconds),
        face_share: round3(share(with_lips, voiced_frames.len())),
        face_size,
        turned_share: round3(share(turned, voiced_frames.len())),
        mouth_active_share: round3(mouth_active_share),
        pause_active_share: pause_active_share.map(round3),
        mouth_movement,
        frames_used,
        segments: per_segment,
        trace: sync_trace(&frames[window], envelope, chosen, rest, top),
    }
}

/// The reviewer's trace over `frames`, speech read at `offset`.
fn sync_trace(
    frames: &[MouthFrame],
    envelope: &SpeechEnvelope,
    offset: f64,
    rest: Option<f32>,
    top: Option<f32>,
) -> SyncTrace {
    let every = frames.len().div_ceil(TRACE_POINTS).max(1);
    let (lo, hi) = (envelope.floor, envelope.peak());
    let (mlo, mhi) = (rest.unwrap_or(0.0), top.unwrap_or(1.0));
    let scale = |v: f32, a: f32, b: f32| {
        if b - a <= f32::EPSILON {
            0.0
        } else {
            round3(f64::from(((v - a) / (b - a)).clamp(0.0, 1.0)))
        }
    };
    let mut trace = SyncTrace::default();
    for f in frames.iter().step_by(every) {
        trace.t.push(round3(f.t));
        trace.mouth.push(f.lips.map(|l| scale(l, mlo, mhi)));
        trace.speech.push(scale(envelope.at(f.t + offset), lo, hi));
    }
    trace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::trace::LipSample;
    use crate::vision::analyzer::LipReading;

    /// 16 kHz audio: a 1 kHz tone whose loudness follows `level(t)` (0..1).
    fn audio(seconds: f64, level: impl Fn(f64) -> f64) -> Vec<f32> {
        (0..(seconds * 16000.0) as usize)
            .map(|i| {
                let t = i as f64 / 16000.0;
                (0.5 * level(t) * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as f32
            })
            .collect()
    }

    /// A syllable-like loudness: bursts of uneven length (3 to 6 a second) between `a` and `b`
    /// seconds, a faint hiss elsewhere.
    fn syllables(t: f64, a: f64, b: f64) -> f64 {
        if (a..b).contains(&t) {
            let x = t - a;
            let phase = 2.0 * std::f64::consts::PI * (4.0 * x + 0.5 * (3.1 * x).sin());
            0.02 + phase.sin().max(0.0)
        } else {
            0.002
        }
    }

    /// A 25 fps trace whose lips follow `lips(t)`.
    fn trace(seconds: f64, lips: impl Fn(f64) -> Option<f32>) -> SignalTrace {
        let mut tr = SignalTrace {
            frame_size: (360, 288),
            ..SignalTrace::default()
        };
        for i in 0..(seconds * 25.0) as usize {
            let t = i as f64 / 25.0;
            let l = lips(t);
            tr.lips.push(LipSample {
                t,
                reading: l.map(|lip_area| LipReading {
                    lip_area,
                    yaw: 0.0,
                    face_width: 150.0,
                }),
                faces: (i % 8 == 0).then_some(usize::from(l.is_some())),
            });
        }
        tr
    }

    #[test]
    fn the_envelope_finds_the_speech_and_ignores_the_hiss() {
        let env = SpeechEnvelope::new(&audio(4.0, |t| syllables(t, 1.0, 3.0)), 0.0);
        let segs = env.segments();
        assert_eq!(segs.len(), 1, "{segs:?}");
        assert!((segs[0].0 - 1.0).abs() < 0.06 && (segs[0].1 - 3.0).abs() < 0.1);
        assert!(env.voiced(1.06) && !env.voiced(0.5));
        // Outside the audio the envelope is the background.
        assert_eq!(env.at(-1.0), env.floor);
        assert!(SpeechEnvelope::new(&vec![0.0; 16000], 0.0)
            .segments()
            .is_empty());
    }

    #[test]
    fn lips_that_follow_the_voice_agree_at_the_right_offset() {
        let env = SpeechEnvelope::new(&audio(4.0, |t| syllables(t, 1.0, 3.0)), 0.0);
        // Lips open 40 ms before the voice rises.
        let s = measure(
            &trace(4.0, |t| {
                Some(0.01 + 0.1 * syllables(t + 0.04, 1.0, 3.0) as f32)
            }),
            &env,
        );
        assert!(s.agreement.unwrap() > 0.8, "{s:?}");
        assert!((s.offset_seconds.unwrap() - 0.04).abs() < 0.03, "{s:?}");
        assert!(s.mouth_active_share > 0.3 && s.face_share > 0.99, "{s:?}");
        assert!(s.strength.unwrap() > 5.0);
        assert_eq!(s.trace.t.len(), s.trace.speech.len());

        // The same voice 0.5 s later: best far outside the plausible offsets.
        let late = SpeechEnvelope::new(&audio(4.5, |t| syllables(t, 1.5, 3.5)), 0.0);
        let s = measure(
            &trace(4.5, |t| Some(0.01 + 0.1 * syllables(t, 1.0, 3.0) as f32)),
            &late,
        );
        assert!((s.best_offset_seconds.unwrap() - 0.5).abs() < 0.05, "{s:?}");
        assert!(
            s.agreement.unwrap() < s.best_agreement.unwrap() - 0.3,
            "{s:?}"
        );
    }

    #[test]
    fn a_still_mouth_and_a_missing_face_are_measured_as_such() {
        let env = SpeechEnvelope::new(&audio(4.0, |t| syllables(t, 1.0, 3.0)), 0.0);
        let s = measure(&trace(4.0, |_| Some(0.02)), &env);
        assert_eq!(s.mouth_movement, Some(0.0));
        assert_eq!(s.agreement, None, "no spread, no correlation");
        let s = measure(&trace(4.0, |_| None), &env);
        assert_eq!((s.face_share, s.frames_used), (0.0, 0));
    }
}
