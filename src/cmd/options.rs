//! The options that define a plan, shared by `vre plan`, `vre run` and `vre bench`, and the
//! parsers of their values.

use crate::codecs::{self, AudioCodec, Container, VideoCodec};
use crate::plan::audio::{self, AudioEncoding, AudioStreams, TrackSpec};
use crate::plan::container::SubtitleChoice;
use crate::plan::delivery;
use crate::plan::{PlanRequest, RangeBound, RangeSpec, SizeRequest};
use crate::plandir::schema::{Delivery, MetadataMode, Rational, SplitStrategy};
use clap::Args;
use std::path::PathBuf;

/// Options that define a plan (shared by `plan`, `run` and `bench`).
#[derive(Debug, Clone, Args)]
pub struct PlanOptions {
    /// Output format: mp4, mov, mkv, webm, or png (a directory of frames) [default: from
    /// --codec, or for `run` from OUT's extension; else mp4].
    #[arg(long, value_name = "FORMAT", value_parser = parse_container)]
    pub format: Option<Container>,
    /// Video filter chain applied to every frame (ffmpeg -vf syntax); relative paths of the
    /// files its filters read are taken from the current directory and recorded in the plan.
    #[arg(long = "vf", value_name = "FILTERGRAPH")]
    pub vf: Option<String>,
    /// Video encoder: libx264, libx265, libsvtav1, libvpx-vp9, prores_ks, ffv1, png
    /// [default: the format's first].
    #[arg(long, value_name = "NAME", value_parser = parse_codec)]
    pub codec: Option<VideoCodec>,
    /// Constant rate factor; 0 is lossless with libx264, libx265 and libvpx-vp9 [default: 20 for
    /// libx264, 24 libx265, 35 libsvtav1, 33 libvpx-vp9].
    #[arg(long, value_name = "N")]
    pub crf: Option<u32>,
    /// Encoder preset: x264/x265 name, SVT-AV1 speed 0-13, VP9 speed 0-8, ProRes profile
    /// [default: veryfast, 10, 5, hq (4444 for 4:4:4 video)].
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Pixel format of the output video, one the encoder takes [default: the one the serial
    /// ffmpeg command's encoder picks: its closest supported format to the source's].
    #[arg(long = "pix-fmt", value_name = "FMT")]
    pub pix_fmt: Option<String>,
    /// Target average video bit rate (ffmpeg's -b:v), e.g. 5M or 800k; replaces the default CRF.
    #[arg(long, value_name = "RATE", value_parser = delivery::parse_bits)]
    pub bitrate: Option<u64>,
    /// Peak rate of the VBV buffer model (ffmpeg's -maxrate), with --bufsize; holds across seams
    /// in the assembled file with libx264 and libx265.
    #[arg(long, value_name = "RATE", value_parser = delivery::parse_bits)]
    pub maxrate: Option<u64>,
    /// VBV buffer size in bits (ffmpeg's -bufsize), e.g. 2M.
    #[arg(long, value_name = "BITS", value_parser = delivery::parse_bits)]
    pub bufsize: Option<u64>,
    /// Encoder passes: 2 runs each chunk's first pass (statistics kept in the planDir), then its
    /// second, for --bitrate with libx264, libx265, libvpx-vp9.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub passes: u32,
    /// Encoder profile (ffmpeg's -profile:v), e.g. high, main10.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Encoder level, e.g. 4.1 (libx264, libx265).
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,
    /// Encoder tune (ffmpeg's -tune), e.g. film, animation, grain.
    #[arg(long, value_name = "NAME")]
    pub tune: Option<String>,
    /// Longest distance between keyframes: frames (48) or seconds (2s); every chunk still starts
    /// on an IDR frame [default: the longest chunk, at most 10 s].
    #[arg(long, value_name = "N|Ns", value_parser = delivery::KeyInterval::parse)]
    pub keyint: Option<delivery::KeyInterval>,
    /// Keyframes only at chunk starts and every --keyint frames, none at scene cuts (for
    /// segmenters that cut at fixed intervals). Without it libx264 and libx265 add keyframes
    /// at scene cuts as the serial command does.
    #[arg(long = "fixed-gop")]
    pub fixed_gop: bool,
    /// The codec's own parameters, key=value joined by ':' (passed as -x264-params,
    /// -x265-params or -svtav1-params after vre's own); keys that would break chunks or retries
    /// are refused with the flag to use.
    #[arg(long = "encoder-params", value_name = "K=V:K=V", value_parser = delivery::parse_encoder_params)]
    pub encoder_params: Option<delivery::EncoderParams>,
    /// One of the encoder's own options (an AVOption of `ffmpeg -h encoder=NAME`), passed as
    /// -KEY VALUE; repeat for more.
    #[arg(long = "encoder-opt", value_name = "KEY=VALUE", value_parser = delivery::parse_encoder_option)]
    pub encoder_opt: Vec<(String, String)>,
    /// Encoder threads per chunk (recorded in the plan so retries are byte-identical)
    /// [default: half the cores; for `run`, cores / -j, twice the cores at -j 1].
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// How to place chunk boundaries: frames (even sizes), keyframes (at the source's
    /// keyframes, cheap seeks), scenes (at detected scene cuts).
    #[arg(long, value_enum, default_value_t = Split::Frames)]
    pub split: Split,
    /// Frames per chunk (the target for every split) [default: about 10 seconds, and at least 10
    /// prerolls; 50 with `vre run`].
    #[arg(long = "chunk-frames", value_name = "N", conflicts_with = "chunks")]
    pub chunk_frames: Option<u64>,
    /// Number of chunks (instead of --chunk-frames; even split).
    #[arg(long, value_name = "N", conflicts_with = "split")]
    pub chunks: Option<u64>,
    /// With --split scenes: cuts closer than this to the previous chunk start are ignored
    /// [default: 1 second of frames].
    #[arg(long = "min-chunk-frames", value_name = "N")]
    pub min_chunk_frames: Option<u64>,
    /// With --split scenes: longer spans between cuts are split evenly [default: twice
    /// --chunk-frames].
    #[arg(long = "max-chunk-frames", value_name = "N")]
    pub max_chunk_frames: Option<u64>,
    /// Frames each chunk decodes and filters before its start, then drops, so temporal filters
    /// see the same history as in a serial run [default: derived from the filter chain].
    #[arg(long, value_name = "N")]
    pub preroll: Option<u64>,
    /// Output frame rate, N or N/D: the output grid is what `-vf fps=N` makes of the input
    /// (needed for variable-frame-rate input).
    #[arg(long, value_name = "RATE", value_parser = parse_fps)]
    pub fps: Option<Rational>,
    /// Output size WxH (scaled before the filter chain); a side of -N keeps the aspect ratio,
    /// rounded to a multiple of N, as ffmpeg's scale does (-2x720, 1280x-2).
    #[arg(long, value_name = "WxH", value_parser = parse_size, allow_hyphen_values = true)]
    pub size: Option<SizeRequest>,
    /// Render only part of the timeline: frames START:END (END exclusive), seconds 5s:12.5s,
    /// or times START..END as [HH:]MM:SS[.mmm] (00:01:30..00:02:00.5); either side may be empty.
    #[arg(long, value_name = "START:END", value_parser = parse_range)]
    pub range: Option<RangeSpec>,
    /// Add an audio track: file=PATH[,offset=S][,seek=S][,rate=R][,volume=V][,fade-in=S][,fade-out=S][,loop].
    #[arg(long = "audio", value_name = "SPEC", value_parser = audio::parse_spec)]
    pub audio: Vec<TrackSpec>,
    /// Audio codec: aac, libopus, libvorbis, flac, ac3, pcm_s16le, pcm_s24le, pcm_s32le,
    /// pcm_f32le, one the format takes [default: aac for mp4/mov, libopus for webm, flac for mkv].
    #[arg(long = "audio-codec", value_name = "NAME", value_parser = parse_audio_codec)]
    pub audio_codec: Option<AudioCodec>,
    /// Audio bit rate of each audio stream, e.g. 128k [default: 96k a channel for AAC and AC-3
    /// (at most 640k), 80k a channel for Opus and Vorbis].
    #[arg(long = "audio-bitrate", value_name = "RATE", value_parser = parse_audio_bitrate)]
    pub audio_bitrate: Option<u32>,
    /// Audio channels (as ffmpeg's -ac: the default layout for that many) [default: the
    /// source's].
    #[arg(long = "audio-channels", value_name = "N")]
    pub audio_channels: Option<u32>,
    /// Audio sample rate in Hz, one the codec takes [default: the source's, or the codec's
    /// nearest].
    #[arg(long = "audio-rate", value_name = "HZ")]
    pub audio_rate: Option<u32>,
    /// Audio filters for the input's own audio track; filters that change its timing (atempo,
    /// atrim, …) are refused (for a speed change: --no-source-audio --audio file=INPUT,rate=R).
    #[arg(long = "af", value_name = "FILTERS")]
    pub af: Option<String>,
    /// Leave the input's own audio out.
    #[arg(long = "no-source-audio")]
    pub no_source_audio: bool,
    /// The input's global tags, stream tags and chapters in the output.
    #[arg(long, value_enum, default_value_t = Metadata::Keep)]
    pub metadata: Metadata,
    /// The input's subtitle streams the output gets: N (its subtitle stream N, from 0), all, or
    /// none [default: ffmpeg's: the first text subtitle stream, as ASS in mkv and WebVTT in
    /// webm; none in mp4 and mov].
    #[arg(long = "subtitle-stream", value_name = "N|all|none", value_parser = parse_subtitle_choice)]
    pub subtitle_stream: Option<SubtitleChoice>,
    /// Which of the input's audio streams to keep: N (as ffmpeg's 0:a:N), or `all` (every
    /// stream, each rendered once as a track of its own; --audio and --af apply to the first)
    /// [default: the one ffmpeg picks: packets, then the default flag, then most channels].
    #[arg(long = "audio-stream", value_name = "N|all", value_parser = audio::parse_audio_streams)]
    pub audio_stream: Option<AudioStreams>,
    /// The input's video stream to render, by its index in the file as ffprobe lists it
    /// [default: the one `ffmpeg -i INPUT OUT` renders, by packets, default disposition and size;
    /// cover art last].
    #[arg(long = "video-stream", value_name = "N")]
    pub video_stream: Option<usize>,
    /// Decode the whole video at plan time to learn which frames decode and where decoding can
    /// start (vre does on its own when decoding the keyframes shows damage; needed for
    /// intra-only inputs such as ProRes or MJPEG, whose keyframes are every frame).
    #[arg(long = "check-decoding")]
    pub check_decoding: bool,
    /// Replace a different plan in the planDir (outputs the new plan can use are kept).
    #[arg(long)]
    pub force: bool,
}

/// `--split`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// Even sizes.
    Frames,
    /// At the source's keyframes, within half a chunk of the even boundary.
    Keyframes,
    /// At detected scene cuts.
    Scenes,
}

/// `--metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Metadata {
    /// Copied from the input, as ffmpeg's default command copies them.
    Keep,
    /// Left out, as -map_metadata -1 -map_chapters -1 leaves them out.
    Strip,
}

/// Parses `--subtitle-stream N|all|none`.
pub fn parse_subtitle_choice(text: &str) -> Result<SubtitleChoice, String> {
    match text {
        "all" => Ok(SubtitleChoice::All),
        "none" => Ok(SubtitleChoice::None),
        n => n
            .parse()
            .map(SubtitleChoice::Stream)
            .map_err(|_| format!("'{text}' is not a subtitle stream number (from 0), all or none")),
    }
}

/// Parses `--format`.
pub fn parse_container(text: &str) -> Result<Container, String> {
    Container::parse(text).ok_or_else(|| {
        format!(
            "'{text}' is not a format; valid: {}",
            codecs::list(Container::ALL)
        )
    })
}

/// Parses `--audio-codec`.
pub fn parse_audio_codec(text: &str) -> Result<AudioCodec, String> {
    AudioCodec::parse(text).ok_or_else(|| {
        format!(
            "'{text}' is not an audio codec vre encodes; valid: {}",
            codecs::list(AudioCodec::ALL)
        )
    })
}

/// Parses `--audio-bitrate` (`128k`, `1.5M`, `192000`).
pub fn parse_audio_bitrate(text: &str) -> Result<u32, String> {
    delivery::parse_bits(text)
        .and_then(|bits| u32::try_from(bits).map_err(|_| format!("'{text}' is too high")))
}

/// Parses `--codec`.
pub fn parse_codec(text: &str) -> Result<VideoCodec, String> {
    VideoCodec::parse(text).ok_or_else(|| {
        format!(
            "'{text}' is not supported; valid: {}",
            codecs::list(VideoCodec::ALL)
        )
    })
}

impl PlanOptions {
    /// The plan request for INPUT rendered here by `workers` local workers (`vre run -j`): they
    /// share the cores (threads per chunk, unless --threads: [`crate::sys::host::threads_per_local_chunk`]),
    /// and the default chunk count is a multiple of them.
    pub fn request_for_workers(
        &self,
        input: PathBuf,
        workers: usize,
        format: Option<Container>,
    ) -> PlanRequest {
        let threads_per_chunk = crate::sys::host::threads_per_local_chunk(workers);
        PlanRequest {
            workers: Some(workers.max(1) as u64),
            ..self.request(input, threads_per_chunk, format)
        }
    }

    /// The plan request for INPUT, with `default_threads` when --threads is not given and
    /// `format` when --format is not given.
    pub fn request(
        &self,
        input: PathBuf,
        default_threads: u32,
        format: Option<Container>,
    ) -> PlanRequest {
        PlanRequest {
            input,
            format: self.format.or(format),
            video_filter: self.vf.clone(),
            codec: self.codec,
            crf: self.crf,
            preset: self.preset.clone(),
            pix_fmt: self.pix_fmt.clone(),
            threads: self.threads.unwrap_or(default_threads),
            split: match (self.split, self.chunks) {
                (_, Some(_)) => SplitStrategy::Count,
                (Split::Frames, None) => SplitStrategy::Frames,
                (Split::Keyframes, None) => SplitStrategy::Keyframes,
                (Split::Scenes, None) => SplitStrategy::Scenes,
            },
            chunk_frames: self.chunk_frames,
            chunks: self.chunks,
            workers: None,
            min_chunk_frames: self.min_chunk_frames,
            max_chunk_frames: self.max_chunk_frames,
            preroll: self.preroll,
            fps: self.fps,
            size: self.size,
            keyint: self.keyint,
            fixed_gop: self.fixed_gop,
            delivery: Delivery {
                bitrate: self.bitrate,
                maxrate: self.maxrate,
                bufsize: self.bufsize,
                two_pass: self.passes == 2,
                seams: None,
                profile: self.profile.clone(),
                level: self.level.clone(),
                tune: self.tune.clone(),
                encoder_params: self
                    .encoder_params
                    .clone()
                    .map(|params| params.0)
                    .unwrap_or_default(),
                encoder_options: self.encoder_opt.clone(),
            },
            range: self.range.unwrap_or_default(),
            audio_tracks: self.audio.clone(),
            audio_encoding: AudioEncoding {
                codec: self.audio_codec,
                bitrate: self.audio_bitrate,
                channels: self.audio_channels,
                rate: self.audio_rate,
            },
            audio_filter: self.af.clone(),
            no_source_audio: self.no_source_audio,
            metadata: match self.metadata {
                Metadata::Keep => MetadataMode::Keep,
                Metadata::Strip => MetadataMode::Strip,
            },
            subtitles: self.subtitle_stream.unwrap_or_default(),
            audio_streams: self.audio_stream.unwrap_or_default(),
            video_stream: self.video_stream,
            check_decoding: self.check_decoding,
        }
    }
}

/// Parses `START:END` where each side is a frame number, seconds with an `s` suffix, or empty;
/// or `START..END`, where a side may also be a time `[HH:]MM:SS[.mmm]`.
pub fn parse_range(text: &str) -> Result<RangeSpec, String> {
    let (start, end) = text
        .split_once("..")
        .or_else(|| text.split_once(':'))
        .ok_or_else(|| {
            format!("'{text}' is not START:END or START..END (e.g. 0:300, 5s:12.5s, 00:01:30..00:02:00.5)")
        })?;
    let bound = |side: &str| -> Result<Option<RangeBound>, String> {
        let side = side.trim();
        if side.is_empty() {
            return Ok(None);
        }
        if side.contains(':') {
            return parse_clock(side).map(|v| Some(RangeBound::Seconds(v)));
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

/// Parses a time `[HH:]MM:SS[.mmm]` into seconds.
fn parse_clock(text: &str) -> Result<f64, String> {
    let wrong = || format!("'{text}' is not a time [HH:]MM:SS[.mmm] (e.g. 01:30 or 00:01:30.5)");
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(wrong());
    }
    let (whole, seconds) = parts.split_at(parts.len() - 1);
    let seconds: f64 = seconds[0].parse().map_err(|_| wrong())?;
    if !(0.0..60.0).contains(&seconds) {
        return Err(wrong());
    }
    let mut total = 0.0;
    for (i, part) in whole.iter().enumerate() {
        let value: u64 = part.parse().map_err(|_| wrong())?;
        if i > 0 && value >= 60 {
            return Err(wrong());
        }
        total = total * 60.0 + value as f64;
    }
    Ok(total * 60.0 + seconds)
}

/// Parses `--size WxH`: positive even sides, or `-N` for a side that keeps the aspect ratio.
pub fn parse_size(text: &str) -> Result<SizeRequest, String> {
    let wrong = || {
        format!("'{text}': width and height must be positive even numbers, or one of them -N to keep the aspect ratio (e.g. 1280x720, -2x720)")
    };
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(wrong)?;
    let parse = |v: &str| {
        v.trim()
            .parse::<i32>()
            .ok()
            .filter(|&n| (n > 0 && n % 2 == 0) || n < 0)
    };
    match (parse(w), parse(h)) {
        (Some(width), Some(height)) if width > 0 || height > 0 => Ok(SizeRequest { width, height }),
        _ => Err(wrong()),
    }
}

/// Parses `--fps N` or `--fps N/D`.
pub fn parse_fps(text: &str) -> Result<Rational, String> {
    Rational::parse(text)
        .ok_or_else(|| format!("'{text}' is not a frame rate (e.g. 25 or 30000/1001)"))
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
        assert_eq!(
            parse_range("00:01:30..2:00.5").unwrap(),
            RangeSpec {
                start: Some(RangeBound::Seconds(90.0)),
                end: Some(RangeBound::Seconds(120.5))
            }
        );
        assert_eq!(
            parse_range("5.5s..600").unwrap(),
            RangeSpec {
                start: Some(RangeBound::Seconds(5.5)),
                end: Some(RangeBound::Frame(600))
            }
        );
        assert_eq!(
            parse_range("..1:00:00").unwrap().end,
            Some(RangeBound::Seconds(3600.0))
        );
        for bad in ["1:60..", "1:2:3:4..", "x:10..", "01:30.5.5.."] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        assert!(parse_range("10").is_err());
        assert!(parse_range("a:b").is_err());
        assert!(parse_range("-1s:").is_err());
    }
}
