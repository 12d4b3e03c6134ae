//! Reading facts about media files with ffprobe.

use crate::exit::{Code, HasCode};
use crate::ffmpeg::error::FfmpegError;
use crate::ffmpeg::{self, runner};
use crate::plandir::frameindex::ScannedPacket;
use crate::plandir::schema::{PictureTags, Rational, Size, StreamFacts};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A video stream of a file: the one vre renders (see [`default_video_stream`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Index of the stream in the file (`-map 0:N`).
    pub stream_index: usize,
    /// Codec name.
    pub codec: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frame rate (ffprobe's `r_frame_rate`).
    pub frame_rate: Rational,
    /// Average frame rate, when ffprobe knows it.
    pub avg_frame_rate: Option<Rational>,
    /// Pixel format.
    pub pix_fmt: String,
    /// Time base of the stream's timestamps.
    pub time_base: Rational,
    /// Its timecode: the stream's `timecode` tag (a MOV `tmcd` track), or the file's.
    pub timecode: Option<String>,
    /// Whether the stream states HDR10 mastering-display metadata.
    pub mastering_display: bool,
}

/// What the serial command's encoder makes of the input's picture: the pixel format it is
/// handed and the colour tags and field order it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct SerialPicture {
    /// The pixel format the encoder encodes.
    pub pix_fmt: String,
    /// The colour description and field order it states.
    pub tags: PictureTags,
    /// The size `--size` scaled the frame to, where the command scaled it.
    pub scaled: Option<Size>,
}

/// An audio stream of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// Its index among all the file's streams.
    pub index: u32,
    /// Codec name.
    pub codec: String,
    /// Sample rate (0 where nothing was decoded to learn it).
    pub sample_rate: u32,
    /// Channels (0 where nothing was decoded to learn them).
    pub channels: u32,
    /// Channel layout as ffmpeg names it, if it knows one.
    pub channel_layout: Option<String>,
    /// Whether it is flagged as the default audio stream.
    pub default: bool,
    /// Its `language`, `title` and `handler_name` tags (those it has).
    pub tags: BTreeMap<String, String>,
    /// Packets read from it (`None` where they were not counted).
    pub packets: Option<u64>,
    /// When its last packet ends, seconds after the container's start (where packets were read).
    pub end: Option<f64>,
    /// Time of the first decoded audio frame, seconds (edit lists and late starts included).
    pub first_frame_time: Option<f64>,
}

impl AudioInfo {
    /// Its channel layout, or ffmpeg's default one for its channel count where the file names
    /// none (as ffmpeg guesses it when decoding).
    pub fn layout(&self) -> String {
        match &self.channel_layout {
            Some(layout) if !layout.is_empty() && layout != "unknown" => layout.clone(),
            _ => crate::codecs::default_channel_layout(self.channels).to_string(),
        }
    }
}

/// The audio stream serial ffmpeg maps from a file when no `-map` is given, as an index among
/// its audio streams (`0:a:N`): ffmpeg 5.1's `open_output_file` scores each audio stream as
/// channels + 100000000 if it had packets + 5000000 if it is flagged default, keeps the first of
/// the highest scores, and maps it only if its score without the default bonus is above 0 (a
/// declared stream that never had a packet and whose channels are unknown is left out).
/// ffmpeg counts the packets it read while probing; vre counts the whole file's (the same for
/// every file whose streams all start within the probe's first seconds). A stream whose packets
/// were not counted counts as having them.
pub fn default_audio_stream(streams: &[AudioInfo]) -> Option<u32> {
    let score = |s: &AudioInfo| {
        u64::from(s.channels)
            + 100_000_000 * u64::from(s.packets != Some(0))
            + 5_000_000 * u64::from(s.default)
    };
    let mut best: Option<(usize, u64)> = None;
    for (n, stream) in streams.iter().enumerate() {
        if best.map_or(score(stream) > 0, |(_, top)| score(stream) > top) {
            best = Some((n, score(stream)));
        }
    }
    let (n, top) = best?;
    (top - 5_000_000 * u64::from(streams[n].default) > 0).then_some(n as u32)
}

/// What ffprobe says about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// Container format name(s).
    pub format_name: String,
    /// Duration of the container, seconds.
    pub duration: Option<f64>,
    /// Start time of the container, seconds (ffmpeg counts timestamps from it).
    pub start_time: f64,
    /// The video stream serial ffmpeg renders by default ([`default_video_stream`]); where the
    /// packets were not scanned, every stream counts as having packets.
    pub video: Option<VideoInfo>,
    /// Every video stream of the file, attached pictures (cover art) included, in file order.
    pub video_streams: Vec<VideoStream>,
    /// Every audio stream, in file order.
    pub audio_streams: Vec<AudioInfo>,
    /// How many streams of any kind the file has.
    pub stream_count: usize,
    /// The version of the ffprobe that read it (ffmpeg's, e.g. `5.1.9-0+deb12u1`).
    pub tool_version: String,
    /// That ffmpeg's build configuration (`--enable-libx264 …`).
    pub tool_configuration: String,
    /// What the container holds besides the pictures and sound: tags, chapters, every stream.
    pub container: ContainerFacts,
}

/// One stream of a file, as ffmpeg numbers it (`-map 0:INDEX`), with its tags.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamEntry {
    /// ffmpeg's index of the stream in the file.
    pub index: u32,
    /// `video`, `audio`, `subtitle`, `data`, `attachment`.
    pub codec_type: String,
    /// Codec name (`subrip`, `dvd_subtitle`, …).
    pub codec_name: String,
    /// The stream's tags (language, title, handler_name, …).
    pub tags: BTreeMap<String, String>,
    /// The disposition flags set (`default`, `forced`, `attached_pic`, …).
    pub disposition: Vec<String>,
}

/// A chapter as the file states it, in its own time base, on the file's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ChapterEntry {
    /// The chapter's time base.
    pub time_base: Rational,
    /// Start, in ticks of `time_base`.
    pub start: i64,
    /// End, in ticks of `time_base`.
    pub end: i64,
    /// Its tags (`title`, …).
    pub tags: BTreeMap<String, String>,
}

/// The container data of a file: what the default ffmpeg command copies besides the encoded
/// streams.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerFacts {
    /// The file's global tags.
    pub tags: BTreeMap<String, String>,
    /// Its chapters, in order.
    pub chapters: Vec<ChapterEntry>,
    /// Every stream, in order.
    pub streams: Vec<StreamEntry>,
    /// The libavcodec of the ffprobe that read it, as ffmpeg names itself in encoder tags
    /// (`Lavc59.37.100`).
    pub libavcodec: String,
}

/// A video stream as ffmpeg's default stream choice weighs it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    /// Index of the stream in the file.
    pub index: usize,
    /// Width (0 where the container does not say).
    pub width: u32,
    /// Height (0 where the container does not say).
    pub height: u32,
    /// Whether it has the default disposition.
    pub default: bool,
    /// Whether it is an attached picture (cover art): one image, not a video.
    pub attached_pic: bool,
    /// Its packets in the file (`None`: not scanned).
    pub packets: Option<u64>,
    /// What vre needs to render it (`None` where ffprobe states no frame rate or time base).
    pub info: Option<VideoInfo>,
}

impl VideoStream {
    /// One line for people: `stream 2 (wmv2, 320x240, 50 packets)`.
    pub fn describe(&self) -> String {
        let codec = self.info.as_ref().map_or("video", |i| i.codec.as_str());
        let what = match (self.attached_pic, self.packets) {
            (true, _) => "attached picture".to_string(),
            (false, Some(0)) => "no packets".to_string(),
            (false, Some(n)) => format!("{n} packets"),
            (false, None) => "packets not counted".to_string(),
        };
        format!(
            "stream {} ({codec}, {}x{}, {what})",
            self.index, self.width, self.height
        )
    }
}

/// The video stream the default serial command (`ffmpeg -i IN OUT`, no `-map`) renders, by
/// ffmpeg 5.1's rule (`open_output_file`): the highest score, the first on a tie, where a stream
/// scores width × height, plus 100,000,000 if it had packets while probing, plus 5,000,000 for
/// the default disposition, and an attached picture scores 1; the winner's default bonus is
/// taken off again, and a winner left at 0 means no video at all. "Had packets while probing"
/// is read as "has packets in the file" (an unscanned stream counts as having them): they
/// differ only for a stream whose first packet lies beyond ffmpeg's probing (5 MB, 5 s).
pub fn default_video_stream(streams: &[VideoStream]) -> Option<&VideoStream> {
    let score = |s: &VideoStream| -> i64 {
        if s.attached_pic {
            return 1;
        }
        i64::from(s.width) * i64::from(s.height)
            + 100_000_000 * i64::from(s.packets != Some(0))
            + 5_000_000 * i64::from(s.default)
    };
    let mut best: Option<(&VideoStream, i64)> = None;
    for stream in streams {
        let s = score(stream);
        if s > best.map_or(0, |(_, b)| b) {
            best = Some((stream, s));
        }
    }
    let (stream, s) = best?;
    let kept = match stream.attached_pic {
        true => s,
        false => s - 5_000_000 * i64::from(stream.default),
    };
    (kept > 0).then_some(stream)
}

/// Timing of one stream of a finished file.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamTiming {
    /// `video` or `audio`.
    pub codec_type: String,
    /// Start time, seconds.
    pub start_time: f64,
    /// Duration, seconds.
    pub duration: f64,
    /// Sample rate (audio).
    pub sample_rate: Option<u32>,
    /// Frames: counted packets, or the container index's count.
    pub frames: u64,
    /// `r_frame_rate` (video).
    pub r_frame_rate: Option<Rational>,
    /// `avg_frame_rate` (video).
    pub avg_frame_rate: Option<Rational>,
}

/// Errors about the content of a media file.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The file does not exist.
    #[error("{} does not exist; check the path", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// ffprobe cannot read it.
    #[error("{} is not a media file ffmpeg can read ({detail}); pass a video file", .path.display())]
    NotMedia {
        /// The file.
        path: PathBuf,
        /// ffprobe's complaint.
        detail: String,
    },
    /// A raw elementary stream: no container timestamps to seek by or prove frames with.
    #[error("{} is a raw {format} elementary stream, without the timestamps chunks seek by; put it in a container first: {fix}", .path.display())]
    Elementary {
        /// The file.
        path: PathBuf,
        /// ffmpeg's name of the stream format.
        format: String,
        /// A command that makes a file vre can render.
        fix: String,
    },
    /// It has no video stream.
    #[error("{} has no video stream (it holds {what}); vre renders video, pass a file with a video stream", .path.display())]
    NoVideo {
        /// The file.
        path: PathBuf,
        /// What it holds instead.
        what: String,
    },
    /// Its video stream has no frames.
    #[error("{} has a video stream with no frames; it may be truncated or empty", .path.display())]
    NoFrames {
        /// The file.
        path: PathBuf,
    },
    /// ffmpeg/ffprobe itself could not run.
    #[error(transparent)]
    Tool(#[from] FfmpegError),
}

impl HasCode for ProbeError {
    fn code(&self) -> Code {
        match self {
            ProbeError::Missing { .. } => Code::NoInput,
            ProbeError::NotMedia { .. }
            | ProbeError::Elementary { .. }
            | ProbeError::NoVideo { .. }
            | ProbeError::NoFrames { .. } => Code::DataErr,
            ProbeError::Tool(e) => e.code(),
        }
    }
}

/// Runs an ffprobe about `path`: a missing file and a file ffprobe cannot read get their own
/// errors.
fn run_probe(argv: &ffmpeg::argv::Argv, path: &Path) -> Result<Vec<u8>, ProbeError> {
    run_probe_all(argv, path).map(|(stdout, _)| stdout)
}

fn run_json<T: serde::de::DeserializeOwned>(
    argv: &ffmpeg::argv::Argv,
    path: &Path,
) -> Result<T, ProbeError> {
    let stdout = run_probe(argv, path)?;
    serde_json::from_slice(&stdout).map_err(|e| ProbeError::NotMedia {
        path: path.to_path_buf(),
        detail: format!("ffprobe printed unreadable JSON: {e}"),
    })
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn number<T: std::str::FromStr>(v: &Value, key: &str) -> Option<T> {
    match v.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// A tag of a stream or of the container, whatever the case of its key (Matroska's `TIMECODE`).
fn tag(v: &Value, key: &str) -> Option<String> {
    v.get("tags")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, value)| value.as_str())
        .map(str::to_string)
}

fn rational(v: &Value, key: &str) -> Option<Rational> {
    v.get(key).and_then(Value::as_str).and_then(Rational::parse)
}

/// What the probe of a file prints: ffprobe's version, the container, every stream and, when
/// asked for, every packet.
#[derive(Debug, Default, serde::Deserialize)]
struct ProbeOutput {
    #[serde(default)]
    program_version: Value,
    #[serde(default)]
    format: Value,
    #[serde(default)]
    streams: Vec<Value>,
    #[serde(default)]
    packets: Vec<PacketEntry>,
    #[serde(default)]
    chapters: Vec<Value>,
    #[serde(default)]
    library_versions: Vec<Value>,
}

/// One packet as the probe lists it: timestamps in ticks of its stream's time base, absent
/// where the container stores none.
#[derive(Debug, serde::Deserialize)]
struct PacketEntry {
    stream_index: usize,
    pts: Option<i64>,
    dts: Option<i64>,
    duration: Option<i64>,
    #[serde(default)]
    flags: String,
    #[serde(default)]
    side_data_list: Vec<Value>,
}

impl PacketEntry {
    /// Whether the packet brings the decoder new parameters (new extradata, a change of size
    /// or rate): the stream may change mid-way.
    fn changes_parameters(&self) -> bool {
        self.side_data_list.iter().any(|d| {
            matches!(
                d.get("side_data_type").and_then(Value::as_str),
                Some("New Extradata" | "Param Change")
            )
        })
    }
}

/// Reads the container and first video and audio streams of a file.
pub fn probe(path: &Path) -> Result<MediaInfo, ProbeError> {
    let output: ProbeOutput = run_json(&ffmpeg::query::probe(path, false), path)?;
    Ok(media_info(&output))
}

/// What the probe and packet scan of a file found: its streams, and the packets of its video
/// streams in file order (read by demuxing only, no decoding).
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The streams and the container, every video stream's packets counted.
    pub info: MediaInfo,
    /// `(stream index, packet)` of every video packet.
    packets: Vec<(usize, ScannedPacket)>,
    /// The video streams some of whose packets bring the decoder new parameters.
    changing: Vec<usize>,
}

impl Scanned {
    /// The packets of stream `index`, in file order: the frame index is made from them.
    pub fn packets_of(&self, index: usize) -> Vec<ScannedPacket> {
        self.packets
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, p)| *p)
            .collect()
    }

    /// Whether packets of stream `index` bring the decoder new parameters mid-way (new
    /// extradata, a change of size): a sign that its frames may change size.
    pub fn changes_parameters(&self, index: usize) -> bool {
        self.changing.contains(&index)
    }
}

/// The version and build configuration of the ffmpeg this process runs (`ffprobe
/// -show_program_version`, which reports the libraries ffmpeg is built from).
pub fn installed_ffmpeg() -> Result<(String, String), FfmpegError> {
    let stdout =
        ffmpeg::runner::run_capture(&ffmpeg::query::program_version(), Path::new("ffprobe"))?;
    let output: ProbeOutput = serde_json::from_slice(&stdout).unwrap_or_default();
    Ok((
        text(&output.program_version, "version").unwrap_or_else(|| "unknown".to_string()),
        text(&output.program_version, "configuration").unwrap_or_default(),
    ))
}

/// [`probe`], and the packets of every video stream: one ffprobe reads both. The packets tell
/// which video streams are empty, so [`MediaInfo::video`] is the stream ffmpeg's default choice
/// takes ([`default_video_stream`]).
pub fn probe_with_video_packets(path: &Path) -> Result<Scanned, ProbeError> {
    let output: ProbeOutput = run_json(&ffmpeg::query::probe(path, true), path)?;
    let mut info = media_info(&output);
    let video_indices: Vec<usize> = info.video_streams.iter().map(|s| s.index).collect();
    let packets: Vec<(usize, ScannedPacket)> = output
        .packets
        .iter()
        .filter(|p| video_indices.contains(&p.stream_index))
        .map(|p| {
            (
                p.stream_index,
                ScannedPacket::with_flags(p.pts, p.dts, &p.flags),
            )
        })
        .collect();
    for stream in &mut info.video_streams {
        stream.packets = Some(packets.iter().filter(|(i, _)| *i == stream.index).count() as u64);
    }
    info.video = default_video_stream(&info.video_streams).and_then(|s| s.info.clone());
    let mut changing: Vec<usize> = output
        .packets
        .iter()
        .filter(|p| video_indices.contains(&p.stream_index) && p.changes_parameters())
        .map(|p| p.stream_index)
        .collect();
    changing.dedup();
    Ok(Scanned {
        info,
        packets,
        changing,
    })
}

fn media_info(output: &ProbeOutput) -> MediaInfo {
    let streams = &output.streams;
    let is_attached_picture = |s: &Value| {
        s.get("disposition")
            .and_then(|d| d.get("attached_pic"))
            .and_then(Value::as_i64)
            == Some(1)
    };
    let has_disposition = |s: &Value, key: &str| {
        s.get("disposition")
            .and_then(|d| d.get(key))
            .and_then(Value::as_i64)
            == Some(1)
    };
    let video_streams: Vec<VideoStream> = streams
        .iter()
        .filter(|s| text(s, "codec_type").as_deref() == Some("video"))
        .filter_map(|s| {
            let index = number(s, "index")?;
            Some(VideoStream {
                index,
                width: number(s, "width").unwrap_or(0),
                height: number(s, "height").unwrap_or(0),
                default: has_disposition(s, "default"),
                attached_pic: is_attached_picture(s),
                packets: None,
                info: (|| {
                    Some(VideoInfo {
                        stream_index: index,
                        codec: text(s, "codec_name").unwrap_or_default(),
                        width: number(s, "width")?,
                        height: number(s, "height")?,
                        frame_rate: rational(s, "r_frame_rate")
                            .or_else(|| rational(s, "avg_frame_rate"))?,
                        avg_frame_rate: rational(s, "avg_frame_rate"),
                        pix_fmt: text(s, "pix_fmt").unwrap_or_default(),
                        time_base: rational(s, "time_base")?,
                        timecode: tag(s, "timecode").or_else(|| tag(&output.format, "timecode")),
                        mastering_display: s
                            .get("side_data_list")
                            .and_then(Value::as_array)
                            .is_some_and(|list| {
                                list.iter().any(|d| {
                                    text(d, "side_data_type").as_deref()
                                        == Some("Mastering display metadata")
                                })
                            }),
                    })
                })(),
            })
        })
        .collect();
    let video = default_video_stream(&video_streams).and_then(|s| s.info.clone());
    let start_time = number(&output.format, "start_time").unwrap_or(0.0);
    let audio_streams = streams
        .iter()
        .filter(|s| text(s, "codec_type").as_deref() == Some("audio"))
        .map(|s| {
            let index = number(s, "index").unwrap_or(0);
            let (packets, end) = match output.packets.is_empty() {
                // Counted by ffprobe (`-count_packets`), or not at all.
                true => (number(s, "nb_read_packets"), None),
                false => {
                    let time_base = rational(s, "time_base");
                    let mine = output.packets.iter().filter(|p| p.stream_index == index);
                    let end = mine
                        .clone()
                        .filter_map(|p| Some(p.pts? + p.duration.unwrap_or(0)))
                        .max()
                        .zip(time_base)
                        .map(|(ticks, tb)| {
                            ticks as f64 * tb.num as f64 / tb.den as f64 - start_time
                        });
                    (Some(mine.count() as u64), end)
                }
            };
            let tags = ["language", "title", "handler_name"]
                .iter()
                .filter_map(|key| {
                    let value = s.get("tags")?.get(*key)?.as_str()?;
                    Some((key.to_string(), value.to_string()))
                })
                .collect();
            AudioInfo {
                index: index as u32,
                codec: text(s, "codec_name").unwrap_or_default(),
                sample_rate: number(s, "sample_rate").unwrap_or(0),
                channels: number(s, "channels").unwrap_or(0),
                channel_layout: text(s, "channel_layout"),
                default: s
                    .get("disposition")
                    .and_then(|d| d.get("default"))
                    .and_then(Value::as_i64)
                    == Some(1),
                tags,
                packets,
                end,
                first_frame_time: None,
            }
        })
        .collect();
    let format = &output.format;
    MediaInfo {
        format_name: text(format, "format_name").unwrap_or_default(),
        duration: number(format, "duration"),
        start_time: number(format, "start_time").unwrap_or(0.0),
        video,
        video_streams,
        audio_streams,
        stream_count: streams.len(),
        tool_version: text(&output.program_version, "version")
            .unwrap_or_else(|| "unknown".to_string()),
        tool_configuration: text(&output.program_version, "configuration").unwrap_or_default(),
        container: container_facts(output),
    }
}

/// A `tags` object as a map of strings.
fn tags(v: &Value) -> BTreeMap<String, String> {
    v.get("tags")
        .and_then(Value::as_object)
        .map(|tags| {
            tags.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The container data of a probed file (see [`ContainerFacts`]).
fn container_facts(output: &ProbeOutput) -> ContainerFacts {
    let streams = output
        .streams
        .iter()
        .map(|s| StreamEntry {
            index: number(s, "index").unwrap_or(0),
            codec_type: text(s, "codec_type").unwrap_or_default(),
            codec_name: text(s, "codec_name").unwrap_or_default(),
            tags: tags(s),
            disposition: s
                .get("disposition")
                .and_then(Value::as_object)
                .map(|flags| {
                    flags
                        .iter()
                        .filter(|(_, set)| set.as_i64() == Some(1))
                        .map(|(name, _)| name.clone())
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let chapters = output
        .chapters
        .iter()
        .filter_map(|c| {
            Some(ChapterEntry {
                time_base: rational(c, "time_base")?,
                start: number(c, "start")?,
                end: number(c, "end")?,
                tags: tags(c),
            })
        })
        .collect();
    let libavcodec = output
        .library_versions
        .iter()
        .find(|l| text(l, "name").as_deref() == Some("libavcodec"))
        .and_then(|l| text(l, "ident"))
        .unwrap_or_default();
    ContainerFacts {
        tags: tags(&output.format),
        chapters,
        streams,
        libavcodec,
    }
}

/// Reads the container data of a file (tags, chapters, streams), without reading its packets.
pub fn container_facts_of(path: &Path) -> Result<ContainerFacts, ProbeError> {
    let output: ProbeOutput = run_json(&ffmpeg::query::probe(path, false), path)?;
    Ok(container_facts(&output))
}

/// The frames of video stream `stream` of a file as its decoder gives them, in output order, each
/// with ffmpeg's best-effort timestamp: for files whose packets lack timestamps (AVI with
/// B-frames), where only decoding tells which time each frame is shown at.
pub fn decoded_video_frames(path: &Path, stream: usize) -> Result<Vec<ScannedPacket>, ProbeError> {
    let stdout = run_probe(
        &ffmpeg::query::list_decoded_video_frames(path, stream),
        path,
    )?;
    let mut frames: Vec<ScannedPacket> = String::from_utf8_lossy(&stdout)
        .lines()
        .filter_map(|line| {
            // `key_frame,best_effort_timestamp`, sometimes followed by empty fields.
            let mut fields = line.split(',');
            let key = fields.next()?.trim() == "1";
            let pts = fields.next()?.trim().parse().ok();
            Some(ScannedPacket {
                pts,
                dts: None,
                key,
                discard: false,
            })
        })
        .collect();
    // A frame the decoder only hands out when flushed has no timestamp of its own; ffmpeg
    // times it one frame step after the one before, and so does the index.
    for n in 1..frames.len() {
        if frames[n].pts.is_none() {
            let previous = frames[n - 1].pts;
            let step = match (n >= 2).then(|| frames[n - 2].pts).flatten() {
                Some(before) => previous.map(|p| p - before),
                None => Some(1),
            };
            frames[n].pts = previous.zip(step).map(|(p, s)| p + s.max(1));
        }
    }
    Ok(frames)
}

/// A frame as a decode pass of the input saw it come out of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedFrame {
    /// Its timestamp, ticks of the stream's time base (the decoder's best effort).
    pub pts: i64,
    /// Whether the decoder marks it a keyframe.
    pub key: bool,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// A checksum of its pixels (Adler-32, as showinfo prints it), where the pass computed one.
    pub checksum: Option<u32>,
}

/// Runs a probe about `path` like [`run_probe`], returning its stderr as well.
fn run_probe_all(argv: &ffmpeg::argv::Argv, path: &Path) -> Result<(Vec<u8>, Vec<u8>), ProbeError> {
    if !path.exists() {
        return Err(ProbeError::Missing {
            path: path.to_path_buf(),
        });
    }
    ffmpeg::runner::run_capture_all(argv, path).map_err(|e| match e {
        FfmpegError::Failed {
            subject, stderr, ..
        } => ProbeError::NotMedia {
            path: subject,
            detail: stderr,
        },
        other => ProbeError::Tool(other),
    })
}

/// The keyframes of video stream `stream` (`None`: the first that is not an attached picture),
/// decoded alone (the cheap pass: see [`ffmpeg::query::list_decoded_keyframes`]), in the order
/// the decoder gave them, and every line the decoder complained with.
pub fn decoded_keyframes(
    path: &Path,
    stream: Option<usize>,
) -> Result<(Vec<DecodedFrame>, Vec<String>), ProbeError> {
    let argv = ffmpeg::query::list_decoded_keyframes(path, stream);
    let (stdout, stderr) = run_probe_all(&argv, path)?;
    let frames = String::from_utf8_lossy(&stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(',').map(str::trim);
            let key = fields.next()? == "1";
            let pts = fields.next()?.parse().ok()?;
            let width = fields.next()?.parse().ok()?;
            let height = fields.next()?.parse().ok()?;
            Some(DecodedFrame {
                pts,
                key,
                width,
                height,
                checksum: None,
            })
        })
        .collect();
    let complaints = String::from_utf8_lossy(&stderr)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(without_address)
        .collect();
    Ok((frames, complaints))
}

/// A log line without the address ffmpeg prints in its context (`[h264 @ 0x5635fbbcbe00] …`
/// reads `[h264] …`), which differs from run to run.
fn without_address(line: &str) -> String {
    match line.split_once(" @ 0x") {
        Some((context, rest)) => match rest.split_once(']') {
            Some((address, rest)) if address.bytes().all(|b| b.is_ascii_hexdigit()) => {
                format!("{context}]{rest}")
            }
            _ => line.to_string(),
        },
        None => line.to_string(),
    }
}

/// The frames of video stream `stream` as the decoder gives them (every frame, or with
/// `keyframes_only` the keyframes decoded alone), in output order, each with its pixels'
/// checksum (see [`ffmpeg::query::describe_decoded_frames`]). Frames without a timestamp are
/// left out.
pub fn decoded_frames(
    path: &Path,
    stream: usize,
    keyframes_only: bool,
) -> Result<Vec<DecodedFrame>, ProbeError> {
    let argv = ffmpeg::query::describe_decoded_frames(path, stream, keyframes_only);
    let (_, stderr) = run_probe_all(&argv, path)?;
    Ok(String::from_utf8_lossy(&stderr)
        .lines()
        .filter_map(showinfo_frame)
        .collect())
}

/// A frame of a `showinfo` line (`… n:   3 pts:  12800 pts_time:0.5 pos: 4321 fmt:yuv420p
/// sar:1/1 s:320x240 i:P iskey:1 type:I checksum:94B9705D …`); `None` for other lines.
fn showinfo_frame(line: &str) -> Option<DecodedFrame> {
    let (_, fields) = line.split_once("] n:")?;
    let mut tokens = fields.split_whitespace().skip(1);
    let mut value_of = std::collections::HashMap::new();
    while let Some(token) = tokens.next() {
        match token.split_once(':') {
            Some((key, "")) => {
                if let Some(value) = tokens.next() {
                    value_of.insert(key, value);
                }
            }
            Some((key, value)) => {
                value_of.insert(key, value);
            }
            None => {}
        }
    }
    let (width, height) = value_of.get("s")?.split_once('x')?;
    Some(DecodedFrame {
        pts: value_of.get("pts")?.parse().ok()?,
        key: *value_of.get("iskey")? == "1",
        width: width.parse().ok()?,
        height: height.parse().ok()?,
        checksum: value_of
            .get("checksum")
            .and_then(|c| u32::from_str_radix(c, 16).ok()),
    })
}

/// The pixel formats an encoder takes, in the order it lists them (`ffmpeg -h encoder=NAME`'s
/// `Supported pixel formats:`); empty where it lists none. `subject` names the input the plan
/// is for, in an error.
pub fn encoder_pix_fmts(encoder: &str, subject: &Path) -> Result<Vec<String>, ProbeError> {
    let stdout = ffmpeg::runner::run_capture(&ffmpeg::query::encoder_help(encoder), subject)?;
    Ok(String::from_utf8_lossy(&stdout)
        .lines()
        .find_map(|line| line.trim().strip_prefix("Supported pixel formats:"))
        .map(|list| list.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default())
}

/// The frame size the `showinfo` after `--size`'s scale filter logged (`… s:1280x720 …`).
fn logged_scaled_size(log: &[u8]) -> Option<Size> {
    let marker = format!("[showinfo@{} @", ffmpeg::video::SCALED_LOG);
    String::from_utf8_lossy(log).lines().find_map(|line| {
        let (_, rest) = line.split_once(&marker)?.1.split_once(" s:")?;
        let (width, height) = rest.split_whitespace().next()?.split_once('x')?;
        Some(Size {
            width: width.parse().ok()?,
            height: height.parse().ok()?,
        })
    })
}

/// The pixel format [`crate::ffmpeg::video::serial_picture`]'s `showinfo` logged for its frame.
fn logged_pix_fmt(log: &[u8]) -> Option<String> {
    let marker = format!("[showinfo@{} @", ffmpeg::video::PICTURE_LOG);
    String::from_utf8_lossy(log).lines().find_map(|line| {
        let (_, rest) = line.split_once(&marker)?.1.split_once(" fmt:")?;
        rest.split_whitespace().next().map(str::to_string)
    })
}

/// What [`crate::ffmpeg::video::serial_picture`] found: the pixel format its `showinfo` logged
/// in `log` (`[showinfo@vre_picture @ …] n: 0 … fmt:NAME …`), and the tags ffprobe reads from
/// the Matroska file `encoded` it wrote.
/// ffprobe's `unknown`/`unspecified` are no tag.
pub fn serial_picture(encoded: &Path, log: &[u8]) -> Result<SerialPicture, ProbeError> {
    let json: Value = run_json(&ffmpeg::query::probe_picture_tags(encoded), encoded)?;
    let stream = json
        .get("streams")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .cloned()
        .unwrap_or_default();
    let stated = |key: &str| {
        text(&stream, key).filter(|v| !["unknown", "unspecified", "reserved"].contains(&v.as_str()))
    };
    let logged = logged_pix_fmt(log);
    Ok(SerialPicture {
        pix_fmt: logged.or_else(|| stated("pix_fmt")).unwrap_or_default(),
        scaled: logged_scaled_size(log),
        tags: PictureTags {
            color_range: stated("color_range"),
            color_primaries: stated("color_primaries"),
            color_transfer: stated("color_transfer"),
            color_space: stated("color_space"),
            chroma_location: stated("chroma_location"),
            field_order: stated("field_order"),
        },
    })
}

/// The time of the first decoded frame of each audio stream of a file, seconds, by stream
/// index (absent for a stream whose first packets decode to nothing): decoding goes on past
/// packets that decode to nothing (the first packet of a cut MPEG-TS segment, a Vorbis stream's
/// first block).
pub fn first_audio_frame_times(path: &Path) -> Result<BTreeMap<u32, f64>, ProbeError> {
    let json: Value = run_json(&ffmpeg::query::probe_first_audio_frames(path), path)?;
    let mut first = BTreeMap::new();
    for frame in json
        .get("frames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(stream), Some(time)) = (
            number::<u32>(frame, "stream_index"),
            number::<f64>(frame, "best_effort_timestamp_time"),
        ) {
            first.entry(stream).or_insert(time);
        }
    }
    Ok(first)
}

/// The coded frames of a file's first video stream in decode order, as the VBV model counts
/// them: decode time and size in bits.
pub fn video_frame_sizes(path: &Path) -> Result<Vec<crate::vbv::Frame>, ProbeError> {
    let json: Value = run_json(&ffmpeg::query::probe_video_packet_sizes(path), path)?;
    let packets = json.get("packets").and_then(Value::as_array);
    let frames = packets.into_iter().flatten().filter_map(|packet| {
        Some(crate::vbv::Frame {
            dts: number::<f64>(packet, "dts_time")?,
            bits: number::<f64>(packet, "size")? * 8.0,
        })
    });
    Ok(frames.collect())
}

/// A rendered chunk's frame count and the stream parameters that must agree between chunks:
/// read from its mp4 index where [`ffmpeg::mp4`] can (no process started), otherwise from
/// ffprobe. `pix_fmt` is the pixel format the chunk was encoded to.
pub fn chunk_facts(path: &Path, pix_fmt: &str) -> Result<(u64, StreamFacts), ProbeError> {
    match ffmpeg::mp4::chunk_facts(path, pix_fmt) {
        Some(found) => Ok(found),
        None => chunk_facts_by_ffprobe(path),
    }
}

/// Counts a chunk's frames by demuxing it with ffprobe and reads the stream parameters that
/// must agree between chunks.
pub fn chunk_facts_by_ffprobe(path: &Path) -> Result<(u64, StreamFacts), ProbeError> {
    let json: Value = run_json(&ffmpeg::query::probe_chunk(path), path)?;
    let stream = json
        .get("streams")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .cloned()
        .ok_or_else(|| ProbeError::NoVideo {
            path: path.to_path_buf(),
            what: "no video stream".to_string(),
        })?;
    let frames = number(&stream, "nb_read_packets").unwrap_or(0);
    let facts = StreamFacts {
        codec: text(&stream, "codec_name").unwrap_or_default(),
        profile: text(&stream, "profile").unwrap_or_default(),
        pix_fmt: text(&stream, "pix_fmt").unwrap_or_default(),
        width: number(&stream, "width").unwrap_or(0),
        height: number(&stream, "height").unwrap_or(0),
        frame_rate: text(&stream, "r_frame_rate").unwrap_or_default(),
        time_base: text(&stream, "time_base").unwrap_or_default(),
    };
    Ok((frames, facts))
}

/// Scene cuts in video stream `stream`: the times (seconds from the input's start) where ffmpeg's
/// scdet filter scores a change of at least `threshold` percent, with their scores.
pub fn scene_cuts(
    path: &Path,
    stream: usize,
    threshold: f64,
) -> Result<Vec<(f64, f64)>, ProbeError> {
    let argv = ffmpeg::query::detect_scenes(path, stream, threshold);
    let stdout = ffmpeg::runner::run_capture(&argv, path)?;
    let text = String::from_utf8_lossy(&stdout);
    // scdet tags every frame with a score and cut frames also with a time; the metadata
    // filter prints one block per frame: `frame:N pts:P pts_time:T`, then `key=value` lines.
    let mut cuts = Vec::new();
    let mut score = 0.0;
    for line in text.lines() {
        if line.starts_with("frame:") {
            score = 0.0;
        } else if let Some(value) = line.strip_prefix("lavfi.scd.score=") {
            score = value.trim().parse().unwrap_or(0.0);
        } else if let Some(value) = line.strip_prefix("lavfi.scd.time=") {
            if let Ok(time) = value.trim().parse::<f64>() {
                cuts.push((time, score));
            }
        }
    }
    Ok(cuts)
}

/// Counts the samples a player gets from a file's first audio stream, by decoding it.
pub fn decoded_audio_samples(path: &Path) -> Result<u64, ProbeError> {
    let bytes = runner::count_stdout_bytes(&ffmpeg::query::decode_audio(path))?;
    let bytes = bytes.ok_or_else(|| ProbeError::NotMedia {
        path: path.to_path_buf(),
        detail: "its audio does not decode".to_string(),
    })?;
    // Mono 32-bit float: four bytes a sample.
    Ok(bytes / 4)
}

/// Reads the timing of every stream of a finished file.
/// With `count_packets`, frames are counted by demuxing the whole file; otherwise they are read
/// from the container's index where it has one: by [`ffmpeg::mp4`] where it can (no process
/// started), otherwise by ffprobe.
pub fn stream_timings(path: &Path, count_packets: bool) -> Result<Vec<StreamTiming>, ProbeError> {
    match (!count_packets)
        .then(|| ffmpeg::mp4::stream_timings(path))
        .flatten()
    {
        Some(timings) => Ok(timings),
        None => stream_timings_by_ffprobe(path, count_packets),
    }
}

/// Reads the timing of every stream of a finished file with ffprobe (see [`stream_timings`]).
pub fn stream_timings_by_ffprobe(
    path: &Path,
    count_packets: bool,
) -> Result<Vec<StreamTiming>, ProbeError> {
    let json: Value = run_json(&ffmpeg::query::probe_timing(path, count_packets), path)?;
    let streams = json
        .get("streams")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(streams
        .iter()
        .map(|s| StreamTiming {
            codec_type: text(s, "codec_type").unwrap_or_default(),
            start_time: number(s, "start_time").unwrap_or(0.0),
            duration: number(s, "duration").unwrap_or(0.0),
            sample_rate: number(s, "sample_rate"),
            frames: number(s, "nb_read_packets")
                .or_else(|| number(s, "nb_frames"))
                .unwrap_or(0),
            r_frame_rate: rational(s, "r_frame_rate"),
            avg_frame_rate: rational(s, "avg_frame_rate"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_handed_to_the_encoder_is_read_from_its_own_showinfo_only() {
        let log = b"[Parsed_showinfo_0 @ 0x1] n:   0 pts:      0 fmt:gray sar:1/1\n\
[showinfo@vre_picture @ 0x2] config in time_base: 1/25\n\
[showinfo@vre_picture @ 0x2] n:   0 pts:      0 pts_time:0 pos: 48 fmt:yuv444p sar:16/15 s:320x240 i:T\n";
        assert_eq!(logged_pix_fmt(log).as_deref(), Some("yuv444p"));
        assert_eq!(
            logged_pix_fmt(b"[Parsed_showinfo_0 @ 0x1] n: 0 fmt:gray\n"),
            None
        );
    }

    fn stream(channels: u32, packets: u64, default: bool) -> AudioInfo {
        AudioInfo {
            index: 0,
            codec: "aac".to_string(),
            sample_rate: 48000,
            channels,
            channel_layout: None,
            default,
            tags: BTreeMap::new(),
            packets: Some(packets),
            end: None,
            first_frame_time: None,
        }
    }

    fn video_stream(index: usize, (width, height): (u32, u32), packets: u64) -> VideoStream {
        VideoStream {
            index,
            width,
            height,
            default: false,
            attached_pic: false,
            packets: Some(packets),
            info: None,
        }
    }

    #[test]
    fn the_default_audio_stream_is_ffmpegs_pick() {
        let pick = |streams: &[AudioInfo]| default_audio_stream(streams);
        // A default 5.1 beats a first stereo; without flags, most channels; first on a tie.
        assert_eq!(pick(&[stream(2, 9, false), stream(6, 9, true)]), Some(1));
        assert_eq!(pick(&[stream(6, 9, false), stream(2, 9, true)]), Some(1));
        assert_eq!(pick(&[stream(2, 9, false), stream(6, 9, false)]), Some(1));
        assert_eq!(pick(&[stream(2, 9, false), stream(2, 9, false)]), Some(0));
        // Packets first: a stream that has them beats a default one that has none.
        assert_eq!(pick(&[stream(8, 0, true), stream(1, 9, false)]), Some(1));
        // A declared stream that never had a packet nor known channels is not mapped.
        assert_eq!(pick(&[stream(0, 0, true)]), None);
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn showinfo_lines_give_each_frame_and_nothing_else() {
        let line = "[Parsed_showinfo_0 @ 0x55d7af12e800] n:   0 pts: 493200 pts_time:5.48    pos:    89112 fmt:yuv420p sar:1/1 s:320x240 i:P iskey:1 type:I checksum:94B9705D plane_checksum:[7A5355E4 3264725F 912DA80B] mean:[122 128 129]";
        assert_eq!(
            showinfo_frame(line),
            Some(DecodedFrame {
                pts: 493200,
                key: true,
                width: 320,
                height: 240,
                checksum: Some(0x94B9_705D),
            })
        );
        let negative = "[Parsed_showinfo_0 @ 0x1] n:  12 pts:  -1024 pts_time:-0.08 pos: 48 fmt:yuv420p sar:0/1 s:64x48 i:P iskey:0 type:B checksum:0000ABCD";
        assert_eq!(
            showinfo_frame(negative).map(|f| (f.pts, f.key)),
            Some((-1024, false))
        );
        let config = "[Parsed_showinfo_0 @ 0x1] config in time_base: 1/90000, frame_rate: 25/1";
        assert_eq!(showinfo_frame(config), None);
        let no_pts =
            "[Parsed_showinfo_0 @ 0x1] n:   1 pts:NOPTS pts_time:NOPTS pos: 1 s:64x48 iskey:0";
        assert_eq!(showinfo_frame(no_pts), None);
    }

    #[test]
    fn log_lines_lose_their_addresses() {
        assert_eq!(
            without_address("[h264 @ 0x5635fbbcbe00] error while decoding MB 0 3"),
            "[h264] error while decoding MB 0 3"
        );
        assert_eq!(
            without_address("Last message repeated 1 times"),
            "Last message repeated 1 times"
        );
    }

    fn chosen(streams: &[VideoStream]) -> Option<usize> {
        default_video_stream(streams).map(|s| s.index)
    }

    #[test]
    fn the_default_choice_weighs_packets_then_disposition_then_size() {
        let empty_big = video_stream(0, (1920, 1080), 0);
        let small = video_stream(1, (320, 240), 50);
        assert_eq!(chosen(&[empty_big.clone(), small.clone()]), Some(1));
        // Equal scores: the first wins.
        assert_eq!(
            chosen(&[small.clone(), video_stream(2, (320, 240), 9)]),
            Some(1)
        );
        // The default disposition outweighs any size up to 5,000,000 pixels.
        let tiny_default = VideoStream {
            default: true,
            ..video_stream(3, (64, 64), 1)
        };
        assert_eq!(chosen(&[small.clone(), tiny_default.clone()]), Some(3));
        let huge = video_stream(4, (3840, 2160), 10);
        assert_eq!(chosen(&[tiny_default, huge]), Some(4));
        // Cover art scores 1: any other stream with packets or a size wins, none is left alone.
        let cover = VideoStream {
            attached_pic: true,
            ..video_stream(5, (3000, 3000), 1)
        };
        assert_eq!(chosen(&[cover.clone(), small]), Some(1));
        assert_eq!(chosen(std::slice::from_ref(&cover)), Some(5));
        assert_eq!(chosen(&[empty_big, cover]), Some(0));
        // Nothing that scores: no video.
        assert_eq!(chosen(&[video_stream(6, (0, 0), 0)]), None);
        let default_only = VideoStream {
            default: true,
            ..video_stream(7, (0, 0), 0)
        };
        assert_eq!(
            chosen(&[default_only]),
            None,
            "its default bonus is taken off again"
        );
        assert_eq!(chosen(&[]), None);
    }
}
