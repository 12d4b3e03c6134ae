//! A hung render never stalls a job: a render whose ffmpeg makes no progress (no progress
//! report, no CPU time) for the stall limit is killed and counted as a failed attempt, a slow
//! but working render is left alone, and `vre status` flags a task whose worker itself stopped.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A 3 s clip without audio planned as two lossless chunks of a denoise that takes a few
/// seconds each; returns the input, the planDir and the filter.
fn two_slow_chunks(dir: &Path) -> (PathBuf, PathBuf, &'static str) {
    let input = dir.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 3.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let plan_dir = dir.join("job.vre");
    let filter = "nlmeans=s=2";
    vre_plan_lossless(&input, &plan_dir, "2", filter);
    (input, plan_dir, filter)
}

const EVENT_WAIT: Duration = Duration::from_secs(60);
const RUN_WAIT: Duration = Duration::from_secs(300);

#[test]
fn a_stopped_ffmpeg_is_killed_as_stalled_recorded_as_an_attempt_and_rendered_again() {
    let tmp = temp_dir();
    let (input, plan_dir, filter) = two_slow_chunks(tmp.path());
    let mut worker = JsonWorker::start(args!["work", plan_dir, "-j", "1", "--stall-timeout", "2"]);
    let claimed = worker.wait_for("claimed", EVENT_WAIT);
    let chunk = claimed["task"]["index"].as_u64().unwrap();
    let ffmpeg = ffmpeg_child(worker.pid(), "/chunks/", EVENT_WAIT);
    let stopped = Stopped::stop(ffmpeg);

    let failed = worker.wait_for("failed", EVENT_WAIT);
    let killed_after = stopped.at.elapsed();
    assert_eq!(failed["task"]["index"].as_u64(), Some(chunk));
    assert_eq!(
        (failed["attempt"].as_u64(), failed["exhausted"].as_bool()),
        (Some(1), Some(false))
    );
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("stalled: no progress and no CPU time for 2 s; killed")
            && error.contains("stopped process")
            && error.contains("hung filesystem"),
        "{error}"
    );
    // Its last sign of life came at most one watchdog tick (0.5 s) before it was stopped.
    assert!(
        killed_after >= Duration::from_millis(1500),
        "killed {killed_after:?} after it stopped, before the limit"
    );
    assert!(
        all_gone_within(&[ffmpeg], Duration::from_secs(5)),
        "the stopped ffmpeg was killed"
    );
    drop(stopped);

    assert_eq!(worker.finish(RUN_WAIT), Some(0));
    let published: Vec<u64> = worker
        .seen("published")
        .iter()
        .filter_map(|e| e["task"]["index"].as_u64())
        .collect();
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(
        published.contains(&chunk),
        "the stalled chunk was rendered again"
    );
    let record = read_json(&plan_dir.join(format!("attempts/chunk-{chunk:06}.json")));
    let failures = record["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{record}");
    assert!(failures[0]["error"]
        .as_str()
        .unwrap()
        .starts_with("stalled:"));
    let log = std::fs::read_to_string(plan_dir.join(failures[0]["log"].as_str().unwrap())).unwrap();
    assert!(
        log.contains("command: ffmpeg") && log.contains("stalled:"),
        "{log}"
    );
    assert_eq!(temp_files(&plan_dir), Vec::<PathBuf>::new());

    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(
        framemd5(&out, None),
        framemd5(&input, Some(filter)),
        "frames identical to a serial render"
    );
}

#[test]
fn a_slow_but_working_render_is_not_killed() {
    let tmp = temp_dir();
    let input = tmp.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 1.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let plan_dir = tmp.path().join("job.vre");
    // One frame that takes seconds: ffmpeg reports no progress while it works on it.
    vre_plan(
        &input,
        &plan_dir,
        args![
            "--chunks",
            "1",
            "--range",
            "0:1",
            "--size",
            "1280x720",
            "--vf",
            "nlmeans=s=2:p=35:r=31",
            "--threads",
            "1"
        ],
    );
    let mut worker = JsonWorker::start(args!["work", plan_dir, "--stall-timeout", "1"]);
    assert_eq!(worker.finish(RUN_WAIT), Some(0), "{:?}", worker.names());
    assert!(worker.seen("failed").is_empty(), "{:?}", worker.names());
    assert_eq!(worker.seen("published").len(), 1);
    let mut reports = [worker.seen_at("claimed"), worker.seen_at("progress")].concat();
    reports.sort();
    let longest_silence = reports
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest_silence > Duration::from_secs(2),
        "ffmpeg reported progress every {longest_silence:?} at worst: the test needs silences \
         longer than the 1 s limit, where only its CPU time shows it works"
    );
}

#[test]
fn status_flags_a_running_task_whose_worker_is_stopped_and_its_watchdog_resumes_with_it() {
    let tmp = temp_dir();
    let (_, plan_dir, _) = two_slow_chunks(tmp.path());
    let mut watch = vre()
        .args(args!["status", plan_dir, "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let watched = stdout_lines(&mut watch);
    let mut worker = JsonWorker::start(args!["work", plan_dir, "-j", "1", "--stall-timeout", "2"]);
    let claimed = worker.wait_for("claimed", EVENT_WAIT);
    let chunk = claimed["task"]["index"].as_u64().unwrap() as usize;
    // Everything stops, as when a machine is paused: the render and its worker.
    let ffmpeg = ffmpeg_child(worker.pid(), "/chunks/", EVENT_WAIT);
    let render = Stopped::stop(ffmpeg);
    let paused_worker = Stopped::stop(worker.pid());

    let deadline = Instant::now() + EVENT_WAIT;
    let status = loop {
        let status: Value =
            serde_json::from_slice(&vre_ok(args!["status", plan_dir, "--json"]).stdout).unwrap();
        if status["stalled"] == 1 {
            break status;
        }
        assert!(Instant::now() < deadline, "never flagged: {status:#}");
    };
    let task = &status["tasks"][chunk];
    let holder = format!("{}:{}", vre::sys::host::host_name(), worker.pid());
    assert_eq!(task["state"], "running", "{task:#}");
    assert_eq!(task["stalled"], true);
    assert_eq!(task["holder"].as_str(), Some(holder.as_str()));
    assert!(
        task["progress_age_seconds"].as_f64().unwrap() > 2.0,
        "{task:#}"
    );
    assert_eq!(task["progress"]["stall_limit_seconds"].as_f64(), Some(2.0));
    let text = String::from_utf8(vre_ok(args!["status", plan_dir]).stdout).unwrap();
    assert!(
        text.contains("(1 stalled)") && text.contains(&format!("{holder}, last progress")),
        "{text}"
    );
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, line) = watched
            .recv_timeout(left)
            .expect("vre status --watch shows the stall");
        if line.contains("STALLED") && line.contains(&holder) {
            break;
        }
    }

    // The worker goes on, its render stays stopped: the watchdog counts the render's silence
    // from the worker's resumption (the time the worker was stopped itself proves nothing),
    // then kills it.
    drop(paused_worker);
    let resumed = Instant::now();
    let failed = worker.wait_for("failed", EVENT_WAIT);
    assert!(
        resumed.elapsed() >= Duration::from_millis(1500),
        "killed {:?} after its worker resumed, before the limit",
        resumed.elapsed()
    );
    assert!(failed["error"].as_str().unwrap().starts_with("stalled:"));
    drop(render);
    assert_eq!(worker.finish(RUN_WAIT), Some(0));
    let watch_status = watch.wait().unwrap();
    assert!(
        watch_status.success(),
        "--watch exits 0 once the run completes"
    );
}

#[test]
fn a_stopped_audio_render_is_killed_as_stalled_too() {
    let tmp = temp_dir();
    let input = tmp.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 3.0,
            ..VideoSpec::default()
        },
    );
    let plan_dir = tmp.path().join("job.vre");
    // A denoise that makes the audio render last a few seconds.
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "1", "--af", "anlmdn=s=7:p=0.01:r=0.1"],
    );
    let mut worker = JsonWorker::start(args!["work", plan_dir, "--stall-timeout", "2"]);
    let is_audio = |e: &Value, name: &str| e["event"] == name && e["task"]["kind"] == "audio";
    worker.wait_until("the audio's claim", EVENT_WAIT, |e| is_audio(e, "claimed"));
    let ffmpeg = ffmpeg_child(worker.pid(), "/audio/", EVENT_WAIT);
    let stopped = Stopped::stop(ffmpeg);
    let failed = worker.wait_until("the audio's failure", EVENT_WAIT, |e| is_audio(e, "failed"));
    assert!(
        failed["error"].as_str().unwrap().starts_with("stalled:"),
        "{failed}"
    );
    assert!(all_gone_within(&[ffmpeg], Duration::from_secs(5)));
    drop(stopped);
    assert_eq!(worker.finish(RUN_WAIT), Some(0));
    assert!(worker
        .seen("published")
        .into_iter()
        .any(|e| is_audio(e, "published")));
    let record = read_json(&plan_dir.join("attempts/audio.json"));
    assert!(
        record["failures"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("stalled:"),
        "{record}"
    );
}

#[test]
fn progress_records_carry_the_workers_stall_limit_120_s_by_default_none_when_off() {
    let tmp = temp_dir();
    let (_, plan_dir, _) = two_slow_chunks(tmp.path());
    let limit_while_rendering = |options: &[&str]| {
        let mut worker = JsonWorker::start(
            args!["work", plan_dir]
                .into_iter()
                .chain(options.iter().map(std::ffi::OsString::from))
                .collect(),
        );
        let claimed = worker.wait_for("claimed", EVENT_WAIT);
        let chunk = claimed["task"]["index"].as_u64().unwrap();
        let record = read_json(&plan_dir.join(format!("progress/chunk-{chunk:06}.json")));
        assert_eq!(worker.finish(RUN_WAIT), Some(0));
        record["stall_limit_seconds"].clone()
    };
    // No chunk of the plan is published yet: nothing shows it slow, the floor applies.
    assert_eq!(limit_while_rendering(&["--once"]), Value::from(120.0));
    assert_eq!(
        limit_while_rendering(&["--once", "--stall-timeout", "0"]),
        Value::Null
    );
}
