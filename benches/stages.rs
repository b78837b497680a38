//! Criterion benches for the pipeline stages: decode throughput on a real GRID clip and on a
//! 720p phone clip scaled for the vision stage, one voice verification (transcribe + match) on
//! real speech, the matcher alone, the vision stage per frame (detector, mesh, eye contours,
//! signals) and over a whole 720p clip. The end-to-end wall time of `liveness verify` is
//! measured by scripts/bench-e2e.sh.
//! Benches that need ../shared/media or the models skip with a message when absent.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_channel::bounded;
use liveness::decode::{DecodeConfig, Frame, MediaDecoder};
use liveness::face_analysis::{analyse_frames, analyse_frames_on_one_thread, FramePlan};
use liveness::models::ModelsDir;
use liveness::pipeline::{Verifier, VerifierConfig};
use liveness::speech::matcher::match_voice;
use liveness::vision::analyzer::{FrameAnalyzer, VisionModels, EYES_FILE, MESH_FILE, RUNTIME_FILE};
use liveness::vision::eyes::EyeModel;
use liveness::vision::image::{sample_roi, RgbView, Roi};
use liveness::vision::mesh::FaceMesh;
use liveness::LanguagePacks;

fn media() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/media");
    d.join("truth.json").is_file().then_some(d)
}

fn decode_bench(c: &mut Criterion) {
    let Some(media) = media() else {
        eprintln!("SKIPPED decode bench: ../shared/media absent");
        return;
    };
    let clip = media.join("video/grid/bbaf2n.mpg");
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("grid_3s_clip_frames_and_audio", |b| {
        b.iter(|| {
            let (ftx, frx) = bounded(8);
            let (atx, arx) = bounded(32);
            std::thread::scope(|s| {
                let h = s.spawn(|| {
                    MediaDecoder::open(&clip, DecodeConfig::default())
                        .unwrap()
                        .run(Some(ftx), Some(atx))
                        .unwrap()
                });
                s.spawn(move || frx.iter().count());
                s.spawn(move || arx.iter().count());
                h.join().unwrap()
            })
        })
    });
    // A portrait 720x1280 phone clip (H.264, 30 fps) decoded as the vision stage takes it:
    // every frame decoded, 15 a second scaled to 480 px and converted to RGB.
    let phone = media.join("video/faces/lp-d13.mp4");
    g.bench_function("phone_720p_clip_frames_480px", |b| {
        b.iter(|| frames_of(&phone).len())
    });
    g.finish();
}

fn voice_bench(c: &mut Criterion) {
    let Some(media) = media() else {
        eprintln!("SKIPPED voice bench: ../shared/media absent");
        return;
    };
    let models = ModelsDir::locate(Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")));
    let Ok(verifier) = Verifier::new(&models, VerifierConfig::default()) else {
        eprintln!("SKIPPED voice bench: models not installed");
        return;
    };
    let clip = media.join("video/grid/sbwe5n.mpg");
    let lv = verifier
        .parse_live_video(r#"{"id":"b","language":"en-GB","challenges":[{"type":"voice","value":["set blue with e five now"]}]}"#)
        .unwrap();
    let mut g = c.benchmark_group("voice");
    g.sample_size(10);
    g.bench_function("verify_grid_3s_phrase", |b| {
        b.iter(|| verifier.verify(&clip, &lv).unwrap())
    });
    // Heard "Lay blue it text 4 now.": the text match is partial, so the phrase's renderings
    // are also force-decoded (the likelihood path).
    let partial = media.join("video/grid/lbax4n.mpg");
    let lv_partial = verifier
        .parse_live_video(r#"{"id":"b","language":"en-GB","challenges":[{"type":"voice","value":["lay blue at x four now"]}]}"#)
        .unwrap();
    g.bench_function("verify_grid_3s_phrase_with_likelihood", |b| {
        b.iter(|| verifier.verify(&partial, &lv_partial).unwrap())
    });
    g.finish();
}

fn matcher_bench(c: &mut Criterion) {
    let packs = LanguagePacks::builtin().unwrap();
    let en = packs.for_tag("en").unwrap();
    let digits: Vec<String> = ["7", "9", "1", "7"].iter().map(|s| s.to_string()).collect();
    let phrase = vec!["ask not what your country can do for you".to_string()];
    c.bench_function("match_digits", |b| {
        b.iter(|| match_voice(&digits, "um, seven nine... one 7", en))
    });
    c.bench_function("match_phrase_in_sentence", |b| {
        b.iter(|| match_voice(&phrase, "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.", en))
    });
}

/// Decodes `clip` as the verifier does for actions (480 px, 15 fps) into memory.
fn frames_of(clip: &Path) -> Vec<Frame> {
    let (tx, rx) = bounded(8);
    std::thread::scope(|s| {
        s.spawn(|| {
            let config = DecodeConfig {
                frame_max_side: 480,
                max_fps: 15.0,
                audio: false,
                ..DecodeConfig::default()
            };
            MediaDecoder::open(clip, config)
                .unwrap()
                .run(Some(tx), None)
                .unwrap()
        });
        rx.iter().collect()
    })
}

fn vision_bench(c: &mut Criterion) {
    let Some(media) = media() else {
        eprintln!("SKIPPED vision bench: ../shared/media absent");
        return;
    };
    let models_dir = ModelsDir::locate(Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")));
    let Ok(models) = VisionModels::load(models_dir.root()) else {
        eprintln!("SKIPPED vision bench: vision models not installed");
        return;
    };
    let mut g = c.benchmark_group("vision");
    // One real frame (a frontal face, 480x270 after scaling) through the whole per-frame path.
    let frames = frames_of(&media.join("video/faces/lp-d7.mp4"));
    let frame = &frames[frames.len() / 2];
    let img = RgbView::new(frame.width as usize, frame.height as usize, &frame.rgb).unwrap();
    g.throughput(Throughput::Elements(1));
    let mut analyzer = FrameAnalyzer::new(&models, false);
    g.bench_function("analyze_frame_480", |b| {
        b.iter(|| analyzer.analyze(&img, 0.0).unwrap())
    });
    // Its parts: the crop sampled into the mesh's input, and the mesh model alone.
    let roi = Roi {
        cx: img.width as f32 / 2.0,
        cy: img.height as f32 / 2.0,
        side: img.height as f32 * 0.6,
        angle: 0.1,
    };
    let mut scratch = Vec::new();
    g.bench_function("sample_crop_192", |b| {
        b.iter(|| sample_roi(&img, &roi, 192, 1.0, 0.0, &mut scratch))
    });
    let mesh = FaceMesh::load(
        &models_dir.root().join(RUNTIME_FILE),
        &models_dir.root().join(MESH_FILE),
    )
    .unwrap();
    g.bench_function("mesh_model", |b| {
        b.iter(|| mesh.run(&img, roi, &mut scratch).unwrap())
    });
    // The eye-contour model on both eyes of that face (a blink's frames read both).
    let eyes = EyeModel::load(
        &models_dir.root().join(RUNTIME_FILE),
        &models_dir.root().join(EYES_FILE),
    )
    .unwrap();
    let face = mesh.run(&img, roi, &mut scratch).unwrap();
    g.bench_function("eye_model_both_eyes", |b| {
        b.iter(|| eyes.more_open(&img, &face, 0.0, &mut scratch).unwrap())
    });
    let mut with_eyes = FrameAnalyzer::new(&models, true);
    g.bench_function("analyze_frame_480_with_eyes", |b| {
        b.iter(|| with_eyes.analyze(&img, 0.0).unwrap())
    });
    // The same with the identity descriptor taken on every frame (the stage takes one every
    // second): the difference is the descriptor's cost.
    let mut with_identity = FrameAnalyzer::new(&models, false).with_identity(0.0);
    g.bench_function("analyze_frame_480_with_identity", |b| {
        b.iter(|| with_identity.analyze(&img, 0.0).unwrap())
    });
    // The vision stage over a whole portrait 720x1280 phone clip, frames decoded beforehand
    // (an identity descriptor every second included).
    let clip = frames_of(&media.join("video/faces/lp-d13.mp4"));
    eprintln!(
        "vision/stage_720p_clip: {} frames per iteration",
        clip.len()
    );
    g.throughput(Throughput::Elements(clip.len() as u64));
    g.sample_size(10);
    g.bench_function("stage_720p_clip", |b| {
        b.iter(|| analyse_frames(&models, clip.iter().cloned(), &FramePlan::default()).unwrap())
    });
    let with_eyes = FramePlan {
        eyes: true,
        ..FramePlan::default()
    };
    g.bench_function("stage_720p_clip_with_eyes", |b| {
        b.iter(|| analyse_frames(&models, clip.iter().cloned(), &with_eyes).unwrap())
    });
    // The same on one thread (tracking and reading in turn), for the two threads' gain.
    g.bench_function("stage_720p_clip_one_thread", |b| {
        b.iter(|| {
            analyse_frames_on_one_thread(&models, clip.iter().cloned(), &FramePlan::default())
                .unwrap()
        })
    });
    g.bench_function("stage_720p_clip_with_eyes_one_thread", |b| {
        b.iter(|| analyse_frames_on_one_thread(&models, clip.iter().cloned(), &with_eyes).unwrap())
    });
    g.finish();
}

criterion_group!(
    benches,
    decode_bench,
    voice_bench,
    matcher_bench,
    vision_bench
);
criterion_main!(benches);
