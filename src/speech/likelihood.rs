//! How well the audio supports an expected phrase, measured with whisper itself: the phrase is
//! force-decoded against the same encoder output as the free reading, and its log-likelihood is
//! compared word by word and in total with that of the free reading.
//!
//! This is evidence to weigh against the free reading's text match, never a replacement for it:
//! the free reading is made first without knowledge of the phrase, and the likelihood can lift a
//! partial text match to `clear` only when every expected word is well supported, or soften a
//! mismatch to `attention` when the phrase explains the audio as well as the free reading does.

use super::normalize::LanguagePack;
use super::whisper_ffi::TextScore;
use crate::report::rounding::round_to;
use crate::report::{DigitLikelihood, PhraseLikelihood, WordLikelihood};

/// Log-probability (natural log) at or above which an expected word counts as supported by the
/// audio. Calibrated on the GRID clips with their true sentences and with one-word changes of
/// them (a colour, a letter, a digit): the weakest true word scored -2.0 to -4.3 in the ten
/// clips whisper hears, substituted words -8.4 or lower; the threshold sits nearer the true
/// words, since a false `clear` costs more than an `attention`.
pub const WORD_SUPPORTED: f64 = -6.0;

/// How far (in total log-likelihood) the expected phrase may fall below the free reading and
/// still be called an equally good explanation of the audio.
pub const EQUALLY_LIKELY: f64 = 2.0;

/// Margin (natural log) by which each expected digit must beat every other digit at its place,
/// when the expected sequence is force-decoded, for a recital to be `clear` on this evidence.
/// Measured on the digit recitals of five languages: true sequences' smallest margins were
/// mostly above 1, and every sequence with one digit changed or two swapped had a slot where
/// another digit won by 1.2 or more.
pub const DIGIT_MARGIN: f32 = 1.0;

/// Log-probability below which a forced digit is too faint to count, whatever its margin.
pub const DIGIT_FLOOR: f32 = -6.0;

impl DigitLikelihood {
    /// How far the expected digit leads its best rival (negative: the rival is more likely).
    pub fn margin(&self) -> f64 {
        self.logprob - self.rival_logprob
    }
}

/// How the audio supports an expected digit sequence, place by place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSupport {
    /// Every expected digit is the most likely digit at its place, by `DIGIT_MARGIN`, and not
    /// faint.
    Clear,
    /// Every expected digit is the most likely at its place, but not every one clearly.
    Leaning,
    /// Some other digit is more likely somewhere (or the places could not be scored).
    Against,
}

/// The numeral rendering of a digit sequence that is force-decoded: " 7 2 1 9.".
pub fn digit_rendering(digits: &[String]) -> String {
    format!(" {}.", digits.join(" "))
}

/// The rival tokens compared at each digit's place: " 0" .. " 9".
pub fn digit_rivals() -> Vec<String> {
    (0..10).map(|d| format!(" {d}")).collect()
}

/// Per-place evidence from a scored digit rendering.
pub fn digit_places(score: &TextScore) -> Vec<DigitLikelihood> {
    score
        .rival_slots
        .iter()
        .map(|r| DigitLikelihood {
            expected: r.forced.trim().to_string(),
            logprob: round2(f64::from(r.logprob)),
            rival: r.rival.trim().to_string(),
            rival_logprob: round2(f64::from(r.rival_logprob)),
        })
        .collect()
}

/// Judges per-place evidence for `expected_len` digits.
pub fn digit_support(places: &[DigitLikelihood], expected_len: usize) -> DigitSupport {
    if places.is_empty() || places.len() != expected_len {
        return DigitSupport::Against;
    }
    if places
        .iter()
        .all(|p| p.margin() >= f64::from(DIGIT_MARGIN) && p.logprob >= f64::from(DIGIT_FLOOR))
    {
        DigitSupport::Clear
    } else if places.iter().all(|p| p.margin() > 0.0) {
        DigitSupport::Leaning
    } else {
        DigitSupport::Against
    }
}

impl PhraseLikelihood {
    /// The least likely expected word.
    pub fn weakest(&self) -> Option<&WordLikelihood> {
        self.words
            .iter()
            .min_by(|a, b| a.logprob.total_cmp(&b.logprob))
    }

    /// Every expected word is supported by the audio.
    pub fn all_words_supported(&self) -> bool {
        !self.words.is_empty() && self.words.iter().all(|w| w.logprob >= WORD_SUPPORTED)
    }

    /// The phrase explains the audio about as well as the free reading does.
    pub fn as_likely_as_free_reading(&self) -> bool {
        self.logprob >= self.free_logprob - EQUALLY_LIKELY
    }
}

/// The ways whisper might write an expected phrase: in its usual style (sentence case, full
/// stop, leading space), and the same with the language's digit words as numerals (whisper
/// writes "P2" for "p two"). Few renderings on purpose: each costs a forced decode of the
/// tokens it does not share with the rendering before it.
pub fn renderings(phrase: &str, pack: &LanguagePack) -> Vec<String> {
    let mut out = styles(phrase);
    let numerals: Vec<String> = phrase
        .split_whitespace()
        .map(|w| {
            let lower = w.to_lowercase();
            pack.digit_words()
                .find(|(word, _)| *word == lower)
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| w.to_string())
        })
        .collect();
    let numerals = numerals.join(" ");
    if numerals != phrase.split_whitespace().collect::<Vec<_>>().join(" ") {
        out.extend(styles(&numerals));
    }
    out
}

/// A phrase in whisper's usual style: sentence case, ending with a full stop unless it already
/// ends with punctuation, a leading space.
fn styles(phrase: &str) -> Vec<String> {
    let phrase = phrase.trim();
    if phrase.is_empty() {
        return Vec::new();
    }
    let mut chars = phrase.chars();
    let sentence: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if sentence.ends_with(|c: char| c.is_ascii_punctuation()) {
        vec![format!(" {sentence}")]
    } else {
        vec![format!(" {sentence}.")]
    }
}

/// Groups token scores into words: a token starting with a space starts a word; tokens with no
/// letter or digit (punctuation, end of text) belong to no word.
pub fn words(score: &TextScore) -> Vec<WordLikelihood> {
    let mut out: Vec<WordLikelihood> = Vec::new();
    for (piece, logprob) in &score.pieces {
        if !piece.chars().any(char::is_alphanumeric) {
            continue;
        }
        let starts_word = piece.starts_with(' ') || out.is_empty();
        match out.last_mut() {
            Some(last) if !starts_word => {
                last.word.push_str(piece);
                last.logprob += f64::from(*logprob);
            }
            _ => out.push(WordLikelihood {
                word: piece.trim().to_string(),
                logprob: f64::from(*logprob),
            }),
        }
    }
    out
}

/// The best-scoring rendering of a phrase, as evidence; None without scores.
pub fn best_rendering(reference: &TextScore, scores: &[TextScore]) -> Option<PhraseLikelihood> {
    let best = scores
        .iter()
        .max_by(|a, b| a.logprob.total_cmp(&b.logprob))?;
    Some(PhraseLikelihood {
        rendering: best.text.trim().to_string(),
        logprob: round2(best.logprob),
        free_logprob: round2(reference.logprob),
        words: words(best)
            .into_iter()
            .map(|w| WordLikelihood {
                logprob: round2(w.logprob),
                ..w
            })
            .collect(),
    })
}

fn round2(v: f64) -> f64 {
    round_to(v, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(pieces: &[(&str, f32)]) -> TextScore {
        TextScore {
            text: pieces.iter().map(|p| p.0).collect(),
            logprob: pieces.iter().map(|p| f64::from(p.1)).sum(),
            tokens: pieces.len(),
            pieces: pieces.iter().map(|(p, l)| (p.to_string(), *l)).collect(),
            rival_slots: Vec::new(),
            reused: 0,
        }
    }

    #[test]
    fn renderings_add_sentence_case_a_full_stop_and_numerals() {
        let packs = crate::speech::normalize::LanguagePacks::builtin().unwrap();
        let en = packs.for_tag("en").unwrap();
        assert_eq!(
            renderings("bin blue at f two now", en),
            vec![" Bin blue at f two now.", " Bin blue at f 2 now."]
        );
        assert_eq!(renderings("hello there?", en), vec![" Hello there?"]);
        assert_eq!(
            renderings("sept neuf", packs.for_tag("fr").unwrap()),
            vec![" Sept neuf.", " 7 9."]
        );
        assert!(renderings("  ", en).is_empty());
    }

    #[test]
    fn words_join_sub_word_tokens_and_skip_punctuation() {
        let s = scored(&[
            (" Bi", -7.5),
            ("mble", -9.4),
            (" F", -1.0),
            ("-", -2.1),
            (".", -0.7),
            ("", -0.5),
        ]);
        let w = words(&s);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].word, "Bimble");
        assert!((w[0].logprob + 16.9).abs() < 1e-4);
        assert_eq!(w[1].word, "F");
    }

    fn place(expected: &str, logprob: f64, rival_logprob: f64) -> DigitLikelihood {
        DigitLikelihood {
            expected: expected.into(),
            logprob,
            rival: "0".into(),
            rival_logprob,
        }
    }

    #[test]
    fn digit_support_needs_every_place_to_lead() {
        let clear = [place("7", -5.2, -7.7), place("2", -2.8, -5.6)];
        assert_eq!(digit_support(&clear, 2), DigitSupport::Clear);
        assert_eq!(digit_support(&clear, 3), DigitSupport::Against);
        let leaning = [place("7", -0.5, -1.1), place("2", -2.8, -5.6)];
        assert_eq!(digit_support(&leaning, 2), DigitSupport::Leaning);
        let faint = [place("7", -6.5, -9.0), place("2", -2.8, -5.6)];
        assert_eq!(digit_support(&faint, 2), DigitSupport::Leaning);
        let against = [place("7", -5.2, -7.7), place("3", -5.6, -2.8)];
        assert_eq!(digit_support(&against, 2), DigitSupport::Against);
        assert_eq!(digit_support(&[], 0), DigitSupport::Against);
        assert_eq!(digit_rendering(&["7".into(), "2".into()]), " 7 2.");
        let rivals = digit_rivals();
        assert_eq!(rivals.len(), 10);
        assert_eq!(rivals[3], " 3");
    }

    #[test]
    fn support_needs_every_word_and_compares_with_the_free_reading() {
        let free = scored(&[(" Lay", -0.7), (" blue", -0.1), (" it", -1.2), ("", -0.3)]);
        let good = scored(&[(" Lay", -0.7), (" blue", -0.1), (" at", -2.4), ("", -0.4)]);
        let bad = scored(&[(" Lay", -0.7), (" green", -8.5), (" at", -2.6), ("", -0.4)]);
        let p = best_rendering(&free, &[bad.clone(), good]).unwrap();
        assert_eq!(p.rendering, "Lay blue at");
        assert!(p.all_words_supported());
        assert!(p.as_likely_as_free_reading());
        let p = best_rendering(&free, &[bad]).unwrap();
        assert!(!p.all_words_supported());
        assert_eq!(p.weakest().unwrap().word, "green");
        assert!(!p.as_likely_as_free_reading());
        assert!(best_rendering(&free, &[]).is_none());
    }
}
