//! The planDir protocol: its layout, the types of its files (mirrored by `schemas/`), the plan
//! hash, and loading with verification.
//!
//! Every path inside a planDir is derived from fixed names and task indices, never from strings
//! read out of `plan.json`, so a tampered plan cannot make vre write outside its planDir.
//!
//! ```text
//! PLANDIR/plan.json                  everything the render depends on, and the plan hash
//! PLANDIR/index.bin                  the input's frame index (its blake3 is in plan.json)
//! PLANDIR/chunks.json                half-open frame ranges [start_frame, end_frame)
//! PLANDIR/chunks/chunk-000003.mp4    a published chunk (video only) ...
//! PLANDIR/chunks/chunk-000003.json   ... and its sidecar, the only proof that it is done
//! PLANDIR/audio/audio.m4a, audio.json  the audio task's output and sidecar
//! PLANDIR/locks/*.lock               one lock file per task, plus plan.lock
//! PLANDIR/attempts/*.json            failed attempts per task
//! PLANDIR/logs/*.log                 one log per failed attempt
//! PLANDIR/progress/*.json            how far running tasks are (for `vre status --watch`)
//! ```

pub mod attempts;
pub mod claim;
pub mod frameindex;
pub mod stages;
pub mod verify;

use crate::codecs::{AudioCodec, Container, VideoCodec};
use crate::exit::{Code, HasCode};
use crate::plandir::frameindex::FrameIndex;
use crate::sys::fsio;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The version of the planDir format this vre reads and writes.
pub const FORMAT_VERSION: u32 = 2;

/// Domain-separation prefix of the plan hash; bumped whenever the hashed form changes.
const PLAN_HASH_DOMAIN: &str = "vre-plan-v2";

/// A frame rate (or any ratio) as an exact fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rational {
    /// Numerator, e.g. 30000.
    pub num: u32,
    /// Denominator, e.g. 1001.
    pub den: u32,
}

impl Rational {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// The instant of frame `frame` on a grid of this rate, in whole microseconds rounded to
    /// the nearest.
    pub fn frame_time_micros_round(self, frame: u64) -> u64 {
        let scaled = u128::from(frame) * u128::from(self.den) * 2_000_000;
        ((scaled + u128::from(self.num)) / (2 * u128::from(self.num))) as u64
    }

    /// Seconds spanned by `frames` frames of this rate.
    pub fn seconds_of(self, frames: u64) -> f64 {
        frames as f64 * f64::from(self.den) / f64::from(self.num)
    }

    /// Parses `N` or `N/D` (also ffprobe's `30000/1001`); refuses zero and garbage.
    pub fn parse(text: &str) -> Option<Rational> {
        let (num, den) = match text.split_once('/') {
            Some((n, d)) => (n.trim().parse().ok()?, d.trim().parse().ok()?),
            None => (text.trim().parse().ok()?, 1),
        };
        (num > 0 && den > 0).then_some(Rational { num, den })
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// Formats whole microseconds as seconds with six fixed decimals (never scientific notation).
pub fn micros_to_seconds_text(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// The input file as it was when planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    /// Absolute path of the input.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
    /// blake3 of the content, hex.
    pub blake3: String,
}

/// Facts about the input's video stream, read with ffprobe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFacts {
    /// Codec of the first video stream.
    pub codec: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate.
    pub frame_rate: Rational,
    /// Number of video frames in the input.
    pub total_frames: u64,
    /// Pixel format.
    pub pix_fmt: String,
    /// Whether the input has an audio stream.
    pub has_audio: bool,
    /// The container's start time, whole microseconds: ffmpeg counts `-ss` from it, and serial
    /// ffmpeg's output time 0 is there.
    pub start_micros: i64,
    /// Output frames before the first video frame, where the video starts after the container
    /// does: serial ffmpeg fills them by repeating the first frame, and so does vre.
    pub lead_frames: u64,
}

/// The frame index as planned (`index.bin`): its blake3 ties the file to the plan hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRecord {
    /// Frames in the index (the input's video frames).
    pub frames: u64,
    /// Time base of its timestamps.
    pub time_base: Rational,
    /// Size of `index.bin` in bytes.
    pub bytes: u64,
    /// blake3 of `index.bin`, hex.
    pub blake3: String,
}

impl IndexRecord {
    /// The record of an index and its encoded bytes.
    pub fn of(index: &FrameIndex, encoded: &[u8]) -> IndexRecord {
        IndexRecord {
            frames: index.len() as u64,
            time_base: index.time_base,
            bytes: encoded.len() as u64,
            blake3: blake3::hash(encoded).to_hex().to_string(),
        }
    }
}

/// The output: its container and the frame grid it is rendered on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Container of the assembled output.
    pub container: Container,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Output frame rate.
    pub frame_rate: Rational,
    /// First frame rendered (on the output grid).
    pub start_frame: u64,
    /// One past the last frame rendered.
    pub end_frame: u64,
}

impl OutputSpec {
    /// Number of frames in the output.
    pub fn total_frames(&self) -> u64 {
        self.end_frame - self.start_frame
    }
}

/// GOP settings that make chunks concatenate losslessly: each chunk starts on an IDR frame and is
/// made of closed GOPs with repeated headers, and no scene-cut keyframes appear by surprise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GopSettings {
    /// Maximum distance between keyframes, in frames.
    pub keyint: u32,
    /// GOPs never reference frames of another GOP.
    pub closed: bool,
    /// The first frame of every chunk is an IDR frame.
    pub idr_first: bool,
    /// Whether the encoder may add keyframes at scene cuts.
    pub scene_cut: bool,
    /// Sequence headers are repeated before every keyframe.
    pub repeat_headers: bool,
}

/// Encoder settings for the chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderSettings {
    /// Video encoder.
    pub codec: VideoCodec,
    /// Constant rate factor (codecs with rate control).
    pub crf: Option<u32>,
    /// Encoder preset (x264/x265 name, SVT-AV1 or VP9 speed, ProRes profile).
    pub preset: Option<String>,
    /// Pixel format of the encoded video.
    pub pix_fmt: String,
    /// Encoder threads per chunk (fixed so that a retried chunk is byte-identical).
    pub threads: u32,
    /// GOP settings.
    pub gop: GopSettings,
}

impl EncoderSettings {
    /// One line for humans: `libx264 crf 20 preset veryfast yuv420p, 2 thread(s)`.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.codec.name().to_string()];
        if let Some(crf) = self.crf {
            parts.push(format!("crf {crf}"));
        }
        if let Some(preset) = &self.preset {
            parts.push(format!("preset {preset}"));
        }
        parts.push(self.pix_fmt.clone());
        format!("{}, {} thread(s) per chunk", parts.join(" "), self.threads)
    }
}

/// How the output grid is derived from the source when it differs from it (`--fps`, `--size`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    /// Frame rate of the output grid; `None` keeps the source's frames one to one.
    pub fps: Option<Rational>,
    /// Output size; `None` keeps the source's.
    pub size: Option<Size>,
    /// The input's container start time, seconds (its timestamps are absolute with `-copyts`).
    pub source_start_time: f64,
    /// How far before a chunk's first slot decoding starts, seconds: the longest gap between
    /// two input frames plus one slot, so the frame that fills the first slot is decoded.
    pub seek_margin: f64,
    /// Grid slots between the container's start and output frame 0: where a video-only file
    /// starts late, serial ffmpeg's grid starts at its first frame (with other streams it
    /// fills the gap, and this is 0).
    pub grid_offset_slots: u64,
}

/// A frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Frames decoded and filtered before each chunk's start and dropped after the filter chain, so
/// that filters with memory see the same history as in a serial run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preroll {
    /// Frames of history.
    pub frames: u64,
    /// Why this many.
    pub reason: String,
}

/// How chunk boundaries were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitStrategy {
    /// Even sizes from a target length.
    Frames,
    /// Even sizes from a chunk count.
    Count,
    /// Starts moved to the nearest source keyframes.
    Keyframes,
    /// Starts at detected scene cuts.
    Scenes,
}

/// How the output range was cut into chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunking {
    /// The strategy.
    pub strategy: SplitStrategy,
    /// The chunk length aimed at.
    pub target_frames: u64,
    /// Shortest chunk allowed (scene split).
    pub min_frames: Option<u64>,
    /// Longest chunk allowed (scene split).
    pub max_frames: Option<u64>,
}

/// One audio track placed on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrack {
    /// Absolute path of the track's media.
    pub path: PathBuf,
    /// blake3 of the media's content.
    pub blake3: String,
    /// Whether this track is the input's own audio.
    pub is_source: bool,
    /// Where the track starts on the timeline, seconds.
    pub offset: f64,
    /// In-point in the media, seconds.
    pub seek: f64,
    /// Playback rate: tempo and pitch change together, like a tape.
    pub rate: f64,
    /// Linear gain.
    pub volume: f64,
    /// Fade-in length at the track's start, seconds.
    pub fade_in: f64,
    /// Fade-out length at the track's end, seconds.
    pub fade_out: f64,
    /// Whether the media loops forever.
    pub looped: bool,
    /// Extra audio filters applied to this track before mixing.
    pub filter: Option<String>,
    /// Duration of the media, seconds.
    pub media_duration: f64,
    /// Where in the file media time 0 is, seconds from the container's start: the input's own
    /// audio may start after its container does (an edit list, a late first packet), and
    /// serial ffmpeg keeps that delay.
    pub media_start: f64,
}

/// The audio task: every track mixed once for the whole range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioPlan {
    /// Audio codec.
    pub codec: AudioCodec,
    /// Bit rate, bits per second (`None`: lossless).
    pub bitrate: Option<u32>,
    /// Sample rate of the mix.
    pub sample_rate: u32,
    /// Channels of the mix.
    pub channels: u32,
    /// Exact length of the mix in samples: the video's frames × den / num seconds.
    pub samples: u64,
    /// The tracks mixed.
    pub tracks: Vec<AudioTrack>,
}

/// `plan.json`: everything the render depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// blake3 over the canonical form of this plan (without this field) and `chunks.json`.
    pub plan_hash: String,
    /// planDir format version.
    pub format_version: u32,
    /// vre version that wrote the plan.
    pub vre_version: String,
    /// ffmpeg version the plan was made with.
    pub ffmpeg_version: String,
    /// The input.
    pub input: InputRecord,
    /// Facts about the input's video.
    pub source: SourceFacts,
    /// The input's frame index.
    pub index: IndexRecord,
    /// The output grid and container.
    pub output: OutputSpec,
    /// `--fps`/`--size`, when the output grid differs from the source.
    pub normalize: Option<Normalize>,
    /// The user's video filter chain.
    pub video_filter: Option<String>,
    /// History each chunk decodes before its start.
    pub preroll: Preroll,
    /// Encoder settings.
    pub encoder: EncoderSettings,
    /// How the range was chunked.
    pub chunking: Chunking,
    /// The audio task, if the output has audio.
    pub audio: Option<AudioPlan>,
}

impl Plan {
    /// File extension of a rendered chunk.
    pub fn chunk_extension(&self) -> &'static str {
        self.encoder.codec.chunk_format().1
    }
}

/// One entry of `chunks.json`: the half-open frame range `[start_frame, end_frame)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position in chunks.json, from 0.
    pub index: u32,
    /// First frame (output grid).
    pub start_frame: u64,
    /// One past the last frame.
    pub end_frame: u64,
    /// Why the chunk starts where it does.
    pub reason: String,
}

impl Chunk {
    /// Number of frames.
    pub fn frames(&self) -> u64 {
        self.end_frame - self.start_frame
    }
}

/// A unit of work in a planDir.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskId {
    /// The audio mix.
    Audio,
    /// The video chunk with this index.
    Chunk(u32),
}

impl TaskId {
    /// The stem every file of this task is named by (`chunk-000003`, `audio`).
    pub fn stem(self) -> String {
        match self {
            TaskId::Audio => "audio".to_string(),
            TaskId::Chunk(i) => format!("chunk-{i:06}"),
        }
    }

    /// The planDir subdirectory that holds this task's output and sidecar.
    fn output_dir(self) -> &'static str {
        match self {
            TaskId::Audio => "audio",
            TaskId::Chunk(_) => "chunks",
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskId::Audio => write!(f, "audio"),
            TaskId::Chunk(i) => write!(f, "chunk {i}"),
        }
    }
}

/// What a published task holds: a chunk's frames or the audio's samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Media {
    /// A video chunk.
    Chunk {
        /// Chunk index.
        index: u32,
        /// First frame.
        start_frame: u64,
        /// One past the last frame.
        end_frame: u64,
        /// Frames counted in the published file.
        frames: u64,
    },
    /// The audio mix.
    Audio {
        /// Samples in the published file.
        samples: u64,
        /// Sample rate.
        sample_rate: u32,
        /// Duration in seconds.
        duration_seconds: f64,
    },
}

/// Parameters of an encoded video stream that must agree between chunks for stream copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamFacts {
    /// Codec name.
    pub codec: String,
    /// Profile.
    pub profile: String,
    /// Pixel format.
    pub pix_fmt: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frame rate.
    pub frame_rate: String,
    /// Time base.
    pub time_base: String,
}

/// A sidecar: the proof that a task's output is complete and belongs to this plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// planDir format version.
    pub format_version: u32,
    /// Hash of the plan this output was rendered for.
    pub plan_hash: String,
    /// Hash of exactly what this task's output depends on (lets a re-plan keep valid outputs).
    pub task_key: String,
    /// What the output holds.
    pub media: Media,
    /// The encoded stream's parameters (chunks), compared before concatenation.
    pub stream: Option<StreamFacts>,
    /// Size of the output in bytes.
    pub bytes: u64,
    /// blake3 of the output, hex.
    pub blake3: String,
    /// Wall-clock seconds the render took.
    pub encode_seconds: f64,
    /// When the render started, seconds since the Unix epoch.
    pub started_at: f64,
    /// When it was published.
    pub finished_at: f64,
    /// Host of the worker that rendered it.
    pub host: String,
    /// Process id of that worker.
    pub pid: u32,
}

/// `progress/<task>.json`: how far a running task is, for other processes to read; replaced
/// atomically at most once a second, removed when the task ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressRecord {
    /// Frames encoded so far.
    pub frames_done: u64,
    /// Frames in the task.
    pub frames: u64,
    /// Encoding speed, frames per second.
    pub fps: f64,
    /// Host of the worker rendering it.
    pub host: String,
    /// Process id of that worker.
    pub pid: u32,
    /// When this was written, seconds since the Unix epoch.
    pub updated_at: f64,
}

/// Errors about a planDir and the files in it.
#[derive(Debug, thiserror::Error)]
pub enum PlanDirError {
    /// No plan.json.
    #[error("{} is not a planDir (it has no plan.json); create one with `vre plan INPUT -o {}`", .dir.display(), .dir.display())]
    NotAPlanDir {
        /// The directory.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file does not parse or violates the protocol.
    #[error("{} is damaged: {reason}; re-create the plan with `vre plan ... --force`", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The plan was written by another planDir format.
    #[error("{} uses planDir format {found}, but this vre reads format {FORMAT_VERSION}; use the vre that planned it, or plan again with --force", .path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// plan.json or chunks.json changed after planning.
    #[error("the plan in {} was edited after it was written (plan.json says {recorded}, its content hashes to {actual}); plan again with `vre plan ... --force`", .dir.display())]
    Tampered {
        /// The planDir.
        dir: PathBuf,
        /// The hash recorded in plan.json.
        recorded: String,
        /// The hash of what is there now.
        actual: String,
    },
    /// The planned input is gone.
    #[error("input {} is missing; restore it or plan again with the new path and --force", .path.display())]
    InputMissing {
        /// The input path.
        path: PathBuf,
    },
    /// The planned input changed.
    #[error("input {} changed since it was planned ({what}); plan again with `vre plan ... --force`", .path.display())]
    InputChanged {
        /// The input path.
        path: PathBuf,
        /// What differs.
        what: String,
    },
    /// The planDir holds a different plan.
    #[error("{} already holds a different plan ({existing}, new plan {new}); pass --force to replace it (finished pieces the new plan can use are kept), or choose another planDir", .dir.display())]
    DifferentPlan {
        /// The planDir.
        dir: PathBuf,
        /// Hash of the plan there.
        existing: String,
        /// Hash of the new plan.
        new: String,
    },
    /// A lock is held by a running worker.
    #[error("{} is in use: {what}; stop its workers first, or wait for them to finish", .dir.display())]
    Busy {
        /// The planDir.
        dir: PathBuf,
        /// What holds it.
        what: String,
    },
}

impl HasCode for PlanDirError {
    fn code(&self) -> Code {
        match self {
            PlanDirError::NotAPlanDir { .. } | PlanDirError::InputMissing { .. } => Code::NoInput,
            PlanDirError::Read { .. } => Code::IoErr,
            PlanDirError::Write { source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied
                | io::ErrorKind::NotFound
                | io::ErrorKind::ReadOnlyFilesystem
                | io::ErrorKind::NotADirectory => Code::CantCreate,
                _ => Code::IoErr,
            },
            PlanDirError::Malformed { .. }
            | PlanDirError::Version { .. }
            | PlanDirError::Tampered { .. }
            | PlanDirError::InputChanged { .. } => Code::DataErr,
            PlanDirError::DifferentPlan { .. } => Code::CantCreate,
            PlanDirError::Busy { .. } => Code::TempFail,
        }
    }
}

/// A plan read from a planDir whose hash verified.
#[derive(Debug, Clone)]
pub struct LoadedPlan {
    /// plan.json.
    pub plan: Plan,
    /// chunks.json.
    pub chunks: Vec<Chunk>,
    /// index.bin.
    pub index: FrameIndex,
}

impl LoadedPlan {
    /// Every task of the plan: the audio first (so that a failing track shows up early), then
    /// the chunks in order.
    pub fn tasks(&self) -> Vec<TaskId> {
        let audio = self.plan.audio.as_ref().map(|_| TaskId::Audio);
        audio
            .into_iter()
            .chain(self.chunks.iter().map(|c| TaskId::Chunk(c.index)))
            .collect()
    }

    /// The chunk a task renders, if it is a chunk.
    pub fn chunk(&self, task: TaskId) -> Option<&Chunk> {
        match task {
            TaskId::Chunk(i) => self.chunks.get(i as usize),
            TaskId::Audio => None,
        }
    }

    /// The key of exactly what a task's output depends on.
    pub fn task_key(&self, task: TaskId) -> String {
        match task {
            TaskId::Audio => audio_task_key(&self.plan),
            TaskId::Chunk(i) => chunk_task_key(&self.plan, &self.chunks[i as usize]),
        }
    }
}

/// A planDir on disk: all paths inside it.
#[derive(Debug, Clone)]
pub struct PlanDir {
    root: PathBuf,
}

impl PlanDir {
    /// A planDir at `root` (which may not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PlanDir { root: root.into() }
    }

    /// The planDir's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `plan.json`.
    pub fn plan_path(&self) -> PathBuf {
        self.root.join("plan.json")
    }

    /// `chunks.json`.
    pub fn chunks_path(&self) -> PathBuf {
        self.root.join("chunks.json")
    }

    /// `index.bin`, the input's frame index.
    pub fn index_path(&self) -> PathBuf {
        self.root.join("index.bin")
    }

    /// Writes `index.bin` atomically.
    pub fn write_index(&self, encoded: &[u8]) -> Result<(), PlanDirError> {
        let path = self.index_path();
        fsio::write_atomic(&path, encoded).map_err(|source| PlanDirError::Write { path, source })
    }

    /// Reads `index.bin` and checks it against the plan's record of it.
    fn load_index(&self, record: &IndexRecord) -> Result<FrameIndex, PlanDirError> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(|source| PlanDirError::Read {
            path: path.clone(),
            source,
        })?;
        let malformed = |reason: String| PlanDirError::Malformed {
            path: path.clone(),
            reason,
        };
        let blake3 = blake3::hash(&bytes).to_hex().to_string();
        if bytes.len() as u64 != record.bytes || blake3 != record.blake3 {
            return Err(malformed(format!(
                "it is not the index plan.json records ({} bytes, blake3 {}; found {} bytes, blake3 {blake3})",
                record.bytes,
                record.blake3,
                bytes.len()
            )));
        }
        let index = FrameIndex::decode(&bytes).map_err(malformed)?;
        if index.len() as u64 != record.frames || index.time_base != record.time_base {
            return Err(malformed(
                "it disagrees with plan.json's record".to_string(),
            ));
        }
        Ok(index)
    }

    /// The published output of a task.
    pub fn output(&self, plan: &Plan, task: TaskId) -> PathBuf {
        let ext = match task {
            TaskId::Audio => plan
                .audio
                .as_ref()
                .map_or("m4a", |a| a.codec.file_format().1),
            TaskId::Chunk(_) => plan.chunk_extension(),
        };
        self.root
            .join(task.output_dir())
            .join(format!("{}.{ext}", task.stem()))
    }

    /// The sidecar of a task.
    pub fn sidecar(&self, task: TaskId) -> PathBuf {
        self.root
            .join(task.output_dir())
            .join(format!("{}.json", task.stem()))
    }

    /// The directory holding a task's output (and its temp files while it renders).
    pub fn output_dir(&self, task: TaskId) -> PathBuf {
        self.root.join(task.output_dir())
    }

    /// The lock file of a task.
    pub fn lock(&self, task: TaskId) -> PathBuf {
        self.root
            .join("locks")
            .join(format!("{}.lock", task.stem()))
    }

    /// The lock file that workers hold shared and a re-plan holds exclusively.
    pub fn plan_lock(&self) -> PathBuf {
        self.root.join("locks").join("plan.lock")
    }

    /// The record of failed attempts of a task.
    pub fn attempts(&self, task: TaskId) -> PathBuf {
        self.root
            .join("attempts")
            .join(format!("{}.json", task.stem()))
    }

    /// The log of one attempt of a task.
    pub fn attempt_log(&self, task: TaskId, attempt: u32) -> PathBuf {
        self.root
            .join("logs")
            .join(format!("{}.attempt-{attempt}.log", task.stem()))
    }

    /// The progress record of a running task.
    pub fn progress(&self, task: TaskId) -> PathBuf {
        self.root
            .join("progress")
            .join(format!("{}.json", task.stem()))
    }

    /// Reads a running task's progress record, if there is a readable one.
    pub fn read_progress(&self, task: TaskId) -> Option<ProgressRecord> {
        serde_json::from_slice(&fs::read(self.progress(task)).ok()?).ok()
    }

    /// The name concat lists are written under by assembly (each assembly uses a private temp
    /// file beside it).
    pub fn concat_list(&self) -> PathBuf {
        self.root.join("concat.txt")
    }

    /// Creates the planDir and its subdirectories.
    pub fn create_layout(&self) -> Result<(), PlanDirError> {
        for sub in [
            "", "chunks", "audio", "locks", "attempts", "logs", "progress",
        ] {
            let dir = self.root.join(sub);
            fs::create_dir_all(&dir).map_err(|source| PlanDirError::Write { path: dir, source })?;
        }
        Ok(())
    }

    /// Whether a plan.json exists.
    pub fn has_plan(&self) -> bool {
        self.plan_path().is_file()
    }

    /// Reads plan.json and chunks.json and verifies the plan hash and the chunk ranges.
    pub fn load(&self) -> Result<LoadedPlan, PlanDirError> {
        let plan_path = self.plan_path();
        let plan_text = match fs::read(&plan_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(PlanDirError::NotAPlanDir {
                    dir: self.root.clone(),
                })
            }
            Err(source) => {
                return Err(PlanDirError::Read {
                    path: plan_path,
                    source,
                })
            }
        };
        let raw: Value = parse_json(&plan_path, &plan_text)?;
        let found = raw
            .get("format_version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if found != u64::from(FORMAT_VERSION) {
            return Err(PlanDirError::Version {
                path: plan_path,
                found: found as u32,
            });
        }
        let plan: Plan = serde_json::from_value(raw).map_err(|e| PlanDirError::Malformed {
            path: plan_path.clone(),
            reason: e.to_string(),
        })?;
        let chunks_path = self.chunks_path();
        let chunks_text = fs::read(&chunks_path).map_err(|source| PlanDirError::Read {
            path: chunks_path.clone(),
            source,
        })?;
        let chunks: Vec<Chunk> = parse_json(&chunks_path, &chunks_text)?;
        let actual = compute_plan_hash(&plan, &chunks);
        if actual != plan.plan_hash {
            return Err(PlanDirError::Tampered {
                dir: self.root.clone(),
                recorded: plan.plan_hash.clone(),
                actual,
            });
        }
        validate_chunks(&plan.output, &chunks).map_err(|reason| PlanDirError::Malformed {
            path: chunks_path,
            reason,
        })?;
        if !plan.input.path.is_absolute() {
            return Err(PlanDirError::Malformed {
                path: plan_path,
                reason: "input.path is not absolute".to_string(),
            });
        }
        let index = self.load_index(&plan.index)?;
        Ok(LoadedPlan {
            plan,
            chunks,
            index,
        })
    }

    /// Reads a task's sidecar; `None` if there is none. A sidecar that does not parse is
    /// reported as an error (it is never trusted).
    pub fn read_sidecar(&self, task: TaskId) -> Result<Option<Sidecar>, PlanDirError> {
        let path = self.sidecar(task);
        match fs::read(&path) {
            Ok(bytes) => parse_json(&path, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PlanDirError::Read { path, source }),
        }
    }

    /// Whether a task is done for this plan: its sidecar exists, parses and carries the plan's
    /// hash. (Bytes are checked by assembly and `vre verify`, not on this hot path.)
    pub fn is_done(&self, loaded: &LoadedPlan, task: TaskId) -> bool {
        matches!(self.read_sidecar(task), Ok(Some(s)) if s.plan_hash == loaded.plan.plan_hash)
    }

    /// Withdraws a task's output: the sidecar goes first (so the output is never trusted
    /// without it), then the output.
    pub fn withdraw(&self, plan: &Plan, task: TaskId) -> Result<(), PlanDirError> {
        for path in [self.sidecar(task), self.output(plan, task)] {
            fsio::remove_if_exists(&path).map_err(|source| PlanDirError::Write { path, source })?;
        }
        Ok(())
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, PlanDirError> {
    serde_json::from_slice(bytes).map_err(|e| PlanDirError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Checks that chunks are indexed in order, non-empty, contiguous, and cover the output range.
fn validate_chunks(output: &OutputSpec, chunks: &[Chunk]) -> Result<(), String> {
    if chunks.is_empty() {
        return Err("it lists no chunks".to_string());
    }
    let mut expected_start = output.start_frame;
    for (position, chunk) in chunks.iter().enumerate() {
        if chunk.index as usize != position {
            return Err(format!("entry {position} has index {}", chunk.index));
        }
        if chunk.start_frame != expected_start || chunk.end_frame <= chunk.start_frame {
            return Err(format!(
                "chunk {} covers [{}, {}) but must start at frame {expected_start} and be non-empty",
                chunk.index, chunk.start_frame, chunk.end_frame
            ));
        }
        expected_start = chunk.end_frame;
    }
    if expected_start != output.end_frame {
        return Err(format!(
            "chunks end at frame {expected_start}, the output at {}",
            output.end_frame
        ));
    }
    Ok(())
}

/// Serialises a JSON value canonically: object keys sorted, no whitespace. Independent of
/// serde_json's map ordering features.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("plan types always serialise to JSON")
}

fn hash_parts(domain: &str, parts: &[&Value]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(domain.as_bytes());
    for part in parts {
        hasher.update(b"\n");
        hasher.update(canonical_json(part).as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// The plan hash: blake3 over a versioned prefix, the canonical plan without its `plan_hash`
/// field, and the canonical chunk list.
pub fn compute_plan_hash(plan: &Plan, chunks: &[Chunk]) -> String {
    let mut plan_value = to_value(plan);
    if let Value::Object(map) = &mut plan_value {
        map.remove("plan_hash");
    }
    hash_parts(PLAN_HASH_DOMAIN, &[&plan_value, &to_value(&chunks)])
}

/// What every video chunk of a plan depends on, apart from its own frame range.
fn video_basis(plan: &Plan) -> Value {
    serde_json::json!({
        "format_version": plan.format_version,
        "ffmpeg_version": plan.ffmpeg_version,
        "input": { "blake3": plan.input.blake3, "size": plan.input.size },
        "source": to_value(&plan.source),
        "grid": { "width": plan.output.width, "height": plan.output.height,
                  "frame_rate": to_value(&plan.output.frame_rate) },
        "normalize": to_value(&plan.normalize),
        "video_filter": plan.video_filter,
        "preroll": plan.preroll.frames,
        "encoder": to_value(&plan.encoder),
    })
}

/// The key of a chunk: everything its bytes depend on. Two plans that agree on it can share the
/// chunk's output.
pub fn chunk_task_key(plan: &Plan, chunk: &Chunk) -> String {
    let range = serde_json::json!([chunk.start_frame, chunk.end_frame]);
    hash_parts("vre-chunk-v1", &[&video_basis(plan), &range])
}

/// The key of the audio task: the tracks, their content, and the range and grid they are cut to.
pub fn audio_task_key(plan: &Plan) -> String {
    let basis = serde_json::json!({
        "format_version": plan.format_version,
        "ffmpeg_version": plan.ffmpeg_version,
        "audio": to_value(&plan.audio),
        "range": [plan.output.start_frame, plan.output.end_frame],
        "frame_rate": to_value(&plan.output.frame_rate),
    });
    hash_parts("vre-audio-v1", &[&basis])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times_round_and_print_fixed() {
        let ntsc = Rational {
            num: 30000,
            den: 1001,
        };
        assert_eq!(ntsc.frame_time_micros_round(7), 233_567);
        assert_eq!(ntsc.frame_time_micros_round(15), 500_500);
        assert_eq!(micros_to_seconds_text(233_566), "0.233566");
        assert_eq!(micros_to_seconds_text(12_000_000_000), "12000.000000");
    }

    #[test]
    fn rationals_parse_strictly() {
        assert_eq!(
            Rational::parse("30000/1001"),
            Some(Rational {
                num: 30000,
                den: 1001
            })
        );
        assert_eq!(Rational::parse("25"), Some(Rational { num: 25, den: 1 }));
        assert_eq!(Rational::parse("0/0"), None);
        assert_eq!(Rational::parse("x"), None);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": "x"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[1,{"y":1,"z":0}]},"b":1}"#
        );
    }

    #[test]
    fn chunk_validation_rejects_gaps_and_empty_ranges() {
        let out = OutputSpec {
            container: Container::Mp4,
            width: 2,
            height: 2,
            frame_rate: Rational { num: 25, den: 1 },
            start_frame: 0,
            end_frame: 10,
        };
        let chunk = |index, start_frame, end_frame| Chunk {
            index,
            start_frame,
            end_frame,
            reason: String::new(),
        };
        let ok = vec![chunk(0, 0, 5), chunk(1, 5, 10)];
        assert!(validate_chunks(&out, &ok).is_ok());
        let mut gap = ok.clone();
        gap[1].start_frame = 6;
        assert!(validate_chunks(&out, &gap).is_err());
        let empty = vec![chunk(0, 0, 10), chunk(1, 10, 10)];
        assert!(validate_chunks(&out, &empty).is_err());
        assert!(validate_chunks(&out, &ok[..1]).is_err());
    }

    /// A plan whose floats are all drawn from `next`, with one chunk over ten frames.
    fn plan_with_floats(next: &mut impl FnMut() -> f64) -> (Plan, Vec<Chunk>, FrameIndex) {
        let rate = Rational { num: 25, den: 1 };
        let index = FrameIndex::constant_rate(rate, 10);
        let encoded = index.encode();
        let track = AudioTrack {
            path: PathBuf::from("/in.mp4"),
            blake3: "0".repeat(64),
            is_source: true,
            offset: next(),
            seek: next(),
            rate: next(),
            volume: next(),
            fade_in: next(),
            fade_out: next(),
            looped: false,
            filter: None,
            media_duration: next(),
            media_start: next(),
        };
        let plan = Plan {
            plan_hash: String::new(),
            format_version: FORMAT_VERSION,
            vre_version: "test".to_string(),
            ffmpeg_version: "5.1".to_string(),
            input: InputRecord {
                path: PathBuf::from("/in.mp4"),
                size: 1,
                mtime_ns: 1,
                blake3: "0".repeat(64),
            },
            source: SourceFacts {
                codec: "h264".to_string(),
                width: 2,
                height: 2,
                frame_rate: rate,
                total_frames: 10,
                pix_fmt: "yuv420p".to_string(),
                has_audio: true,
                start_micros: 0,
                lead_frames: 0,
            },
            index: IndexRecord::of(&index, &encoded),
            output: OutputSpec {
                container: Container::Mp4,
                width: 2,
                height: 2,
                frame_rate: rate,
                start_frame: 0,
                end_frame: 10,
            },
            normalize: Some(Normalize {
                fps: Some(rate),
                size: None,
                source_start_time: next(),
                seek_margin: next(),
                grid_offset_slots: 0,
            }),
            video_filter: None,
            preroll: Preroll {
                frames: 0,
                reason: String::new(),
            },
            encoder: EncoderSettings {
                codec: VideoCodec::Libx264,
                crf: Some(20),
                preset: None,
                pix_fmt: "yuv420p".to_string(),
                threads: 1,
                gop: GopSettings {
                    keyint: 10,
                    closed: true,
                    idr_first: true,
                    scene_cut: false,
                    repeat_headers: true,
                },
            },
            chunking: Chunking {
                strategy: SplitStrategy::Frames,
                target_frames: 10,
                min_frames: None,
                max_frames: None,
            },
            audio: Some(AudioPlan {
                codec: AudioCodec::Aac,
                bitrate: None,
                sample_rate: 48_000,
                channels: 2,
                samples: 19_200,
                tracks: vec![track],
            }),
        };
        let chunks = vec![Chunk {
            index: 0,
            start_frame: 0,
            end_frame: 10,
            reason: String::new(),
        }];
        (plan, chunks, index)
    }

    #[test]
    fn every_plan_hash_survives_the_round_trip_through_its_files() {
        // Floats of every magnitude and shape: raw bit patterns, sums of frame durations (the
        // 0.20033333333333705 kind), and plain decimals.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut next = move || loop {
            let bits = random();
            let value = match bits % 3 {
                0 => f64::from_bits(random()),
                1 => (bits >> 8) as f64 % 1000.0 / 15.0 + 2.0 / 30.0,
                _ => ((bits >> 8) % 100_000) as f64 / 1000.0,
            };
            if value.is_finite() {
                return value;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let plan_dir = PlanDir::new(dir.path());
        for _ in 0..500 {
            let (mut plan, chunks, index) = plan_with_floats(&mut next);
            plan.plan_hash = compute_plan_hash(&plan, &chunks);
            plan_dir.write_index(&index.encode()).unwrap();
            fsio::write_json_atomic(&plan_dir.plan_path(), &plan).unwrap();
            fsio::write_json_atomic(&plan_dir.chunks_path(), &chunks).unwrap();
            let loaded = plan_dir.load().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(loaded.plan, plan);
        }
    }
}
