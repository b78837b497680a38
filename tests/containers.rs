//! The decoder reads the containers and codecs SDKs produce: a real GRID clip transcoded to
//! WebM (VP8 + Vorbis, VP9 + Opus), MOV (H.264 + PCM) and MKV (MPEG-4 + MP3) still verifies
//! its spoken digit, with media facts taken from the streams; and decoding holds no memory
//! from one video to the next (a service's runner decodes thousands).

use std::sync::Mutex;

use liveness::report::{Evidence, Outcome};
mod common;

/// The tests of this binary one at a time: the memory test reads the process's heap.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn common_containers_and_codecs_decode_and_verify() {
    let _serial = one_at_a_time();
    let Some(media) = common::media() else { return };
    let verifier = common::verifier();
    let dir = tempfile::tempdir().unwrap();
    let source = media.join("video/grid/sbwe5n.mpg"); // "set blue with e five now"
    let lv = verifier
        .parse_live_video(
            r#"{"id":"c","language":"en-GB","challenges":[{"type":"voice","value":["5"]}]}"#,
        )
        .unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "vp8.webm",
            &["-c:v", "libvpx", "-b:v", "500k", "-c:a", "libvorbis"],
        ),
        (
            "vp9.webm",
            &[
                "-c:v",
                "libvpx-vp9",
                "-b:v",
                "500k",
                "-deadline",
                "realtime",
                "-c:a",
                "libopus",
            ],
        ),
        (
            "pcm.mov",
            &[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-c:a",
                "pcm_s16le",
            ],
        ),
        ("mp3.mkv", &["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
    ];
    for (name, codec_args) in cases {
        let out = dir.path().join(name);
        let mut args = vec!["-i", source.to_str().unwrap()];
        args.extend_from_slice(codec_args);
        args.push(out.to_str().unwrap());
        common::ffmpeg(&args);
        let r = verifier.verify(&out, &lv).unwrap();
        println!(
            "{name}: {:?} {:?}/{:?}, {:.2} s, {} frames",
            r.outcome,
            r.media.video_codec,
            r.media.audio_codec,
            r.media.duration_seconds,
            r.media.video_frames
        );
        assert!(r.media.has_audio && r.media.has_video, "{name}");
        assert!(
            (r.media.duration_seconds - 3.0).abs() < 0.3,
            "{name}: {}",
            r.media.duration_seconds
        );
        assert!(
            r.media.video_frames >= 70,
            "{name}: {} frames",
            r.media.video_frames
        );
        // The digit is heard in every container; lip sync reads the lips from every codec.
        assert_eq!(
            common::speech_outcome(&r.challenges[0]),
            Outcome::Clear,
            "{name}: {:?}",
            r.challenges[0]
        );
        let Evidence::Voice(v) = &r.challenges[0].evidence else {
            panic!("{name}: voice evidence")
        };
        let sync = v.av_sync.as_ref().expect("lip sync measured");
        assert!(
            sync.frames_used > 40 && sync.agreement.unwrap() > 0.4,
            "{name}: {sync:?}"
        );
    }
}

/// The frames a decode sends: media times.
fn sent_times(clip: &std::path::Path, config: liveness::decode::DecodeConfig) -> Vec<f64> {
    let (tx, rx) = crossbeam_channel::bounded(8);
    std::thread::scope(|s| {
        s.spawn(|| {
            liveness::decode::MediaDecoder::open(clip, config)
                .unwrap()
                .run(Some(tx), None)
                .unwrap()
        });
        rx.iter().map(|f: liveness::decode::Frame| f.pts).collect()
    })
}

#[test]
fn dense_spans_add_every_frame_inside_them_and_keep_the_regular_ones() {
    let _serial = one_at_a_time();
    let Some(media) = common::media() else { return };
    let clip = media.join("video/grid/sbwe5n.mpg"); // 25 fps, 3 s
    let regular = liveness::decode::DecodeConfig {
        max_fps: 15.0,
        audio: false,
        ..Default::default()
    };
    let at_15 = sent_times(&clip, regular.clone());
    let dense = sent_times(
        &clip,
        liveness::decode::DecodeConfig {
            dense_spans: vec![(1.0, 2.0)],
            dense_fps: 30.0,
            ..regular
        },
    );
    // 25 fps thinned to at most 15: every other frame, 12.5 a second.
    assert!((36..=40).contains(&at_15.len()), "{}", at_15.len());
    // Every 15 fps frame is still sent, and every frame between 1 and 2 s.
    assert!(at_15.iter().all(|t| dense.contains(t)));
    let inside = dense.iter().filter(|t| (1.0..=2.0).contains(*t)).count();
    assert!((25..=26).contains(&inside), "{inside} frames in the span");
    assert_eq!(
        dense.iter().filter(|t| !(1.0..=2.0).contains(*t)).count(),
        at_15.iter().filter(|t| !(1.0..=2.0).contains(*t)).count()
    );
}

/// Bytes the process's heap holds now (glibc's count of allocated chunks, mmapped ones too).
fn heap_in_use() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

#[test]
fn decoding_again_and_again_holds_no_memory() {
    let _serial = one_at_a_time();
    let Some(media) = common::media() else { return };
    let clip = media.join("video/grid/sbwe5n.mpg"); // 400 KB, MPEG-1 video and MP2 audio
    let bytes = std::fs::metadata(&clip).unwrap().len() as usize;
    // Every packet of the file is read (the sound's too, though only frames are asked for).
    let decode = || assert!(sent_times(&clip, Default::default()).len() > 30);
    for _ in 0..3 {
        decode();
    }
    let before = heap_in_use();
    const TIMES: usize = 20;
    for _ in 0..TIMES {
        decode();
    }
    let grown = heap_in_use().saturating_sub(before);
    // Each decode once kept every packet it read: the file's size each time (8 MB here).
    assert!(
        grown < bytes,
        "the heap grew by {grown} bytes over {TIMES} decodes of a {bytes}-byte file"
    );
}
