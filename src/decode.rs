//! Streaming demux and decode with `ffmpeg-next`: video becomes small timestamped RGB frames,
//! audio becomes 16 kHz mono f32 chunks, each sent on its own bounded channel as soon as it is
//! decoded, so memory stays bounded by the channel capacities whatever the video's length.

use crate::report::MediaReport;
use crate::report::{Classify, ErrorClass};
use std::path::{Path, PathBuf};
use std::sync::Once;

use crossbeam_channel::Sender;
use ffmpeg::format::{sample::Type as SampleType, Pixel, Sample};
use ffmpeg::software::resampling;
use ffmpeg::util::frame;
use ffmpeg::{ChannelLayout, Rational};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

mod rgb;
use rgb::RgbScaler;

/// Sample rate of the audio chunks the decoder emits.
pub const AUDIO_RATE: u32 = 16_000;

/// Errors from opening or decoding a media file.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file does not exist or cannot be opened.
    #[error("cannot open {path}: {message}")]
    NotFound {
        /// The file.
        path: PathBuf,
        /// The operating system's words.
        message: String,
    },
    /// The file is empty, truncated, not a media file, or its streams cannot be decoded.
    #[error("{path} is not a decodable video: {message}")]
    InvalidData {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The file is a media file but holds neither audio nor video the decoder supports.
    #[error("{path} has no decodable audio or video stream")]
    NoStreams {
        /// The file.
        path: PathBuf,
    },
    /// A limit that protects the machine was reached (duration, frame size).
    #[error("{path}: limit reached: {message}")]
    LimitReached {
        /// The file.
        path: PathBuf,
        /// Which limit.
        message: String,
    },
    /// The caller cancelled the work (a time limit ran out).
    #[error("{path}: cancelled")]
    Cancelled {
        /// The file.
        path: PathBuf,
    },
}

/// Largest side of a video frame or picture accepted: 8K video is 7680 wide.
pub const MAX_FRAME_SIDE: u32 = 8192;
/// Most pixels in one frame accepted (8K UHD is 33 megapixels; one frame of this size
/// decodes to 60 MB of YUV, which bounds what one hostile file can make FFmpeg allocate).
pub const MAX_FRAME_PIXELS: u64 = 40_000_000;
/// Most audio channels accepted (phones record 1 or 2; 7.1 is 8).
pub const MAX_AUDIO_CHANNELS: u16 = 16;

/// What to decode and how small to make the frames.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// Longest side of emitted frames in pixels (aspect ratio kept, even sizes).
    pub frame_max_side: u32,
    /// Emit at most this many frames per second of media time (0 = every frame).
    pub max_fps: f64,
    /// Stretches of media time in which frames are emitted at up to `dense_fps` instead (the
    /// frames `max_fps` alone would emit are always among them).
    pub dense_spans: Vec<(f64, f64)>,
    /// Frames per second inside `dense_spans` (0 = every frame).
    pub dense_fps: f64,
    /// Decode the video stream at all.
    pub video: bool,
    /// Decode the audio stream at all.
    pub audio: bool,
    /// Refuse media longer than this many seconds: at open when the container declares it,
    /// while decoding when the decoded time passes it.
    pub max_duration_s: f64,
    /// Samples per emitted audio chunk (at 16 kHz).
    pub audio_chunk_samples: usize,
    /// Set by the caller to stop decoding (checked before every packet).
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            frame_max_side: 320,
            max_fps: 0.0,
            dense_spans: Vec::new(),
            dense_fps: 0.0,
            video: true,
            audio: true,
            max_duration_s: 600.0,
            audio_chunk_samples: 8_000,
            cancel: None,
        }
    }
}

/// One decoded, scaled video frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Media time in seconds from the start of the file.
    pub pts: f64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB24 pixels, `width * height * 3` bytes, no padding.
    pub rgb: Vec<u8>,
}

/// A run of 16 kHz mono samples.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    /// Media time in seconds of the first sample.
    pub pts: f64,
    /// Samples in -1..1.
    pub samples: Vec<f32>,
}

/// What the container says about the media, before decoding.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaInfo {
    /// Duration from the container, if known (the decoded duration replaces it after a run).
    pub duration_seconds: Option<f64>,
    /// Source width of the video stream.
    pub width: Option<u32>,
    /// Source height of the video stream.
    pub height: Option<u32>,
    /// Average frame rate of the video stream.
    pub fps: Option<f64>,
    /// Whether an audio stream is present and decodable.
    pub has_audio: bool,
    /// Whether a video stream is present and decodable.
    pub has_video: bool,
    /// Container format name (`mov,mp4,m4a,...`).
    pub container: String,
    /// Video codec name.
    pub video_codec: Option<String>,
    /// Audio codec name.
    pub audio_codec: Option<String>,
    /// When the container says it was recorded (`creation_time` of the container or of its
    /// video stream, as written), if it says.
    pub creation_time: Option<String>,
}

/// Counts from a finished decode.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DecodeStats {
    /// Video frames decoded.
    pub video_frames: u64,
    /// Video frames sent on the channel (after the fps limit).
    pub frames_sent: u64,
    /// Audio samples emitted at 16 kHz.
    pub audio_samples: u64,
    /// Packets that failed to read or decode and were skipped.
    pub corrupt_packets: u64,
    /// Media time of the last decoded video frame or audio sample.
    pub decoded_seconds: f64,
    /// Wall seconds of the whole run.
    pub run_seconds: f64,
    /// Seconds of it spent waiting for room on a full channel (the consumer was slower).
    pub send_wait_seconds: f64,
}

impl DecodeStats {
    /// Seconds the decoder worked: the run less its waits for a full channel.
    pub fn busy_seconds(&self) -> f64 {
        (self.run_seconds - self.send_wait_seconds).max(0.0)
    }
}

pub(crate) fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
    });
}

fn seconds(ts: i64, tb: Rational) -> f64 {
    ts as f64 * tb.numerator() as f64 / tb.denominator().max(1) as f64
}

struct VideoPart {
    index: usize,
    decoder: ffmpeg::decoder::Video,
    time_base: Rational,
    scaler: Option<RgbScaler>,
    last_sent: Option<f64>,
    /// The last frame emitted under `max_fps` alone.
    last_regular: Option<f64>,
}

struct AudioPart {
    index: usize,
    decoder: ffmpeg::decoder::Audio,
    time_base: Rational,
    resampler: Option<resampling::Context>,
    first_pts: Option<f64>,
    emitted: u64,
    pending: Vec<f32>,
}

/// An opened media file, ready to stream. Create with [`MediaDecoder::open`], read
/// [`MediaDecoder::info`], then consume it with [`MediaDecoder::run`] (typically on its own thread).
pub struct MediaDecoder {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    video: Option<VideoPart>,
    audio: Option<AudioPart>,
    info: MediaInfo,
    start_offset: f64,
    config: DecodeConfig,
}

impl MediaDecoder {
    /// Opens a file and its best audio and video streams.
    pub fn open(path: &Path, config: DecodeConfig) -> Result<Self, DecodeError> {
        init_ffmpeg();
        let meta = std::fs::metadata(path).map_err(|e| DecodeError::NotFound {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| DecodeError::InvalidData {
            path: path.to_path_buf(),
            message,
        };
        if !meta.is_file() {
            return Err(invalid("not a regular file".into()));
        }
        if meta.len() == 0 {
            return Err(invalid("the file is empty".into()));
        }
        let input = ffmpeg::format::input(&path)
            .map_err(|e| invalid(format!("not a recognised media container ({e})")))?;
        let container = input.format().name().to_string();
        // SAFETY: the pointer is valid for the life of `input`; start_time is a plain field.
        let start = unsafe { (*input.as_ptr()).start_time };
        let start_offset = if start == ffmpeg::ffi::AV_NOPTS_VALUE || start < 0 {
            0.0
        } else {
            start as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE)
        };
        let duration = input.duration();
        let creation_time = input
            .metadata()
            .get("creation_time")
            .map(str::to_string)
            .or_else(|| {
                input
                    .streams()
                    .best(ffmpeg::media::Type::Video)
                    .and_then(|s| s.metadata().get("creation_time").map(str::to_string))
            });
        let mut info = MediaInfo {
            duration_seconds: (duration > 0)
                .then(|| duration as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE)),
            container,
            creation_time,
            ..MediaInfo::default()
        };
        if let Some(d) = info.duration_seconds.filter(|d| *d > config.max_duration_s) {
            // Refused before any decoding; a file that declares less and runs longer is
            // stopped by the same limit while it is decoded.
            return Err(DecodeError::LimitReached {
                path: path.to_path_buf(),
                message: format!(
                    "media {d:.0} s long; the limit is {} s",
                    config.max_duration_s
                ),
            });
        }
        let mut video = None;
        if let Some(stream) = input.streams().best(ffmpeg::media::Type::Video) {
            let opened = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
                .and_then(|c| c.decoder().video());
            if let Ok(decoder) = opened {
                if decoder.width() > 0 && decoder.height() > 0 {
                    let rate = stream.avg_frame_rate();
                    info.has_video = true;
                    info.width = Some(decoder.width());
                    info.height = Some(decoder.height());
                    info.fps = (rate.numerator() > 0 && rate.denominator() > 0)
                        .then(|| f64::from(rate.numerator()) / f64::from(rate.denominator()));
                    info.video_codec = decoder.codec().map(|c| c.name().to_string());
                    let (w, h) = (decoder.width(), decoder.height());
                    if w.max(h) > MAX_FRAME_SIDE || u64::from(w) * u64::from(h) > MAX_FRAME_PIXELS {
                        return Err(DecodeError::LimitReached {
                            path: path.to_path_buf(),
                            message: format!(
                                "frame size {w}x{h}; the limit is {MAX_FRAME_SIDE} pixels a side and {} megapixels",
                                MAX_FRAME_PIXELS / 1_000_000
                            ),
                        });
                    }
                    video = Some(VideoPart {
                        index: stream.index(),
                        decoder,
                        time_base: stream.time_base(),
                        scaler: None,
                        last_sent: None,
                        last_regular: None,
                    });
                }
            }
        }
        let mut audio = None;
        if let Some(stream) = input.streams().best(ffmpeg::media::Type::Audio) {
            let opened = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
                .and_then(|c| c.decoder().audio());
            if let Ok(decoder) = opened {
                if decoder.rate() > 0 && decoder.channels() > 0 {
                    if decoder.channels() > MAX_AUDIO_CHANNELS {
                        return Err(DecodeError::LimitReached {
                            path: path.to_path_buf(),
                            message: format!(
                                "{} audio channels; the limit is {MAX_AUDIO_CHANNELS}",
                                decoder.channels()
                            ),
                        });
                    }
                    info.has_audio = true;
                    info.audio_codec = decoder.codec().map(|c| c.name().to_string());
                    audio = Some(AudioPart {
                        index: stream.index(),
                        decoder,
                        time_base: stream.time_base(),
                        resampler: None,
                        first_pts: None,
                        emitted: 0,
                        pending: Vec::new(),
                    });
                }
            }
        }
        if video.is_none() && audio.is_none() {
            return Err(DecodeError::NoStreams {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            input,
            video,
            audio,
            info,
            start_offset,
            config,
        })
    }

    /// What the container says about the media.
    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    /// Decodes to the end, sending frames and audio on the given channels. A channel that is
    /// `None` (or whose receiver hung up) is not decoded. Blocks while a channel is full.
    pub fn run(
        self,
        frames: Option<Sender<Frame>>,
        audio: Option<Sender<AudioChunk>>,
    ) -> Result<DecodeStats, DecodeError> {
        let started = std::time::Instant::now();
        let mut stats = self.run_inner(frames, audio)?;
        stats.run_seconds = started.elapsed().as_secs_f64();
        Ok(stats)
    }

    fn run_inner(
        mut self,
        frames: Option<Sender<Frame>>,
        audio: Option<Sender<AudioChunk>>,
    ) -> Result<DecodeStats, DecodeError> {
        let mut stats = DecodeStats::default();
        let mut frames = frames.filter(|_| self.config.video && self.video.is_some());
        let mut audio = audio.filter(|_| self.config.audio && self.audio.is_some());
        let mut consecutive_errors = 0u32;
        loop {
            if frames.is_none() && audio.is_none() {
                break;
            }
            if self
                .config
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            {
                return Err(DecodeError::Cancelled {
                    path: self.path.clone(),
                });
            }
            // A new packet each time: `av_read_frame` overwrites the packet it is given
            // without releasing the buffer it held, so a reused one kept every packet read
            // (the file's size per decode, for the life of a runner). Dropping unrefs it.
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => consecutive_errors = 0,
                Err(ffmpeg::Error::Eof) => break,
                Err(_) => {
                    stats.corrupt_packets += 1;
                    consecutive_errors += 1;
                    if consecutive_errors > 32 {
                        break;
                    }
                    continue;
                }
            }
            let index = packet.stream();
            if let (Some(v), Some(_)) = (self.video.as_mut(), frames.as_ref()) {
                if v.index == index {
                    if v.decoder.send_packet(&packet).is_err() {
                        stats.corrupt_packets += 1;
                    }
                    let alive =
                        drain_video(v, &self.config, self.start_offset, &frames, &mut stats);
                    if !alive {
                        frames = None;
                    }
                }
            }
            if let (Some(a), Some(_)) = (self.audio.as_mut(), audio.as_ref()) {
                if a.index == index {
                    if a.decoder.send_packet(&packet).is_err() {
                        stats.corrupt_packets += 1;
                    }
                    match drain_audio(
                        a,
                        &self.config,
                        self.start_offset,
                        &audio,
                        &mut stats,
                        false,
                    ) {
                        Ok(true) => {}
                        Ok(false) => audio = None,
                        Err(message) => return Err(self.invalid(message)),
                    }
                }
            }
            if stats.decoded_seconds > self.config.max_duration_s {
                return Err(DecodeError::LimitReached {
                    path: self.path.clone(),
                    message: format!("media longer than {} s", self.config.max_duration_s),
                });
            }
        }
        if let (Some(v), Some(_)) = (self.video.as_mut(), frames.as_ref()) {
            let _ = v.decoder.send_eof();
            drain_video(v, &self.config, self.start_offset, &frames, &mut stats);
        }
        if let (Some(a), Some(_)) = (self.audio.as_mut(), audio.as_ref()) {
            let _ = a.decoder.send_eof();
            drain_audio(a, &self.config, self.start_offset, &audio, &mut stats, true)
                .map_err(|m| self.invalid(m))?;
        }
        let wanted_video = self.config.video && self.video.is_some();
        let wanted_audio = self.config.audio && self.audio.is_some();
        let got_nothing = (!wanted_video || stats.video_frames == 0)
            && (!wanted_audio || stats.audio_samples == 0);
        if got_nothing && (wanted_video || wanted_audio) {
            return Err(self.invalid(format!(
                "no frame or sample could be decoded ({} corrupt packets)",
                stats.corrupt_packets
            )));
        }
        Ok(stats)
    }

    fn invalid(&self, message: String) -> DecodeError {
        DecodeError::InvalidData {
            path: self.path.clone(),
            message,
        }
    }
}

/// Receives every frame the video decoder has ready; false when the receiver hung up.
fn drain_video(
    v: &mut VideoPart,
    config: &DecodeConfig,
    start_offset: f64,
    tx: &Option<Sender<Frame>>,
    stats: &mut DecodeStats,
) -> bool {
    let Some(tx) = tx else { return false };
    let mut decoded = frame::Video::empty();
    while v.decoder.receive_frame(&mut decoded).is_ok() {
        stats.video_frames += 1;
        let pts = match decoded.timestamp().or(decoded.pts()) {
            Some(ts) => seconds(ts, v.time_base) - start_offset,
            None => v.last_sent.map_or(0.0, |t| t + 1.0 / 25.0),
        };
        stats.decoded_seconds = stats.decoded_seconds.max(pts);
        let due = |last: Option<f64>, fps: f64| {
            fps <= 0.0 || last.is_none_or(|l| pts - l >= 1.0 / fps - 1e-3)
        };
        let regular = due(v.last_regular, config.max_fps);
        let dense = config
            .dense_spans
            .iter()
            .any(|(a, b)| (*a..=*b).contains(&pts))
            && due(v.last_sent, config.dense_fps);
        if !regular && !dense {
            continue;
        }
        let (w, h, fmt) = (decoded.width(), decoded.height(), decoded.format());
        if w == 0 || h == 0 || fmt == Pixel::None {
            stats.corrupt_packets += 1;
            continue;
        }
        let (ow, oh) = fit(w, h, config.frame_max_side);
        if !v.scaler.as_ref().is_some_and(|s| s.reads(fmt, w, h)) {
            match RgbScaler::new(fmt, w, h, ow, oh) {
                Ok(s) => v.scaler = Some(s),
                Err(_) => {
                    stats.corrupt_packets += 1;
                    continue;
                }
            }
        }
        let Some(scaler) = v.scaler.as_mut() else {
            continue;
        };
        let Ok((fw, fh, packed)) = scaler.run(&decoded) else {
            stats.corrupt_packets += 1;
            continue;
        };
        v.last_sent = Some(pts);
        if regular {
            v.last_regular = Some(pts);
        }
        stats.frames_sent += 1;
        let sending = std::time::Instant::now();
        let sent = tx.send(Frame {
            pts,
            width: fw,
            height: fh,
            rgb: packed,
        });
        stats.send_wait_seconds += sending.elapsed().as_secs_f64();
        if sent.is_err() {
            return false;
        }
    }
    true
}

/// Output size that fits `max_side`, keeping the aspect ratio, with even dimensions.
pub fn fit(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let longest = w.max(h);
    if max_side == 0 || longest <= max_side {
        return ((w & !1).max(2), (h & !1).max(2));
    }
    let scale = max_side as f64 / longest as f64;
    let even = |v: f64| ((v.round() as u32) & !1).max(2);
    (even(w as f64 * scale), even(h as f64 * scale))
}

/// Receives every audio frame ready, resamples to 16 kHz mono and sends full chunks.
/// Ok(false) when the receiver hung up; Err on a resampler failure.
fn drain_audio(
    a: &mut AudioPart,
    config: &DecodeConfig,
    start_offset: f64,
    tx: &Option<Sender<AudioChunk>>,
    stats: &mut DecodeStats,
    flush: bool,
) -> Result<bool, String> {
    let Some(tx) = tx else { return Ok(false) };
    let mut decoded = frame::Audio::empty();
    while a.decoder.receive_frame(&mut decoded).is_ok() {
        if decoded.samples() == 0 {
            continue;
        }
        if decoded.channel_layout().is_empty()
            || decoded.channel_layout().channels() != i32::from(decoded.channels())
        {
            decoded.set_channel_layout(ChannelLayout::default(i32::from(decoded.channels())));
        }
        if a.first_pts.is_none() {
            let pts = decoded
                .timestamp()
                .or(decoded.pts())
                .map_or(0.0, |ts| seconds(ts, a.time_base) - start_offset);
            a.first_pts = Some(pts.max(0.0));
        }
        if a.resampler.is_none() {
            let r = resampling::Context::get(
                decoded.format(),
                decoded.channel_layout(),
                decoded.rate(),
                Sample::F32(SampleType::Packed),
                ChannelLayout::MONO,
                AUDIO_RATE,
            )
            .map_err(|e| format!("cannot resample audio: {e}"))?;
            a.resampler = Some(r);
        }
        let Some(r) = a.resampler.as_mut() else {
            continue;
        };
        let capacity =
            decoded.samples() * AUDIO_RATE as usize / decoded.rate().max(1) as usize + 512;
        let mut out = frame::Audio::new(
            Sample::F32(SampleType::Packed),
            capacity,
            ChannelLayout::MONO,
        );
        if r.run(&decoded, &mut out).is_err() {
            stats.corrupt_packets += 1;
            continue;
        }
        a.pending
            .extend_from_slice(&out.plane::<f32>(0)[..out.samples()]);
        if !send_chunks(a, config, tx, stats, false) {
            return Ok(false);
        }
    }
    if flush {
        if let Some(r) = a.resampler.as_mut() {
            loop {
                let mut out =
                    frame::Audio::new(Sample::F32(SampleType::Packed), 4096, ChannelLayout::MONO);
                match r.flush(&mut out) {
                    Ok(_) if out.samples() > 0 => a
                        .pending
                        .extend_from_slice(&out.plane::<f32>(0)[..out.samples()]),
                    _ => break,
                }
            }
        }
        return Ok(send_chunks(a, config, tx, stats, true));
    }
    Ok(true)
}

fn send_chunks(
    a: &mut AudioPart,
    config: &DecodeConfig,
    tx: &Sender<AudioChunk>,
    stats: &mut DecodeStats,
    all: bool,
) -> bool {
    let n = config.audio_chunk_samples.max(1);
    while a.pending.len() >= n || (all && !a.pending.is_empty()) {
        let take = n.min(a.pending.len());
        let samples: Vec<f32> = a.pending.drain(..take).collect();
        let pts = a.first_pts.unwrap_or(0.0) + a.emitted as f64 / f64::from(AUDIO_RATE);
        a.emitted += take as u64;
        stats.audio_samples += take as u64;
        stats.decoded_seconds = stats
            .decoded_seconds
            .max(pts + take as f64 / f64::from(AUDIO_RATE));
        let sending = std::time::Instant::now();
        let sent = tx.send(AudioChunk { pts, samples });
        stats.send_wait_seconds += sending.elapsed().as_secs_f64();
        if sent.is_err() {
            return false;
        }
    }
    true
}

impl MediaReport {
    /// Combines container information with decoded counts.
    pub fn new(
        info: &MediaInfo,
        decoded_seconds: f64,
        video_frames: u64,
        audio_samples: u64,
    ) -> Self {
        Self {
            duration_seconds: if decoded_seconds > 0.0 {
                decoded_seconds
            } else {
                info.duration_seconds.unwrap_or(0.0)
            },
            width: info.width,
            height: info.height,
            fps: info.fps,
            has_audio: info.has_audio && audio_samples > 0,
            has_video: info.has_video && video_frames > 0,
            video_frames,
            container: info.container.clone(),
            video_codec: info.video_codec.clone(),
            audio_codec: info.audio_codec.clone(),
            recorded_at: info.creation_time.clone(),
        }
    }
}

impl DecodeError {
    /// What went wrong, without the file's path (for someone who does not know the path,
    /// such as the uploader of a file the service stored under a temporary name).
    pub fn reason(&self) -> String {
        match self {
            DecodeError::NotFound { message, .. }
            | DecodeError::InvalidData { message, .. }
            | DecodeError::LimitReached { message, .. } => message.clone(),
            DecodeError::NoStreams { .. } => "no decodable audio or video stream".into(),
            DecodeError::Cancelled { .. } => "cancelled".into(),
        }
    }
}

impl Classify for DecodeError {
    fn class(&self) -> ErrorClass {
        match self {
            DecodeError::NotFound { .. } => ErrorClass::NotFound,
            DecodeError::InvalidData { .. } | DecodeError::NoStreams { .. } => {
                ErrorClass::InvalidMedia
            }
            DecodeError::LimitReached { .. } => ErrorClass::LimitReached,
            DecodeError::Cancelled { .. } => ErrorClass::Cancelled,
        }
    }

    fn param(&self) -> Option<String> {
        matches!(self, DecodeError::LimitReached { .. }).then(|| "video".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_even_sizes() {
        assert_eq!(fit(1920, 1080, 320), (320, 180));
        assert_eq!(fit(720, 1280, 320), (180, 320));
        assert_eq!(fit(176, 144, 320), (176, 144));
        assert_eq!(fit(361, 289, 0), (360, 288));
    }

    #[test]
    fn missing_empty_and_text_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.mp4");
        assert!(matches!(
            MediaDecoder::open(&missing, DecodeConfig::default()),
            Err(DecodeError::NotFound { .. })
        ));
        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            MediaDecoder::open(&empty, DecodeConfig::default()),
            Err(DecodeError::InvalidData { .. })
        ));
        let text = dir.path().join("text.mp4");
        std::fs::write(&text, "this is not a video, just some words\n".repeat(50)).unwrap();
        assert!(matches!(
            MediaDecoder::open(&text, DecodeConfig::default()),
            Err(DecodeError::InvalidData { .. }) | Err(DecodeError::NoStreams { .. })
        ));
    }
}
