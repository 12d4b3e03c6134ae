//! Errors of the environment are not failures of the chunk: a planDir whose disk fills up and an
//! input that vanishes mid-run stop `vre work` with exit 75, charge no attempt, leave nothing
//! behind, and a later `vre work` without flags resumes once the environment is fixed. A disk
//! that fills up while `vre assemble` writes OUT is the same: exit 75, OUT untouched, nothing
//! left, and assembly succeeds once there is room.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A tmpfs mounted for a test, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `3m`) at `at`; `None` where mounting is not permitted.
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .ok()?;
        out.status.success().then(|| Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "remount of {} to {size}",
            self.0.display()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// What `vre status --json` says.
fn status_json(plan_dir: &Path) -> Value {
    serde_json::from_slice(&vre_ok(args!["status", plan_dir, "--json"]).stdout).unwrap()
}

/// Asserts that no chunk was charged an attempt, that the environment error is recorded apart
/// (in `attempts/`, `vre status` and the report), that no temp file is left and that every chunk
/// file present is proven by its sidecar.
fn assert_stopped_cleanly(plan_dir: &Path, cause: &str) {
    let status = status_json(plan_dir);
    assert_eq!(status["failed"], 0, "no chunk is marked failed: {status:#}");
    let tasks = status["tasks"].as_array().unwrap();
    assert!(
        tasks.iter().all(|t| t["failed_attempts"] == 0),
        "{status:#}"
    );
    assert!(status["environment_errors"].as_u64().unwrap() >= 1);
    let recorded = tasks
        .iter()
        .find_map(|t| t.get("last_environment_error"))
        .expect("the environment error is recorded");
    assert_eq!(recorded["cause"], cause);
    let text = stdout_of(&vre_ok(args!["status", plan_dir]));
    assert!(
        text.contains("environment error(s), not attempts"),
        "{text}"
    );
    let report = plan_dir.join("report.html");
    vre_ok(args!["report", plan_dir, "-o", report, "-q"]);
    let html = std::fs::read_to_string(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    assert!(html.contains("Environment errors (") && html.contains(cause));

    let schema =
        read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/attempts.schema.json"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    let records: Vec<Value> = std::fs::read_dir(plan_dir.join("attempts"))
        .unwrap()
        .map(|e| read_json(&e.unwrap().path()))
        .collect();
    assert!(records
        .iter()
        .any(|r| r["environment"][0]["cause"] == cause));
    for record in &records {
        assert!(validator.is_valid(record), "{record:#} matches its schema");
    }

    assert_eq!(temp_files(plan_dir), Vec::<PathBuf>::new(), "no temp file");
    for chunk in chunk_files(plan_dir) {
        assert!(
            chunk.with_extension("json").exists(),
            "{} is published only with its sidecar",
            chunk.display()
        );
    }
    vre_ok(args!["verify", plan_dir, "--dry-run", "-q"]);
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_full_disk_stops_the_worker_with_75_and_work_resumes_once_there_is_room() {
    let tmp = temp_dir();
    let mount = tmp.path().join("small");
    let Some(tmpfs) = Tmpfs::mount(&mount, "3m") else {
        println!("skipped: mounting a tmpfs is not permitted here");
        return;
    };
    // 8 s of 640x360, rendered losslessly: about 4.3 MB of chunks for a 3 MB filesystem.
    let input = tmp.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            size: "640x360",
            rate: "30",
            seconds: 8.0,
            audio: false,
        },
    );
    let plan_dir = mount.join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "8", "--crf", "0", "--threads", "1", "-q"],
    );
    let full = run_vre(args!["work", plan_dir, "--no-space-check", "-q"]);
    let message = stderr(&full);
    println!("{message}");
    assert_eq!(full.status.code(), Some(75), "{message}");
    assert!(
        message.contains("disk holding") && message.contains(&*plan_dir.to_string_lossy()),
        "names the disk: {message}"
    );
    assert!(message.contains("free space"), "says what to do: {message}");
    assert!(
        chunk_files(&plan_dir).len() < 8,
        "the disk filled up mid-run"
    );
    assert_stopped_cleanly(&plan_dir, "disk-full");

    tmpfs.resize("64m");
    vre_ok(args!["work", plan_dir, "-q"]);
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out, "-q"]);
    // Lossless: a clean render's frames are the input's frames.
    assert_eq!(framemd5(&out, None), framemd5(&input, None));
}

#[test]
fn an_input_that_vanishes_mid_run_stops_the_worker_with_75_and_work_resumes_once_it_is_back() {
    // The input lives on a "share" (a directory) that goes away and comes back: the file
    // itself is untouched (a rename of the file would change its status-change time, and vre
    // would rightly refuse it as changed).
    let tmp = temp_dir();
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).unwrap();
    let input = share.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 4.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "8", "--crf", "0", "--threads", "1", "-q"],
    );
    let mut worker = vre()
        .args(args!["work", plan_dir, "--json", "-j", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut events = BufReader::new(worker.stdout.take().unwrap()).lines();
    // Once the first chunk is published, the share "goes away" (renamed: it comes back intact).
    let away = tmp.path().join("share.away");
    for line in events.by_ref() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "published" {
            std::fs::rename(&share, &away).unwrap();
            break;
        }
    }
    let rest: Vec<Value> = events
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let mut message = String::new();
    worker
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut message)
        .unwrap();
    let status = worker.wait().unwrap();
    println!("{message}");
    assert_eq!(status.code(), Some(75), "{message}");
    let stopped = rest
        .iter()
        .find(|e| e["event"] == "environment")
        .expect("an environment event");
    assert_eq!(stopped["cause"], "input-missing");
    assert!(
        !rest.iter().any(|e| e["event"] == "failed"),
        "no attempt failed"
    );
    let error = stopped["error"].as_str().unwrap();
    println!("{error}");
    assert!(
        error.contains(&*input.to_string_lossy()) && error.contains("vre work"),
        "names the input and what to do: {error}"
    );
    assert_stopped_cleanly(&plan_dir, "input-missing");

    std::fs::rename(&away, &share).unwrap();
    vre_ok(args!["work", plan_dir, "-q"]);
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out, "-q"]);
    assert_eq!(framemd5(&out, None), framemd5(&input, None));
}

#[test]
fn a_full_disk_during_assembly_exits_75_leaves_nothing_behind_and_assembly_succeeds_once_there_is_room(
) {
    let tmp = temp_dir();
    let mount = tmp.path().join("small");
    let Some(tmpfs) = Tmpfs::mount(&mount, "1m") else {
        println!("skipped: mounting a tmpfs is not permitted here");
        return;
    };
    let input = tmp.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            size: "640x360",
            rate: "30",
            seconds: 4.0,
            audio: true,
        },
    );
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "2", "--crf", "0", "-q"],
    );
    vre_ok(args!["work", plan_dir, "-q"]);
    let chunk_bytes: u64 = chunk_files(&plan_dir)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(chunk_bytes > 1 << 20, "OUT cannot fit: {chunk_bytes} bytes");
    let out = mount.join("out.mp4");

    // The preflight refuses, naming the flag `vre assemble` has to skip it.
    let refused = run_vre(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(refused.status.code(), Some(73), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--no-space-check"));

    // Skipped: the disk fills up while ffmpeg writes OUT.
    let full = run_vre(args!["assemble", plan_dir, "-o", out, "--no-space-check"]);
    let message = stderr(&full);
    println!("{message}");
    assert_eq!(full.status.code(), Some(75), "{message}");
    assert!(
        message.contains(&format!("the disk holding {} is full", mount.display())),
        "names OUT's filesystem: {message}"
    );
    assert!(
        message.contains("free space")
            && message.contains(&format!("vre assemble {}", plan_dir.display())),
        "says what to do: {message}"
    );
    assert!(!out.exists(), "OUT is not written");
    assert_eq!(
        std::fs::read_dir(&mount).unwrap().count(),
        0,
        "no hidden partial OUT is left"
    );
    assert_eq!(
        temp_files(&plan_dir),
        Vec::<PathBuf>::new(),
        "no concat list"
    );
    vre_ok(args!["verify", plan_dir, "--dry-run", "-q"]);

    tmpfs.resize("64m");
    vre_ok(args!["assemble", plan_dir, "-o", out, "-q"]);
    assert_eq!(framemd5(&out, None), framemd5(&input, None));
}

#[test]
fn a_plan_that_cannot_be_written_for_a_full_disk_exits_75_and_planning_again_with_room_succeeds() {
    let tmp = temp_dir();
    let mount = tmp.path().join("small");
    // One page: the frame index fits, the plan does not.
    let Some(tmpfs) = Tmpfs::mount(&mount, "4k") else {
        println!("skipped: mounting a tmpfs is not permitted here");
        return;
    };
    let input = tmp.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 1.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let plan_dir = mount.join("job.vre");
    let full = run_vre(args!["plan", input, "-o", plan_dir, "--chunks", "2"]);
    let message = stderr(&full);
    println!("{message}");
    assert_eq!(full.status.code(), Some(75), "{message}");
    assert!(
        message.contains("No space left on device")
            && message.contains(&*plan_dir.to_string_lossy())
            && message.contains("free space")
            && message.contains("run the same command again"),
        "names the file and what to do: {message}"
    );
    assert_eq!(temp_files(&mount), Vec::<PathBuf>::new(), "no temp file");

    tmpfs.resize("64m");
    vre_plan(&input, &plan_dir, args!["--chunks", "2", "-q"]);
    vre_ok(args!["work", plan_dir, "-q"]);
}
