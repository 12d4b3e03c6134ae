//! Audio tracks as the user asks for them: `--audio file=PATH[,offset=S]...` specs and their
//! errors, and which of the input's own audio streams to keep (`--audio-stream`). The mix itself
//! is built in `ffmpeg::audio`.

use crate::codecs::{AudioCodec, Container};
use crate::exit::{Code, HasCode};
use crate::plandir::schema::Playback;
use std::path::PathBuf;

/// A track as the user wrote it with `--audio file=PATH[,offset=S][,seek=S][,rate=R]...`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSpec {
    /// The media file.
    pub path: PathBuf,
    /// How it plays.
    pub playback: Playback,
}

impl TrackSpec {
    /// `path` played as it is ([`Playback::default`]).
    pub fn new(path: PathBuf) -> Self {
        TrackSpec {
            path,
            playback: Playback::default(),
        }
    }
}

/// Which of the input's audio streams the output keeps (`--audio-stream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioStreams {
    /// The one serial ffmpeg picks without `-map` ([`crate::ffmpeg::probe::default_audio_stream`]).
    #[default]
    Default,
    /// The input's audio stream `N` (ffmpeg's `0:a:N`).
    One(u32),
    /// Every audio stream, each an output of its own, in input order (ffmpeg's `-map 0:a`).
    All,
}

/// Parses `--audio-stream N|all`.
pub fn parse_audio_streams(text: &str) -> Result<AudioStreams, String> {
    match text.trim() {
        "all" => Ok(AudioStreams::All),
        n => n.parse().map(AudioStreams::One).map_err(|_| {
            format!("'{text}' is neither an audio stream number (0 is the first, as in ffmpeg's 0:a:0) nor 'all'")
        }),
    }
}

/// An `--audio` spec that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum AudioSpecError {
    /// A key vre does not know.
    #[error("--audio '{spec}': unknown key '{key}' (known: file, offset, seek, rate, volume, fade-in, fade-out, loop)")]
    UnknownKey {
        /// The whole spec.
        spec: String,
        /// The bad key.
        key: String,
    },
    /// A value out of range or not a number.
    #[error("--audio '{spec}': '{part}' {why}")]
    BadValue {
        /// The whole spec.
        spec: String,
        /// The bad `key=value`.
        part: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No `file=`.
    #[error("--audio '{spec}': no file=PATH given")]
    NoFile {
        /// The whole spec.
        spec: String,
    },
    /// The file does not exist.
    #[error("--audio '{spec}': file '{}' does not exist", .path.display())]
    FileMissing {
        /// The whole spec.
        spec: String,
        /// The missing file.
        path: PathBuf,
    },
    /// The file is not a regular file (a FIFO, a device, a directory, a symlink loop, …).
    #[error("--audio '{spec}': {source}")]
    NotAFile {
        /// The whole spec.
        spec: String,
        /// What the path is instead.
        source: crate::sys::input_file::InputFileError,
    },
    /// The file has no audio.
    #[error("--audio '{spec}': '{}' has no audio stream", .path.display())]
    NoAudio {
        /// The whole spec.
        spec: String,
        /// The file.
        path: PathBuf,
    },
}

impl HasCode for AudioSpecError {
    fn code(&self) -> Code {
        match self {
            AudioSpecError::FileMissing { .. } => Code::NoInput,
            AudioSpecError::NotAFile { source, .. } => source.code(),
            AudioSpecError::NoAudio { .. } => Code::DataErr,
            _ => Code::Usage,
        }
    }
}

/// Parses one `--audio` spec (syntax only; the file is checked when planning).
pub fn parse_spec(spec: &str) -> Result<TrackSpec, AudioSpecError> {
    let mut track = TrackSpec::new(PathBuf::new());
    let mut has_file = false;
    for part in spec.split(',') {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let bad = |why| AudioSpecError::BadValue {
            spec: spec.to_string(),
            part: part.to_string(),
            why,
        };
        let number = || -> Result<f64, AudioSpecError> {
            let v: f64 = value.trim().parse().map_err(|_| bad("is not a number"))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(bad("is not finite"))
            }
        };
        let non_negative = || -> Result<f64, AudioSpecError> {
            let v = number()?;
            if v < 0.0 {
                Err(bad("must not be negative"))
            } else {
                Ok(v)
            }
        };
        match key.trim() {
            "file" if !value.is_empty() => {
                track.path = PathBuf::from(value);
                has_file = true;
            }
            "file" => return Err(bad("needs a path")),
            "offset" => track.playback.offset = number()?,
            "seek" => track.playback.seek = non_negative()?,
            "rate" => {
                track.playback.rate = number()?;
                if track.playback.rate <= 0.0 {
                    return Err(bad("must be greater than 0"));
                }
            }
            "volume" => track.playback.volume = non_negative()?,
            "fade-in" => track.playback.fade_in = non_negative()?,
            "fade-out" => track.playback.fade_out = non_negative()?,
            "loop" if value.is_empty() || value == "1" || value == "true" => {
                track.playback.looped = true
            }
            "loop" => return Err(bad("takes no value")),
            other => {
                return Err(AudioSpecError::UnknownKey {
                    spec: spec.to_string(),
                    key: other.to_string(),
                })
            }
        }
    }
    if !has_file {
        return Err(AudioSpecError::NoFile {
            spec: spec.to_string(),
        });
    }
    Ok(track)
}

/// Seconds of sound per part of an audio output rendered in parts: a part encodes in a few
/// seconds, less than a video chunk, so the audio is never a run's longest task.
pub const AUDIO_PART_SECONDS: u64 = 60;

/// Codec frames encoded and dropped on each side of a part: the encoder's window and its
/// choice of block switching see the sound across the seam as an encode of the whole would.
/// With none after a part, seams clicked: an error 2.1 to 2.5 times the largest elsewhere.
const AUDIO_PART_MARGIN_FRAMES: u64 = 4;

/// How an audio output of `samples` samples at `rate` Hz is cut into parts, if it is: AAC (whose
/// frames join by stream copy), tracks without filters of their own (a filter's history would
/// start over in each part), and at least two whole parts long.
pub fn parts_for(
    codec: AudioCodec,
    (samples, rate): (u64, u32),
    tracks: &[crate::plandir::schema::AudioTrack],
) -> Option<crate::plandir::schema::AudioParts> {
    let frame = match codec {
        AudioCodec::Aac => 1024,
        _ => return None,
    };
    let part = (AUDIO_PART_SECONDS * u64::from(rate)).div_ceil(frame) * frame;
    let filtered = tracks.iter().any(|t| t.filter.is_some());
    (!filtered && samples >= 2 * part).then_some(crate::plandir::schema::AudioParts {
        samples: part,
        margin: AUDIO_PART_MARGIN_FRAMES * frame,
        frame,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_aac_without_track_filters_renders_in_parts() {
        let minutes = |m: u64| (m * 60 * 48_000, 48_000);
        let parts = parts_for(AudioCodec::Aac, minutes(10), &[]).unwrap();
        assert_eq!(parts.samples % 1024, 0);
        assert!(parts.samples >= 60 * 48_000 && parts.samples < 60 * 48_000 + 1024);
        assert_eq!((parts.margin, parts.frame), (4096, 1024));
        assert!(parts_for(AudioCodec::Aac, (2 * parts.samples, 48_000), &[]).is_some());
        assert!(parts_for(AudioCodec::Aac, (2 * parts.samples - 1, 48_000), &[]).is_none());
        for whole in [
            AudioCodec::Opus,
            AudioCodec::Flac,
            AudioCodec::Ac3,
            AudioCodec::Copy,
        ] {
            assert!(parts_for(whole, minutes(10), &[]).is_none(), "{whole}");
        }
    }

    #[test]
    fn specs_parse_and_bad_parts_are_quoted() {
        let t = parse_spec("file=/a b.wav,offset=2,rate=0.5,volume=0.5,loop").unwrap();
        assert_eq!(t.path, PathBuf::from("/a b.wav"));
        assert_eq!(
            (
                t.playback.offset,
                t.playback.rate,
                t.playback.volume,
                t.playback.looped
            ),
            (2.0, 0.5, 0.5, true)
        );
        let msg = |s: &str| parse_spec(s).unwrap_err().to_string();
        assert!(msg("file=a,rate=0").contains("'rate=0'"));
        assert!(msg("file=a,rate=inf").contains("'rate=inf'"));
        assert!(msg("file=a,seek=-1").contains("'seek=-1'"));
        assert!(msg("file=a,speed=2").contains("'speed'"));
        assert!(msg("offset=1").contains("no file"));
    }

    #[test]
    fn audio_stream_choices_parse() {
        assert_eq!(parse_audio_streams("2"), Ok(AudioStreams::One(2)));
        assert_eq!(parse_audio_streams("all"), Ok(AudioStreams::All));
        assert!(parse_audio_streams("-1").unwrap_err().contains("'-1'"));
    }
}

/// How the audio outputs are encoded (`--audio-codec`, `--audio-bitrate`, `--audio-channels`,
/// `--audio-rate`); `None`: the format's default, the codec's default rate for the channels,
/// the source's channels and rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioEncoding {
    /// `--audio-codec`.
    pub codec: Option<AudioCodec>,
    /// `--audio-bitrate`, bits per second of the whole stream.
    pub bitrate: Option<u32>,
    /// `--audio-channels`.
    pub channels: Option<u32>,
    /// `--audio-rate`, Hz.
    pub rate: Option<u32>,
}

impl AudioEncoding {
    /// The codec for `container`, checked with the other settings against it: the flag at
    /// fault and why where they cannot work.
    pub fn codec_for(&self, container: Container) -> Result<AudioCodec, (&'static str, String)> {
        let codec = self.codec.unwrap_or(container.audio_codec());
        if !container.audio_codecs().contains(&codec) {
            return Err((
                "--audio-codec",
                format!(
                    "{container} cannot carry {codec}; it takes {}",
                    crate::codecs::list(container.audio_codecs())
                ),
            ));
        }
        if self.bitrate.is_some() && codec.is_lossless() {
            return Err((
                "--audio-bitrate",
                format!("{codec} is lossless: it has no bit rate to choose"),
            ));
        }
        if let Some(rate) = self.rate {
            let rates = codec.sample_rates();
            if rate == 0 || !(rates.is_empty() || rates.contains(&rate)) {
                return Err((
                    "--audio-rate",
                    format!(
                        "{codec} does not encode {rate} Hz; it takes {}",
                        crate::codecs::list(rates)
                    ),
                ));
            }
        }
        if let Some(channels) = self.channels {
            if channels == 0 || channels > codec.max_channels() {
                return Err((
                    "--audio-channels",
                    format!(
                        "{codec} encodes 1 to {} channels, not {channels}",
                        codec.max_channels()
                    ),
                ));
            }
        }
        Ok(codec)
    }
}
