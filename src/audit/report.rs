//! `report.html`: one self-contained page (no network: styles, script and pictures inline)
//! a reviewer can read. A table of every video (outcome, reasons, score, time) that sorts by
//! any column and filters by outcome; per video a detail view with the thumbnails taken at the
//! detected action peaks, an SVG plot of head pose and eye/mouth signals with the detected
//! events marked, and the transcript with the matched words highlighted.

use crate::report::{ActionsEvidence, AvSync, ChallengeType, Evidence, PosePoint, VoiceEvidence};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use super::results::{for_each_line, ResultLine};
use super::summary::{AuditSummary, VideoRecord};

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{cursor:pointer;background:#f4f4f4;user-select:none}
.clear{color:#176b2c}.attention{color:#9a6700}.rejected{color:#b3261e}.error{color:#555}
.pill{font-weight:600}.filters button{margin-right:6px}.filters button.on{font-weight:700}
details{margin:8px 0 16px 0}summary{cursor:pointer}
.thumbs img{margin:4px;border:1px solid #ccc;image-rendering:auto}
figure{display:inline-block;margin:0 8px 8px 0}figcaption{font-size:12px;color:#555}
mark{background:#c8f7c5}del{background:#fbd3d0;text-decoration:none}
.plot{border:1px solid #ddd;background:#fff}
"#;

const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById('videos');
  var body = table.tBodies[0];
  var dir = {};
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
    th.addEventListener('click', function () {
      var rows = Array.prototype.slice.call(body.rows);
      var numeric = th.dataset.type === 'number';
      dir[i] = -(dir[i] || -1);
      rows.sort(function (a, b) {
        var x = a.cells[i].dataset.v || a.cells[i].textContent;
        var y = b.cells[i].dataset.v || b.cells[i].textContent;
        if (numeric) { x = parseFloat(x); y = parseFloat(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * dir[i];
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  var buttons = document.querySelectorAll('.filters button');
  Array.prototype.forEach.call(buttons, function (b) {
    b.addEventListener('click', function () {
      Array.prototype.forEach.call(buttons, function (x) { x.classList.remove('on'); });
      b.classList.add('on');
      var want = b.dataset.outcome;
      Array.prototype.forEach.call(body.rows, function (r) {
        r.style.display = (want === 'all' || r.dataset.outcome === want) ? '' : 'none';
      });
      Array.prototype.forEach.call(document.querySelectorAll('details.video'), function (d) {
        d.style.display = (want === 'all' || d.dataset.outcome === want) ? '' : 'none';
      });
    });
  });
  document.body.dataset.ready = 'yes';
})();
"#;

/// Writes the report: the table from the per-video records (sorted by id), then one detail
/// section per video, streamed from the results file (only each video's latest line), so the
/// reports are never all in memory.
pub fn write_report(
    results: &Path,
    index: &BTreeMap<String, VideoRecord>,
    summary: &AuditSummary,
    thumbs: &Path,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Liveness audit</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(h, "<h1>Liveness audit: {} videos</h1><p>", index.len());
    for (o, n) in &summary.outcomes {
        let _ = write!(h, "<span class=\"pill {o}\">{o} {n}</span> &nbsp; ");
    }
    for (e, n) in &summary.errors {
        let _ = write!(
            h,
            "<span class=\"pill error\">{} {n}</span> &nbsp; ",
            esc(e)
        );
    }
    let _ = write!(
        h,
        "&nbsp; time per video: median {:.2} s, p90 {:.2} s, max {:.2} s</p>",
        summary.seconds.p50, summary.seconds.p90, summary.seconds.max
    );
    if !summary.input_errors.is_empty() {
        h.push_str("<details><summary>Input errors</summary><ul>");
        for e in &summary.input_errors {
            let _ = write!(h, "<li>{}: {}</li>", esc(&e.source), esc(&e.message));
        }
        h.push_str("</ul></details>");
    }
    h.push_str("<p class=\"filters\">Show: ");
    for o in ["all", "clear", "attention", "rejected", "error"] {
        let on = if o == "all" { " class=\"on\"" } else { "" };
        let _ = write!(
            h,
            "<button type=\"button\" data-outcome=\"{o}\"{on}>{o}</button>"
        );
    }
    h.push_str("</p><table id=\"videos\"><thead><tr><th>Live Video</th><th>outcome</th><th data-type=\"number\">score</th><th>reasons</th><th data-type=\"number\">seconds</th></tr></thead><tbody>");
    for (id, r) in index {
        let mut reasons = r.reasons.clone();
        reasons.dedup();
        let reasons = match &r.error {
            Some(e) => esc(e),
            None => esc(&reasons.join(", ")),
        };
        let _ = write!(
            h,
            "<tr class=\"video\" data-outcome=\"{o}\"><td><a href=\"#v{n}\">{}</a></td><td class=\"{o}\">{o}</td><td data-v=\"{score}\">{score:.2}</td><td>{reasons}</td><td data-v=\"{s}\">{s:.2}</td></tr>",
            esc(id),
            o = r.outcome,
            n = r.line,
            score = r.score,
            s = r.seconds
        );
    }
    h.push_str("</tbody></table><h2>Videos</h2>");
    out.write_all(h.as_bytes())?;
    let mut failure = None;
    for_each_line(results, |n, l| {
        if failure.is_some() || index.get(&l.live_video_id).is_none_or(|r| r.line != n) {
            return;
        }
        let mut section = String::new();
        detail(&mut section, n, &l, thumbs);
        if let Err(e) = out.write_all(section.as_bytes()) {
            failure = Some(e);
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    writeln!(out, "<script>{SCRIPT}</script></body></html>")
}

fn detail(h: &mut String, i: usize, l: &ResultLine, thumbs: &Path) {
    let outcome = l
        .report
        .as_ref()
        .map_or("error".to_string(), |r| r.outcome.as_str().to_string());
    let _ = write!(
        h,
        "<details class=\"video\" id=\"v{i}\" data-outcome=\"{outcome}\"><summary><b>{}</b> — <span class=\"{outcome}\">{outcome}</span> — {}</summary>",
        esc(&l.live_video_id),
        esc(&l.video)
    );
    if let Some(e) = &l.error {
        let _ = write!(
            h,
            "<p class=\"error\">{}: {}</p>",
            esc(&e.kind),
            esc(&e.message)
        );
    }
    if !l.thumbnails.is_empty() {
        h.push_str("<div class=\"thumbs\">");
        for t in &l.thumbnails {
            // Only plain file names written by the audit itself are read back.
            if t.file.contains('/') || t.file.contains("..") {
                continue;
            }
            if let Ok(bytes) = std::fs::read(thumbs.join(&t.file)) {
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                let _ = write!(
                    h,
                    "<figure><img alt=\"{} at {:.2} s\" src=\"data:image/bmp;base64,{data}\"><figcaption>{} at {:.2} s</figcaption></figure>",
                    esc(&t.label),
                    t.t,
                    esc(&t.label),
                    t.t
                );
            }
        }
        h.push_str("</div>");
    }
    if let Some(r) = &l.report {
        for c in &r.challenges {
            let kind = match c.kind {
                ChallengeType::Voice => "voice",
                ChallengeType::Actions => "actions",
            };
            let o = c.outcome.as_str();
            let _ = write!(
                h,
                "<p><b>{kind}</b> {} — <span class=\"{o}\">{o}</span> ({:.2})",
                esc(&c.value.join(" ")),
                c.score
            );
            for reason in &c.reasons {
                let _ = write!(
                    h,
                    "<br><small>{}: {}</small>",
                    esc(reason.code.as_str()),
                    esc(&reason.message)
                );
            }
            h.push_str("</p>");
            match &c.evidence {
                Evidence::Voice(v) => {
                    transcript(h, v);
                    if let Some(sync) = &v.av_sync {
                        sync_plot(h, sync);
                    }
                }
                Evidence::Actions(a) => plot(h, a),
                Evidence::None {} => {}
            }
        }
        if let Some(f) = &r.faces {
            let o = f.outcome.as_str();
            let _ = write!(
                h,
                "<p>faces analysis <span class=\"{o}\">{o}</span>: {} frames, {} with one face, {} without, {} with several</p>",
                f.frames_detected, f.frames_with_one_face, f.frames_without_face, f.frames_with_several_faces
            );
        }
    }
    h.push_str("</details>");
}

/// The transcript, with the heard words matched to expected ones highlighted and the
/// expected words not heard struck.
fn transcript(h: &mut String, v: &VoiceEvidence) {
    let _ = write!(h, "<p>heard: “{}”<br>", esc(&v.transcript));
    for m in &v.matches {
        match (&m.expected, &m.heard, m.matched) {
            (_, Some(heard), true) => {
                let _ = write!(h, "<mark>{}</mark> ", esc(heard));
            }
            (Some(exp), _, false) => {
                let _ = write!(h, "<del title=\"expected\">{}</del> ", esc(exp));
            }
            (None, Some(heard), false) => {
                let _ = write!(h, "{} ", esc(heard));
            }
            _ => {}
        }
    }
    h.push_str("</p>");
}

/// An SVG plot of the lip opening against the speech energy over time (both 0..1, the speech
/// read at the chosen audio-video offset), with the numbers lip sync was judged on.
fn sync_plot(h: &mut String, s: &AvSync) {
    let tr = &s.trace;
    let (Some(first), Some(last)) = (tr.t.first(), tr.t.last()) else {
        return;
    };
    let (w, ht) = (720.0, 150.0);
    let span = (last - first).max(0.5);
    let x = |t: f64| 40.0 + (t - first) / span * (w - 50.0);
    let y = |v: f64| 125.0 - v.clamp(0.0, 1.0) * 110.0;
    let _ = write!(
        h,
        "<svg class=\"plot sync\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"lip sync\">"
    );
    for seg in &s.segments {
        let _ = write!(
            h,
            "<rect x=\"{:.1}\" y=\"10\" width=\"{:.1}\" height=\"118\" fill=\"#eef4e8\"><title>speech {:.2}-{:.2} s</title></rect>",
            x(seg.start.max(*first)),
            (x(seg.end.min(*last)) - x(seg.start.max(*first))).max(1.0),
            seg.start,
            seg.end
        );
    }
    let speech: Vec<String> =
        tr.t.iter()
            .zip(&tr.speech)
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
    // The mouth line breaks where no face was read.
    let mut mouth = String::new();
    for run in
        tr.t.iter()
            .zip(&tr.mouth)
            .collect::<Vec<_>>()
            .split(|(_, m)| m.is_none())
    {
        let points: Vec<String> = run
            .iter()
            .filter_map(|(t, m)| m.map(|m| format!("{:.1},{:.1}", x(**t), y(m))))
            .collect();
        if points.len() > 1 {
            let _ = write!(
                mouth,
                "<polyline fill=\"none\" stroke=\"#b22222\" stroke-width=\"1.4\" points=\"{}\"/>",
                points.join(" ")
            );
        }
    }
    let judged = match (s.agreement, s.strength, s.offset_seconds) {
        (Some(r), Some(z), Some(o)) => {
            format!("agreement {r:.2}, strength {z:.1}, offset {o:+.2} s")
        }
        _ => "not compared".into(),
    };
    let _ = write!(
        h,
        "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1\" points=\"{}\"/>{mouth}\
         <text x=\"40\" y=\"145\" font-size=\"11\"><tspan fill=\"#b22222\">lips</tspan> / \
         <tspan fill=\"#1f5fbf\">speech</tspan>: {}</text>\
         <text x=\"{}\" y=\"145\" font-size=\"11\">{first:.1}-{last:.1} s</text></svg>",
        speech.join(" "),
        esc(&judged),
        w - 90.0
    );
}

/// One line of the plot: name, colour, and the plot height of a point.
type PlotSeries = (&'static str, &'static str, fn(&PosePoint) -> f64);

/// Plot height of a value in degrees (±60 over the plot).
fn y_degrees(v: f32) -> f64 {
    95.0 - f64::from(v).clamp(-60.0, 60.0) * 80.0 / 60.0
}

/// Plot height of a ratio (±1 over the plot).
fn y_ratio(v: f32) -> f64 {
    95.0 - f64::from(v).clamp(-1.0, 1.0) * 80.0
}

/// An SVG plot of the pose trace (yaw and pitch in degrees, eye closure, smile and mouth
/// opening as ratios) with the detected events shaded.
fn plot(h: &mut String, a: &ActionsEvidence) {
    let Some(last) = a.pose_trace.last() else {
        return;
    };
    let (w, ht) = (720.0, 200.0);
    let t_max = last.t.max(1.0);
    let x = |t: f64| 40.0 + (t / t_max) * (w - 50.0);
    let _ = write!(
        h,
        "<svg class=\"plot\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"pose trace\">"
    );
    for e in &a.events {
        let _ = write!(
            h,
            "<rect x=\"{:.1}\" y=\"10\" width=\"{:.1}\" height=\"170\" fill=\"#e3ecfa\"><title>{} {:.2}-{:.2} s</title></rect><text x=\"{:.1}\" y=\"22\" font-size=\"10\">{}</text>",
            x(e.start),
            (x(e.end) - x(e.start)).max(1.0),
            esc(&e.action),
            e.start,
            e.end,
            x(e.start),
            esc(&e.action)
        );
    }
    let series: [PlotSeries; 5] = [
        ("yaw", "#1f5fbf", |p| y_degrees(p.yaw)),
        ("pitch", "#2e8b57", |p| y_degrees(p.pitch)),
        ("eyes", "#8a2be2", |p| y_ratio(p.eyes)),
        ("smile", "#d2691e", |p| y_ratio(p.smile)),
        ("mouth", "#b22222", |p| y_ratio(p.mouth)),
    ];
    let _ = write!(
        h,
        "<line x1=\"40\" y1=\"95\" x2=\"{}\" y2=\"95\" stroke=\"#bbb\"/>",
        w - 10.0
    );
    for (k, (name, colour, y)) in series.iter().enumerate() {
        let points: Vec<String> = a
            .pose_trace
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.t), y(p)))
            .collect();
        let _ = write!(
            h,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.2\" points=\"{}\"/><text x=\"{}\" y=\"195\" font-size=\"11\" fill=\"{colour}\">{name}</text>",
            points.join(" "),
            40 + k * 70
        );
    }
    let _ = write!(
        h,
        "<text x=\"{}\" y=\"195\" font-size=\"11\">0-{t_max:.1} s</text></svg>",
        w - 90.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn an_empty_audit_renders_a_page_with_an_empty_table() {
        let mut out = Vec::new();
        write_report(
            Path::new("/nonexistent/results.jsonl"),
            &BTreeMap::new(),
            &AuditSummary::default(),
            Path::new("/nonexistent"),
            &mut out,
        )
        .unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<table id=\"videos\">"));
        assert_eq!(html.matches("<tr class=\"video\"").count(), 0);
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn the_lip_sync_plot_draws_both_lines_and_breaks_where_no_face_was_read() {
        let sync = AvSync {
            offset_seconds: Some(0.04),
            agreement: Some(0.71),
            strength: Some(3.9),
            segments: vec![crate::report::SpeechSegmentSync {
                start: 0.5,
                end: 1.5,
                face_share: 1.0,
                mouth_active_share: 0.8,
                agreement: Some(0.7),
            }],
            trace: crate::report::SyncTrace {
                t: vec![0.2, 0.6, 1.0, 1.4, 1.8, 2.2],
                mouth: vec![Some(0.1), Some(0.8), None, Some(0.2), Some(0.9), Some(0.1)],
                speech: vec![0.0, 1.0, 0.5, 0.3, 1.0, 0.0],
            },
            ..AvSync::default()
        };
        let mut h = String::new();
        sync_plot(&mut h, &sync);
        assert!(h.starts_with("<svg class=\"plot sync\""), "{h}");
        assert!(h.ends_with("</svg>"));
        // One speech line, and the lips in two runs around the frame without a face.
        assert_eq!(h.matches("stroke=\"#1f5fbf\"").count(), 1);
        assert_eq!(h.matches("stroke=\"#b22222\"").count(), 2);
        assert!(h.contains("agreement 0.71, strength 3.9, offset +0.04 s"));
        assert!(h.contains("<title>speech 0.50-1.50 s</title>"));
        let mut empty = String::new();
        sync_plot(&mut empty, &AvSync::default());
        assert!(empty.is_empty());
    }
}
