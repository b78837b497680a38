//! Action recognition on the real face clips of `../shared/media/video/` against `truth.json`
//! and the frame-by-frame review in `tests/data/reviewed_events.json`: per action, how many
//! annotated events are found (recall, within 0.5 s), how many detections only the review
//! lists (real events that `truth.json` leaves out) and how many match nothing (false
//! detections). Printed as the table in docs/evaluation.md.

mod common;

use liveness::report::ActionEvent;

use std::collections::BTreeMap;
use std::path::Path;

use liveness::actions::recognise::{recognise, WEAK_CONFIDENCE};
use liveness::decode::{DecodeConfig, Frame, MediaDecoder};
use liveness::face_analysis::{
    analyse_frames, analyse_frames_on_one_thread, faces_report, FramePlan,
};
use liveness::vision::analyzer::VisionModels;
use liveness::ActionVocabulary;

const TOLERANCE: f64 = 0.5;

/// Events of every action in one video.
fn detect(models: &VisionModels, path: &Path) -> (Vec<ActionEvent>, liveness::report::FacesReport) {
    let (tx, rx) = crossbeam_channel::bounded::<Frame>(8);
    let p = path.to_path_buf();
    let decoding = std::thread::spawn(move || {
        let config = DecodeConfig {
            frame_max_side: 480,
            max_fps: 15.0,
            audio: false,
            ..DecodeConfig::default()
        };
        MediaDecoder::open(&p, config).and_then(|d| d.run(Some(tx), None))
    });
    let trace = analyse_frames(
        models,
        rx.iter(),
        &FramePlan {
            eyes: true,
            ..FramePlan::default()
        },
    )
    .unwrap();
    decoding.join().unwrap().unwrap();
    let vocabulary = ActionVocabulary::builtin().unwrap();
    let base = trace.baseline().expect("a face in the clip");
    let events = vocabulary
        .names()
        .into_iter()
        .flat_map(|name| recognise(&trace, &base, vocabulary.resolve(name).unwrap(), false))
        .collect();
    (events, faces_report(&trace))
}

/// Whether a detection falls in an "unsure" note of the clip (an action name alone excuses
/// every detection of it; "slight smile 2.5-3.0 s" excuses smiles overlapping that span).
fn excused(e: &ActionEvent, unsure: &[String]) -> bool {
    unsure.iter().any(|u| {
        if u == &e.action {
            return true;
        }
        if !u.to_lowercase().contains(&e.action.to_lowercase()) {
            return false;
        }
        let nums: Vec<f64> = u
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|x| x.parse().ok())
            .collect();
        match nums.as_slice() {
            [a, b, ..] => e.end >= a - TOLERANCE && e.start <= b + TOLERANCE,
            _ => true,
        }
    })
}

/// An event someone saw in the clip: action, from, to (seconds).
type Seen = (String, f64, f64);

fn events_of(list: &serde_json::Value) -> Vec<Seen> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["action"].as_str().unwrap().to_string(),
                p["from"].as_f64().unwrap(),
                p["to"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn hit(e: &ActionEvent, (action, from, to): &Seen) -> bool {
    &e.action == action && e.end >= from - TOLERANCE && e.start <= to + TOLERANCE
}

/// Matches detections that are not weak to seen events one to one, closest pairs first: for
/// each detection, the index of the event it covers. Dense blinks within the tolerance of one
/// another must each be found, and two detections of one event count one of them as false.
fn assign(events: &[ActionEvent], seen: &[Seen]) -> Vec<Option<usize>> {
    let gap = |e: &ActionEvent, s: &Seen| ((e.start + e.end) / 2.0 - (s.1 + s.2) / 2.0).abs();
    let mut pairs: Vec<(f64, usize, usize)> = seen
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            events
                .iter()
                .enumerate()
                .filter(move |(_, e)| e.confidence >= WEAK_CONFIDENCE && hit(e, s))
                .map(move |(j, e)| (gap(e, s), i, j))
        })
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut covers = vec![None; events.len()];
    let mut taken = vec![false; seen.len()];
    for (_, i, j) in pairs {
        if !taken[i] && covers[j].is_none() {
            taken[i] = true;
            covers[j] = Some(i);
        }
    }
    covers
}

/// For each seen event, whether a detection covers it (see `assign`).
fn found_each(events: &[ActionEvent], seen: &[Seen]) -> Vec<bool> {
    let covers = assign(events, seen);
    (0..seen.len()).map(|i| covers.contains(&Some(i))).collect()
}

/// `found_each`, printed one line an event; each miss also goes into `misses`.
fn report_found(
    file: &str,
    kind: &str,
    events: &[ActionEvent],
    seen: &[Seen],
    misses: &mut Vec<String>,
) -> Vec<bool> {
    let found = found_each(events, seen);
    for (s, &ok) in seen.iter().zip(&found) {
        let verdict = if ok { "found" } else { "MISSED" };
        println!("  {kind} {} {:.2}-{:.2}: {verdict}", s.0, s.1, s.2);
        if !ok {
            misses.push(format!("{file}: missed {} at {:.2}-{:.2}", s.0, s.1, s.2));
        }
    }
    found
}

#[derive(Default)]
struct Tally {
    /// Events in truth.json.
    truth: usize,
    truth_found: usize,
    /// Events of the actions reviewed over whole clips (every occurrence listed).
    reviewed: usize,
    reviewed_found: usize,
    detections: usize,
    /// Detections of events that only the review lists.
    only_reviewed: usize,
    false_detections: usize,
    weak: usize,
    weak_unmatched: usize,
}

#[test]
fn action_recall_and_false_detections_on_real_clips() {
    let Some(media) = common::media() else { return };
    let models = VisionModels::load(common::models_dir().root()).expect("vision models installed");
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(media.join("truth.json")).unwrap()).unwrap();
    let review_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reviewed_events.json");
    let review: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(review_path).unwrap()).unwrap();
    let mut per_action: BTreeMap<String, Tally> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut misses = Vec::new();
    for (file, t) in truth["videos"].as_object().unwrap() {
        if t.get("spoof").is_some() {
            continue;
        }
        let (events, faces) = detect(&models, &media.join(file));
        let present = events_of(&t["present"]);
        let reviewed_clip = &review["videos"][file];
        let reviewed = events_of(&reviewed_clip["present"]);
        let complete: Vec<&str> = reviewed_clip["complete"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .collect();
        let unsure: Vec<String> = t
            .get("unsure")
            .and_then(|u| u.as_array())
            .map(|u| {
                u.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{file}: faces {:?} {:?}",
            faces.outcome,
            faces.reasons.iter().map(|r| &r.code).collect::<Vec<_>>()
        );
        for (p, ok) in present.iter().zip(report_found(
            file,
            "truth",
            &events,
            &present,
            &mut problems,
        )) {
            let tally = per_action.entry(p.0.clone()).or_default();
            tally.truth += 1;
            tally.truth_found += usize::from(ok);
        }
        let whole: Vec<Seen> = reviewed
            .iter()
            .filter(|r| complete.contains(&r.0.as_str()))
            .cloned()
            .collect();
        for (r, ok) in
            whole
                .iter()
                .zip(report_found(file, "reviewed", &events, &whole, &mut misses))
        {
            let tally = per_action.entry(r.0.clone()).or_default();
            tally.reviewed += 1;
            tally.reviewed_found += usize::from(ok);
        }
        // Everything seen in the clip, a reviewed event dropped where it is an annotated one
        // again; each detection that is not weak must cover one of these on its own.
        let mut everything = present.clone();
        everything.extend(
            reviewed
                .iter()
                .filter(|r| {
                    !present
                        .iter()
                        .any(|p| p.0 == r.0 && r.2 >= p.1 && r.1 <= p.2)
                })
                .cloned(),
        );
        let covers = assign(&events, &everything);
        for (e, covered) in events.iter().zip(covers) {
            let tally = per_action.entry(e.action.clone()).or_default();
            let weak = e.confidence < WEAK_CONFIDENCE;
            let (annotated, seen) = if weak {
                // Weak events (`attention` at most) are matched loosely and counted apart.
                (
                    present.iter().any(|p| hit(e, p)),
                    reviewed.iter().any(|r| hit(e, r)),
                )
            } else {
                (
                    covered.is_some_and(|i| i < present.len()),
                    covered.is_some_and(|i| i >= present.len()),
                )
            };
            let ok = annotated || seen || excused(e, &unsure);
            if weak {
                tally.weak += 1;
                tally.weak_unmatched += usize::from(!ok);
            } else {
                tally.detections += 1;
                tally.only_reviewed += usize::from(seen);
                if !ok {
                    tally.false_detections += 1;
                    problems.push(format!(
                        "{file}: false {} at {:.2}-{:.2} (amplitude {:.2})",
                        e.action, e.start, e.end, e.amplitude
                    ));
                }
            }
            println!(
                "  detected {} {:.2}-{:.2} peak {:.2} amp {:.3} conf {:.2}{}",
                e.action,
                e.start,
                e.end,
                e.peak,
                e.amplitude,
                e.confidence,
                if annotated {
                    ""
                } else if seen {
                    " (reviewed)"
                } else if ok {
                    " (unsure)"
                } else {
                    " FALSE"
                }
            );
        }
    }
    println!("| action | annotated | found | reviewed whole clips | found | detections | real, not annotated (reviewed) | false | weak (attention only) | weak, unmatched |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (action, t) in &per_action {
        println!(
            "| {action} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.truth,
            t.truth_found,
            t.reviewed,
            t.reviewed_found,
            t.detections,
            t.only_reviewed,
            t.false_detections,
            t.weak,
            t.weak_unmatched
        );
    }
    for m in &misses {
        println!("  reviewed, {m}");
    }
    for p in &problems {
        println!("  {p}");
    }
    // The targets: every event truth.json lists is found, and no detection (weak ones aside,
    // which only ever earn `attention`) is of something neither truth.json nor the review saw.
    assert!(problems.is_empty(), "{problems:#?}");
    // Events of the whole-clip review (real, unprompted blinks in talking heads): at least
    // three in four found (13 of 17 when written; the misses are in docs/evaluation.md).
    let (reviewed_n, reviewed_found): (usize, usize) = per_action
        .values()
        .fold((0, 0), |(n, f), x| (n + x.reviewed, f + x.reviewed_found));
    assert!(
        reviewed_found * 4 >= reviewed_n * 3,
        "reviewed events found {reviewed_found}/{reviewed_n}"
    );
}

/// The vision stage's two threads (the face tracked from frame to frame on one, each frame
/// read on the other) build exactly the trace that one thread builds, frame for frame, on real
/// clips: a talking face read for blinks with lip sync over part of it, a phone clip likewise,
/// and head turns with identity descriptors.
#[test]
fn two_vision_threads_build_the_trace_one_thread_builds() {
    let Some(media) = common::media() else { return };
    let models = VisionModels::load(common::models_dir().root()).expect("vision models installed");
    let plan = |eyes: bool, lip_spans: Vec<(f64, f64)>| FramePlan {
        eyes,
        full_fps: 15.0,
        lip_spans,
    };
    for (clip, plan) in [
        (
            "video/faces/WDA_KatieHill_000.mp4",
            plan(true, vec![(0.5, 4.0)]),
        ),
        ("video/faces/lp-d13.mp4", plan(true, vec![(1.0, 3.0)])),
        ("video/faces/webcam-turns.mov", plan(false, Vec::new())),
    ] {
        let (tx, rx) = crossbeam_channel::bounded::<Frame>(8);
        let (path, spans) = (media.join(clip), plan.lip_spans.clone());
        let decoding = std::thread::spawn(move || {
            let config = DecodeConfig {
                frame_max_side: 480,
                max_fps: 15.0,
                dense_spans: spans,
                dense_fps: 30.0,
                audio: false,
                ..DecodeConfig::default()
            };
            MediaDecoder::open(&path, config).and_then(|d| d.run(Some(tx), None))
        });
        // The first 8 s are enough (and bound the memory the frames take).
        let frames: Vec<Frame> = rx.iter().filter(|f| f.pts < 8.0).collect();
        decoding.join().unwrap().unwrap();
        let one = analyse_frames_on_one_thread(&models, frames.iter().cloned(), &plan).unwrap();
        let two = analyse_frames(&models, frames.iter().cloned(), &plan).unwrap();
        assert!(
            one.samples.len() >= 60,
            "{clip}: {} samples",
            one.samples.len()
        );
        assert!(one.faces().count() >= 60, "{clip}");
        assert!(!one.identity.is_empty(), "{clip}");
        // Lips are read on every frame in the spans, between the fully analysed ones too.
        assert_eq!(
            one.lips.len() > one.samples.len(),
            !plan.lip_spans.is_empty(),
            "{clip}: {} lips, {} samples",
            one.lips.len(),
            one.samples.len()
        );
        assert!(one == two, "{clip}: the traces differ");
    }
}
