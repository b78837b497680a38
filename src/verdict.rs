//! Turns match results and analysis outcomes into per-challenge verdicts.

use crate::live_video::{Challenge, ChallengeReport, Evidence, Outcome, Reason, VoiceEvidence};
use crate::speech::asr::Transcript;
use crate::speech::matcher::{is_digit_challenge, match_voice, MatchResult};
use crate::speech::normalize::LanguagePack;

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
        Evidence::None {} => Vec::new(),
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
        evidence: Evidence::Voice(VoiceEvidence {
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
        }),
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

/// Rounds to three decimals for stable, readable reports.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live_video::ChallengeType;
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
