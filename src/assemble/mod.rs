//! Assembly: verify every published task, concatenate the chunks without re-encoding, mux the
//! audio, and put the output in place atomically.

use crate::codecs::Container;
use crate::exit::{Code, HasCode};
use crate::ffmpeg;
use crate::ffmpeg::probe;
use crate::ffmpeg::runner;
use crate::plandir::attempts;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::{micros_to_seconds_text, Rational, Sidecar, TaskId};
use crate::plandir::verify::{self, Problem};
use crate::plandir::write;
use crate::sys::watch::DirWatcher;
use crate::sys::{disk, fsio};
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
    /// Chunks that cannot be concatenated by stream copy.
    #[error("{task}'s stream differs from chunk 0's ({field}: {found}, not {expected}), so the chunks cannot be joined by stream copy; pass --allow-reencode to re-encode while merging (slow)")]
    Inconsistent {
        /// The odd chunk.
        task: TaskId,
        /// What differs.
        field: &'static str,
        /// Chunk 0's value.
        expected: String,
        /// The odd chunk's value.
        found: String,
    },
    /// OUT's filesystem cannot hold it.
    #[error(transparent)]
    Space(#[from] crate::sys::disk::SpaceError),
    /// The planDir itself is unusable.
    #[error(transparent)]
    PlanDir(#[from] PlanDirError),
}

impl HasCode for AssembleError {
    fn code(&self) -> Code {
        match self {
            AssembleError::NotDone { .. } | AssembleError::Timeout { .. } => Code::TempFail,
            AssembleError::Exhausted { .. } => Code::ChunksFailed,
            AssembleError::Untrusted { .. }
            | AssembleError::FrameCount { .. }
            | AssembleError::Inconsistent { .. } => Code::DataErr,
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

/// Checks that OUT can be written: it is not the plan's input, nor (a PNG sequence, replaced as
/// a whole) a directory holding it; its directory exists; a file output is not a directory and
/// its extension (if any) matches the plan's container; a PNG sequence is a directory (an
/// existing one is replaced as a whole).
pub fn check_output_path(loaded: &LoadedPlan, out: &Path) -> Result<(), AssembleError> {
    let fail = |why: String, code| AssembleError::Output {
        path: out.to_path_buf(),
        why,
        code,
    };
    let input = &loaded.plan.input.path;
    if disk::same_file(out, input) {
        return Err(fail(
            "is this plan's input; writing it would destroy the input: choose another output"
                .to_string(),
            Code::Usage,
        ));
    }
    let container = loaded.plan.output.container;
    if container == Container::Png {
        let holds_input = match (out.canonicalize(), input.canonicalize()) {
            (Ok(dir), Ok(file)) => file.starts_with(dir),
            _ => false,
        };
        if holds_input {
            return Err(fail(
                format!(
                    "holds this plan's input {}, and a PNG sequence replaces its directory as a whole: choose another output directory",
                    input.display()
                ),
                Code::Usage,
            ));
        }
        if out.exists() && !out.is_dir() {
            return Err(fail(
                "exists and is not a directory; a PNG sequence is written as a directory"
                    .to_string(),
                Code::CantCreate,
            ));
        }
    } else {
        let expected = container.name();
        if let Some(ext) = out.extension().and_then(|e| e.to_str()) {
            if !ext.eq_ignore_ascii_case(expected) {
                return Err(fail(
                    format!("the extension .{ext} contradicts the plan's format ({expected}); name it *.{expected}"),
                    Code::Usage,
                ));
            }
        }
        if out.is_dir() {
            return Err(fail("is a directory".to_string(), Code::CantCreate));
        }
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

/// The first chunk whose stream parameters differ from chunk 0's: concatenation by stream copy
/// needs the same codec, profile, pixel format, size, frame rate and time base throughout.
fn stream_mismatch(chunks: &[Sidecar]) -> Option<AssembleError> {
    let first = chunks.first()?.stream.as_ref()?;
    for sidecar in &chunks[1..] {
        let Some(stream) = &sidecar.stream else {
            continue;
        };
        let fields = [
            ("codec", &first.codec, &stream.codec),
            ("pixel format", &first.pix_fmt, &stream.pix_fmt),
            ("frame rate", &first.frame_rate, &stream.frame_rate),
            ("time base", &first.time_base, &stream.time_base),
            ("profile", &first.profile, &stream.profile),
        ];
        let size = |s: &crate::plandir::schema::StreamFacts| format!("{}x{}", s.width, s.height);
        let differing = fields
            .into_iter()
            .find(|(_, a, b)| a != b)
            .map(|(name, a, b)| (name, a.clone(), b.clone()))
            .or_else(|| (size(first) != size(stream)).then(|| ("size", size(first), size(stream))));
        if let Some((field, expected, found)) = differing {
            let index = match sidecar.media {
                crate::plandir::schema::Media::Chunk { index, .. } => index,
                crate::plandir::schema::Media::Audio { .. } => 0,
            };
            return Some(AssembleError::Inconsistent {
                task: TaskId::Chunk(index),
                field,
                expected,
                found,
            });
        }
    }
    None
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
            crate::plandir::schema::Media::Chunk { frames, .. } => frames,
            crate::plandir::schema::Media::Audio { .. } => 0,
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
    runner::install_signal_handlers();
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
        if runner::interrupted() {
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
        let relative = dir.relative(&output);
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
/// starts at 0 and lasts the video's duration within one audio frame.
fn check_assembled(loaded: &LoadedPlan, temp: &Path, out: &Path) -> Result<(), AssembleError> {
    let check = |what: String| AssembleError::Check {
        out: out.to_path_buf(),
        what,
    };
    // mp4/mov state their frame count in the index; Matroska must be counted.
    let count = !loaded.plan.output.container.is_quicktime();
    let timings = probe::stream_timings(temp, count).map_err(|e| check(e.to_string()))?;
    let plan = &loaded.plan;
    let video = timings
        .iter()
        .find(|t| t.codec_type == "video")
        .ok_or_else(|| check("no video stream".to_string()))?;
    let expected_frames = plan.output.total_frames();
    if video.frames != expected_frames {
        return Err(check(format!(
            "{} frames, the plan has {expected_frames}",
            video.frames
        )));
    }
    let rate = plan.output.frame_rate;
    // ffprobe reports a rate a hair from a standard one as the standard one (2997/100 reads
    // back as 30000/1001): equal to a part in 10^5 is the same rate.
    let same_rate = |probed: Option<Rational>| {
        probed.is_some_and(|p| (p.as_f64() / rate.as_f64() - 1.0).abs() < 1e-5)
    };
    if !same_rate(video.r_frame_rate) || !same_rate(video.avg_frame_rate) {
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
        let offset = audio_plan.codec.start_offset_seconds();
        if (audio.start_time - offset).abs() > 1e-3 {
            return Err(check(format!(
                "audio starts at {:.6} s, not 0",
                audio.start_time - offset
            )));
        }
        // Matroska states no per-stream duration; the audio file itself was verified sample
        // for sample before muxing.
        let video_duration = rate.seconds_of(expected_frames);
        let tolerance = 1024.0 / f64::from(audio_plan.sample_rate);
        if audio.duration > 0.0 && (audio.duration - video_duration).abs() > tolerance {
            return Err(check(format!(
                "audio lasts {:.6} s, the video {video_duration:.6} s",
                audio.duration
            )));
        }
    }
    Ok(())
}

/// Runs an assembly ffmpeg as a guarded child (a signal kills it).
fn run_ffmpeg(argv: &ffmpeg::argv::Argv, out: &Path) -> Result<(), AssembleError> {
    let outcome = runner::run_guarded(argv, None, |_| {}).map_err(|e| AssembleError::Ffmpeg {
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
            stderr: ffmpeg::error::last_lines(&outcome.stderr_tail, 4),
        });
    }
    Ok(())
}

/// Refuses to assemble, before and after the mux (right before OUT is put in place), once an
/// input file has changed since it was planned: workers publish nothing made after a change, and
/// no output is made of a plan whose input is no longer the one planned (`vre plan --force`
/// re-plans, keeping every chunk whose content the new plan shares). A missing file does not
/// stop assembly, which reads only the chunks and the audio task's output.
fn check_inputs_unchanged(loaded: &LoadedPlan) -> Result<(), AssembleError> {
    for (path, stamp) in write::input_files(&loaded.plan) {
        match write::check_file_unchanged(path, stamp) {
            Ok(()) | Err(PlanDirError::InputMissing { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// How assembly may proceed.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssembleOptions {
    /// Re-encode while merging when the chunks cannot be joined by stream copy.
    pub allow_reencode: bool,
}

/// Assembles a planDir into OUT. Refuses, leaving OUT untouched, unless every sidecar carries
/// this plan's hash, every output matches its sidecar, and the frame counts add up.
pub fn assemble(
    dir: &PlanDir,
    out: &Path,
    options: AssembleOptions,
) -> Result<Assembled, AssembleError> {
    runner::install_signal_handlers();
    let loaded = dir.load()?;
    check_output_path(&loaded, out)?;
    check_inputs_unchanged(&loaded)?;
    let clock = Instant::now();
    let chunks = verify_all(dir, &loaded)?;
    let verify_seconds = clock.elapsed().as_secs_f64();
    let audio_bytes = match &loaded.plan.audio {
        Some(_) => dir.read_sidecar(TaskId::Audio)?.map_or(0, |s| s.bytes),
        None => 0,
    };
    let needed = chunks.iter().map(|s| s.bytes).sum::<u64>() + audio_bytes;
    crate::sys::disk::ensure_free(fsio::parent_dir(out), "the assembled output", needed)?;
    let reencode = match stream_mismatch(&chunks) {
        Some(_) if options.allow_reencode => true,
        Some(mismatch) => return Err(mismatch),
        None => false,
    };
    let clock = Instant::now();
    let audio = loaded
        .plan
        .audio
        .as_ref()
        .map(|_| dir.output(&loaded.plan, TaskId::Audio));
    let bytes = if loaded.plan.output.container == Container::Png {
        assemble_png(dir, &loaded, audio.as_deref(), out)?
    } else {
        assemble_file(dir, &loaded, audio.as_deref(), reencode, out)?
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

/// One file: concat, mux, check, rename into place. Returns its size.
fn assemble_file(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    audio: Option<&Path>,
    reencode: bool,
    out: &Path,
) -> Result<u64, AssembleError> {
    let list = write_concat_list(dir, loaded)?;
    let temp = fsio::temp_path_for(out);
    let result = (|| {
        let argv = ffmpeg::mux::assemble(&loaded.plan, &list, audio, reencode, &temp);
        run_ffmpeg(&argv, out)?;
        check_assembled(loaded, &temp, out)?;
        check_inputs_unchanged(loaded)?;
        let bytes = fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
        fsio::publish(&temp, out).map_err(|e| AssembleError::Output {
            path: out.to_path_buf(),
            why: format!("cannot move the finished file into place: {e}"),
            code: Code::CantCreate,
        })?;
        Ok(bytes)
    })();
    let _ = fs::remove_file(&list);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// A PNG sequence: every chunk's frames stream-copied (each packet is a PNG file) into a
/// staging directory beside OUT as `frame_NNNNNN.png`, numbered globally from 1, the audio
/// beside them; counted, synced, then swapped into place, so OUT is never half-filled.
fn assemble_png(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    audio: Option<&Path>,
    out: &Path,
) -> Result<u64, AssembleError> {
    let staging = fsio::temp_path_for(out);
    let cannot = |what: &str, e: std::io::Error| AssembleError::Output {
        path: out.to_path_buf(),
        why: format!("{what}: {e}"),
        code: Code::CantCreate,
    };
    fs::create_dir(&staging).map_err(|e| cannot("cannot create the staging directory", e))?;
    let result = (|| {
        let first_frame = loaded.plan.output.start_frame;
        for chunk in &loaded.chunks {
            let file = dir.output(&loaded.plan, TaskId::Chunk(chunk.index));
            let argv = ffmpeg::mux::extract_png_frames(
                &file,
                chunk.start_frame - first_frame + 1,
                &staging,
            );
            run_ffmpeg(&argv, out)?;
        }
        if let Some(audio) = audio {
            let name = audio.file_name().unwrap_or_default();
            fs::copy(audio, staging.join(name)).map_err(|e| cannot("cannot copy the audio", e))?;
        }
        let total = loaded.plan.output.total_frames();
        let mut bytes = 0;
        for n in 1..=total {
            let frame = staging.join(format!("frame_{n:06}.png"));
            bytes += fs::metadata(&frame)
                .map_err(|_| AssembleError::Check {
                    out: out.to_path_buf(),
                    what: format!("frame_{n:06}.png is missing"),
                })?
                .len();
        }
        let files = fs::read_dir(&staging)
            .map_err(|e| cannot("cannot list the staging directory", e))?
            .count() as u64;
        if files != total + u64::from(audio.is_some()) {
            return Err(AssembleError::Check {
                out: out.to_path_buf(),
                what: format!("{files} files for {total} frames"),
            });
        }
        fsio::sync_filesystem(&staging).map_err(|e| cannot("cannot sync the frames", e))?;
        check_inputs_unchanged(loaded)?;
        fsio::replace_dir(&staging, out)
            .map_err(|e| cannot("cannot move the frames into place", e))?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
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
