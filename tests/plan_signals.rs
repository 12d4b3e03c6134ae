//! `vre plan` (and the plan stage of `vre run`) under signals: SIGINT/SIGTERM kill its ffmpeg
//! and ffprobe children, remove its scratch folder, write nothing and exit 130; SIGKILL cannot be
//! handled, but its children die with it (PR_SET_PDEATHSIG).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A filter whose five-frame trial takes minutes at 1280x720: planning is still running when
/// the test signals it.
const HEAVY: &str = "nlmeans=s=10:p=15:r=31";

/// A 2 s 1280x720 clip in a scratch directory, and an empty folder for TMPDIR beside it.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, input) = scratch_input(VideoSpec {
        size: "1280x720",
        seconds: 2.0,
        audio: false,
        ..VideoSpec::default()
    });
    let scratch = tmp.path().join("tmpdir");
    std::fs::create_dir(&scratch).unwrap();
    (tmp, input, scratch)
}

/// Starts vre with `args` and TMPDIR pointing at `scratch`.
fn start(args: Vec<std::ffi::OsString>, scratch: &Path) -> Child {
    vre()
        .args(args)
        .env("TMPDIR", scratch)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `signal` to a child process of the test.
fn send(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
}

/// The entries of a directory (hidden ones included).
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn sigterm_during_the_trial_kills_its_ffmpeg_removes_the_scratch_folder_and_exits_130() {
    let (tmp, input, scratch) = setup();
    let plan_dir = tmp.path().join("job.vre");
    let planning = start(
        args!["plan", input, "-o", plan_dir, "--vf", HEAVY, "-q"],
        &scratch,
    );
    let trial = ffmpeg_child(planning.id(), "nlmeans", Duration::from_secs(60));
    assert!(
        !entries(&scratch).is_empty(),
        "the trial's scratch folder is in TMPDIR while it runs"
    );
    send(&planning, libc::SIGTERM);
    let out = planning.wait_with_output().unwrap();
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{message}");
    assert!(
        message.contains("interrupted") && message.contains("nothing was written"),
        "{message}"
    );
    assert!(
        all_gone_within(&[trial], Duration::from_secs(2)),
        "the trial's ffmpeg is gone"
    );
    assert_eq!(entries(&scratch), Vec::<PathBuf>::new(), "TMPDIR is clean");
    assert!(!plan_dir.exists(), "no planDir was started");
}

#[test]
fn sigkill_during_the_trial_takes_its_ffmpeg_along() {
    let (tmp, input, scratch) = setup();
    let plan_dir = tmp.path().join("job.vre");
    let mut planning = start(
        args!["plan", input, "-o", plan_dir, "--vf", HEAVY, "-q"],
        &scratch,
    );
    let trial = ffmpeg_child(planning.id(), "nlmeans", Duration::from_secs(60));
    planning.kill().unwrap();
    planning.wait().unwrap();
    assert!(
        all_gone_within(&[trial], Duration::from_secs(5)),
        "the trial's ffmpeg died with vre (PR_SET_PDEATHSIG)"
    );
    assert!(!plan_dir.exists(), "no planDir was started");
}

#[test]
fn sigint_while_vre_run_tries_a_replacing_plan_keeps_the_old_plan_whole() {
    let (tmp, input, scratch) = setup();
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "2", "-q"]);
    let plan_before = std::fs::read(plan_dir.join("plan.json")).unwrap();
    let chunks_before = std::fs::read(plan_dir.join("chunks.json")).unwrap();
    // A different plan for the same planDir: `vre run` tries its settings before replacing
    // anything.
    let out = tmp.path().join("out.mp4");
    let running = start(
        args![
            "run",
            input,
            "-o",
            out,
            "--plan-dir",
            plan_dir,
            "--force",
            "--vf",
            HEAVY,
            "-q"
        ],
        &scratch,
    );
    let trial = ffmpeg_child(running.id(), "nlmeans", Duration::from_secs(60));
    send(&running, libc::SIGINT);
    let finished = running.wait_with_output().unwrap();
    assert_eq!(finished.status.code(), Some(130), "{}", stderr(&finished));
    assert!(
        all_gone_within(&[trial], Duration::from_secs(2)),
        "the trial's ffmpeg is gone"
    );
    assert_eq!(entries(&scratch), Vec::<PathBuf>::new(), "TMPDIR is clean");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read(plan_dir.join("plan.json")).unwrap(),
        plan_before,
        "the old plan is untouched"
    );
    assert_eq!(
        std::fs::read(plan_dir.join("chunks.json")).unwrap(),
        chunks_before
    );
    assert_eq!(temp_files(&plan_dir), Vec::<PathBuf>::new());
    vre_ok(args!["work", plan_dir, "-q"]);
}
