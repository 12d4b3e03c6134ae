//! Assembly: verify every published task, concatenate the chunks without re-encoding, mux the
//! audio, and put the output in place atomically.

use crate::attempts;
use crate::exit::{Code, HasCode};
use crate::ffmpeg;
use crate::fsio;
use crate::plandir::{micros_to_seconds_text, LoadedPlan, PlanDir, PlanDirError, Sidecar, TaskId};
use crate::probe;
use crate::process;
use crate::verify::{self, Problem};
use crate::watch::DirWatcher;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why assembly refused or failed. OUT is never touched in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// A task has no sidecar yet.
    #[error("{task} is not rendered yet; run `vre work {}` to finish it", .dir.display())]
    NotDone {
        /// The task.
        task: TaskId,
        /// The planDir.
        dir: PathBuf,
    },
    /// A task's output cannot be trusted.
    #[error("{task}: {problem}; run `vre verify {}` to withdraw it and `vre work {}` to render it again", .dir.display(), .dir.display())]
    Untrusted {
        /// The task.
        task: TaskId,
        /// What is wrong.
        problem: Problem,
        /// The planDir.
        dir: PathBuf,
    },
    /// Frame counts do not add up.
    #[error("the chunks hold {found} frames but the plan has {expected}")]
    FrameCount {
        /// Frames in the sidecars.
        found: u64,
        /// Frames in the plan.
        expected: u64,
    },
    /// OUT cannot be written where asked.
    #[error("output {}: {why}", .path.display())]
    Output {
        /// OUT.
        path: PathBuf,
        /// What is wrong.
        why: String,
        /// The exit code it stands for.
        code: Code,
    },
    /// ffmpeg failed while assembling.
    #[error("ffmpeg could not assemble {}: {stderr}", .out.display())]
    Ffmpeg {
        /// OUT.
        out: PathBuf,
        /// ffmpeg's complaint.
        stderr: String,
    },
    /// The assembled file is not what the plan promised.
    #[error("the assembled file is wrong ({what}); {} was not written", .out.display())]
    Check {
        /// OUT.
        out: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// `--wait` gave up.
    #[error("{} still has {pending} unfinished task(s) after {seconds:.0} s; run `vre work {}`, or wait longer", .dir.display(), .dir.display())]
    Timeout {
        /// The planDir.
        dir: PathBuf,
        /// Tasks not done.
        pending: usize,
        /// Seconds waited.
        seconds: f64,
    },
    /// A task ran out of attempts while waiting.
    #[error("{task} failed for good ({error}); see `vre status {}`, fix the cause, then `vre work --retry-failed {}`", .dir.display(), .dir.display())]
    Exhausted {
        /// The task.
        task: TaskId,
        /// Its last error.
        error: String,
        /// The planDir.
        dir: PathBuf,
    },
    /// Interrupted by a signal; the temp output is gone.
    #[error("interrupted; nothing was written to {}", .out.display())]
    Interrupted {
        /// OUT.
        out: PathBuf,
    },
    /// OUT's filesystem cannot hold it.
    #[error(transparent)]
    Space(#[from] crate::space::SpaceError),
    /// The planDir itself is unusable.
    #[error(transparent)]
    PlanDir(#[from] PlanDirError),
}

impl HasCode for AssembleError {
    fn code(&self) -> Code {
        match self {
            AssembleError::NotDone { .. } | AssembleError::Timeout { .. } => Code::TempFail,
            AssembleError::Exhausted { .. } => Code::ChunksFailed,
            AssembleError::Untrusted { .. } | AssembleError::FrameCount { .. } => Code::DataErr,
            AssembleError::Output { code, .. } => *code,
            AssembleError::Ffmpeg { .. } | AssembleError::Check { .. } => Code::Failure,
            AssembleError::Interrupted { .. } => Code::Interrupted,
            AssembleError::Space(e) => e.code(),
            AssembleError::PlanDir(e) => e.code(),
        }
    }
}

/// What assembly produced.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// OUT.
    pub output: PathBuf,
    /// Frames in OUT.
    pub frames: u64,
    /// Bytes in OUT.
    pub bytes: u64,
    /// Whether OUT has audio.
    pub has_audio: bool,
    /// Seconds spent verifying the chunks.
    pub verify_seconds: f64,
    /// Seconds spent concatenating and muxing.
    pub mux_seconds: f64,
    /// The sidecars of every chunk, in order (for timing tables).
    pub chunks: Vec<Sidecar>,
}

/// Checks that OUT can be written: its directory exists, it is not a directory, and its
/// extension (if any) matches the plan's container.
pub fn check_output_path(loaded: &LoadedPlan, out: &Path) -> Result<(), AssembleError> {
    let fail = |why: String, code| AssembleError::Output {
        path: out.to_path_buf(),
        why,
        code,
    };
    let expected = loaded.plan.output.container.extension();
    if let Some(ext) = out.extension().and_then(|e| e.to_str()) {
        if !ext.eq_ignore_ascii_case(expected) {
            return Err(fail(
                format!("the extension .{ext} contradicts the plan's container ({expected}); name it *.{expected}"),
                Code::Usage,
            ));
        }
    }
    if out.is_dir() {
        return Err(fail("is a directory".to_string(), Code::CantCreate));
    }
    let parent = fsio::parent_dir(out);
    if !parent.is_dir() {
        return Err(fail(
            format!(
                "its directory {} does not exist; create it first",
                parent.display()
            ),
            Code::CantCreate,
        ));
    }
    Ok(())
}

/// Verifies every task of the plan against its sidecar, hash included, and that the frame
/// counts add up. Returns the chunk sidecars in order.
pub fn verify_all(dir: &PlanDir, loaded: &LoadedPlan) -> Result<Vec<Sidecar>, AssembleError> {
    let mut chunks = Vec::with_capacity(loaded.chunks.len());
    for task in loaded.tasks() {
        match verify::check_task(dir, loaded, task) {
            Ok(sidecar) if matches!(task, TaskId::Chunk(_)) => chunks.push(sidecar),
            Ok(_) => {}
            Err(Problem::NotDone) => {
                return Err(AssembleError::NotDone {
                    task,
                    dir: dir.root().to_path_buf(),
                })
            }
            Err(problem) => {
                return Err(AssembleError::Untrusted {
                    task,
                    problem,
                    dir: dir.root().to_path_buf(),
                })
            }
        }
    }
    let found: u64 = chunks
        .iter()
        .map(|s| match s.media {
            crate::plandir::Media::Chunk { frames, .. } => frames,
            crate::plandir::Media::Audio { .. } => 0,
        })
        .sum();
    let expected = loaded.plan.output.total_frames();
    if found != expected {
        return Err(AssembleError::FrameCount { found, expected });
    }
    Ok(chunks)
}

/// Blocks until every task of the planDir is published, watching its output directories with
/// notify (a re-check every second covers filesystems without change events and keeps signals
/// prompt). Tasks are awaited in order: each wake-up re-reads only the first unfinished task and
/// the ones after it that are already done, so waiting costs the same for 10 chunks or 10,000.
pub fn wait_until_complete(
    dir: &PlanDir,
    out: &Path,
    timeout: Option<Duration>,
) -> Result<(), AssembleError> {
    process::install_signal_handlers();
    let loaded = dir.load()?;
    let watcher = DirWatcher::new([
        dir.output_dir(TaskId::Audio).as_path(),
        dir.output_dir(TaskId::Chunk(0)).as_path(),
        fsio::parent_dir(&dir.attempts(TaskId::Audio)),
    ]);
    let started = Instant::now();
    let tasks = loaded.tasks();
    let mut next = 0;
    loop {
        while next < tasks.len() && dir.is_done(&loaded, tasks[next]) {
            next += 1;
        }
        let Some(&waiting_for) = tasks.get(next) else {
            return Ok(());
        };
        let record = attempts::read(dir, waiting_for);
        if record.exhausted {
            return Err(AssembleError::Exhausted {
                task: waiting_for,
                error: record.last_error().unwrap_or_default().to_string(),
                dir: dir.root().to_path_buf(),
            });
        }
        if process::interrupted() {
            return Err(AssembleError::Interrupted {
                out: out.to_path_buf(),
            });
        }
        let waited = started.elapsed();
        if timeout.is_some_and(|t| waited >= t) {
            return Err(AssembleError::Timeout {
                dir: dir.root().to_path_buf(),
                pending: tasks.len() - next,
                seconds: waited.as_secs_f64(),
            });
        }
        let slice = timeout.map_or(WAIT_RECHECK, |t| (t - waited).min(WAIT_RECHECK));
        watcher.wait(slice);
    }
}

/// How often `--wait` re-checks when no change event arrives.
const WAIT_RECHECK: Duration = Duration::from_secs(1);

/// Quotes a path for an ffconcat list: single quotes, with `'` written as `'\''`.
pub fn concat_quote(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

/// Writes the concat list for this assembly: a private file in the planDir root, so that its
/// entries are the fixed relative names `chunks/chunk-NNNNNN.ext` and concurrent assemblies
/// never share one.
///
/// Each entry states its duration. Without it the concat demuxer offsets the next file by the
/// container's duration, which mp4 rounds to milliseconds: half a millisecond of drift per chunk
/// that breaks the frame rate. The durations are differences of the chunk boundaries' exact
/// times rounded to microseconds, so their running sum is always within half a microsecond of
/// the true boundary: rounding never accumulates, however many chunks there are.
fn write_concat_list(dir: &PlanDir, loaded: &LoadedPlan) -> Result<PathBuf, PlanDirError> {
    let rate = loaded.plan.output.frame_rate;
    let mut list = String::from("ffconcat version 1.0\n");
    for chunk in &loaded.chunks {
        let output = dir.output(&loaded.plan, TaskId::Chunk(chunk.index));
        let relative = format!(
            "chunks/{}",
            output.file_name().unwrap_or_default().to_string_lossy()
        );
        let micros = rate.frame_time_micros_round(chunk.end_frame)
            - rate.frame_time_micros_round(chunk.start_frame);
        list.push_str(&format!(
            "file {}\nduration {}\n",
            concat_quote(&relative),
            micros_to_seconds_text(micros)
        ));
    }
    let path = fsio::temp_path_for(&dir.concat_list());
    fs::write(&path, list).map_err(|source| PlanDirError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Checks the assembled file before it is put in place: frame count and rate, and audio that
/// starts at 0 and lasts the video's duration within one AAC frame.
fn check_assembled(loaded: &LoadedPlan, temp: &Path, out: &Path) -> Result<(), AssembleError> {
    let check = |what: String| AssembleError::Check {
        out: out.to_path_buf(),
        what,
    };
    let timings = probe::stream_timings(temp).map_err(|e| check(e.to_string()))?;
    let plan = &loaded.plan;
    let video = timings
        .iter()
        .find(|t| t.codec_type == "video")
        .ok_or_else(|| check("no video stream".to_string()))?;
    let expected_frames = plan.output.total_frames();
    if video.packets != expected_frames {
        return Err(check(format!(
            "{} frames, the plan has {expected_frames}",
            video.packets
        )));
    }
    let rate = plan.output.frame_rate;
    if video.r_frame_rate != Some(rate) || video.avg_frame_rate != Some(rate) {
        return Err(check(format!(
            "frame rate {:?}/{:?}, the plan has {rate}",
            video.r_frame_rate, video.avg_frame_rate
        )));
    }
    if let Some(audio_plan) = &plan.audio {
        let audio = timings
            .iter()
            .find(|t| t.codec_type == "audio")
            .ok_or_else(|| check("no audio stream".to_string()))?;
        let tolerance = 1024.0 / f64::from(audio_plan.sample_rate);
        let video_duration = rate.seconds_of(expected_frames);
        if audio.start_time.abs() > 1e-3 {
            return Err(check(format!(
                "audio starts at {:.6} s, not 0",
                audio.start_time
            )));
        }
        if (audio.duration - video_duration).abs() > tolerance {
            return Err(check(format!(
                "audio lasts {:.6} s, the video {video_duration:.6} s",
                audio.duration
            )));
        }
    }
    Ok(())
}

/// Assembles a planDir into OUT. Refuses, leaving OUT untouched, unless every sidecar carries
/// this plan's hash, every output matches its sidecar, and the frame counts add up.
pub fn assemble(dir: &PlanDir, out: &Path) -> Result<Assembled, AssembleError> {
    process::install_signal_handlers();
    let loaded = dir.load()?;
    check_output_path(&loaded, out)?;
    let clock = Instant::now();
    let chunks = verify_all(dir, &loaded)?;
    let verify_seconds = clock.elapsed().as_secs_f64();
    let audio_bytes = match &loaded.plan.audio {
        Some(_) => dir.read_sidecar(TaskId::Audio)?.map_or(0, |s| s.bytes),
        None => 0,
    };
    let needed = chunks.iter().map(|s| s.bytes).sum::<u64>() + audio_bytes;
    crate::space::ensure_free(fsio::parent_dir(out), "the assembled output", needed)?;
    let clock = Instant::now();
    let list = write_concat_list(dir, &loaded)?;
    let audio = loaded
        .plan
        .audio
        .as_ref()
        .map(|_| dir.output(&loaded.plan, TaskId::Audio));
    let temp = fsio::temp_path_for(out);
    let result = (|| {
        let argv = ffmpeg::assemble(&loaded.plan, &list, audio.as_deref(), &temp);
        let outcome =
            process::run_guarded(&argv, None, |_| {}).map_err(|e| AssembleError::Ffmpeg {
                out: out.to_path_buf(),
                stderr: e.to_string(),
            })?;
        if outcome.interrupted {
            return Err(AssembleError::Interrupted {
                out: out.to_path_buf(),
            });
        }
        if !outcome.status.success() {
            return Err(AssembleError::Ffmpeg {
                out: out.to_path_buf(),
                stderr: ffmpeg::last_lines(&outcome.stderr_tail, 4),
            });
        }
        check_assembled(&loaded, &temp, out)?;
        let bytes = fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
        fsio::publish(&temp, out).map_err(|e| AssembleError::Output {
            path: out.to_path_buf(),
            why: format!("cannot move the finished file into place: {e}"),
            code: Code::CantCreate,
        })?;
        Ok(bytes)
    })();
    let _ = fs::remove_file(&list);
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    };
    Ok(Assembled {
        output: out.to_path_buf(),
        frames: loaded.plan.output.total_frames(),
        bytes,
        has_audio: audio.is_some(),
        verify_seconds,
        mux_seconds: clock.elapsed().as_secs_f64(),
        chunks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_entries_escape_single_quotes() {
        assert_eq!(concat_quote("a'b.mp4"), r"'a'\''b.mp4'");
        assert_eq!(concat_quote("chunks/c.mp4"), "'chunks/c.mp4'");
    }
}
