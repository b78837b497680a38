//! The recognisers' stage: one pass of the temporal recognisers over the signal trace for
//! every action asked for, the person's resting pose, and the reviewer's pose trace.

use crate::actions::recognise::recognise;
use crate::actions::trace::{pose_trace, SignalTrace};
use crate::actions::ActionVocabulary;
use crate::live_video::LiveVideo;
use crate::report::{ActionEvent, Baseline, ChallengeType, PosePoint};

/// Every event of the actions `live_video` asks for (shared by all its actions challenges),
/// the baseline (None with too few frames with a face), and the pose trace at `pose_hz`.
pub(super) fn action_events(
    vocabulary: &ActionVocabulary,
    live_video: &LiveVideo,
    trace: &SignalTrace,
    mirrored: bool,
    pose_hz: f64,
) -> (Vec<ActionEvent>, Option<Baseline>, Vec<PosePoint>) {
    let Some(baseline) = trace.baseline() else {
        return (Vec::new(), None, Vec::new());
    };
    let mut names: Vec<&String> = live_video
        .challenges
        .iter()
        .filter(|c| c.kind == ChallengeType::Actions)
        .flat_map(|c| &c.value)
        .collect();
    names.sort();
    names.dedup();
    let events = names
        .into_iter()
        .filter_map(|n| vocabulary.resolve(n))
        .flat_map(|spec| recognise(trace, &baseline, spec, mirrored))
        .collect();
    let pose = pose_trace(trace, &baseline, mirrored, pose_hz);
    (events, Some(baseline), pose)
}
