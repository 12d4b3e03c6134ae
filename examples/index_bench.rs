//! BENCHMARK ONLY: the frame index at the size of a long job. Builds the index of 10 hours of
//! 60 fps video in a 1/90000 time base (B-frame-like jitter of a tick, a keyframe every 2 s),
//! then times encoding it to `index.bin`, decoding it back and hashing it, and prints its size.
//!
//! Run: `cargo run --release --example index_bench [-- HOURS FPS]`.

use std::time::Instant;
use vre::plandir::frameindex::FrameIndex;
use vre::plandir::schema::Rational;

fn main() {
    let mut args = std::env::args().skip(1);
    let hours: u64 = args
        .next()
        .map_or(10, |a| a.parse().expect("HOURS is a number"));
    let fps: u64 = args
        .next()
        .map_or(60, |a| a.parse().expect("FPS is a number"));
    let frames = hours * 3600 * fps;
    let ticks = 90_000 / fps as i64;
    let index = FrameIndex {
        time_base: Rational {
            num: 1,
            den: 90_000,
        },
        pts: (0..frames as i64).map(|k| k * ticks + k % 2).collect(),
        key: (0..frames).map(|k| k % (2 * fps) == 0).collect(),
    };
    let clock = Instant::now();
    let encoded = index.encode();
    let encode = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let decoded = FrameIndex::decode(&encoded).expect("round trip");
    let decode = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let hash = blake3::hash(&encoded);
    let hashing = clock.elapsed().as_secs_f64();
    assert_eq!(decoded, index);
    println!(
        "{hours} h at {fps} fps: {frames} frames, index.bin {} bytes ({:.2} bytes/frame); encode {encode:.3} s, decode {decode:.3} s, blake3 {hashing:.4} s ({})",
        encoded.len(),
        encoded.len() as f64 / frames as f64,
        &hash.to_hex()[..16]
    );
}
