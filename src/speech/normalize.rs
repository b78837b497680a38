//! Language packs (`challenges/lang/<code>.toml`) and text normalisation: a transcript becomes
//! a list of lower-case tokens in which every spoken digit is the digit itself.

use crate::report::{Classify, ErrorClass};
use std::collections::HashMap;

use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

/// Errors from loading or choosing a language pack.
#[derive(Debug, thiserror::Error)]
pub enum LanguageError {
    /// No pack covers the requested BCP-47 tag.
    #[error("unsupported language '{tag}': supported are {supported}")]
    Unsupported {
        /// The tag as given.
        tag: String,
        /// Comma-separated list of supported codes.
        supported: String,
    },
    /// The tag is not a BCP-47 shape: letters for the primary subtag, then subtags of 1 to 8
    /// ASCII letters or digits separated by `-` (or `_`).
    #[error("malformed language tag '{tag}': expected a BCP-47 tag such as en-GB")]
    Malformed {
        /// The tag as given.
        tag: String,
    },
    /// A pack file is malformed.
    #[error("language pack {code}: {message}")]
    BadPack {
        /// The pack's code.
        code: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
struct PackFile {
    code: String,
    name: String,
    whisper: String,
    #[serde(default)]
    fillers: Vec<String>,
    #[serde(default)]
    replace: Vec<(String, String)>,
    digits: HashMap<String, Vec<String>>,
}

/// One language's recital rules.
#[derive(Debug, Clone)]
pub struct LanguagePack {
    /// Primary language subtag (`en`, `fr`, ...).
    pub code: String,
    /// Name of the language in itself.
    pub name: String,
    /// Language code whisper is given.
    pub whisper: String,
    fillers: Vec<String>,
    replace: Vec<(String, String)>,
    /// Spoken form (normalised) → digit character.
    digit_words: HashMap<String, char>,
}

/// The packs shipped in `challenges/lang/`, compiled into the library.
const BUILTIN_PACKS: &[(&str, &str)] = &[
    ("en", include_str!("../../challenges/lang/en.toml")),
    ("fr", include_str!("../../challenges/lang/fr.toml")),
    ("es", include_str!("../../challenges/lang/es.toml")),
    ("de", include_str!("../../challenges/lang/de.toml")),
    ("it", include_str!("../../challenges/lang/it.toml")),
    ("pt", include_str!("../../challenges/lang/pt.toml")),
    ("nl", include_str!("../../challenges/lang/nl.toml")),
    ("ru", include_str!("../../challenges/lang/ru.toml")),
    ("pl", include_str!("../../challenges/lang/pl.toml")),
    ("sv", include_str!("../../challenges/lang/sv.toml")),
];

/// A token of a normalised transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The normalised text (a digit character for spoken digits).
    pub text: String,
    /// The word as it appeared (lower-cased) before digit mapping.
    pub original: String,
}

impl LanguagePack {
    /// Parses a pack from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, LanguageError> {
        let file: PackFile = toml::from_str(text).map_err(|e| LanguageError::BadPack {
            code: "?".into(),
            message: e.to_string(),
        })?;
        let bad = |message: String| LanguageError::BadPack {
            code: file.code.clone(),
            message,
        };
        let mut pack = LanguagePack {
            code: file.code.clone(),
            name: file.name.clone(),
            whisper: file.whisper.clone(),
            fillers: Vec::new(),
            replace: file.replace.clone(),
            digit_words: HashMap::new(),
        };
        for d in '0'..='9' {
            let words = file
                .digits
                .get(&d.to_string())
                .filter(|w| !w.is_empty())
                .ok_or_else(|| bad(format!("digit {d} has no spoken form")))?;
            for w in words {
                let key = pack.fold(w);
                if let Some(prev) = pack.digit_words.insert(key.clone(), d) {
                    if prev != d {
                        return Err(bad(format!("'{key}' names both {prev} and {d}")));
                    }
                }
            }
        }
        pack.fillers = file.fillers.iter().map(|f| pack.fold(f)).collect();
        Ok(pack)
    }

    /// Unicode NFKC, lower case and the pack's replacements.
    fn fold(&self, s: &str) -> String {
        let mut out: String = s.nfkc().collect::<String>().to_lowercase();
        for (from, to) in &self.replace {
            out = out.replace(from.as_str(), to.as_str());
        }
        out
    }

    /// The digit a spoken word stands for, if the pack knows it.
    pub fn digit_of(&self, word: &str) -> Option<char> {
        self.digit_words.get(&self.fold(word)).copied()
    }

    /// Every spoken form in the pack with its digit (for fuzzy matching).
    pub fn digit_words(&self) -> impl Iterator<Item = (&str, char)> {
        self.digit_words.iter().map(|(w, d)| (w.as_str(), *d))
    }

    /// Whether a (normalised) word is a filler to ignore between digits.
    pub fn is_filler(&self, word: &str) -> bool {
        self.fillers.iter().any(|f| f == word)
    }

    /// Splits text into normalised tokens: lower case, punctuation dropped, runs of digits
    /// split into single digits, letters and digits separated ("F2" → "f", "2"), and spoken
    /// digit words replaced by the digit.
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        let folded = self.fold(text);
        let mut tokens = Vec::new();
        for word in folded.split(|c: char| c.is_whitespace() || c == '-' || c == '/' || c == '–')
        {
            let mut current = String::new();
            let flush = |current: &mut String, tokens: &mut Vec<Token>| {
                let w = current.trim_matches('\'').to_string();
                current.clear();
                if w.is_empty() {
                    return;
                }
                let text = self
                    .digit_of(&w)
                    .map_or_else(|| w.clone(), |d| d.to_string());
                tokens.push(Token { text, original: w });
            };
            for c in word.chars() {
                if c.is_ascii_digit() {
                    flush(&mut current, &mut tokens);
                    tokens.push(Token {
                        text: c.to_string(),
                        original: c.to_string(),
                    });
                } else if c.is_alphabetic() || c == '\'' || c == '’' {
                    current.push(if c == '’' { '\'' } else { c });
                } else if c.is_numeric() {
                    // Other scripts' digits (for example Arabic-Indic): map through to_digit.
                    flush(&mut current, &mut tokens);
                    if let Some(d) = c.to_digit(10) {
                        tokens.push(Token {
                            text: d.to_string(),
                            original: c.to_string(),
                        });
                    }
                } else {
                    flush(&mut current, &mut tokens);
                }
            }
            flush(&mut current, &mut tokens);
        }
        tokens
    }
}

/// The primary subtag of a language tag: what comes before the first `-` or `_`.
pub fn primary_subtag(tag: &str) -> &str {
    tag.split(['-', '_']).next().unwrap_or("")
}

/// Whether `tag` has a BCP-47 shape: a primary subtag of 2 to 8 ASCII letters, then any
/// number of subtags of 1 to 8 ASCII letters or digits, each after a `-` (or `_`, as in
/// `pt_BR`); at most 35 characters, nothing else (no spaces, no empty subtags).
pub fn well_formed_tag(tag: &str) -> bool {
    let mut subtags = tag.split(['-', '_']);
    let primary = subtags.next().unwrap_or("");
    tag.len() <= 35
        && (2..=8).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// All shipped language packs, keyed by primary language code.
#[derive(Debug, Clone)]
pub struct LanguagePacks {
    packs: Vec<LanguagePack>,
}

impl LanguagePacks {
    /// Loads the packs compiled into the library.
    pub fn builtin() -> Result<Self, LanguageError> {
        let packs = BUILTIN_PACKS
            .iter()
            .map(|(code, text)| {
                let p = LanguagePack::from_toml(text)?;
                if p.code != *code {
                    return Err(LanguageError::BadPack {
                        code: p.code.clone(),
                        message: format!("file lang/{code}.toml declares code {}", p.code),
                    });
                }
                Ok(p)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { packs })
    }

    /// The pack for a BCP-47 tag such as `en-GB`, `pt-BR` or `fr` (primary subtag decides,
    /// in any case). The tag must be well formed (see `well_formed_tag`): `fr_3KH*` or
    /// ` en` name no language.
    pub fn for_tag(&self, tag: &str) -> Result<&LanguagePack, LanguageError> {
        if !well_formed_tag(tag) {
            return Err(LanguageError::Malformed {
                tag: tag.to_string(),
            });
        }
        let primary = primary_subtag(tag).to_ascii_lowercase();
        self.packs
            .iter()
            .find(|p| p.code == primary)
            .ok_or_else(|| LanguageError::Unsupported {
                tag: tag.to_string(),
                supported: self.codes().join(", "),
            })
    }

    /// Supported language codes.
    pub fn codes(&self) -> Vec<&str> {
        self.packs.iter().map(|p| p.code.as_str()).collect()
    }
}

impl Classify for LanguageError {
    fn class(&self) -> ErrorClass {
        match self {
            LanguageError::Unsupported { .. } | LanguageError::Malformed { .. } => {
                ErrorClass::InvalidRequest
            }
            // The shipped data is broken: ours to fix.
            LanguageError::BadPack { .. } => ErrorClass::Internal,
        }
    }

    fn param(&self) -> Option<String> {
        matches!(self, LanguageError::Unsupported { .. }).then(|| "language".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(tokens: &[Token]) -> Vec<&str> {
        tokens.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn every_builtin_pack_loads_and_maps_all_ten_digits() {
        let packs = LanguagePacks::builtin().unwrap();
        assert_eq!(packs.codes().len(), 10);
        for code in ["en", "fr", "es", "de", "it", "pt", "nl", "ru", "pl", "sv"] {
            let p = packs.for_tag(code).unwrap();
            let mapped: std::collections::HashSet<char> = p.digit_words().map(|(_, d)| d).collect();
            assert_eq!(mapped.len(), 10, "{code}");
            assert!(!p.whisper.is_empty());
        }
    }

    #[test]
    fn tags_resolve_by_primary_subtag() {
        let packs = LanguagePacks::builtin().unwrap();
        assert_eq!(packs.for_tag("en-GB").unwrap().code, "en");
        assert_eq!(packs.for_tag("pt-BR").unwrap().code, "pt");
        assert_eq!(packs.for_tag("FR").unwrap().code, "fr");
        for bad in [
            "fr_3KH*",
            " en",
            "en ",
            "en-",
            "en--GB",
            "e",
            "en-GB-toolongsubtag",
            "",
            "fr\n",
        ] {
            assert!(
                matches!(packs.for_tag(bad), Err(LanguageError::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(packs.for_tag("pt_BR").unwrap().code, "pt");
        assert_eq!(packs.for_tag("sv-SE-x-private1").unwrap().code, "sv");
        let err = packs.for_tag("xx-YY").unwrap_err().to_string();
        assert!(err.contains("xx-YY") && err.contains("en, fr"), "{err}");
    }

    #[test]
    fn each_pack_reads_its_own_spoken_digits() {
        let packs = LanguagePacks::builtin().unwrap();
        let cases = [
            ("en", "Seven, nine, one, seven."),
            ("fr", "Sept, neuf, un, sept."),
            ("es", "Siete nueve uno siete"),
            ("de", "Sieben, neun, eins, sieben."),
            ("it", "sette nove uno sette"),
            ("pt", "sete nove um sete"),
            ("nl", "zeven negen één zeven"),
            ("ru", "Семь, девять, один, семь."),
            ("pl", "siedem dziewięć jeden siedem"),
            ("sv", "sju nio ett sju"),
        ];
        for (code, text) in cases {
            let p = packs.for_tag(code).unwrap();
            assert_eq!(
                texts(&p.tokenize(text)),
                ["7", "9", "1", "7"],
                "{code}: {text}"
            );
        }
    }

    #[test]
    fn digit_runs_and_mixed_tokens_split() {
        let packs = LanguagePacks::builtin().unwrap();
        let en = packs.for_tag("en").unwrap();
        assert_eq!(texts(&en.tokenize("7917")), ["7", "9", "1", "7"]);
        assert_eq!(texts(&en.tokenize("79-17")), ["7", "9", "1", "7"]);
        assert_eq!(
            texts(&en.tokenize("Bin blue at F2 now.")),
            ["bin", "blue", "at", "f", "2", "now"]
        );
        assert_eq!(texts(&en.tokenize("It's   SEVEN!")), ["it's", "7"]);
        let ru = packs.for_tag("ru").unwrap();
        assert_eq!(texts(&ru.tokenize("Четыре, ЁЖ")), ["4", "еж"]);
    }
}
