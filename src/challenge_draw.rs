//! Drawing fresh challenges: a `voice` challenge of N digits and an `actions` challenge of K
//! actions, drawn with a cryptographically secure generator (the type asks for `CryptoRng`)
//! uniformly among the sequences that the fairness rules allow:
//!
//! - digits: no digit more than twice, and no three in a row that step by one up or down
//!   (`123`, `987`): such runs are what a person (or a prepared recording) would say anyway;
//! - actions: the same action never twice in a row, and two actions in a row must be told
//!   apart in sequence ([`separable`], decided from `challenges/actions.toml`);
//! - languages: only those with a language pack (the digits are recited in it).
//!
//! The service hands these out as issued challenges; `liveness challenge new` prints them as
//! a Live Video skeleton for test recordings.

use std::ops::RangeInclusive;

use rand::{CryptoRng, Rng, RngCore};

use crate::actions::{ActionSpec, ActionVocabulary, RecogniserKind};
use crate::live_video::{Challenge, LiveVideo};
use crate::report::{ChallengeType, Classify, ErrorClass};
use crate::speech::normalize::{primary_subtag, LanguageError, LanguagePacks};

/// Digits of a voice challenge when the caller does not say.
pub const DEFAULT_DIGITS: usize = 4;
/// Actions of an actions challenge when the caller does not say.
pub const DEFAULT_ACTIONS: usize = 2;
/// Digits a voice challenge may have: fewer is too easy to guess, more too long to recite.
pub const DIGITS: RangeInclusive<usize> = 3..=10;
/// Actions an actions challenge may have.
pub const ACTIONS: RangeInclusive<usize> = 1..=4;
/// Most times one digit may appear in a recital.
pub const MAX_SAME_DIGIT: usize = 2;

/// How many digits and actions to draw (0: no challenge of that type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawRequest {
    /// Digits of the voice challenge (0 for none).
    pub digits: usize,
    /// Actions of the actions challenge (0 for none).
    pub actions: usize,
}

impl Default for DrawRequest {
    fn default() -> Self {
        Self {
            digits: DEFAULT_DIGITS,
            actions: DEFAULT_ACTIONS,
        }
    }
}

/// Why challenges could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// The digit count is outside [`DIGITS`].
    #[error("digits: {0} is not between {min} and {max}", min = DIGITS.start(), max = DIGITS.end())]
    Digits(usize),
    /// The action count is outside [`ACTIONS`].
    #[error("actions: {0} is not between {min} and {max}", min = ACTIONS.start(), max = ACTIONS.end())]
    Actions(usize),
    /// Neither digits nor actions were asked for.
    #[error("nothing to draw: ask for digits, actions or both")]
    Nothing,
    /// The language has no pack.
    #[error(transparent)]
    Language(#[from] LanguageError),
    /// The language tag's primary subtag is not written as its pack's code (`en-GB`, not
    /// `EN-GB`): issued challenges carry one spelling of each language.
    #[error("language '{0}': write the primary subtag in lower case, as en-GB or pt-BR")]
    LanguageCase(String),
    /// The vocabulary cannot make a sequence under the rules (broken challenge data).
    #[error("the action vocabulary cannot make {0} actions under the rules")]
    Vocabulary(usize),
}

impl Classify for DrawError {
    fn class(&self) -> ErrorClass {
        match self {
            DrawError::Language(e) => e.class(),
            DrawError::Vocabulary(_) => ErrorClass::Internal,
            DrawError::Digits(_)
            | DrawError::Actions(_)
            | DrawError::Nothing
            | DrawError::LanguageCase(_) => ErrorClass::InvalidRequest,
        }
    }
}

/// Whether a digit sequence keeps the rules: no digit more than [`MAX_SAME_DIGIT`] times, no
/// three in a row stepping by one (up or down).
pub fn digits_allowed(digits: &[u8]) -> bool {
    let mut seen = [0usize; 10];
    for &d in digits {
        match seen.get_mut(usize::from(d)) {
            Some(n) if *n < MAX_SAME_DIGIT => *n += 1,
            _ => return false,
        }
    }
    !digits.windows(3).any(|w| {
        let (a, b, c) = (i16::from(w[0]), i16::from(w[1]), i16::from(w[2]));
        let step = b - a;
        step.abs() == 1 && c - b == step
    })
}

/// Whether action `b` right after action `a` can be told apart from one longer movement:
/// actions on different signals always can; on the same signal only two sustained poses
/// (plain holds, without a time limit) in opposite directions can, such as `turnHeadLeft`
/// then `turnHeadRight`. A nod after `lookDown` is the same head going down, a shake after a
/// turn contains that turn: such pairs are never drawn.
pub fn separable(a: &ActionSpec, b: &ActionSpec) -> bool {
    if a.signal != b.signal {
        return true;
    }
    let sustained = |s: &ActionSpec| {
        s.recogniser.kind == RecogniserKind::Hold && s.recogniser.max_duration.is_none()
    };
    sustained(a) && sustained(b) && a.recogniser.sign != b.recogniser.sign
}

/// Whether an action sequence keeps the rules: never the same action twice in a row, every
/// neighbouring pair [`separable`].
pub fn actions_allowed(actions: &[&ActionSpec]) -> bool {
    actions
        .windows(2)
        .all(|w| w[0].name != w[1].name && separable(w[0], w[1]))
}

/// Draws until `allowed` accepts: uniform over the allowed sequences, since each try is
/// uniform over all of them. Gives up after 10,000 tries, which only broken data can cause:
/// the rules accept about a third of the tries for 10 digits (93 % for 4), about half for 4
/// actions.
fn draw_sequence<T: Copy, R: RngCore>(
    rng: &mut R,
    pool: &[T],
    len: usize,
    allowed: impl Fn(&[T]) -> bool,
) -> Option<Vec<T>> {
    if pool.is_empty() {
        return None;
    }
    let mut seq = Vec::with_capacity(len);
    for _ in 0..10_000 {
        seq.clear();
        seq.extend((0..len).map(|_| pool[rng.gen_range(0..pool.len())]));
        if allowed(&seq) {
            return Some(seq);
        }
    }
    None
}

/// Draws the challenges `request` asks for, in `language` (a BCP-47 tag with a pack): the
/// voice challenge first, then the actions.
pub fn draw_challenges<R: RngCore + CryptoRng>(
    rng: &mut R,
    packs: &LanguagePacks,
    vocabulary: &ActionVocabulary,
    language: &str,
    request: DrawRequest,
) -> Result<Vec<Challenge>, DrawError> {
    let pack = packs.for_tag(language)?;
    if primary_subtag(language) != pack.code {
        return Err(DrawError::LanguageCase(language.to_string()));
    }
    if request.digits == 0 && request.actions == 0 {
        return Err(DrawError::Nothing);
    }
    let mut challenges = Vec::new();
    if request.digits > 0 {
        if !DIGITS.contains(&request.digits) {
            return Err(DrawError::Digits(request.digits));
        }
        let pool: Vec<u8> = (0..10).collect();
        let digits = draw_sequence(rng, &pool, request.digits, digits_allowed)
            .ok_or(DrawError::Digits(request.digits))?;
        challenges.push(Challenge {
            kind: ChallengeType::Voice,
            value: digits.iter().map(|d| d.to_string()).collect(),
        });
    }
    if request.actions > 0 {
        if !ACTIONS.contains(&request.actions) {
            return Err(DrawError::Actions(request.actions));
        }
        let pool: Vec<&ActionSpec> = vocabulary.specs().iter().collect();
        let actions = draw_sequence(rng, &pool, request.actions, actions_allowed)
            .ok_or(DrawError::Vocabulary(request.actions))?;
        challenges.push(Challenge {
            kind: ChallengeType::Actions,
            value: actions.iter().map(|a| a.name.clone()).collect(),
        });
    }
    Ok(challenges)
}

/// A random identifier: 24 lowercase hex digits (the shape of ComplyCube's ids).
pub fn random_id<R: RngCore + CryptoRng>(rng: &mut R) -> String {
    let mut bytes = [0u8; 12];
    rng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh Live Video object with drawn challenges, a random id and `created_at` (an RFC 3339
/// time) as its creation, update and challenge issue time: what `liveness challenge new`
/// prints.
pub fn live_video_skeleton<R: RngCore + CryptoRng>(
    rng: &mut R,
    packs: &LanguagePacks,
    vocabulary: &ActionVocabulary,
    language: &str,
    client_id: Option<String>,
    request: DrawRequest,
    created_at: String,
) -> Result<LiveVideo, DrawError> {
    let challenges = draw_challenges(rng, packs, vocabulary, language, request)?;
    Ok(LiveVideo {
        id: random_id(rng),
        client_id,
        language: language.to_string(),
        challenges,
        created_at: Some(created_at.clone()),
        updated_at: Some(created_at.clone()),
        mirrored: None,
        challenge_issued_at: Some(created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn vocabulary() -> ActionVocabulary {
        ActionVocabulary::builtin().unwrap()
    }

    #[test]
    fn the_digit_rules() {
        assert!(digits_allowed(&[7, 9, 1, 7]));
        assert!(digits_allowed(&[1, 3, 5, 7]));
        assert!(digits_allowed(&[1, 2, 4, 3]), "two steps are not a run");
        assert!(!digits_allowed(&[7, 7, 7, 1]), "three sevens");
        assert!(!digits_allowed(&[7, 1, 7, 2, 7]), "three sevens apart");
        assert!(!digits_allowed(&[1, 2, 3, 9]));
        assert!(!digits_allowed(&[5, 4, 3, 2]));
        assert!(
            digits_allowed(&[0, 8, 9, 1]),
            "one step of one is not a run"
        );
        assert!(!digits_allowed(&[9, 0, 1, 2]), "0 1 2 is a run");
        assert!(digits_allowed(&[8, 9, 0, 5]), "9 to 0 is not a step of one");
        assert!(!digits_allowed(&[10, 1, 2]), "not a digit");
    }

    #[test]
    fn the_action_rules_come_from_the_vocabulary() {
        let v = vocabulary();
        let a = |n: &str| v.resolve(n).unwrap();
        assert!(separable(a("turnHeadLeft"), a("turnHeadRight")));
        assert!(separable(a("lookUp"), a("lookDown")));
        assert!(separable(a("blink"), a("smile")));
        assert!(separable(a("smile"), a("openMouth")));
        assert!(!separable(a("shakeHead"), a("turnHeadLeft")));
        assert!(!separable(a("turnHeadRight"), a("shakeHead")));
        assert!(!separable(a("nod"), a("lookDown")));
        assert!(!separable(a("lookUp"), a("nod")));
        assert!(!actions_allowed(&[a("blink"), a("blink")]));
        assert!(actions_allowed(&[a("blink"), a("smile"), a("blink")]));
    }

    #[test]
    fn requests_outside_the_limits_are_refused() {
        let packs = LanguagePacks::builtin().unwrap();
        let v = vocabulary();
        let draw = |lang: &str, digits, actions| {
            draw_challenges(
                &mut OsRng,
                &packs,
                &v,
                lang,
                DrawRequest { digits, actions },
            )
        };
        assert!(matches!(draw("en-GB", 2, 0), Err(DrawError::Digits(2))));
        assert!(matches!(draw("en-GB", 11, 1), Err(DrawError::Digits(11))));
        assert!(matches!(draw("en-GB", 4, 5), Err(DrawError::Actions(5))));
        assert!(matches!(draw("en-GB", 0, 0), Err(DrawError::Nothing)));
        let e = draw("xx", 4, 2).unwrap_err();
        assert!(matches!(e, DrawError::Language(_)));
        assert_eq!(e.class(), ErrorClass::InvalidRequest);
        // The documented tag shape and nothing else (schemathesis sent `fr_3KH*`).
        for bad in ["fr_3KH*", "fr ", "en--GB"] {
            assert!(
                matches!(draw(bad, 4, 2), Err(DrawError::Language(_))),
                "{bad}"
            );
        }
        let e = draw("EN-GB", 4, 2).unwrap_err();
        assert!(matches!(e, DrawError::LanguageCase(_)));
        assert_eq!(e.class(), ErrorClass::InvalidRequest);
        assert!(draw("pt_BR", 4, 2).is_ok());
        let only_voice = draw("fr", 6, 0).unwrap();
        assert_eq!(only_voice.len(), 1);
        assert_eq!(only_voice[0].value.len(), 6);
        let only_actions = draw("de", 0, 3).unwrap();
        assert_eq!(only_actions[0].kind, ChallengeType::Actions);
        assert_eq!(only_actions[0].value.len(), 3);
    }

    /// Pearson's chi-square of observed counts against expected shares.
    fn chi_square(observed: &[f64], shares: &[f64]) -> f64 {
        let total: f64 = observed.iter().sum();
        observed
            .iter()
            .zip(shares)
            .map(|(o, p)| (o - total * p).powi(2) / (total * p))
            .sum()
    }

    #[test]
    fn a_hundred_thousand_draws_keep_every_rule_and_are_near_uniform() {
        let packs = LanguagePacks::builtin().unwrap();
        let v = vocabulary();
        let specs = v.specs();
        let mut digit_counts = [0f64; 10];
        let mut action_counts = vec![0f64; specs.len()];
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let drawn =
                draw_challenges(&mut OsRng, &packs, &v, "en-GB", DrawRequest::default()).unwrap();
            assert_eq!(drawn.len(), 2);
            let digits: Vec<u8> = drawn[0].value.iter().map(|d| d.parse().unwrap()).collect();
            assert_eq!(digits.len(), DEFAULT_DIGITS);
            assert!(digits_allowed(&digits), "{digits:?}");
            digits
                .iter()
                .for_each(|d| digit_counts[usize::from(*d)] += 1.0);
            let actions: Vec<&ActionSpec> = drawn[1]
                .value
                .iter()
                .map(|a| v.resolve(a).unwrap())
                .collect();
            assert_eq!(actions.len(), DEFAULT_ACTIONS);
            assert!(actions_allowed(&actions), "{:?}", drawn[1].value);
            for a in &actions {
                action_counts[specs.iter().position(|s| s.name == a.name).unwrap()] += 1.0;
            }
            distinct.insert(drawn[0].value.concat());
        }
        // The shares the rules themselves leave (every allowed sequence equally likely),
        // counted over all sequences: nearly a tenth per digit (0 and 9 sit in fewer runs).
        let mut digit_shares = [0f64; 10];
        for n in 0..10_000u32 {
            let d: Vec<u8> = (0..4).map(|i| (n / 10u32.pow(i) % 10) as u8).collect();
            if digits_allowed(&d) {
                d.iter().for_each(|x| digit_shares[usize::from(*x)] += 1.0);
            }
        }
        let sum: f64 = digit_shares.iter().sum();
        digit_shares.iter_mut().for_each(|x| *x /= sum);
        let mut action_shares = vec![0f64; specs.len()];
        for (i, a) in specs.iter().enumerate() {
            for (j, b) in specs.iter().enumerate() {
                if actions_allowed(&[a, b]) {
                    action_shares[i] += 1.0;
                    action_shares[j] += 1.0;
                }
            }
        }
        let sum: f64 = action_shares.iter().sum();
        action_shares.iter_mut().for_each(|x| *x /= sum);
        // Critical values at p = 1e-6 (9 and 8 degrees of freedom): a fair generator fails
        // this once in a million runs.
        let digits_chi = chi_square(&digit_counts, &digit_shares);
        assert!(
            digits_chi < 44.81,
            "digits {digit_counts:?}: chi-square {digits_chi}"
        );
        let actions_chi = chi_square(&action_counts, &action_shares);
        assert!(
            actions_chi < 42.70,
            "actions {action_counts:?}: chi-square {actions_chi}"
        );
        // And near uniform in plain terms: each digit within 3 % of a tenth, each action
        // within 25 % of an even share (pairs on one signal are fewer).
        for c in digit_counts {
            assert!((c / 400_000.0 - 0.1).abs() < 0.003, "{digit_counts:?}");
        }
        let even = 200_000.0 / specs.len() as f64;
        for c in &action_counts {
            assert!((c / even - 1.0).abs() < 0.25, "{action_counts:?}");
        }
        // Most of the 9,324 allowed recitals turn up.
        assert!(distinct.len() > 9_000, "{}", distinct.len());
    }
}
