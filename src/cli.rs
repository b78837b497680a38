//! What the command line shows: exit codes, the JSON error object, and the human summary of a
//! report. Kept in the library so it is tested; `main.rs` only parses arguments and calls here.

use std::io::Write;

use crate::models::{Manifest, ModelsDir};
pub use crate::report::ErrorObject;
use crate::report::{Evidence, Outcome, PhotoReport, VerifyReport};
use crate::vision::analyzer::{fingerprint_matches, VisionModels};

/// Reads a Live Video JSON file: no more than `LIMITS.json_bytes` and a little, so that a
/// larger file is refused by [`crate::live_video::LiveVideo::parse`] for its size without being read whole.
/// Text that is not UTF-8 is an `InvalidData` error (unless it is over the limit anyway).
/// `liveness audit` reads each folder's `NAME.json` the same way.
pub fn read_live_video_file(path: &std::path::Path) -> std::io::Result<String> {
    crate::sniff::read_bounded_text(path, crate::live_video::LIMITS.json_bytes)
}

/// Exit status: success (any verdict, unless `--fail-on` says otherwise).
pub const EXIT_OK: i32 = 0;
/// Exit status: the verdict reached the `--fail-on` level.
pub const EXIT_VERDICT: i32 = 1;
/// Exit code for a finished report given the `--fail-on` level.
pub fn verdict_exit(outcome: Outcome, fail_on: Option<Outcome>) -> i32 {
    match fail_on {
        Some(level) if outcome >= level => EXIT_VERDICT,
        _ => EXIT_OK,
    }
}

/// `models check`: every model file against the manifest's sha256, and the converted vision
/// models run on a fixed input against their fingerprints; one `ok` / `FAILED` line each on
/// `out`. Whether all are healthy.
pub fn check_models(dir: &ModelsDir, out: &mut dyn Write) -> bool {
    let mut healthy = true;
    let manifest = Manifest::builtin();
    for entry in &manifest.models {
        let line = match dir.verify(entry) {
            Ok(p) => format!(
                "ok       {} {} ({})",
                entry.name,
                p.display(),
                if entry.sha256.is_some() {
                    "sha256 matches"
                } else {
                    "present; checked by running it"
                }
            ),
            Err(e) => {
                healthy = false;
                format!("FAILED   {}: {e}", entry.name)
            }
        };
        let _ = writeln!(out, "{line}");
    }
    match VisionModels::load(dir.root()).and_then(|m| m.fingerprints()) {
        Ok(prints) => {
            for (name, actual) in prints {
                let expected = manifest.entry(name).and_then(|e| e.fingerprint.clone());
                if expected.is_some_and(|e| fingerprint_matches(&actual, &e)) {
                    let _ = writeln!(
                        out,
                        "ok       {name} runs and its outputs match the manifest"
                    );
                } else {
                    healthy = false;
                    let _ = writeln!(
                        out,
                        "FAILED   {name}: outputs {actual:?} differ from the manifest"
                    );
                }
            }
        }
        Err(e) => {
            healthy = false;
            let _ = writeln!(out, "FAILED   vision models: {e}");
        }
    }
    healthy
}

/// One progress line of an audit: done / total, rate, ETA, counts per outcome.
pub fn progress_line(p: &crate::audit::Progress) -> String {
    let counts: Vec<String> = p.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(
        "[audit] {}/{} videos ({} done before), {:.1}/min, ETA {}; {}",
        p.done,
        p.total,
        p.skipped,
        p.rate_per_minute(),
        p.eta_seconds()
            .map_or("-".to_string(), |s| format!("{:.0} s", s.round())),
        counts.join(", ")
    )
}

/// A readable summary of a photo inspection.
pub fn render_photo_text(r: &PhotoReport) -> String {
    let mut out = format!("Live photo: {}\n", r.outcome.as_str().to_uppercase());
    let b = &r.breakdown;
    for (name, i) in [
        ("face analysis", &b.face_analysis),
        ("facial obstruction", &b.facial_obstruction),
        ("facial orientation", &b.facial_orientation),
        ("liveness", &b.liveness),
    ] {
        out.push_str(&format!("  {name:<19} {}\n", i.outcome.as_str()));
        for reason in &i.reasons {
            out.push_str(&format!("          {}: {}\n", reason.code, reason.message));
        }
    }
    let m = &r.measurements;
    out.push_str(&format!(
        "measured: {}x{}, {} face(s), size {}, visibility {}, yaw {} roll {}\n",
        m.width,
        m.height,
        m.faces,
        m.face_size
            .map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
        m.face_visibility.map_or("-".into(), |v| format!("{v:.2}")),
        m.yaw.map_or("-".into(), |v| format!("{v:.0}°")),
        m.roll.map_or("-".into(), |v| format!("{v:.0}°")),
    ));
    out
}

/// One line on how the lips followed the voice.
fn lip_sync_line(s: &crate::report::AvSync) -> String {
    let agreement = match (s.agreement, s.strength, s.offset_seconds) {
        (Some(r), Some(z), Some(o)) => {
            format!("agreement {r:.2} (strength {z:.1}) at offset {o:+.2} s")
        }
        _ => "no agreement measured".into(),
    };
    let best = match (s.best_agreement, s.best_offset_seconds) {
        (Some(b), Some(o)) if Some(o) != s.offset_seconds => {
            format!("; best {b:.2} at {o:+.2} s")
        }
        _ => String::new(),
    };
    format!(
        "lip sync: {agreement}{best}; {:.1} s of speech, one face {:.0}% of it, lips open {:.0}% of it",
        s.speech_seconds,
        s.face_share * 100.0,
        s.mouth_active_share * 100.0
    )
}

/// A readable multi-line summary of a report.
pub fn render_text(r: &VerifyReport) -> String {
    let mut out = format!(
        "Live video {} ({}): {}  score {:.2}\n",
        r.live_video_id,
        r.language,
        r.outcome.as_str().to_uppercase(),
        r.score
    );
    for c in &r.challenges {
        let kind = match c.kind {
            crate::report::ChallengeType::Voice => "voice",
            crate::report::ChallengeType::Actions => "actions",
        };
        out.push_str(&format!(
            "  {:<7} {:<24} {:<9} {:.2}\n",
            kind,
            c.value.join(" "),
            c.outcome.as_str(),
            c.score
        ));
        if let Evidence::Voice(v) = &c.evidence {
            let when = match (v.start, v.end) {
                (Some(s), Some(e)) => format!(" at {s:.2}-{e:.2} s"),
                _ => String::new(),
            };
            out.push_str(&format!("          heard \"{}\"{when}\n", v.transcript));
            if let Some(s) = &v.av_sync {
                out.push_str(&format!("          {}\n", lip_sync_line(s)));
            }
        }
        if let Evidence::Actions(a) = &c.evidence {
            for p in &a.performed {
                match &p.event {
                    Some(e) => out.push_str(&format!(
                        "          {} at {:.2}-{:.2} s (peak {:.2} s, amplitude {:.2}, confidence {:.2})\n",
                        p.action, e.start, e.end, e.peak, e.amplitude, e.confidence
                    )),
                    None => out.push_str(&format!("          {} not found\n", p.action)),
                }
            }
        }
        for reason in &c.reasons {
            out.push_str(&format!("          {}: {}\n", reason.code, reason.message));
        }
    }
    if let Some(f) = &r.faces {
        out.push_str(&format!(
            "faces: {} ({} frames: {} with one face, {} without, {} with several; face {:.0}% of the frame)\n",
            f.outcome.as_str(),
            f.frames_analysed,
            f.frames_with_one_face,
            f.frames_without_face,
            f.frames_with_several_faces,
            f.face_size * 100.0
        ));
        for reason in &f.reasons {
            out.push_str(&format!("          {}: {}\n", reason.code, reason.message));
        }
    }
    let m = &r.media;
    let size = match (m.width, m.height) {
        (Some(w), Some(h)) => format!("{w}x{h}"),
        _ => "no video".to_string(),
    };
    out.push_str(&format!(
        "media: {:.2} s, {size}{}, audio {}\n",
        m.duration_seconds,
        m.fps.map_or(String::new(), |f| format!(" @ {f:.1} fps")),
        if m.has_audio { "yes" } else { "no" },
    ));
    let t = &r.timings;
    out.push_str(&format!(
        "timings: load {:.2} s, decode {:.2} s, vision {:.2} s, asr {:.2} s, likelihood {:.2} s, \
         total {:.2} s\n",
        t.load_seconds,
        t.decode_seconds,
        t.vision_seconds,
        t.asr_seconds,
        t.likelihood_seconds,
        t.total_seconds
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_video_files_are_read_up_to_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("lv.json");
        std::fs::write(&small, r#"{"id": "lv"}"#).unwrap();
        assert_eq!(read_live_video_file(&small).unwrap(), r#"{"id": "lv"}"#);

        // A file over the limit is read only a little past it, and is then too large to parse.
        let limit = crate::live_video::LIMITS.json_bytes;
        let large = dir.path().join("large.json");
        std::fs::write(&large, vec![b' '; 10 * limit]).unwrap();
        let text = read_live_video_file(&large).unwrap();
        assert!(
            text.len() > limit && text.len() <= limit + 4,
            "{}",
            text.len()
        );

        let binary = dir.path().join("binary.json");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        let err = read_live_video_file(&binary).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);

        let missing = read_live_video_file(&dir.path().join("absent.json")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn fail_on_levels() {
        assert_eq!(verdict_exit(Outcome::Rejected, None), EXIT_OK);
        assert_eq!(
            verdict_exit(Outcome::Attention, Some(Outcome::Rejected)),
            EXIT_OK
        );
        assert_eq!(
            verdict_exit(Outcome::Attention, Some(Outcome::Attention)),
            EXIT_VERDICT
        );
        assert_eq!(
            verdict_exit(Outcome::Rejected, Some(Outcome::Attention)),
            EXIT_VERDICT
        );
        assert_eq!(
            verdict_exit(Outcome::Clear, Some(Outcome::Attention)),
            EXIT_OK
        );
    }
}
