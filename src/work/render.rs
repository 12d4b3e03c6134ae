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
use crate::ffmpeg::runner;
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
use std::time::Instant;

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
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Sidecar, RenderError>;

/// Renders the claimed task, verifies it, and publishes it with its sidecar.
/// `on_progress` is called as ffmpeg reports progress.
pub fn render_task(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
    on_progress: &mut dyn FnMut(Progress),
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
        TaskId::Audio => {
            ffmpeg::audio::render_audio(plan, &temp).expect("audio task implies an audio plan")
        }
    };
    crate::sys::log::log(
        crate::sys::log::Level::Debug,
        "running",
        &[("task", task.to_string()), ("command", argv.display())],
    );
    let started_at = fsio::unix_now();
    let verified = run_and_verify(dir, loaded, task, &argv, lock, &temp, on_progress);
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

/// Runs a task's ffmpeg as a guarded child holding the task's lock, then verifies what it wrote;
/// returns what the checks found and the seconds ffmpeg itself ran.
fn run_and_verify(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    task: TaskId,
    argv: &Argv,
    lock: &TaskLock,
    temp: &Path,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<(Media, Option<StreamFacts>, f64), RenderError> {
    let mut progress = Progress::default();
    let clock = Instant::now();
    let outcome = runner::run_guarded(argv, Some(lock.raw_fd()), |line| {
        if parse_progress(line, &mut progress) {
            on_progress(progress);
        }
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(_) if runner::interrupted() => return Err(RenderError::Interrupted),
        Err(e) => return Err(spawn_failure(dir, task, argv, e)),
    };
    if outcome.interrupted {
        return Err(RenderError::Interrupted);
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
        TaskId::Audio => verify_audio(loaded, temp, &fail),
    }?;
    Ok((media, stream, encode_seconds))
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

/// Checks the rendered audio: exactly the plan's number of samples.
fn verify_audio(
    loaded: &LoadedPlan,
    temp: &Path,
    fail: &dyn Fn(String) -> RenderError,
) -> Result<(Media, Option<StreamFacts>), RenderError> {
    let audio = loaded
        .plan
        .audio
        .as_ref()
        .expect("audio task implies an audio plan");
    let timings = probe::stream_timings(temp, false).map_err(|e| fail(e.to_string()))?;
    let stream = timings
        .iter()
        .find(|t| t.codec_type == "audio")
        .ok_or_else(|| fail("the rendered audio has no audio stream".to_string()))?;
    let samples = if audio.codec.container_counts_samples() {
        (stream.duration * f64::from(audio.sample_rate)).round() as u64
    } else {
        probe::decoded_audio_samples(temp).map_err(|e| fail(e.to_string()))?
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
            "frames {}..{} were made of the wrong input frames: input frame {} should be {}, the render decoded {} there ({} frames decoded, {} needed); not published",
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
