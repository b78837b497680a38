//! Speaker liveness on real recordings: every clip in which a person speaks on camera in their
//! own voice, against the cheap spoofs of a voice challenge assembled from the same clips (a
//! dub with another take's audio, the voice shifted in time, a still frame or a black screen
//! under the voice, text-to-speech over a face, the README demo). Prints one line per video
//! and the confusion table; fails on any spoof that clears and on genuine recall under the
//! floor stated in docs/evaluation.md.

mod common;

use liveness::report::{Evidence, Outcome, VerifyReport};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a test video is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Genuine,
    Dub,
    Shifted,
    StillFrame,
    BlackScreen,
    TextToSpeech,
    Demo,
}

/// One video to verify with the phrase it must recite.
struct Case {
    kind: Kind,
    name: String,
    video: PathBuf,
    phrase: String,
}

/// Clips in which the person on screen speaks in their own voice, with what they say (GRID:
/// truth.json; the HDTF speeches: a stretch of what is heard, checked by ear against whisper
/// and faster-whisper transcripts, the lips closing on its m's and b's).
fn speakers(media: &Path) -> Vec<(PathBuf, String)> {
    let mut v: Vec<(PathBuf, String)> = common::grid_truth(media)
        .into_iter()
        .map(|(p, s)| (media.join(p), s))
        .collect();
    v.push((
        media.join("video/faces/WDA_KatieHill_000.mp4"),
        "my second week of new member orientation".into(),
    ));
    v.push((
        media.join("video/faces/WDA_AlexandriaOcasioCortez_000.mp4"),
        "a better more just future for our country".into(),
    ));
    v
}

/// Where assembled videos are kept between runs (they depend only on the media and on how
/// they are made).
fn work_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("av-sync-cases-v2");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Runs ffmpeg into `out` unless it is already there (written to a temporary name first, so
/// an interrupted run never leaves half a file behind).
fn make(out: &Path, args: &[&str]) -> PathBuf {
    if !out.is_file() {
        let tmp = out.with_extension("part.mp4");
        let mut all: Vec<&str> = args.to_vec();
        all.push(tmp.to_str().unwrap());
        common::ffmpeg(&all);
        std::fs::rename(&tmp, out).unwrap();
    }
    out.to_path_buf()
}

/// The clip's audio as 16 kHz mono WAV.
fn wav_of(clip: &Path, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{}.wav", stem(clip)));
    if !out.is_file() {
        common::ffmpeg(&[
            "-i",
            clip.to_str().unwrap(),
            "-vn",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-c:a",
            "pcm_s16le",
            out.to_str().unwrap(),
        ]);
    }
    out
}

/// `video`'s picture (as long as it lasts) under `audio`, H.264 + AAC.
fn dub(video: &Path, audio: &Path, out: &Path) -> PathBuf {
    make(
        out,
        &[
            "-i",
            video.to_str().unwrap(),
            "-i",
            audio.to_str().unwrap(),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-t",
            &video_seconds(video).to_string(),
        ],
    )
}

/// A clip's duration from its container, seconds.
fn video_seconds(video: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of"])
        .args(["default=nw=1:nk=1", video.to_str().unwrap()])
        .output()
        .expect("ffprobe (scripts/setup.sh installs ffmpeg)");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The clip's audio moved `seconds` later (earlier when negative), the same length: silence
/// fills where it moved away from, and what moves past the end is cut.
fn shifted_wav(wav: &Path, seconds: f64, out: &Path) -> PathBuf {
    if !out.is_file() {
        let (rate, samples) = common::read_wav(wav);
        let n = (seconds.abs() * f64::from(rate)) as usize;
        let moved: Vec<i16> = if seconds >= 0.0 {
            std::iter::repeat_n(0, n)
                .chain(samples.iter().copied())
                .take(samples.len())
                .collect()
        } else {
            samples
                .iter()
                .copied()
                .skip(n)
                .chain(std::iter::repeat(0))
                .take(samples.len())
                .collect()
        };
        common::write_wav(out, rate, &moved);
    }
    out.to_path_buf()
}

/// The text-to-speech reading of `text` with espeak-ng (None when it is not installed).
fn tts(text: &str, out: &Path) -> Option<PathBuf> {
    if !out.is_file() {
        let status = Command::new("espeak-ng")
            .args([
                "-v",
                "en-us",
                "-s",
                "130",
                "-g",
                "8",
                "-w",
                out.to_str().unwrap(),
                text,
            ])
            .status()
            .ok()?;
        assert!(status.success(), "espeak-ng failed on {text:?}");
    }
    Some(out.to_path_buf())
}

/// The set-up's demo video (carphone_pristine under jfk.wav), when it was built.
fn demo_video() -> Option<PathBuf> {
    let cache = std::env::var_os("LIVENESS_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/liveness")))?;
    Some(cache.join("demo/carphone-jfk.mp4")).filter(|p| p.is_file())
}

fn cases(media: &Path) -> Vec<Case> {
    let dir = work_dir();
    let speakers = speakers(media);
    let mut cases = Vec::new();
    let case = |kind, name: String, video, phrase: &str| Case {
        kind,
        name,
        video,
        phrase: phrase.to_string(),
    };
    for (clip, phrase) in &speakers {
        cases.push(case(Kind::Genuine, stem(clip), clip.clone(), phrase));
    }
    // Dubs: every GRID picture under every other GRID take's audio; the two speeches swapped.
    let grid: Vec<&(PathBuf, String)> = speakers
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "mpg"))
        .collect();
    let hdtf: Vec<&(PathBuf, String)> = speakers
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    for group in [&grid, &hdtf] {
        for (picture, _) in group.iter() {
            for (voice, said) in group.iter() {
                if picture == voice {
                    continue;
                }
                let name = format!("{}+{}", stem(picture), stem(voice));
                let out = dir.join(format!("dub-{name}.mp4"));
                let video = dub(picture, &wav_of(voice, &dir), &out);
                cases.push(case(Kind::Dub, name, video, said));
            }
        }
    }
    // Each genuine clip with its own voice moved in time.
    for (clip, phrase) in &speakers {
        let wav = wav_of(clip, &dir);
        for seconds in [-1.5, -0.8, -0.4, 0.4, 0.8, 1.5] {
            let name = format!("{}{seconds:+}", stem(clip));
            let moved = shifted_wav(&wav, seconds, &dir.join(format!("shift-{name}.wav")));
            let video = dub(clip, &moved, &dir.join(format!("shift-{name}.mp4")));
            cases.push(case(Kind::Shifted, name, video, phrase));
        }
    }
    // One still frame of each speaker, and a black screen, under the speaker's own voice.
    for (clip, phrase) in &speakers {
        let wav = wav_of(clip, &dir);
        let png = dir.join(format!("{}.png", stem(clip)));
        if !png.is_file() {
            common::still(clip, "1.0", None, &png);
        }
        let still = make(
            &dir.join(format!("still-{}.mp4", stem(clip))),
            &[
                "-loop",
                "1",
                "-framerate",
                "25",
                "-i",
                png.to_str().unwrap(),
                "-i",
                wav.to_str().unwrap(),
                "-shortest",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ],
        );
        cases.push(case(Kind::StillFrame, stem(clip), still, phrase));
        let black = make(
            &dir.join(format!("black-{}.mp4", stem(clip))),
            &[
                "-f",
                "lavfi",
                "-i",
                "color=c=black:s=360x288:r=25",
                "-i",
                wav.to_str().unwrap(),
                "-shortest",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ],
        );
        cases.push(case(Kind::BlackScreen, stem(clip), black, phrase));
    }
    // espeak-ng reading the challenge over each face clip: the GRID speakers reading their own
    // sentence, and the silent driving clips (and the webcam selfie) reading four digits.
    let mut faces: Vec<(PathBuf, String)> =
        grid.iter().map(|(p, s)| (p.clone(), s.clone())).collect();
    for clip in [
        "lp-d5.mp4",
        "lp-d7.mp4",
        "lp-d8.mp4",
        "lp-d9.mp4",
        "lp-d13.mp4",
        "lp-d18.mp4",
        "lp-d19.mp4",
        "webcam-turns.mov",
    ] {
        faces.push((media.join("video/faces").join(clip), "7 9 1 7".into()));
    }
    for (clip, phrase) in &faces {
        let spoken = phrase.replace("7 9 1 7", "seven, nine, one, seven");
        let Some(voice) = tts(&spoken, &dir.join(format!("tts-{}.wav", stem(clip)))) else {
            eprintln!("SKIPPED: espeak-ng not installed: no text-to-speech spoofs");
            break;
        };
        let video = make(
            &dir.join(format!("tts-{}.mp4", stem(clip))),
            &[
                "-stream_loop",
                "-1",
                "-i",
                clip.to_str().unwrap(),
                "-i",
                voice.to_str().unwrap(),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-shortest",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ],
        );
        cases.push(case(Kind::TextToSpeech, stem(clip), video, phrase));
    }
    if let Some(demo) = demo_video() {
        cases.push(case(
            Kind::Demo,
            "carphone+jfk".into(),
            demo,
            "ask not what your country can do for you",
        ));
    }
    cases
}

/// The voice challenge's verdict of a case, with its reason codes and lip sync numbers.
fn run(case: &Case) -> VerifyReport {
    let v = common::verifier();
    let value = if case.phrase.chars().all(|c| c.is_ascii_digit() || c == ' ') {
        case.phrase
            .split(' ')
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        format!("\"{}\"", case.phrase)
    };
    let json = format!(
        r#"{{"id":"{}","language":"en-GB","challenges":[{{"type":"voice","value":[{value}]}}]}}"#,
        case.name
    );
    let lv = v.parse_live_video(&json).unwrap();
    v.verify(&case.video, &lv)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

#[test]
fn speaker_liveness_on_real_recordings_and_their_spoofs() {
    let Some(media) = common::media() else { return };
    // AV_SYNC_CASES=Genuine,Dub runs only the kinds named (while working on the measure).
    let only = std::env::var("AV_SYNC_CASES").ok();
    let cases: Vec<Case> = cases(&media)
        .into_iter()
        .filter(|c| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|k| format!("{:?}", c.kind) == k))
        })
        .collect();
    let mut table: BTreeMap<Kind, [usize; 3]> = BTreeMap::new();
    let mut spoof_clear = Vec::new();
    let (mut genuine, mut genuine_clear) = (0, 0);
    for case in &cases {
        let r = run(case);
        let voice = &r.challenges[0];
        let sync = match &voice.evidence {
            Evidence::Voice(v) => v.av_sync.clone(),
            _ => None,
        };
        let codes: Vec<&str> = voice
            .reasons
            .iter()
            .chain(r.faces.iter().flat_map(|f| &f.reasons))
            .map(|x| x.code.as_str())
            .collect();
        println!(
            "{:?} {}: {} (voice {}) {:?} sync {}",
            case.kind,
            case.name,
            r.outcome.as_str(),
            voice.outcome.as_str(),
            codes,
            sync.map(|s| format!(
                "agreement {:?} strength {:?} offset {:?} best {:?}@{:?} speech {} s face {} movement {:?} active {} pause {:?} frames {}",
                s.agreement,
                s.strength,
                s.offset_seconds,
                s.best_agreement,
                s.best_offset_seconds,
                s.speech_seconds,
                s.face_share,
                s.mouth_movement,
                s.mouth_active_share,
                s.pause_active_share,
                s.frames_used
            ))
            .unwrap_or_else(|| "none".into())
        );
        table.entry(case.kind).or_default()[r.outcome as usize] += 1;
        if case.kind == Kind::Genuine {
            genuine += 1;
            genuine_clear += usize::from(r.outcome == Outcome::Clear);
        } else if r.outcome == Outcome::Clear {
            spoof_clear.push(case.name.clone());
        }
    }
    println!(
        "\n{:<14} {:>6} {:>10} {:>9}",
        "kind", "clear", "attention", "rejected"
    );
    for (kind, [c, a, r]) in &table {
        println!("{:<14} {c:>6} {a:>10} {r:>9}", format!("{kind:?}"));
    }
    println!(
        "genuine clear {genuine_clear}/{genuine}; spoofs clear {}",
        spoof_clear.len()
    );
    assert!(spoof_clear.is_empty(), "spoofs cleared: {spoof_clear:?}");
    // A still picture or no face at all under a voice is strong evidence: always rejected.
    for kind in [Kind::StillFrame, Kind::BlackScreen] {
        if let Some([c, a, _]) = table.get(&kind) {
            assert_eq!((c, a), (&0, &0), "{kind:?} not rejected: {table:?}");
        }
    }
    // Genuine recall, as measured and stated in docs/evaluation.md: 3 s GRID recitals are mostly too
    // short to tell from a dub of the same cadence (attention), so the floor is low; it is
    // here so that a change that loses the ones that do clear is seen.
    if only.is_none() {
        assert!(
            genuine_clear >= 2,
            "genuine recordings clear: {genuine_clear}/{genuine}"
        );
    }
}
