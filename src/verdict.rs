//! Turns match results and analysis outcomes into per-challenge verdicts.

use crate::live_video::{Challenge, ChallengeReport, Evidence, Outcome, Reason, VoiceEvidence};
use crate::speech::asr::Transcript;
use crate::speech::matcher::MatchResult;

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
