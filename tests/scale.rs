//! Scale of the planDir protocol: `vre status` on a synthetic planDir of 10,000 chunks, half of
//! them done, counts every task right. Its speed is a benchmark's business, not a test's: the
//! release-build figure comes from `cargo run --release --example claim_bench` (BENCHMARKS.md);
//! this test prints its debug-build times for the curious.

mod common;

use common::*;
use serde_json::Value;
use std::time::Instant;

#[test]
fn status_of_ten_thousand_chunks_half_done_counts_every_task() {
    let tmp = temp_dir();
    let dir = synthetic_plan_dir(&tmp.path().join("big.vre"), 10_000, 5_000, 4);

    let clock = Instant::now();
    let status = vre::inspect::status::status(&dir).unwrap();
    let library = clock.elapsed();
    assert_eq!(status.chunks, 10_000);
    assert_eq!(status.done, 5_000);
    assert_eq!(status.pending, 5_000);
    assert_eq!(status.frames_done, 50_000);

    let clock = Instant::now();
    let out = vre_ok(args!["status", dir.root(), "--json"]);
    let command = clock.elapsed();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["done"], 5_000);
    assert_eq!(json["pending"], 5_000);
    assert_eq!(json["tasks"].as_array().unwrap().len(), 10_000);

    let clock = Instant::now();
    let table = vre_ok(args!["status", dir.root()]);
    let text = clock.elapsed();
    assert!(String::from_utf8_lossy(&table.stdout).contains("5000 done"));

    println!(
        "10,000 chunks, 5,000 done: status::status {:.3} s, `vre status --json` {:.3} s, `vre status` {:.3} s (debug build)",
        library.as_secs_f64(),
        command.as_secs_f64(),
        text.as_secs_f64()
    );
}
