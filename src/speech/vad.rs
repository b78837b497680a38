//! Energy-based speech trimming: finds where speech starts and ends in 16 kHz audio so that
//! whisper decodes only that span (and its encoder window can be sized to it).

/// Frame length for the energy analysis (30 ms at 16 kHz).
const FRAME: usize = 480;
/// Padding kept around the detected speech, in seconds.
const PAD_S: f64 = 0.3;
/// Below this peak level (dBFS) the audio is treated as silence.
const SILENCE_PEAK_DB: f64 = -50.0;

/// A span of speech in sample indices of the analysed buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechSpan {
    /// First sample (inclusive).
    pub start: usize,
    /// Last sample (exclusive).
    pub end: usize,
    /// Seconds of frames judged voiced inside the span.
    pub voiced_seconds: f64,
}

fn db(rms: f64) -> f64 {
    20.0 * rms.max(1e-9).log10()
}

/// Finds the speech span: from the first to the last run of voiced frames, padded.
/// `None` when the audio is silent or too short to hold speech.
pub fn speech_span(samples: &[f32], rate: u32) -> Option<SpeechSpan> {
    if samples.len() < FRAME * 3 {
        return None;
    }
    let levels: Vec<f64> = samples
        .chunks(FRAME)
        .map(|c| {
            db(
                (c.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>() / c.len() as f64)
                    .sqrt(),
            )
        })
        .collect();
    let mut sorted = levels.clone();
    sorted.sort_by(f64::total_cmp);
    let pick = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let (noise, peak) = (pick(0.1), pick(0.98));
    if peak < SILENCE_PEAK_DB {
        return None;
    }
    let threshold = (noise + 10.0).max(peak - 35.0).min(peak - 3.0);
    let voiced: Vec<bool> = levels.iter().map(|l| *l >= threshold).collect();
    // A run must last at least 2 frames (60 ms) to count as speech, not a click.
    let runs: Vec<usize> = (0..voiced.len())
        .filter(|&i| voiced[i] && (voiced.get(i + 1) == Some(&true) || (i > 0 && voiced[i - 1])))
        .collect();
    let (first, last) = (*runs.first()?, *runs.last()?);
    let pad = (PAD_S * f64::from(rate)) as usize;
    Some(SpeechSpan {
        start: (first * FRAME).saturating_sub(pad),
        end: ((last + 1) * FRAME + pad).min(samples.len()),
        voiced_seconds: runs.len() as f64 * FRAME as f64 / f64::from(rate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(seconds: f64, amp: f32) -> Vec<f32> {
        (0..(seconds * 16000.0) as usize)
            .map(|i| amp * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 16000.0).sin())
            .collect()
    }

    #[test]
    fn finds_the_loud_part_between_quiet_parts() {
        let mut a = tone(1.0, 0.001);
        a.extend(tone(0.5, 0.5));
        a.extend(tone(1.0, 0.001));
        let s = speech_span(&a, 16000).unwrap();
        let (start, end) = (s.start as f64 / 16000.0, s.end as f64 / 16000.0);
        assert!((start - 0.7).abs() < 0.05, "start {start}");
        assert!((end - 1.8).abs() < 0.05, "end {end}");
        assert!((s.voiced_seconds - 0.5).abs() < 0.06);
    }

    #[test]
    fn silence_and_tiny_buffers_have_no_speech() {
        assert!(speech_span(&vec![0.0; 32000], 16000).is_none());
        assert!(speech_span(&tone(1.0, 0.0001), 16000).is_none());
        assert!(speech_span(&[0.5; 100], 16000).is_none());
    }
}
