//! Matching what was heard against a `voice` challenge: digit sequences exactly (order and
//! count matter), phrases by a similarity-weighted token alignment tolerant of ASR spelling noise.
//! This measures; `verdict::match_verdict` decides what a match is worth.

use crate::report::TokenMatch;

use super::normalize::{LanguagePack, Token};

/// Lowest string similarity at which an unknown word is read as a spoken digit.
const FUZZY_DIGIT_MIN: f64 = 0.75;
/// Lowest similarity at which two phrase tokens count as the same word.
const PHRASE_TOKEN_MIN: f64 = 0.7;

/// What matching found, for the verdict to weigh.
#[derive(Debug, Clone, PartialEq)]
pub enum MatchFinding {
    /// Nothing to match: no speech recognised at all (`any_speech` false), or speech in which
    /// no digit was recognised.
    NothingHeard {
        /// Whether any word was recognised.
        any_speech: bool,
    },
    /// Exactly the digits expected, in order; the least certain was read with this
    /// similarity (1 for a digit or a known digit word).
    DigitsExact {
        /// The lowest similarity of a heard digit.
        min_confidence: f64,
    },
    /// The digits expected, in another order.
    DigitsOutOfOrder,
    /// Other digits (missing, extra or wrong).
    DigitsMismatch,
    /// A phrase aligned word by word; these expected words were not heard.
    Phrase {
        /// Expected words with no heard counterpart.
        unheard: Vec<String>,
    },
}

/// Result of matching one voice challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchResult {
    /// What was found.
    pub finding: MatchFinding,
    /// Agreement 0..1 between what was expected and what was heard.
    pub score: f64,
    /// Expected tokens, normalised.
    pub expected: Vec<String>,
    /// Heard tokens, normalised (digits only for digit challenges).
    pub heard: Vec<String>,
    /// Alignment.
    pub alignment: Vec<TokenMatch>,
}

/// True when every value is made of digits only: the challenge is a digit sequence.
pub fn is_digit_challenge(values: &[String]) -> bool {
    values
        .iter()
        .all(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
}

/// Matches a voice challenge's values against the heard transcript.
pub fn match_voice(values: &[String], transcript: &str, pack: &LanguagePack) -> MatchResult {
    let heard = pack.tokenize(transcript);
    if is_digit_challenge(values) {
        let expected: Vec<String> = values
            .iter()
            .flat_map(|v| v.chars().map(|c| c.to_string()))
            .collect();
        match_digits(&expected, &heard, pack)
    } else {
        let expected: Vec<String> = pack
            .tokenize(&values.join(" "))
            .into_iter()
            .map(|t| t.text)
            .collect();
        match_phrase(&expected, &heard)
    }
}

fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_levenshtein(a, b)
}

/// A heard token read as a digit: (digit, confidence).
fn as_digit(token: &Token, pack: &LanguagePack) -> Option<(String, f64)> {
    if token.text.len() == 1 && token.text.chars().all(|c| c.is_ascii_digit()) {
        return Some((token.text.clone(), 1.0));
    }
    if pack.is_filler(&token.text) || token.text.chars().count() < 3 {
        return None;
    }
    // Best similarity per digit, then the best digit must stand clear of the runner-up.
    let mut per_digit = [0f64; 10];
    for (word, digit) in pack.digit_words() {
        let i = digit as usize - '0' as usize;
        per_digit[i] = per_digit[i].max(similarity(&token.text, word));
    }
    let mut order: Vec<usize> = (0..10).collect();
    order.sort_by(|a, b| per_digit[*b].total_cmp(&per_digit[*a]));
    let (best, second) = (per_digit[order[0]], per_digit[order[1]]);
    (best >= FUZZY_DIGIT_MIN && best - second >= 0.15).then(|| (order[0].to_string(), best))
}

/// Heard-token pairs of an alignment: (expected index, heard index), either may be absent.
type AlignedPair = (Option<usize>, Option<usize>);

/// Levenshtein alignment of two sequences. With `free_ends`, heard tokens before and after the
/// best-matching window cost nothing (semi-global alignment: the phrase may be embedded in
/// other speech); they still appear in the path as unmatched extras.
fn align<T, F>(expected: &[T], heard: &[T], free_ends: bool, cost: F) -> Vec<AlignedPair>
where
    F: Fn(&T, &T) -> f64,
{
    let (n, m) = (expected.len(), heard.len());
    let mut d = vec![vec![0f64; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i as f64;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = if free_ends { 0.0 } else { j as f64 };
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[i - 1][j - 1] + cost(&expected[i - 1], &heard[j - 1]);
            d[i][j] = sub.min(d[i - 1][j] + 1.0).min(d[i][j - 1] + 1.0);
        }
    }
    let end = if free_ends && n > 0 {
        (0..=m).fold(
            m,
            |best, j| if d[n][j] < d[n][best] - 1e-9 { j } else { best },
        )
    } else {
        m
    };
    let (mut i, mut j) = (n, end);
    let mut path: Vec<AlignedPair> = (end..m).rev().map(|j| (None, Some(j))).collect();
    while i > 0 || j > 0 {
        if i > 0
            && j > 0
            && (d[i][j] - (d[i - 1][j - 1] + cost(&expected[i - 1], &heard[j - 1]))).abs() < 1e-9
        {
            path.push((Some(i - 1), Some(j - 1)));
            i -= 1;
            j -= 1;
        } else if i > 0 && (d[i][j] - (d[i - 1][j] + 1.0)).abs() < 1e-9 {
            path.push((Some(i - 1), None));
            i -= 1;
        } else {
            path.push((None, Some(j - 1)));
            j -= 1;
        }
    }
    path.reverse();
    path
}

fn match_digits(expected: &[String], heard_tokens: &[Token], pack: &LanguagePack) -> MatchResult {
    let mut heard = Vec::new();
    let mut confidence = Vec::new();
    for t in heard_tokens {
        if let Some((d, c)) = as_digit(t, pack) {
            heard.push(d);
            confidence.push(c);
        }
    }
    let path = align(
        expected,
        &heard,
        false,
        |a, b| if a == b { 0.0 } else { 1.0 },
    );
    let mut alignment = Vec::with_capacity(path.len());
    let mut matched_conf = Vec::new();
    for (e, h) in &path {
        let exp = e.map(|i| expected[i].clone());
        let hd = h.map(|j| heard[j].clone());
        let matched = exp.is_some() && exp == hd;
        let sim = match (matched, h) {
            (true, Some(j)) => confidence[*j],
            _ => 0.0,
        };
        if matched {
            matched_conf.push(sim);
        }
        alignment.push(TokenMatch {
            expected: exp,
            heard: hd,
            similarity: sim,
            matched,
        });
    }
    let (finding, score) = if heard.is_empty() {
        (
            MatchFinding::NothingHeard {
                any_speech: !heard_tokens.is_empty(),
            },
            0.0,
        )
    } else if heard == expected {
        let min_confidence = confidence.iter().cloned().fold(1.0, f64::min);
        let score = confidence.iter().sum::<f64>() / confidence.len() as f64;
        (MatchFinding::DigitsExact { min_confidence }, score)
    } else {
        let hits = matched_conf.len();
        let score = hits as f64 / expected.len().max(heard.len()) as f64 * 0.5;
        let mut sorted_e = expected.to_vec();
        let mut sorted_h = heard.clone();
        sorted_e.sort();
        sorted_h.sort();
        if sorted_e == sorted_h {
            (MatchFinding::DigitsOutOfOrder, score)
        } else {
            (MatchFinding::DigitsMismatch, score)
        }
    };
    MatchResult {
        finding,
        score,
        expected: expected.to_vec(),
        heard,
        alignment,
    }
}

fn match_phrase(expected: &[String], heard_tokens: &[Token]) -> MatchResult {
    let heard: Vec<String> = heard_tokens.iter().map(|t| t.text.clone()).collect();
    let path = align(expected, &heard, false, |a, b| {
        let s = similarity(a, b);
        if s >= PHRASE_TOKEN_MIN {
            1.0 - s
        } else {
            // A substitution of unrelated words costs as much as a deletion plus an insertion.
            2.0
        }
    });
    // The window: from the first to the last heard token aligned with an expected one.
    let aligned_heard: Vec<usize> = path.iter().filter_map(|(e, h)| e.and(*h)).collect();
    let window = match (aligned_heard.first(), aligned_heard.last()) {
        (Some(a), Some(b)) => *a..*b + 1,
        _ => 0..heard.len(),
    };
    let mut alignment = Vec::with_capacity(path.len());
    let mut total = 0.0;
    let mut extra = 0usize;
    for (e, h) in &path {
        let exp = e.map(|i| expected[i].clone());
        let hd = h.map(|j| heard[j].clone());
        let sim = match (&exp, &hd) {
            (Some(a), Some(b)) => similarity(a, b),
            _ => 0.0,
        };
        let matched = exp.is_some() && hd.is_some() && sim >= PHRASE_TOKEN_MIN;
        if matched {
            total += sim;
        }
        if exp.is_none() && h.is_some_and(|j| window.contains(&j)) {
            extra += 1;
        }
        alignment.push(TokenMatch {
            expected: exp,
            heard: hd,
            similarity: sim,
            matched,
        });
    }
    let token_score = if expected.is_empty() {
        0.0
    } else {
        total / (expected.len() as f64 + 0.25 * extra as f64)
    };
    // ASR often merges or splits words ("bin blue" heard as "bimble"): compare the phrases
    // as character streams too, and keep the better of the two views.
    let score = token_score.max(similarity(&expected.concat(), &heard[window].concat()));
    // Every expected word must be heard for the text alone to clear a phrase: one wrong word
    // in a six-word sentence still scores 0.83.
    let unheard: Vec<String> = alignment
        .iter()
        .filter(|m| !m.matched)
        .filter_map(|m| m.expected.clone())
        .collect();
    let finding = if heard.is_empty() {
        MatchFinding::NothingHeard { any_speech: false }
    } else {
        MatchFinding::Phrase { unheard }
    };
    MatchResult {
        finding,
        score,
        expected: expected.to_vec(),
        heard,
        alignment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::normalize::LanguagePacks;

    fn run(lang: &str, values: &[&str], heard: &str) -> MatchResult {
        let packs = LanguagePacks::builtin().unwrap();
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        match_voice(&values, heard, packs.for_tag(lang).unwrap())
    }

    #[test]
    fn digits_are_found_exact_reordered_or_wrong() {
        let r = run("en-GB", &["7", "9", "1", "7"], "um, seven nine... one 7");
        assert_eq!(
            r.finding,
            MatchFinding::DigitsExact {
                min_confidence: 1.0
            }
        );
        assert_eq!(r.heard, ["7", "9", "1", "7"]);
        let r = run("en", &["7", "9", "1", "7"], "seven one nine seven");
        assert_eq!(r.finding, MatchFinding::DigitsOutOfOrder);
        let r = run("en", &["7", "9", "1", "7"], "seven nine one");
        assert_eq!(r.finding, MatchFinding::DigitsMismatch);
        let r = run("en", &["7", "9"], "hello there");
        assert_eq!(r.finding, MatchFinding::NothingHeard { any_speech: true });
        let r = run("en", &["7", "9"], "sevan nine");
        assert!(
            matches!(r.finding, MatchFinding::DigitsExact { min_confidence } if min_confidence < 0.9)
        );
    }

    #[test]
    fn alignment_reports_each_expected_token() {
        let r = run("en", &["1", "2", "3"], "one three");
        let missing: Vec<_> = r.alignment.iter().filter(|m| m.heard.is_none()).collect();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].expected.as_deref(), Some("2"));
    }

    #[test]
    fn a_phrase_names_the_words_not_heard() {
        let r = run("en", &["set blue in a one again"], "Set green in A1 again.");
        assert_eq!(
            r.finding,
            MatchFinding::Phrase {
                unheard: vec!["blue".into()]
            }
        );
        let r = run("en", &["bin blue at f two now"], "");
        assert_eq!(r.finding, MatchFinding::NothingHeard { any_speech: false });
    }
}
