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
            Container::Mp4 => &[Libx264, Libx265, Libsvtav1, LibvpxVp9],
            Container::Mov => &[ProresKs, Libx264, Libx265],
            Container::Mkv => &[Ffv1, Libx264, Libx265, Libsvtav1, LibvpxVp9, ProresKs],
            Container::Webm => &[LibvpxVp9, Libsvtav1],
            Container::Png => &[Png],
        }
    }

    /// The audio codec of the mix: AAC for mp4/mov, Opus for webm, FLAC for mkv and beside PNGs.
    pub fn audio_codec(self) -> AudioCodec {
        match self {
            Container::Mp4 | Container::Mov => AudioCodec::Aac,
            Container::Webm => AudioCodec::Opus,
            Container::Mkv | Container::Png => AudioCodec::Flac,
        }
    }

    /// The container a codec's natural home is, for `--codec` without `--format`.
    pub fn for_codec(codec: VideoCodec) -> Container {
        match codec {
            VideoCodec::Libx264 | VideoCodec::Libx265 => Container::Mp4,
            VideoCodec::Libsvtav1 | VideoCodec::LibvpxVp9 => Container::Webm,
            VideoCodec::ProresKs => Container::Mov,
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
}

/// How a codec's quality/speed knobs look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knobs {
    /// `-crf` in 0..=max and named presets.
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
    pub const ALL: [VideoCodec; 7] = [
        VideoCodec::Libx264,
        VideoCodec::Libx265,
        VideoCodec::Libsvtav1,
        VideoCodec::LibvpxVp9,
        VideoCodec::ProresKs,
        VideoCodec::Ffv1,
        VideoCodec::Png,
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
        }
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
            VideoCodec::ProresKs | VideoCodec::Ffv1 | VideoCodec::Png => Knobs::None,
        }
    }

    /// Valid `--preset` values, first the default. For SVT-AV1 a speed 0–13, for VP9 a
    /// `-cpu-used` speed 0–8, for ProRes a profile; FFV1 and PNG have none.
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
            VideoCodec::Ffv1 | VideoCodec::Png => &[],
        }
    }

    /// The default output pixel format; `None` keeps the source's (lossless archives).
    pub fn default_pix_fmt(self) -> Option<&'static str> {
        match self {
            VideoCodec::ProresKs => Some("yuv422p10le"),
            VideoCodec::Png => Some("rgb24"),
            VideoCodec::Ffv1 => None,
            _ => Some("yuv420p"),
        }
    }

    /// Whether every frame is a keyframe (any cut concatenates).
    pub fn is_intra_only(self) -> bool {
        matches!(self, VideoCodec::ProresKs | VideoCodec::Png)
    }

    /// The muxer and extension chunks of this codec are written with: mp4 where the codec is
    /// at home in it (exact timestamps), mov for ProRes, NUT (exact timestamps, any codec) for
    /// FFV1 and PNG.
    pub fn chunk_format(self) -> (&'static str, &'static str) {
        match self {
            VideoCodec::Libx264
            | VideoCodec::Libx265
            | VideoCodec::Libsvtav1
            | VideoCodec::LibvpxVp9 => ("mp4", "mp4"),
            VideoCodec::ProresKs => ("mov", "mov"),
            VideoCodec::Ffv1 | VideoCodec::Png => ("nut", "nut"),
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
    /// AAC in an m4a, 192 kb/s.
    Aac,
    /// Opus in an Ogg file, 160 kb/s.
    Opus,
    /// FLAC (lossless).
    Flac,
}

impl AudioCodec {
    /// The ffmpeg encoder.
    pub fn encoder(self) -> &'static str {
        match self {
            AudioCodec::Aac => "aac",
            AudioCodec::Opus => "libopus",
            AudioCodec::Flac => "flac",
        }
    }

    /// Bit rate in bits per second (`None`: lossless).
    pub fn bitrate(self) -> Option<u32> {
        match self {
            AudioCodec::Aac => Some(192_000),
            AudioCodec::Opus => Some(160_000),
            AudioCodec::Flac => None,
        }
    }

    /// Where the first audible sample sits in a muxed stream's timestamps: Opus starts with
    /// 312 samples of encoder delay that players skip (ffmpeg's libopus pre-skip at 48 kHz).
    pub fn start_offset_seconds(self) -> f64 {
        match self {
            AudioCodec::Opus => -312.0 / 48_000.0,
            AudioCodec::Aac | AudioCodec::Flac => 0.0,
        }
    }

    /// Whether the container's duration counts exactly the playable samples (Ogg counts Opus's
    /// pre-skip too, so Opus is counted by decoding).
    pub fn container_counts_samples(self) -> bool {
        !matches!(self, AudioCodec::Opus)
    }

    /// Muxer and extension of the rendered audio file.
    pub fn file_format(self) -> (&'static str, &'static str) {
        match self {
            AudioCodec::Aac => ("mp4", "m4a"),
            AudioCodec::Opus => ("ogg", "ogg"),
            AudioCodec::Flac => ("flac", "flac"),
        }
    }
}

impl fmt::Display for AudioCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoder())
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
}
