//! What vre knows about output containers, video codecs and audio codecs: which combinations
//! work, their defaults and valid settings, and which container each codec's chunks travel in.
//! (The ffmpeg arguments themselves are built in `ffmpeg`.)

use serde::{Deserialize, Serialize};
use std::fmt;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// ISO MP4 (web delivery).
    Mp4,
    /// QuickTime (editors).
    Mov,
    /// Matroska (archives).
    Mkv,
    /// WebM.
    Webm,
    /// A directory of PNG files, `frame_000001.png …`, with the audio beside them.
    Png,
}

impl Container {
    /// Every container, in the order they are listed to users.
    pub const ALL: [Container; 5] = [
        Container::Mp4,
        Container::Mov,
        Container::Mkv,
        Container::Webm,
        Container::Png,
    ];

    /// The name users type (`--format`) and the output's file extension.
    pub fn name(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Mkv => "mkv",
            Container::Webm => "webm",
            Container::Png => "png",
        }
    }

    /// Parses a `--format` value or a file extension (case-insensitive).
    pub fn parse(text: &str) -> Option<Container> {
        let text = text.to_ascii_lowercase();
        Container::ALL.into_iter().find(|c| c.name() == text)
    }

    /// The ffmpeg muxer of the assembled output (PNG sequences are written frame by frame).
    pub fn muxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Mkv => "matroska",
            Container::Webm => "webm",
            Container::Png => "image2",
        }
    }

    /// The highest frame rate whose frames all get distinct timestamps in this container:
    /// Matroska and WebM store milliseconds (`None`: no limit a frame rate reaches).
    pub fn max_frame_rate(self) -> Option<u32> {
        match self {
            Container::Mkv | Container::Webm => Some(1000),
            Container::Mp4 | Container::Mov | Container::Png => None,
        }
    }

    /// Whether the container has a movie header that `+faststart` moves to the front.
    pub fn is_quicktime(self) -> bool {
        matches!(self, Container::Mp4 | Container::Mov)
    }

    /// The video codecs this container can carry, first the default.
    pub fn codecs(self) -> &'static [VideoCodec] {
        use VideoCodec::*;
        match self {
            Container::Mp4 => &[
                Libx264, Libx265, Libsvtav1, LibvpxVp9, LibaomAv1, Mpeg2video, H264Nvenc, HevcNvenc,
            ],
            Container::Mov => &[
                ProresKs, Libx264, Libx265, Dnxhd, Mpeg2video, Mjpeg, H264Nvenc, HevcNvenc,
            ],
            Container::Mkv => &[
                Ffv1, Libx264, Libx265, Libsvtav1, LibvpxVp9, ProresKs, LibaomAv1, Mpeg2video,
                Mjpeg, Dnxhd, H264Nvenc, HevcNvenc,
            ],
            Container::Webm => &[LibvpxVp9, Libsvtav1, LibaomAv1],
            Container::Png => &[Png],
        }
    }

    /// The audio codecs this container can carry (`--audio-codec`), first the default.
    pub fn audio_codecs(self) -> &'static [AudioCodec] {
        use AudioCodec::*;
        match self {
            Container::Mp4 => &[Aac, Ac3, Opus, Copy],
            Container::Mov => &[Aac, Ac3, PcmS16le, PcmS24le, PcmS32le, PcmF32le, Copy],
            Container::Mkv => &[
                Flac, Aac, Opus, Vorbis, Ac3, PcmS16le, PcmS24le, PcmS32le, PcmF32le, Copy,
            ],
            Container::Webm => &[Opus, Vorbis, Copy],
            Container::Png => &[Flac],
        }
    }

    /// The audio codec of the mix: AAC for mp4/mov, Opus for webm, FLAC for mkv and beside PNGs
    /// (the first of [`Container::audio_codecs`]).
    pub fn audio_codec(self) -> AudioCodec {
        self.audio_codecs()[0]
    }

    /// The container a codec's natural home is, for `--codec` without `--format`.
    pub fn for_codec(codec: VideoCodec) -> Container {
        match codec {
            VideoCodec::Libx264
            | VideoCodec::Libx265
            | VideoCodec::H264Nvenc
            | VideoCodec::HevcNvenc => Container::Mp4,
            VideoCodec::Libsvtav1 | VideoCodec::LibvpxVp9 | VideoCodec::LibaomAv1 => {
                Container::Webm
            }
            VideoCodec::ProresKs
            | VideoCodec::Dnxhd
            | VideoCodec::Mpeg2video
            | VideoCodec::Mjpeg => Container::Mov,
            VideoCodec::Ffv1 => Container::Mkv,
            VideoCodec::Png => Container::Png,
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Video encoders whose chunks vre can concatenate without re-encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VideoCodec {
    /// H.264.
    #[serde(rename = "libx264")]
    Libx264,
    /// H.265.
    #[serde(rename = "libx265")]
    Libx265,
    /// AV1 (SVT-AV1).
    #[serde(rename = "libsvtav1")]
    Libsvtav1,
    /// VP9.
    #[serde(rename = "libvpx-vp9")]
    LibvpxVp9,
    /// ProRes (intra-only).
    #[serde(rename = "prores_ks")]
    ProresKs,
    /// FFV1 (lossless, intra-only).
    #[serde(rename = "ffv1")]
    Ffv1,
    /// PNG (lossless, intra-only).
    #[serde(rename = "png")]
    Png,
    /// AV1 (libaom).
    #[serde(rename = "libaom-av1")]
    LibaomAv1,
    /// MPEG-2 (broadcast and DVD intermediates).
    #[serde(rename = "mpeg2video")]
    Mpeg2video,
    /// Motion JPEG (intra-only).
    #[serde(rename = "mjpeg")]
    Mjpeg,
    /// DNxHD/DNxHR (intra-only intermediate; the DNxHR profile is the preset).
    #[serde(rename = "dnxhd")]
    Dnxhd,
    /// H.264 on an NVIDIA GPU (NVENC).
    #[serde(rename = "h264_nvenc")]
    H264Nvenc,
    /// H.265 on an NVIDIA GPU (NVENC).
    #[serde(rename = "hevc_nvenc")]
    HevcNvenc,
}

/// How a codec's quality/speed knobs look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knobs {
    /// A constant-quality scale in 0..=max (`-crf`; `-q:v` for MPEG-2 and MJPEG, `-cq` for
    /// NVENC) and named presets.
    Crf {
        /// Highest CRF.
        max: u32,
        /// Default CRF.
        default: u32,
    },
    /// No rate control: lossless or profile-driven.
    None,
}

impl VideoCodec {
    /// Every codec, in the order listed to users.
    pub const ALL: [VideoCodec; 13] = [
        VideoCodec::Libx264,
        VideoCodec::Libx265,
        VideoCodec::Libsvtav1,
        VideoCodec::LibvpxVp9,
        VideoCodec::ProresKs,
        VideoCodec::Ffv1,
        VideoCodec::Png,
        VideoCodec::LibaomAv1,
        VideoCodec::Mpeg2video,
        VideoCodec::Mjpeg,
        VideoCodec::Dnxhd,
        VideoCodec::H264Nvenc,
        VideoCodec::HevcNvenc,
    ];

    /// The ffmpeg encoder name.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Libx264 => "libx264",
            VideoCodec::Libx265 => "libx265",
            VideoCodec::Libsvtav1 => "libsvtav1",
            VideoCodec::LibvpxVp9 => "libvpx-vp9",
            VideoCodec::ProresKs => "prores_ks",
            VideoCodec::Ffv1 => "ffv1",
            VideoCodec::Png => "png",
            VideoCodec::LibaomAv1 => "libaom-av1",
            VideoCodec::Mpeg2video => "mpeg2video",
            VideoCodec::Mjpeg => "mjpeg",
            VideoCodec::Dnxhd => "dnxhd",
            VideoCodec::H264Nvenc => "h264_nvenc",
            VideoCodec::HevcNvenc => "hevc_nvenc",
        }
    }

    /// The codec's own parameter option (`-x264-params` …), if it has one vre passes on.
    pub fn params_option(self) -> Option<&'static str> {
        match self {
            VideoCodec::Libx264 => Some("-x264-params"),
            VideoCodec::Libx265 => Some("-x265-params"),
            VideoCodec::Libsvtav1 => Some("-svtav1-params"),
            _ => None,
        }
    }

    /// Whether the encoder runs on a device (a GPU) that the machine may not have: the plan-time
    /// trial says so where it is missing.
    pub fn needs_device(self) -> bool {
        matches!(self, VideoCodec::H264Nvenc | VideoCodec::HevcNvenc)
    }

    /// Parses an encoder name.
    pub fn parse(text: &str) -> Option<VideoCodec> {
        VideoCodec::ALL.into_iter().find(|c| c.name() == text)
    }

    /// The codec's CRF range and default.
    pub fn knobs(self) -> Knobs {
        match self {
            VideoCodec::Libx264 => Knobs::Crf {
                max: 51,
                default: 20,
            },
            VideoCodec::Libx265 => Knobs::Crf {
                max: 51,
                default: 24,
            },
            VideoCodec::Libsvtav1 => Knobs::Crf {
                max: 63,
                default: 35,
            },
            VideoCodec::LibvpxVp9 => Knobs::Crf {
                max: 63,
                default: 33,
            },
            VideoCodec::LibaomAv1 => Knobs::Crf {
                max: 63,
                default: 32,
            },
            VideoCodec::Mpeg2video | VideoCodec::Mjpeg => Knobs::Crf {
                max: 31,
                default: 3,
            },
            VideoCodec::H264Nvenc | VideoCodec::HevcNvenc => Knobs::Crf {
                max: 51,
                default: 23,
            },
            VideoCodec::ProresKs | VideoCodec::Ffv1 | VideoCodec::Png | VideoCodec::Dnxhd => {
                Knobs::None
            }
        }
    }

    /// Valid `--preset` values, first the default. For SVT-AV1 a speed 0–13, for VP9 and libaom
    /// a `-cpu-used` speed 0–8, for ProRes and DNxHR a profile, for NVENC p1–p7; FFV1, PNG,
    /// MPEG-2 and MJPEG have none.
    pub fn presets(self) -> &'static [&'static str] {
        match self {
            VideoCodec::Libx264 | VideoCodec::Libx265 => &[
                "veryfast",
                "ultrafast",
                "superfast",
                "faster",
                "fast",
                "medium",
                "slow",
                "slower",
                "veryslow",
                "placebo",
            ],
            VideoCodec::Libsvtav1 => &[
                "10", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "11", "12", "13",
            ],
            VideoCodec::LibvpxVp9 => &["5", "0", "1", "2", "3", "4", "6", "7", "8"],
            VideoCodec::ProresKs => &["hq", "proxy", "lt", "standard", "4444", "4444xq"],
            VideoCodec::LibaomAv1 => &["6", "0", "1", "2", "3", "4", "5", "7", "8"],
            VideoCodec::Dnxhd => &["dnxhr_hq", "dnxhr_lb", "dnxhr_sq", "dnxhr_hqx", "dnxhr_444"],
            VideoCodec::H264Nvenc | VideoCodec::HevcNvenc => {
                &["p4", "p1", "p2", "p3", "p5", "p6", "p7"]
            }
            VideoCodec::Ffv1 | VideoCodec::Png | VideoCodec::Mpeg2video | VideoCodec::Mjpeg => &[],
        }
    }

    /// Whether vre lets the encoder add keyframes at scene cuts inside a chunk, as the serial
    /// command does: x264 and x265, whose keyframes are IDR frames in closed GOPs.
    pub fn places_scene_cuts(self) -> bool {
        matches!(self, VideoCodec::Libx264 | VideoCodec::Libx265)
    }

    /// Whether every frame is a keyframe (any cut concatenates).
    pub fn is_intra_only(self) -> bool {
        matches!(
            self,
            VideoCodec::ProresKs | VideoCodec::Png | VideoCodec::Mjpeg | VideoCodec::Dnxhd
        )
    }

    /// The muxer and extension chunks of this codec are written with: mp4 where the codec is
    /// at home in it (exact timestamps), mov for ProRes, FFV1, DNxHD, MPEG-2 and MJPEG (exact
    /// timestamps; mov keeps
    /// the colour primaries, transfer, matrix, field order and HDR10 metadata, which assembly
    /// hands on), NUT (exact timestamps, any codec) for PNG, whose files carry their own.
    pub fn chunk_format(self) -> (&'static str, &'static str) {
        match self {
            VideoCodec::Libx264
            | VideoCodec::Libx265
            | VideoCodec::Libsvtav1
            | VideoCodec::LibvpxVp9
            | VideoCodec::LibaomAv1
            | VideoCodec::H264Nvenc
            | VideoCodec::HevcNvenc => ("mp4", "mp4"),
            VideoCodec::ProresKs
            | VideoCodec::Ffv1
            | VideoCodec::Mpeg2video
            | VideoCodec::Mjpeg
            | VideoCodec::Dnxhd => ("mov", "mov"),
            VideoCodec::Png => ("nut", "nut"),
        }
    }
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The audio codec of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioCodec {
    /// AAC in an m4a, 96 kb/s a channel (192 kb/s stereo).
    Aac,
    /// Opus in an Ogg file, 80 kb/s a channel (160 kb/s stereo).
    Opus,
    /// FLAC (lossless).
    Flac,
    /// Vorbis in an Ogg file, 80 kb/s a channel.
    Vorbis,
    /// AC-3 (Dolby Digital) in an m4a, 96 kb/s a channel, at most 640 kb/s.
    Ac3,
    /// 16-bit PCM in a WAV file.
    #[serde(rename = "pcm_s16le")]
    PcmS16le,
    /// 24-bit PCM in a WAV file.
    #[serde(rename = "pcm_s24le")]
    PcmS24le,
    /// 32-bit PCM in a WAV file.
    #[serde(rename = "pcm_s32le")]
    PcmS32le,
    /// 32-bit float PCM in a WAV file.
    #[serde(rename = "pcm_f32le")]
    PcmF32le,
    /// The input's audio packets, unchanged (`-c:a copy`), in a file of the output's format.
    Copy,
}

impl AudioCodec {
    /// Every audio codec, in the order listed to users.
    pub const ALL: [AudioCodec; 10] = [
        AudioCodec::Aac,
        AudioCodec::Opus,
        AudioCodec::Vorbis,
        AudioCodec::Flac,
        AudioCodec::Ac3,
        AudioCodec::PcmS16le,
        AudioCodec::PcmS24le,
        AudioCodec::PcmS32le,
        AudioCodec::PcmF32le,
        AudioCodec::Copy,
    ];

    /// The ffmpeg encoder.
    pub fn encoder(self) -> &'static str {
        match self {
            AudioCodec::Aac => "aac",
            AudioCodec::Opus => "libopus",
            AudioCodec::Flac => "flac",
            AudioCodec::Vorbis => "libvorbis",
            AudioCodec::Ac3 => "ac3",
            AudioCodec::PcmS16le => "pcm_s16le",
            AudioCodec::PcmS24le => "pcm_s24le",
            AudioCodec::PcmS32le => "pcm_s32le",
            AudioCodec::PcmF32le => "pcm_f32le",
            AudioCodec::Copy => "copy",
        }
    }

    /// Parses an encoder name (`--audio-codec`), also `opus` and `vorbis`.
    pub fn parse(text: &str) -> Option<AudioCodec> {
        match text {
            "opus" => Some(AudioCodec::Opus),
            "vorbis" => Some(AudioCodec::Vorbis),
            _ => AudioCodec::ALL.into_iter().find(|c| c.encoder() == text),
        }
    }

    /// Whether the codec is lossless (FLAC, PCM, a copy): no bit rate to choose.
    pub fn is_lossless(self) -> bool {
        matches!(
            self,
            AudioCodec::Flac
                | AudioCodec::PcmS16le
                | AudioCodec::PcmS24le
                | AudioCodec::PcmS32le
                | AudioCodec::PcmF32le
                | AudioCodec::Copy
        )
    }

    /// Bit rate in bits per second for `channels` channels (`None`: lossless): the same for
    /// each channel, so that surround is encoded as well as stereo (AC-3 at most 640 kb/s).
    pub fn bitrate(self, channels: u32) -> Option<u32> {
        let per_channel = match self {
            AudioCodec::Aac | AudioCodec::Ac3 => 96_000,
            AudioCodec::Opus | AudioCodec::Vorbis => 80_000,
            _ => return None,
        };
        let total = per_channel * channels.max(1);
        Some(match self {
            AudioCodec::Ac3 => total.min(640_000),
            _ => total,
        })
    }

    /// Where the first audible sample sits in a stream's timestamps muxed into `container`:
    /// in Matroska and WebM Opus starts with 312 samples of encoder delay that players skip
    /// (ffmpeg's libopus pre-skip at 48 kHz); an mp4 edit list hides them.
    pub fn start_offset_seconds(self, container: Container) -> f64 {
        match (self, container) {
            (AudioCodec::Opus, Container::Mkv | Container::Webm) => -312.0 / 48_000.0,
            _ => 0.0,
        }
    }

    /// The samples of silence the encoder may leave after the last one it was given: AC-3 fills
    /// its last 1536-sample frame and states no end, so its stream (the serial command's too)
    /// is up to a frame longer than its input.
    pub fn tail_padding(self) -> u64 {
        match self {
            AudioCodec::Ac3 => 1536,
            _ => 0,
        }
    }

    /// Whether the container's duration counts exactly the playable samples (Ogg counts Opus's
    /// pre-skip too, so Opus and Vorbis are counted by decoding; an m4a's edit list states the
    /// AC-3 samples, where decoding would count the last frame's padding).
    pub fn container_counts_samples(self) -> bool {
        !matches!(self, AudioCodec::Opus | AudioCodec::Vorbis)
    }

    /// Muxer and extension of the rendered audio file for an output of `container` (WAV
    /// becomes RF64 past 4 GiB; copied packets travel in the output's own format, which keeps
    /// whatever the output will keep of them: AAC priming, Opus pre-skip, a late start).
    pub fn file_format(self, container: Container) -> (&'static str, &'static str) {
        match self {
            AudioCodec::Copy => (container.muxer(), container.name()),
            AudioCodec::Aac | AudioCodec::Ac3 => ("mp4", "m4a"),
            AudioCodec::Opus | AudioCodec::Vorbis => ("ogg", "ogg"),
            AudioCodec::Flac => ("flac", "flac"),
            AudioCodec::PcmS16le
            | AudioCodec::PcmS24le
            | AudioCodec::PcmS32le
            | AudioCodec::PcmF32le => ("wav", "wav"),
        }
    }
}

/// The sample rates ffmpeg 5.1's native AAC encoder takes, in the order it lists them.
const AAC_SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];
/// The sample rates libopus takes, in the order ffmpeg lists them.
const OPUS_SAMPLE_RATES: [u32; 5] = [48000, 24000, 16000, 12000, 8000];
/// The sample rates ffmpeg 5.1's AC-3 encoder takes, in the order it lists them.
const AC3_SAMPLE_RATES: [u32; 3] = [48000, 44100, 32000];
/// The most channels the AC-3 encoder takes (5.1).
const MAX_AC3_CHANNELS: u32 = 6;
/// The most channels any of the audio encoders takes.
const MAX_AUDIO_CHANNELS: u32 = 8;

/// ffmpeg's default channel layout for a channel count (`av_channel_layout_default`: the first
/// standard layout with that many channels), used where a stream names none.
pub fn default_channel_layout(channels: u32) -> &'static str {
    match channels {
        1 => "mono",
        3 => "2.1",
        4 => "4.0",
        5 => "5.0",
        6 => "5.1",
        7 => "6.1",
        8 => "7.1",
        _ => "stereo",
    }
}

/// The layout libopus takes for a channel count (the Vorbis channel order of its mapping
/// family 1; for more than 8 channels, 7.1).
fn opus_layout(channels: u32) -> &'static str {
    match channels {
        1 => "mono",
        3 => "3.0",
        4 => "quad",
        5 => "5.0",
        6 => "5.1",
        7 => "6.1",
        8.. => "7.1",
        _ => "stereo",
    }
}

/// The number of channels of a layout ffmpeg names (`5.1(side)` → 6), if vre knows it.
pub fn layout_channels(layout: &str) -> Option<u32> {
    Some(match layout {
        "mono" => 1,
        "stereo" | "downmix" => 2,
        "2.1" | "3.0" | "3.0(back)" => 3,
        "4.0" | "quad" | "quad(side)" | "3.1" => 4,
        "5.0" | "5.0(side)" | "4.1" => 5,
        "5.1" | "5.1(side)" | "6.0" | "6.0(front)" | "hexagonal" => 6,
        "6.1" | "6.1(back)" | "6.1(front)" | "7.0" | "7.0(front)" => 7,
        "7.1" | "7.1(wide)" | "7.1(wide-side)" | "octagonal" => 8,
        "hexadecagonal" => 16,
        "22.2" => 24,
        _ => return None,
    })
}

/// What an audio encoder is fed for a source of a given sample rate and channel layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFormat {
    /// Sample rate the encoder is fed.
    pub sample_rate: u32,
    /// Channel layout the encoder is fed, as ffmpeg names it.
    pub channel_layout: String,
    /// Its channels.
    pub channels: u32,
}

/// How an encoder's format differs from its source's, in words for a plan's note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatChange {
    /// The encoder takes no other rate; serial ffmpeg converts alike (its filter graph picks
    /// the encoder's nearest rate).
    Rate {
        /// The source's rate.
        from: u32,
        /// The rate the encoder is fed.
        to: u32,
    },
    /// The encoder cannot take the layout: serial ffmpeg fails there; vre converts it.
    Layout {
        /// The source's layout.
        from: String,
        /// The layout the encoder is fed.
        to: String,
    },
}

impl AudioCodec {
    /// The format this encoder is fed from a source of `sample_rate` Hz and `layout`, as serial
    /// ffmpeg 5.1 negotiates it: the source's where the encoder takes it, otherwise the
    /// encoder's nearest rate (`|difference|`, first listed on ties) and, where serial ffmpeg
    /// would fail (a layout libopus does not take, more than 8 channels), a layout with as many
    /// channels as the encoder takes. With the changes made, for the plan's notes.
    pub fn output_format(self, sample_rate: u32, layout: &str) -> (AudioFormat, Vec<FormatChange>) {
        let channels = layout_channels(layout).unwrap_or(2);
        let nearest = |rates: &[u32]| {
            rates
                .iter()
                .copied()
                .min_by_key(|r| r.abs_diff(sample_rate))
                .unwrap_or(sample_rate)
        };
        let rate = match self {
            AudioCodec::Aac => nearest(&AAC_SAMPLE_RATES),
            AudioCodec::Opus => nearest(&OPUS_SAMPLE_RATES),
            AudioCodec::Ac3 => nearest(&AC3_SAMPLE_RATES),
            _ => sample_rate,
        };
        let target_layout = match self {
            AudioCodec::Opus if opus_layout(channels) != layout => opus_layout(channels),
            AudioCodec::Ac3 if channels > MAX_AC3_CHANNELS => "5.1",
            AudioCodec::Copy => layout,
            _ if channels > MAX_AUDIO_CHANNELS => "7.1",
            _ => layout,
        };
        let mut changes = Vec::new();
        if rate != sample_rate {
            changes.push(FormatChange::Rate {
                from: sample_rate,
                to: rate,
            });
        }
        if target_layout != layout {
            changes.push(FormatChange::Layout {
                from: layout.to_string(),
                to: target_layout.to_string(),
            });
        }
        let format = AudioFormat {
            sample_rate: rate,
            channels: layout_channels(target_layout).unwrap_or(channels),
            channel_layout: target_layout.to_string(),
        };
        (format, changes)
    }

    /// The sample rate a decoder of this codec's streams plays at, for a stream encoded from
    /// `sample_rate` Hz: Opus always decodes at 48 kHz.
    pub fn decoded_rate(self, sample_rate: u32) -> u32 {
        match self {
            AudioCodec::Opus => 48_000,
            _ => sample_rate,
        }
    }

    /// The sample rates the encoder takes (empty: any).
    pub fn sample_rates(self) -> &'static [u32] {
        match self {
            AudioCodec::Aac => &AAC_SAMPLE_RATES,
            AudioCodec::Opus => &OPUS_SAMPLE_RATES,
            AudioCodec::Ac3 => &AC3_SAMPLE_RATES,
            _ => &[],
        }
    }

    /// The most channels the encoder takes.
    pub fn max_channels(self) -> u32 {
        match self {
            AudioCodec::Ac3 => MAX_AC3_CHANNELS,
            _ => MAX_AUDIO_CHANNELS,
        }
    }
}

impl fmt::Display for AudioCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoder())
    }
}

/// A subtitle codec an output takes: the codec ffprobe names and the encoder ffmpeg writes it
/// with (`copy`: the input's packets, unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubtitleCodec {
    /// The codec, as ffprobe names it (`ass`, `webvtt`, `mov_text`, `dvd_subtitle`).
    pub codec: &'static str,
    /// The encoder (`ssa`, `webvtt`, `mov_text`), or `copy`.
    pub encoder: &'static str,
}

/// Subtitle codecs whose events are pictures (DVD, DVB, Blu-ray PGS, DivX XSUB): ffmpeg 5.1
/// converts text subtitles to text and pictures to pictures only.
const BITMAP_SUBTITLES: [&str; 4] = ["dvd_subtitle", "dvb_subtitle", "hdmv_pgs_subtitle", "xsub"];

/// Whether a subtitle codec's events are pictures (see [`BITMAP_SUBTITLES`]).
pub fn is_bitmap_subtitle(codec: &str) -> bool {
    BITMAP_SUBTITLES.contains(&codec)
}

impl Container {
    /// The subtitle codec ffmpeg 5.1 gives this container when nothing is asked for (its
    /// muxer's default: Matroska ASS, WebM WebVTT; mp4 and mov have none, so the default
    /// command writes no subtitles there).
    pub fn default_subtitle(self) -> Option<SubtitleCodec> {
        match self {
            Container::Mkv => Some(SubtitleCodec {
                codec: "ass",
                encoder: "ssa",
            }),
            Container::Webm => Some(SubtitleCodec {
                codec: "webvtt",
                encoder: "webvtt",
            }),
            Container::Mp4 | Container::Mov | Container::Png => None,
        }
    }

    /// The codec a text subtitle chosen with `--subtitle-stream` is written as: the default,
    /// or mov_text in mp4 and mov; `None` for a PNG sequence.
    pub fn text_subtitle(self) -> Option<SubtitleCodec> {
        match self {
            Container::Mp4 | Container::Mov => Some(SubtitleCodec {
                codec: "mov_text",
                encoder: "mov_text",
            }),
            other => other.default_subtitle(),
        }
    }

    /// Whether a bitmap subtitle codec can be copied into this container as it is.
    pub fn carries_bitmap_subtitle(self, codec: &str) -> bool {
        match self {
            Container::Mkv => {
                ["dvd_subtitle", "dvb_subtitle", "hdmv_pgs_subtitle"].contains(&codec)
            }
            Container::Mp4 | Container::Mov => codec == "dvd_subtitle",
            Container::Webm | Container::Png => false,
        }
    }

    /// The muxer and extension of the file assembly cuts the subtitles into before muxing them:
    /// one that holds this container's subtitle codecs with their durations (Matroska; mp4 for
    /// mov_text).
    pub fn subtitle_file_format(self) -> (&'static str, &'static str) {
        match self {
            Container::Mp4 | Container::Mov => ("mp4", "mp4"),
            _ => ("matroska", "mkv"),
        }
    }
}

/// Lists names for an error message: `a, b, c`.
pub fn list<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_has_a_home_that_accepts_it() {
        for codec in VideoCodec::ALL {
            assert!(
                Container::for_codec(codec).codecs().contains(&codec),
                "{codec}"
            );
            assert_eq!(VideoCodec::parse(codec.name()), Some(codec));
        }
        for container in Container::ALL {
            assert_eq!(Container::parse(container.name()), Some(container));
        }
        assert_eq!(Container::parse("MP4"), Some(Container::Mp4));
    }

    #[test]
    fn names_serialise_as_ffmpeg_spells_them() {
        assert_eq!(
            serde_json::to_string(&VideoCodec::LibvpxVp9).unwrap(),
            "\"libvpx-vp9\""
        );
        assert_eq!(serde_json::to_string(&Container::Webm).unwrap(), "\"webm\"");
    }

    #[test]
    fn encoders_take_the_source_format_or_their_nearest_as_ffmpeg_negotiates_it() {
        let format = |codec: AudioCodec, rate, layout| {
            let (f, changes) = codec.output_format(rate, layout);
            (f.sample_rate, f.channel_layout, f.channels, changes.len())
        };
        assert_eq!(
            format(AudioCodec::Aac, 96000, "5.1(side)"),
            (96000, "5.1(side)".to_string(), 6, 0)
        );
        // 37800 Hz is nearer 32000 than 44100: AAC's nearest, as ffmpeg measured it.
        assert_eq!(format(AudioCodec::Aac, 37800, "mono").0, 32000);
        assert_eq!(format(AudioCodec::Aac, 192000, "stereo").0, 96000);
        assert_eq!(
            format(AudioCodec::Opus, 44100, "5.1(side)"),
            (48000, "5.1".to_string(), 6, 2)
        );
        assert_eq!(format(AudioCodec::Opus, 22050, "quad").0, 24000);
        assert_eq!(
            format(AudioCodec::Flac, 96000, "22.2"),
            (96000, "7.1".to_string(), 8, 1)
        );
        assert_eq!(AudioCodec::Aac.bitrate(6), Some(576_000));
        assert_eq!(AudioCodec::Flac.bitrate(2), None);
    }
}
