//! The Live Video object (ComplyCube's shape, camelCase JSON): the input of a verification,
//! its validation against the action vocabulary and the language packs, and its limits.
//! Pure data: no I/O. The report a verification gives is in `report`.

use crate::report::ChallengeType;
use crate::report::{Classify, ErrorClass};
use serde::{Deserialize, Serialize};

use crate::actions::ActionVocabulary;
use crate::speech::normalize::{LanguageError, LanguagePacks};

/// Errors in a Live Video object.
#[derive(Debug, thiserror::Error)]
pub enum LiveVideoError {
    /// The text is not JSON or not the Live Video shape.
    #[error("invalid Live Video JSON: {0}")]
    Json(String),
    /// A challenge has a type other than `voice` or `actions`.
    #[error(
        "challenges[{index}]: unknown challenge type '{found}' (expected 'voice' or 'actions')"
    )]
    UnknownChallengeType {
        /// Position in `challenges`.
        index: usize,
        /// The type given.
        found: String,
    },
    /// A challenge's `value` is empty, or holds an empty or non-text item.
    #[error("challenges[{index}].value: {message}")]
    BadValue {
        /// Position in `challenges`.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// An `actions` value is not in the vocabulary.
    #[error("challenges[{index}].value: unknown action '{found}'; known actions: {known}")]
    UnknownAction {
        /// Position in `challenges`.
        index: usize,
        /// The action given.
        found: String,
        /// Comma-separated vocabulary.
        known: String,
    },
    /// The language is not supported.
    #[error("language: {0}")]
    Language(#[from] LanguageError),
    /// There is no challenge at all.
    #[error("challenges: at least one challenge is required")]
    NoChallenges,
    /// The object asks for more than any real challenge does (see `LIMITS`).
    #[error("{param}: limit reached: {message}")]
    TooLarge {
        /// Which part (`challenges`, `challenges[2].value`, the whole object).
        param: String,
        /// Which limit.
        message: String,
    },
}

/// What a Live Video object may ask for. Real ones are far under: a challenge or two, four to
/// eight digits, a sentence, one to four actions. The limits keep one upload from asking for
/// work no recording could satisfy (whisper reads at most 448 tokens of text, and at most
/// `VerifierConfig::max_audio_s` of audio is heard).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Bytes of Live Video JSON.
    pub json_bytes: usize,
    /// Challenges in one Live Video.
    pub challenges: usize,
    /// Values in one challenge.
    pub values: usize,
    /// Digits in one voice challenge.
    pub digits: usize,
    /// Words in one voice challenge (all its values).
    pub words: usize,
    /// Characters in one voice challenge (all its values).
    pub characters: usize,
}

/// The limits every Live Video is held to.
pub const LIMITS: Limits = Limits {
    json_bytes: 64 * 1024,
    challenges: 8,
    values: 16,
    digits: 16,
    words: 40,
    characters: 300,
};

/// One challenge as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    /// `voice` or `actions`.
    #[serde(rename = "type")]
    pub kind: ChallengeType,
    /// What to say or do.
    pub value: Vec<String>,
}

/// A Live Video object (ComplyCube API shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveVideo {
    /// Live Video id.
    pub id: String,
    /// Client the video belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// BCP-47 language of the voice challenges (`en-GB`, `fr`, `pt-BR`, ...).
    pub language: String,
    /// Challenges to verify.
    pub challenges: Vec<Challenge>,
    /// Creation time as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Update time as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// True when the recording is mirrored (selfie preview), flipping left and right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirrored: Option<bool>,
    /// When the challenges were issued (RFC 3339): a recording whose container says it was
    /// made before then is never `clear` (`recorded_before_challenge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_issued_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawChallenge {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLiveVideo {
    id: String,
    #[serde(default)]
    client_id: Option<String>,
    language: String,
    challenges: Vec<RawChallenge>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    mirrored: Option<bool>,
    #[serde(default)]
    challenge_issued_at: Option<String>,
}

impl LiveVideo {
    /// Parses and validates a Live Video object: challenge types, non-empty values, a
    /// supported language, and known action names (aliases are resolved to canonical names).
    pub fn parse(
        json: &str,
        packs: &LanguagePacks,
        actions: &ActionVocabulary,
    ) -> Result<Self, LiveVideoError> {
        // A byte-order mark (Windows editors write one) is not part of the JSON.
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        let too_large =
            |param: String, message: String| LiveVideoError::TooLarge { param, message };
        if json.len() > LIMITS.json_bytes {
            return Err(too_large(
                "liveVideo".into(),
                format!(
                    "{} bytes of JSON, at most {}",
                    json.len(),
                    LIMITS.json_bytes
                ),
            ));
        }
        let raw: RawLiveVideo =
            serde_json::from_str(json).map_err(|e| LiveVideoError::Json(e.to_string()))?;
        packs.for_tag(&raw.language)?;
        if let Some(t) = &raw.challenge_issued_at {
            if crate::report::time::parse_rfc3339_ms(t).is_none() {
                return Err(LiveVideoError::Json(format!(
                    "challengeIssuedAt {t:?} is not an RFC 3339 time"
                )));
            }
        }
        if raw.challenges.is_empty() {
            return Err(LiveVideoError::NoChallenges);
        }
        if raw.challenges.len() > LIMITS.challenges {
            return Err(too_large(
                "challenges".into(),
                format!(
                    "{} challenges, at most {}",
                    raw.challenges.len(),
                    LIMITS.challenges
                ),
            ));
        }
        let mut challenges = Vec::with_capacity(raw.challenges.len());
        for (index, c) in raw.challenges.into_iter().enumerate() {
            let kind = match c.kind.as_str() {
                "voice" => ChallengeType::Voice,
                "actions" => ChallengeType::Actions,
                other => {
                    return Err(LiveVideoError::UnknownChallengeType {
                        index,
                        found: other.to_string(),
                    })
                }
            };
            let bad = |message: &str| LiveVideoError::BadValue {
                index,
                message: message.to_string(),
            };
            let items = match c.value {
                Some(serde_json::Value::Array(items)) => items,
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                    vec![serde_json::Value::String(s)]
                }
                None => return Err(bad("missing")),
                _ => return Err(bad("must be a non-empty array of strings")),
            };
            if items.is_empty() {
                return Err(bad("must not be empty"));
            }
            let param = format!("challenges[{index}].value");
            if items.len() > LIMITS.values {
                return Err(too_large(
                    param,
                    format!("{} values, at most {}", items.len(), LIMITS.values),
                ));
            }
            let mut value = Vec::with_capacity(items.len());
            for item in items {
                let text = match item {
                    serde_json::Value::String(s) => s.trim().to_string(),
                    serde_json::Value::Number(n) if kind == ChallengeType::Voice => n.to_string(),
                    _ => return Err(bad("items must be strings")),
                };
                if text.is_empty() {
                    return Err(bad("items must not be empty"));
                }
                let text = if kind == ChallengeType::Voice {
                    recitable(&text).map_err(|m| bad(&m))?
                } else {
                    text
                };
                if kind == ChallengeType::Actions {
                    let action =
                        actions
                            .resolve(&text)
                            .ok_or_else(|| LiveVideoError::UnknownAction {
                                index,
                                found: text.clone(),
                                known: actions.names().join(", "),
                            })?;
                    value.push(action.name.clone());
                } else {
                    value.push(text);
                }
            }
            if kind == ChallengeType::Voice {
                let digits = value
                    .iter()
                    .flat_map(|v| v.chars())
                    .filter(char::is_ascii_digit)
                    .count();
                let words: usize = value.iter().map(|v| v.split_whitespace().count()).sum();
                let characters: usize = value.iter().map(|v| v.chars().count()).sum();
                for (n, most, what) in [
                    (digits, LIMITS.digits, "digits"),
                    (words, LIMITS.words, "words"),
                    (characters, LIMITS.characters, "characters"),
                ] {
                    if n > most {
                        return Err(too_large(
                            format!("challenges[{index}].value"),
                            format!("{n} {what} to recite, at most {most}"),
                        ));
                    }
                }
            }
            challenges.push(Challenge { kind, value });
        }
        Ok(LiveVideo {
            id: raw.id,
            client_id: raw.client_id,
            language: raw.language,
            challenges,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
            mirrored: raw.mirrored,
            challenge_issued_at: raw.challenge_issued_at,
        })
    }
}

/// The first code point of each run of ten decimal digits outside ASCII that a recital may
/// be written in (Arabic-Indic, Extended Arabic-Indic, NKo, the Indic scripts, Thai, Lao,
/// Tibetan, Myanmar, Khmer, Mongolian, fullwidth).
const DIGIT_ZEROS: [u32; 19] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x17E0, 0x1810, 0xFF10,
];

/// Punctuation outside ASCII that a written recital may hold (quotes, dashes, ellipsis,
/// inverted marks, guillemets, the middle dot).
const PUNCTUATION: &str = "‘’‚‛“”„‟«»‹›–—…¡¿·";

/// A voice value as it will be matched: NFC, every decimal digit in ASCII. Characters that
/// cannot be recited (symbols such as emoji, control characters, numerals that are not
/// decimal digits) are refused, so that no part of what was asked is silently dropped.
fn recitable(text: &str) -> Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(text.len());
    for c in text.nfc() {
        let code = c as u32;
        if let Some(zero) = DIGIT_ZEROS.iter().find(|z| (**z..*z + 10).contains(&code)) {
            out.push(char::from(b'0' + (code - zero) as u8));
        } else if c.is_ascii_digit()
            || (c.is_alphabetic() && !c.is_numeric())
            || c.is_whitespace()
            || c.is_ascii_punctuation()
            || PUNCTUATION.contains(c)
            || (0x0300..0x0370).contains(&code)
        {
            out.push(c);
        } else {
            return Err(format!(
                "the character {c:?} (U+{code:04X}) cannot be recited: use letters, digits, spaces and punctuation"
            ));
        }
    }
    Ok(out)
}

impl Classify for LiveVideoError {
    fn class(&self) -> ErrorClass {
        match self {
            LiveVideoError::TooLarge { .. } => ErrorClass::LimitReached,
            LiveVideoError::Language(e) => e.class(),
            LiveVideoError::Json(_)
            | LiveVideoError::UnknownChallengeType { .. }
            | LiveVideoError::BadValue { .. }
            | LiveVideoError::UnknownAction { .. }
            | LiveVideoError::NoChallenges => ErrorClass::InvalidRequest,
        }
    }

    fn param(&self) -> Option<String> {
        match self {
            LiveVideoError::TooLarge { param, .. } => Some(param.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LiveVideo, LiveVideoError> {
        LiveVideo::parse(
            json,
            &LanguagePacks::builtin().unwrap(),
            &ActionVocabulary::builtin().unwrap(),
        )
    }

    #[test]
    fn parses_complycube_shape_and_resolves_aliases() {
        let lv = parse(
            r#"{"id":"lv1","clientId":"c1","language":"en-GB","challenges":[
                {"type":"voice","value":["7","9","1","7"]},
                {"type":"actions","value":["TURN_HEAD_LEFT","blink"]}],
                "createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z"}"#,
        )
        .unwrap();
        assert_eq!(lv.client_id.as_deref(), Some("c1"));
        assert_eq!(lv.challenges[0].kind, ChallengeType::Voice);
        assert_eq!(lv.challenges[1].value, ["turnHeadLeft", "blink"]);
        let back = serde_json::to_value(&lv).unwrap();
        assert_eq!(back["challenges"][0]["type"], "voice");
        assert_eq!(back["createdAt"], "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn recitals_keep_every_character_or_are_refused() {
        assert_eq!(
            recitable("set blue in a ١ again").unwrap(),
            "set blue in a 1 again"
        );
        assert_eq!(recitable("۷ ۹ १ ７").unwrap(), "7 9 1 7");
        assert_eq!(
            recitable("cafe\u{301} «dix-sept»").unwrap(),
            "café «dix-sept»"
        );
        assert_eq!(recitable("¿qué?").unwrap(), "¿qué?");
        for bad in ["seven 😀 nine", "seven\u{0}nine", "line\u{7}", "Ⅻ", "x²"] {
            let e = recitable(bad).unwrap_err();
            assert!(e.contains("cannot be recited"), "{bad}: {e}");
        }
        let (packs, actions) = (
            LanguagePacks::builtin().unwrap(),
            ActionVocabulary::builtin().unwrap(),
        );
        let json = r#"{"id":"x","language":"en","challenges":[{"type":"voice","value":["seven \u0000 nine"]}]}"#;
        assert!(matches!(
            LiveVideo::parse(json, &packs, &actions),
            Err(LiveVideoError::BadValue { index: 0, .. })
        ));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_json() {
        let (packs, actions) = (
            LanguagePacks::builtin().unwrap(),
            ActionVocabulary::builtin().unwrap(),
        );
        let json = "\u{feff}{\"id\":\"x\",\"language\":\"en\",\"challenges\":[{\"type\":\"voice\",\"value\":[\"7\",\"9\"]}]}";
        let lv = LiveVideo::parse(json, &packs, &actions).unwrap();
        assert_eq!(lv.id, "x");
    }

    #[test]
    fn limits_refuse_what_no_recording_could_satisfy() {
        let voice = |digits: usize| {
            let value: Vec<String> = (0..digits).map(|i| (i % 10).to_string()).collect();
            format!(
                r#"{{"id":"x","language":"en","challenges":[{{"type":"voice","value":{}}}]}}"#,
                serde_json::to_string(&value).unwrap()
            )
        };
        assert!(parse(&voice(16)).is_ok());
        for json in [
            voice(17),
            voice(450),
            format!(
                r#"{{"id":"x","language":"en","challenges":[{{"type":"voice","value":["{}"]}}]}}"#,
                "seven nine one seven ".repeat(11).trim()
            ),
            // 35 words (under 40) in 349 characters (over 300).
            format!(
                r#"{{"id":"x","language":"en","challenges":[{{"type":"voice","value":["{}"]}}]}}"#,
                "seventeen ".repeat(35).trim()
            ),
            format!(
                r#"{{"id":"x","language":"en","challenges":[{}]}}"#,
                [r#"{"type":"actions","value":["blink"]}"#; 9].join(",")
            ),
            format!(
                r#"{{"id":"x","language":"en","challenges":[{{"type":"actions","value":[{}]}}]}}"#,
                [r#""blink""#; 17].join(",")
            ),
            format!(
                r#"{{"id":"x","language":"en","challenges":[{{"type":"voice","value":["1"]}}]}}{}"#,
                " ".repeat(70_000)
            ),
        ] {
            let e = parse(&json).unwrap_err();
            assert!(
                matches!(e, LiveVideoError::TooLarge { .. }),
                "{e} for {}",
                &json[..json.len().min(120)]
            );
        }
    }

    #[test]
    fn validation_errors_are_precise() {
        let base = |ch: &str, lang: &str| {
            format!(r#"{{"id":"x","language":"{lang}","challenges":[{ch}]}}"#)
        };
        let e = parse(&base(r#"{"type":"dance","value":["x"]}"#, "en")).unwrap_err();
        assert!(
            matches!(e, LiveVideoError::UnknownChallengeType { index: 0, .. }),
            "{e}"
        );
        let e = parse(&base(r#"{"type":"voice","value":[]}"#, "en")).unwrap_err();
        assert!(matches!(e, LiveVideoError::BadValue { .. }), "{e}");
        let e = parse(&base(r#"{"type":"voice","value":[""]}"#, "en")).unwrap_err();
        assert!(matches!(e, LiveVideoError::BadValue { .. }), "{e}");
        let e = parse(&base(r#"{"type":"actions","value":["jump"]}"#, "en")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("jump") && msg.contains("turnHeadLeft") && msg.contains("openMouth"),
            "{msg}"
        );
        let e = parse(&base(r#"{"type":"voice","value":["1"]}"#, "tlh")).unwrap_err();
        assert!(matches!(e, LiveVideoError::Language(_)), "{e}");
        let e = parse(r#"{"id":"x","language":"en","challenges":[]}"#).unwrap_err();
        assert!(matches!(e, LiveVideoError::NoChallenges));
        assert!(matches!(
            parse("{not json").unwrap_err(),
            LiveVideoError::Json(_)
        ));
        assert!(matches!(
            parse(r#"{"id":"x"}"#).unwrap_err(),
            LiveVideoError::Json(_)
        ));
    }
}
