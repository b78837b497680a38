//! A hostile-input corpus, made by the test from a real GRID recording and a still of it with
//! `ffmpeg` and by hand: empty, random and text files, truncations, a cut `moov` atom, a
//! corrupted middle, audio only, video only, one frame, huge frames, odd codecs and
//! containers (webm/vp9, mkv/hevc, avi/mjpeg, mov/prores, mp4/av1, gif, raw h264), rotation
//! metadata, 8 channels, 8 kHz and 384 kHz audio, Live Video JSON edge cases (a byte-order
//! mark, numbers for digits, unknown fields, a megabyte of whitespace, deep nesting, bytes
//! that are not UTF-8), and pictures (CMYK and YCCK JPEG, 16-bit, palette, grey, animated, EXIF-rotated, 1×1, a
//! PNG declaring 20000×20000, a truncated JPEG). Every case through the real binary ends in a
//! typed error (exit 65/66 and a JSON error object) or a verdict (exit 0), never a signal, a
//! panic or exit 70; garbage is never `clear`; each case takes under 60 s and no process
//! peaks over 1.5 GB of memory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What a case may end in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A typed error of this type (exit 65 or 66).
    Error(&'static str),
    /// Garbage or a damaged recording: a typed error, or a verdict that is not `clear`.
    NotClear,
    /// A real recording in another dress: a verdict (exit 0), any outcome.
    Verdict,
}

struct Case {
    name: String,
    command: &'static str,
    file: PathBuf,
    live_video: Option<PathBuf>,
    expect: Expect,
}

/// Longest one case may take.
const CASE_LIMIT: Duration = Duration::from_secs(60);
/// Most memory any process may peak at (kilobytes, as getrusage counts).
const MEMORY_LIMIT_KB: i64 = 1_500_000;

fn xorshift_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG that declares `w`×`h` RGB pixels and holds a few bytes of them: what a
/// decompression bomb looks like to a decoder that trusts the header.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend(crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    // A zlib stream of stored zero rows, cut short.
    chunk(b"IDAT", &[0x78, 0x01, 0x00, 0x00, 0x40, 0xFF, 0xBF]);
    chunk(b"IEND", &[]);
    out
}

/// A JPEG with an EXIF APP1 segment carrying `orientation`, inserted after the SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    // Big-endian TIFF header, one IFD entry: tag 0x0112 SHORT count 1.
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend(1u16.to_be_bytes());
    tiff.extend(0x0112u16.to_be_bytes());
    tiff.extend(3u16.to_be_bytes());
    tiff.extend(1u32.to_be_bytes());
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]);
    tiff.extend(0u32.to_be_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn ff(args: &[&str]) {
    common::ffmpeg(args);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Builds every case in `dir` from the GRID clip `grid` (whose sentence is `sentence`).
fn corpus(dir: &Path, grid: &Path, sentence: &str) -> Vec<Case> {
    let p = |name: &str| dir.join(name);
    let lv_text = format!(
        r#"{{"id":"h","clientId":"c","language":"en-GB","challenges":[{{"type":"voice","value":["{sentence}"]}}]}}"#
    );
    let lv = p("lv.json");
    std::fs::write(&lv, &lv_text).unwrap();
    let mut cases = Vec::new();
    let mut video = |name: &str, expect: Expect| {
        cases.push(Case {
            name: name.into(),
            command: "verify",
            file: p(name),
            live_video: Some(lv.clone()),
            expect,
        })
    };
    let base = p("base.mp4");
    ff(&[
        "-i",
        s(grid),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        s(&base),
    ]);
    let bytes = std::fs::read(&base).unwrap();

    std::fs::write(p("zero.mp4"), b"").unwrap();
    video("zero.mp4", Expect::Error("invalid_media"));
    std::fs::write(p("random.mp4"), xorshift_bytes(256 << 10, 7)).unwrap();
    video("random.mp4", Expect::Error("invalid_media"));
    std::fs::write(
        p("text.mp4"),
        "Minutes of the meeting, not a video.\n".repeat(400),
    )
    .unwrap();
    video("text.mp4", Expect::Error("invalid_media"));
    std::fs::write(p("truncated.mp4"), &bytes[..bytes.len() * 3 / 10]).unwrap();
    video("truncated.mp4", Expect::NotClear);
    let mut cut = bytes.clone();
    let at = cut.windows(4).position(|w| w == b"moov").unwrap();
    cut[at..at + 4].copy_from_slice(b"mooX");
    std::fs::write(p("cut-moov.mp4"), cut).unwrap();
    video("cut-moov.mp4", Expect::NotClear);
    let mut corrupt = bytes.clone();
    let (from, to) = (corrupt.len() * 4 / 10, corrupt.len() * 6 / 10);
    corrupt[from..to].copy_from_slice(&xorshift_bytes(to - from, 11));
    std::fs::write(p("corrupted-middle.mp4"), corrupt).unwrap();
    // A recording damaged in its middle: any verdict or error, but never a crash.
    video("corrupted-middle.mp4", Expect::Verdict);
    ff(&["-i", s(grid), "-vn", "-c:a", "aac", s(&p("audio-only.m4a"))]);
    video("audio-only.m4a", Expect::NotClear);
    ff(&[
        "-i",
        s(grid),
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        s(&p("video-only.mp4")),
    ]);
    video("video-only.mp4", Expect::NotClear);
    ff(&[
        "-i",
        s(grid),
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        s(&p("one-frame.mp4")),
    ]);
    video("one-frame.mp4", Expect::NotClear);
    ff(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=9000x32:d=0.2:r=5",
        "-c:v",
        "ffv1",
        s(&p("huge.mkv")),
    ]);
    video("huge.mkv", Expect::Error("limit_exceeded"));
    for (name, args) in [
        (
            "vp9.webm",
            vec![
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-c:a",
                "libopus",
            ],
        ),
        (
            "hevc.mkv",
            vec![
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=none",
                "-c:a",
                "aac",
            ],
        ),
        (
            "mjpeg.avi",
            vec!["-c:v", "mjpeg", "-q:v", "4", "-c:a", "pcm_s16le"],
        ),
        ("prores.mov", vec!["-c:v", "prores", "-c:a", "pcm_s16le"]),
        (
            "av1.mp4",
            vec!["-c:v", "libsvtav1", "-preset", "12", "-c:a", "aac"],
        ),
        (
            "rotated.mp4",
            vec!["-c", "copy", "-metadata:s:v:0", "rotate=90"],
        ),
        (
            "8-channels.mkv",
            vec![
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-ac",
                "8",
                "-c:a",
                "pcm_s16le",
            ],
        ),
        (
            "8khz.mp4",
            vec!["-c:v", "copy", "-ar", "8000", "-c:a", "aac"],
        ),
        (
            "384khz.mkv",
            vec!["-c:v", "copy", "-ar", "384000", "-c:a", "pcm_s24le"],
        ),
    ] {
        let source =
            if name == "rotated.mp4" || name.ends_with("khz.mp4") || name.ends_with("khz.mkv") {
                &base
            } else {
                grid
            };
        let mut all = vec!["-i", s(source)];
        all.extend(args);
        let out = p(name);
        all.push(s(&out));
        ff(&all);
        video(name, Expect::Verdict);
    }
    std::fs::copy(grid, p("grid-named.webm")).unwrap();
    video("grid-named.webm", Expect::Verdict);
    ff(&[
        "-i",
        s(grid),
        "-t",
        "1",
        "-vf",
        "fps=5",
        s(&p("moving.gif")),
    ]);
    video("moving.gif", Expect::Error("invalid_media"));
    ff(&[
        "-i",
        s(grid),
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-f",
        "h264",
        s(&p("raw.h264")),
    ]);
    video("raw.h264", Expect::Error("invalid_media"));

    // The same pictureless and one-frame files asked for a nod.
    let nod = p("nod.json");
    std::fs::write(
        &nod,
        r#"{"id":"n","language":"en-GB","challenges":[{"type":"actions","value":["nod"]}]}"#,
    )
    .unwrap();
    for (name, file) in [
        ("audio-only+nod", "audio-only.m4a"),
        ("one-frame+nod", "one-frame.mp4"),
    ] {
        cases.push(Case {
            name: name.into(),
            command: "verify",
            file: p(file),
            live_video: Some(nod.clone()),
            expect: Expect::NotClear,
        });
    }
    // Live Video JSON edge cases, over the base recording.
    let mut json_case = |name: &str, content: Vec<u8>, expect: Expect| {
        let path = p(name);
        std::fs::write(&path, content).unwrap();
        cases.push(Case {
            name: name.into(),
            command: "verify",
            file: base.clone(),
            live_video: Some(path),
            expect,
        });
    };
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend(lv_text.as_bytes());
    json_case("bom.json", bom, Expect::Verdict);
    json_case(
        "ints.json",
        br#"{"id":"h","language":"en-GB","challenges":[{"type":"voice","value":[7,9,1,7]}]}"#
            .to_vec(),
        Expect::NotClear,
    );
    json_case(
        "unknown-fields.json",
        lv_text
            .replacen(
                '{',
                r#"{"entityName":"x","extra":{"a":[1,2,{"b":null}]},"#,
                1,
            )
            .into_bytes(),
        Expect::Verdict,
    );
    let mut spaces = lv_text.clone().into_bytes();
    spaces.splice(1..1, std::iter::repeat_n(b' ', 1 << 20));
    json_case(
        "megabyte-of-space.json",
        spaces,
        Expect::Error("limit_exceeded"),
    );
    json_case(
        "deep.json",
        "[".repeat(60_000).into_bytes(),
        Expect::Error("invalid_request"),
    );
    json_case(
        "not-utf8.json",
        vec![0xFF, 0xFE, b'{', 0x80, b'}'],
        Expect::Error("invalid_request"),
    );
    json_case(
        "nul-in-value.json",
        lv_text.replace(sentence, "seven\\u0000nine").into_bytes(),
        Expect::NotClear,
    );

    // Pictures.
    let still = p("still.jpg");
    common::still(grid, "1.0", None, &still);
    let mut photo = |name: &str, expect: Expect| {
        cases.push(Case {
            name: name.into(),
            command: "photo",
            file: p(name),
            live_video: None,
            expect,
        })
    };
    photo("still.jpg", Expect::NotClear);
    for (name, fmt) in [
        ("rgb48.png", "rgb48be"),
        ("palette.png", "pal8"),
        ("grey.png", "gray"),
    ] {
        ff(&["-i", s(&still), "-pix_fmt", fmt, s(&p(name))]);
        photo(name, Expect::NotClear);
    }
    ff(&[
        "-i",
        s(grid),
        "-t",
        "1",
        "-vf",
        "fps=5",
        s(&p("animated.gif")),
    ]);
    photo("animated.gif", Expect::NotClear);
    ff(&[
        "-i",
        s(&still),
        "-vf",
        "transpose=1",
        s(&p("stored-sideways.jpg")),
    ]);
    let sideways = std::fs::read(p("stored-sideways.jpg")).unwrap();
    std::fs::write(p("exif-rotated.jpg"), with_exif_orientation(&sideways, 8)).unwrap();
    photo("exif-rotated.jpg", Expect::NotClear);
    ff(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=16x16:d=1",
        "-vf",
        "scale=1:1",
        "-frames:v",
        "1",
        s(&p("one-pixel.png")),
    ]);
    photo("one-pixel.png", Expect::NotClear);
    std::fs::write(p("bomb.png"), png_declaring(20_000, 20_000)).unwrap();
    photo("bomb.png", Expect::Error("limit_exceeded"));
    for (name, colour) in [
        ("cmyk.jpg", jpeg_encoder::ColorType::Cmyk),
        ("ycck.jpg", jpeg_encoder::ColorType::CmykAsYcck),
    ] {
        write_cmyk_jpeg(&still, colour, &p(name));
        photo(name, Expect::Verdict);
    }
    let jpeg = std::fs::read(&still).unwrap();
    std::fs::write(p("truncated.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    photo("truncated.jpg", Expect::NotClear);
    std::fs::write(p("zero.jpg"), b"").unwrap();
    photo("zero.jpg", Expect::Error("invalid_media"));
    cases
}

/// Writes the picture `from` again as a four-component JPEG (CMYK, or YCCK as Adobe
/// software writes it), the colour model print workflows hand over.
fn write_cmyk_jpeg(from: &Path, colour: jpeg_encoder::ColorType, to: &Path) {
    let ppm = to.with_extension("ppm");
    ff(&["-i", s(from), "-pix_fmt", "rgb24", s(&ppm)]);
    let ppm = std::fs::read(ppm).unwrap();
    // A binary PPM: "P6", width, height and the largest value, each followed by one space
    // or newline, then the RGB bytes.
    let fields: Vec<&[u8]> = ppm.splitn(5, |b| b.is_ascii_whitespace()).collect();
    assert_eq!(fields[0], b"P6");
    let number = |field: &[u8]| -> u16 { std::str::from_utf8(field).unwrap().parse().unwrap() };
    let (width, height) = (number(fields[1]), number(fields[2]));
    assert_eq!(number(fields[3]), 255);
    let rgb = fields[4];
    let mut cmyk = Vec::with_capacity(rgb.len() / 3 * 4);
    for pixel in rgb.chunks_exact(3) {
        let [r, g, b] = [pixel[0], pixel[1], pixel[2]].map(u32::from);
        let k = 255 - r.max(g).max(b);
        let ink = |c: u32| {
            if k == 255 {
                0
            } else {
                ((255 - c - k) * 255 / (255 - k)) as u8
            }
        };
        cmyk.extend_from_slice(&[ink(r), ink(g), ink(b), k as u8]);
    }
    jpeg_encoder::Encoder::new_file(to, 90)
        .unwrap()
        .encode(&cmyk, width, height, colour)
        .unwrap();
}

/// Runs one case with a time limit: (exit code or None for a signal, stdout, stderr, time).
fn run(case: &Case, models: &Path) -> (Option<i32>, String, String, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liveness"));
    cmd.arg(case.command).arg(&case.file);
    if let Some(lv) = &case.live_video {
        cmd.arg("--live-video").arg(lv);
    }
    cmd.args(["--format", "json", "--models"]).arg(models);
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CASE_LIMIT {
            child.kill().ok();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    (
        status.code(),
        reader.join().unwrap(),
        err_reader.join().unwrap(),
        took,
    )
}

#[test]
fn every_hostile_input_is_a_typed_error_or_a_verdict() {
    let Some(media) = common::media() else { return };
    let (clip, sentence) = common::grid_truth(&media)
        .into_iter()
        .find(|(p, _)| p.contains("lwbsza"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus(dir.path(), &media.join(clip), &sentence);
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut failures = Vec::new();
    let mut answers = std::collections::BTreeMap::new();
    let mut slowest = Duration::ZERO;
    println!("{:<24} {:>6} {:>6}  result", "case", "exit", "secs");
    for case in &cases {
        let (code, stdout, stderr, took) = run(case, &models);
        slowest = slowest.max(took);
        let json: Option<Value> = serde_json::from_str(&stdout).ok();
        let result = match (&json, code) {
            (Some(j), Some(0)) => j["outcome"].as_str().unwrap_or("?").to_string(),
            (Some(j), _) => format!(
                "{} {}",
                j["type"].as_str().unwrap_or("?"),
                j["param"].as_str().unwrap_or("")
            ),
            (None, _) => "no JSON".to_string(),
        };
        println!(
            "{:<24} {:>6} {:>6.2}  {result}",
            case.name,
            code.map_or("signal".into(), |c| c.to_string()),
            took.as_secs_f64()
        );
        let fail = |why: String| {
            format!(
                "{}: {why}; stderr: {}",
                case.name,
                stderr.lines().last().unwrap_or("")
            )
        };
        if stderr.contains("panicked") {
            failures.push(fail("panicked".into()));
            continue;
        }
        if took >= CASE_LIMIT {
            failures.push(fail(format!("took over {CASE_LIMIT:?}")));
            continue;
        }
        let Some(json) = json else {
            failures.push(fail(format!(
                "stdout is not one JSON object (exit {code:?})"
            )));
            continue;
        };
        answers.insert(case.name.clone(), json.clone());
        let outcome = json["outcome"].as_str();
        let kind = json["type"].as_str();
        let ok = match (case.expect, code) {
            (_, None) | (_, Some(70)) | (_, Some(101)) => false,
            (Expect::Error(t), Some(65 | 66)) => kind == Some(t),
            (Expect::Error(_), _) => false,
            (Expect::NotClear, Some(0)) => outcome.is_some() && outcome != Some("clear"),
            (Expect::NotClear, Some(65 | 66)) => kind.is_some(),
            (Expect::Verdict, Some(0)) => outcome.is_some(),
            _ => false,
        };
        if !ok {
            failures.push(fail(format!(
                "expected {:?}, got exit {code:?}: {result}",
                case.expect
            )));
        }
    }
    // The EXIF-rotated selfie is inspected upright (it displays upright): its orientation is
    // read, its size is the displayed one and it is not judged turned or rolled.
    let rotated = &answers["exif-rotated.jpg"];
    let m = &rotated["measurements"];
    assert_eq!(m["orientation"], 8, "{rotated}");
    assert_eq!(
        (m["sourceWidth"].as_u64(), m["sourceHeight"].as_u64()),
        (Some(360), Some(288))
    );
    assert_ne!(
        rotated["breakdown"]["facialOrientation"]["outcome"], "rejected",
        "{rotated}"
    );
    let upright = &answers["still.jpg"];
    assert_eq!(
        upright["breakdown"]["facialOrientation"]["outcome"],
        rotated["breakdown"]["facialOrientation"]["outcome"]
    );
    // Four-component JPEGs are turned into the same colours, not a negative: the face is
    // found and its brightness is within a few grey levels of the RGB original's (a
    // negative would put it near 255 minus it).
    let rgb_luminance = upright["measurements"]["faceLuminance"].as_f64().unwrap();
    for name in ["cmyk.jpg", "ycck.jpg"] {
        let m = &answers[name]["measurements"];
        assert_eq!(m["faces"], 1, "{name}: {m}");
        let luminance = m["faceLuminance"].as_f64().unwrap();
        assert!(
            (luminance - rgb_luminance).abs() < 20.0,
            "{name}: face luminance {luminance} against {rgb_luminance} in RGB"
        );
    }
    let pixel = &answers["one-pixel.png"]["measurements"];
    assert_eq!(
        (
            pixel["sourceWidth"].as_u64(),
            pixel["sourceHeight"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // Reasons that do not contradict the file: no "several faces in 0 of 0 frames" without a
    // picture, no "no face" for an action when the faces analysis saw one.
    let pictureless = &answers["audio-only+nod"];
    let codes = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|r| r["code"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        codes(&pictureless["faces"]["reasons"]),
        ["no_video_frames"],
        "{pictureless}"
    );
    let one = &answers["one-frame+nod"];
    let face_seen = !codes(&one["faces"]["reasons"])
        .iter()
        .any(|c| c == "no_face" || c == "no_video_frames");
    let action = codes(&one["challenges"][0]["reasons"]);
    assert!(
        !face_seen || !action.contains(&"no_face".to_string()),
        "{one}"
    );
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    println!(
        "{} cases; slowest {:.2} s; largest peak memory of any process {} MB",
        cases.len(),
        slowest.as_secs_f64(),
        usage.ru_maxrss / 1024
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        usage.ru_maxrss < MEMORY_LIMIT_KB,
        "peak {} kB",
        usage.ru_maxrss
    );
}
