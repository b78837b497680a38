//! `liveness photo` on stills taken from the real face clips (frontal, turned, mouth covered,
//! eyes shut, two faces, no face, the replay spoof) and on bad files.

mod common;

use std::path::Path;
use std::process::Command;

fn photo(image: &Path) -> (i32, serde_json::Value) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let out = Command::new(env!("CARGO_BIN_EXE_liveness"))
        .args([
            "photo",
            image.to_str().unwrap(),
            "--format",
            "json",
            "--models",
        ])
        .arg(&models)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), json)
}

fn outcome<'a>(r: &'a serde_json::Value, inspection: &str) -> &'a str {
    r["breakdown"][inspection]["outcome"].as_str().unwrap()
}

fn codes(r: &serde_json::Value, inspection: &str) -> Vec<String> {
    r["breakdown"][inspection]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_four_inspections_on_real_stills() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    let faces = media.join("video/faces");
    let p = |name: &str| dir.path().join(name);

    // A frontal, open-eyed face: three inspections clear; liveness attention (no passive
    // anti-spoofing model), so never clear overall.
    common::still(&faces.join("lp-d7.mp4"), "1", None, &p("frontal.jpg"));
    let (code, r) = photo(&p("frontal.jpg"));
    assert_eq!(code, 0);
    for i in ["faceAnalysis", "facialObstruction", "facialOrientation"] {
        assert_eq!(outcome(&r, i), "clear", "{i}: {r}");
    }
    assert_eq!(outcome(&r, "liveness"), "attention");
    assert_eq!(
        r["breakdown"]["liveness"]["reasons"][0]["message"],
        "passive liveness model not installed"
    );
    assert_eq!(r["outcome"], "attention");
    assert_eq!(r["measurements"]["faces"], 1);

    // Head turned to the right (webcam clip, 7.5 s): not frontal.
    common::still(
        &faces.join("webcam-turns.mov"),
        "7.5",
        None,
        &p("turned.png"),
    );
    let (_, r) = photo(&p("turned.png"));
    assert_eq!(outcome(&r, "facialOrientation"), "rejected", "{r}");
    assert!(codes(&r, "facialOrientation").contains(&"face_not_frontal".to_string()));

    // The lower face under a black box, and the mouth under a skin-coloured patch.
    common::still(
        &faces.join("lp-d7.mp4"),
        "1",
        Some("drawbox=x=iw*0.25:y=ih*0.45:w=iw*0.5:h=ih*0.4:color=black:t=fill"),
        &p("covered.jpg"),
    );
    let (_, r) = photo(&p("covered.jpg"));
    assert_eq!(outcome(&r, "facialObstruction"), "rejected", "{r}");
    common::still(
        &faces.join("lp-d7.mp4"),
        "1",
        Some("drawbox=x=iw*0.3:y=ih*0.55:w=iw*0.4:h=ih*0.2:color=0xc08060:t=fill"),
        &p("patch.jpg"),
    );
    let (_, r) = photo(&p("patch.jpg"));
    assert_eq!(outcome(&r, "facialObstruction"), "rejected", "{r}");

    // A skin-coloured band across the eyes: the models still place eyes under it; the region
    // has no texture.
    common::still(
        &faces.join("lp-d7.mp4"),
        "1",
        Some("drawbox=x=iw*0.2:y=ih*0.38:w=iw*0.6:h=ih*0.12:color=0xc08060:t=fill"),
        &p("eye-band.jpg"),
    );
    let (_, r) = photo(&p("eye-band.jpg"));
    assert_eq!(outcome(&r, "facialObstruction"), "rejected", "{r}");
    assert!(r["breakdown"]["facialObstruction"]["reasons"]
        .to_string()
        .contains("eyes look covered"));

    // Eyes shut (lp-d7 blinks at 2.0-2.6 s).
    common::still(&faces.join("lp-d7.mp4"), "2.5", None, &p("shut.jpg"));
    let (_, r) = photo(&p("shut.jpg"));
    assert!(
        codes(&r, "facialObstruction").contains(&"eyes_closed".to_string()),
        "{r}"
    );

    // Two people side by side.
    common::ffmpeg(&[
        "-y",
        "-ss",
        "1",
        "-i",
        faces.join("lp-d7.mp4").to_str().unwrap(),
        "-ss",
        "1",
        "-i",
        faces.join("lp-d5.mp4").to_str().unwrap(),
        "-filter_complex",
        "[0:v]scale=-2:360[a];[1:v]scale=-2:360[b];[a][b]hstack=inputs=2",
        "-frames:v",
        "1",
        p("two.jpg").to_str().unwrap(),
    ]);
    let (_, r) = photo(&p("two.jpg"));
    assert_eq!(outcome(&r, "faceAnalysis"), "rejected", "{r}");
    assert!(codes(&r, "faceAnalysis").contains(&"multiple_faces".to_string()));

    // No face at all: grey noise.
    common::ffmpeg(&[
        "-y",
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=480x360,noise=alls=60:allf=t",
        "-frames:v",
        "1",
        p("noface.png").to_str().unwrap(),
    ]);
    let (_, r) = photo(&p("noface.png"));
    assert_eq!(r["outcome"], "rejected", "{r}");
    assert!(codes(&r, "faceAnalysis").contains(&"no_face".to_string()));

    // A frame of the screen-replay spoof is never clear.
    common::still(
        &media.join("video/spoof/phone-replay.mp4"),
        "2",
        None,
        &p("replay.jpg"),
    );
    let (_, r) = photo(&p("replay.jpg"));
    assert_ne!(r["outcome"], "clear", "{r}");
}

/// Plain bands drawn across the eyes of real faces, in several colours and placements, are
/// obstructions (`eyeBand`); the same stills without the band have no flat row across the eyes.
#[test]
fn plain_bands_across_the_eyes_are_obstructions() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Clip, time, and the band's box (x, y, w, h as shares of the frame) over its eyes.
    let faces = [
        (
            "video/faces/lp-d7.mp4",
            "1",
            "iw*0.24:y=ih*0.40:w=iw*0.5:h=ih*0.12",
        ),
        (
            "video/faces/lp-d13.mp4",
            "1",
            "iw*0.23:y=ih*0.37:w=iw*0.56:h=ih*0.08",
        ),
        (
            "video/faces/WDA_AlexandriaOcasioCortez_000.mp4",
            "2",
            "iw*0.32:y=ih*0.375:w=iw*0.55:h=ih*0.14",
        ),
        (
            "video/grid/bbaf2n.mpg",
            "1",
            "iw*0.27:y=ih*0.485:w=iw*0.32:h=ih*0.1",
        ),
    ];
    for (n, (clip, at, band)) in faces.iter().enumerate() {
        let plain = dir.path().join(format!("{n}.jpg"));
        common::still(&media.join(clip), at, None, &plain);
        let (_, r) = photo(&plain);
        assert_eq!(r["measurements"]["eyeBand"], 0.0, "{clip}: {r}");
        assert!(
            !codes(&r, "facialObstruction").contains(&"face_obstructed".to_string()),
            "{clip}: {r}"
        );
        for colour in ["black", "white", "0x808080"] {
            let banded = dir.path().join(format!("{n}-{colour}.jpg"));
            let filter = format!("drawbox=x={band}:color={colour}:t=fill");
            common::still(&media.join(clip), at, Some(&filter), &banded);
            let (_, r) = photo(&banded);
            assert_eq!(
                outcome(&r, "facialObstruction"),
                "rejected",
                "{clip} {colour}: {r}"
            );
            assert!(
                r["measurements"]["eyeBand"].as_f64().unwrap() >= 0.12,
                "{clip} {colour}: {r}"
            );
        }
    }
}

/// A dim photo is not a covered one: the texture measures are relative to how lit the face
/// is, and a face too dark to judge is `attention` (`face_too_dark`), never `rejected` for it.
#[test]
fn a_dim_photo_is_not_read_as_covered() {
    let Some(media) = common::media() else { return };
    let dir = tempfile::tempdir().unwrap();
    for clip in ["lp-d7.mp4", "lp-d19.mp4", "WDA_KatieHill_000.mp4"] {
        let clip = media.join("video/faces").join(clip);
        // A third of the brightness: judged, and nothing covers the face.
        let dim = dir.path().join("dim.jpg");
        common::still(&clip, "1", Some("lutyuv=y=val*0.3"), &dim);
        let (_, r) = photo(&dim);
        assert_eq!(outcome(&r, "faceAnalysis"), "clear", "{r}");
        assert!(
            !codes(&r, "facialObstruction").contains(&"face_obstructed".to_string()),
            "{r}"
        );
        // An eighth: too dark to tell, so attention (and the photo never clear).
        let dark = dir.path().join("dark.jpg");
        common::still(&clip, "1", Some("lutyuv=y=val*0.125"), &dark);
        let (_, r) = photo(&dark);
        assert_eq!(outcome(&r, "facialObstruction"), "attention", "{r}");
        assert_eq!(codes(&r, "facialObstruction"), ["face_too_dark"], "{r}");
    }
}

#[test]
fn bad_photo_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("note.jpg");
    std::fs::write(&text, "not a picture").unwrap();
    let (code, r) = photo(&text);
    assert_eq!(
        (code, r["type"].as_str()),
        (65, Some("invalid_media")),
        "{r}"
    );
    let (code, r) = photo(&dir.path().join("missing.png"));
    assert_eq!(
        (code, r["type"].as_str()),
        (66, Some("resource_not_found")),
        "{r}"
    );
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let (code, _) = photo(&empty);
    assert_eq!(code, 65);
}
