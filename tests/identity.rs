//! Identity before anything is published: an input (or audio track) that changes under a run,
//! a worker that outlives its plan, and locks that fail or do not exclude.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};
use vre::plandir::claim::{self, ClaimRecord};
use vre::plandir::error::PlanDirError;
use vre::plandir::layout::PlanDir;
use vre::plandir::publish::{self, Rendered};
use vre::plandir::schema::{Media, TaskId};
use vre::sys::host::ProcessIdentity;

/// Slow enough (about 20 frames a second at 320x240 on one thread) to act while a chunk renders;
/// planned lossless (`vre_plan_lossless`) so that outputs compare frame by frame.
const SLOW: &str = "nlmeans=s=2";

/// Two raw-video clips of exactly the same size with different pictures (testsrc2 and its
/// negative): overwriting one with the other changes the content but not the size.
fn same_size_clips(dir: &Path) -> (PathBuf, PathBuf) {
    let make = |name: &str, filter: &str| {
        let path = dir.join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=4",
            "-vf",
            filter,
            "-c:v",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "nut",
            path.to_str().unwrap(),
        ]);
        path
    };
    let (planned, other) = (make("planned.nut", "null"), make("other.nut", "negate"));
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert_eq!(size(&planned), size(&other), "the same size");
    assert_ne!(
        std::fs::read(&planned).unwrap(),
        std::fs::read(&other).unwrap()
    );
    (planned, other)
}

/// A copy of `clip` as the job's input `in.nut`.
fn input_from(dir: &Path, clip: &Path) -> PathBuf {
    let input = dir.join("in.nut");
    std::fs::copy(clip, &input).unwrap();
    input
}

/// `cp FROM TO`, then, when `keep_mtime`, `touch -r` with a reference taken before: what a user
/// restoring a file's modification time does.
fn overwrite(to: &Path, from: &Path, keep_mtime: bool) {
    let reference = to.with_extension("mtime-ref");
    let run = |cmd: &mut Command| assert!(cmd.status().unwrap().success(), "{cmd:?}");
    run(Command::new("touch").arg("-r").arg(to).arg(&reference));
    run(Command::new("cp").arg(from).arg(to));
    if keep_mtime {
        run(Command::new("touch").arg("-r").arg(&reference).arg(to));
        assert_eq!(
            std::fs::metadata(to).unwrap().modified().unwrap(),
            std::fs::metadata(&reference).unwrap().modified().unwrap()
        );
    }
}

/// How long a test waits for a worker's next event, and for a worker to finish.
const EVENT_WAIT: Duration = Duration::from_secs(120);
const RUN_WAIT: Duration = Duration::from_secs(300);

fn published_chunks(plan_dir: &Path) -> Vec<((usize, usize), PathBuf)> {
    chunk_files(plan_dir)
        .into_iter()
        .filter(|file| file.with_extension("json").exists())
        .map(|file| {
            let sidecar = read_json(&file.with_extension("json"));
            let range = |k: &str| sidecar["media"][k].as_u64().unwrap() as usize;
            ((range("start_frame"), range("end_frame")), file)
        })
        .collect()
}

/// No task of the planDir has a failed attempt on record.
fn no_failed_attempts(plan_dir: &Path) -> bool {
    let dir = PlanDir::new(plan_dir);
    dir.load()
        .unwrap()
        .tasks()
        .into_iter()
        .all(|t| vre::plandir::attempts::read(&dir, t).failures.is_empty())
}

#[test]
fn an_input_overwritten_with_its_mtime_restored_is_refused_before_anything_renders() {
    let tmp = temp_dir();
    let (planned, other) = same_size_clips(tmp.path());
    let input = input_from(tmp.path(), &planned);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "2"]);

    let intact = run_vre(args!["verify", plan_dir, "--input"]);
    assert_eq!(intact.status.code(), Some(0), "{}", stderr(&intact));
    assert!(stderr(&intact).contains("unchanged"), "{}", stderr(&intact));

    overwrite(&input, &other, true);
    let work = run_vre(args!["work", plan_dir]);
    assert_eq!(work.status.code(), Some(65), "{}", stderr(&work));
    let said = stderr(&work);
    assert!(
        said.contains(&input.display().to_string())
            && said.contains("changed since it was planned")
            && said.contains("touch cannot restore")
            && said.contains("vre verify PLANDIR --input"),
        "{said}"
    );
    assert!(chunk_files(&plan_dir).is_empty(), "nothing rendered");

    let verify = run_vre(args!["verify", plan_dir, "--input"]);
    assert_eq!(verify.status.code(), Some(65), "{}", stderr(&verify));
    assert!(stderr(&verify).contains("changed"), "{}", stderr(&verify));
}

/// Overwrites the input with same-size different content right after the first chunk is
/// published; the worker must publish nothing made of the new content, stop with 65 naming the
/// input, assembly must refuse, and after `vre plan --force` the output is the new content's.
fn an_input_overwritten_mid_run(keep_mtime: bool) {
    let tmp = temp_dir();
    let (planned, other) = same_size_clips(tmp.path());
    let input = input_from(tmp.path(), &planned);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan_lossless(&input, &plan_dir, "4", SLOW);

    let mut worker = JsonWorker::start(args!["work", plan_dir]);
    worker.wait_for("published", EVENT_WAIT);
    overwrite(&input, &other, keep_mtime);
    let code = worker.finish(RUN_WAIT);
    let said = worker.stderr();
    assert_eq!(code, Some(65), "{said}");
    assert!(
        said.contains(&input.display().to_string())
            && said.contains("changed since it was planned"),
        "{said}"
    );
    assert_eq!(
        worker.seen("failed").len(),
        0,
        "a change is no chunk failure"
    );
    assert!(no_failed_attempts(&plan_dir));

    // Every chunk published is made of the planned pictures, frame for frame.
    let planned_frames = framemd5(&planned, Some(SLOW));
    let published = published_chunks(&plan_dir);
    assert!(
        !published.is_empty() && published.len() < 4,
        "the worker stopped mid-run: {} chunk(s) published",
        published.len()
    );
    for ((start, end), file) in &published {
        assert_eq!(
            framemd5(file, None),
            planned_frames[*start..*end],
            "{} is made of the planned content",
            file.display()
        );
    }

    let out = tmp.path().join("out.mp4");
    let refused = run_vre(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(refused.status.code(), Some(65), "{}", stderr(&refused));
    assert!(stderr(&refused).contains(&input.display().to_string()));
    assert!(!out.exists());

    vre_plan(
        &input,
        &plan_dir,
        args![
            "--chunks",
            "4",
            "--crf",
            "0",
            "--vf",
            SLOW,
            "--threads",
            "1",
            "--force"
        ],
    );
    vre_ok(args!["work", plan_dir, "-j", "2"]);
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(
        framemd5(&out, None),
        framemd5(&other, Some(SLOW)),
        "the output is a serial render of the new content"
    );
}

#[test]
fn an_input_overwritten_mid_run_with_its_mtime_restored_publishes_nothing_more() {
    an_input_overwritten_mid_run(true);
}

#[test]
fn an_input_copied_over_mid_run_publishes_nothing_more() {
    an_input_overwritten_mid_run(false);
}

#[test]
fn verify_input_tells_a_chmod_from_new_content_and_a_replan_keeps_finished_chunks() {
    let tmp = temp_dir();
    let (planned, other) = same_size_clips(tmp.path());
    let input = input_from(tmp.path(), &planned);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "2"]);
    vre_ok(args!["work", plan_dir]);

    let run = |cmd: &mut Command| assert!(cmd.status().unwrap().success());
    run(Command::new("chmod").arg("600").arg(&input));
    let refused = run_vre(args!["work", plan_dir]);
    assert_eq!(refused.status.code(), Some(65), "{}", stderr(&refused));
    let same = run_vre(args!["verify", plan_dir, "--input"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert!(
        stderr(&same).contains("the planned content"),
        "{}",
        stderr(&same)
    );
    let replanned = vre_ok(args![
        "plan", input, "-o", plan_dir, "--chunks", "2", "--force"
    ]);
    let said = String::from_utf8_lossy(&replanned.stdout);
    assert!(
        said.contains("2 finished pieces kept, 0 withdrawn"),
        "{said}"
    );
    let work = vre_ok(args!["work", plan_dir, "--json"]);
    assert!(
        published(&work.stdout).is_empty(),
        "nothing to render again"
    );
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(framemd5(&out, None).len(), 100);

    overwrite(&input, &other, true);
    let changed = run_vre(args!["verify", plan_dir, "--input"]);
    assert_eq!(changed.status.code(), Some(65), "{}", stderr(&changed));
    assert!(stderr(&changed).contains("changed"), "{}", stderr(&changed));
}

#[test]
fn an_audio_track_changed_after_planning_is_refused_like_the_input() {
    let tmp = temp_dir();
    let (planned, _) = same_size_clips(tmp.path());
    let input = input_from(tmp.path(), &planned);
    let tone = |name: &str, hz: u32| {
        let path = tmp.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={hz}:sample_rate=48000:duration=4"),
            path.to_str().unwrap(),
        ]);
        path
    };
    let track = tone("track.wav", 440);
    let other = tone("other.wav", 880);
    let plan_dir = tmp.path().join("job.vre");
    let spec = format!("file={}", track.display());
    vre_plan(&input, &plan_dir, args!["--chunks", "2", "--audio", spec]);
    overwrite(&track, &other, true);
    let work = run_vre(args!["work", plan_dir]);
    assert_eq!(work.status.code(), Some(65), "{}", stderr(&work));
    assert!(
        stderr(&work).contains(&track.display().to_string()),
        "{}",
        stderr(&work)
    );
    let verify = run_vre(args!["verify", plan_dir, "--input"]);
    assert_eq!(verify.status.code(), Some(65));
    let said = stderr(&verify);
    let line_of = |path: &Path| {
        said.lines()
            .find(|l| l.contains(&path.display().to_string()))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line_of(&input).contains("unchanged"), "{said}");
    assert!(line_of(&track).contains("changed:"), "{said}");
}

/// Sends `signal` to a process group; a group that has already ended (a short check the worker
/// ran, which ended between being listed and being signalled) needs no signal.
fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: sending a signal to a process group this test started.
    let sent = unsafe { libc::killpg(pgid as i32, signal) } == 0;
    let error = std::io::Error::last_os_error();
    assert!(
        sent || error.raw_os_error() == Some(libc::ESRCH),
        "signal {signal} to group {pgid}: {error}"
    );
}

#[test]
fn a_worker_that_outlives_its_plan_publishes_nothing_into_the_plan_made_in_its_place() {
    let tmp = temp_dir();
    let input = tmp.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 4.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let plan_dir = tmp.path().join("job.vre");
    vre_plan_lossless(&input, &plan_dir, "3", SLOW);

    let mut worker = JsonWorker::start(args!["work", plan_dir]);
    worker.wait_for("claimed", EVENT_WAIT);
    let ffmpeg = wait_for_children(worker.pid());
    assert!(!ffmpeg.is_empty(), "its ffmpeg renders");
    // vre, then its ffmpeg (a group of its own).
    signal_group(worker.pid(), libc::SIGSTOP);
    for &pid in &ffmpeg {
        signal_group(pid, libc::SIGSTOP);
    }
    std::fs::remove_dir_all(&plan_dir).unwrap();
    vre_plan_lossless(&input, &plan_dir, "3", SLOW);
    let new_plan = read_json(&plan_dir.join("plan.json"));
    for &pid in &ffmpeg {
        signal_group(pid, libc::SIGCONT);
    }
    signal_group(worker.pid(), libc::SIGCONT);

    let code = worker.finish(RUN_WAIT);
    let said = worker.stderr();
    assert_eq!(code, Some(75), "{said}");
    assert!(said.contains("replaced or removed"), "{said}");
    assert_eq!(
        worker.seen("published").len() + worker.seen("failed").len(),
        0
    );
    assert!(
        chunk_files(&plan_dir).is_empty(),
        "nothing published into it"
    );
    assert_eq!(temp_files(&plan_dir), Vec::<PathBuf>::new());
    assert!(no_failed_attempts(&plan_dir));
    let in_dir = |sub: &str| std::fs::read_dir(plan_dir.join(sub)).unwrap().count();
    assert_eq!(
        (in_dir("attempts"), in_dir("progress"), in_dir("logs")),
        (0, 0, 0),
        "no record of the old worker in the new planDir"
    );
    assert_eq!(read_json(&plan_dir.join("plan.json")), new_plan);

    vre_ok(args!["work", plan_dir, "-j", "2"]);
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(framemd5(&out, None), framemd5(&input, Some(SLOW)));
}

/// A planDir of `chunks` slow chunks of a generated clip; returns (scratch, input, planDir).
fn slow_plan(chunks: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = temp_dir();
    let input = tmp.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 4.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let plan_dir = tmp.path().join("job.vre");
    vre_plan_lossless(&input, &plan_dir, chunks, SLOW);
    (tmp, input, plan_dir)
}

/// A bindfs mount of a directory (a second path to the same files whose locks are its own, as
/// on another host); unmounted when dropped.
struct Bindfs(PathBuf);

impl Bindfs {
    /// Mounts `dir` at `mount`, or says why it cannot.
    fn mount(dir: &Path, mount: &Path) -> Result<Bindfs, String> {
        std::fs::create_dir_all(mount).unwrap();
        match Command::new("bindfs").arg(dir).arg(mount).output() {
            Ok(out) if out.status.success() => Ok(Bindfs(mount.to_path_buf())),
            Ok(out) => Err(format!("bindfs failed: {}", stderr(&out).trim())),
            Err(e) => Err(format!(
                "bindfs is not installed (Debian package bindfs): {e}"
            )),
        }
    }
}

impl Drop for Bindfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn workers_whose_locks_do_not_exclude_report_the_collision_and_spoil_nothing() {
    let (tmp, input, plan_dir) = slow_plan("3");
    let mount = match Bindfs::mount(&plan_dir, &tmp.path().join("other-host")) {
        Ok(m) => m,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let mut here = JsonWorker::start(args!["work", plan_dir]);
    here.wait_for("claimed", EVENT_WAIT);
    assert!(
        !wait_for_children(here.pid()).is_empty(),
        "its render runs: its claim is recorded"
    );
    // Through the other mount the lock on that chunk is free: the second worker takes it, finds
    // the first one recorded and alive, and stops without touching its temp file. (Should it
    // slip in between two of the first worker's claims, the roles swap: the first one finds the
    // second recorded and alive.)
    let there = run_vre(args!["work", mount.0, "--json"]);
    let code_here = here.finish(RUN_WAIT);
    let said_here = here.stderr();
    let codes = [code_here, there.status.code()];
    let said = [said_here, stderr(&there)];
    assert!(
        codes.contains(&Some(69)),
        "a collision is reported: {codes:?} {said:?}"
    );
    for (code, said) in codes.iter().zip(&said) {
        // A worker whose temp file the other had deleted would fail to publish (75), one whose
        // render the other had disturbed would count a failed attempt (80).
        assert!(matches!(code, Some(0 | 69)), "{code:?}: {said}");
        if *code == Some(69) {
            assert!(
                said.contains("do not exclude") && said.contains("vre doctor"),
                "{said}"
            );
        }
    }
    if codes == [Some(0), Some(69)] {
        assert!(published(&there.stdout).is_empty(), "it published nothing");
        assert_eq!(here.seen("published").len(), 3, "the first did it all");
    }
    assert!(
        no_failed_attempts(&plan_dir),
        "nothing counted as an attempt"
    );
    assert_eq!(temp_files(&plan_dir), Vec::<PathBuf>::new());
    // Every published chunk is the bytes its sidecar names: none was published twice with
    // different bytes.
    let verified = run_vre(args!["verify", plan_dir]);
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    drop(mount);

    vre_ok(args!["work", plan_dir]);
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(framemd5(&out, None), framemd5(&input, Some(SLOW)));
}

/// `vre ARGS` run under strace with every flock call's result replaced by `injection`
/// (`error=ENOLCK`, `retval=0`): a filesystem that refuses locks, or one whose locks do not
/// exclude anything. `None` when strace is not installed.
fn with_flock_injected(
    injection: &str,
    args: Vec<std::ffi::OsString>,
) -> Option<std::process::Output> {
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=flock", "-e"])
        .arg(format!("inject=flock:{injection}"))
        .arg(env!("CARGO_BIN_EXE_vre"))
        .args(args)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) => Some(out),
        Err(e) => {
            println!("skipped: strace is not installed (Debian package strace): {e}");
            None
        }
    }
}

#[test]
fn a_filesystem_refusing_locks_is_unavailable_for_work_and_plan_not_retried() {
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
    vre_plan(&input, &plan_dir, args!["--chunks", "2"]);
    let Some(work) = with_flock_injected("error=ENOLCK", args!["work", plan_dir]) else {
        return;
    };
    assert_eq!(work.status.code(), Some(69), "{}", stderr(&work));
    let said = stderr(&work);
    assert!(
        said.contains("does not support file locks")
            && said.contains(&format!("vre doctor {}", plan_dir.display())),
        "{said}"
    );
    assert!(chunk_files(&plan_dir).is_empty());

    let other_dir = tmp.path().join("other.vre");
    let plan = with_flock_injected(
        "error=ENOLCK",
        args!["plan", input, "-o", other_dir, "--chunks", "2"],
    )
    .unwrap();
    assert_eq!(plan.status.code(), Some(69), "{}", stderr(&plan));
    assert!(stderr(&plan).contains("does not support file locks"));
}

#[test]
fn a_worker_refuses_locks_that_do_not_exclude_before_it_claims_anything() {
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
    vre_plan(&input, &plan_dir, args!["--chunks", "2"]);
    // Every flock "succeeds": two descriptions of the probe file both hold its lock.
    let Some(work) = with_flock_injected("retval=0", args!["work", plan_dir]) else {
        return;
    };
    assert_eq!(work.status.code(), Some(69), "{}", stderr(&work));
    assert!(
        stderr(&work).contains("do not exclude") && stderr(&work).contains("second open"),
        "{}",
        stderr(&work)
    );
    assert!(chunk_files(&plan_dir).is_empty());
    let locks: Vec<String> = std::fs::read_dir(plan_dir.join("locks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(locks, ["plan.lock"], "the probe file is removed");
}

/// A small real plan, loaded, for driving the publish protocol directly.
fn small_loaded_plan() -> (tempfile::TempDir, PlanDir, vre::plandir::load::LoadedPlan) {
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
    vre_plan(&input, &plan_dir, args!["--chunks", "2"]);
    let dir = PlanDir::new(&plan_dir);
    let loaded = dir.load().unwrap();
    (tmp, dir, loaded)
}

fn rendered(loaded: &vre::plandir::load::LoadedPlan, task: TaskId) -> Rendered {
    let chunk = loaded.chunk(task).unwrap();
    Rendered {
        media: Media::Chunk {
            index: chunk.index,
            start_frame: chunk.start_frame,
            end_frame: chunk.end_frame,
            frames: chunk.frames(),
        },
        stream: None,
        started_at: 0.0,
        encode_seconds: 0.0,
    }
}

#[test]
fn a_holder_publishes_only_while_the_lock_records_its_claim_and_never_over_a_valid_output() {
    let (_tmp, dir, loaded) = small_loaded_plan();
    let task = TaskId::Chunk(0);
    let lock = claim::try_claim(&dir, task).unwrap().unwrap();
    let temp = publish::begin_render(&dir, &loaded, &lock).unwrap();
    std::fs::write(&temp, b"a render").unwrap();
    // Another claimant, through a lock that did not exclude, recorded its own claim.
    std::fs::write(
        dir.lock(task),
        "holder=elsewhere:1:1\nnonce=0123456789abcdef0123456789abcdef\ntemp=.x\n",
    )
    .unwrap();
    let err =
        publish::publish_render(&dir, &loaded, &lock, &temp, rendered(&loaded, task)).unwrap_err();
    assert!(
        matches!(err, PlanDirError::LocksDoNotExclude { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("elsewhere:1:1"), "{err}");
    assert!(!temp.exists(), "its own temp is removed");
    assert!(!dir.sidecar(task).exists(), "nothing published");
    assert_eq!(
        std::fs::read_to_string(dir.lock(task)).unwrap(),
        "holder=elsewhere:1:1\nnonce=0123456789abcdef0123456789abcdef\ntemp=.x\n",
        "the other claim's record is left alone"
    );
    drop(lock);

    // Published once; a second holder (as through a lock that did not exclude) must not
    // replace it.
    let lock = claim::try_claim(&dir, task).unwrap().unwrap();
    std::fs::write(dir.lock(task), "").unwrap();
    let temp = publish::begin_render(&dir, &loaded, &lock).unwrap();
    std::fs::write(&temp, b"the first render").unwrap();
    publish::publish_render(&dir, &loaded, &lock, &temp, rendered(&loaded, task)).unwrap();
    let output = dir.output(&loaded.plan, task);
    std::fs::write(dir.lock(task), "").unwrap();
    let temp = publish::begin_render(&dir, &loaded, &lock).unwrap();
    std::fs::write(&temp, b"another render").unwrap();
    let err =
        publish::publish_render(&dir, &loaded, &lock, &temp, rendered(&loaded, task)).unwrap_err();
    assert!(err.to_string().contains("was published by"), "{err}");
    assert_eq!(std::fs::read(&output).unwrap(), b"the first render");
    assert!(!temp.exists());
}

/// Writes a claim record naming `holder` with the temp `temp` into a task's lock file, and that
/// temp file.
fn plant_claim(
    dir: &PlanDir,
    loaded: &vre::plandir::load::LoadedPlan,
    task: TaskId,
    holder: &str,
) -> PathBuf {
    let output = dir.output(&loaded.plan, task);
    let name = format!(
        ".{}.tmp-planted",
        output.file_name().unwrap().to_string_lossy()
    );
    let temp = dir.output_dir(task).join(&name);
    std::fs::write(&temp, b"a render in progress").unwrap();
    std::fs::write(
        dir.lock(task),
        format!("holder={holder}\nnonce=0123456789abcdef0123456789abcdef\ntemp={name}\n"),
    )
    .unwrap();
    temp
}

/// Sets a file's modification time `seconds` back.
fn age(path: &Path, seconds: u64) {
    let when = SystemTime::now() - Duration::from_secs(seconds);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat` field 22).
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_command = &stat[stat.rfind(')').unwrap() + 1..];
    after_command
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_previous_holders_temp_is_removed_only_once_it_is_provably_dead_or_silent() {
    let (_tmp, dir, loaded) = small_loaded_plan();
    let task = TaskId::Chunk(1);
    let me = ProcessIdentity::current();

    // Alive on this host (another process): a collision, its temp untouched.
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    let alive = ProcessIdentity {
        pid: other.id(),
        start: start_time(other.id()),
        ..me.clone()
    };
    let temp = plant_claim(&dir, &loaded, task, &alive.to_string());
    let lock = claim::try_claim(&dir, task).unwrap().unwrap();
    let err = publish::begin_render(&dir, &loaded, &lock).unwrap_err();
    assert!(
        matches!(err, PlanDirError::LocksDoNotExclude { .. }),
        "{err}"
    );
    assert!(temp.exists(), "a live holder's temp is left alone");
    drop(lock);

    // Dead on this host: its temp is removed.
    other.kill().unwrap();
    other.wait().unwrap();
    let temp = plant_claim(&dir, &loaded, task, &alive.to_string());
    let lock = claim::try_claim(&dir, task).unwrap().unwrap();
    publish::begin_render(&dir, &loaded, &lock).unwrap();
    assert!(!temp.exists(), "a dead holder's temp is removed");
    drop(lock);

    // On another host, written moments ago: left alone, tried again later.
    let elsewhere = format!("{}-elsewhere:77:1", me.host);
    let temp = plant_claim(&dir, &loaded, task, &elsewhere);
    let lock = claim::try_claim(&dir, task).unwrap().unwrap();
    let err = publish::begin_render(&dir, &loaded, &lock).unwrap_err();
    assert!(matches!(err, PlanDirError::HolderActive { .. }), "{err}");
    assert!(temp.exists());
    assert_eq!(
        ClaimRecord::parse(&std::fs::read_to_string(dir.lock(task)).unwrap())
            .holder
            .map(|h| h.to_string()),
        Some(elsewhere.clone()),
        "its record is left alone"
    );
    // Silent for longer than the quiet time: its temp is removed and the claim is taken.
    age(&temp, publish::HOLDER_QUIET_SECONDS + 5);
    publish::begin_render(&dir, &loaded, &lock).unwrap();
    assert!(!temp.exists(), "a silent holder's temp is removed");
}
