//! GRID corpus videos (real speaker, real MPEG-1 video with MP2 audio): the true sentence as a
//! phrase challenge, another GRID sentence as an impostor challenge, and the sentence's digit.

mod common;

use liveness::live_video::{Evidence, Outcome};

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

#[test]
fn grid_sentences_and_digits() {
    let Some(media) = common::media() else { return };
    let verifier = common::verifier();
    let truth = common::grid_truth(&media);
    assert_eq!(truth.len(), 11);
    let (mut phrase_clear, mut phrase_not_rejected, mut digit_clear, mut impostor_clear) =
        (0, 0, 0, 0);
    for (i, (path, sentence)) in truth.iter().enumerate() {
        let other = &truth[(i + 1) % truth.len()].1;
        let json = format!(
            r#"{{"id":"{path}","language":"en-GB","challenges":[
                {{"type":"voice","value":["{sentence}"]}},
                {{"type":"voice","value":["{other}"]}},
                {{"type":"voice","value":["{}"]}}]}}"#,
            digit_of(sentence)
        );
        let lv = verifier.parse_live_video(&json).unwrap();
        let r = verifier.verify(&media.join(path), &lv).unwrap();
        let heard = match &r.challenges[0].evidence {
            Evidence::Voice(v) => v.transcript.clone(),
            _ => String::new(),
        };
        let o: Vec<Outcome> = r.challenges.iter().map(|c| c.outcome).collect();
        println!(
            "{path}: \"{sentence}\" heard {heard:?}: true {:?} ({:.2}), other {:?} ({:.2}), digit {:?}; {:.2} s",
            o[0], r.challenges[0].score, o[1], r.challenges[1].score, o[2], r.timings.total_seconds
        );
        assert!(r.media.has_audio && r.media.has_video && r.media.video_frames > 50);
        phrase_clear += usize::from(o[0] == Outcome::Clear);
        phrase_not_rejected += usize::from(o[0] != Outcome::Rejected);
        impostor_clear += usize::from(o[1] == Outcome::Clear);
        digit_clear += usize::from(o[2] == Outcome::Clear);
    }
    println!(
        "GRID: true sentence clear {phrase_clear}/11 (not rejected {phrase_not_rejected}/11); other sentence clear {impostor_clear}/11; digit clear {digit_clear}/11"
    );
    assert_eq!(impostor_clear, 0, "another sentence must never be clear");
    assert!(phrase_clear >= 7, "true sentences clear: {phrase_clear}/11");
    assert!(digit_clear >= 9, "digits clear: {digit_clear}/11");
}
