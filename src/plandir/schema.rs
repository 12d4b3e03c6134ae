//! The types of the planDir's JSON files (`plan.json`, `chunks.json`, sidecars, progress
//! records), mirrored one to one by the JSON Schemas in `schemas/`.

use crate::codecs::{AudioCodec, Container, VideoCodec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The version of the planDir format this vre reads and writes.
pub const FORMAT_VERSION: u32 = 3;

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

    /// Whole frames of this rate in `seconds`, rounded, at least one.
    pub fn frames_in(self, seconds: f64) -> u64 {
        (self.as_f64() * seconds).round().max(1.0) as u64
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

/// What tells a file's content apart without reading it: its size, modification and
/// status-change times and inode. Any write changes the ctime, which `touch` cannot set back, and
/// a file put in its place (`mv`, `cp` to a temp then rename) has another inode; so a file whose
/// stamp is unchanged has not been written since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
    /// Status-change time, nanoseconds since the Unix epoch (0: not recorded, by a vre before
    /// this field; left out of the JSON then, so that such a plan still hashes as written).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ctime_ns: u64,
    /// Inode number (the same on every host that mounts the file; 0: not recorded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inode: u64,
}

/// Whether a field holds the value older plans did not record (they are hashed without it).
fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl FileStamp {
    /// The stamp of a file as its metadata shows it now.
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |secs: i64, nanos: i64| {
            u64::try_from(i128::from(secs) * 1_000_000_000 + i128::from(nanos)).unwrap_or(0)
        };
        FileStamp {
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
        }
    }

    /// How a file whose stamp was `self` differs now, in words; `None` when it has not changed.
    /// Fields recorded as 0 (by an older vre) are not compared.
    pub fn changes(&self, now: &FileStamp) -> Option<String> {
        if now.size != self.size {
            Some(format!("size {} bytes, planned {}", now.size, self.size))
        } else if self.inode != 0 && now.inode != self.inode {
            Some("another file was put in its place (its inode differs)".to_string())
        } else if now.mtime_ns != self.mtime_ns {
            Some("its modification time differs".to_string())
        } else if self.ctime_ns != 0 && now.ctime_ns != self.ctime_ns {
            Some(
                "it was written to or its attributes changed (its status-change time differs, which touch cannot restore)"
                    .to_string(),
            )
        } else {
            None
        }
    }
}

/// A file the plan reads (the input, a file a filter reads) as it was when planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    /// Absolute path of the input.
    pub path: PathBuf,
    /// Size, times and inode when planned.
    #[serde(flatten)]
    pub stamp: FileStamp,
    /// blake3 of the content, hex.
    pub blake3: String,
}

/// The filter chain a file is named in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterChain {
    /// `--vf`: every video chunk runs it.
    Video,
    /// `--af`: the audio task runs it.
    Audio,
}

impl FilterChain {
    /// The flag that gives the chain.
    pub fn flag(self) -> &'static str {
        match self {
            FilterChain::Video => "--vf",
            FilterChain::Audio => "--af",
        }
    }
}

/// A file a filter of `--vf` or `--af` reads, as it was when planned: workers refuse to render
/// once it changed, and the keys of the tasks that run the chain depend on its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterFile {
    /// The chain that names it.
    pub chain: FilterChain,
    /// The filter that reads it, e.g. `lut3d`.
    pub filter: String,
    /// The option that names it (or, for `fontsdir`, the folder it is in), e.g. `file`.
    pub option: String,
    /// Its absolute path (the chain in the plan names it so), size, times, inode and blake3.
    #[serde(flatten)]
    pub file: InputRecord,
}

/// Facts about the input's video stream, read with ffprobe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFacts {
    /// The index in the input of the video stream rendered: the one serial ffmpeg's default
    /// stream choice takes, or `--video-stream`. Absent in plans written before it was recorded,
    /// which rendered the first video stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_stream: Option<u32>,
    /// Codec of the video stream.
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
    /// The timecode of the input's first frame (a MOV `tmcd` track, a `timecode` tag), as
    /// ffprobe prints it, e.g. `01:02:03:04` (`;` before the frames: drop-frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timecode: Option<String>,
    /// Whether the input's video states HDR10 mastering-display metadata (copied to the output
    /// stream, as the serial command copies it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub mastering_display: bool,
    /// Where the frame size changes mid-stream (a broadcast switching resolution, a resized
    /// screen capture): serial ffmpeg scales every frame to the first size (`width`, `height`),
    /// and so does every chunk. Empty (and left out) where the size never changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub size_changes: Vec<SizeChange>,
    /// What decoding the whole video at plan time found, where it was decoded (the frame index
    /// then lists the frames the decoder produces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_check: Option<DecodeCheck>,
}

/// Whether a flag is off (left out of the JSON then).
fn is_false(value: &bool) -> bool {
    !*value
}

/// A change of the input's frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeChange {
    /// The first input frame (its position in the frame index) of the new size.
    pub frame: u64,
    /// The new width.
    pub width: u32,
    /// The new height.
    pub height: u32,
}

/// What decoding the whole video at plan time found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeCheck {
    /// Why it was decoded (what the keyframe pass showed, or `--check-decoding`).
    pub reason: String,
    /// Packets the decoder produces no frame for: left out of the frame index, as the serial
    /// command's decoder leaves them out.
    pub dropped_frames: u64,
    /// Keyframes that decode differently alone than after the frames before them (damaged and
    /// concealed): no chunk starts decoding at them.
    pub damaged_keyframes: u64,
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
    /// The timecode of the first frame rendered (the input's, moved on by the frames before
    /// `start_frame`), written as the video stream's `timecode` (a `tmcd` track in mp4/mov).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timecode: Option<String>,
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
    /// The colour description and field order the serial command's encoder writes (found at
    /// plan time by encoding the input's first frame so); assembly sets them on the output
    /// stream, so that chunk containers that store none of them (or only some) lose nothing.
    #[serde(default, skip_serializing_if = "PictureTags::is_empty")]
    pub tags: PictureTags,
    /// Rate control and stream shape beyond CRF and preset (left out of the JSON when none is
    /// asked for, so that such plans hash as plans written before it existed).
    #[serde(default, skip_serializing_if = "Delivery::is_empty")]
    pub delivery: Delivery,
}

/// What a delivery spec asks of the video encoder besides CRF and preset: ffmpeg's rate control
/// (`--bitrate`, `--maxrate`, `--bufsize`, `--passes 2`), the stream's profile, level and tune,
/// and encoder parameters passed through. All of it is recorded so that a retried chunk is
/// byte-identical.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Target average bit rate, bits per second (`-b:v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u64>,
    /// Peak rate of the VBV model, bits per second (`-maxrate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxrate: Option<u64>,
    /// VBV buffer size, bits (`-bufsize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bufsize: Option<u64>,
    /// Two-pass encoding, each chunk's first pass writing its statistics into the planDir.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub two_pass: bool,
    /// The VBV plan at the seams, where the encoder lets vre set its buffer's starting fill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seams: Option<SeamBuffer>,
    /// `--profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `--level`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// `--tune`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<String>,
    /// `--encoder-params`: `key=value` items for the codec's own parameter string
    /// (`-x264-params`, `-x265-params`, `-svtav1-params`), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encoder_params: Vec<String>,
    /// `--encoder-opt KEY=VALUE`: the encoder's AVOptions, passed as `-KEY VALUE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encoder_options: Vec<(String, String)>,
}

impl Delivery {
    /// Whether nothing beyond CRF and preset is asked for.
    pub fn is_empty(&self) -> bool {
        *self == Delivery::default()
    }
}

/// How the VBV buffer is planned across seams. Every chunk after the first tells its encoder
/// that the buffer starts `start_fill` full; a chunk other than the last is kept only if the
/// buffer, run over its packets from its own starting fill, ends at least that full. As a fuller
/// buffer never empties sooner, the assembled stream then never underflows where its chunks do
/// not. A chunk that ends emptier is encoded again with its last frames given fewer bits
/// ([`SeamBuffer::tail_zones`], tried in order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeamBuffer {
    /// The fill, as a fraction of the buffer, every chunk but the first starts from.
    pub start_fill: f64,
    /// The encodes tried when a chunk ends emptier: seconds at its end, bit-rate factor there.
    pub tail_zones: Vec<(f64, f64)>,
}

/// The colour description and field order of an encoded video stream, as ffprobe names them
/// (`tv`, `bt2020`, `smpte2084`, `bt2020nc`, `left`, `tb`, …); `None` where it states none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PictureTags {
    /// `tv` (limited) or `pc` (full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_range: Option<String>,
    /// Colour primaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_primaries: Option<String>,
    /// Transfer characteristics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_transfer: Option<String>,
    /// Matrix coefficients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_space: Option<String>,
    /// Chroma sample location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chroma_location: Option<String>,
    /// Field order: `progressive`, `tt`, `bb`, `tb`, `bt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_order: Option<String>,
}

impl PictureTags {
    /// Whether no tag is stated.
    pub fn is_empty(&self) -> bool {
        self == &PictureTags::default()
    }

    /// The tags as `(ffprobe field, value)` pairs, in a fixed order, stated ones only.
    pub fn stated(&self) -> Vec<(&'static str, &str)> {
        [
            ("color_range", &self.color_range),
            ("color_primaries", &self.color_primaries),
            ("color_transfer", &self.color_transfer),
            ("color_space", &self.color_space),
            ("chroma_location", &self.chroma_location),
            ("field_order", &self.field_order),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
        .collect()
    }
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

/// How a track plays on the timeline: where, from which point of its media, how fast and how loud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playback {
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
}

impl Default for Playback {
    /// From the media's start, at the timeline's start, at rate 1 and full volume, without fades
    /// or looping.
    fn default() -> Self {
        Playback {
            offset: 0.0,
            seek: 0.0,
            rate: 1.0,
            volume: 1.0,
            fade_in: 0.0,
            fade_out: 0.0,
            looped: false,
        }
    }
}

/// One audio track placed on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrack {
    /// Absolute path of the track's media.
    pub path: PathBuf,
    /// Which of the media's audio streams plays (`N` as in ffmpeg's `0:a:N`).
    pub audio_stream: u32,
    /// blake3 of the media's content.
    pub blake3: String,
    /// Size, times and inode of the media when planned (absent in plans written before it was
    /// recorded); not part of the audio task's key, which depends on the content alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<FileStamp>,
    /// Whether this track is the input's own audio.
    pub is_source: bool,
    /// How the track plays on the timeline.
    #[serde(flatten)]
    pub playback: Playback,
    /// Extra audio filters applied to this track before mixing.
    pub filter: Option<String>,
    /// Duration of the media, seconds; 0 where it is unknown (a file written as a stream states
    /// none, and the input's own track then ends at its last packet): such a track plays for as
    /// long as it has sound.
    pub media_duration: f64,
}

/// The input's audio stream an audio output is made of: what the serial command would keep of
/// it (its format, tags and default flag) and where it lies in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceAudio {
    /// The stream's index among all the input's streams (ffmpeg's `0:N`).
    pub stream: u32,
    /// The stream's index among the input's audio streams (ffmpeg's `0:a:N`).
    pub audio_stream: u32,
    /// Codec name.
    pub codec: String,
    /// Sample rate.
    pub sample_rate: u32,
    /// Channel layout, as ffmpeg names it (`5.1(side)`, `stereo`, …).
    pub channel_layout: String,
    /// When its first decoded sample plays, seconds after the container's start.
    pub start: f64,
    /// When its last packet ends, seconds after the container's start.
    pub end: f64,
    /// Whether the stream is flagged as the default one of its kind.
    pub default: bool,
    /// Its `language`, `title` and `handler_name` tags (those it has).
    pub tags: BTreeMap<String, String>,
}

/// An audio task: every track of one audio output mixed once for the whole range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioPlan {
    /// Audio codec.
    pub codec: AudioCodec,
    /// Bit rate, bits per second (`None`: lossless).
    pub bitrate: Option<u32>,
    /// Sample rate of the output (the source's, or the nearest the codec takes).
    pub sample_rate: u32,
    /// Channels of the output.
    pub channels: u32,
    /// Channel layout of the output, as ffmpeg names it.
    pub channel_layout: String,
    /// Exact length of the mix in samples: the video's frames × den / num seconds.
    pub samples: u64,
    /// The input's audio stream this output is made of (`None`: only `--audio` tracks).
    pub source: Option<SourceAudio>,
    /// The tracks mixed.
    pub tracks: Vec<AudioTrack>,
    /// Rendered in parts by many workers and joined by stream copy at assembly (absent: one
    /// task renders it whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<AudioParts>,
}

/// How a long audio output is cut into parts that render in parallel: each part's encoder also
/// gets `margin` samples before and after it, and the packets that encode the margins are
/// dropped, so every seam decodes as an encode of the whole would (no click).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioParts {
    /// Samples per part, a whole number of the codec's frames (the last part takes the rest).
    pub samples: u64,
    /// Samples encoded before and after each part and then dropped, whole codec frames.
    pub margin: u64,
    /// Samples per coded frame (AAC: 1024).
    pub frame: u64,
}

impl AudioPlan {
    /// The number of parts this output renders in (1 when it renders whole).
    pub fn part_count(&self) -> u32 {
        self.parts
            .map_or(1, |p| self.samples.div_ceil(p.samples.max(1)).max(1) as u32)
    }

    /// The samples `[start, end)` of the output that part `part` holds.
    pub fn part_span(&self, part: u32) -> (u64, u64) {
        match self.parts {
            Some(p) => {
                let start = u64::from(part) * p.samples;
                (start, (start + p.samples).min(self.samples))
            }
            None => (0, self.samples),
        }
    }

    /// The samples the task `task` of this output renders: all of them, or its part's.
    pub fn samples_of(&self, task: TaskId) -> u64 {
        match task {
            TaskId::AudioPart(_, part) => {
                let (start, end) = self.part_span(part);
                end - start
            }
            _ => self.samples,
        }
    }

    /// Whether a stream of `samples` samples rendered by `task` is what it must render: exactly
    /// [`Self::samples_of`] it, or up to the codec's [`AudioCodec::tail_padding`] more; a copy
    /// is the input's stream, however long.
    pub fn holds(&self, task: TaskId, samples: u64) -> bool {
        let wanted = self.samples_of(task);
        self.codec == AudioCodec::Copy
            || (wanted..=wanted + self.codec.tail_padding()).contains(&samples)
    }
}

/// `plan.json`: everything the render depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// blake3 over the canonical form of this plan (without this field and `plan_id`) and
    /// `chunks.json`.
    pub plan_hash: String,
    /// A random identity drawn when this plan was first written into its planDir (not hashed:
    /// planning the same job again gives the same hash). A worker checks it before publishing,
    /// so a worker of a planDir that was removed and planned again never publishes into the new
    /// one. Empty in plans written before it existed.
    #[serde(default)]
    pub plan_id: String,
    /// planDir format version.
    pub format_version: u32,
    /// vre version that wrote the plan.
    pub vre_version: String,
    /// ffmpeg version the plan was made with.
    pub ffmpeg_version: String,
    /// That ffmpeg's build configuration; a worker whose ffmpeg differs in version or
    /// configuration refuses (empty in plans written before it was recorded: the version
    /// alone is compared).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ffmpeg_configuration: String,
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
    /// The user's video filter chain (paths in it absolute).
    pub video_filter: Option<String>,
    /// The files the filters of `--vf` and `--af` read (empty in plans written before it
    /// existed; left out of the JSON when empty, so that plans without such files hash as
    /// plans written before it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_files: Vec<FilterFile>,
    /// History each chunk decodes before its start.
    pub preroll: Preroll,
    /// Encoder settings.
    pub encoder: EncoderSettings,
    /// How the range was chunked.
    pub chunking: Chunking,
    /// The first audio output, if the output has audio: the input's audio stream serial ffmpeg
    /// picks (or the one `--audio-stream` names), mixed with the `--audio` tracks.
    pub audio: Option<AudioPlan>,
    /// The output's streams and what assembly copies into it besides the rendered pictures and
    /// sound: tags, chapters, subtitles (absent in plans written before it existed, and for a
    /// PNG sequence; left out of the JSON then, so that such plans hash as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerData>,
    /// The input's other audio streams, kept with `--audio-stream all`: one output (and one
    /// task) each, in input order (left out of the JSON when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_audio: Vec<AudioPlan>,
    /// What the output deliberately does differently from the serial command, and why, found
    /// while planning: one line each, printed by `vre plan` (left out of the JSON when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    /// Every audio output in output order, each with the task that renders it: the first (the
    /// mix), then one for each further stream of `--audio-stream all`.
    pub fn audio_outputs(&self) -> Vec<(TaskId, &AudioPlan)> {
        self.audio
            .iter()
            .chain(&self.extra_audio)
            .enumerate()
            .map(|(n, audio)| (TaskId::Audio(n as u32), audio))
            .collect()
    }

    /// The audio output a task renders, if it is an audio task of this plan.
    pub fn audio_output(&self, task: TaskId) -> Option<&AudioPlan> {
        match task.audio_output()? {
            0 => self.audio.as_ref(),
            n => self.extra_audio.get(n as usize - 1),
        }
    }

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
    /// An audio output, by its number (0: the first, the mix).
    Audio(u32),
    /// A part of an audio output rendered in parts: the output's number, the part's.
    AudioPart(u32, u32),
    /// The video chunk with this index.
    Chunk(u32),
}

impl TaskId {
    /// The stem every file of this task is named by (`chunk-000003`; `audio` for the first
    /// audio output, `audio-N` for the others; `audio-part-000003`, `audio-N-part-000003` for
    /// their parts).
    pub fn stem(self) -> String {
        match self {
            TaskId::Audio(0) => "audio".to_string(),
            TaskId::Audio(n) => format!("audio-{n}"),
            TaskId::AudioPart(n, k) => format!("{}-part-{k:06}", TaskId::Audio(n).stem()),
            TaskId::Chunk(i) => format!("chunk-{i:06}"),
        }
    }

    /// How status and events name the task: its kind (`chunk`, `audio`), the chunk's index or
    /// the audio output's number (none for the first), and an audio part's number.
    pub fn kind_index_part(self) -> (&'static str, Option<u32>, Option<u32>) {
        match self {
            TaskId::Audio(n) => ("audio", (n > 0).then_some(n), None),
            TaskId::AudioPart(n, k) => ("audio", (n > 0).then_some(n), Some(k)),
            TaskId::Chunk(i) => ("chunk", Some(i), None),
        }
    }

    /// The audio output this task renders (all of it or a part), if it is an audio task.
    pub fn audio_output(self) -> Option<u32> {
        match self {
            TaskId::Audio(n) | TaskId::AudioPart(n, _) => Some(n),
            TaskId::Chunk(_) => None,
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskId::Audio(0) => write!(f, "audio"),
            TaskId::Audio(n) => write!(f, "audio {n}"),
            TaskId::AudioPart(n, k) => write!(f, "{} part {k}", TaskId::Audio(*n)),
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
    /// Wall-clock seconds ffmpeg ran; the rest of `finished_at - started_at` is vre's checks,
    /// hashing and publishing.
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

/// `--metadata`: the input's metadata kept as the default serial ffmpeg command keeps it, or
/// stripped as `-map_metadata -1 -map_chapters -1` strips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataMode {
    /// Global tags, stream tags and chapters copied from the input.
    #[default]
    Keep,
    /// None of them.
    Strip,
}

/// The cut `--range` makes, on the output's timeline (from the input's start), as
/// `ffmpeg -i IN -ss START -t LENGTH` states it: chapters and subtitles are cut by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    /// Where the range starts, microseconds.
    pub start_micros: u64,
    /// How long it lasts, microseconds.
    pub length_micros: u64,
}

/// A chapter of the output, in its own time base, on the output's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChapterRecord {
    /// The time base of `start` and `end`.
    pub time_base: Rational,
    /// Start, in ticks.
    pub start: i64,
    /// End, in ticks.
    pub end: i64,
    /// Its tags (`title`, …).
    pub tags: BTreeMap<String, String>,
}

/// What an output stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// The rendered video.
    Video,
    /// Sound.
    Audio,
    /// Subtitles copied from the input at assembly.
    Subtitle,
}

impl StreamKind {
    /// ffprobe's `codec_type` of such a stream.
    pub fn codec_type(self) -> &'static str {
        match self {
            StreamKind::Video => "video",
            StreamKind::Audio => "audio",
            StreamKind::Subtitle => "subtitle",
        }
    }
}

/// How a subtitle stream is written into the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtitleWrite {
    /// The input stream's codec (`subrip`, `dvd_subtitle`, …).
    pub from: String,
    /// The output's codec, as ffprobe names it (`ass`, `webvtt`, `mov_text`, `dvd_subtitle`).
    pub codec: String,
    /// The encoder (`ssa`, `webvtt`, `mov_text`), or `copy` (bitmap subtitles).
    pub encoder: String,
}

/// One stream of the assembled output, in the output's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputStream {
    /// What it is.
    pub kind: StreamKind,
    /// The input stream it is made from (ffmpeg's index, `-map 0:N`); `None` for sound mixed
    /// from several tracks.
    pub input_stream: Option<u32>,
    /// Its tags, as serial ffmpeg sets them (the input stream's, and the encoder's name).
    pub tags: BTreeMap<String, String>,
    /// Its disposition flags (`default`, `forced`, …), as serial ffmpeg sets them.
    pub disposition: Vec<String>,
    /// For a subtitle stream: how it is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<SubtitleWrite>,
}

/// The output's streams and container data: assembly maps exactly these and checks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerData {
    /// `--metadata`.
    pub metadata: MetadataMode,
    /// The cut of `--range`; `None` without it.
    pub cut: Option<Cut>,
    /// The output's global tags (the muxer adds its own `encoder`).
    pub tags: BTreeMap<String, String>,
    /// The output's chapters.
    pub chapters: Vec<ChapterRecord>,
    /// The output's streams, in order: the video, the audio, the subtitles.
    pub streams: Vec<OutputStream>,
    /// What deliberately differs from the serial ffmpeg command, one line each (`vre plan`
    /// prints them).
    pub notes: Vec<String>,
}

impl ContainerData {
    /// The subtitle streams, in output order.
    pub fn subtitles(&self) -> impl Iterator<Item = &OutputStream> {
        self.streams
            .iter()
            .filter(|s| s.kind == StreamKind::Subtitle)
    }
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
    /// When the render last made progress: ffmpeg reported progress, or its processes used CPU
    /// time (a slow frame is progress); the claim before either. Seconds since the Unix epoch
    /// (0 in records of a vre before this field).
    #[serde(default)]
    pub progress_at: f64,
    /// The holder's stall limit, seconds: its watchdog kills a render that makes no progress for
    /// this long, and `vre status` flags a task whose last progress is older (its worker stopped,
    /// its host gone). `None`: the holder's watchdog is off.
    #[serde(default)]
    pub stall_limit_seconds: Option<f64>,
}

impl ProgressRecord {
    /// Seconds since the render last made progress, at `now` (seconds since the Unix epoch).
    pub fn progress_age(&self, now: f64) -> f64 {
        let last = if self.progress_at > 0.0 {
            self.progress_at
        } else {
            self.updated_at
        };
        (now - last).max(0.0)
    }

    /// Whether, at `now`, the render has made no progress for longer than its holder's limit.
    pub fn stalled(&self, now: f64) -> bool {
        self.stall_limit_seconds
            .is_some_and(|limit| self.progress_age(now) > limit)
    }
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
    fn a_stamp_names_what_changed_and_skips_fields_an_older_plan_did_not_record() {
        let planned = FileStamp {
            size: 10,
            mtime_ns: 5,
            ctime_ns: 7,
            inode: 3,
        };
        assert_eq!(planned.changes(&planned), None);
        let changed = |f: fn(&mut FileStamp)| {
            let mut now = planned;
            f(&mut now);
            planned.changes(&now).unwrap_or_default()
        };
        assert!(changed(|s| s.size = 11).contains("size 11 bytes, planned 10"));
        assert!(changed(|s| s.inode = 4).contains("inode"));
        assert!(changed(|s| s.mtime_ns = 6).contains("modification time"));
        assert!(changed(|s| s.ctime_ns = 8).contains("touch cannot restore"));
        let older = FileStamp {
            ctime_ns: 0,
            inode: 0,
            ..planned
        };
        let now = FileStamp {
            ctime_ns: 99,
            inode: 99,
            ..planned
        };
        assert_eq!(older.changes(&now), None);
    }

    #[test]
    fn a_progress_record_is_stalled_past_its_holders_limit_and_reads_without_the_new_fields() {
        let record: ProgressRecord = serde_json::from_str(
            r#"{"frames_done":1,"frames":9,"fps":2.0,"host":"h","pid":7,"updated_at":100.0}"#,
        )
        .unwrap();
        assert_eq!(
            record.progress_age(103.0),
            3.0,
            "an older record: its write time"
        );
        assert!(!record.stalled(1e9), "no limit recorded: never flagged");
        let watched = ProgressRecord {
            progress_at: 110.0,
            stall_limit_seconds: Some(5.0),
            ..record
        };
        assert!(!watched.stalled(115.0));
        assert!(watched.stalled(115.5));
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
}
