//! cargo-fuzz target: `liveness::fuzz_targets::live_video` on whatever libFuzzer makes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| liveness::fuzz_targets::live_video(data));
