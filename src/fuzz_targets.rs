//! Entry points for fuzzing: each takes arbitrary bytes and must return without panicking,
//! whatever they are. The cargo-fuzz targets in `fuzz/` call them under libFuzzer, and
//! `tests/fuzz_smoke.rs` runs them in every test run on mutations of real inputs and on the
//! kept regressions.

use crate::report::ChallengeType;
use std::sync::OnceLock;

use crate::actions::ActionVocabulary;
use crate::live_video::LiveVideo;
use crate::speech::matcher::match_voice;
use crate::speech::normalize::LanguagePacks;

/// The built-in language packs and action vocabulary, loaded once.
fn data() -> &'static (LanguagePacks, ActionVocabulary) {
    static DATA: OnceLock<(LanguagePacks, ActionVocabulary)> = OnceLock::new();
    DATA.get_or_init(|| {
        (
            LanguagePacks::builtin().expect("the built-in language packs parse"),
            ActionVocabulary::builtin().expect("the built-in action vocabulary parses"),
        )
    })
}

/// Parses the bytes as a Live Video object; one that parses has each voice challenge matched
/// against its own words, in its language.
pub fn live_video(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let (packs, actions) = data();
    let Ok(lv) = LiveVideo::parse(text, packs, actions) else {
        return;
    };
    let pack = packs
        .for_tag(&lv.language)
        .expect("a parsed Live Video's language has a pack");
    for c in lv
        .challenges
        .iter()
        .filter(|c| c.kind == ChallengeType::Voice)
    {
        let said = c.value.join(" ");
        let m = match_voice(&c.value, &said, pack);
        assert!((0.0..=1.0).contains(&m.score), "score {}", m.score);
    }
}

/// The first byte picks a language pack; the rest, as text, is `expected|values` and what was
/// heard, split at the first NUL (the same text for both when there is none): tokenised and
/// matched as a recital.
pub fn recital(bytes: &[u8]) {
    let Some((first, rest)) = bytes.split_first() else {
        return;
    };
    let (packs, _) = data();
    let codes = packs.codes();
    let Ok(pack) = packs.for_tag(codes[usize::from(*first) % codes.len()]) else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (expected, heard) = text.split_once('\0').unwrap_or((&text, &text));
    let _ = pack.tokenize(heard);
    let values: Vec<String> = expected
        .split('|')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if values.is_empty() {
        return;
    }
    let m = match_voice(&values, heard, pack);
    assert!((0.0..=1.0).contains(&m.score), "score {}", m.score);
}

/// Sniffs the bytes as an upload would be: container, picture type, declared size, EXIF
/// orientation.
pub fn sniff(bytes: &[u8]) {
    let _ = crate::sniff::video(bytes);
    let _ = crate::sniff::image(bytes);
    let _ = crate::sniff::image_dimensions(bytes);
    if let Some(o) = crate::sniff::jpeg_orientation(bytes) {
        assert!((1..=8).contains(&o));
    }
}
