//! Making a plan: analysing the input, choosing settings, cutting chunks, and writing the
//! planDir idempotently.

use crate::audio::{AudioSpecError, TrackSpec};
use crate::chunking;
use crate::claim;
use crate::exit::{Code, HasCode};
use crate::ffmpeg;
use crate::fsio;
use crate::plandir::{
    self, AudioPlan, AudioTrack, Chunk, Chunking, Container, EncoderSettings, GopSettings,
    InputRecord, LoadedPlan, OutputSpec, Plan, PlanDir, PlanDirError, Rational, SourceFacts,
    TaskId,
};
use crate::probe::{self, ProbeError};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The encoders vre can chunk losslessly, with the presets each accepts.
pub const CODECS: &[&str] = &["libx264"];

/// x264's presets.
pub const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// Sample rate of the audio mix.
const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// Channels of the audio mix.
const AUDIO_CHANNELS: u32 = 2;
/// AAC bit rate of the audio mix.
const AUDIO_BITRATE: u32 = 192_000;
/// The longest GOP vre makes, in seconds of frames.
const MAX_GOP_SECONDS: f64 = 10.0;

/// A frame range asked for with `--range START:END`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeBound {
    /// A frame on the output grid.
    Frame(u64),
    /// A time in seconds (rounded to the nearest frame).
    Seconds(f64),
}

/// `--range START:END`, either side optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RangeSpec {
    /// First frame (inclusive).
    pub start: Option<RangeBound>,
    /// End (exclusive).
    pub end: Option<RangeBound>,
}

/// Parses `START:END` where each side is a frame number, seconds with an `s` suffix, or empty.
pub fn parse_range(text: &str) -> Result<RangeSpec, String> {
    let (start, end) = text
        .split_once(':')
        .ok_or_else(|| format!("'{text}' is not START:END (e.g. 0:300 or 5s:12.5s)"))?;
    let bound = |side: &str| -> Result<Option<RangeBound>, String> {
        let side = side.trim();
        if side.is_empty() {
            return Ok(None);
        }
        if let Some(secs) = side.strip_suffix('s') {
            let v: f64 = secs
                .parse()
                .map_err(|_| format!("'{side}' is not a number of seconds"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("'{side}' must be a non-negative number of seconds"));
            }
            return Ok(Some(RangeBound::Seconds(v)));
        }
        side.parse()
            .map(|f| Some(RangeBound::Frame(f)))
            .map_err(|_| format!("'{side}' is not a frame number (or seconds with an s suffix)"))
    };
    Ok(RangeSpec {
        start: bound(start)?,
        end: bound(end)?,
    })
}

/// Everything `vre plan` (and `vre run`) is asked for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// The input video.
    pub input: PathBuf,
    /// `--vf`.
    pub video_filter: Option<String>,
    /// `--codec`.
    pub codec: String,
    /// `--crf`.
    pub crf: u32,
    /// `--preset`.
    pub preset: String,
    /// `--pix-fmt`.
    pub pix_fmt: String,
    /// `--threads`: encoder threads per chunk.
    pub threads: u32,
    /// `--chunk-frames`.
    pub chunk_frames: Option<u64>,
    /// `--chunks`.
    pub chunks: Option<u64>,
    /// `--range`.
    pub range: RangeSpec,
    /// `--audio` tracks.
    pub audio_tracks: Vec<TrackSpec>,
    /// `--af`: filters for the input's own audio.
    pub audio_filter: Option<String>,
    /// `--no-source-audio`.
    pub no_source_audio: bool,
}

/// A plan that cannot work, found before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// An option's value cannot work.
    #[error("{flag}: {why}")]
    BadOption {
        /// The flag.
        flag: &'static str,
        /// What is wrong and what would work.
        why: String,
    },
    /// ffmpeg refused the render settings on a one-frame trial.
    #[error("ffmpeg rejects these settings (--vf, --codec, --preset, --crf, --pix-fmt) on {}: {stderr}", .input.display())]
    Rejected {
        /// The input.
        input: PathBuf,
        /// ffmpeg's complaint.
        stderr: String,
    },
    /// The input cannot be read.
    #[error(transparent)]
    Input(#[from] ProbeError),
    /// An audio track cannot be used.
    #[error(transparent)]
    Audio(#[from] AudioSpecError),
    /// The input could not be hashed.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl HasCode for PlanError {
    fn code(&self) -> Code {
        match self {
            PlanError::BadOption { .. } | PlanError::Rejected { .. } => Code::Usage,
            PlanError::Input(e) => e.code(),
            PlanError::Audio(e) => e.code(),
            PlanError::Read { .. } => Code::IoErr,
        }
    }
}

fn bad(flag: &'static str, why: impl Into<String>) -> PlanError {
    PlanError::BadOption {
        flag,
        why: why.into(),
    }
}

fn absolute(path: &Path) -> Result<PathBuf, PlanError> {
    std::path::absolute(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn file_record(path: &Path) -> Result<InputRecord, PlanError> {
    let read_err = |source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(read_err)?;
    let (size, blake3) = fsio::hash_file(path).map_err(read_err)?;
    Ok(InputRecord {
        path: path.to_path_buf(),
        size,
        mtime_ns: mtime_ns(&meta),
        blake3,
    })
}

fn mtime_ns(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

fn resolve_bound(bound: RangeBound, rate: Rational) -> u64 {
    match bound {
        RangeBound::Frame(f) => f,
        RangeBound::Seconds(s) => (s * rate.as_f64()).round() as u64,
    }
}

fn validate_settings(req: &PlanRequest) -> Result<(), PlanError> {
    if !CODECS.contains(&req.codec.as_str()) {
        return Err(bad(
            "--codec",
            format!(
                "'{}' is not supported; valid: {}",
                req.codec,
                CODECS.join(", ")
            ),
        ));
    }
    if !X264_PRESETS.contains(&req.preset.as_str()) {
        return Err(bad(
            "--preset",
            format!(
                "'{}' is not a {} preset; valid: {}",
                req.preset,
                req.codec,
                X264_PRESETS.join(", ")
            ),
        ));
    }
    if req.crf > 51 {
        return Err(bad("--crf", format!("{} is out of range 0..=51", req.crf)));
    }
    if req.threads == 0 {
        return Err(bad("--threads", "must be at least 1"));
    }
    if matches!(req.chunk_frames, Some(0)) {
        return Err(bad("--chunk-frames", "must be at least 1"));
    }
    if matches!(req.chunks, Some(0)) {
        return Err(bad("--chunks", "must be at least 1"));
    }
    Ok(())
}

/// Runs the render settings on one frame of the input, so that a filter chain, encoder or
/// preset ffmpeg rejects is refused at plan time, before anything is written.
fn trial_render(plan: &Plan) -> Result<(), PlanError> {
    let argv = ffmpeg::trial_frame(plan);
    ffmpeg::run_capture(&argv, &plan.input.path).map_err(|e| match e {
        ffmpeg::FfmpegError::Failed {
            subject, stderr, ..
        } => PlanError::Rejected {
            input: subject,
            stderr,
        },
        other => PlanError::Input(ProbeError::Tool(other)),
    })?;
    Ok(())
}

fn audio_plan(
    req: &PlanRequest,
    input: &InputRecord,
    info: &probe::MediaInfo,
    output: &OutputSpec,
) -> Result<Option<AudioPlan>, PlanError> {
    let mut tracks = Vec::new();
    if info.audio.is_some() && !req.no_source_audio {
        tracks.push(AudioTrack {
            path: input.path.clone(),
            blake3: input.blake3.clone(),
            is_source: true,
            offset: 0.0,
            seek: 0.0,
            rate: 1.0,
            volume: 1.0,
            fade_in: 0.0,
            fade_out: 0.0,
            looped: false,
            filter: req.audio_filter.clone(),
            media_duration: info.duration.unwrap_or(0.0),
        });
    } else if req.audio_filter.is_some() {
        return Err(bad(
            "--af",
            "applies to the input's own audio, but there is none (or --no-source-audio is set)",
        ));
    }
    for spec in &req.audio_tracks {
        let spec_text = || format!("file={}", spec.path.display());
        if !spec.path.is_file() {
            return Err(AudioSpecError::FileMissing {
                spec: spec_text(),
                path: spec.path.clone(),
            }
            .into());
        }
        let path = absolute(&spec.path)?;
        let media = probe::probe(&path)?;
        if media.audio.is_none() {
            return Err(AudioSpecError::NoAudio {
                spec: spec_text(),
                path,
            }
            .into());
        }
        let record = file_record(&path)?;
        tracks.push(AudioTrack {
            path,
            blake3: record.blake3,
            is_source: false,
            offset: spec.offset,
            seek: spec.seek,
            rate: spec.rate,
            volume: spec.volume,
            fade_in: spec.fade_in,
            fade_out: spec.fade_out,
            looped: spec.looped,
            filter: None,
            media_duration: media.duration.unwrap_or(0.0),
        });
    }
    if tracks.is_empty() {
        return Ok(None);
    }
    let rate = output.frame_rate;
    let samples =
        (u128::from(output.total_frames()) * u128::from(rate.den) * u128::from(AUDIO_SAMPLE_RATE)
            + u128::from(rate.num) / 2)
            / u128::from(rate.num);
    Ok(Some(AudioPlan {
        codec: "aac".to_string(),
        bitrate: AUDIO_BITRATE,
        sample_rate: AUDIO_SAMPLE_RATE,
        channels: AUDIO_CHANNELS,
        samples: samples as u64,
        tracks,
    }))
}

/// Analyses the input and builds the plan and its chunks. Writes nothing.
pub fn make_plan(req: &PlanRequest) -> Result<LoadedPlan, PlanError> {
    validate_settings(req)?;
    if !req.input.exists() {
        return Err(ProbeError::Missing {
            path: req.input.clone(),
        }
        .into());
    }
    let input_path = absolute(&req.input)?;
    let info = probe::probe(&input_path)?;
    let video = info.video.clone().ok_or_else(|| ProbeError::NoVideo {
        path: input_path.clone(),
        what: match &info.audio {
            Some(a) => format!("only audio ({})", a.codec),
            None => "no audio or video streams".to_string(),
        },
    })?;
    let total_frames = probe::count_frames(&input_path)?;
    if total_frames == 0 {
        return Err(ProbeError::NoFrames { path: input_path }.into());
    }
    let rate = video.frame_rate;
    let start = req.range.start.map_or(0, |b| resolve_bound(b, rate));
    let end = req
        .range
        .end
        .map_or(total_frames, |b| resolve_bound(b, rate));
    if start >= end || end > total_frames {
        return Err(bad(
            "--range",
            format!(
                "frames [{start}, {end}) are outside the input, which has {total_frames} frames ({:.3} s at {rate} fps)",
                rate.seconds_of(total_frames)
            ),
        ));
    }
    let input = file_record(&input_path)?;
    let output = OutputSpec {
        container: Container::Mp4,
        width: video.width,
        height: video.height,
        frame_rate: rate,
        start_frame: start,
        end_frame: end,
    };
    let target = req
        .chunk_frames
        .unwrap_or_else(|| chunking::default_chunk_frames(rate));
    let count = match req.chunks {
        Some(n) => n,
        None => chunking::count_for_target(start, end, target),
    };
    let chunks = chunking::even_chunks(start, end, count);
    let longest = chunks.iter().map(Chunk::frames).max().unwrap_or(1);
    let keyint = longest
        .min((rate.as_f64() * MAX_GOP_SECONDS).round() as u64)
        .max(1) as u32;
    let audio = audio_plan(req, &input, &info, &output)?;
    let mut plan = Plan {
        plan_hash: String::new(),
        format_version: plandir::FORMAT_VERSION,
        vre_version: env!("CARGO_PKG_VERSION").to_string(),
        ffmpeg_version: probe::ffmpeg_version().map_err(ProbeError::Tool)?,
        input,
        source: SourceFacts {
            codec: video.codec,
            width: video.width,
            height: video.height,
            frame_rate: rate,
            total_frames,
            pix_fmt: video.pix_fmt,
            has_audio: info.audio.is_some(),
        },
        output,
        video_filter: req.video_filter.clone().filter(|f| !f.trim().is_empty()),
        encoder: EncoderSettings {
            codec: req.codec.clone(),
            crf: req.crf,
            preset: req.preset.clone(),
            pix_fmt: req.pix_fmt.clone(),
            threads: req.threads,
            gop: GopSettings {
                keyint,
                closed: true,
                idr_first: true,
                scene_cut: false,
                repeat_headers: true,
            },
        },
        chunking: Chunking {
            strategy: if req.chunks.is_some() {
                "count".to_string()
            } else {
                "frames".to_string()
            },
            target_frames: longest,
        },
        audio,
    };
    trial_render(&plan)?;
    plan.plan_hash = plandir::compute_plan_hash(&plan, &chunks);
    Ok(LoadedPlan { plan, chunks })
}

/// Checks that the input still has the size and modification time it had when planned.
pub fn check_input_unchanged(plan: &Plan) -> Result<(), PlanDirError> {
    let path = &plan.input.path;
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PlanDirError::InputMissing { path: path.clone() })
        }
        Err(source) => {
            return Err(PlanDirError::Read {
                path: path.clone(),
                source,
            })
        }
    };
    let what = if meta.len() != plan.input.size {
        format!("size {} bytes, planned {}", meta.len(), plan.input.size)
    } else if mtime_ns(&meta) != plan.input.mtime_ns {
        "modification time differs".to_string()
    } else {
        return Ok(());
    };
    Err(PlanDirError::InputChanged {
        path: path.clone(),
        what,
    })
}

/// What writing a plan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanOutcome {
    /// A new planDir was written.
    Created,
    /// The planDir already held this very plan; nothing changed.
    Unchanged,
    /// A different plan was replaced (`--force`): outputs still valid for the new plan were
    /// kept, the others withdrawn.
    Replaced {
        /// Outputs kept.
        kept: usize,
        /// Outputs withdrawn.
        withdrawn: usize,
    },
}

fn write_err(path: PathBuf) -> impl FnOnce(std::io::Error) -> PlanDirError {
    move |source| PlanDirError::Write { path, source }
}

fn write_plan_files(dir: &PlanDir, new: &LoadedPlan) -> Result<(), PlanDirError> {
    // plan.json first: if a crash cuts in between, planning again with the same arguments
    // finds its own hash in plan.json and simply rewrites chunks.json.
    let plan_path = dir.plan_path();
    fsio::write_json_atomic(&plan_path, &new.plan).map_err(write_err(plan_path))?;
    let chunks_path = dir.chunks_path();
    fsio::write_json_atomic(&chunks_path, &new.chunks).map_err(write_err(chunks_path))
}

fn recorded_hash(dir: &PlanDir) -> Option<String> {
    let bytes = fs::read(dir.plan_path()).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("plan_hash")?.as_str().map(str::to_string)
}

/// Writes a plan into a planDir: creates it; succeeds without change if it already holds this
/// plan; refuses a different plan unless `force`, and refuses `force` while a worker runs.
pub fn write_plan(
    dir: &PlanDir,
    new: &LoadedPlan,
    force: bool,
) -> Result<PlanOutcome, PlanDirError> {
    if dir.has_plan() {
        match dir.load() {
            Ok(old) if old.plan.plan_hash == new.plan.plan_hash => {
                return Ok(PlanOutcome::Unchanged)
            }
            Ok(old) if !force => {
                return Err(PlanDirError::DifferentPlan {
                    dir: dir.root().to_path_buf(),
                    existing: old.plan.plan_hash,
                    new: new.plan.plan_hash.clone(),
                })
            }
            Err(_) if recorded_hash(dir).as_deref() == Some(new.plan.plan_hash.as_str()) => {
                // An earlier `vre plan` of this very plan stopped between its two writes.
                let _lock = claim::lock_plan_exclusive(dir)?;
                write_plan_files(dir, new)?;
                return Ok(PlanOutcome::Unchanged);
            }
            Err(e) if !force => return Err(e),
            old => return replace_plan(dir, old.ok(), new),
        }
    }
    dir.create_layout()?;
    let _lock = claim::lock_plan_exclusive(dir)?;
    write_plan_files(dir, new)?;
    Ok(PlanOutcome::Created)
}

/// Replaces the plan in a planDir (`--force`), keeping each output whose task key the new plan
/// shares (its sidecar is re-stamped with the new plan hash) and withdrawing all others.
fn replace_plan(
    dir: &PlanDir,
    old: Option<LoadedPlan>,
    new: &LoadedPlan,
) -> Result<PlanOutcome, PlanDirError> {
    dir.create_layout()?;
    let _lock = claim::lock_plan_exclusive(dir)?;
    let old_tasks = old.as_ref().map(LoadedPlan::tasks).unwrap_or_default();
    let new_tasks = new.tasks();
    // Hold every task lock while outputs are moved around: a worker that outlived its plan lock
    // (it cannot, but a stale ffmpeg could) must not be writing.
    let every_task: std::collections::BTreeSet<TaskId> =
        old_tasks.iter().chain(&new_tasks).copied().collect();
    let mut held = Vec::new();
    for task in every_task {
        let lock = claim::try_claim(dir, task).map_err(write_err(dir.lock(task)))?;
        match lock {
            Some(lock) => held.push(lock),
            None => {
                return Err(PlanDirError::Busy {
                    dir: dir.root().to_path_buf(),
                    what: format!("{task} is being rendered"),
                })
            }
        }
    }
    let (mut kept, mut withdrawn) = (0, 0);
    for &task in &new_tasks {
        let sidecar = dir.read_sidecar(task).ok().flatten();
        match sidecar {
            Some(mut s) if s.task_key == new.task_key(task) => {
                s.plan_hash = new.plan.plan_hash.clone();
                let path = dir.sidecar(task);
                fsio::write_json_atomic(&path, &s).map_err(write_err(path))?;
                kept += 1;
            }
            Some(_) => {
                dir.withdraw(&new.plan, task)?;
                fsio::remove_if_exists(&dir.attempts(task))
                    .map_err(write_err(dir.attempts(task)))?;
                withdrawn += 1;
            }
            None => {
                fsio::remove_if_exists(&dir.attempts(task))
                    .map_err(write_err(dir.attempts(task)))?;
            }
        }
    }
    if let Some(old) = &old {
        for &task in old_tasks.iter().filter(|t| !new_tasks.contains(t)) {
            if dir.read_sidecar(task).ok().flatten().is_some() {
                withdrawn += 1;
            }
            dir.withdraw(&old.plan, task)?;
            fsio::remove_if_exists(&dir.attempts(task)).map_err(write_err(dir.attempts(task)))?;
        }
    }
    write_plan_files(dir, new)?;
    drop(held);
    Ok(PlanOutcome::Replaced { kept, withdrawn })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_frames_seconds_and_open_ends() {
        assert_eq!(
            parse_range("5s:12.5s").unwrap(),
            RangeSpec {
                start: Some(RangeBound::Seconds(5.0)),
                end: Some(RangeBound::Seconds(12.5))
            }
        );
        assert_eq!(
            parse_range("10:").unwrap(),
            RangeSpec {
                start: Some(RangeBound::Frame(10)),
                end: None
            }
        );
        assert!(parse_range("10").is_err());
        assert!(parse_range("a:b").is_err());
        assert!(parse_range("-1s:").is_err());
    }

    #[test]
    fn seconds_round_to_the_nearest_frame() {
        let ntsc = Rational {
            num: 30000,
            den: 1001,
        };
        assert_eq!(resolve_bound(RangeBound::Seconds(5.0), ntsc), 150);
        assert_eq!(resolve_bound(RangeBound::Frame(7), ntsc), 7);
    }
}
