//! Rendering one claimed task into its planDir and publishing it with its sidecar.
//!
//! The output is written to a uniquely named temp file beside its final name, checked (frame or
//! sample count), hashed, renamed into place, and only then proven done by writing the sidecar
//! atomically. A crash at any instant leaves at worst a temp file or an unproven output, both of
//! which the next claimant of the task discards.

use crate::ffmpeg;
use crate::ffmpeg::argv::Argv;
use crate::ffmpeg::framelog;
use crate::ffmpeg::probe;
use crate::ffmpeg::runner::{self, Activity, Stall};
use crate::ffmpeg::video::SourceSpan;
use crate::plandir::attempts::EnvCause;
use crate::plandir::claim::TaskLock;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::publish::{begin_render, publish_render, FrameLogs, Rendered};
use crate::plandir::schema::{Chunk, Media, Sidecar, StreamFacts, TaskId};
use crate::sys::fsio;
use crate::work::environment::{self, EnvFailure, RenderEvidence};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a render did not publish.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// SIGINT/SIGTERM arrived; the temp file is gone and the task can be claimed again.
    #[error("interrupted")]
    Interrupted,
    /// The render failed; this counts as an attempt.
    #[error("{reason}")]
    Failed {
        /// One line: what went wrong.
        reason: String,
        /// The attempt's log: command line and the tail of ffmpeg's stderr.
        log: String,
    },
    /// The environment stopped the render (full disk, missing input, …): not an attempt; the
    /// worker stops claiming and exits with "temporary failure".
    #[error(transparent)]
    Environment(#[from] EnvFailure),
    /// The planDir could not be written: not the render's fault, not an attempt.
    #[error(transparent)]
    PlanDir(#[from] PlanDirError),
}

/// Progress of a running render, as ffmpeg reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// Frames encoded so far (chunks) or 0 (audio).
    pub frames: u64,
    /// Output time encoded so far, seconds.
    pub seconds: f64,
    /// Encoding speed, frames per second.
    pub fps: f64,
}

/// A sign of life of a running render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Alive {
    /// ffmpeg reported progress.
    Progress(Progress),
    /// ffmpeg reported nothing for a while but used CPU time: it works on something slow (a
    /// heavy filter on one frame, a long decode before the chunk's first frame).
    Busy,
}

fn parse_progress(line: &str, progress: &mut Progress) -> bool {
    match line.split_once('=') {
        Some(("frame", v)) => {
            progress.frames = v.trim().parse().unwrap_or(progress.frames);
            false
        }
        Some(("out_time_us", v)) => {
            if let Ok(us) = v.trim().parse::<i64>() {
                progress.seconds = us.max(0) as f64 / 1e6;
            }
            false
        }
        Some(("fps", v)) => {
            progress.fps = v.trim().parse().unwrap_or(progress.fps);
            false
        }
        Some(("progress", _)) => true,
        _ => false,
    }
}

fn failure_log(argv: &Argv, stderr_tail: &str, reason: &str) -> String {
    format!(
        "command: {}\nerror: {reason}\n--- ffmpeg stderr (tail) ---\n{stderr_tail}\n",
        argv.display()
    )
}

/// Renders the task a lock holds, verifies it and publishes it with its sidecar. vre's one
/// renderer runs ffmpeg ([`render_task`]); the seam exists so that benchmarks of the claim
/// protocol can measure claiming without ffmpeg in the loop.
pub type Renderer = fn(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
    stall_limit: Option<Duration>,
    on_alive: &mut dyn FnMut(Alive),
) -> Result<Sidecar, RenderError>;

/// Renders the claimed task, verifies it, and publishes it with its sidecar. `on_alive` is
/// called as ffmpeg reports progress or, silent, uses CPU time; a render that does neither for
/// `stall_limit` is killed and fails ([`runner::run_watched`]).
pub fn render_task(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
    stall_limit: Option<Duration>,
    on_alive: &mut dyn FnMut(Alive),
) -> Result<Sidecar, RenderError> {
    let plan = &loaded.plan;
    let task = lock.task();
    let temp = begin_render(dir, loaded, lock)?;
    let logs = FrameLogs::beside(&temp);
    let argv = match task {
        TaskId::Chunk(_) => {
            let chunk = loaded
                .chunk(task)
                .expect("chunk tasks come from chunks.json");
            ffmpeg::video::render_chunk(loaded, chunk, &temp, &logs)
        }
        TaskId::Audio(_) => {
            let audio = plan
                .audio_output(task)
                .expect("audio tasks come from the plan's audio outputs");
            ffmpeg::audio::render_audio(plan, audio, &temp)
        }
    };
    crate::sys::log::log(
        crate::sys::log::Level::Debug,
        "running",
        &[("task", task.to_string()), ("command", argv.display())],
    );
    let started_at = fsio::unix_now();
    let verified = run_and_verify(dir, loaded, &argv, lock, &temp, stall_limit, on_alive);
    for log in logs.paths() {
        let _ = fs::remove_file(log);
    }
    let (media, stream, encode_seconds) = verified.inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })?;
    let rendered = Rendered {
        media,
        stream,
        started_at,
        encode_seconds,
    };
    Ok(publish_render(dir, loaded, lock, &temp, rendered)?)
}

/// Decides whom a failed render is to blame: the environment ([`RenderError::Environment`], not
/// an attempt) or the chunk ([`RenderError::Failed`]). Called while the temp file still exists,
/// so that a disk it filled is still full.
fn blame(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    task: TaskId,
    evidence: (&str, Option<i32>),
    reason: String,
    log: String,
) -> RenderError {
    let (stderr_tail, signal) = evidence;
    let output_dir = dir.output_dir(task);
    // The reason may carry ffprobe's error (the check of the output), so it is evidence too.
    let said = format!("{stderr_tail}\n{reason}");
    let found = environment::classify_render(&RenderEvidence {
        stderr_tail: &said,
        signal,
        input: &loaded.plan.input.path,
        input_size: loaded.plan.input.stamp.size,
        plan_dir: dir.root(),
        output_dir: &output_dir,
    });
    match found {
        Some((cause, path, detail)) => RenderError::Environment(EnvFailure {
            task,
            cause,
            path,
            plan_dir: dir.root().to_path_buf(),
            detail,
        }),
        None => RenderError::Failed { reason, log },
    }
}

/// Runs a task's ffmpeg as a guarded child holding the task's lock, under the stall watchdog,
/// then verifies what it wrote; returns what the checks found and the seconds ffmpeg itself ran.
fn run_and_verify(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    argv: &Argv,
    lock: &TaskLock,
    temp: &Path,
    stall_limit: Option<Duration>,
    on_alive: &mut dyn FnMut(Alive),
) -> Result<(Media, Option<StreamFacts>, f64), RenderError> {
    let task = lock.task();
    let mut progress = Progress::default();
    let clock = Instant::now();
    let on_activity = |activity: Activity| match activity {
        Activity::Line(line) => {
            if parse_progress(line, &mut progress) {
                on_alive(Alive::Progress(progress));
            }
        }
        Activity::Busy => on_alive(Alive::Busy),
    };
    let outcome = runner::run_watched(argv, Some(lock.raw_fd()), stall_limit, on_activity);
    let outcome = match outcome {
        Ok(o) => o,
        Err(_) if runner::interrupted() => return Err(RenderError::Interrupted),
        Err(e) => return Err(spawn_failure(dir, task, argv, e)),
    };
    if outcome.interrupted {
        return Err(RenderError::Interrupted);
    }
    if let Some(stall) = outcome.stalled {
        return Err(stall_failure(task, argv, &outcome.stderr_tail, stall));
    }
    let signal = std::os::unix::process::ExitStatusExt::signal(&outcome.status);
    let fail = |reason: String| {
        let log = failure_log(argv, &outcome.stderr_tail, &reason);
        blame(
            dir,
            loaded,
            task,
            (&outcome.stderr_tail, signal),
            reason,
            log,
        )
    };
    let encode_seconds = clock.elapsed().as_secs_f64();
    if !outcome.status.success() {
        return Err(fail(format!(
            "ffmpeg {}: {}",
            outcome.status,
            ffmpeg::error::last_lines(&outcome.stderr_tail, 3)
        )));
    }
    let (media, stream) = match task {
        TaskId::Chunk(_) => verify_chunk(loaded, task, temp, &fail),
        TaskId::Audio(_) => verify_audio(loaded, task, temp, &fail),
    }?;
    Ok((media, stream, encode_seconds))
}

/// The failed attempt of a render the stall watchdog killed: the render's failure, not the
/// environment's (its SIGKILL is not the OOM killer's), with what to check.
fn stall_failure(task: TaskId, argv: &Argv, stderr_tail: &str, stall: Stall) -> RenderError {
    let mut reason = format!(
        "stalled: no progress and no CPU time for {} s; killed. Check for a stopped process (SIGSTOP, a debugger) and for a hung filesystem (the input's or the planDir's mount)",
        stall.limit.as_secs_f64()
    );
    if !stall.died {
        crate::sys::log::log(
            crate::sys::log::Level::Warn,
            "a stalled ffmpeg did not die after SIGKILL (blocked in uninterruptible I/O?); going on without it: it holds the task's lock until it dies",
            &[
                ("task", task.to_string()),
                ("pid", stall.pid.to_string()),
                ("waited_seconds", runner::KILL_WAIT.as_secs().to_string()),
            ],
        );
        reason.push_str(&format!(
            "; it had not died {} s after SIGKILL (uninterruptible I/O) and holds the task's lock until it does",
            runner::KILL_WAIT.as_secs()
        ));
    }
    RenderError::Failed {
        log: failure_log(argv, stderr_tail, &reason),
        reason,
    }
}

/// What a render that could not even start means: out of descriptors or memory is the
/// environment's, anything else the attempt's.
fn spawn_failure(
    dir: &PlanDir,
    task: TaskId,
    argv: &Argv,
    e: ffmpeg::error::FfmpegError,
) -> RenderError {
    let cause = match &e {
        ffmpeg::error::FfmpegError::Spawn { source, .. } => EnvCause::of_io(source),
        _ => None,
    };
    let reason = e.to_string();
    match cause {
        Some(cause @ (EnvCause::TooManyOpenFiles | EnvCause::OutOfMemory)) => {
            RenderError::Environment(EnvFailure {
                task,
                cause,
                path: dir.root().to_path_buf(),
                plan_dir: dir.root().to_path_buf(),
                detail: reason,
            })
        }
        _ => RenderError::Failed {
            log: failure_log(argv, "", &reason),
            reason,
        },
    }
}

/// Checks a rendered chunk: that it used exactly its input frames, that the user's filter chain
/// handed them on one for one, and its frame count.
fn verify_chunk(
    loaded: &LoadedPlan,
    task: TaskId,
    temp: &Path,
    fail: &dyn Fn(String) -> RenderError,
) -> Result<(Media, Option<StreamFacts>), RenderError> {
    let chunk = loaded
        .chunk(task)
        .expect("chunk tasks come from chunks.json");
    let logs = FrameLogs::beside(temp);
    check_source_frames(loaded, chunk, &logs.source).map_err(fail)?;
    let range = (chunk.start_frame, chunk.frames());
    framelog::check_filter_keeps_frames(&loaded.plan, &loaded.index, range, &logs.filtered)
        .map_err(|why| fail(format!("--vf: {why}")))?;
    let (frames, facts) =
        probe::chunk_facts(temp, &loaded.plan.encoder.pix_fmt).map_err(|e| fail(e.to_string()))?;
    if frames != chunk.frames() {
        return Err(fail(format!(
            "rendered {frames} frames, the chunk has {} (frames {}..{}); the input may be shorter than planned or the filter may drop frames",
            chunk.frames(),
            chunk.start_frame,
            chunk.end_frame
        )));
    }
    let media = Media::Chunk {
        index: chunk.index,
        start_frame: chunk.start_frame,
        end_frame: chunk.end_frame,
        frames,
    };
    Ok((media, Some(facts)))
}

/// Checks a rendered audio output: exactly the plan's number of samples (counted at the rate
/// its decoder plays: Opus at 48 kHz).
fn verify_audio(
    loaded: &LoadedPlan,
    task: TaskId,
    temp: &Path,
    fail: &dyn Fn(String) -> RenderError,
) -> Result<(Media, Option<StreamFacts>), RenderError> {
    let audio = loaded
        .plan
        .audio_output(task)
        .expect("audio tasks come from the plan's audio outputs");
    let timings = probe::stream_timings(temp, false).map_err(|e| fail(e.to_string()))?;
    let stream = timings
        .iter()
        .find(|t| t.codec_type == "audio")
        .ok_or_else(|| fail("the rendered audio has no audio stream".to_string()))?;
    let samples = if audio.codec.container_counts_samples() {
        (stream.duration * f64::from(audio.sample_rate)).round() as u64
    } else {
        // Counted at the decoder's rate; a count that is not a whole number of the encoder's
        // samples is off by a fraction, never rounded into a match.
        let decoded = probe::decoded_audio_samples(temp).map_err(|e| fail(e.to_string()))?;
        let (rate, decoded_rate) = (
            u64::from(audio.sample_rate),
            u64::from(audio.codec.decoded_rate(audio.sample_rate)),
        );
        match (decoded * rate) % decoded_rate {
            0 => decoded * rate / decoded_rate,
            _ => {
                return Err(fail(format!(
                    "rendered {decoded} audio samples at {decoded_rate} Hz, not a whole number of the plan's {rate} Hz samples"
                )))
            }
        }
    };
    if samples != audio.samples {
        return Err(fail(format!(
            "rendered {samples} audio samples, the plan needs exactly {}",
            audio.samples
        )));
    }
    let media = Media::Audio {
        samples,
        sample_rate: audio.sample_rate,
        duration_seconds: samples as f64 / f64::from(audio.sample_rate),
    };
    Ok((media, None))
}

/// Proves that a chunk was made of the input frames the frame index says it needs, in order
/// and none missing: the first ones its render decoded (beyond them ffmpeg may read ahead) are
/// exactly the index's frames of its span. Under `--fps`, where the grid picks frames by time,
/// the decoded frames must be a run of consecutive index frames.
fn check_source_frames(loaded: &LoadedPlan, chunk: &Chunk, pts_log: &Path) -> Result<(), String> {
    let index = &loaded.index;
    let logged = framelog::logged_pts(pts_log).map_err(|e| {
        format!(
            "cannot read the render's frame log {}: {e}",
            pts_log.display()
        )
    })?;
    let describe = |pts: Option<&i64>| match pts {
        Some(&p) => format!("pts {p} ({:.6} s)", index.seconds(p)),
        None => "nothing".to_string(),
    };
    if loaded
        .plan
        .normalize
        .as_ref()
        .is_some_and(|n| n.fps.is_some())
    {
        let from = logged.first().map_or(index.len(), |first| {
            index.pts.partition_point(|p| p < first)
        });
        let run = index.pts.get(from..from + logged.len());
        if logged.is_empty() || run != Some(logged.as_slice()) {
            return Err(format!(
                "frames {}..{} were made of input frames that are not consecutive in the frame index (starting at {}); the input may have changed or the seek went astray",
                chunk.start_frame,
                chunk.end_frame,
                describe(logged.first())
            ));
        }
        return Ok(());
    }
    let span = SourceSpan::of(&loaded.plan, chunk.start_frame, chunk.frames());
    let expected = &index.pts[span.from.min(index.len())..span.to.min(index.len())];
    if logged.get(..expected.len()) != Some(expected) {
        let differs = expected
            .iter()
            .zip(&logged)
            .position(|(a, b)| a != b)
            .unwrap_or(logged.len().min(expected.len()));
        return Err(format!(
            "frames {}..{} were made of the wrong input frames: input frame {} should be {}, the render decoded {} there ({} frames decoded, {} needed); not published (if the input is damaged there, plan again with `vre plan … --force --check-decoding`, which learns which frames decode)",
            chunk.start_frame,
            chunk.end_frame,
            span.from + differs,
            describe(expected.get(differs)),
            describe(logged.get(differs)),
            logged.len(),
            expected.len()
        ));
    }
    Ok(())
}
