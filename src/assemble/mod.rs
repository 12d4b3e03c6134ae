//! Assembly: verify every published task, concatenate the chunks without re-encoding, mux the
//! audio, and put the output in place atomically.

mod container;

use crate::codecs::Container;
use crate::exit::{Code, HasCode};
use crate::ffmpeg;
use crate::ffmpeg::probe;
use crate::ffmpeg::runner;
use crate::plandir::attempts::{self, EnvCause};
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::{micros_to_seconds_text, Rational, Sidecar, TaskId};
use crate::plandir::verify::{self, Problem};
use crate::plandir::write;
use crate::sys::watch::DirWatcher;
use crate::sys::{disk, fsio, owned};
use crate::work::environment;
use std::fs;
use std::io;
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
    /// The environment stopped assembly (a full disk or quota, a read-only filesystem, an I/O
    /// error, …): not the chunks' fault. OUT is untouched and nothing of the attempt is left.
    #[error("{what} ({detail}) while assembling {out}; {out} was not written and the chunks are intact: {advice}, then assemble again with `vre assemble {dir} -o {out}` (exit 75 asks a scheduler to retry)", what = .cause.phrase(.path), out = .out.display(), advice = .cause.advice(), dir = .dir.display())]
    Environment {
        /// What failed.
        cause: EnvCause,
        /// The directory whose filesystem failed: OUT's, or the planDir.
        path: PathBuf,
        /// OUT.
        out: PathBuf,
        /// The planDir.
        dir: PathBuf,
        /// The evidence, in one line (an OS error, ffmpeg's error line).
        detail: String,
    },
    /// The plan copies subtitles from its input, which is gone.
    #[error("the plan copies subtitle streams from its input {}, which is missing: assembly cuts them out of it; restore it, then assemble again", .path.display())]
    InputNeeded {
        /// The input.
        path: PathBuf,
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
            AssembleError::NotDone { .. }
            | AssembleError::Timeout { .. }
            | AssembleError::Environment { .. } => Code::TempFail,
            AssembleError::Exhausted { .. } => Code::ChunksFailed,
            AssembleError::Untrusted { .. }
            | AssembleError::FrameCount { .. }
            | AssembleError::Inconsistent { .. } => Code::DataErr,
            AssembleError::Output { code, .. } => *code,
            AssembleError::Ffmpeg { .. } | AssembleError::Check { .. } => Code::Failure,
            AssembleError::Interrupted { .. } => Code::Interrupted,
            AssembleError::InputNeeded { .. } => Code::NoInput,
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
    let container = loaded.plan.output.container;
    check_spares_input(out, &loaded.plan.input.path, container == Container::Png)?;
    if container == Container::Png {
        if out.exists() && !out.is_dir() {
            return Err(fail(
                "exists and is not a directory; a PNG sequence is written as a directory"
                    .to_string(),
                Code::CantCreate,
            ));
        }
        let staging = assembly_temp(loaded, out);
        if !ffmpeg::mux::png_frame_names_fit(&staging, loaded.plan.output.total_frames()) {
            return Err(fail(
                "its path is too long for ffmpeg's image2 muxer (about 1000 bytes with vre's staging name and the frame names): choose a shorter one".to_string(),
                Code::Usage,
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

/// Refuses an OUT that is `input` (even through a hard link) or, for a PNG sequence (`png`),
/// which replaces its directory as a whole, a directory holding it.
pub fn check_spares_input(out: &Path, input: &Path, png: bool) -> Result<(), AssembleError> {
    let fail = |why: String| AssembleError::Output {
        path: out.to_path_buf(),
        why,
        code: Code::Usage,
    };
    if disk::same_file(out, input) {
        return Err(fail(
            "is this plan's input; writing it would destroy the input: choose another output"
                .to_string(),
        ));
    }
    let holds_input = png
        && match (out.canonicalize(), input.canonicalize()) {
            (Ok(dir), Ok(file)) => file.starts_with(dir),
            _ => false,
        };
    if holds_input {
        return Err(fail(format!(
            "holds this plan's input {}, and a PNG sequence replaces its directory as a whole: choose another output directory",
            input.display()
        )));
    }
    Ok(())
}

/// Checks OUT before any work: [`check_output_path`], then [`check_overwrite`].
pub fn check_destination(
    loaded: &LoadedPlan,
    out: &Path,
    overwrite: bool,
) -> Result<(), AssembleError> {
    check_output_path(loaded, out)?;
    check_overwrite(out, overwrite)
}

/// Whether something is at `out` that replacing it would lose: a file, a link, or a directory
/// with anything in it (an empty directory holds nothing to lose).
fn holds_something(out: &Path) -> bool {
    match fs::symlink_metadata(out) {
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        Ok(meta) if meta.is_dir() => fs::read_dir(out).map_or(true, |mut d| d.next().is_some()),
        Ok(_) => true,
    }
}

/// The refusal of an OUT that exists when `--overwrite` was not given.
fn exists_error(out: &Path, when: &str) -> AssembleError {
    AssembleError::Output {
        path: out.to_path_buf(),
        why: format!("{when}; pass --overwrite (-y) to replace it, or choose another output"),
        code: Code::CantCreate,
    }
}

/// Refuses an OUT that exists (a file, a link, a directory that is not empty) unless
/// `overwrite`: checked before any work, and again when OUT is put in place, which never
/// replaces anything without `overwrite`.
pub fn check_overwrite(out: &Path, overwrite: bool) -> Result<(), AssembleError> {
    if overwrite || !holds_something(out) {
        Ok(())
    } else {
        Err(exists_error(out, "exists"))
    }
}

/// Whether a plan identity is one that can name files: lowercase hex (plan.json is data).
fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The temp path this assembly writes `dest` under (OUT's partial copy, the PNG staging
/// directory, the concat list): named with the plan identity and this process, so that the next
/// assembly of the plan can prove it is vre's and dead, and remove it. A plan without a usable
/// identity gets a plain temp name.
fn assembly_temp(loaded: &LoadedPlan, dest: &Path) -> PathBuf {
    let id = &loaded.plan.plan_id;
    if is_plain_id(id) {
        owned::temp_path(dest, id)
    } else {
        fsio::temp_path_for(dest)
    }
}

/// Removes what killed assemblies left: beside OUT, the partial outputs and staging directories
/// of this plan; in the planDir, concat lists, FFMETADATA files and cut subtitles. Only those
/// whose process is dead on this host: a running assembly's, or one on another host, are left
/// alone.
fn sweep_dead_assemblies(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    out: &Path,
) -> Result<(), AssembleError> {
    let id = &loaded.plan.plan_id;
    let own_names: Vec<String> = dir
        .assembly_files(loaded.plan.audio_outputs().len() as u32)
        .iter()
        .map(|path| {
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let out_dir = fsio::parent_dir(out);
    let beside_out = if is_plain_id(id) {
        owned::remove_dead(out_dir, |t| t.tag == *id).map_err(|e| AssembleError::Output {
            path: out.to_path_buf(),
            why: format!(
                "cannot remove what a killed assembly left in {}: {e}",
                out_dir.display()
            ),
            code: Code::CantCreate,
        })?
    } else {
        Vec::new()
    };
    let in_plan_dir =
        owned::remove_dead(dir.root(), |t| own_names.contains(&t.target)).map_err(|source| {
            PlanDirError::Write {
                path: dir.root().to_path_buf(),
                source,
            }
        })?;
    for path in beside_out.iter().chain(&in_plan_dir) {
        crate::sys::log::log(
            crate::sys::log::Level::Info,
            "removed what a killed assembly left",
            &[("path", path.display().to_string())],
        );
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
        dir.output_dir(TaskId::Audio(0)).as_path(),
        dir.output_dir(TaskId::Chunk(0)).as_path(),
        fsio::parent_dir(&dir.attempts(TaskId::Audio(0))),
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
            // Tasks after the first unfinished one may be done already: count only the others.
            let pending = tasks[next..]
                .iter()
                .filter(|&&task| !dir.is_done(&loaded, task))
                .count();
            return Err(AssembleError::Timeout {
                dir: dir.root().to_path_buf(),
                pending,
                seconds: waited.as_secs_f64(),
            });
        }
        let slice = timeout.map_or(WAIT_RECHECK, |t| (t - waited).min(WAIT_RECHECK));
        watcher.wait(slice);
    }
}

/// How often `--wait` re-checks when no change event arrives.
const WAIT_RECHECK: Duration = Duration::from_secs(1);

/// Writes the concat list for this assembly: a private file in the planDir root, so that its
/// entries are the fixed relative names `chunks/chunk-NNNNNN.ext` and concurrent assemblies
/// never share one.
///
/// Each entry states its duration. Without it the concat demuxer offsets the next file by the
/// container's duration, which mp4 rounds to milliseconds: half a millisecond of drift per chunk
/// that breaks the frame rate. The durations are differences of the chunk boundaries' exact
/// times rounded to microseconds, so their running sum is always within half a microsecond of
/// the true boundary: rounding never accumulates, however many chunks there are.
///
/// Where the chunks state no frame rate, each entry also turns off ffmpeg's guess of it
/// ([`ffmpeg::mux::rate_from_timestamps`]).
fn write_concat_list(dir: &PlanDir, loaded: &LoadedPlan) -> Result<PathBuf, PlanDirError> {
    let rate = loaded.plan.output.frame_rate;
    let no_guess = match ffmpeg::mux::rate_from_timestamps(&loaded.plan) {
        true => "option fpsprobesize 0\n",
        false => "",
    };
    let mut list = String::from("ffconcat version 1.0\n");
    for chunk in &loaded.chunks {
        let output = dir.output(&loaded.plan, TaskId::Chunk(chunk.index));
        let relative = dir.relative(&output);
        let micros = rate.frame_time_micros_round(chunk.end_frame)
            - rate.frame_time_micros_round(chunk.start_frame);
        list.push_str(&format!(
            "file {}\n{no_guess}duration {}\n",
            ffmpeg::argv::concat_quote(&relative),
            micros_to_seconds_text(micros)
        ));
    }
    let path = assembly_temp(loaded, &dir.concat_list());
    if let Err(source) = fs::write(&path, list) {
        let _ = fs::remove_file(&path);
        return Err(PlanDirError::Write { path, source });
    }
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
    let audio_streams: Vec<_> = timings.iter().filter(|t| t.codec_type == "audio").collect();
    let outputs = plan.audio_outputs();
    if audio_streams.len() != outputs.len() {
        return Err(check(format!(
            "{} audio stream(s), the plan has {}",
            audio_streams.len(),
            outputs.len()
        )));
    }
    for (audio, (_, audio_plan)) in audio_streams.into_iter().zip(outputs) {
        if audio_plan.codec == crate::codecs::AudioCodec::Copy {
            // The input's packets where the input has them, as long as they last.
            continue;
        }
        let offset = audio_plan.codec.start_offset_seconds(plan.output.container);
        if (audio.start_time - offset).abs() > 1e-3 {
            return Err(check(format!(
                "audio starts at {:.6} s, not 0",
                audio.start_time - offset
            )));
        }
        // Matroska states no per-stream duration; the audio file itself was verified sample
        // for sample before muxing.
        let video_duration = rate.seconds_of(expected_frames);
        let tolerance =
            (1024 + audio_plan.codec.tail_padding()) as f64 / f64::from(audio_plan.sample_rate);
        if audio.duration > 0.0 && (audio.duration - video_duration).abs() > tolerance {
            return Err(check(format!(
                "audio lasts {:.6} s, the video {video_duration:.6} s",
                audio.duration
            )));
        }
    }
    Ok(())
}

/// What a failed write of assembly into `at` (OUT's directory, or the planDir for the concat
/// list) means, decided while what was written is still there: the environment's failure
/// ([`AssembleError::Environment`], exit 75), a directory this user cannot write
/// ([`AssembleError::Output`], exit 73), or `None` when nothing points at the environment.
fn blame_environment(
    dir: &PlanDir,
    out: &Path,
    at: &Path,
    os_error: Option<&io::Error>,
    stderr: &str,
) -> Option<AssembleError> {
    let (cause, detail) = environment::classify_write(at, os_error, stderr)?;
    match cause {
        EnvCause::DiskFull
        | EnvCause::ReadOnly
        | EnvCause::IoError
        | EnvCause::TooManyOpenFiles
        | EnvCause::OutOfMemory => Some(AssembleError::Environment {
            cause,
            path: at.to_path_buf(),
            out: out.to_path_buf(),
            dir: dir.root().to_path_buf(),
            detail,
        }),
        EnvCause::NotWritable => Some(AssembleError::Output {
            path: out.to_path_buf(),
            why: format!(
                "cannot be written into {} ({detail}); give this user write access to it",
                at.display()
            ),
            code: Code::CantCreate,
        }),
        EnvCause::InputMissing | EnvCause::PlanDirMissing => None,
    }
}

/// Runs an assembly ffmpeg as a guarded child (a signal kills it); a failure is blamed on the
/// environment of OUT's directory where the evidence says so.
fn run_ffmpeg(dir: &PlanDir, argv: &ffmpeg::argv::Argv, out: &Path) -> Result<(), AssembleError> {
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
        let at = fsio::parent_dir(out);
        if let Some(blamed) = blame_environment(dir, out, at, None, &outcome.stderr_tail) {
            return Err(blamed);
        }
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
    /// Start even if OUT's filesystem has less free space than the chunks and audio take
    /// (`--no-space-check`).
    pub skip_space_check: bool,
    /// Replace an existing OUT (`--overwrite`); without it an existing OUT is refused.
    pub overwrite: bool,
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
    check_destination(&loaded, out, options.overwrite)?;
    check_inputs_unchanged(&loaded)?;
    sweep_dead_assemblies(dir, &loaded, out)?;
    let clock = Instant::now();
    let chunks = verify_all(dir, &loaded)?;
    let verify_seconds = clock.elapsed().as_secs_f64();
    let mut audio_bytes = 0;
    for task in loaded.audio_tasks() {
        audio_bytes += dir.read_sidecar(task)?.map_or(0, |s| s.bytes);
    }
    let needed = chunks.iter().map(|s| s.bytes).sum::<u64>() + audio_bytes;
    if !options.skip_space_check {
        crate::sys::disk::ensure_free(fsio::parent_dir(out), "the assembled output", needed)?;
    }
    let reencode = match stream_mismatch(&chunks) {
        Some(_) if options.allow_reencode => true,
        Some(mismatch) => return Err(mismatch),
        None => false,
    };
    let clock = Instant::now();
    let mut joined = Vec::new();
    let assembled = (|| {
        let mut audio = Vec::new();
        for (task, plan) in loaded.plan.audio_outputs() {
            audio.push(match plan.parts {
                Some(_) => join_parts(dir, &loaded, task, out, &mut joined)?,
                None => dir.output(&loaded.plan, task),
            });
        }
        let bytes = if loaded.plan.output.container == Container::Png {
            assemble_png(dir, &loaded, &audio, out, options.overwrite)?
        } else {
            assemble_file(dir, &loaded, &audio, reencode, out, options.overwrite)?
        };
        Ok::<_, AssembleError>((bytes, audio.len()))
    })();
    for temp in &joined {
        let _ = fs::remove_file(temp);
    }
    let (bytes, audio_outputs) = assembled?;
    Ok(Assembled {
        output: out.to_path_buf(),
        frames: loaded.plan.output.total_frames(),
        bytes,
        has_audio: audio_outputs > 0,
        verify_seconds,
        mux_seconds: clock.elapsed().as_secs_f64(),
        chunks,
    })
}

/// Joins the published parts of audio output `task` by stream copy into a private file of the
/// planDir (recorded in `temps`, with its concat list, whatever happens) and checks that it
/// holds exactly the output's samples. Returns the joined file.
fn join_parts(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    task: TaskId,
    out: &Path,
    temps: &mut Vec<PathBuf>,
) -> Result<PathBuf, AssembleError> {
    let plan = &loaded.plan;
    let audio = plan.audio_output(task).expect("an output of the plan");
    let parts = audio.parts.expect("an output rendered in parts");
    let n = task.audio_output().unwrap_or(0);
    let rate = u64::from(audio.sample_rate);
    let mut list = String::from("ffconcat version 1.0\n");
    for part in 0..audio.part_count() {
        let file = dir.output(plan, TaskId::AudioPart(n, part));
        let micros = (audio.samples_of(TaskId::AudioPart(n, part)) * 1_000_000 + rate / 2) / rate;
        list.push_str(&format!(
            "file {}\nduration {}\n",
            ffmpeg::argv::concat_quote(&dir.relative(&file)),
            micros_to_seconds_text(micros)
        ));
    }
    let list_path = assembly_temp(loaded, &dir.audio_parts_list(n));
    let joined = assembly_temp(loaded, &dir.joined_audio(n));
    temps.extend([list_path.clone(), joined.clone()]);
    fs::write(&list_path, list).map_err(|source| PlanDirError::Write {
        path: list_path.clone(),
        source,
    })?;
    // ffmpeg's AAC encoder primes with one frame.
    let argv = ffmpeg::mux::join_audio_parts(&list_path, (parts.frame, audio.sample_rate), &joined);
    run_ffmpeg(dir, &argv, out)?;
    let timings = probe::stream_timings(&joined, false).map_err(|e| AssembleError::Check {
        out: out.to_path_buf(),
        what: format!("cannot read {}'s parts joined: {e}", task),
    })?;
    let samples = timings
        .iter()
        .find(|t| t.codec_type == "audio")
        .map_or(0, |t| {
            (t.duration * audio.sample_rate as f64).round() as u64
        });
    if samples != audio.samples {
        return Err(AssembleError::Check {
            out: out.to_path_buf(),
            what: format!(
                "{task}'s {} parts joined hold {samples} samples, the plan has {}",
                audio.part_count(),
                audio.samples
            ),
        });
    }
    Ok(joined)
}

/// The audio files with the start each keeps: a copied stream's own (its first packet's time
/// from the input's start, as the serial command keeps it); rendered ones start at 0.
fn audio_inputs(
    loaded: &LoadedPlan,
    audio: &[PathBuf],
    out: &Path,
) -> Result<Vec<(PathBuf, Option<f64>)>, AssembleError> {
    let outputs = loaded.plan.audio_outputs();
    audio
        .iter()
        .zip(outputs)
        .map(|(file, (_, plan))| {
            if plan.codec != crate::codecs::AudioCodec::Copy {
                return Ok((file.clone(), None));
            }
            let timings = probe::stream_timings(file, false).map_err(|e| AssembleError::Check {
                out: out.to_path_buf(),
                what: format!("cannot read the copied audio {}: {e}", file.display()),
            })?;
            let start = timings
                .iter()
                .find(|t| t.codec_type == "audio")
                .map_or(0.0, |t| t.start_time);
            Ok((file.clone(), Some(start)))
        })
        .collect()
}

/// One file: concat, mux, check, rename into place. Returns its size.
fn assemble_file(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    audio: &[PathBuf],
    reencode: bool,
    out: &Path,
    overwrite: bool,
) -> Result<u64, AssembleError> {
    let list = write_concat_list(dir, loaded).map_err(|e| match &e {
        PlanDirError::Write { source, .. } => {
            blame_environment(dir, out, dir.root(), Some(source), "").unwrap_or(e.into())
        }
        _ => e.into(),
    })?;
    let temp = assembly_temp(loaded, out);
    let mut container_temps = ContainerTemps::default();
    let result = (|| {
        let container = prepare_container(dir, loaded, out, &mut container_temps)?;
        let audio = audio_inputs(loaded, audio, out)?;
        let argv = ffmpeg::mux::assemble(&loaded.plan, &list, &audio, container, reencode, &temp);
        run_ffmpeg(dir, &argv, out)?;
        check_assembled(loaded, &temp, out)?;
        check_container(loaded, &temp, out)?;
        check_inputs_unchanged(loaded)?;
        let bytes = fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
        let published = if overwrite {
            fsio::publish(&temp, out)
        } else {
            fsio::publish_no_replace(&temp, out)
        };
        published.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                exists_error(out, "appeared while vre assembled it")
            }
            _ => {
                let at = fsio::parent_dir(out);
                blame_environment(dir, out, at, Some(&e), "").unwrap_or(AssembleError::Output {
                    path: out.to_path_buf(),
                    why: format!("cannot move the finished file into place: {e}"),
                    code: Code::CantCreate,
                })
            }
        })?;
        Ok(bytes)
    })();
    let _ = fs::remove_file(&list);
    container_temps.remove();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| interrupted_or(e, out))
}

/// The private files one assembly writes in the planDir for the container data; removed when
/// it ends.
#[derive(Debug, Default)]
struct ContainerTemps {
    /// The FFMETADATA file.
    metadata: Option<PathBuf>,
    /// The cut subtitles.
    subtitles: Option<PathBuf>,
}

impl ContainerTemps {
    /// Removes them.
    fn remove(&self) {
        for path in self.metadata.iter().chain(&self.subtitles) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes what assembly maps the plan's container data from into private files of the planDir
/// (recorded in `temps`, whatever happens): the FFMETADATA file of its tags and chapters, and
/// the input's subtitle streams cut for the output (the input must be there, unchanged). `None`
/// for a plan without container data (written before it existed).
fn prepare_container<'a>(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    out: &Path,
    temps: &'a mut ContainerTemps,
) -> Result<Option<ffmpeg::metadata::ContainerFiles<'a>>, AssembleError> {
    let plan = &loaded.plan;
    let Some(data) = &plan.container else {
        return Ok(None);
    };
    let metadata: &Path = temps
        .metadata
        .insert(assembly_temp(loaded, &dir.metadata_file()));
    if let Err(source) = fs::write(metadata, ffmpeg::metadata::ffmetadata(data)) {
        return Err(
            blame_environment(dir, out, dir.root(), Some(&source), "").unwrap_or(
                PlanDirError::Write {
                    path: metadata.to_path_buf(),
                    source,
                }
                .into(),
            ),
        );
    }
    let mut subtitles = None;
    if data.subtitles().next().is_some() {
        match write::check_file_unchanged(&plan.input.path, &plan.input.stamp) {
            Err(PlanDirError::InputMissing { path }) => {
                return Err(AssembleError::InputNeeded { path })
            }
            other => other?,
        }
        let ext = plan.output.container.subtitle_file_format().1;
        let cut: &Path = temps
            .subtitles
            .insert(assembly_temp(loaded, &dir.subtitles_file(ext)));
        if let Some(argv) = ffmpeg::metadata::cut_subtitles(plan, cut) {
            run_ffmpeg(dir, &argv, out)?;
        }
        subtitles = Some(cut);
    }
    Ok(Some(ffmpeg::metadata::ContainerFiles {
        metadata,
        subtitles,
    }))
}

/// Checks the assembled file's streams, chapters and tags against the plan's list (see
/// [`container::check`]).
fn check_container(loaded: &LoadedPlan, temp: &Path, out: &Path) -> Result<(), AssembleError> {
    let Some(data) = &loaded.plan.container else {
        return Ok(());
    };
    let check = |what: String| AssembleError::Check {
        out: out.to_path_buf(),
        what,
    };
    let found = probe::container_facts_of(temp).map_err(|e| check(e.to_string()))?;
    container::check(data, loaded.plan.output.container, &found).map_err(check)
}

/// `err`, or [`AssembleError::Interrupted`] when a signal caused it (a check's ffprobe killed).
fn interrupted_or(err: AssembleError, out: &Path) -> AssembleError {
    match runner::interrupted() {
        true => AssembleError::Interrupted {
            out: out.to_path_buf(),
        },
        false => err,
    }
}

/// A PNG sequence: every chunk's frames stream-copied (each packet is a PNG file) into a
/// staging directory beside OUT as `frame_NNNNNN.png`, numbered globally from 1, the audio
/// beside them; counted, synced, then swapped into place, so OUT is never half-filled.
fn assemble_png(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    audio: &[PathBuf],
    out: &Path,
    overwrite: bool,
) -> Result<u64, AssembleError> {
    let staging = assembly_temp(loaded, out);
    let cannot = |what: &str, e: std::io::Error| {
        let at = fsio::parent_dir(out);
        blame_environment(dir, out, at, Some(&e), "").unwrap_or(AssembleError::Output {
            path: out.to_path_buf(),
            why: format!("{what}: {e}"),
            code: Code::CantCreate,
        })
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
            run_ffmpeg(dir, &argv, out)?;
        }
        for file in audio {
            let name = file.file_name().unwrap_or_default();
            fs::copy(file, staging.join(name)).map_err(|e| cannot("cannot copy the audio", e))?;
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
        if files != total + audio.len() as u64 {
            return Err(AssembleError::Check {
                out: out.to_path_buf(),
                what: format!("{files} files for {total} frames"),
            });
        }
        fsio::sync_filesystem(&staging).map_err(|e| cannot("cannot sync the frames", e))?;
        check_inputs_unchanged(loaded)?;
        if overwrite {
            fsio::replace_dir(&staging, out)
        } else {
            put_dir_in_place(&staging, out)
        }
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::DirectoryNotEmpty => {
                exists_error(out, "was filled while vre assembled it")
            }
            _ => cannot("cannot move the frames into place", e),
        })?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result.map_err(|e| interrupted_or(e, out))
}

/// Puts a finished staging directory at `out` without replacing anything: an empty directory
/// there is removed first (only an empty one can be), then the staging directory is renamed
/// unless something took the name meanwhile.
fn put_dir_in_place(staging: &Path, out: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(out).is_ok_and(|m| m.is_dir()) {
        match fs::remove_dir(out) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    fsio::rename_no_replace(staging, out)?;
    fsio::fsync_dir(fsio::parent_dir(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_entries_escape_single_quotes() {
        assert_eq!(ffmpeg::argv::concat_quote("a'b.mp4"), r"'a'\''b.mp4'");
        assert_eq!(ffmpeg::argv::concat_quote("chunks/c.mp4"), "'chunks/c.mp4'");
    }
}
