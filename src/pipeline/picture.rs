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
    /// Wall time of the pass.
    pub seconds: f64,
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
        // Keep draining after a failure so that the decoder never blocks.
        let trace = analyse_frames(vision, frame_rx.iter(), plan);
        frame_rx.iter().for_each(drop);
        let (info, stats) = decoding
            .join()
            .map_err(|_| VerifyError::Internal("the video decoder panicked".into()))??;
        let trace = trace?;
        Ok(Seen {
            info,
            stats,
            trace,
            seconds: started.elapsed().as_secs_f64(),
        })
    })
}
