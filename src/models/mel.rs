//! The Slaney-style mel filterbank that Whisper was trained with
//! (librosa `mel(sr=16000, n_fft=400, n_mels=80)`, Slaney mel scale, Slaney area normalisation).
//!
//! whisper.cpp reads the filterbank from the model file, so the converter computes it here
//! instead of shipping a copy.

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// Mel filterbank weights, `n_mels` rows of `n_fft / 2 + 1` columns, row-major.
pub fn mel_filterbank(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let nyquist = sample_rate as f64 / 2.0;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|i| i as f64 * nyquist / (n_bins - 1) as f64)
        .collect();
    let (mel_min, mel_max) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mel_min + (mel_max - mel_min) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut weights = vec![0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let lower_width = mel_f[m + 1] - mel_f[m];
        let upper_width = mel_f[m + 2] - mel_f[m + 1];
        let enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        for (k, f) in fft_freqs.iter().enumerate() {
            let lower = (f - mel_f[m]) / lower_width;
            let upper = (mel_f[m + 2] - f) / upper_width;
            weights[m * n_bins + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_round_trips_and_is_linear_below_1khz() {
        for hz in [0.0, 200.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-9);
    }

    #[test]
    fn filterbank_has_whisper_shape_and_slaney_values() {
        let w = mel_filterbank(16000, 400, 80);
        assert_eq!(w.len(), 80 * 201);
        // Every filter has some weight, and filters are triangles: non-negative.
        for m in 0..80 {
            let row = &w[m * 201..(m + 1) * 201];
            assert!(row.iter().all(|v| *v >= 0.0));
            assert!(row.iter().any(|v| *v > 0.0), "filter {m} empty");
        }
        // Reference values of librosa.filters.mel(sr=16000, n_fft=400, n_mels=80):
        // filter 0 peaks at bin 1 with 0.02486259; filter 79 covers the top bins.
        assert!((w[1] - 0.024_862_59).abs() < 1e-6, "got {}", w[1]);
        assert_eq!(w[0], 0.0);
        assert!((w[79 * 201 + 195] - 0.002_243_8).abs() < 1e-6);
        assert_eq!(w[79 * 201 + 200], 0.0);
        let row40 = &w[40 * 201..41 * 201];
        let (argmax, max) =
            row40
                .iter()
                .enumerate()
                .fold((0, 0f32), |a, (i, v)| if *v > a.1 { (i, *v) } else { a });
        assert_eq!(argmax, 43);
        assert!((max - 0.014_735_566).abs() < 1e-7);
    }
}
