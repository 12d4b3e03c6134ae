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
use crate::ffmpeg::video::{ChunkEncode, SourceSpan};
use crate::plandir::attempts::EnvCause;
use crate::plandir::claim::TaskLock;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::publish::{begin_render, publish_render, FrameLogs, Rendered};
use crate::plandir::schema::{Chunk, Media, Plan, Sidecar, StreamFacts, TaskId};
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
    let started_at = fsio::unix_now();
    let verified = match task {
        TaskId::Chunk(_) => encode_chunk(dir, loaded, lock, (&temp, &logs), stall_limit, on_alive),
        TaskId::Audio(_) | TaskId::AudioPart(..) => {
            let audio = plan
                .audio_output(task)
                .expect("audio tasks come from the plan's audio outputs");
            let argv = match task {
                TaskId::AudioPart(_, part) => {
                    ffmpeg::audio::render_audio_part(plan, audio, part, &temp)
                }
                _ => ffmpeg::audio::render_audio(plan, audio, &temp),
            };
            run_and_verify(dir, loaded, &argv, lock, &temp, stall_limit, on_alive)
        }
    };
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

/// Runs one ffmpeg of a task as a guarded child holding the task's lock, under the stall
/// watchdog; returns the seconds it ran and the tail of its stderr, or whose failure it was.
fn run_ffmpeg(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    argv: &Argv,
    lock: &TaskLock,
    stall_limit: Option<Duration>,
    on_alive: &mut dyn FnMut(Alive),
) -> Result<(f64, String), RenderError> {
    let task = lock.task();
    crate::sys::log::log(
        crate::sys::log::Level::Debug,
        "running",
        &[("task", task.to_string()), ("command", argv.display())],
    );
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
    if !outcome.status.success() {
        let signal = std::os::unix::process::ExitStatusExt::signal(&outcome.status);
        let reason = format!(
            "ffmpeg {}: {}",
            outcome.status,
            ffmpeg::error::last_lines(&outcome.stderr_tail, 3)
        );
        let log = failure_log(argv, &outcome.stderr_tail, &reason);
        return Err(blame(
            dir,
            loaded,
            task,
            (&outcome.stderr_tail, signal),
            reason,
            log,
        ));
    }
    Ok((clock.elapsed().as_secs_f64(), outcome.stderr_tail))
}

/// Runs a task's ffmpeg ([`run_ffmpeg`]), then verifies what it wrote; returns what the checks
/// found and the seconds ffmpeg itself ran.
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
    let (encode_seconds, stderr_tail) = run_ffmpeg(dir, loaded, argv, lock, stall_limit, on_alive)?;
    let fail = |reason: String| {
        let log = failure_log(argv, &stderr_tail, &reason);
        blame(dir, loaded, task, (&stderr_tail, None), reason, log)
    };
    let (media, stream) = match task {
        TaskId::Chunk(_) => verify_chunk(loaded, task, temp, &fail),
        TaskId::Audio(_) | TaskId::AudioPart(..) => verify_audio(loaded, task, temp, &fail),
    }?;
    Ok((media, stream, encode_seconds))
}

/// The fill x264 and x265 start their VBV buffer from unless told otherwise (`vbv-init`), as
/// the first chunk's encoder and the serial command's do.
const ENCODER_START_FILL: f64 = 0.9;

/// How far a chunk's bit rate may land from `--bitrate` before it is encoded again with a
/// corrected target: x264's rate control over a few seconds misses by 15 % to 200 % (its
/// one-pass estimate has no time to settle; its two passes mispredict short clips).
const BITRATE_TOLERANCE: f64 = 0.03;

/// The most encodes of one chunk spent on finding the target that lands on `--bitrate`.
const BITRATE_ENCODES: usize = 4;

/// What encoding a chunk needs besides the plan: the task's lock, the temp file and its frame
/// logs, the stall limit and the progress callback.
struct ChunkJob<'a> {
    dir: &'a PlanDir,
    loaded: &'a LoadedPlan,
    chunk: &'a Chunk,
    lock: &'a TaskLock,
    temp: &'a Path,
    logs: &'a FrameLogs,
    stall_limit: Option<Duration>,
    /// Whether each encode's coded frames are read (for the bit rate or the VBV buffer).
    measure: bool,
}

/// One verified encode of a chunk: what its checks found, its command, and its coded frames
/// (read once, where the plan measures them; empty otherwise).
struct Encoded {
    media: Media,
    stream: Option<StreamFacts>,
    argv: Argv,
    frames: Vec<crate::vbv::Frame>,
}

impl ChunkJob<'_> {
    /// One encode of the chunk into the temp file, verified; adds the seconds it ran.
    fn encode(
        &self,
        encode: &ChunkEncode,
        seconds: &mut f64,
        on_alive: &mut dyn FnMut(Alive),
    ) -> Result<Encoded, RenderError> {
        let argv =
            ffmpeg::video::render_chunk(self.loaded, self.chunk, self.temp, self.logs, encode);
        let (media, stream, ran) = run_and_verify(
            self.dir,
            self.loaded,
            &argv,
            self.lock,
            self.temp,
            self.stall_limit,
            on_alive,
        )?;
        *seconds += ran;
        let frames = match self.measure {
            true => probe::video_frame_sizes(self.temp).map_err(|e| {
                let reason = e.to_string();
                RenderError::Failed {
                    log: failure_log(&argv, "", &reason),
                    reason,
                }
            })?,
            false => Vec::new(),
        };
        Ok(Encoded {
            media,
            stream,
            argv,
            frames,
        })
    }
}

/// Encodes a chunk into `temp`: its first pass (two-pass plans), then the encode that is kept.
/// With `--bitrate`, a chunk whose rate lands more than [`BITRATE_TOLERANCE`] off is encoded
/// again with a corrected target (secant steps; the closest of [`BITRATE_ENCODES`] is kept).
/// Where the plan sets the buffer at seams ([`crate::plandir::schema::SeamBuffer`]), a chunk
/// other than the last whose encode leaves the buffer emptier than the next chunk's encoder
/// assumes is encoded again with the plan's tail zones, in order, until one leaves enough.
/// Every step is decided by the encodes before it, so a retried chunk ends byte-identical.
/// Returns what the checks of the kept encode found and the seconds every encode ran.
fn encode_chunk(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
    (temp, logs): (&Path, &FrameLogs),
    stall_limit: Option<Duration>,
    on_alive: &mut dyn FnMut(Alive),
) -> Result<(Media, Option<StreamFacts>, f64), RenderError> {
    let task = lock.task();
    let plan = &loaded.plan;
    let chunk = loaded
        .chunk(task)
        .expect("chunk tasks come from chunks.json");
    let delivery = &plan.encoder.delivery;
    let is_last = loaded.chunks.last().map(|c| c.index) == Some(chunk.index);
    let seams = delivery.seams.as_ref().filter(|_| !is_last);
    let job = ChunkJob {
        dir,
        loaded,
        chunk,
        lock,
        temp,
        logs,
        stall_limit,
        measure: delivery.bitrate.is_some() || seams.is_some(),
    };
    let mut encode = ChunkEncode {
        vbv_start: delivery
            .seams
            .as_ref()
            .filter(|_| loaded.chunks.first().map(|c| c.index) != Some(chunk.index))
            .map(|s| s.start_fill),
        ..ChunkEncode::default()
    };
    let mut seconds = 0.0;
    if delivery.two_pass {
        let stats = dir.pass_stats(task);
        if let Some(folder) = stats.parent() {
            fs::create_dir_all(folder).map_err(|source| PlanDirError::Write {
                path: folder.to_path_buf(),
                source,
            })?;
        }
        encode.pass = Some((1, stats.clone()));
        let argv = ffmpeg::video::first_pass(loaded, chunk, &encode);
        seconds += run_ffmpeg(dir, loaded, &argv, lock, stall_limit, on_alive)?.0;
        encode.pass = Some((2, stats));
    }
    let mut kept = job.encode(&encode, &mut seconds, on_alive)?;
    if let Some(target) = delivery.bitrate {
        let frame_seconds = 1.0 / plan.output.frame_rate.as_f64();
        let rate_of = |frames: &[crate::vbv::Frame]| {
            frames.iter().map(|f| f.bits).sum::<f64>()
                / (frames.len().max(1) as f64 * frame_seconds)
        };
        let mut tried = vec![(target, rate_of(&kept.frames))];
        while let Some(next) = next_bitrate(&tried, target) {
            encode.bitrate = Some(next);
            kept = job.encode(&encode, &mut seconds, on_alive)?;
            tried.push((next, rate_of(&kept.frames)));
        }
        crate::sys::log::log(
            crate::sys::log::Level::Debug,
            "bit rate: asked, got",
            &[
                ("task", task.to_string()),
                ("target", target.to_string()),
                ("tried", format!("{tried:?}")),
            ],
        );
        let off = |got: f64| (got / target as f64 - 1.0).abs();
        let closest = tried
            .iter()
            .min_by(|a, b| off(a.1).total_cmp(&off(b.1)))
            .map(|&(asked, _)| asked)
            .unwrap_or(target);
        if closest != encode.bitrate.unwrap_or(target) {
            encode.bitrate = (closest != target).then_some(closest);
            kept = job.encode(&encode, &mut seconds, on_alive)?;
        }
    }
    let mut tail_zones = seams.map_or(&[][..], |s| &s.tail_zones[..]).iter();
    loop {
        let Some(seam) = seams else {
            return Ok((kept.media, kept.stream, seconds));
        };
        let start = encode.vbv_start.unwrap_or(ENCODER_START_FILL);
        let end_fill = seam_fill(plan, &kept.frames, start);
        if end_fill >= seam.start_fill {
            return Ok((kept.media, kept.stream, seconds));
        }
        let Some(&(zone_seconds, factor)) = tail_zones.next() else {
            let reason = format!(
                "the VBV buffer ends {:.0} % full after chunk {} with every refill tried, and the next chunk's encoder assumes {:.0} %: plan again with `vre plan --force --bufsize` larger (or `vre plan --force --maxrate` higher, `vre plan --force --bitrate` lower)",
                end_fill * 100.0,
                chunk.index,
                seam.start_fill * 100.0
            );
            return Err(RenderError::Failed {
                log: failure_log(&kept.argv, "", &reason),
                reason,
            });
        };
        let frames = chunk.frames();
        let zone =
            ((zone_seconds * plan.output.frame_rate.as_f64()).round() as u64).clamp(1, frames);
        crate::sys::log::log(
            crate::sys::log::Level::Info,
            "the VBV buffer ends too empty for the next chunk; encoding again with fewer bits at the end",
            &[
                ("task", task.to_string()),
                ("end_fill", format!("{end_fill:.3}")),
                ("needed", format!("{:.3}", seam.start_fill)),
                ("zone_frames", zone.to_string()),
                ("bitrate_factor", factor.to_string()),
            ],
        );
        encode.tail_zone = Some((frames - zone, frames, factor));
        kept = job.encode(&encode, &mut seconds, on_alive)?;
    }
}

/// The target of the next encode of a chunk that should land on `target` b/s, from the
/// `(asked, got)` encodes so far; `None` once the last landed within [`BITRATE_TOLERANCE`] or
/// [`BITRATE_ENCODES`] were spent. The first correction scales by the miss; later ones step
/// along the secant of the last two (rate control is not proportional), kept within 1/8 to 4
/// times the target.
fn next_bitrate(tried: &[(u64, f64)], target: u64) -> Option<u64> {
    let goal = target as f64;
    let &(asked, got) = tried.last()?;
    if (got / goal - 1.0).abs() <= BITRATE_TOLERANCE || tried.len() >= BITRATE_ENCODES {
        return None;
    }
    let next = match tried.iter().rev().nth(1) {
        Some(&(before, got_before)) if (got - got_before).abs() > f64::EPSILON => {
            asked as f64 + (goal - got) * (asked as f64 - before as f64) / (got - got_before)
        }
        _ => asked as f64 * goal / got.max(1.0),
    };
    let next = next.clamp(goal / 8.0, goal * 4.0).round() as u64;
    (!tried.iter().any(|&(a, _)| a == next)).then_some(next)
}

/// The fill of the VBV buffer a chunk of these coded `frames` leaves for the next chunk's first
/// frame, a fraction, run from `start_fill`.
fn seam_fill(plan: &Plan, frames: &[crate::vbv::Frame], start_fill: f64) -> f64 {
    let delivery = &plan.encoder.delivery;
    let (Some(rate), Some(size)) = (delivery.maxrate, delivery.bufsize) else {
        return 1.0;
    };
    let model = crate::vbv::Model {
        rate: rate as f64,
        size: size as f64,
    };
    let frame_seconds = 1.0 / plan.output.frame_rate.as_f64();
    model.run(frames, start_fill, frame_seconds).end_fill
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
    let padding = audio.codec.tail_padding();
    if !audio.holds(task, samples) {
        let exactly = match padding {
            0 => "exactly".to_string(),
            _ => format!(
                "at least (and at most {padding} of {}'s padding more than)",
                audio.codec
            ),
        };
        return Err(fail(format!(
            "rendered {samples} audio samples, the plan needs {exactly} {}",
            audio.samples_of(task)
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
