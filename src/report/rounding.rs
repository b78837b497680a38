//! Rounding of the numbers that go into reports, so that they read well and compare stably.

/// Rounds to `decimals` decimals.
pub fn round_to(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

/// Rounds to three decimals (times in seconds, scores).
pub fn round3(v: f64) -> f64 {
    round_to(v, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero_at_the_given_decimal() {
        assert_eq!(round3(1.23456), 1.235);
        assert_eq!(round_to(-0.25, 1), -0.3);
        assert_eq!(round_to(17.04, 0), 17.0);
    }
}
