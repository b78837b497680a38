//! The fuzz targets (`src/fuzz_targets.rs`, run under libFuzzer by `scripts/fuzz.sh`) in every
//! test run, without libFuzzer: each on every kept regression in `fuzz/regressions/<target>/`
//! and on 100,000 mutations (bytes flipped, inserted, deleted, spliced between seeds) of real
//! inputs, from a fixed seed. A panic fails the test and names the input's hex.

use std::path::Path;

use liveness::fuzz_targets;

type Target = fn(&[u8]);

/// A small xorshift generator (deterministic, no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the parsers, to insert.
const INTERESTING: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xFF",
    b"7",
    b"\xD9\xA1",
    b"\xF0\x9F\x98\x80",
    b"voice",
    b"actions",
    b"value",
    b"ftyp",
    b"moov",
    b"\xFF\xD8\xFF\xE1",
    b"Exif\0\0MM\0\x2a",
    b"\x89PNG\r\n\x1a\n",
    b"IHDR",
    b"\x47",
    b"1e308",
    b"-0",
    b"null",
    b"true",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, piece.iter().copied());
            }
            2 if !data.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let to = (from + rng.below(64)).min(other.len());
                data.splice(at..at, other[from..to].iter().copied());
            }
            4 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn run(name: &str, target: Target, seeds: Vec<Vec<u8>>) {
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(name);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&regressions)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    inputs.extend(seeds.iter().cloned());
    let mut rng = Rng(0x2026_1130 ^ name.len() as u64);
    inputs.extend((0..100_000).map(|_| mutate(&mut rng, &seeds)));
    std::panic::set_hook(Box::new(|_| {}));
    for input in &inputs {
        if std::panic::catch_unwind(|| target(input)).is_err() {
            let _ = std::panic::take_hook();
            panic!("{name} panicked on {}", hex(input));
        }
    }
    let _ = std::panic::take_hook();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn live_video_parser_survives_mutations() {
    let seeds = [
        r#"{"id":"lv","clientId":"c","language":"en-GB","challenges":[{"type":"voice","value":["7","9","1","7"]},{"type":"actions","value":["turnHeadLeft","blink"]}],"createdAt":"2026-11-30T10:00:00.000Z","updatedAt":"2026-11-30T10:00:00.000Z"}"#,
        r#"{"id":"x","language":"fr","challenges":[{"type":"voice","value":"sept neuf un sept"}],"mirrored":true}"#,
        r#"{"id":"y","language":"de-DE","challenges":[{"type":"voice","value":[4,2]},{"type":"actions","value":["TURN_HEAD_RIGHT","nod","smile"]}]}"#,
        r#"{"id":"z","language":"en","challenges":[{"type":"voice","value":["set blue in a ١ again"]}]}"#,
    ];
    run(
        "live_video",
        fuzz_targets::live_video,
        seeds.iter().map(|s| s.as_bytes().to_vec()).collect(),
    );
}

#[test]
fn recital_matcher_survives_mutations() {
    let seeds = [
        b"\x007|9|1|7\0seven nine one seven".to_vec(),
        b"\x01sept|neuf\0sept, euh, neuf".to_vec(),
        b"\x02lay white by s zero again\0lay white by as zero again".to_vec(),
        b"\x037 9 1 7\0zeven negen een zeven".to_vec(),
        b"\x0442\0forty two".to_vec(),
    ];
    run("recital", fuzz_targets::recital, seeds.to_vec());
}

#[test]
fn sniffing_survives_mutations() {
    let mut jpeg = b"\xFF\xD8\xFF\xE1\x00\x22Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0\0\0\0\0".to_vec();
    jpeg.extend(b"\xFF\xC0\x00\x0B\x08\x01\xE0\x02\x80\x01\x01\x11\x00\xFF\xDA");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend([0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0]);
    let mut ts = vec![0u8; 400];
    for k in [0, 188, 376] {
        ts[k] = 0x47;
    }
    let seeds = vec![
        jpeg,
        png,
        ts,
        b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec(),
        b"\x1a\x45\xdf\xa3\x01\0\0\0\0\0\0\x1fB\x86\x81\x01webm".to_vec(),
        b"RIFF\0\0\0\0AVI LIST".to_vec(),
    ];
    run("sniff", fuzz_targets::sniff, seeds);
}
