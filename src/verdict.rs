//! Turns match results and analysis outcomes into per-challenge verdicts.

use crate::actions::recognise::{ActionEvent, WEAK_CONFIDENCE};
use crate::actions::trace::{Baseline, PosePoint};
use crate::live_video::{
    ActionsEvidence, Challenge, ChallengeReport, ChallengeType, Evidence, Outcome, PerformedAction,
    Reason, VoiceEvidence,
};
use crate::rounding::round3;
use crate::speech::asr::Transcript;
use crate::speech::likelihood::{
    best_rendering, digit_places, digit_rendering, digit_support, renderings, DigitLikelihood,
    DigitSupport, PhraseLikelihood,
};
use crate::speech::matcher::{is_digit_challenge, match_voice, MatchResult};
use crate::speech::normalize::LanguagePack;
use crate::speech::whisper_ffi::TextScore;

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
    if m.outcome == Outcome::Rejected
        && first.outcome == Outcome::Rejected
        && free_incomplete
        && m.heard != free_heard
    {
        first.outcome = Outcome::Attention;
        first.reasons.push(Reason::new(
            "unclear_speech",
            format!(
                "two readings disagree: free \"{}\", digit grammar \"{}\"",
                free.text, digits.text
            ),
        ));
        first
    } else if m.outcome < first.outcome {
        let mut r = voice_verdict(challenge, digits, &pack.whisper, m);
        r.reasons.push(Reason::new(
            "digit_grammar_reading",
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
        .filter(|c| match_voice(&c.value, heard, pack).outcome != Outcome::Clear)
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
                "digit_likelihood_support",
                format!(
                    "transcript \"{transcript}\" differs, but each expected digit is clearly \
                     the most likely digit at its place ({weakest})"
                ),
            ));
        }
        DigitSupport::Leaning if report.outcome == Outcome::Rejected => {
            report.outcome = Outcome::Attention;
            report.reasons.push(Reason::new(
                "unclear_speech",
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
        .any(|r| r.code == "phrase_partial_match");
    if report.outcome == Outcome::Attention && partial && likelihood.all_words_supported() {
        report.outcome = Outcome::Clear;
        report.reasons.retain(|r| r.code != "phrase_partial_match");
        report.reasons.push(Reason::new(
            "phrase_likelihood_support",
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
            "unclear_speech",
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

/// Verdict of a voice challenge from its match against the transcript.
pub fn voice_verdict(
    challenge: &Challenge,
    transcript: &Transcript,
    asr_language: &str,
    m: MatchResult,
) -> ChallengeReport {
    ChallengeReport {
        kind: challenge.kind,
        value: challenge.value.clone(),
        outcome: m.outcome,
        score: round3(m.score),
        reasons: m.reasons,
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
        })),
    }
}

/// The verdict of an `actions` challenge: every requested action must be found, in the given
/// order (each event starting no earlier, and peaking later, than the previous one), taking
/// for each the earliest clear event, or the earliest weak one when there is no clear one. A missing
/// action is `rejected`; a weak event (confidence under `WEAK_CONFIDENCE`) is `attention`.
/// `events` holds every recognised event of the video (any action).
pub fn actions_verdict(
    challenge: &Challenge,
    events: &[ActionEvent],
    baseline: Option<Baseline>,
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
                        "weak_action",
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
                reasons.push(if baseline.is_none() {
                    Reason::new("no_face", format!("{action}: no face to analyse"))
                } else if elsewhere {
                    Reason::new(
                        "actions_out_of_order",
                        format!("{action} was performed, but not in the requested order"),
                    )
                } else {
                    Reason::new(
                        "action_not_performed",
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

    #[test]
    fn second_reading_can_clear_a_misread_recital() {
        let r = reconcile(
            &["9", "4", "4", "8"],
            "Nath, Gator, Gator, Witch.",
            "Neuf, quatre, quatre, huit.",
        );
        assert_eq!(r.outcome, Outcome::Clear);
        assert!(r.reasons.iter().any(|x| x.code == "digit_grammar_reading"));
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
        assert_eq!(r.reasons.last().unwrap().code, "unclear_speech");
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
                .map(|(w, l)| crate::speech::likelihood::WordLikelihood {
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
        assert_eq!(r.reasons.last().unwrap().code, "phrase_likelihood_support");
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
        assert_eq!(r.reasons.last().unwrap().code, "phrase_partial_match");
    }

    #[test]
    fn likelihood_softens_a_mismatch_to_attention_but_never_clears_it() {
        let as_likely = likelihood(
            &[("Bin", -6.1), ("blue", -1.7), ("at", -5.9), ("f", -11.0)],
            -23.0,
        );
        let r = phrase("bin blue at f", "Tuna.", as_likely);
        assert_eq!(r.outcome, Outcome::Attention, "{r:?}");
        assert_eq!(r.reasons.last().unwrap().code, "unclear_speech");

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
        assert_eq!(r.reasons[0].code, "digit_likelihood_support");
        let Evidence::Voice(v) = &r.evidence else {
            panic!()
        };
        assert_eq!(v.digit_likelihood.len(), 2);

        // A complete free reading of another sequence caps the lift at attention.
        let r = digits("sept trois", clear, true);
        assert_eq!(r.outcome, Outcome::Attention, "{r:?}");
        assert_eq!(r.reasons.last().unwrap().code, "unclear_speech");

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
        actions_verdict(&c, events, Some(base), Vec::new())
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
        assert_eq!(r.reasons[0].code, "weak_action");
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
        assert_eq!(r.reasons[0].code, "actions_out_of_order");
        let r = actions(&["nod"], &evs);
        assert_eq!(r.reasons[0].code, "action_not_performed");
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
            Reason::new("actions_not_available", "action recognition not available"),
        );
        assert_eq!(r.outcome, Outcome::Attention);
        assert_eq!(r.score, 0.0);
        assert_eq!(r.reasons[0].message, "action recognition not available");
    }
}
