//! The core path: plan, work, assemble, run — frame-exact, lock-claimed, verified, resumable.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

fn ntsc_video(dir: &Path, seconds: f64) -> std::path::PathBuf {
    let input = dir.join("in put's -x.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds,
            ..VideoSpec::default()
        },
    );
    input
}

#[test]
fn chunked_lossless_run_is_frame_identical_to_serial_ffmpeg() {
    let tmp = temp_dir();
    let input = ntsc_video(tmp.path(), 6.0);
    let out = tmp.path().join("out.mp4");
    vre_ok(args![
        "run", input, "-o", out, "--crf", "0", "--vf", "hue=s=0", "--chunks", "6", "-j", "2"
    ]);

    let expected = framemd5(&input, Some("hue=s=0"));
    let got = framemd5(&out, None);
    assert!(
        expected.len() >= 170,
        "the input has {} frames",
        expected.len()
    );
    assert_eq!(
        got.len(),
        expected.len(),
        "frame count differs from serial ffmpeg"
    );
    let first_diff = got.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "decoded frames differ from serial ffmpeg");

    let video = stream(&out, "video").unwrap();
    assert_eq!(video["r_frame_rate"], "30000/1001");
    assert_eq!(video["avg_frame_rate"], "30000/1001");
    assert_eq!(num(&video, "nb_read_packets") as usize, expected.len());
    assert!(
        !tmp.path().join("out.mp4.vre").exists(),
        "planDir is removed after success"
    );
}

/// `vre run -j N` with the default chunk length gives a clip too short for N ten-second chunks
/// N chunks, so that no worker idles, and stays frame-exact.
#[test]
fn vre_run_gives_every_worker_a_chunk_of_a_short_clip() {
    let tmp = temp_dir();
    let input = ntsc_video(tmp.path(), 3.0);
    let expected = framemd5(&input, None);
    for (jobs, chunks) in [("1", 1), ("2", 2)] {
        let out = tmp.path().join(format!("out-{jobs}.mp4"));
        vre_ok(args![
            "run",
            input,
            "-o",
            out,
            "--crf",
            "0",
            "-j",
            jobs,
            "--keep-temp",
            "-q"
        ]);
        let planned = read_json(&tmp.path().join(format!("out-{jobs}.mp4.vre/chunks.json")));
        assert_eq!(planned.as_array().map(Vec::len), Some(chunks), "-j {jobs}");
        assert_eq!(framemd5(&out, None), expected, "-j {jobs}");
    }
}

#[test]
fn default_chunks_are_long_enough_that_the_preroll_stays_cheap() {
    // 30 s at 10 fps: default chunks are 10 s (100 frames); hqdn3d's preroll is one second
    // (10 frames), deshake's 90 frames.
    let tmp = temp_dir();
    let input = tmp.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            size: "64x64",
            rate: "10",
            seconds: 30.0,
            audio: false,
        },
    );
    let chunks_of = |plan_dir: &Path| {
        read_json(&plan_dir.join("chunks.json"))
            .as_array()
            .map(Vec::len)
    };
    let reason_of =
        |plan_dir: &Path| read_json(&plan_dir.join("plan.json"))["preroll"]["reason"].to_string();
    // Where the workers are unknown (`vre plan`, chunks for any number of machines): 10 s, or
    // 10 prerolls (900 frames for deshake: one chunk).
    for (filter, chunks) in [("hqdn3d", 3), ("deshake", 1)] {
        let planned = tmp.path().join(format!("{filter}.vre"));
        vre_plan(&input, &planned, ["--vf", filter]);
        assert_eq!(chunks_of(&planned), Some(chunks), "vre plan --vf {filter}");
        let reason = reason_of(&planned);
        assert_eq!(
            reason.contains("10 % of their work"),
            filter == "deshake",
            "{reason}"
        );
    }
    for (filter, chunks) in [("hqdn3d", 2), ("hue=s=0.5", 4)] {
        let out = tmp.path().join(format!("{filter}.mp4"));
        vre_ok(args![
            "run",
            input,
            "-o",
            out,
            "--vf",
            filter,
            "-j",
            "2",
            "--keep-temp",
            "-q"
        ]);
        let plan_dir = tmp.path().join(format!("{filter}.mp4.vre"));
        // With a preroll, 50 prerolls (500 frames) a chunk, rounded up to one per worker;
        // without one, 10 s chunks rounded up to a multiple of the workers.
        assert_eq!(chunks_of(&plan_dir), Some(chunks), "{filter}");
        let reason = reason_of(&plan_dir);
        assert_eq!(
            reason.contains("2 % of their work"),
            filter == "hqdn3d",
            "{reason}"
        );
        assert_eq!(framemd5(&out, None).len(), 300, "{filter}");
    }
}

#[test]
fn output_audio_starts_at_zero_and_lasts_the_video() {
    let tmp = temp_dir();
    let input = ntsc_video(tmp.path(), 5.0);
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["run", input, "-o", out, "--chunks", "5", "-j", "2"]);

    let video = stream(&out, "video").unwrap();
    let audio = stream(&out, "audio").expect("the input's audio is in the output");
    let frames = num(&video, "nb_read_packets");
    let video_seconds = frames * 1001.0 / 30000.0;
    let aac_frame = 1024.0 / 48000.0;
    assert_eq!(num(&audio, "start_time"), 0.0, "audio starts at 0");
    assert!(
        (num(&audio, "duration") - video_seconds).abs() <= aac_frame,
        "audio lasts {} s, video {video_seconds} s",
        num(&audio, "duration")
    );
    // What a player decodes, priming removed: within one AAC frame of the video too.
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out)
        .args(["-map", "0:a", "-ac", "1", "-f", "s16le", "-"])
        .output()
        .unwrap();
    let samples = decoded.stdout.len() as f64 / 2.0;
    assert!(
        (samples - video_seconds * 48000.0).abs() <= 1024.0,
        "decoded {samples} samples for {video_seconds} s of video"
    );
}

#[test]
fn two_worker_processes_render_every_chunk_exactly_once() {
    let (tmp, input) = scratch_input(VideoSpec {
        size: "640x360",
        seconds: 6.0,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "12", "--vf", "smartblur=lr=3", "--threads", "1"],
    );
    let spawn = || {
        vre()
            .args(args!["work", plan_dir, "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (pid_a, pid_b) = (a.id(), b.id());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "worker a: {}", stderr(&a));
    assert!(b.status.success(), "worker b: {}", stderr(&b));

    let (by_a, by_b) = (published(&a.stdout), published(&b.stdout));
    assert!(
        !by_a.is_empty() && !by_b.is_empty(),
        "both workers rendered: {by_a:?} / {by_b:?}"
    );
    let all: Vec<&String> = by_a.iter().chain(&by_b).collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        distinct.len(),
        "a task was rendered twice: {all:?}"
    );
    assert_eq!(distinct.len(), 13, "12 chunks and the audio: {distinct:?}");

    for (i, file) in chunk_files(&plan_dir).iter().enumerate() {
        let sidecar = read_json(&file.with_extension("json"));
        let pid = sidecar["pid"].as_u64().unwrap() as u32;
        let publisher = if by_a.contains(&format!("chunk:{i}")) {
            pid_a
        } else {
            pid_b
        };
        assert_eq!(pid, publisher, "chunk {i}'s sidecar names its renderer");
    }
    vre_ok(args![
        "assemble",
        plan_dir,
        "-o",
        tmp.path().join("out.mp4")
    ]);
}

#[test]
fn a_sigkilled_worker_leaves_no_orphan_and_a_rerun_completes_frame_exact() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 3.0,
        audio: false,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    // nlmeans is slow enough that a chunk takes well over the one second an orphan may live.
    let filter = "nlmeans=s=2,hue=s=0";
    vre_plan_lossless(&input, &plan_dir, "3", filter);
    // One chunk at a time (the default fills the host): killed while it renders its second
    // chunk, after one publication, at the next claim.
    let mut worker = vre()
        .args(args!["work", plan_dir, "-j", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(worker.stdout.take().unwrap()).lines();
    let mut chunk_seconds = None;
    for line in lines.by_ref() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "published" {
            chunk_seconds = event["seconds"].as_f64();
        }
        if chunk_seconds.is_some() && event["event"] == "claimed" {
            break;
        }
    }
    let chunk_seconds = chunk_seconds.unwrap();
    assert!(
        chunk_seconds > 1.2,
        "a chunk must outlast the allowance, took {chunk_seconds} s"
    );
    // The claim is announced just before ffmpeg starts: wait for the child to appear.
    let ffmpeg_children = wait_for_children(worker.id());
    assert!(!ffmpeg_children.is_empty(), "the worker is rendering");
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert!(
        all_gone_within(&ffmpeg_children, Duration::from_secs(1)),
        "ffmpeg outlived its SIGKILLed worker by more than a second"
    );

    let rerun = vre_ok(args!["work", plan_dir, "--json"]);
    let rendered = published(&rerun.stdout);
    assert_eq!(
        rendered.len(),
        2,
        "the finished chunk was kept: rerun rendered {rendered:?}"
    );
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(framemd5(&out, None), framemd5(&input, Some(filter)));
    assert_eq!(
        temp_files(&plan_dir),
        Vec::<std::path::PathBuf>::new(),
        "temp files left"
    );
}

fn rendered_plan(dir: &Path, name: &str, input: &Path, crf: &str) -> std::path::PathBuf {
    let plan_dir = dir.join(name);
    vre_plan(input, &plan_dir, args!["--chunks", "4", "--crf", crf]);
    vre_ok(args!["work", plan_dir, "-j", "2", "-q"]);
    plan_dir
}

fn assert_refused(plan_dir: &Path, out: &Path, code: i32, names: &str) {
    let result = run_vre(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(result.status.code(), Some(code), "{}", stderr(&result));
    assert!(
        stderr(&result).contains(names),
        "message names {names}: {}",
        stderr(&result)
    );
    assert!(!out.exists(), "OUT must not be created");
    let partial = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .any(|n| n.starts_with(".out.mp4"));
    assert!(!partial, "no partial OUT is left behind");
}

#[test]
fn assemble_refuses_flipped_bytes_foreign_sidecars_and_missing_chunks() {
    let tmp = temp_dir();
    let input = ntsc_video(tmp.path(), 3.0);
    let plan_dir = rendered_plan(tmp.path(), "a.vre", &input, "20");
    let other = rendered_plan(tmp.path(), "b.vre", &input, "30");
    let out = tmp.path().join("out.mp4");
    let chunk = |dir: &Path, i: usize| dir.join(format!("chunks/chunk-{i:06}.mp4"));
    let sidecar = |dir: &Path, i: usize| dir.join(format!("chunks/chunk-{i:06}.json"));

    let pristine = std::fs::read(chunk(&plan_dir, 2)).unwrap();
    let mut flipped = pristine.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(chunk(&plan_dir, 2), &flipped).unwrap();
    assert_refused(&plan_dir, &out, 65, "chunk 2");
    std::fs::write(chunk(&plan_dir, 2), &pristine).unwrap();

    let own = std::fs::read(sidecar(&plan_dir, 1)).unwrap();
    std::fs::copy(sidecar(&other, 1), sidecar(&plan_dir, 1)).unwrap();
    assert_refused(&plan_dir, &out, 65, "chunk 1");
    std::fs::write(sidecar(&plan_dir, 1), own).unwrap();

    std::fs::remove_file(chunk(&plan_dir, 3)).unwrap();
    assert_refused(&plan_dir, &out, 65, "chunk 3");

    std::fs::remove_file(sidecar(&plan_dir, 3)).unwrap();
    assert_refused(&plan_dir, &out, 75, "chunk 3 is not rendered yet");

    vre_ok(args!["work", plan_dir, "-q"]);
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(
        framemd5(&out, None).len(),
        num(&stream(&input, "video").unwrap(), "nb_read_packets") as usize
    );
}

#[test]
fn planning_is_idempotent_refuses_other_plans_and_force_waits_for_workers() {
    let tmp = temp_dir();
    let input = ntsc_video(tmp.path(), 2.0);
    let plan_dir = tmp.path().join("job.vre");
    let plan = |extra: &[&str]| {
        let mut a = args!["plan", input, "-o", plan_dir, "--chunks", "3"];
        a.extend(extra.iter().map(OsString::from));
        run_vre(a)
    };
    assert!(plan(&[]).status.success());
    let written = std::fs::read(plan_dir.join("plan.json")).unwrap();
    let again = plan(&[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));
    assert_eq!(std::fs::read(plan_dir.join("plan.json")).unwrap(), written);

    let different = plan(&["--crf", "30"]);
    assert_eq!(different.status.code(), Some(73), "{}", stderr(&different));
    assert!(
        stderr(&different).contains("different plan") && stderr(&different).contains("--force")
    );
    assert_eq!(std::fs::read(plan_dir.join("plan.json")).unwrap(), written);

    let dir = vre::plandir::layout::PlanDir::new(&plan_dir);
    let worker = vre::plandir::claim::lock_plan_shared(&dir).unwrap();
    let busy = plan(&["--crf", "30", "--force"]);
    assert_eq!(busy.status.code(), Some(75), "{}", stderr(&busy));
    assert!(stderr(&busy).contains("in use"));
    drop(worker);
    let chunk = vre::plandir::claim::try_claim(&dir, vre::plandir::schema::TaskId::Chunk(1))
        .unwrap()
        .unwrap();
    assert_eq!(plan(&["--crf", "30", "--force"]).status.code(), Some(75));
    drop(chunk);
    let forced = plan(&["--crf", "30", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(String::from_utf8_lossy(&forced.stdout).contains("replaced"));
    assert_eq!(read_json(&plan_dir.join("plan.json"))["encoder"]["crf"], 30);
}

#[test]
fn edited_plans_and_changed_inputs_are_refused() {
    let tmp = temp_dir();
    let input = ntsc_video(tmp.path(), 2.0);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "2"]);
    let plan_path = plan_dir.join("plan.json");
    let original = std::fs::read_to_string(&plan_path).unwrap();

    std::fs::write(&plan_path, original.replace("\"crf\": 20", "\"crf\": 21")).unwrap();
    let edited = run_vre(args!["work", plan_dir]);
    assert_eq!(edited.status.code(), Some(65), "{}", stderr(&edited));
    assert!(stderr(&edited).contains("edited"));

    std::fs::write(&plan_path, &original).unwrap();
    let chunks_path = plan_dir.join("chunks.json");
    let chunks = std::fs::read_to_string(&chunks_path).unwrap();
    std::fs::write(
        &chunks_path,
        chunks.replacen("\"end_frame\": ", "\"end_frame\": 1", 1),
    )
    .unwrap();
    assert_eq!(run_vre(args!["work", plan_dir]).status.code(), Some(65));
    std::fs::write(&chunks_path, chunks).unwrap();

    let mut bytes = std::fs::read(&input).unwrap();
    bytes.extend_from_slice(b"appended");
    std::fs::write(&input, bytes).unwrap();
    let changed = run_vre(args!["work", plan_dir]);
    assert_eq!(changed.status.code(), Some(65), "{}", stderr(&changed));
    assert!(stderr(&changed).contains("changed since it was planned"));
}

#[test]
fn status_counts_tasks_and_frames() {
    let tmp = temp_dir();
    let input = ntsc_video(tmp.path(), 2.0);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "3"]);
    let status = |dir: &Path| -> Value {
        serde_json::from_slice(&vre_ok(args!["status", dir, "--json"]).stdout).unwrap()
    };
    let before = status(&plan_dir);
    assert_eq!(
        (before["total"].as_u64(), before["pending"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(before["frames_done"], 0);

    let dir = vre::plandir::layout::PlanDir::new(&plan_dir);
    let held = vre::plandir::claim::try_claim(&dir, vre::plandir::schema::TaskId::Chunk(0))
        .unwrap()
        .unwrap();
    assert_eq!(status(&plan_dir)["running"], 1);
    drop(held);

    vre_ok(args!["work", plan_dir, "-q"]);
    let after = status(&plan_dir);
    assert_eq!(after["done"], 4);
    assert_eq!(after["frames_done"], after["frames_total"]);
    let states: HashMap<String, usize> =
        after["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .fold(HashMap::new(), |mut m, t| {
                *m.entry(t["state"].as_str().unwrap().to_string())
                    .or_default() += 1;
                m
            });
    assert_eq!(states.get("done"), Some(&4));
}

#[test]
fn a_range_renders_exactly_its_frames() {
    let tmp = temp_dir();
    let input = ntsc_video(tmp.path(), 4.0);
    let all = framemd5(&input, None);
    for (range, first, end) in [("30:100", 30, 100), ("1s:2.5s", 30, 75)] {
        let out = tmp.path().join(format!("range-{first}-{end}.mp4"));
        vre_ok(args![
            "run", input, "-o", out, "--crf", "0", "--range", range, "--chunks", "3"
        ]);
        assert_eq!(framemd5(&out, None), all[first..end], "--range {range}");
        let audio = stream(&out, "audio").unwrap();
        let seconds = (end - first) as f64 * 1001.0 / 30000.0;
        assert!((num(&audio, "duration") - seconds).abs() <= 1024.0 / 48000.0);
    }
}
