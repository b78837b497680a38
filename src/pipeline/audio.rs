//! The audio pass: decodes the sound track alone (on its own thread) into 16 kHz mono
//! samples, kept up to a limit, with where they start in media time.

use std::path::Path;
use std::thread;

use crossbeam_channel::bounded;

use super::VerifyError;
use crate::decode::{AudioChunk, DecodeConfig, MediaDecoder, AUDIO_RATE};

/// What the audio pass gathered.
#[derive(Debug, Default)]
pub(super) struct Heard {
    /// 16 kHz mono samples, at most `max_audio_s` of them.
    pub samples: Vec<f32>,
    /// Media time of the first sample.
    pub first_pts: Option<f64>,
    /// More audio than `max_audio_s` was there (the rest was not kept).
    pub truncated: bool,
    /// Media time of the last decoded sample.
    pub decoded_seconds: f64,
    /// Seconds the decoder worked.
    pub decode_seconds: f64,
}

/// Decodes the audio of `video` through a channel of `queue` chunks, keeping the first
/// `max_audio_s` seconds.
pub(super) fn hear(
    video: &Path,
    config: DecodeConfig,
    queue: usize,
    max_audio_s: f64,
) -> Result<Heard, VerifyError> {
    let (audio_tx, audio_rx) = bounded::<AudioChunk>(queue);
    let max_samples = (max_audio_s * f64::from(AUDIO_RATE)) as usize;
    thread::scope(|s| {
        let config = DecodeConfig {
            video: false,
            ..config
        };
        let decoding =
            s.spawn(move || MediaDecoder::open(video, config)?.run(None, Some(audio_tx)));
        let mut heard = Heard::default();
        for chunk in audio_rx.iter() {
            heard.first_pts.get_or_insert(chunk.pts);
            let room = max_samples.saturating_sub(heard.samples.len());
            if chunk.samples.len() > room {
                heard.truncated = true;
            }
            heard
                .samples
                .extend_from_slice(&chunk.samples[..chunk.samples.len().min(room)]);
        }
        let stats = decoding
            .join()
            .map_err(|_| VerifyError::Internal("the audio decoder panicked".into()))??;
        heard.decoded_seconds = stats.decoded_seconds;
        heard.decode_seconds = stats.busy_seconds();
        Ok(heard)
    })
}
