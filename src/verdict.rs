//! Turns match results and analysis outcomes into per-challenge verdicts.

use crate::report::ActionEvent;
use crate::report::{
    ActionsEvidence, AvSync, Baseline, ChallengeReport, ChallengeType, DigitLikelihood, Evidence,
    FacesReport, MediaReport, Outcome, PerformedAction, PhraseLikelihood, PosePoint, Reason,
    ReasonCode, Timings, VerifyReport, VoiceEvidence,
};

use crate::actions::recognise::WEAK_CONFIDENCE;
use crate::actions::trace::MIN_BASELINE_FRAMES;
use crate::av_sync::PLAUSIBLE_OFFSET;
use crate::live_video::{Challenge, LiveVideo};
use crate::report::rounding::round3;
use crate::speech::asr::Transcript;
use crate::speech::likelihood::{
    best_rendering, digit_places, digit_rendering, digit_support, renderings, DigitSupport,
};
use crate::speech::matcher::{is_digit_challenge, match_voice, MatchFinding, MatchResult};
use crate::speech::normalize::LanguagePack;
use crate::speech::whisper_ffi::TextScore;

/// Phrase match score at or above which a phrase whose every word was heard is `clear`.
const PHRASE_CLEAR: f64 = 0.8;
/// Phrase match score at or above which a phrase is `attention` rather than `rejected`.
const PHRASE_ATTENTION: f64 = 0.55;
/// Lowest similarity at which every heard digit must have been read for an exact digit
/// sequence to be `clear` (a misspelt digit word such as "sevan" reads 0.8).
const DIGIT_CONFIDENCE_CLEAR: f64 = 0.9;

/// What a match against the heard text is worth on the text alone: a digit recital clears
/// only when exactly its digits were heard, each read with confidence; a phrase only when its
/// score reaches `PHRASE_CLEAR` and every expected word was heard (one wrong word in a
/// six-word sentence still scores 0.83).
pub fn match_verdict(m: &MatchResult) -> (Outcome, Vec<Reason>) {
    let one = |outcome, code, message: String| (outcome, vec![Reason::new(code, message)]);
    let instead = || {
        format!(
            "heard {} instead of {}",
            m.heard.join(" "),
            m.expected.join(" ")
        )
    };
    match &m.finding {
        MatchFinding::NothingHeard { any_speech } => one(
            Outcome::Rejected,
            ReasonCode::SpeechNotDetected,
            if *any_speech {
                "no digit was recognised in the speech".into()
            } else {
                "no speech was recognised".into()
            },
        ),
        MatchFinding::DigitsExact { min_confidence }
            if *min_confidence < DIGIT_CONFIDENCE_CLEAR =>
        {
            one(
                Outcome::Attention,
                ReasonCode::LowConfidenceMatch,
                "some digits were recognised only approximately".into(),
            )
        }
        MatchFinding::DigitsExact { .. } => (Outcome::Clear, Vec::new()),
        MatchFinding::DigitsOutOfOrder => {
            one(Outcome::Rejected, ReasonCode::DigitsOutOfOrder, instead())
        }
        MatchFinding::DigitsMismatch => {
            one(Outcome::Rejected, ReasonCode::DigitsMismatch, instead())
        }
        MatchFinding::Phrase { unheard } if m.score >= PHRASE_CLEAR && unheard.is_empty() => {
            (Outcome::Clear, Vec::new())
        }
        MatchFinding::Phrase { unheard } if m.score >= PHRASE_ATTENTION => one(
            Outcome::Attention,
            ReasonCode::PhrasePartialMatch,
            format!(
                "the phrase matched only in part (score {:.2}; not heard: {})",
                m.score,
                unheard.join(" ")
            ),
        ),
        MatchFinding::Phrase { .. } => one(
            Outcome::Rejected,
            ReasonCode::PhraseMismatch,
            format!("heard \"{}\"", m.heard.join(" ")),
        ),
    }
}

/// Matches a voice challenge against a transcript and builds its verdict.
pub fn voice_report(
    challenge: &Challenge,
    pack: &LanguagePack,
    transcript: &Transcript,
) -> ChallengeReport {
    let m = match_voice(&challenge.value, &transcript.text, pack);
    voice_verdict(challenge, transcript, &pack.whisper, m)
}

/// Whether a digit recital that the free reading did not clear deserves a second reading
/// under the digit grammar.
pub fn wants_digit_reading(challenge: &Challenge, first: &ChallengeReport) -> bool {
    first.outcome != Outcome::Clear && is_digit_challenge(&challenge.value)
}

/// Combines the free reading's verdict with a second reading made under a grammar that admits
/// any digit sequence. The better verdict wins (noted as `digit_grammar_reading`). A free
/// reading with exactly as many digits as expected is trusted as it is; when it is incomplete
/// and the two readings disagree, the recital is unclear: `attention` (`unclear_speech`),
/// since that is undecidable, not proof of a wrong answer.
pub fn reconcile_digit_readings(
    challenge: &Challenge,
    pack: &LanguagePack,
    free: &Transcript,
    mut first: ChallengeReport,
    digits: &Transcript,
) -> ChallengeReport {
    let m = match_voice(&challenge.value, &digits.text, pack);
    let free_heard = match &first.evidence {
        Evidence::Voice(v) => v.heard_tokens.clone(),
        _ => Vec::new(),
    };
    let free_incomplete = free_heard.len() != m.expected.len();
    let (outcome, _) = match_verdict(&m);
    if outcome == Outcome::Rejected
        && first.outcome == Outcome::Rejected
        && free_incomplete
        && m.heard != free_heard
    {
        first.outcome = Outcome::Attention;
        first.reasons.push(Reason::new(
            ReasonCode::UnclearSpeech,
            format!(
                "two readings disagree: free \"{}\", digit grammar \"{}\"",
                free.text, digits.text
            ),
        ));
        first
    } else if outcome < first.outcome {
        let mut r = voice_verdict(challenge, digits, &pack.whisper, m);
        r.reasons.push(Reason::new(
            ReasonCode::DigitGrammarReading,
            format!(
                "read under the digit grammar; the free reading was \"{}\"",
                free.text
            ),
        ));
        r
    } else {
        first
    }
}

/// The texts whose likelihood to measure for a free reading `heard`: for every voice challenge
/// the text match alone does not clear, the renderings of its phrase or its digit sequence.
pub fn texts_to_score(challenges: &[Challenge], pack: &LanguagePack, heard: &str) -> Vec<String> {
    challenges
        .iter()
        .filter(|c| c.kind == ChallengeType::Voice)
        .filter(|c| match_verdict(&match_voice(&c.value, heard, pack)).0 != Outcome::Clear)
        .flat_map(|c| {
            if is_digit_challenge(&c.value) {
                vec![digit_rendering(&expected_digits(c))]
            } else {
                renderings(&c.value.join(" "), pack)
            }
        })
        .collect()
}

/// A digit challenge's digits, one per place ("7917" counts four).
fn expected_digits(challenge: &Challenge) -> Vec<String> {
    challenge
        .value
        .iter()
        .flat_map(|v| v.chars().map(|c| c.to_string()))
        .collect()
}

/// A digit challenge's per-place likelihood evidence from a transcript's scores (empty when
/// its rendering was not scored).
pub fn digit_likelihood(challenge: &Challenge, transcript: &Transcript) -> Vec<DigitLikelihood> {
    let wanted = digit_rendering(&expected_digits(challenge));
    transcript
        .scores
        .iter()
        .find(|s| s.text == wanted)
        .map(digit_places)
        .unwrap_or_default()
}

/// Weighs a digit recital's verdict with its per-place likelihood evidence (see
/// `speech::likelihood::digit_support`) and attaches it. Every expected digit clearly the most
/// likely at its place lifts the verdict to `clear`, unless the free reading heard a complete
/// sequence of its own (`free_reading_complete`), which caps it at `attention`; every digit
/// leading, but not clearly, lifts a `rejected` to `attention`. A place where another digit is
/// more likely changes nothing.
pub fn weigh_digit_likelihood(
    challenge: &Challenge,
    mut report: ChallengeReport,
    places: Vec<DigitLikelihood>,
    free_reading_complete: bool,
) -> ChallengeReport {
    if places.is_empty() {
        return report;
    }
    let Evidence::Voice(evidence) = &mut report.evidence else {
        return report;
    };
    let weakest = places
        .iter()
        .min_by(|a, b| a.margin().total_cmp(&b.margin()))
        .map(|p| {
            format!(
                "weakest: {} leads {} by {:.1}",
                p.expected,
                p.rival,
                p.margin()
            )
        })
        .unwrap_or_default();
    let transcript = evidence.transcript.clone();
    let mut support = digit_support(&places, expected_digits(challenge).len());
    if support == DigitSupport::Clear && free_reading_complete {
        support = DigitSupport::Leaning;
    }
    match support {
        DigitSupport::Clear if report.outcome != Outcome::Clear => {
            report.outcome = Outcome::Clear;
            report.score = report.score.max(round3(DIGIT_SUPPORT_SCORE));
            report.reasons.clear();
            report.reasons.push(Reason::new(
                ReasonCode::DigitLikelihoodSupport,
                format!(
                    "transcript \"{transcript}\" differs, but each expected digit is clearly \
                     the most likely digit at its place ({weakest})"
                ),
            ));
        }
        DigitSupport::Leaning if report.outcome == Outcome::Rejected => {
            report.outcome = Outcome::Attention;
            report.reasons.push(Reason::new(
                ReasonCode::UnclearSpeech,
                format!(
                    "transcript \"{transcript}\" differs, but each expected digit is the most \
                     likely at its place, some narrowly ({weakest})"
                ),
            ));
        }
        _ => {}
    }
    evidence.digit_likelihood = places;
    report
}

/// Score given to a recital cleared on per-place likelihood evidence.
const DIGIT_SUPPORT_SCORE: f64 = 0.8;

/// A phrase challenge's likelihood evidence from a transcript's scores (None when its
/// renderings were not scored).
pub fn phrase_likelihood(
    challenge: &Challenge,
    pack: &LanguagePack,
    transcript: &Transcript,
) -> Option<PhraseLikelihood> {
    let reference = transcript.reference.as_ref()?;
    let wanted = renderings(&challenge.value.join(" "), pack);
    let scores: Vec<TextScore> = transcript
        .scores
        .iter()
        .filter(|s| wanted.contains(&s.text))
        .cloned()
        .collect();
    best_rendering(reference, &scores)
}

/// Weighs a phrase challenge's text-match verdict with the likelihood whisper gives the expected
/// phrase (see `speech::likelihood`), and attaches that evidence. A partial text match becomes
/// `clear` only when every expected word is well supported by the audio; a mismatch becomes
/// `attention` (`unclear_speech`) when the expected phrase explains the audio as well as the
/// free reading does. Nothing else changes, and nothing is ever made worse.
pub fn weigh_phrase_likelihood(
    mut report: ChallengeReport,
    likelihood: Option<PhraseLikelihood>,
) -> ChallengeReport {
    let Some(likelihood) = likelihood else {
        return report;
    };
    let Evidence::Voice(evidence) = &mut report.evidence else {
        return report;
    };
    let heard_something = !evidence.heard_tokens.is_empty();
    let transcript = evidence.transcript.clone();
    let weakest = likelihood
        .weakest()
        .map(|w| format!("\"{}\" at {:.1}", w.word, w.logprob))
        .unwrap_or_default();
    let partial = report
        .reasons
        .iter()
        .any(|r| r.code == ReasonCode::PhrasePartialMatch);
    if report.outcome == Outcome::Attention && partial && likelihood.all_words_supported() {
        report.outcome = Outcome::Clear;
        report
            .reasons
            .retain(|r| r.code != ReasonCode::PhrasePartialMatch);
        report.reasons.push(Reason::new(
            ReasonCode::PhraseLikelihoodSupport,
            format!(
                "transcript \"{transcript}\" differs in part, but every expected word is \
                 supported by the audio (weakest {weakest})"
            ),
        ));
    } else if report.outcome == Outcome::Rejected
        && heard_something
        && likelihood.as_likely_as_free_reading()
    {
        report.outcome = Outcome::Attention;
        report.reasons.push(Reason::new(
            ReasonCode::UnclearSpeech,
            format!(
                "transcript \"{transcript}\" does not match, but the expected phrase explains \
                 the audio as well ({:.1} against {:.1}; weakest {weakest})",
                likelihood.logprob, likelihood.free_logprob
            ),
        ));
    }
    evidence.likelihood = Some(likelihood);
    report
}

/// Shortest speech (seconds) whose lip sync can be judged at all.
const SYNC_MIN_SPEECH_S: f64 = 0.8;
/// Fewest frames compared for a lip sync judgement.
const SYNC_MIN_FRAMES: usize = 15;
/// Share of the speech during which one readable face must be on screen: under the first the
/// voice is `rejected` (`no_face_while_speaking`), under the second it is `attention`.
const SYNC_FACE_REJECTED: f64 = 0.5;
const SYNC_FACE_CLEAR: f64 = 0.8;
/// Smallest face (width over the frame's shorter side) whose lips are read.
const SYNC_MIN_FACE: f64 = 0.12;
/// Most of the speech during which the head may be turned away.
const SYNC_MAX_TURNED: f64 = 0.3;
/// Lip movement under speech (10th to 90th percentile of the lip opening) under which the
/// mouth is still: a photo or a face that does not speak. Measured: a still frame under its
/// voice 0.000-0.006 (13 clips), people speaking 0.016-0.062 in their own files, but a GRID
/// speaker re-encoded with x265 at its fastest preset (which smooths the lips) 0.009: the
/// limit sits between the stills and that. Under it the voice is `rejected`; a still mouth
/// just over it still never clears (its lips do not follow the voice).
const SYNC_STILL_MOUTH: f64 = 0.0075;
/// A voice that fits the lips well beyond chance (this strength) only at an implausible
/// offset, by this much more than at any plausible one, is a voice shifted in time.
const SYNC_SHIFTED_STRENGTH: f64 = 3.5;
const SYNC_SHIFTED_MARGIN: f64 = 0.25;
/// Strength (see `av_sync::AvSync::strength`) from which the lips are shown to speak the
/// voice. A voice and lips that do not belong together read about 1 by chance; the highest
/// of the 252 spoofs in `tests/av_sync_eval.rs` reads 3.1 (a GRID speaker dubbed with
/// another's sentence of the same cadence; 3.4 when every frame was fully analysed), genuine
/// 3 s GRID recitals 2.5-3.8.
const SYNC_CLEAR_STRENGTH: f64 = 3.5;

/// The lip sync judgement of a recital: `clear` only when one face is on screen while the
/// recital is spoken and its lips follow the voice well beyond chance at a plausible offset;
/// `rejected` (`no_face_while_speaking`, `voice_not_from_face`) on strong evidence that the
/// voice is not this face's: no face, a still mouth under speech, a voice that fits the lips
/// only shifted in time; `attention` (`lip_sync_unclear`) otherwise. `sync` is None when
/// nothing could be measured.
pub fn lip_sync_verdict(sync: Option<&AvSync>, has_video: bool) -> (Outcome, Vec<Reason>) {
    let rejected =
        |code: ReasonCode, msg: String| (Outcome::Rejected, vec![Reason::new(code, msg)]);
    let unclear = |msg: String| {
        (
            Outcome::Attention,
            vec![Reason::new(ReasonCode::LipSyncUnclear, msg)],
        )
    };
    if !has_video {
        return rejected(
            ReasonCode::NoFaceWhileSpeaking,
            "no picture: nothing shows who speaks the recital".into(),
        );
    }
    let Some(s) = sync else {
        return unclear("the lips and the voice could not be compared".into());
    };
    if s.speech_seconds <= 0.0 {
        return unclear("no speech to compare with the lips".into());
    }
    if s.face_share < SYNC_FACE_REJECTED {
        return rejected(
            ReasonCode::NoFaceWhileSpeaking,
            format!(
                "one face is on screen for only {:.0}% of the speech",
                s.face_share * 100.0
            ),
        );
    }
    if s.mouth_movement.is_some_and(|m| m < SYNC_STILL_MOUTH) {
        return rejected(
            ReasonCode::VoiceNotFromFace,
            format!(
                "the lips do not move while {:.1} s of speech is heard",
                s.speech_seconds
            ),
        );
    }
    if let (Some(best), Some(z), Some(at), Some(plausible)) = (
        s.best_agreement,
        s.best_strength,
        s.best_offset_seconds,
        s.agreement,
    ) {
        let outside = !(PLAUSIBLE_OFFSET.0..=PLAUSIBLE_OFFSET.1).contains(&at);
        if outside && z >= SYNC_SHIFTED_STRENGTH && best - plausible >= SYNC_SHIFTED_MARGIN {
            return rejected(
                ReasonCode::VoiceNotFromFace,
                format!(
                    "the voice follows the lips only {:.2} s {} (agreement {best:.2}, {plausible:.2} at \
                     any offset real recordings show)",
                    at.abs(),
                    if at > 0.0 { "later" } else { "earlier" }
                ),
            );
        }
    }
    if s.face_share < SYNC_FACE_CLEAR {
        return unclear(format!(
            "one face is on screen for {:.0}% of the speech",
            s.face_share * 100.0
        ));
    }
    if s.face_size.is_some_and(|f| f < SYNC_MIN_FACE) {
        return unclear("the face is too small to read its lips".into());
    }
    if s.turned_share > SYNC_MAX_TURNED {
        return unclear(format!(
            "the head is turned away for {:.0}% of the speech",
            s.turned_share * 100.0
        ));
    }
    if s.speech_seconds < SYNC_MIN_SPEECH_S || s.frames_used < SYNC_MIN_FRAMES {
        return unclear(format!(
            "too little to compare ({:.1} s of speech, {} frames)",
            s.speech_seconds, s.frames_used
        ));
    }
    match (s.strength, s.agreement, s.offset_seconds) {
        (Some(z), Some(_), Some(_)) if z >= SYNC_CLEAR_STRENGTH => (Outcome::Clear, Vec::new()),
        (Some(z), Some(r), _) => unclear(format!(
            "the lips follow the voice too weakly to rule out another recording (agreement {r:.2}, strength {z:.1} of {SYNC_CLEAR_STRENGTH})"
        )),
        _ => unclear("the lips and the voice could not be compared".into()),
    }
}

/// Weighs a voice challenge's verdict with its lip sync (see `lip_sync_verdict`): the recital
/// clears only when the voice comes from the face on screen. The evidence is attached either
/// way.
pub fn weigh_lip_sync(
    mut report: ChallengeReport,
    sync: Option<&AvSync>,
    has_video: bool,
) -> ChallengeReport {
    let (outcome, reasons) = lip_sync_verdict(sync, has_video);
    if let Evidence::Voice(v) = &mut report.evidence {
        v.speech_outcome = Some(report.outcome);
        v.av_sync = sync.cloned();
    }
    if outcome != Outcome::Clear {
        report.outcome = report.outcome.worst(outcome);
        report.score = report.score.min(match sync.and_then(|s| s.strength) {
            Some(z) if outcome == Outcome::Attention => {
                round3((z / SYNC_CLEAR_STRENGTH).clamp(0.0, 0.99))
            }
            _ => 0.0,
        });
        report.reasons.extend(reasons);
    }
    report
}

/// Verdict of a voice challenge from its match against the transcript.
pub fn voice_verdict(
    challenge: &Challenge,
    transcript: &Transcript,
    asr_language: &str,
    m: MatchResult,
) -> ChallengeReport {
    let (outcome, reasons) = match_verdict(&m);
    ChallengeReport {
        kind: challenge.kind,
        value: challenge.value.clone(),
        outcome,
        score: round3(m.score),
        reasons,
        evidence: Evidence::Voice(Box::new(VoiceEvidence {
            transcript: transcript.text.clone(),
            asr_language: asr_language.to_string(),
            expected_tokens: m.expected,
            heard_tokens: m.heard,
            matches: m.alignment,
            start: transcript
                .segments
                .first()
                .map(|s| round3(s.start))
                .or(transcript.speech_start.map(round3)),
            end: transcript
                .segments
                .last()
                .map(|s| round3(s.end))
                .or(transcript.speech_end.map(round3)),
            likelihood: None,
            digit_likelihood: Vec::new(),
            speech_outcome: None,
            av_sync: None,
        })),
    }
}

/// The verdict of an `actions` challenge: every requested action must be found, in the given
/// order (each event starting no earlier, and peaking later, than the previous one), taking
/// for each the earliest clear event, or the earliest weak one when there is no clear one. A missing
/// action is `rejected`; a weak event (confidence under `WEAK_CONFIDENCE`) is `attention`.
/// `events` holds every recognised event of the video (any action); `face_frames` counts the
/// analysed frames that show a face (without a baseline, it says why there is none).
pub fn actions_verdict(
    challenge: &Challenge,
    events: &[ActionEvent],
    baseline: Option<Baseline>,
    face_frames: usize,
    pose_trace: Vec<PosePoint>,
) -> ChallengeReport {
    let mut reasons = Vec::new();
    let mut performed = Vec::with_capacity(challenge.value.len());
    let (mut after_start, mut after_peak) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut outcome = Outcome::Clear;
    for action in &challenge.value {
        // The earliest clear performance in order; a weak one only when there is none.
        let candidates = || {
            events
                .iter()
                .filter(|e| &e.action == action && e.start >= after_start && e.peak > after_peak)
        };
        let next = candidates()
            .filter(|e| e.confidence >= WEAK_CONFIDENCE)
            .min_by(|a, b| a.start.total_cmp(&b.start))
            .or_else(|| candidates().min_by(|a, b| a.start.total_cmp(&b.start)));
        match next {
            Some(e) => {
                after_start = e.start;
                after_peak = e.peak;
                if e.confidence < WEAK_CONFIDENCE {
                    outcome = outcome.worst(Outcome::Attention);
                    reasons.push(Reason::new(
                        ReasonCode::WeakAction,
                        format!(
                            "{action} at {:.1} s was weak (confidence {:.2})",
                            e.peak, e.confidence
                        ),
                    ));
                }
                performed.push(PerformedAction {
                    action: action.clone(),
                    event: Some(e.clone()),
                });
            }
            None => {
                outcome = Outcome::Rejected;
                let elsewhere = events.iter().any(|e| &e.action == action);
                reasons.push(if baseline.is_none() && face_frames == 0 {
                    Reason::new(ReasonCode::NoFace, format!("{action}: no face in the video to follow"))
                } else if baseline.is_none() {
                    Reason::new(
                        ReasonCode::ActionNotPerformed,
                        format!(
                            "{action}: only {face_frames} analysed frame(s) show a face, too few to follow a movement (at least {MIN_BASELINE_FRAMES})"
                        ),
                    )
                } else if elsewhere {
                    Reason::new(
                        ReasonCode::ActionsOutOfOrder,
                        format!("{action} was performed, but not in the requested order"),
                    )
                } else {
                    Reason::new(
                        ReasonCode::ActionNotPerformed,
                        format!("{action} was not performed"),
                    )
                });
                performed.push(PerformedAction {
                    action: action.clone(),
                    event: None,
                });
            }
        }
    }
    let score = performed
        .iter()
        .map(|p| p.event.as_ref().map_or(0.0, |e| e.confidence))
        .fold(1.0, f64::min);
    let asked: Vec<ActionEvent> = events
        .iter()
        .filter(|e| challenge.value.contains(&e.action))
        .cloned()
        .collect();
    ChallengeReport {
        kind: challenge.kind,
        value: challenge.value.clone(),
        outcome,
        score: round3(score),
        reasons,
        evidence: Evidence::Actions(Box::new(ActionsEvidence {
            performed,
            events: asked,
            baseline,
            pose_trace,
        })),
    }
}

/// A challenge that could not be analysed: `outcome` with one reason and no evidence.
pub fn unverified(challenge: &Challenge, outcome: Outcome, reason: Reason) -> ChallengeReport {
    ChallengeReport {
        kind: challenge.kind,
        value: challenge.value.clone(),
        outcome,
        score: 0.0,
        reasons: vec![reason],
        evidence: Evidence::None {},
    }
}

/// A voice challenge in a file without sound: `rejected`, nothing to hear it in.
pub fn no_audio(challenge: &Challenge) -> ChallengeReport {
    unverified(
        challenge,
        Outcome::Rejected,
        Reason::new(
            ReasonCode::NoAudioTrack,
            "the video has no audio track to hear the recital in",
        ),
    )
}

/// A voice verdict reached on the first `heard_seconds` of a longer audio track: not `clear`
/// (what was not heard may matter), `attention` saying so.
pub fn weigh_audio_cut(mut report: ChallengeReport, heard_seconds: f64) -> ChallengeReport {
    if report.outcome == Outcome::Clear {
        report.outcome = Outcome::Attention;
        report.reasons.push(Reason::new(
            ReasonCode::AudioTooLong,
            format!("only the first {heard_seconds} s of audio were analysed"),
        ));
    }
    report
}

/// The verdict of every voice challenge of `live_video` from the speech alone (lip sync is
/// weighed in by [`judge`]), in order: `free` is the free reading of the audio (None when
/// the file has no sound: each is `rejected`, [`no_audio`]). A digit recital the free reading
/// does not clear is read again under the digit grammar: `digit_reading` makes that reading,
/// at most once, and only when some challenge asks for it. Phrases are weighed with their
/// renderings' likelihood, digits with each place's. `audio_cut_at`: the seconds heard when
/// the audio track was longer than what was kept (never `clear`, [`weigh_audio_cut`]).
pub fn voice_verdicts<E>(
    live_video: &LiveVideo,
    pack: &LanguagePack,
    free: Option<&Transcript>,
    digit_reading: &mut dyn FnMut() -> Result<Transcript, E>,
    audio_cut_at: Option<f64>,
) -> Result<Vec<ChallengeReport>, E> {
    let mut digits: Option<Transcript> = None;
    let mut reports = Vec::new();
    for challenge in live_video
        .challenges
        .iter()
        .filter(|c| c.kind == ChallengeType::Voice)
    {
        let Some(free) = free else {
            reports.push(no_audio(challenge));
            continue;
        };
        let mut r = voice_report(challenge, pack, free);
        if !is_digit_challenge(&challenge.value) {
            r = weigh_phrase_likelihood(r, phrase_likelihood(challenge, pack, free));
        }
        if wants_digit_reading(challenge, &r) {
            let digits = match &mut digits {
                Some(read) => &*read,
                slot @ None => &*slot.insert(digit_reading()?),
            };
            let free_complete = match &r.evidence {
                Evidence::Voice(v) => v.heard_tokens.len() == v.expected_tokens.len(),
                _ => false,
            };
            r = reconcile_digit_readings(challenge, pack, free, r, digits);
            let places = digit_likelihood(challenge, free);
            r = weigh_digit_likelihood(challenge, r, places, free_complete);
        }
        if let Some(heard_seconds) = audio_cut_at {
            r = weigh_audio_cut(r, heard_seconds);
        }
        reports.push(r);
    }
    Ok(reports)
}

/// Everything the stages found in one video, for [`judge`].
#[derive(Debug, Clone)]
pub struct Findings {
    /// Each voice challenge's verdict from the speech alone, in the Live Video's order.
    pub voice: Vec<ChallengeReport>,
    /// How the lips followed the voice (None when nothing was heard).
    pub av_sync: Option<AvSync>,
    /// The action events recognised (one pass over the trace for every actions challenge).
    pub events: Vec<ActionEvent>,
    /// The person's resting pose (None with too few frames with a face).
    pub baseline: Option<Baseline>,
    /// Frames in which a face was analysed.
    pub face_frames: usize,
    /// The reviewer's pose trace.
    pub pose: Vec<PosePoint>,
    /// The faces analysis of the whole video.
    pub faces: FacesReport,
    /// The media as decoded.
    pub media: MediaReport,
    /// How long each stage took.
    pub timings: Timings,
}

/// How much earlier than its challenges' issue a container may say the recording was made
/// and still count as made after it: a phone's clock and the server's disagree by seconds to
/// a minute or two.
pub const RECORDING_CLOCK_SKEW_MS: i64 = 120_000;

/// Container times before this (2000-01-01) are unset fields (MP4 writes 1904 or 1970), not
/// a time the recording was made.
const EARLIEST_RECORDING_MS: i64 = 946_684_800_000;

/// Why the recording cannot be fresh: its container says it was made before the challenges
/// were issued (more than the clock skew before). Metadata can be missing or rewritten, so
/// this alone never rejects, and missing or unreadable metadata says nothing.
pub fn freshness(live_video: &LiveVideo, media: &MediaReport) -> Option<Reason> {
    use crate::report::time::parse_rfc3339_ms;
    let issued = parse_rfc3339_ms(live_video.challenge_issued_at.as_deref()?)?;
    let recorded = media.recorded_at.as_deref().and_then(parse_rfc3339_ms)?;
    (recorded >= EARLIEST_RECORDING_MS && recorded < issued - RECORDING_CLOCK_SKEW_MS).then(|| {
        Reason::new(
            ReasonCode::RecordedBeforeChallenge,
            format!(
                "the container says the video was recorded at {}, {:.0} minutes before its \
                 challenges were issued at {}",
                media.recorded_at.as_deref().unwrap_or_default(),
                (issued - recorded) as f64 / 60_000.0,
                live_video
                    .challenge_issued_at
                    .as_deref()
                    .unwrap_or_default()
            ),
        )
    })
}

/// A challenge's verdict on a recording that cannot be fresh: never `clear`.
fn weigh_freshness(mut report: ChallengeReport, stale: Option<&Reason>) -> ChallengeReport {
    if let Some(reason) = stale {
        if report.outcome == Outcome::Clear {
            report.outcome = Outcome::Attention;
        }
        report.reasons.push(reason.clone());
    }
    report
}

/// The verdict on one Live Video: each voice challenge's speech verdict weighed with lip sync
/// (a voice must come from the face on screen), each actions challenge against the events,
/// and the overall outcome as the worst of them and of the faces analysis; a recording
/// whose container says it was made before its challenges were issued is never `clear`
/// ([`freshness`]).
pub fn judge(live_video: &LiveVideo, findings: Findings) -> VerifyReport {
    let stale = freshness(live_video, &findings.media);
    let mut voice = findings.voice.into_iter();
    let challenges = live_video
        .challenges
        .iter()
        .map(|challenge| match challenge.kind {
            ChallengeType::Voice => {
                let r = voice.next().unwrap_or_else(|| {
                    unverified(
                        challenge,
                        Outcome::Attention,
                        Reason::new(
                            ReasonCode::SpeechNotDetected,
                            "the recital was not analysed",
                        ),
                    )
                });
                if r.reasons.iter().any(|x| x.code == ReasonCode::NoAudioTrack) {
                    r
                } else {
                    weigh_lip_sync(r, findings.av_sync.as_ref(), findings.media.has_video)
                }
            }
            ChallengeType::Actions => actions_verdict(
                challenge,
                &findings.events,
                findings.baseline,
                findings.face_frames,
                findings.pose.clone(),
            ),
        })
        .map(|r| weigh_freshness(r, stale.as_ref()))
        .collect();
    VerifyReport::new(
        live_video,
        challenges,
        findings.media,
        Some(findings.faces),
        findings.timings,
    )
}

impl VerifyReport {
    /// Builds the report: the overall outcome is the worst of the challenge outcomes and of the
    /// faces analysis, the score the lowest challenge score.
    pub fn new(
        live_video: &LiveVideo,
        challenges: Vec<ChallengeReport>,
        media: MediaReport,
        faces: Option<FacesReport>,
        timings: Timings,
    ) -> Self {
        let outcome = challenges
            .iter()
            .map(|c| c.outcome)
            .chain(faces.as_ref().map(|f| f.outcome))
            .fold(Outcome::Clear, Outcome::worst);
        let score = challenges.iter().map(|c| c.score).fold(1.0, f64::min);
        let outcome = if challenges.is_empty() {
            Outcome::Attention
        } else {
            outcome
        };
        Self {
            live_video_id: live_video.id.clone(),
            client_id: live_video.client_id.clone(),
            language: live_video.language.clone(),
            outcome,
            score,
            challenges,
            media,
            faces,
            timings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::normalize::LanguagePacks;

    fn said(text: &str) -> Transcript {
        Transcript {
            text: text.to_string(),
            ..Transcript::default()
        }
    }

    fn reconcile(expected: &[&str], free: &str, digits: &str) -> ChallengeReport {
        let packs = LanguagePacks::builtin().unwrap();
        let pack = packs.for_tag("fr").unwrap();
        let c = Challenge {
            kind: ChallengeType::Voice,
            value: expected.iter().map(|s| s.to_string()).collect(),
        };
        let first = voice_report(&c, pack, &said(free));
        assert!(wants_digit_reading(&c, &first) || first.outcome == Outcome::Clear);
        reconcile_digit_readings(&c, pack, &said(free), first, &said(digits))
    }

    /// The text-alone verdict of `heard` against a voice challenge's `values`.
    fn on_text(lang: &str, values: &[&str], heard: &str) -> (Outcome, Vec<Reason>, f64) {
        let packs = LanguagePacks::builtin().unwrap();
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        let m = match_voice(&values, heard, packs.for_tag(lang).unwrap());
        let (outcome, reasons) = match_verdict(&m);
        (outcome, reasons, m.score)
    }

    #[test]
    fn digit_sequences_clear_in_every_written_form() {
        for heard in [
            "7 9 1 7",
            "seven nine one seven",
            "7917",
            "Seven, nine, 1, seven.",
            "um, seven nine... one seven",
        ] {
            let (o, r, score) = on_text("en-GB", &["7", "9", "1", "7"], heard);
            assert_eq!(o, Outcome::Clear, "{heard}: {r:?}");
            assert!(score > 0.9);
        }
        assert_eq!(
            on_text("fr", &["7", "9", "1", "7"], "sept, neuf, un, sept").0,
            Outcome::Clear
        );
        assert_eq!(
            on_text("de", &["7917"], "Sieben neun eins sieben").0,
            Outcome::Clear
        );
    }

    #[test]
    fn wrong_missing_extra_or_swapped_digits_are_rejected() {
        let (o, r, _) = on_text("en", &["7", "9", "1", "7"], "seven nine two seven");
        assert_eq!(
            (o, r[0].code),
            (Outcome::Rejected, ReasonCode::DigitsMismatch)
        );
        let (o, r, _) = on_text("en", &["7", "9", "1", "7"], "seven one nine seven");
        assert_eq!(
            (o, r[0].code),
            (Outcome::Rejected, ReasonCode::DigitsOutOfOrder)
        );
        assert_eq!(r[0].message, "heard 7 1 9 7 instead of 7 9 1 7");
        assert_eq!(
            on_text("en", &["7", "9", "1", "7"], "seven nine one").0,
            Outcome::Rejected
        );
        assert_eq!(
            on_text("en", &["7", "9", "1", "7"], "seven nine one seven seven").0,
            Outcome::Rejected
        );
        let (o, r, _) = on_text("en", &["7", "9", "1", "7"], "");
        assert_eq!(
            (o, r[0].code),
            (Outcome::Rejected, ReasonCode::SpeechNotDetected)
        );
        assert_eq!(r[0].message, "no speech was recognised");
        let (_, r, _) = on_text("en", &["7", "9"], "hello there");
        assert_eq!(r[0].message, "no digit was recognised in the speech");
    }

    #[test]
    fn misspelt_digit_words_give_attention_not_clear() {
        // "sevan" is close to "seven" but not a known form.
        let (o, r, _) = on_text("en", &["7", "9"], "sevan nine");
        assert_eq!(
            (o, r[0].code),
            (Outcome::Attention, ReasonCode::LowConfidenceMatch)
        );
    }

    #[test]
    fn phrases_tolerate_spelling_noise_but_not_other_sentences() {
        let ok = on_text("en", &["bin blue at f two now"], "Bin blue at F2 now.");
        assert_eq!(ok.0, Outcome::Clear, "{ok:?}");
        let noisy = on_text(
            "en",
            &["set white with p two soon"],
            "Set white with P2 sooon.",
        );
        assert_eq!(noisy.0, Outcome::Clear, "{noisy:?}");
        let other = on_text("en", &["bin blue at f two now"], "Bin red by K7 now.");
        assert_eq!(other.0, Outcome::Rejected, "{other:?}");
        assert_eq!(other.1[0].code, ReasonCode::PhraseMismatch);
        // One wrong word is never clear on the text alone, however high the score.
        let one_wrong = on_text("en", &["set blue in a one again"], "Set green in A1 again.");
        assert!(one_wrong.2 >= PHRASE_CLEAR, "{one_wrong:?}");
        assert_eq!(one_wrong.0, Outcome::Attention, "{one_wrong:?}");
        assert!(one_wrong.1[0].message.ends_with("not heard: blue)"));
        let words = on_text(
            "en",
            &["bin", "blue", "at", "f", "two", "now"],
            "bin blue at f two now",
        );
        assert_eq!(words.0, Outcome::Clear);
    }

    #[test]
    fn voice_verdicts_read_digits_again_once_and_only_when_asked() {
        let packs = LanguagePacks::builtin().unwrap();
        let lv = LiveVideo::parse(
            r#"{"id":"x","language":"fr","challenges":[{"type":"voice","value":["9","4","4","8"]},
                {"type":"actions","value":["blink"]},{"type":"voice","value":["9","4","4","8"]}]}"#,
            &packs,
            &crate::actions::ActionVocabulary::builtin().unwrap(),
        )
        .unwrap();
        let pack = packs.for_tag("fr").unwrap();
        let readings = std::cell::Cell::new(0);
        let mut digit_reading = || -> Result<Transcript, ()> {
            readings.set(readings.get() + 1);
            Ok(said("Neuf, quatre, quatre, huit."))
        };
        // A misread recital: the grammar reading is made once for both challenges, and clears.
        let free = said("Nath, Gator, Gator, Witch.");
        let r = voice_verdicts(&lv, pack, Some(&free), &mut digit_reading, None).unwrap();
        assert_eq!(readings.get(), 1);
        assert_eq!(r.len(), 2, "voice challenges only, in order");
        assert!(r.iter().all(|c| c.outcome == Outcome::Clear));
        // Read clearly the first time: no second reading; on cut audio never clear.
        let readings = std::cell::Cell::new(0);
        let mut digit_reading = || -> Result<Transcript, ()> {
            readings.set(readings.get() + 1);
            Err(())
        };
        let free = said("neuf quatre quatre huit");
        let r = voice_verdicts(&lv, pack, Some(&free), &mut digit_reading, Some(120.0)).unwrap();
        assert_eq!(readings.get(), 0);
        assert!(r.iter().all(|c| c.outcome == Outcome::Attention
            && c.reasons.iter().any(|x| x.code == ReasonCode::AudioTooLong)));
        // No sound: every voice challenge rejected, nothing read.
        let r = voice_verdicts(&lv, pack, None, &mut digit_reading, None).unwrap();
        assert!(r.iter().all(
            |c| c.outcome == Outcome::Rejected && c.reasons[0].code == ReasonCode::NoAudioTrack
        ));
        // A failed reading is the caller's error.
        let free = said("Nath, Gator, Gator, Witch.");
        assert!(voice_verdicts(&lv, pack, Some(&free), &mut digit_reading, None).is_err());
    }

    #[test]
    fn second_reading_can_clear_a_misread_recital() {
        let r = reconcile(
            &["9", "4", "4", "8"],
            "Nath, Gator, Gator, Witch.",
            "Neuf, quatre, quatre, huit.",
        );
        assert_eq!(r.outcome, Outcome::Clear);
        assert!(r
            .reasons
            .iter()
            .any(|x| x.code == ReasonCode::DigitGrammarReading));
    }

    #[test]
    fn a_complete_wrong_free_reading_stays_rejected() {
        // Four clear digits, one of them wrong: the grammar reading cannot soften that.
        let r = reconcile(
            &["9", "4", "4", "8"],
            "neuf quatre trois huit",
            "neuf quatre trois huit deux",
        );
        assert_eq!(r.outcome, Outcome::Rejected);
    }

    #[test]
    fn disagreeing_readings_of_an_unclear_recital_give_attention() {
        let r = reconcile(&["7", "2", "1", "9"], "Set, do, ah, naf.", "sept deux un");
        assert_eq!(r.outcome, Outcome::Attention);
        assert_eq!(r.reasons.last().unwrap().code, ReasonCode::UnclearSpeech);
        // Both readings agreeing on another sequence is a wrong answer.
        let r = reconcile(&["7", "2", "1", "9"], "sept deux", "sept deux");
        assert_eq!(r.outcome, Outcome::Rejected);
    }

    fn likelihood(words: &[(&str, f64)], free_logprob: f64) -> PhraseLikelihood {
        PhraseLikelihood {
            rendering: String::new(),
            logprob: words.iter().map(|w| w.1).sum(),
            free_logprob,
            words: words
                .iter()
                .map(|(w, l)| crate::report::WordLikelihood {
                    word: w.to_string(),
                    logprob: *l,
                })
                .collect(),
        }
    }

    /// "x" unsupported.
    fn r_weak() -> PhraseLikelihood {
        likelihood(
            &[("Lay", -0.7), ("blue", -0.1), ("at", -2.4), ("x", -9.0)],
            -5.0,
        )
    }

    fn phrase(expected: &str, heard: &str, l: PhraseLikelihood) -> ChallengeReport {
        let packs = LanguagePacks::builtin().unwrap();
        let pack = packs.for_tag("en").unwrap();
        let c = Challenge {
            kind: ChallengeType::Voice,
            value: vec![expected.to_string()],
        };
        weigh_phrase_likelihood(voice_report(&c, pack, &said(heard)), Some(l))
    }

    #[test]
    fn likelihood_lifts_a_partial_match_only_when_every_word_is_supported() {
        let supported = likelihood(
            &[("Lay", -0.7), ("blue", -0.1), ("at", -2.4), ("x", -1.1)],
            -5.0,
        );
        let r = phrase("lay blue at x", "Lay blue it text.", supported);
        assert_eq!(r.outcome, Outcome::Clear, "{r:?}");
        assert_eq!(
            r.reasons.last().unwrap().code,
            ReasonCode::PhraseLikelihoodSupport
        );
        let Evidence::Voice(v) = &r.evidence else {
            panic!()
        };
        assert!(v.likelihood.is_some());

        let one_weak = likelihood(
            &[("Lay", -0.7), ("green", -8.4), ("at", -2.4), ("x", -1.1)],
            -5.0,
        );
        let r = phrase("lay green at x", "Lay blue it text.", one_weak);
        assert_ne!(r.outcome, Outcome::Clear, "{r:?}");
        let r = phrase("lay blue at x", "Lay blue it text.", r_weak());
        assert_eq!(r.outcome, Outcome::Attention, "{r:?}");
        assert_eq!(
            r.reasons.last().unwrap().code,
            ReasonCode::PhrasePartialMatch
        );
    }

    #[test]
    fn likelihood_softens_a_mismatch_to_attention_but_never_clears_it() {
        let as_likely = likelihood(
            &[("Bin", -6.1), ("blue", -1.7), ("at", -5.9), ("f", -11.0)],
            -23.0,
        );
        let r = phrase("bin blue at f", "Tuna.", as_likely);
        assert_eq!(r.outcome, Outcome::Attention, "{r:?}");
        assert_eq!(r.reasons.last().unwrap().code, ReasonCode::UnclearSpeech);

        let unlikely = likelihood(&[("Set", -14.4), ("white", -10.0)], -2.0);
        let r = phrase("set white", "Been read by K7 now.", unlikely);
        assert_eq!(r.outcome, Outcome::Rejected, "{r:?}");
    }

    fn places(margins: &[(&str, f64, f64)]) -> Vec<DigitLikelihood> {
        margins
            .iter()
            .map(|(d, l, r)| DigitLikelihood {
                expected: d.to_string(),
                logprob: *l,
                rival: "0".into(),
                rival_logprob: *r,
            })
            .collect()
    }

    fn digits(free: &str, p: Vec<DigitLikelihood>, complete: bool) -> ChallengeReport {
        let packs = LanguagePacks::builtin().unwrap();
        let pack = packs.for_tag("fr").unwrap();
        let c = Challenge {
            kind: ChallengeType::Voice,
            value: vec!["7".into(), "2".into()],
        };
        weigh_digit_likelihood(&c, voice_report(&c, pack, &said(free)), p, complete)
    }

    #[test]
    fn digit_places_clear_an_unreadable_recital_only_when_every_digit_leads_clearly() {
        let clear = places(&[("7", -5.2, -7.7), ("2", -2.8, -5.6)]);
        let r = digits("Set, do.", clear.clone(), false);
        assert_eq!(r.outcome, Outcome::Clear, "{r:?}");
        assert_eq!(r.reasons[0].code, ReasonCode::DigitLikelihoodSupport);
        let Evidence::Voice(v) = &r.evidence else {
            panic!()
        };
        assert_eq!(v.digit_likelihood.len(), 2);

        // A complete free reading of another sequence caps the lift at attention.
        let r = digits("sept trois", clear, true);
        assert_eq!(r.outcome, Outcome::Attention, "{r:?}");
        assert_eq!(r.reasons.last().unwrap().code, ReasonCode::UnclearSpeech);

        let narrow = places(&[("7", -0.5, -1.1), ("2", -2.8, -5.6)]);
        assert_eq!(
            digits("Set, do.", narrow, false).outcome,
            Outcome::Attention
        );

        let against = places(&[("7", -5.2, -7.7), ("2", -5.6, -2.8)]);
        assert_eq!(
            digits("Set, do.", against, false).outcome,
            Outcome::Rejected
        );
        assert_eq!(
            digits("Set, do.", Vec::new(), false).outcome,
            Outcome::Rejected
        );
    }

    fn event(action: &str, start: f64, confidence: f64) -> ActionEvent {
        ActionEvent {
            action: action.into(),
            start,
            end: start + 0.5,
            peak: start + 0.25,
            amplitude: 1.0,
            confidence,
        }
    }

    fn actions(values: &[&str], events: &[ActionEvent]) -> ChallengeReport {
        let c = Challenge {
            kind: ChallengeType::Actions,
            value: values.iter().map(|v| v.to_string()).collect(),
        };
        let base = Baseline {
            yaw: 0.0,
            pitch: 0.0,
            eyes: 0.4,
            mouth_width: 0.4,
            mouth_opening: 0.02,
        };
        actions_verdict(&c, events, Some(base), 100, Vec::new())
    }

    #[test]
    fn without_a_baseline_the_reason_says_whether_a_face_was_seen() {
        let c = Challenge {
            kind: ChallengeType::Actions,
            value: vec!["nod".into()],
        };
        let none = actions_verdict(&c, &[], None, 0, Vec::new());
        assert_eq!(none.outcome, Outcome::Rejected);
        assert_eq!(none.reasons[0].code, ReasonCode::NoFace);
        let one = actions_verdict(&c, &[], None, 1, Vec::new());
        assert_eq!(one.outcome, Outcome::Rejected);
        assert_eq!(one.reasons[0].code, ReasonCode::ActionNotPerformed);
        assert!(
            one.reasons[0].message.contains("only 1 analysed frame"),
            "{:?}",
            one.reasons
        );
    }

    #[test]
    fn actions_match_in_order_preferring_clear_events() {
        // A weak smile first, a clear one later: the clear one counts.
        let r = actions(
            &["smile"],
            &[event("smile", 1.0, 0.4), event("smile", 5.0, 1.0)],
        );
        assert_eq!(r.outcome, Outcome::Clear);
        // Only a weak one: attention.
        let r = actions(&["smile"], &[event("smile", 1.0, 0.4)]);
        assert_eq!(r.outcome, Outcome::Attention);
        assert_eq!(r.reasons[0].code, ReasonCode::WeakAction);
        // Order matters.
        let evs = [
            event("turnHeadRight", 1.0, 1.0),
            event("turnHeadLeft", 3.0, 1.0),
        ];
        assert_eq!(
            actions(&["turnHeadRight", "turnHeadLeft"], &evs).outcome,
            Outcome::Clear
        );
        let r = actions(&["turnHeadLeft", "turnHeadRight"], &evs);
        assert_eq!(r.outcome, Outcome::Rejected);
        assert_eq!(r.reasons[0].code, ReasonCode::ActionsOutOfOrder);
        let r = actions(&["nod"], &evs);
        assert_eq!(r.reasons[0].code, ReasonCode::ActionNotPerformed);
    }

    #[test]
    fn unverified_challenges_carry_their_reason_and_never_clear_by_accident() {
        let c = Challenge {
            kind: ChallengeType::Actions,
            value: vec!["blink".into()],
        };
        let r = unverified(
            &c,
            Outcome::Attention,
            Reason::new(
                ReasonCode::ActionsNotAvailable,
                "action recognition not available",
            ),
        );
        assert_eq!(r.outcome, Outcome::Attention);
        assert_eq!(r.score, 0.0);
        assert_eq!(r.reasons[0].message, "action recognition not available");
    }

    #[test]
    fn judge_weighs_every_voice_with_lip_sync_and_never_clears_the_unheard() {
        let lv = LiveVideo::parse(
            r#"{"id":"x","language":"en","challenges":[
                {"type":"voice","value":["1","2"]},
                {"type":"voice","value":["3"]},
                {"type":"actions","value":["blink"]}]}"#,
            &LanguagePacks::builtin().unwrap(),
            &crate::actions::ActionVocabulary::builtin().unwrap(),
        )
        .unwrap();
        let heard_clearly = ChallengeReport {
            kind: ChallengeType::Voice,
            value: vec!["1".into(), "2".into()],
            outcome: Outcome::Clear,
            score: 1.0,
            reasons: vec![],
            evidence: Evidence::None {},
        };
        let faces = FacesReport {
            outcome: Outcome::Clear,
            reasons: vec![],
            frames_analysed: 40,
            frames_detected: 40,
            frames_with_one_face: 40,
            frames_without_face: 0,
            frames_with_several_faces: 0,
            face_size: 0.4,
            track_breaks: vec![],
            identity: None,
            motion: Some(2.0),
        };
        let findings = Findings {
            // The second voice challenge's report is missing: judged, not skipped.
            voice: vec![heard_clearly.clone()],
            av_sync: None,
            events: vec![],
            baseline: None,
            face_frames: 0,
            pose: vec![],
            faces,
            media: MediaReport {
                has_video: true,
                has_audio: true,
                ..MediaReport::default()
            },
            timings: Timings::default(),
        };
        let r = judge(&lv, findings.clone());
        assert_eq!(r.challenges.len(), 3);
        // A recital heard clearly but with nothing to tell whose voice it is: not clear.
        assert_ne!(r.challenges[0].outcome, Outcome::Clear);
        assert!(r.challenges[0]
            .reasons
            .iter()
            .any(|x| x.code == ReasonCode::LipSyncUnclear));
        assert_eq!(r.challenges[1].outcome, Outcome::Attention);
        assert_eq!(
            r.challenges[1].reasons[0].code,
            ReasonCode::SpeechNotDetected
        );
        assert_ne!(r.challenges[2].outcome, Outcome::Clear);
        assert_ne!(r.outcome, Outcome::Clear);

        // No sound: rejected as such, without a lip-sync reason on top.
        let silent = Findings {
            voice: vec![no_audio(&lv.challenges[0]), no_audio(&lv.challenges[1])],
            ..findings
        };
        let r = judge(&lv, silent);
        for c in &r.challenges[..2] {
            assert_eq!(c.outcome, Outcome::Rejected);
            assert_eq!(
                c.reasons.iter().map(|x| x.code).collect::<Vec<_>>(),
                [ReasonCode::NoAudioTrack]
            );
        }

        // A verdict on the first part of a long track is never clear.
        let cut = weigh_audio_cut(heard_clearly, 60.0);
        assert_eq!(cut.outcome, Outcome::Attention);
        assert_eq!(cut.reasons[0].code, ReasonCode::AudioTooLong);
        assert!(cut.reasons[0].message.contains("60 s"));
    }

    fn sync(agreement: f64, strength: f64, best: (f64, f64, f64)) -> AvSync {
        AvSync {
            offset_seconds: Some(0.02),
            agreement: Some(agreement),
            strength: Some(strength),
            best_offset_seconds: Some(best.0),
            best_agreement: Some(best.1),
            best_strength: Some(best.2),
            speech_seconds: 2.0,
            face_share: 1.0,
            face_size: Some(0.4),
            turned_share: 0.0,
            mouth_active_share: 0.8,
            pause_active_share: Some(0.2),
            mouth_movement: Some(0.03),
            frames_used: 60,
            ..AvSync::default()
        }
    }

    fn lip(s: &AvSync) -> (Outcome, Option<ReasonCode>) {
        let (o, r) = lip_sync_verdict(Some(s), true);
        (o, r.first().map(|r| r.code))
    }

    #[test]
    fn lips_must_follow_the_voice_well_beyond_chance_to_clear() {
        assert_eq!(
            lip(&sync(0.75, 4.2, (0.02, 0.75, 4.2))),
            (Outcome::Clear, None)
        );
        let weak = lip(&sync(0.55, 2.6, (0.02, 0.55, 2.6)));
        assert_eq!(weak, (Outcome::Attention, Some(ReasonCode::LipSyncUnclear)));
        // Strong agreement only 0.8 s later: a shifted voice.
        let shifted = lip(&sync(0.2, 0.9, (0.8, 0.7, 3.9)));
        assert_eq!(
            shifted,
            (Outcome::Rejected, Some(ReasonCode::VoiceNotFromFace))
        );
        // A chance peak elsewhere is not evidence of a shift.
        assert_eq!(lip(&sync(0.2, 0.9, (0.8, 0.5, 2.4))).0, Outcome::Attention);
    }

    #[test]
    fn no_face_a_still_mouth_or_too_little_to_judge_never_clear() {
        assert_eq!(
            lip_sync_verdict(None, false).1[0].code,
            ReasonCode::NoFaceWhileSpeaking
        );
        let (outcome, reasons) = lip_sync_verdict(None, true);
        assert_eq!(outcome, Outcome::Attention);
        assert_eq!(reasons[0].code, ReasonCode::LipSyncUnclear);
        let mut s = sync(0.75, 4.2, (0.02, 0.75, 4.2));
        s.face_share = 0.3;
        assert_eq!(
            lip(&s),
            (Outcome::Rejected, Some(ReasonCode::NoFaceWhileSpeaking))
        );
        s.face_share = 0.7;
        assert_eq!(
            lip(&s),
            (Outcome::Attention, Some(ReasonCode::LipSyncUnclear))
        );
        let mut s = sync(0.75, 4.2, (0.02, 0.75, 4.2));
        s.mouth_movement = Some(0.002);
        assert_eq!(
            lip(&s),
            (Outcome::Rejected, Some(ReasonCode::VoiceNotFromFace))
        );
        let mut s = sync(0.75, 4.2, (0.02, 0.75, 4.2));
        s.face_size = Some(0.05);
        assert_eq!(lip(&s).0, Outcome::Attention);
        let mut s = sync(0.75, 4.2, (0.02, 0.75, 4.2));
        s.speech_seconds = 0.5;
        assert_eq!(lip(&s).0, Outcome::Attention);
    }

    #[test]
    fn lip_sync_never_lifts_a_verdict_and_attaches_its_evidence() {
        let packs = LanguagePacks::builtin().unwrap();
        let pack = packs.for_tag("en").unwrap();
        let c = Challenge {
            kind: ChallengeType::Voice,
            value: vec!["lay blue at x".into()],
        };
        let heard = voice_report(&c, pack, &said("Lay blue at x."));
        assert_eq!(heard.outcome, Outcome::Clear);
        let weak = sync(0.5, 2.0, (0.02, 0.5, 2.0));
        let r = weigh_lip_sync(heard.clone(), Some(&weak), true);
        assert_eq!(r.outcome, Outcome::Attention);
        assert!(r.score < 1.0);
        let Evidence::Voice(v) = &r.evidence else {
            panic!()
        };
        assert_eq!(v.av_sync.as_ref(), Some(&weak));
        let wrong = voice_report(&c, pack, &said("Bin red."));
        let strong = sync(0.75, 4.2, (0.02, 0.75, 4.2));
        assert_eq!(
            weigh_lip_sync(wrong, Some(&strong), true).outcome,
            Outcome::Rejected
        );
    }

    #[test]
    fn overall_outcome_is_the_worst() {
        let lv = LiveVideo::parse(
            r#"{"id":"x","language":"en","challenges":[{"type":"voice","value":["1"]}]}"#,
            &LanguagePacks::builtin().unwrap(),
            &crate::actions::ActionVocabulary::builtin().unwrap(),
        )
        .unwrap();
        let ch = |o: Outcome, s: f64| ChallengeReport {
            kind: ChallengeType::Voice,
            value: vec!["1".into()],
            outcome: o,
            score: s,
            reasons: vec![],
            evidence: Evidence::None {},
        };
        let r = VerifyReport::new(
            &lv,
            vec![ch(Outcome::Clear, 0.9), ch(Outcome::Attention, 0.5)],
            MediaReport::default(),
            None,
            Timings::default(),
        );
        assert_eq!(r.outcome, Outcome::Attention);
        assert_eq!(r.score, 0.5);
        assert_eq!(Outcome::Rejected.complycube(), Outcome::Attention);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["liveVideoId"], "x");
        assert_eq!(json["challenges"][0]["outcome"], "clear");
    }

    #[test]
    fn freshness_needs_both_times_and_allows_clock_skew() {
        let packs = LanguagePacks::builtin().unwrap();
        let vocabulary = crate::actions::ActionVocabulary::builtin().unwrap();
        let lv = |issued: &str| {
            LiveVideo::parse(
                &format!(
                    r#"{{"id":"x","language":"en","challenges":[{{"type":"voice","value":["1","2","3"]}}]{issued}}}"#
                ),
                &packs,
                &vocabulary,
            )
            .unwrap()
        };
        let issued = lv(r#","challengeIssuedAt":"2026-11-30T10:00:00+01:00""#);
        let media = |at: Option<&str>| MediaReport {
            recorded_at: at.map(str::to_string),
            ..MediaReport::default()
        };
        let stale = freshness(&issued, &media(Some("2026-11-30T08:00:00.000000Z")));
        assert_eq!(
            stale.map(|r| r.code),
            Some(ReasonCode::RecordedBeforeChallenge)
        );
        // Within the clock skew, after issue, unset (1904/1970), unreadable or absent: nothing.
        for at in [
            Some("2026-11-30T08:59:00Z"),
            Some("2026-11-30T09:30:00Z"),
            Some("1970-01-01T00:00:00.000000Z"),
            Some("not a time"),
            None,
        ] {
            assert!(freshness(&issued, &media(at)).is_none(), "{at:?}");
        }
        assert!(freshness(&lv(""), &media(Some("2020-01-01T00:00:00Z"))).is_none());
        // Never clear, never worse than it was on that alone.
        let reason = freshness(&issued, &media(Some("2026-11-30T08:00:00Z")));
        let clear = ChallengeReport {
            kind: ChallengeType::Voice,
            value: vec!["1".into()],
            outcome: Outcome::Clear,
            score: 1.0,
            reasons: vec![],
            evidence: Evidence::None {},
        };
        let weighed = weigh_freshness(clear.clone(), reason.as_ref());
        assert_eq!(weighed.outcome, Outcome::Attention);
        let rejected = ChallengeReport {
            outcome: Outcome::Rejected,
            ..clear
        };
        let weighed = weigh_freshness(rejected, reason.as_ref());
        assert_eq!(weighed.outcome, Outcome::Rejected);
        assert_eq!(weighed.reasons[0].code, ReasonCode::RecordedBeforeChallenge);
    }
}
