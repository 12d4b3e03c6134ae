//! Making a plan: analysing the input, choosing settings, cutting chunks, and writing the
//! planDir idempotently.

pub mod audio;
pub mod chain;
pub mod chunking;
pub mod container;
pub mod decoding;
pub mod delivery;
pub mod filter_files;
pub mod preroll;
pub mod timecode;

use crate::codecs::{self, Container, Knobs, VideoCodec};
use crate::exit::{Code, HasCode};
use crate::ffmpeg;
use crate::ffmpeg::probe::{self, ProbeError};
use crate::plan::audio::{AudioSpecError, AudioStreams, TrackSpec};
use crate::plandir;
use crate::plandir::frameindex::FrameIndex;
use crate::plandir::load::LoadedPlan;
use crate::plandir::publish::FrameLogs;
use crate::plandir::schema::{
    AudioPlan, AudioTrack, Chunk, Chunking, ContainerData, DecodeCheck, EncoderSettings, FileStamp,
    GopSettings, InputRecord, MetadataMode, Normalize, OutputSpec, Plan, Playback, Rational, Size,
    SourceAudio, SourceFacts, SplitStrategy,
};
use crate::sys::fsio;
use crate::sys::input_file::{self, InputFileError, Unusable};
use std::fs;
use std::path::{Path, PathBuf};

/// Sample rate of a mix of `--audio` tracks alone (with the input's audio, the mix takes its
/// stream's rate and layout).
const MIX_SAMPLE_RATE: u32 = 48_000;
/// Channel layout of a mix of `--audio` tracks alone.
const MIX_LAYOUT: &str = "stereo";
/// The longest GOP vre makes, in seconds of frames.
const MAX_GOP_SECONDS: f64 = 10.0;
/// scdet's threshold (percent of change) for `--split scenes`.
const SCENE_THRESHOLD: f64 = 10.0;
/// Raw elementary streams: no container, so no timestamps to seek by or to prove a chunk's frames
/// with. (MPEG-TS and program streams have timestamps; the frame index supplies their keyframes.)
const ELEMENTARY_FORMATS: &[&str] = &["h264", "hevc", "mpegvideo", "m4v"];

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

/// `--size WxH`, where a side may be `-N`: the size that keeps the aspect ratio, rounded to a
/// multiple of N, as ffmpeg's scale filter computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRequest {
    /// Width, or `-N`.
    pub width: i32,
    /// Height, or `-N`.
    pub height: i32,
}

impl SizeRequest {
    /// The size, if neither side is left to the aspect ratio.
    pub fn fixed(self) -> Option<Size> {
        (self.width > 0 && self.height > 0).then_some(Size {
            width: self.width as u32,
            height: self.height as u32,
        })
    }

    /// The scale filter's `W:H` arguments.
    pub fn scale_arguments(self) -> String {
        format!("{}:{}", self.width, self.height)
    }
}

/// Everything `vre plan` (and `vre run`) is asked for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// The input video.
    pub input: PathBuf,
    /// `--format` (or inferred from OUT).
    pub format: Option<Container>,
    /// `--vf`.
    pub video_filter: Option<String>,
    /// `--codec`.
    pub codec: Option<VideoCodec>,
    /// `--crf`.
    pub crf: Option<u32>,
    /// `--preset`.
    pub preset: Option<String>,
    /// `--pix-fmt`.
    pub pix_fmt: Option<String>,
    /// `--threads`: encoder threads per chunk.
    pub threads: u32,
    /// `--split`.
    pub split: SplitStrategy,
    /// `--chunk-frames`.
    pub chunk_frames: Option<u64>,
    /// `--chunks`.
    pub chunks: Option<u64>,
    /// The workers the plan is made for (`vre run -j N`; `None` where unknown, as for
    /// `vre plan`): without `--chunks` or `--chunk-frames`, an even split rounds its chunk count
    /// up to a multiple of it, so that the last round of chunks keeps every worker busy, and a
    /// preroll lengthens the chunks more (see [`chunking::LOCAL_CHUNK_PREROLLS`]).
    pub workers: Option<u64>,
    /// `--min-chunk-frames` (scene split).
    pub min_chunk_frames: Option<u64>,
    /// `--max-chunk-frames` (scene split).
    pub max_chunk_frames: Option<u64>,
    /// `--preroll`.
    pub preroll: Option<u64>,
    /// `--fps`.
    pub fps: Option<Rational>,
    /// `--size`.
    pub size: Option<SizeRequest>,
    /// `--keyint`.
    pub keyint: Option<delivery::KeyInterval>,
    /// `--fixed-gop`.
    pub fixed_gop: bool,
    /// Rate control and stream shape beyond CRF and preset, as asked (no seam plan yet).
    pub delivery: plandir::schema::Delivery,
    /// `--range`.
    pub range: RangeSpec,
    /// `--audio` tracks.
    pub audio_tracks: Vec<TrackSpec>,
    /// `--audio-codec`, `--audio-bitrate`, `--audio-channels`, `--audio-rate`.
    pub audio_encoding: audio::AudioEncoding,
    /// `--af`: filters for the input's own audio.
    pub audio_filter: Option<String>,
    /// `--no-source-audio`.
    pub no_source_audio: bool,
    /// `--metadata`.
    pub metadata: MetadataMode,
    /// `--subtitle-stream`.
    pub subtitles: container::SubtitleChoice,
    /// `--audio-stream`: which of the input's audio streams the output keeps.
    pub audio_streams: AudioStreams,
    /// `--video-stream`: the input stream to render, by its index in the file (`None`: the one
    /// serial ffmpeg's default stream choice takes).
    pub video_stream: Option<usize>,
    /// `--check-decoding`: decode the whole video at plan time, whatever the keyframe pass shows.
    pub check_decoding: bool,
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
    #[error("ffmpeg rejects these settings (--vf, --codec, --preset, --crf, --pix-fmt, or the delivery settings: --bitrate, --profile, --level, --tune, --encoder-params, --encoder-opt) on {}: {stderr}", .input.display())]
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
    /// The input is not a regular file (a FIFO or pipe, a device, a directory, a symlink
    /// loop, …), or is missing.
    #[error(transparent)]
    InputFile(#[from] InputFileError),
    /// SIGINT/SIGTERM arrived while planning: the analysis and trial children were killed and
    /// nothing was written.
    #[error("interrupted while planning {}; nothing was written: run the same command again", .input.display())]
    Interrupted {
        /// The input.
        input: PathBuf,
    },
    /// A file a filter of `--vf` or `--af` reads is missing or not a regular file.
    #[error("{flag}: {filter}'s {option} {} {why}; correct the path, or create the file", .path.display())]
    FilterFile {
        /// The chain's flag.
        flag: &'static str,
        /// The filter.
        filter: String,
        /// The option that names the file.
        option: String,
        /// The file, as an absolute path.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The input could not be read to hash it, or the trial's scratch directory not made.
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
            PlanError::InputFile(e) => e.code(),
            PlanError::Interrupted { .. } => Code::Interrupted,
            PlanError::FilterFile { .. } => Code::NoInput,
            PlanError::Read { .. } => Code::IoErr,
        }
    }
}

/// A render of the plan's settings that ffmpeg refused: the settings are rejected (any other
/// failure is the tool's).
fn rejected(e: ffmpeg::error::FfmpegError) -> PlanError {
    match e {
        ffmpeg::error::FfmpegError::Failed {
            subject, stderr, ..
        } => PlanError::Rejected {
            input: subject,
            stderr,
        },
        other => PlanError::Input(ProbeError::Tool(other)),
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
    let before = FileStamp::of(&fs::metadata(path).map_err(read_err)?);
    let (_, blake3) = fsio::hash_file(path).map_err(read_err)?;
    let after = FileStamp::of(&fs::metadata(path).map_err(read_err)?);
    if let Some(what) = before.changes(&after) {
        return Err(PlanError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "it changed while it was being hashed ({what}); plan again once nothing writes to it"
            )),
        });
    }
    Ok(InputRecord {
        path: path.to_path_buf(),
        stamp: after,
        blake3,
    })
}

fn resolve_bound(bound: RangeBound, rate: Rational) -> u64 {
    match bound {
        RangeBound::Frame(f) => f,
        RangeBound::Seconds(s) => (s * rate.as_f64()).round() as u64,
    }
}

/// The container and codec: given, inferred from each other, or the defaults (mp4, libx264).
fn container_and_codec(req: &PlanRequest) -> Result<(Container, VideoCodec), PlanError> {
    let (container, codec) = match (req.format, req.codec) {
        (None, None) => (Container::Mp4, VideoCodec::Libx264),
        (Some(c), None) => (c, c.codecs()[0]),
        (None, Some(v)) => (Container::for_codec(v), v),
        (Some(c), Some(v)) => (c, v),
    };
    if !container.codecs().contains(&codec) {
        let combos = Container::ALL
            .iter()
            .map(|c| format!("{c}: {}", codecs::list(c.codecs())))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(bad(
            "--codec",
            format!(
                "{codec} cannot be used with --format {container}; valid combinations: {combos}"
            ),
        ));
    }
    Ok((container, codec))
}

/// The rate-control settings asked for (`--crf`, `--preset`), checked against what the codec
/// accepts, defaults filled in.
fn encoder_knobs(
    req: &PlanRequest,
    codec: VideoCodec,
) -> Result<(Option<u32>, Option<String>), PlanError> {
    let crf = match (codec.knobs(), req.crf) {
        (Knobs::Crf { max, .. }, Some(crf)) if crf > max => {
            return Err(bad(
                "--crf",
                format!("{crf} is out of range 0..={max} for {codec}"),
            ))
        }
        // A bit rate asked for replaces the default CRF.
        (Knobs::Crf { .. }, None) if req.delivery.bitrate.is_some() => None,
        (Knobs::Crf { default, .. }, crf) => Some(crf.unwrap_or(default)),
        (Knobs::None, Some(_)) => {
            return Err(bad(
                "--crf",
                format!(
                "{codec} has no rate control (it is lossless or profile-driven); leave --crf out"
            ),
            ))
        }
        (Knobs::None, None) => None,
    };
    let presets = codec.presets();
    let preset = match &req.preset {
        Some(p) if presets.contains(&p.as_str()) => Some(p.clone()),
        Some(p) if presets.is_empty() => {
            return Err(bad(
                "--preset",
                format!("{codec} has no presets; '{p}' cannot be used"),
            ))
        }
        Some(p) => {
            return Err(bad(
                "--preset",
                format!(
                    "'{p}' is not a {codec} preset; valid: {}",
                    presets.join(", ")
                ),
            ))
        }
        None => presets.first().map(|p| p.to_string()),
    };
    Ok((crf, preset))
}

/// Refuses an encoder whose device (a GPU) this machine lacks, with ffmpeg's reason, before the
/// input is read.
fn check_device(codec: VideoCodec) -> Result<(), PlanError> {
    if !codec.needs_device() {
        return Ok(());
    }
    let argv = ffmpeg::query::device_trial(codec.name());
    match ffmpeg::runner::run_capture_all(&argv, Path::new(codec.name())) {
        Ok(_) => Ok(()),
        Err(ffmpeg::error::FfmpegError::Failed { stderr, .. }) => Err(bad(
            "--codec",
            format!(
                "{codec} needs a device this machine does not have (ffmpeg: {}); plan and work on machines with one, or choose a software encoder such as {}",
                encoder_complaint(&stderr, codec.name()),
                match codec {
                    VideoCodec::HevcNvenc => "libx265",
                    _ => "libx264",
                }
            ),
        )),
        Err(other) => Err(PlanError::Input(ProbeError::Tool(other))),
    }
}

/// What an encoder said of itself in ffmpeg's stderr (`[h264_nvenc @ 0x…] Cannot load
/// libcuda.so.1` → `Cannot load libcuda.so.1`), or its last line.
fn encoder_complaint(stderr: &str, encoder: &str) -> String {
    let marker = format!("[{encoder} @");
    stderr
        .lines()
        .flat_map(|line| line.split(" | "))
        .find_map(|line| {
            line.trim()
                .strip_prefix(&marker)?
                .split_once("] ")
                .map(|(_, said)| said.to_string())
        })
        .unwrap_or_else(|| ffmpeg::error::last_lines(stderr, 1))
}

/// Whether a pixel format has full-resolution chroma (`yuv444p10le`, `yuva444p10le`, …).
fn is_444(pix_fmt: &str) -> bool {
    pix_fmt.starts_with("yuv444") || pix_fmt.starts_with("yuva444")
}

/// What the serial command's encoder makes of the input's picture: its first frame encoded
/// through `--size`, `--vf` and the encoder (with `--pix-fmt` if given) as the serial command
/// would, in a scratch directory. The pixel format is the encoder's own choice (its closest
/// supported format to what the chain hands on: 10-bit stays 10-bit, 4:4:4 stays 4:4:4, a
/// full-range `yuvj` source stays full range where the encoder takes it), and the colour tags
/// and field order are those it writes.
fn serial_picture(
    req: &PlanRequest,
    input: &Path,
    codec: VideoCodec,
    (crf, preset): (Option<u32>, Option<String>),
) -> Result<probe::SerialPicture, PlanError> {
    let scratch = tempfile::tempdir().map_err(|source| PlanError::Read {
        path: std::env::temp_dir(),
        source,
    })?;
    let encoded = scratch.path().join("picture.mkv");
    let mut settings = encoder_settings(req, codec, (crf, preset, String::new()), 1);
    settings.threads = 1;
    let takes = probe::encoder_pix_fmts(codec.name(), input)?;
    let formats = match &req.pix_fmt {
        Some(asked) if takes.is_empty() || takes.contains(asked) => vec![asked.clone()],
        Some(asked) => {
            return Err(bad(
                "--pix-fmt",
                format!(
                    "{codec} does not encode {asked}; it takes {}",
                    takes.join(", ")
                ),
            ))
        }
        None => takes,
    };
    let argv = ffmpeg::video::serial_picture(
        input,
        req.video_stream,
        req.size.map(SizeRequest::scale_arguments).as_deref(),
        req.video_filter.as_deref(),
        (&settings, &formats),
        &encoded,
    );
    let (_, log) = ffmpeg::runner::run_capture_all(&argv, input).map_err(rejected)?;
    Ok(probe::serial_picture(&encoded, &log)?)
}

fn validate_counts(req: &PlanRequest) -> Result<(), PlanError> {
    for (flag, value) in [
        ("--threads", Some(u64::from(req.threads))),
        ("--chunk-frames", req.chunk_frames),
        ("--chunks", req.chunks),
        ("--min-chunk-frames", req.min_chunk_frames),
        ("--max-chunk-frames", req.max_chunk_frames),
    ] {
        if value == Some(0) {
            return Err(bad(flag, "must be at least 1"));
        }
    }
    if let (Some(min), Some(max)) = (req.min_chunk_frames, req.max_chunk_frames) {
        if min > max {
            return Err(bad(
                "--min-chunk-frames",
                format!("{min} is more than --max-chunk-frames {max}"),
            ));
        }
    }
    Ok(())
}

/// The trial render of a plan's settings: a filter chain, encoder, preset or pixel format ffmpeg
/// rejects, or a filter chain that does not hand its frames on one for one, is refused before
/// anything is written (`vre plan`), or, in `vre run` on a new planDir, as soon as a chunk fails
/// (it tells a bad setting from a bad chunk).
#[derive(Debug)]
pub struct Trial {
    loaded: LoadedPlan,
}

impl Trial {
    /// The trial of a plan: its first output frames ([`ffmpeg::video::trial_range`]),
    /// rendered and discarded.
    pub fn of(loaded: &LoadedPlan) -> Trial {
        Trial {
            loaded: loaded.clone(),
        }
    }

    /// Runs it: [`PlanError::Rejected`] with ffmpeg's complaint if ffmpeg refuses, a `--vf`
    /// [`PlanError::BadOption`] if the chain drops, adds or re-times frames.
    pub fn run(&self) -> Result<(), PlanError> {
        let (plan, index) = (&self.loaded.plan, &self.loaded.index);
        let scratch = tempfile::tempdir().map_err(|source| PlanError::Read {
            path: std::env::temp_dir(),
            source,
        })?;
        let logs = FrameLogs::beside(&scratch.path().join("trial"));
        let argv = ffmpeg::video::trial_frames(plan, index, &logs);
        ffmpeg::runner::run_capture(&argv, &plan.input.path).map_err(rejected)?;
        let range = ffmpeg::video::trial_range(plan);
        ffmpeg::framelog::check_filter_keeps_frames(plan, index, range, &logs.filtered)
            .map_err(|why| bad("--vf", why))?;
        self.check_seam(scratch.path())
    }

    /// Where the plan passes settings through to the encoder (`--profile`, `--tune`,
    /// `--encoder-params`, `--encoder-opt`, …) that vre cannot vouch for, proves that chunks of
    /// them still concatenate: two trial chunks of [`SEAM_TRIAL_FRAMES`] frames each, decoded
    /// one after the other as assembly joins them, must give the second chunk's frames exactly
    /// as it decodes alone (nothing in it refers across the seam).
    fn check_seam(&self, scratch: &Path) -> Result<(), PlanError> {
        let (plan, index) = (&self.loaded.plan, &self.loaded.index);
        let frames = SEAM_TRIAL_FRAMES.min(plan.output.total_frames() / 2);
        if plan.encoder.delivery.is_empty() || plan.encoder.codec.is_intra_only() || frames == 0 {
            return Ok(());
        }
        let ext = plan.encoder.codec.chunk_format().1;
        let start = plan.output.start_frame;
        let halves = [
            scratch.join(format!("seam-a.{ext}")),
            scratch.join(format!("seam-b.{ext}")),
        ];
        for (n, half) in halves.iter().enumerate() {
            let argv =
                ffmpeg::video::trial_chunk(plan, index, (start + n as u64 * frames, frames), half);
            ffmpeg::runner::run_capture(&argv, &plan.input.path).map_err(rejected)?;
        }
        let list = scratch.join("seam.ffconcat");
        let entries: String = halves
            .iter()
            .map(|h| {
                format!(
                    "file {}\n",
                    ffmpeg::argv::concat_quote(&h.to_string_lossy())
                )
            })
            .collect();
        fs::write(&list, format!("ffconcat version 1.0\n{entries}")).map_err(|source| {
            PlanError::Read {
                path: list.clone(),
                source,
            }
        })?;
        let hashes = |path: &Path, concat: bool| -> Result<Vec<String>, PlanError> {
            let argv = ffmpeg::query::decoded_frame_hashes(path, concat);
            let out = ffmpeg::runner::run_capture(&argv, path).map_err(rejected)?;
            Ok(frame_md5s(&out))
        };
        let (alone, joined) = (hashes(&halves[1], false)?, hashes(&list, true)?);
        seam_is_clean(&alone, &joined, frames as usize).map_err(|why| {
            bad(
                "--encoder-opt",
                format!(
                    "two trial chunks of these encoder settings do not concatenate cleanly: {why}; leave out the --encoder-params, --encoder-opt, --tune or --profile that allows frames to refer across a chunk's start"
                ),
            )
        })
    }
}

/// Frames in each of the two chunks of the seam trial ([`Trial`]).
const SEAM_TRIAL_FRAMES: u64 = 8;

/// The md5 column of ffmpeg's framemd5 output, one per frame.
fn frame_md5s(framemd5: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(framemd5)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit(',').next().map(|md5| md5.trim().to_string()))
        .collect()
}

/// Whether two chunks of `frames` frames each joined cleanly: the joined decode has both
/// chunks' frames, and its second half is the second chunk decoded alone.
fn seam_is_clean(alone: &[String], joined: &[String], frames: usize) -> Result<(), String> {
    if alone.len() != frames || joined.len() != 2 * frames {
        return Err(format!(
            "the second chunk decodes to {} frames alone and the pair to {}, not {frames} and {}",
            alone.len(),
            joined.len(),
            2 * frames
        ));
    }
    match joined[frames..].iter().zip(alone).position(|(a, b)| a != b) {
        Some(n) => Err(format!(
            "frame {n} of the second chunk decodes differently after the first chunk than alone"
        )),
        None => Ok(()),
    }
}

/// Output frames before the first video frame when the video starts `delay` seconds after the
/// container: the frames serial ffmpeg's constant-rate output repeats the first frame into (its
/// rule for files of several streams: a first frame more than 0.1 frame late is shown for
/// `lrint(delay·rate + 1)` slots).
fn lead_frames(delay: f64, rate: Rational) -> u64 {
    let slots = delay * rate.as_f64();
    if slots > 0.1 {
        ((slots + 1.0).round_ties_even() - 1.0) as u64
    } else {
        0
    }
}

/// The largest numerator or denominator of a frame rate ffmpeg's `-r` reads exactly (it reads
/// others as a nearby rate with smaller terms).
const MAX_RATE_TERM: u64 = 1_001_000;

/// Refuses an output frame rate that ffmpeg's `-r` or the output container cannot carry: every
/// chunk would be timed at another rate than the plan's, or frames would share a timestamp, and
/// assembly would refuse the output only after every chunk was rendered.
fn check_rate_representable(
    rate: Rational,
    container: Container,
    from_fps: bool,
) -> Result<(), PlanError> {
    let whose = match from_fps {
        true => format!("--fps {rate}"),
        false => format!("the input's frame rate {rate}"),
    };
    let fix = match from_fps {
        true => "choose another --fps",
        false => "pass --fps with the rate to render at",
    };
    let divisor = gcd(u64::from(rate.num), u64::from(rate.den));
    let (num, den) = (u64::from(rate.num) / divisor, u64::from(rate.den) / divisor);
    if num > MAX_RATE_TERM || den > MAX_RATE_TERM {
        return Err(bad(
            "--fps",
            format!(
                "{whose} ({num}/{den} in lowest terms) has a term above 1001000, and ffmpeg's -r reads such a rate as a nearby one; {fix} (e.g. {:.3})",
                rate.as_f64()
            ),
        ));
    }
    if let Some(max) = container.max_frame_rate() {
        if rate.as_f64() > f64::from(max) {
            return Err(bad(
                "--fps",
                format!(
                    "{whose} is above {max} fps, and {container} stores millisecond timestamps: frames would share one; {fix}, or --format mp4 or mov"
                ),
            ));
        }
    }
    Ok(())
}

/// Greatest common divisor.
fn gcd(a: u64, b: u64) -> u64 {
    match b {
        0 => a.max(1),
        _ => gcd(b, a % b),
    }
}

/// Refuses inputs whose timestamps do not follow their nominal constant frame rate (frame `k`
/// must sit within half a frame of `k / rate`): seeking by time would pick the wrong frames.
fn check_constant_rate(path: &Path, index: &FrameIndex, rate: Rational) -> Result<(), PlanError> {
    let first = index.time_of(0);
    let frame = 1.0 / rate.as_f64();
    for k in 0..index.len() {
        let expected = first + k as f64 * frame;
        let actual = index.time_of(k);
        if (actual - expected).abs() > frame / 2.0 {
            return Err(bad(
                "--fps",
                format!(
                    "{} has a variable frame rate (frame {k} is at {:.3} s, {expected:.3} s at a constant {rate} fps); pass --fps to render it onto a constant grid, e.g. --fps {}",
                    path.display(),
                    actual,
                    rate.as_f64().round().max(1.0)
                ),
            ));
        }
    }
    Ok(())
}

/// The output grid under `--fps`: the normalisation record, the grid's frame count (counted by
/// running the real fps filter over the input's last seconds, so end-of-stream rounding is
/// ffmpeg's own), and the slots before the input's first frame that copies of it fill.
fn fps_grid(
    (input, stream): (&Path, usize),
    index: &FrameIndex,
    (start_time, single_stream): (f64, bool),
    fps: Rational,
    size: Option<Size>,
) -> Result<(Normalize, u64, u64), PlanError> {
    let slot_of = |pts: f64| ((pts - start_time) * fps.as_f64()).round().max(0.0) as u64;
    let widest_gap = index
        .pts
        .windows(2)
        .map(|w| index.seconds(w[1] - w[0]))
        .fold(0.0, f64::max);
    // A late first frame: with other streams serial ffmpeg fills the slots before it with
    // copies of it (the fps filter, anchored at the container's start, does the same); alone,
    // its grid starts at that frame.
    let origin = slot_of(index.time_of(0));
    let normalize = Normalize {
        fps: Some(fps),
        size,
        source_start_time: start_time,
        seek_margin: widest_gap + 2.0 / fps.as_f64(),
        grid_offset_slots: if single_stream { origin } else { 0 },
    };
    let last = index.time_of(index.len() - 1);
    let tail_slot = slot_of(last - 2.0).max(origin) - normalize.grid_offset_slots;
    let start_ticks =
        ffmpeg::video::start_ticks((start_time * 1e6).round() as i64, index.time_base);
    let argv =
        ffmpeg::video::fps_grid_tail((input, stream), &normalize, (fps, start_ticks), tail_slot);
    let stdout = ffmpeg::runner::run_capture(&argv, input)
        .map_err(|e| PlanError::Input(ProbeError::Tool(e)))?;
    let tail = String::from_utf8_lossy(&stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count() as u64;
    let lead = if single_stream { 0 } else { origin };
    Ok((normalize, tail_slot + tail, lead))
}

/// Chunk boundaries by the chosen strategy (an even split gives every chunk the same work,
/// counting the `preroll` frames each later chunk decodes first).
fn cut_chunks(
    req: &PlanRequest,
    (input, stream): (&Path, usize),
    index: &FrameIndex,
    (start_time, lead): (f64, u64),
    (rate, preroll): (Rational, u64),
    (start, end): (u64, u64),
    target: u64,
) -> Result<Vec<Chunk>, PlanError> {
    // Output frame of a time on the output clock (seconds from the container's start): the
    // index frame nearest to it without --fps, the nearest grid slot with it.
    let frame_of = |t: f64| {
        if req.fps.is_some() {
            return (t * rate.as_f64()).round().max(0.0) as u64;
        }
        let ticks =
            (start_time + t) * f64::from(index.time_base.den) / f64::from(index.time_base.num);
        let after = index.pts.partition_point(|&p| (p as f64) < ticks);
        let nearest = match after {
            0 => 0,
            n if n == index.len() => n - 1,
            n if ticks - index.pts[n - 1] as f64 <= index.pts[n] as f64 - ticks => n - 1,
            n => n,
        };
        nearest as u64 + lead
    };
    Ok(match req.split {
        SplitStrategy::Frames | SplitStrategy::Count => {
            let count = match (req.chunks, req.chunk_frames) {
                (Some(count), _) => count,
                (None, Some(_)) => chunking::count_for_target(start, end, target),
                (None, None) => chunking::count_for_workers(
                    start,
                    end,
                    target,
                    req.workers.unwrap_or(1),
                    rate.frames_in(1.0),
                ),
            };
            chunking::even_chunks(start, end, count, preroll)
        }
        SplitStrategy::Keyframes => {
            let keyframes: Vec<u64> = if req.fps.is_some() {
                index
                    .keyframes()
                    .map(|k| frame_of(index.time_of(k) - start_time))
                    .collect()
            } else {
                index.keyframes().map(|k| k as u64 + lead).collect()
            };
            chunking::keyframe_chunks(start, end, target, &keyframes)
        }
        SplitStrategy::Scenes => {
            let cuts: Vec<(u64, f64)> = probe::scene_cuts(input, stream, SCENE_THRESHOLD)?
                .into_iter()
                .map(|(t, score)| (frame_of(t), score))
                .collect();
            let min = req.min_chunk_frames.unwrap_or(rate.frames_in(1.0));
            let max = req.max_chunk_frames.unwrap_or(target * 2).max(min);
            chunking::scene_chunks(start, end, &cuts, min, max)
        }
    })
}

/// An `--audio` track (a regular file: [`check_input_files`]), checked: it has audio. Its
/// stream is the one serial ffmpeg would pick from it.
fn user_track(spec: &TrackSpec) -> Result<AudioTrack, PlanError> {
    let spec_text = || format!("file={}", spec.path.display());
    let path = absolute(&spec.path)?;
    let media = probe::probe(&path)?;
    let Some(audio_stream) = probe::default_audio_stream(&media.audio_streams) else {
        return Err(AudioSpecError::NoAudio {
            spec: spec_text(),
            path,
        }
        .into());
    };
    let record = file_record(&path)?;
    Ok(AudioTrack {
        path,
        audio_stream,
        blake3: record.blake3,
        stamp: Some(record.stamp),
        is_source: false,
        playback: spec.playback.clone(),
        filter: None,
        media_duration: media.duration.unwrap_or(0.0),
    })
}

/// The input's audio streams the output keeps, as (`0:a:N` number, stream): the one serial
/// ffmpeg picks, the one `--audio-stream N` names, or every one with `--audio-stream all`.
/// A stream without packets (declared, never sent: common in HLS segments) is left out, as
/// serial ffmpeg leaves it out, or refused when named.
fn source_streams<'a>(
    req: &PlanRequest,
    info: &'a probe::MediaInfo,
) -> Result<Vec<(u32, &'a probe::AudioInfo)>, PlanError> {
    let streams = &info.audio_streams;
    let numbered = |n: u32| (n, &streams[n as usize]);
    let has_packets = |(_, s): &(u32, &probe::AudioInfo)| s.packets != Some(0);
    if req.no_source_audio {
        if req.audio_streams != AudioStreams::Default {
            return Err(bad(
                "--audio-stream",
                "chooses among the input's audio streams, which --no-source-audio leaves out; give one or the other",
            ));
        }
        return Ok(Vec::new());
    }
    Ok(match req.audio_streams {
        AudioStreams::Default => probe::default_audio_stream(streams)
            .map(numbered)
            .filter(has_packets)
            .into_iter()
            .collect(),
        AudioStreams::One(n) => {
            if n as usize >= streams.len() {
                return Err(bad(
                    "--audio-stream",
                    match streams.len() {
                        0 => format!("{n}: the input has no audio stream"),
                        count => format!(
                            "{n}: the input has {count} audio stream(s), numbered from 0 to {}",
                            count - 1
                        ),
                    },
                ));
            }
            let chosen = numbered(n);
            if !has_packets(&chosen) {
                return Err(bad(
                    "--audio-stream",
                    format!("{n}: that stream (#{}) has no packets; choose another, or leave --audio-stream out", chosen.1.index),
                ));
            }
            vec![chosen]
        }
        AudioStreams::All => (0..streams.len() as u32)
            .map(numbered)
            .filter(has_packets)
            .collect(),
    })
}

/// What the plan records of an input audio stream.
fn source_audio(info: &probe::MediaInfo, audio_stream: u32, s: &probe::AudioInfo) -> SourceAudio {
    SourceAudio {
        stream: s.index,
        audio_stream,
        codec: s.codec.clone(),
        sample_rate: s.sample_rate,
        channel_layout: s.layout(),
        start: s
            .first_frame_time
            .map_or(0.0, |t| (t - info.start_time).max(0.0)),
        end: s.end.or(info.duration).unwrap_or(0.0),
        default: s.default,
        tags: s.tags.clone(),
    }
}

/// One audio output: its tracks, in the format its encoder takes from the source stream (the
/// stream's rate and layout, where the encoder takes them), exactly as long as the video.
fn output_audio(
    (output, encoding, codec): (&OutputSpec, &audio::AudioEncoding, codecs::AudioCodec),
    source: Option<SourceAudio>,
    tracks: Vec<AudioTrack>,
) -> AudioPlan {
    let (rate, layout) = match &source {
        Some(s) if s.sample_rate > 0 => (s.sample_rate, s.channel_layout.clone()),
        _ => (MIX_SAMPLE_RATE, MIX_LAYOUT.to_string()),
    };
    let rate = encoding.rate.unwrap_or(rate);
    let layout = encoding.channels.map_or(layout, |channels| {
        codecs::default_channel_layout(channels).to_string()
    });
    let (format, _) = codec.output_format(rate, &layout);
    let frame_rate = output.frame_rate;
    let samples = (u128::from(output.total_frames())
        * u128::from(frame_rate.den)
        * u128::from(format.sample_rate)
        + u128::from(frame_rate.num) / 2)
        / u128::from(frame_rate.num);
    let parts = audio::parts_for(codec, (samples as u64, format.sample_rate), &tracks);
    AudioPlan {
        codec,
        bitrate: encoding.bitrate.or(codec.bitrate(format.channels)),
        sample_rate: format.sample_rate,
        channels: format.channels,
        channel_layout: format.channel_layout,
        samples: samples as u64,
        source,
        tracks,
        parts,
    }
}

/// The plan's audio outputs: the first (the input's chosen stream, run through `--af` and mixed
/// with the `--audio` tracks), then, with `--audio-stream all`, one for each further stream of
/// the input.
fn audio_plans(
    req: &PlanRequest,
    input: &InputRecord,
    info: &probe::MediaInfo,
    output: &OutputSpec,
) -> Result<(Option<AudioPlan>, Vec<AudioPlan>), PlanError> {
    let codec = req
        .audio_encoding
        .codec_for(output.container)
        .map_err(|(flag, why)| bad(flag, why))?;
    let settings = (output, &req.audio_encoding, codec);
    let sources = source_streams(req, info)?;
    if codec == codecs::AudioCodec::Copy {
        check_copy(req, (&input.path, &sources), output)?;
    }
    if sources.is_empty() && req.audio_filter.is_some() {
        return Err(bad(
            "--af",
            "applies to the input's own audio, but there is none (or --no-source-audio is set)",
        ));
    }
    let mut user_tracks = Vec::new();
    for spec in &req.audio_tracks {
        user_tracks.push(user_track(spec)?);
    }
    let mut outputs = Vec::new();
    for (n, &(audio_stream, stream)) in sources.iter().enumerate() {
        // The input's own audio plays where its timestamps put it.
        let mut tracks = vec![AudioTrack {
            path: input.path.clone(),
            audio_stream,
            blake3: input.blake3.clone(),
            stamp: Some(input.stamp),
            is_source: true,
            playback: Playback::default(),
            filter: if n == 0 {
                req.audio_filter.clone()
            } else {
                None
            },
            // A file written as a stream (Matroska through a pipe, some ASF) states no
            // duration: the stream's last packet tells where it ends.
            media_duration: info
                .duration
                .filter(|d| *d > 0.0)
                .or(stream.end)
                .unwrap_or(0.0),
        }];
        if n == 0 {
            tracks.append(&mut user_tracks);
        }
        let source = source_audio(info, audio_stream, stream);
        outputs.push(output_audio(settings, Some(source), tracks));
    }
    if outputs.is_empty() && !user_tracks.is_empty() {
        outputs.push(output_audio(settings, None, user_tracks));
    }
    let mut outputs = outputs.into_iter();
    Ok((outputs.next(), outputs.collect()))
}

/// Refuses `--audio-codec copy` where the input's packets cannot be the output's sound as they
/// are: a mix (`--audio`), filters (`--af`), a `--range` (the packets would need cutting), a
/// new rate or channel count, no input audio, or a format that cannot hold the codec (found by
/// copying the first second of each stream into a scratch file of the output's format, as
/// the serial command would).
fn check_copy(
    req: &PlanRequest,
    (input, sources): (&Path, &[(u32, &probe::AudioInfo)]),
    output: &OutputSpec,
) -> Result<(), PlanError> {
    let refuse = |why: &str| {
        bad(
            "--audio-codec",
            format!("copy keeps the input's audio packets as they are; {why}"),
        )
    };
    if !req.audio_tracks.is_empty() {
        return Err(refuse(
            "--audio tracks need a mix: choose an audio codec to mix them",
        ));
    }
    if req.audio_filter.is_some() {
        return Err(refuse(
            "--af needs the sound decoded: choose an audio codec",
        ));
    }
    if req.range != RangeSpec::default() {
        return Err(refuse(
            "a --range needs the sound cut at its ends: choose an audio codec",
        ));
    }
    if req.audio_encoding.rate.is_some() || req.audio_encoding.channels.is_some() {
        return Err(refuse(
            "--audio-rate and --audio-channels need it encoded again: choose an audio codec",
        ));
    }
    if sources.is_empty() {
        return Err(refuse(
            "the input has no audio stream to copy (or --no-source-audio is set)",
        ));
    }
    let scratch = tempfile::tempdir().map_err(|source| PlanError::Read {
        path: std::env::temp_dir(),
        source,
    })?;
    for &(audio_stream, stream) in sources {
        let trial = scratch
            .path()
            .join(format!("copy-{audio_stream}.{}", output.container));
        let argv = ffmpeg::audio::copy_stream(
            (input, audio_stream),
            (output.container, stream.sample_rate),
            Some(1.0),
            &trial,
        );
        if let Err(e) = ffmpeg::runner::run_capture_all(&argv, input) {
            let said = match e {
                ffmpeg::error::FfmpegError::Failed { stderr, .. } => {
                    ffmpeg::error::last_lines(&stderr, 2)
                }
                other => other.to_string(),
            };
            return Err(refuse(&format!(
                "{} cannot hold the input's {} audio (stream #{}) as it is (ffmpeg: {said}); choose an audio codec",
                output.container, stream.codec, stream.index
            )));
        }
    }
    Ok(())
}

/// What the audio outputs deliberately do differently from the serial command, one line each:
/// streams left out for having no packets, formats the encoder cannot take, the audio cut or
/// padded to the video's length (a `--range` that ends before the grid's last frame, of `total`,
/// cuts the audio as it cuts the video), and a codec other than the serial command's default.
fn audio_notes(
    req: &PlanRequest,
    info: &probe::MediaInfo,
    (output, total): (&OutputSpec, u64),
    outputs: &[&AudioPlan],
) -> Vec<String> {
    let mut notes = Vec::new();
    if !req.no_source_audio {
        for s in info.audio_streams.iter().filter(|s| s.packets == Some(0)) {
            notes.push(format!(
                "the input's audio stream #{} ({}) has no packets: it is left out, as the serial command leaves it out",
                s.index, s.codec
            ));
        }
    }
    let video_end = output.frame_rate.seconds_of(output.end_frame);
    let whole_end = output.end_frame == total;
    for audio in outputs {
        let Some(source) = &audio.source else {
            continue;
        };
        if audio.codec == codecs::AudioCodec::Copy {
            // The input's packets, as long as they last, as the serial command copies them.
            continue;
        }
        let stream = format!("audio stream #{}", source.stream);
        let encoder = audio.codec.encoder();
        let (_, changes) = audio
            .codec
            .output_format(source.sample_rate, &source.channel_layout);
        for change in changes {
            notes.push(match change {
                codecs::FormatChange::Rate { from, to } => format!(
                    "{stream}: {from} Hz becomes {to} Hz, the nearest rate {encoder} takes (the serial command converts alike)"
                ),
                codecs::FormatChange::Layout { from, to } => format!(
                    "{stream}: {from} becomes {to}: {encoder} cannot take {from} (the serial command fails there)"
                ),
            });
        }
        let end = source.end;
        if end > video_end + 0.001 && whole_end {
            notes.push(format!(
                "{stream} ends at {end:.3} s, the video at {video_end:.3} s: vre cuts the audio at the video's end (the serial command keeps the last {:.3} s)",
                end - video_end
            ));
        } else if end < video_end - 0.001 {
            notes.push(format!(
                "{stream} ends at {end:.3} s, the video at {video_end:.3} s: vre pads it with silence to the video's end (the serial command's audio stops there)"
            ));
        }
    }
    if output.container == Container::Mkv
        && outputs
            .first()
            .is_some_and(|a| a.codec == codecs::AudioCodec::Flac)
    {
        notes.push(
            "the audio is FLAC (lossless); the serial command's default for mkv is Vorbis"
                .to_string(),
        );
    }
    notes
}

/// What planning learns from the input before deciding anything.
struct Analysis {
    /// The input, as an absolute path.
    path: PathBuf,
    /// Its streams and container.
    info: probe::MediaInfo,
    /// Its first video stream.
    video: probe::VideoInfo,
    /// Every frame's timestamp.
    index: FrameIndex,
    /// What decoding taught about its video (its `index` is the one above).
    decoded: decoding::Findings,
    /// Its size, time and content hash (an error here is reported after the plan's own checks).
    record: Result<InputRecord, PlanError>,
}

/// The video stream to render: `--video-stream N` (a video stream with packets, not an attached
/// picture), or the one serial ffmpeg's default stream choice takes
/// ([`probe::default_video_stream`]).
fn chosen_video_stream(
    wanted: Option<usize>,
    path: &Path,
    info: &probe::MediaInfo,
) -> Result<probe::VideoInfo, PlanError> {
    let streams = &info.video_streams;
    let listed = || match streams.is_empty() {
        true => "it has none".to_string(),
        false => format!(
            "its video streams: {}",
            streams
                .iter()
                .map(probe::VideoStream::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let chosen = match wanted {
        Some(n) => {
            let stream = streams.iter().find(|s| s.index == n).ok_or_else(|| {
                bad(
                    "--video-stream",
                    format!(
                        "{} has no video stream {n} ({}); pass the index of one, as ffprobe lists them",
                        path.display(),
                        listed()
                    ),
                )
            })?;
            let unusable = match (stream.attached_pic, stream.packets) {
                (true, _) => Some("is an attached picture (cover art), not a video"),
                (false, Some(0)) => Some("has no packets"),
                _ => None,
            };
            if let Some(why) = unusable {
                return Err(bad(
                    "--video-stream",
                    format!("stream {n} of {} {why} ({})", path.display(), listed()),
                ));
            }
            stream
        }
        None => probe::default_video_stream(streams)
            .filter(|s| !s.attached_pic)
            .ok_or_else(|| ProbeError::NoVideo {
                path: path.to_path_buf(),
                what: match (info.audio_streams.first(), streams.is_empty()) {
                    (_, false) => listed(),
                    (Some(a), true) => format!("only audio ({})", a.codec),
                    (None, true) => "no audio or video streams".to_string(),
                },
            })?,
    };
    chosen.info.clone().ok_or_else(|| {
        ProbeError::NoFrames {
            path: path.to_path_buf(),
        }
        .into()
    })
}

/// Refuses, before anything opens them, inputs that are not regular files: INPUT and every
/// `--audio` track (see [`input_file`]).
fn check_input_files(req: &PlanRequest) -> Result<(), PlanError> {
    input_file::check_input_file(&req.input)?;
    for spec in &req.audio_tracks {
        let spec_text = format!("file={}", spec.path.display());
        input_file::check_input_file(&spec.path).map_err(|source| match source.problem {
            Unusable::Missing => AudioSpecError::FileMissing {
                spec: spec_text,
                path: spec.path.clone(),
            },
            _ => AudioSpecError::NotAFile {
                spec: spec_text,
                source,
            },
        })?;
    }
    Ok(())
}

/// Reads the input: streams (and ffmpeg's version), packet timestamps, content hash and the
/// audio's first frame, all at once; refuses what vre cannot render frame-exactly.
fn analyse(req: &PlanRequest) -> Result<Analysis, PlanError> {
    check_input_files(req)?;
    let input_path = absolute(&req.input)?;
    // Independent reads at once: streams, packet timestamps (and ffmpeg's version) in one
    // ffprobe, then what the decoder makes of the video; the content hash; the audio's first
    // frame.
    // A file that will be looked at (a transport stream …) has its first video stream's
    // keyframes decoded alongside the scan; used if that is the stream chosen.
    let (analysed, record) = std::thread::scope(|scope| {
        let record = scope.spawn(|| file_record(&input_path));
        let audio_start = scope.spawn(|| probe::first_audio_frame_times(&input_path));
        let early = (!req.check_decoding && decoding::starts_like_a_stream_to_look_at(&input_path))
            .then(|| scope.spawn(|| probe::decoded_keyframes(&input_path, None)));
        let early = || early.map(|pass| pass.join().expect("the keyframe pass does not panic"));
        let audio_start = || audio_start.join().expect("the audio probe does not panic");
        let analysed = read_video(req, &input_path, audio_start, early);
        (analysed, record.join().expect("hashing does not panic"))
    });
    let (info, video, decoded) = analysed?;
    Ok(Analysis {
        path: input_path,
        info,
        video,
        index: decoded.index.clone(),
        decoded,
        record,
    })
}

/// The streams of the input, its video stream and what decoding it taught; `audio_start`
/// gives the time of each audio stream's first frame, `early` the keyframe pass of its first video stream
/// that is not an attached picture, where one was started with the scan.
fn read_video(
    req: &PlanRequest,
    input_path: &Path,
    audio_start: impl FnOnce() -> Result<std::collections::BTreeMap<u32, f64>, ProbeError>,
    early: impl FnOnce() -> Option<decoding::KeyframePass>,
) -> Result<(probe::MediaInfo, probe::VideoInfo, decoding::Findings), PlanError> {
    let scanned = probe::probe_with_video_packets(input_path)?;
    let mut info = scanned.info.clone();
    let audio_start = audio_start()?;
    for audio in &mut info.audio_streams {
        audio.first_frame_time = audio_start.get(&audio.index).copied();
    }
    let mut video = chosen_video_stream(req.video_stream, input_path, &info)?;
    let mut packets = scanned.packets_of(video.stream_index);
    if let Some(format) = info
        .format_name
        .split(',')
        .find(|f| ELEMENTARY_FORMATS.contains(f))
    {
        // A stream copy into a container guesses timestamps and loses or misplaces frames
        // (B-frames, decoder delay); a lossless conversion keeps every frame.
        let fix = "ffmpeg -i INPUT -map 0:v:0 -c:v ffv1 -level 3 INPUT.mkv".to_string();
        return Err(ProbeError::Elementary {
            path: input_path.to_path_buf(),
            format: format.to_string(),
            fix,
        }
        .into());
    }
    if packets.iter().any(|p| p.pts.is_none()) {
        // Without stored timestamps only the decoder knows when each frame is shown.
        packets = probe::decoded_video_frames(input_path, video.stream_index)?;
    }
    let index = FrameIndex::from_packets(video.time_base, &packets);
    if index.is_empty() {
        return Err(ProbeError::NoFrames {
            path: input_path.to_path_buf(),
        }
        .into());
    }
    let look = match (
        req.check_decoding,
        decoding::signs(&scanned, &video, &index),
    ) {
        (true, _) => decoding::Look::Everything,
        (false, Some(sign)) => decoding::Look::Keyframes(sign),
        (false, None) => decoding::Look::Not,
    };
    let first_video = info
        .video_streams
        .iter()
        .find(|s| !s.attached_pic)
        .map(|s| s.index);
    let early = early().filter(|_| first_video == Some(video.stream_index));
    let decoded = decoding::learn(input_path, video.stream_index, index, look, early)?;
    if decoded.index.is_empty() {
        return Err(ProbeError::NoFrames {
            path: input_path.to_path_buf(),
        }
        .into());
    }
    if let Some((width, height)) = decoded.first_size {
        (video.width, video.height) = (width, height);
    }
    info.video = Some(video.clone());
    Ok((info, video, decoded))
}

/// Refuses what a mid-stream change of the input makes vre unable to render as the serial
/// command does: a size change under `--vf` or `--fps` (serial ffmpeg rebuilds its filter graph
/// there: every filter starts over, the fps filter losing the frame it holds), and frames the
/// decoder cannot produce amid the video without `--fps` (the serial command fills their slots
/// with copies of the frames beside them).
fn check_stream_changes(
    req: &PlanRequest,
    path: &Path,
    decoded: &decoding::Findings,
) -> Result<(), PlanError> {
    let index = &decoded.index;
    if let Some(change) = decoded.size_changes.first() {
        let at = format!(
            "{} changes its frame size at input frame {} ({:.3} s, to {}x{})",
            path.display(),
            change.frame,
            index.time_of((change.frame as usize).min(index.len() - 1)),
            change.width,
            change.height
        );
        let split = "render it without that option (every frame is then scaled to the first size, as serial ffmpeg does), or cut the input at the change and render each part";
        if req
            .video_filter
            .as_deref()
            .is_some_and(|f| !f.trim().is_empty())
        {
            return Err(bad(
                "--vf",
                format!("{at}; serial ffmpeg rebuilds its filter graph there (every filter starts over and its output is scaled to the first size), which a chunk cannot reproduce; {split}"),
            ));
        }
        if req.fps.is_some() {
            return Err(bad(
                "--fps",
                format!("{at}; serial ffmpeg rebuilds its filter graph there (the fps filter starts over, losing the frame it holds), which a chunk cannot reproduce; {split}"),
            ));
        }
    }
    let (first, last) = (index.pts[0], index.pts[index.len() - 1]);
    let amid: Vec<i64> = decoded
        .dropped
        .iter()
        .copied()
        .filter(|&p| p > first && p < last)
        .collect();
    if let (Some(&from), None) = (amid.first(), req.fps) {
        return Err(bad(
            "--fps",
            format!(
                "{} frame(s) of {} do not decode (damaged, from {:.3} s); serial ffmpeg fills their slots with copies of the frames beside them, which vre reproduces only on an explicit grid: pass --fps {} (the frames -vf fps gives), or a --range that leaves them out",
                amid.len(),
                path.display(),
                index.seconds(from),
                index_rate_hint(index)
            ),
        ));
    }
    Ok(())
}

/// A round frame rate near the index's, for messages.
fn index_rate_hint(index: &FrameIndex) -> String {
    let span = index.seconds(index.pts[index.len() - 1] - index.pts[0]);
    match index.len() > 1 && span > 0.0 {
        true => format!("{}", ((index.len() - 1) as f64 / span).round().max(1.0)),
        false => "25".to_string(),
    }
}

/// The output grid: normalisation, frame rate, frame count and lead-in frames.
fn output_grid(
    req: &PlanRequest,
    analysis: &Analysis,
    size: Option<Size>,
) -> Result<(Option<Normalize>, Rational, u64, u64), PlanError> {
    let Analysis {
        path: input_path,
        info,
        video,
        index,
        ..
    } = analysis;
    // Serial ffmpeg fills a late start only where the file has other streams: with the video
    // alone its output simply starts at the first frame.
    let single_stream = info.stream_count < 2;
    Ok(match req.fps {
        Some(fps) => {
            let (normalize, total, lead) = fps_grid(
                (input_path, video.stream_index),
                index,
                (info.start_time, single_stream),
                fps,
                size,
            )?;
            (Some(normalize), fps, total, lead)
        }
        None => {
            check_constant_rate(input_path, index, video.frame_rate)?;
            let normalize = size.map(|size| Normalize {
                fps: None,
                size: Some(size),
                source_start_time: info.start_time,
                seek_margin: 0.0,
                grid_offset_slots: 0,
            });
            let lead = match single_stream {
                true => 0,
                false => lead_frames(index.time_of(0) - info.start_time, video.frame_rate),
            };
            (normalize, video.frame_rate, index.len() as u64 + lead, lead)
        }
    })
}

/// What the plan records of the source.
fn source_facts(
    info: &probe::MediaInfo,
    video: probe::VideoInfo,
    decoded: &decoding::Findings,
    lead: u64,
) -> SourceFacts {
    let index = &decoded.index;
    SourceFacts {
        video_stream: Some(video.stream_index as u32),
        codec: video.codec,
        width: video.width,
        height: video.height,
        frame_rate: video.frame_rate,
        total_frames: index.len() as u64,
        pix_fmt: video.pix_fmt,
        has_audio: !info.audio_streams.is_empty(),
        start_micros: (info.start_time * 1e6).round() as i64,
        lead_frames: lead,
        timecode: video.timecode,
        mastering_display: video.mastering_display,
        size_changes: decoded.size_changes.clone(),
        decode_check: decoded.full_decode.clone().map(|reason| DecodeCheck {
            reason,
            dropped_frames: decoded.dropped.len() as u64,
            damaged_keyframes: decoded.damaged_keyframes.len() as u64,
        }),
    }
}

/// The encoder settings: the codec, its knobs, and closed GOPs of at most `keyint` frames (the
/// colour tags are the caller's to fill in).
fn encoder_settings(
    req: &PlanRequest,
    codec: VideoCodec,
    (crf, preset, pix_fmt): (Option<u32>, Option<String>, String),
    keyint: u32,
) -> EncoderSettings {
    EncoderSettings {
        codec,
        crf,
        preset,
        pix_fmt,
        threads: req.threads,
        gop: GopSettings {
            keyint: if codec.is_intra_only() { 1 } else { keyint },
            closed: true,
            idr_first: true,
            scene_cut: codec.places_scene_cuts() && !req.fixed_gop,
            repeat_headers: true,
        },
        tags: Default::default(),
        delivery: req.delivery.clone(),
    }
}

/// The `--range` asked for, as frames `[start, end)` of the output grid of `total` frames.
fn frame_range(req: &PlanRequest, rate: Rational, total: u64) -> Result<(u64, u64), PlanError> {
    let start = req.range.start.map_or(0, |b| resolve_bound(b, rate));
    let end = req.range.end.map_or(total, |b| resolve_bound(b, rate));
    if start >= end {
        return Err(bad(
            "--range",
            format!(
                "it ends at frame {end} ({:.3} s), which is not after its start, frame {start} ({:.3} s); give START:END with END later",
                rate.seconds_of(end),
                rate.seconds_of(start)
            ),
        ));
    }
    if end > total {
        return Err(bad(
            "--range",
            format!(
                "frames [{start}, {end}) are outside the input, which has {total} frames ({:.3} s at {rate} fps)",
                rate.seconds_of(total)
            ),
        ));
    }
    Ok((start, end))
}

/// The output's streams and container data (see [`container`]): `--subtitle-stream` refused
/// where it asks for what the output cannot hold.
fn container_data(
    req: &PlanRequest,
    info: &probe::MediaInfo,
    output: &OutputSpec,
    codec: VideoCodec,
    audio: &[&AudioPlan],
) -> Result<Option<ContainerData>, PlanError> {
    container::container_data(container::ContainerRequest {
        facts: &info.container,
        start_micros: (info.start_time * 1e6).round() as i64,
        output,
        ranged: req.range != RangeSpec::default(),
        codec,
        audio,
        metadata: req.metadata,
        subtitles: req.subtitles,
    })
    .map_err(|refusal| bad("--subtitle-stream", refusal.0))
}

/// Analyses the input and builds the plan and its chunks, then refuses settings ffmpeg rejects
/// on a one-frame trial render. Writes nothing.
pub fn make_plan(req: &PlanRequest) -> Result<LoadedPlan, PlanError> {
    let loaded = make_untried_plan(req)?;
    let tried = Trial::of(&loaded).run();
    unless_interrupted(req, tried)?;
    Ok(loaded)
}

/// [`make_plan`] without the trial render: whoever uses the plan runs its [`Trial`] before it
/// blames a failed render on the chunk.
///
/// SIGINT/SIGTERM kill the analysis children (ffprobe, ffmpeg) and make this
/// [`PlanError::Interrupted`]; nothing is written, so no planDir is left half made.
pub fn make_untried_plan(req: &PlanRequest) -> Result<LoadedPlan, PlanError> {
    ffmpeg::runner::install_signal_handlers();
    let planned = plan_untried(req);
    unless_interrupted(req, planned)
}

/// `result`, or [`PlanError::Interrupted`] once a signal has arrived (whatever the children it
/// killed made of the result).
fn unless_interrupted<T>(req: &PlanRequest, result: Result<T, PlanError>) -> Result<T, PlanError> {
    if ffmpeg::runner::interrupted() {
        return Err(PlanError::Interrupted {
            input: req.input.clone(),
        });
    }
    result
}

fn plan_untried(req: &PlanRequest) -> Result<LoadedPlan, PlanError> {
    validate_counts(req)?;
    chain::check_audio_timing(req.audio_filter.as_deref()).map_err(|why| bad("--af", why))?;
    let (req, read_by_filters) = &filter_files::resolve_request(req)?;
    let (container, codec) = container_and_codec(req)?;
    let knobs = encoder_knobs(req, codec)?;
    check_device(codec)?;
    req.audio_encoding
        .codec_for(container)
        .map_err(|(flag, why)| bad(flag, why))?;
    let (mut delivery, mut delivery_notes) = delivery::settle(&req.delivery, codec, req.crf)
        .map_err(|refusal| bad(refusal.flag, refusal.why))?;
    let asked_threads = req.threads;
    let single_threaded = delivery::vbv_needs_one_thread(codec, &delivery) && asked_threads > 1;
    let req = &PlanRequest {
        threads: if single_threaded { 1 } else { req.threads },
        ..req.clone()
    };
    let threads_note = single_threaded.then(|| {
        format!("--maxrate: {codec}'s VBV rate control is not repeatable with threads, so each chunk encodes with one (asked: {asked_threads}); run more workers (-j) to fill the cores")
    });
    // The serial command's picture is found beside the analysis, on an input proven a file.
    check_input_files(req)?;
    let input_path = absolute(&req.input)?;
    let (analysis, picture) = std::thread::scope(|scope| {
        let picture = scope.spawn(|| serial_picture(req, &input_path, codec, knobs.clone()));
        let analysis = analyse(req);
        (
            analysis,
            picture.join().expect("the picture probe does not panic"),
        )
    });
    let (analysis, picture) = (analysis?, picture?);
    let (crf, mut preset) = knobs;
    if codec == VideoCodec::ProresKs && req.preset.is_none() && is_444(&picture.pix_fmt) {
        // prores_ks's own default profile for 4:4:4 (as the serial command has it): 4444.
        preset = Some("4444".to_string());
    }
    check_stream_changes(req, &analysis.path, &analysis.decoded)?;
    let size = match req.size {
        Some(asked) => Some(asked.fixed().or(picture.scaled).ok_or_else(|| {
            bad(
                "--size",
                format!(
                    "ffmpeg's scale filter logged no size for {}",
                    asked.scale_arguments()
                ),
            )
        })?),
        None => None,
    };
    let (normalize, rate, total, lead) = output_grid(req, &analysis, size)?;
    check_rate_representable(rate, container, req.fps.is_some())?;
    let Analysis {
        path: input_path,
        info,
        video,
        index,
        decoded,
        record: input,
    } = analysis;
    let encoded_index = index.encode();
    let (start, end) = frame_range(req, rate, total)?;
    let input = input?;
    let (width, height) = size.map_or((video.width, video.height), |s| (s.width, s.height));
    // The first rendered frame's timecode: the input's, moved on by the frames before it.
    let timecode = video.timecode.as_deref().and_then(|tc| {
        let frames = (rate.seconds_of(start) * video.frame_rate.as_f64()).round() as u64;
        timecode::advance(tc, video.frame_rate, frames)
    });
    let output = OutputSpec {
        container,
        width,
        height,
        frame_rate: rate,
        start_frame: start,
        end_frame: end,
        timecode,
    };
    let mut preroll = preroll::choose(req.video_filter.as_deref(), rate, req.preroll);
    let target = match req.chunk_frames {
        Some(frames) => frames,
        None => {
            let prerolls = match req.workers {
                Some(_) => chunking::LOCAL_CHUNK_PREROLLS,
                None => chunking::CHUNK_PREROLLS,
            };
            let target = chunking::default_chunk_frames(rate, preroll.frames, prerolls);
            if req.chunks.is_none() && target > rate.frames_in(chunking::DEFAULT_CHUNK_SECONDS) {
                preroll.reason.push_str(&format!(
                    "; chunks aim at {target} frames ({prerolls} prerolls), so that it costs at \
                     most {} % of their work (--chunk-frames or --chunks to choose)",
                    100 / prerolls
                ));
            }
            target
        }
    };
    let chunks = cut_chunks(
        req,
        (&input_path, video.stream_index),
        &index,
        (info.start_time, lead),
        (rate, preroll.frames),
        (start, end),
        target,
    )?;
    if chunks.len() > 1 {
        chain::check_chunkable(req.video_filter.as_deref()).map_err(|why| bad("--vf", why))?;
        filter_files::check_no_writes(req.video_filter.as_deref())
            .map_err(|why| bad("--vf", why))?;
    }
    let longest = chunks.iter().map(Chunk::frames).max().unwrap_or(1);
    let keyint = match req.keyint {
        Some(asked) => asked.frames(rate),
        None => longest
            .min((rate.as_f64() * MAX_GOP_SECONDS).round() as u64)
            .max(1) as u32,
    };
    if chunks.len() < 2 {
        // One chunk has no seams to plan the buffer at.
        delivery.seams = None;
        delivery_notes.clear();
    }
    let (audio, extra_audio) = audio_plans(req, &input, &info, &output)?;
    let outputs: Vec<&AudioPlan> = audio.iter().chain(&extra_audio).collect();
    let mut notes = audio_notes(req, &info, (&output, total), &outputs);
    notes.extend(delivery_notes);
    notes.extend(threads_note);
    let container = container_data(req, &info, &output, codec, &outputs)?;
    let strategy = req.split;
    let scenes = strategy == SplitStrategy::Scenes;
    let mut plan = Plan {
        plan_hash: String::new(),
        plan_id: crate::sys::host::nonce(),
        format_version: plandir::schema::FORMAT_VERSION,
        vre_version: env!("CARGO_PKG_VERSION").to_string(),
        ffmpeg_version: info.tool_version.clone(),
        ffmpeg_configuration: info.tool_configuration.clone(),
        input,
        source: source_facts(&info, video, &decoded, lead),
        index: index.record(&encoded_index),
        output,
        normalize,
        preroll,
        video_filter: req.video_filter.clone().filter(|f| !f.trim().is_empty()),
        filter_files: read_by_filters.clone(),
        encoder: EncoderSettings {
            tags: picture.tags,
            delivery,
            ..encoder_settings(req, codec, (crf, preset, picture.pix_fmt), keyint)
        },
        chunking: Chunking {
            strategy,
            target_frames: target,
            min_frames: scenes.then(|| chunks.iter().map(Chunk::frames).min().unwrap_or(1)),
            max_frames: scenes.then_some(longest),
        },
        audio,
        container,
        extra_audio,
        notes,
    };
    plan.plan_hash = plandir::hash::compute_plan_hash(&plan, &chunks);
    Ok(LoadedPlan {
        plan,
        chunks,
        index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seam_is_clean_only_where_the_second_chunk_decodes_alike_after_the_first() {
        let frames = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let alone = frames(&["c", "d"]);
        assert!(seam_is_clean(&alone, &frames(&["a", "b", "c", "d"]), 2).is_ok());
        // A frame that refers to the first chunk decodes otherwise there.
        let err = seam_is_clean(&alone, &frames(&["a", "b", "x", "d"]), 2).unwrap_err();
        assert!(err.contains("frame 0"), "{err}");
        // A frame the second chunk alone cannot decode.
        assert!(seam_is_clean(&frames(&["d"]), &frames(&["a", "b", "c", "d"]), 2).is_err());
        assert_eq!(
            frame_md5s(b"#tb 0: 1/25\n0,          0,          0,        1,    57600, 0f1e2d\n"),
            vec!["0f1e2d"]
        );
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
