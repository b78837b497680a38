//! The speech stage: whisper reads the audio once freely (with the challenges' renderings
//! scored against it), and once more under the digit grammar when the verdict asks for it;
//! `verdict::voice_verdicts` decides every voice challenge from those readings.

use std::time::Instant;

use super::audio::Heard;
use super::VerifyError;
use crate::control::Cancel;
use crate::live_video::LiveVideo;
use crate::report::ChallengeReport;
use crate::speech::asr::Transcriber;
use crate::speech::grammar::digit_grammar;
use crate::speech::likelihood::digit_rivals;
use crate::speech::normalize::LanguagePack;
use crate::speech::whisper_ffi::Scoring;
use crate::verdict::{texts_to_score, voice_verdicts};

/// How the speech stage runs.
pub(super) struct SpeechRun<'a> {
    /// The loaded whisper model.
    pub transcriber: &'a Transcriber,
    /// Threads whisper may use.
    pub threads: usize,
    /// Seconds of audio kept (a verdict on cut audio says so).
    pub max_audio_s: f64,
    /// Stops the decoding early.
    pub cancel: &'a Cancel,
}

/// Seconds the speech stage spent on each kind of work.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SpeechSeconds {
    /// The free reading.
    pub asr: f64,
    /// Scoring the challenges' renderings and the digit-grammar reading.
    pub likelihood: f64,
}

/// The verdict of every voice challenge from the speech alone, and the seconds spent
/// recognising it.
pub(super) fn recognise(
    run: &SpeechRun<'_>,
    live_video: &LiveVideo,
    pack: &LanguagePack,
    audio: &Heard,
) -> Result<(Vec<ChallengeReport>, SpeechSeconds), VerifyError> {
    let started = Instant::now();
    let start = audio.first_pts.unwrap_or(0.0);
    // Challenges the free reading does not clear have their renderings scored against the
    // same audio (decided once the free reading is known, so clear ones cost nothing).
    let to_score = |heard: &str| texts_to_score(&live_video.challenges, pack, heard);
    let rivals = digit_rivals();
    let scoring = Scoring {
        texts: &to_score,
        rivals: &rivals,
    };
    let free = if audio.samples.is_empty() {
        None
    } else {
        Some(run.transcriber.transcribe_on(
            run.threads,
            &audio.samples,
            start,
            &pack.whisper,
            None,
            Some(&scoring),
            Some(run.cancel.flag()),
        )?)
    };
    let mut seconds = SpeechSeconds {
        asr: started.elapsed().as_secs_f64(),
        likelihood: 0.0,
    };
    if let Some(free) = &free {
        seconds.asr -= free.scoring_seconds;
        seconds.likelihood += free.scoring_seconds;
    }
    let second_reading = Instant::now();
    let mut digit_reading = || {
        let grammar = digit_grammar(pack);
        run.transcriber.transcribe_on(
            run.threads,
            &audio.samples,
            start,
            &pack.whisper,
            Some(&grammar),
            None,
            Some(run.cancel.flag()),
        )
    };
    let reports = voice_verdicts(
        live_video,
        pack,
        free.as_ref(),
        &mut digit_reading,
        audio.truncated.then_some(run.max_audio_s),
    )?;
    seconds.likelihood += second_reading.elapsed().as_secs_f64();
    Ok((reports, seconds))
}
