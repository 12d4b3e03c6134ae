//! Surviving anything short of losing the disk: SIGKILL at random instants, SIGTERM, failing
//! renders, retries that must be byte-identical, damaged chunks found by `vre verify`.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn input_video(dir: &Path, seconds: f64, audio: bool) -> PathBuf {
    let input = dir.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds,
            audio,
            ..VideoSpec::default()
        },
    );
    input
}

fn spawn_worker(plan_dir: &Path, json: bool) -> Child {
    let mut a = args!["work", plan_dir];
    if json {
        a.push("--json".into());
    }
    vre()
        .args(a)
        .stdout(if json { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads a worker's JSON events until one matches.
fn wait_for_event(worker: &mut Child, wanted: &str) -> Value {
    let stdout = worker.stdout.as_mut().expect("worker prints JSON events");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("worker still runs").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == wanted {
            return event;
        }
    }
}

/// xorshift64*: reproducible randomness for the chaos schedule (the seed is printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
    }
}

#[test]
fn chaos_three_workers_killed_at_random_still_produce_the_serial_frames() {
    let tmp = temp_dir();
    let input = input_video(tmp.path(), 4.0, true);
    let plan_dir = tmp.path().join("job.vre");
    let filter = "nlmeans=s=2:r=9,hue=s=0.5";
    vre_plan_lossless(&input, &plan_dir, "24", filter);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("chaos seed {seed}");
    let mut rng = Rng(seed);
    // Each worker's stderr goes to a file of its own, so that a worker that ends badly says why.
    let logs = tmp.path().join("worker-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut spawned = 0;
    let mut logged_worker = |plan_dir: &Path| -> (Child, PathBuf) {
        spawned += 1;
        let log = logs.join(format!("worker-{spawned}.log"));
        let child = vre()
            .args(args!["work", plan_dir])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        (child, log)
    };
    let mut workers: Vec<(Child, PathBuf)> = (0..3).map(|_| logged_worker(&plan_dir)).collect();
    let mut kills = 0;
    while kills < 8 {
        // A random instant: the schedule of the chaos, not a wait for anything to happen.
        std::thread::sleep(Duration::from_millis(40 + rng.next(260)));
        let victim = rng.next(3) as usize;
        if let Some(status) = workers[victim].0.try_wait().unwrap() {
            panic!(
                "a worker ended after only {kills} kills ({status}); the run needs more work, or it said why: {}",
                std::fs::read_to_string(&workers[victim].1).unwrap_or_default()
            );
        }
        let ffmpeg = children_of(workers[victim].0.id());
        workers[victim].0.kill().unwrap();
        workers[victim].0.wait().unwrap();
        assert!(
            all_gone_within(&ffmpeg, Duration::from_secs(1)),
            "kill {kills}: ffmpeg outlived its worker by more than a second"
        );
        kills += 1;
        workers[victim] = logged_worker(&plan_dir);
    }
    for (mut worker, log) in workers {
        let status = worker.wait().unwrap();
        assert!(
            status.success(),
            "a surviving worker ended with {status}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    assert_eq!(
        temp_files(&plan_dir),
        Vec::<PathBuf>::new(),
        "no temp file remains"
    );
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    let expected = framemd5(&input, Some(filter));
    assert_eq!(
        framemd5(&out, None),
        expected,
        "frames identical to a clean serial render"
    );
}

#[test]
fn sigterm_stops_a_worker_cleanly_within_two_seconds() {
    let tmp = temp_dir();
    let input = input_video(tmp.path(), 3.0, false);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "2", "--vf", "nlmeans=s=2", "--threads", "1"],
    );
    let mut worker = spawn_worker(&plan_dir, true);
    let claimed = wait_for_event(&mut worker, "claimed");
    let chunk = claimed["task"]["index"].as_u64().unwrap() as u32;
    let ffmpeg = wait_for_children(worker.id());
    assert!(!ffmpeg.is_empty(), "ffmpeg is rendering");

    let sent = Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(worker.id() as i32, libc::SIGTERM) };
    let status = worker.wait().unwrap();
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(2), "exited after {took:?}");
    assert_eq!(status.code(), Some(130), "the interrupted code");
    assert!(
        all_gone_within(&ffmpeg, Duration::from_millis(100)),
        "its ffmpeg is gone"
    );
    assert_eq!(
        temp_files(&plan_dir),
        Vec::<PathBuf>::new(),
        "its temp file is gone"
    );
    let dir = vre::plandir::layout::PlanDir::new(&plan_dir);
    let task = vre::plandir::schema::TaskId::Chunk(chunk);
    assert!(
        vre::plandir::claim::try_claim(&dir, task)
            .unwrap()
            .is_some(),
        "claimable at once"
    );
    let record = vre::plandir::attempts::read(&dir, task);
    assert!(
        record.failures.is_empty(),
        "an interruption is not a failed attempt"
    );
}

#[test]
fn a_render_that_always_fails_uses_exactly_max_attempts_and_is_reported() {
    let tmp = temp_dir();
    let input = input_video(tmp.path(), 2.0, false);
    let plan_dir = tmp.path().join("job.vre");
    // Passes the one-frame trial at plan time, then changes the frame size at frame 5: the
    // encoder fails mid-stream.
    let filter = "scale=w='if(gte(n,5),160,320)':h=240:eval=frame";
    vre_plan(&input, &plan_dir, args!["--chunks", "2", "--vf", filter]);
    let first = run_vre(args!["work", plan_dir, "--max-attempts", "3"]);
    assert_eq!(first.status.code(), Some(80), "{}", stderr(&first));
    let logs = |i: u32| {
        (1..=6)
            .filter(|a| {
                plan_dir
                    .join(format!("logs/chunk-{i:06}.attempt-{a}.log"))
                    .exists()
            })
            .count()
    };
    assert_eq!(
        (logs(0), logs(1)),
        (3, 3),
        "one log per attempt, exactly 3 attempts each"
    );
    let log = std::fs::read_to_string(plan_dir.join("logs/chunk-000000.attempt-1.log")).unwrap();
    assert!(
        log.contains("command: ffmpeg") && log.contains("stride"),
        "{log}"
    );

    let status = run_vre(args!["status", plan_dir, "--json"]);
    assert_eq!(status.status.code(), Some(80), "failed chunks: exit 80");
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["failed"], 2);
    let text = run_vre(args!["status", plan_dir]);
    assert_eq!(text.status.code(), Some(80));
    let chunk0 = &status["tasks"][0];
    assert_eq!(chunk0["state"], "failed");
    assert_eq!(chunk0["failed_attempts"], 3);
    assert!(chunk0["last_error"].as_str().unwrap().contains("ffmpeg"));

    let again = run_vre(args!["work", plan_dir]);
    assert_eq!(again.status.code(), Some(80));
    assert_eq!(
        (logs(0), logs(1)),
        (3, 3),
        "failed chunks are not attempted again"
    );

    let retried = run_vre(args![
        "work",
        plan_dir,
        "--retry-failed",
        "--max-attempts",
        "1"
    ]);
    assert_eq!(retried.status.code(), Some(80));
    assert_eq!(
        (logs(0), logs(1)),
        (4, 4),
        "--retry-failed grants fresh attempts, logs kept"
    );
}

#[test]
fn a_rerendered_chunk_is_byte_identical() {
    let tmp = temp_dir();
    let input = input_video(tmp.path(), 3.0, true);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "3", "--threads", "2", "--preset", "medium"],
    );
    vre_ok(args!["work", plan_dir, "-q"]);
    let chunk = plan_dir.join("chunks/chunk-000001.mp4");
    let sidecar = plan_dir.join("chunks/chunk-000001.json");
    let audio = plan_dir.join("audio/audio.m4a");
    let (chunk_bytes, audio_bytes) = (
        std::fs::read(&chunk).unwrap(),
        std::fs::read(&audio).unwrap(),
    );
    let hash = read_json(&sidecar)["blake3"].clone();
    for path in [&chunk, &sidecar, &audio, &plan_dir.join("audio/audio.json")] {
        std::fs::remove_file(path).unwrap();
    }
    vre_ok(args!["work", plan_dir, "-q"]);
    assert_eq!(
        std::fs::read(&chunk).unwrap(),
        chunk_bytes,
        "chunk bytes identical"
    );
    assert_eq!(read_json(&sidecar)["blake3"], hash);
    assert_eq!(
        std::fs::read(&audio).unwrap(),
        audio_bytes,
        "audio bytes identical"
    );
}

#[test]
fn verify_withdraws_a_damaged_chunk_and_work_renders_only_that_one() {
    let tmp = temp_dir();
    let input = input_video(tmp.path(), 3.0, true);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "4"]);
    vre_ok(args!["work", plan_dir, "-q"]);
    vre_ok(args!["verify", plan_dir]);

    let chunk = plan_dir.join("chunks/chunk-000002.mp4");
    let mut bytes = std::fs::read(&chunk).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x40;
    std::fs::write(&chunk, bytes).unwrap();

    let dry = run_vre(args!["verify", plan_dir, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(65));
    assert!(chunk.exists(), "a dry run withdraws nothing");
    let found = run_vre(args!["verify", plan_dir]);
    assert_eq!(found.status.code(), Some(65), "{}", stderr(&found));
    assert!(stderr(&found).contains("chunk 2") && stderr(&found).contains("blake3"));
    assert!(!chunk.exists() && !plan_dir.join("chunks/chunk-000002.json").exists());

    let rerun = vre_ok(args!["work", plan_dir, "--json"]);
    assert_eq!(published(&rerun.stdout), vec!["chunk:2".to_string()]);
    vre_ok(args!["verify", plan_dir]);
    vre_ok(args![
        "assemble",
        plan_dir,
        "-o",
        tmp.path().join("out.mp4")
    ]);
}
