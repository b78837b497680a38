//! GRID corpus videos (real speaker, real MPEG-1 video with MP2 audio): the true sentence as a
//! phrase challenge, another GRID sentence as an impostor challenge, the true sentence with one
//! word changed (its colour, its letter) as near-miss impostors, and the sentence's digit.

use liveness::report::{Evidence, Outcome};
mod common;

fn digit_of(sentence: &str) -> String {
    let words = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    sentence
        .split_whitespace()
        .find_map(|w| words.iter().position(|d| *d == w))
        .expect("every GRID sentence has a digit")
        .to_string()
}

/// The sentence with word `i` replaced by `with` (GRID: command colour preposition letter digit
/// adverb).
fn with_word(sentence: &str, i: usize, with: &str) -> String {
    let mut words: Vec<&str> = sentence.split_whitespace().collect();
    words[i] = with;
    words.join(" ")
}

#[test]
fn grid_sentences_and_digits() {
    let Some(media) = common::media() else { return };
    let verifier = common::verifier();
    let truth = common::grid_truth(&media);
    assert_eq!(truth.len(), 11);
    let (mut phrase_clear, mut phrase_not_rejected, mut digit_clear, mut impostor_clear) =
        (0, 0, 0, 0);
    let mut near_miss_clear = 0;
    for (i, (path, sentence)) in truth.iter().enumerate() {
        let other = &truth[(i + 1) % truth.len()].1;
        let colour = sentence.split_whitespace().nth(1).unwrap();
        let other_colour = with_word(sentence, 1, if colour == "green" { "red" } else { "green" });
        let letter = sentence.split_whitespace().nth(3).unwrap();
        let other_letter = with_word(sentence, 3, if letter == "k" { "m" } else { "k" });
        let json = format!(
            r#"{{"id":"{path}","language":"en-GB","challenges":[
                {{"type":"voice","value":["{sentence}"]}},
                {{"type":"voice","value":["{other}"]}},
                {{"type":"voice","value":["{}"]}},
                {{"type":"voice","value":["{other_colour}"]}},
                {{"type":"voice","value":["{other_letter}"]}}]}}"#,
            digit_of(sentence)
        );
        let lv = verifier.parse_live_video(&json).unwrap();
        let r = verifier.verify(&media.join(path), &lv).unwrap();
        let heard = match &r.challenges[0].evidence {
            Evidence::Voice(v) => v.transcript.clone(),
            _ => String::new(),
        };
        // The words on their own (lip sync is measured in tests/av_sync_eval.rs).
        let o: Vec<Outcome> = r.challenges.iter().map(common::speech_outcome).collect();
        // The least likely expected word of the true sentence and of the near misses.
        let weakest: Vec<String> = [0, 3, 4]
            .iter()
            .map(|&k| match &r.challenges[k].evidence {
                Evidence::Voice(v) => v
                    .likelihood
                    .as_ref()
                    .and_then(|l| l.weakest().map(|w| format!("{} {:.1}", w.word, w.logprob)))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .collect();
        println!(
            "    weakest word: true {:?}, near misses {:?}",
            weakest[0],
            &weakest[1..]
        );
        println!(
            "{path}: \"{sentence}\" heard {heard:?}: true {:?} ({:.2}), other {:?} ({:.2}), digit {:?}, one word changed {:?} {:?}; {:.2} s",
            o[0], r.challenges[0].score, o[1], r.challenges[1].score, o[2], o[3], o[4], r.timings.total_seconds
        );
        assert!(r.media.has_audio && r.media.has_video && r.media.video_frames > 50);
        phrase_clear += usize::from(o[0] == Outcome::Clear);
        phrase_not_rejected += usize::from(o[0] != Outcome::Rejected);
        impostor_clear += usize::from(o[1] == Outcome::Clear);
        near_miss_clear +=
            usize::from(o[3] == Outcome::Clear) + usize::from(o[4] == Outcome::Clear);
        digit_clear += usize::from(o[2] == Outcome::Clear);
    }
    println!(
        "GRID: true sentence clear {phrase_clear}/11 (not rejected {phrase_not_rejected}/11); other sentence clear {impostor_clear}/11; one word changed clear {near_miss_clear}/22; digit clear {digit_clear}/11"
    );
    assert_eq!(impostor_clear, 0, "another sentence must never be clear");
    assert_eq!(
        near_miss_clear, 0,
        "a sentence with a wrong word must never be clear"
    );
    assert!(phrase_clear >= 9, "true sentences clear: {phrase_clear}/11");
    assert_eq!(phrase_not_rejected, 11, "a true sentence was rejected");
    assert!(digit_clear >= 9, "digits clear: {digit_clear}/11");
}

/// A verifier charges its model loading to the first report it makes (`loadSeconds`), and
/// none to the next: the service's workers load once and verify many videos.
#[test]
fn model_loading_is_reported_once() {
    let Some(media) = common::media() else { return };
    let verifier = liveness::pipeline::Verifier::load_all(
        &common::models_dir(),
        liveness::pipeline::VerifierConfig::default(),
    )
    .expect("models installed");
    let lv = verifier
        .parse_live_video(
            r#"{"id":"t","language":"en-GB","challenges":[{"type":"voice","value":["set blue with e five now"]}]}"#,
        )
        .unwrap();
    let clip = media.join("video/grid/sbwe5n.mpg");
    let first = verifier.verify(&clip, &lv).unwrap().timings;
    let second = verifier.verify(&clip, &lv).unwrap().timings;
    assert!(first.load_seconds > 0.0, "{first:?}");
    assert_eq!(second.load_seconds, 0.0, "{second:?}");
    assert!(
        first.total_seconds >= first.load_seconds + first.asr_seconds,
        "{first:?}"
    );
    assert!(
        second.asr_seconds > 0.0 && second.vision_seconds > 0.0,
        "{second:?}"
    );
}

/// The likelihood scorer decodes the tokens a text shares with the text scored just before it
/// only once: texts with a common start (the renderings of one phrase) score exactly as each
/// does alone, value for value, and the shared tokens are not decoded again.
#[test]
fn texts_sharing_a_start_score_as_each_does_alone() {
    use liveness::speech::whisper_ffi::{Scoring, TextScore};
    let Some(media) = common::media() else { return };
    let truth = common::grid_truth(&media);
    let (path, sentence) = &truth[0];
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("grid.wav");
    let clip = media.join(path);
    common::ffmpeg(&[
        "-i",
        clip.to_str().unwrap(),
        "-ar",
        "16000",
        "-ac",
        "1",
        wav.to_str().unwrap(),
    ]);
    let (_, pcm) = common::read_wav(&wav);
    let audio: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let transcriber = common::verifier().transcriber().unwrap();
    // The sentence as whisper writes it, the same with its last word changed (a common start
    // of all but one word), the first again, a GRID sentence with another first word
    // (nothing in common), and the sentence said twelve times over, then the same with its
    // last word changed (a common start longer than the 64 steps the scorer keeps).
    let packs = liveness::LanguagePacks::builtin().unwrap();
    let english = packs.for_tag("en-GB").unwrap();
    // Whisper's usual style, the first of the phrase's renderings (" Bin blue at f two now.").
    let styled = |s: &str| liveness::speech::likelihood::renderings(s, english).remove(0);
    let mut changed: Vec<&str> = sentence.split_whitespace().collect();
    *changed.last_mut().unwrap() = if changed.last() == Some(&"now") {
        "soon"
    } else {
        "now"
    };
    let texts = vec![
        styled(sentence),
        styled(&changed.join(" ")),
        styled(sentence),
        styled(
            &truth
                .iter()
                .find(|(_, s)| s.split_whitespace().next() != sentence.split_whitespace().next())
                .expect("GRID sentences start with four different commands")
                .1,
        ),
        styled(&[sentence.as_str(); 12].join(" ")),
        styled(&format!(
            "{} {}",
            [sentence.as_str(); 11].join(" "),
            changed.join(" ")
        )),
    ];
    let score = |asked: Vec<String>| {
        let request = move |_: &str| asked.clone();
        let scoring = Scoring {
            texts: &request,
            rivals: &[],
        };
        transcriber
            .transcribe_with(&audio, 0.0, "en", None, Some(&scoring), None)
            .unwrap()
    };
    let together = score(texts.clone());
    assert_eq!(together.scores.len(), texts.len());
    let values = |s: &TextScore| (s.text.clone(), s.logprob, s.pieces.clone(), s.tokens);
    for (i, text) in texts.iter().enumerate() {
        let alone = score(vec![text.clone()]);
        assert_eq!(
            together.reference.as_ref().map(values),
            alone.reference.as_ref().map(values)
        );
        assert_eq!(
            values(&together.scores[i]),
            values(&alone.scores[0]),
            "{text:?} scored after {:?}",
            &texts[..i]
        );
    }
    let reused: Vec<usize> = together.scores.iter().map(|s| s.reused).collect();
    println!(
        "{sentence:?}: tokens {:?}, reused {reused:?}",
        together.scores.iter().map(|s| s.tokens).collect::<Vec<_>>()
    );
    // All but the changed last word (and the full stop, end of text) came from the first text;
    // the repeat shares that start again with the second; the other sentence shares nothing.
    let words = sentence.split_whitespace().count();
    assert!(reused[1] >= words - 1, "{reused:?}");
    assert!(reused[2] >= words - 1, "{reused:?}");
    assert_eq!(reused[3], 0, "{reused:?}");
    // Past the kept steps the long text decodes the rest again, with the same values (above).
    assert!(together.scores[5].tokens > 64 + words, "{reused:?}");
    assert_eq!(reused[5], 64, "{reused:?}");
}
