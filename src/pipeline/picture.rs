//! The picture pass: decodes the frames (on its own thread; FFmpeg contexts are not `Send`,
//! so the decoder is opened there) and runs the vision stage on them as they come, into a
//! signal trace.

use std::path::Path;
use std::thread;
use std::time::Instant;

use crossbeam_channel::bounded;

use super::VerifyError;
use crate::actions::trace::SignalTrace;
use crate::decode::{DecodeConfig, DecodeStats, Frame, MediaDecoder, MediaInfo};
use crate::face_analysis::{analyse_frames, FramePlan};
use crate::vision::analyzer::VisionModels;

/// What the picture pass found.
pub(super) struct Seen {
    /// The container and its streams.
    pub info: MediaInfo,
    /// What was decoded.
    pub stats: DecodeStats,
    /// Per-frame signals of the analysed frames.
    pub trace: SignalTrace,
    /// Seconds the vision stage worked on frames (the pass less its waits for the decoder).
    pub vision_seconds: f64,
}

/// The frames of a channel, counting how long the consumer waited for each.
struct TimedFrames<'a> {
    frames: crossbeam_channel::Iter<'a, Frame>,
    waited: std::time::Duration,
}

impl Iterator for TimedFrames<'_> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        let asked = Instant::now();
        let frame = self.frames.next();
        self.waited += asked.elapsed();
        frame
    }
}

/// Decodes the frames of `video` through a channel of `queue` frames and analyses them as
/// `plan` says.
pub(super) fn see(
    video: &Path,
    config: DecodeConfig,
    queue: usize,
    vision: &VisionModels,
    plan: &FramePlan,
) -> Result<Seen, VerifyError> {
    let started = Instant::now();
    let (frame_tx, frame_rx) = bounded::<Frame>(queue);
    let config = DecodeConfig {
        audio: false,
        ..config
    };
    thread::scope(|s| {
        let decoding = s.spawn(move || {
            let decoder = MediaDecoder::open(video, config)?;
            let info = decoder.info().clone();
            decoder.run(Some(frame_tx), None).map(|stats| (info, stats))
        });
        let mut frames = TimedFrames {
            frames: frame_rx.iter(),
            waited: std::time::Duration::ZERO,
        };
        let trace = analyse_frames(vision, &mut frames, plan);
        let vision_seconds = started
            .elapsed()
            .saturating_sub(frames.waited)
            .as_secs_f64();
        // Keep draining after a failure so that the decoder never blocks.
        frame_rx.iter().for_each(drop);
        let (info, stats) = decoding
            .join()
            .map_err(|_| VerifyError::Internal("the video decoder panicked".into()))??;
        let trace = trace?;
        Ok(Seen {
            info,
            stats,
            trace,
            vision_seconds,
        })
    })
}
