//! Same person throughout: the faces analysis follows the main face's identity (MobileFaceNet
//! embeddings of near-frontal faces, compared with the first). Every real single-person clip
//! must keep its identity; a cut from one real person to another (spliced here from two real
//! clips) must be reported as `face_changed` (`rejected` when clearly another person,
//! `attention` otherwise; never `clear`). Prints the similarity spread both ways.

mod common;

use liveness::report::FacesReport;
use std::path::{Path, PathBuf};

use liveness::decode::{DecodeConfig, Frame, MediaDecoder};
use liveness::face_analysis::{analyse_frames, faces_report, FramePlan};
use liveness::vision::analyzer::VisionModels;

fn analyse(models: &VisionModels, video: &Path) -> FacesReport {
    let (tx, rx) = crossbeam_channel::bounded::<Frame>(8);
    let config = DecodeConfig {
        frame_max_side: 480,
        max_fps: 15.0,
        audio: false,
        ..DecodeConfig::default()
    };
    let p = video.to_path_buf();
    let decoding = std::thread::spawn(move || {
        MediaDecoder::open(&p, config).and_then(|d| d.run(Some(tx), None))
    });
    let trace = analyse_frames(models, rx.iter(), &FramePlan::default()).unwrap();
    decoding.join().unwrap().unwrap();
    faces_report(&trace)
}

/// `a`'s first `seconds` then `b`'s first `seconds`, both scaled and padded to 480x480.
fn splice(a: &Path, b: &Path, seconds: f64, out: &Path) {
    let fit = "scale=480:480:force_original_aspect_ratio=decrease,pad=480:480:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=15";
    let filter = format!(
        "[0:v]trim=0:{seconds},setpts=PTS-STARTPTS,{fit}[a];[1:v]trim=0:{seconds},setpts=PTS-STARTPTS,{fit}[b];[a][b]concat=n=2:v=1[v]"
    );
    common::ffmpeg(&[
        "-i",
        a.to_str().unwrap(),
        "-i",
        b.to_str().unwrap(),
        "-filter_complex",
        &filter,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        out.to_str().unwrap(),
    ]);
}

#[test]
fn same_person_kept_and_a_cut_to_another_person_caught() {
    let Some(media) = common::media() else { return };
    let models = VisionModels::load(common::models_dir().root()).expect("vision models");
    let faces = media.join("video/faces");
    // One clip per person (the GRID clips are all one speaker; lp-d* are different people).
    let people: Vec<PathBuf> = [
        "lp-d5.mp4",
        "lp-d7.mp4",
        "lp-d8.mp4",
        "lp-d9.mp4",
        "lp-d13.mp4",
        "lp-d18.mp4",
        "lp-d19.mp4",
        "WDA_KatieHill_000.mp4",
        "WDA_AlexandriaOcasioCortez_000.mp4",
        "webcam-turns.mov",
    ]
    .iter()
    .map(|n| faces.join(n))
    .chain([media.join("video/grid/bbaf2n.mpg")])
    .collect();

    let mut lowest_same = f64::MAX;
    let mut kept = 0;
    for clip in &people {
        let r = analyse(&models, clip);
        let id = r.identity.clone().expect("near-frontal faces embedded");
        eprintln!(
            "same person  {:<40} samples {:>3}  min similarity {:.3}",
            clip.file_name().unwrap().to_string_lossy(),
            id.samples,
            id.min_similarity
        );
        lowest_same = lowest_same.min(id.min_similarity);
        if id.changed_at.is_none()
            && !r
                .reasons
                .iter()
                .any(|x| x.code == liveness::report::ReasonCode::FaceChanged)
        {
            kept += 1;
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let mut highest_other = f64::MIN;
    let mut caught = 0;
    let mut rejected = 0;
    let n = people.len();
    for i in 0..n {
        let (a, b) = (&people[i], &people[(i + 1) % n]);
        let out = dir.path().join(format!("splice-{i}.mp4"));
        splice(a, b, 2.5, &out);
        let r = analyse(&models, &out);
        let id = r.identity.clone().expect("faces embedded");
        eprintln!(
            "cut {:<22} -> {:<22} min similarity {:.3}  changed at {:?}",
            a.file_name().unwrap().to_string_lossy(),
            b.file_name().unwrap().to_string_lossy(),
            id.min_similarity,
            id.changed_at
        );
        highest_other = highest_other.max(id.min_similarity);
        if let Some(at) = id.changed_at {
            assert!(
                (2.0..=3.5).contains(&at),
                "change found at the cut, not {at}"
            );
            assert!(r
                .reasons
                .iter()
                .any(|x| x.code == liveness::report::ReasonCode::FaceChanged));
            assert_ne!(r.outcome, liveness::report::Outcome::Clear);
            if id.clearly_other {
                rejected += 1;
            }
            caught += 1;
        }
    }
    eprintln!(
        "identity: same person kept {kept}/{} (lowest similarity {lowest_same:.3}); cut to another person caught {caught}/{n}, {rejected} of them rejected (highest post-cut minimum {highest_other:.3})",
        people.len()
    );
    assert_eq!(kept, people.len(), "a single-person clip reported a change");
    assert_eq!(caught, n, "a cut to another person was missed");
}
