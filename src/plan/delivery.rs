//! Delivery specs: rate control (`--bitrate`, `--maxrate`, `--bufsize`, `--passes`), stream
//! shape (`--profile`, `--level`, `--tune`, `--keyint`) and encoder settings passed through
//! (`--encoder-params`, `--encoder-opt`), checked against the codec and against what keeps
//! chunks safe: closed GOPs that start on an IDR frame, and byte-identical retries.

use crate::codecs::VideoCodec;
use crate::plandir::schema::{Delivery, Rational, SeamBuffer};

/// The fill every chunk but the first tells its encoder the VBV buffer starts from. x264 aims to
/// leave its buffer at least half full at the end of its lookahead, and chunks measured end 0.78
/// to 0.98 full on content that changes at every seam, so few chunks need a second encode; the
/// serial command's 0.9 would re-encode most chunks that end on hard content.
pub const SEAM_START_FILL: f64 = 0.8;

/// The encodes a chunk that ends emptier than [`SEAM_START_FILL`] gets, in order: seconds at its
/// end and the bit-rate factor for them (an x264/x265 zone).
pub const SEAM_TAIL_ZONES: [(f64, f64); 3] = [(1.0, 0.5), (2.0, 0.25), (2.0, 0.1)];

/// `--keyint`: the longest distance between keyframes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyInterval {
    /// In frames.
    Frames(u32),
    /// In seconds of the output's frame rate (rounded down to whole frames).
    Seconds(f64),
}

impl KeyInterval {
    /// Parses `N` (frames) or `Ns` (seconds, as `2s` or `0.5s`).
    pub fn parse(text: &str) -> Result<KeyInterval, String> {
        let wrong = || {
            format!("'{text}' is not a keyframe interval (frames, e.g. 48, or seconds, e.g. 2s)")
        };
        match text.strip_suffix('s') {
            Some(seconds) => seconds
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(KeyInterval::Seconds)
                .ok_or_else(wrong),
            None => text
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .map(KeyInterval::Frames)
                .ok_or_else(wrong),
        }
    }

    /// In frames at `rate` (at least 1).
    pub fn frames(self, rate: Rational) -> u32 {
        match self {
            KeyInterval::Frames(n) => n,
            KeyInterval::Seconds(s) => ((s * rate.as_f64() + 1e-9).floor() as u32).max(1),
        }
    }
}

/// Parses a bit rate or buffer size as ffmpeg writes them: a number with an optional `k`, `M` or
/// `G` suffix (powers of 1000), e.g. `800k`, `1.2M`, `8000000`.
pub fn parse_bits(text: &str) -> Result<u64, String> {
    let (number, scale) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 1e3),
        Some((at, 'M')) => (&text[..at], 1e6),
        Some((at, 'G')) => (&text[..at], 1e9),
        _ => (text, 1.0),
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| (n * scale).round())
        .filter(|bits| (1.0..1e15).contains(bits))
        .map(|bits| bits as u64)
        .ok_or_else(|| format!("'{text}' is not a rate in bits (e.g. 800k, 1.2M, 8000000)"))
}

/// `--encoder-params`: the `key=value` items, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderParams(pub Vec<String>);

/// Parses `--encoder-params`: `key=value` items joined by `:`, as x264/x265/SVT-AV1 take them.
pub fn parse_encoder_params(text: &str) -> Result<EncoderParams, String> {
    let items = text
        .split(':')
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((key, _)) if !key.is_empty() => Ok(item.to_string()),
            _ if !item.contains('=') => Ok(item.to_string()),
            _ => Err(format!("'{item}' is not key=value")),
        })
        .collect::<Result<_, _>>()?;
    Ok(EncoderParams(items))
}

/// Parses one `--encoder-opt KEY=VALUE`.
pub fn parse_encoder_option(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not KEY=VALUE (e.g. bf=3)"))?;
    let key = key.trim_start_matches('-');
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("'{text}' names no option"));
    }
    Ok((key.to_string(), value.to_string()))
}

/// The x264/x265/SVT-AV1 parameters vre sets itself, each with the flag to use instead (or why
/// it cannot change): GOP structure and scene cuts make chunks concatenate, thread layouts
/// make retries byte-identical, and rate control has flags of its own, recorded in the plan.
const RESERVED_PARAMS: &[(&str, &str)] = &[
    ("keyint", "--keyint"),
    ("min-keyint", "--keyint"),
    ("keyint-min", "--keyint"),
    ("scenecut", "--fixed-gop (no keyframes at scene cuts)"),
    ("no-scenecut", "--fixed-gop"),
    (
        "scd",
        "nothing: chunks start on an IDR frame and place every keyframe themselves",
    ),
    (
        "open-gop",
        "nothing: chunks need closed GOPs to concatenate",
    ),
    (
        "irefresh-type",
        "nothing: chunks need closed GOPs to concatenate",
    ),
    (
        "intra-refresh",
        "nothing: chunks must start on an IDR frame",
    ),
    ("repeat-headers", "nothing: every chunk repeats its headers"),
    ("threads", "--threads"),
    ("lookahead-threads", "--threads"),
    ("sliced-threads", "--threads"),
    (
        "sync-lookahead",
        "nothing: it makes renders differ from run to run",
    ),
    (
        "non-deterministic",
        "nothing: retries must be byte-identical",
    ),
    ("pools", "--threads"),
    ("frame-threads", "--threads"),
    ("numa-pools", "--threads"),
    ("lp", "--threads"),
    ("pass", "--passes"),
    (
        "stats",
        "--passes (vre keeps each chunk's statistics in the planDir)",
    ),
    ("passes", "--passes"),
    ("bitrate", "--bitrate"),
    ("tbr", "--bitrate"),
    ("mbr", "--maxrate"),
    ("rc", "--bitrate or --crf"),
    ("vbv-maxrate", "--maxrate"),
    ("vbv-bufsize", "--bufsize"),
    ("vbv-init", "nothing: vre plans the buffer at every seam"),
    ("vbv-end", "nothing: vre plans the buffer at every seam"),
    (
        "zones",
        "nothing: vre uses zones to refill the buffer before seams",
    ),
    ("crf", "--crf"),
    ("qp", "--crf"),
    ("preset", "--preset"),
    ("tune", "--tune"),
    ("profile", "--profile"),
    ("level", "--level"),
    ("level-idc", "--level"),
    ("fps", "--fps"),
    ("frames", "--range"),
    ("seek", "--range"),
];

/// The AVOptions vre sets itself (see [`RESERVED_PARAMS`]).
const RESERVED_OPTIONS: &[(&str, &str)] = &[
    ("g", "--keyint"),
    ("keyint_min", "--keyint"),
    ("sc_threshold", "--fixed-gop (no keyframes at scene cuts)"),
    (
        "force_key_frames",
        "nothing: chunks place every keyframe themselves",
    ),
    (
        "forced-idr",
        "nothing: chunks place every keyframe themselves",
    ),
    ("threads", "--threads"),
    ("thread_type", "--threads"),
    ("row-mt", "--threads"),
    ("tile-columns", "--threads"),
    ("frame-parallel", "nothing: retries must be byte-identical"),
    ("flags", "nothing: vre's chunks are written bit-exact"),
    (
        "auto-alt-ref",
        "nothing: chunks need closed GOPs to concatenate",
    ),
    ("b", "--bitrate"),
    ("b:v", "--bitrate"),
    ("maxrate", "--maxrate"),
    ("bufsize", "--bufsize"),
    (
        "rc_init_occupancy",
        "nothing: vre plans the buffer at every seam",
    ),
    ("crf", "--crf"),
    ("qp", "--crf"),
    ("lossless", "--crf 0"),
    ("preset", "--preset"),
    ("cpu-used", "--preset"),
    ("deadline", "--preset"),
    ("tune", "--tune"),
    ("profile", "--profile"),
    ("profile:v", "--profile"),
    ("level", "--level"),
    ("pass", "--passes"),
    ("passlogfile", "--passes"),
    ("stats", "--passes"),
    ("x264-params", "--encoder-params"),
    ("x264opts", "--encoder-params"),
    ("x265-params", "--encoder-params"),
    ("svtav1-params", "--encoder-params"),
    ("pix_fmt", "--pix-fmt"),
    ("r", "--fps"),
    ("s", "--size"),
    ("c", "--codec"),
    ("c:v", "--codec"),
    ("codec", "--codec"),
];

/// The flag that sets a reserved key instead, if `key` is one of `table`'s.
fn reserved<'a>(table: &'a [(&str, &str)], key: &str) -> Option<&'a str> {
    table
        .iter()
        .find(|(reserved, _)| reserved.eq_ignore_ascii_case(key))
        .map(|(_, instead)| *instead)
}

/// Whether the codec takes ffmpeg's bit-rate options (`-b:v`, `-maxrate`, `-bufsize`) — the
/// same codecs take a `--profile`.
fn has_bitrate(codec: VideoCodec) -> bool {
    matches!(
        codec,
        VideoCodec::Libx264
            | VideoCodec::Libx265
            | VideoCodec::Libsvtav1
            | VideoCodec::LibvpxVp9
            | VideoCodec::LibaomAv1
            | VideoCodec::Mpeg2video
            | VideoCodec::H264Nvenc
            | VideoCodec::HevcNvenc
    )
}

/// Whether vre can set the starting fill of the codec's VBV buffer and refill it before a seam
/// (`vbv-init` and zones): x264 and x265.
pub fn plans_seams(codec: VideoCodec) -> bool {
    matches!(codec, VideoCodec::Libx264 | VideoCodec::Libx265)
}

/// Whether the codec's VBV rate control needs one encoder thread to give the same bytes on
/// every render: x264's and x265's frame sizes under a buffer depend on which frames other
/// threads have finished (measured with x264: 2 to 5 different chunks in 6 concurrent renders,
/// with frame threads and with slice threads).
pub fn vbv_needs_one_thread(codec: VideoCodec, delivery: &Delivery) -> bool {
    delivery.maxrate.is_some() && matches!(codec, VideoCodec::Libx264 | VideoCodec::Libx265)
}

/// Whether the codec has a two-pass mode vre runs per chunk.
fn has_two_pass(codec: VideoCodec) -> bool {
    matches!(
        codec,
        VideoCodec::Libx264 | VideoCodec::Libx265 | VideoCodec::LibvpxVp9 | VideoCodec::LibaomAv1
    )
}

/// A delivery option that cannot work with the codec or with the others: the flag and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The flag at fault.
    pub flag: &'static str,
    /// What is wrong and what would work.
    pub why: String,
}

fn refuse(flag: &'static str, why: impl Into<String>) -> Refusal {
    Refusal {
        flag,
        why: why.into(),
    }
}

/// Checks what a delivery spec asks (`asked`, with no seam plan) against `codec` and `crf`
/// (`--crf` as given), and returns it with the seam plan filled in where the buffer needs one,
/// plus notes for the plan. Both assume more than one chunk: a plan of one chunk has no seams
/// ([`Delivery::seams`] and the notes are then dropped).
pub fn settle(
    asked: &Delivery,
    codec: VideoCodec,
    crf: Option<u32>,
) -> Result<(Delivery, Vec<String>), Refusal> {
    let mut delivery = asked.clone();
    let mut notes = Vec::new();
    let rate_flags = [
        ("--bitrate", asked.bitrate),
        ("--maxrate", asked.maxrate),
        ("--bufsize", asked.bufsize),
    ];
    for (flag, value) in rate_flags {
        if value.is_some() && !has_bitrate(codec) {
            return Err(refuse(
                flag,
                format!("{codec} has no bit-rate control (it is lossless or profile-driven); leave {flag} out"),
            ));
        }
    }
    if asked.bitrate.is_some() && crf.is_some() {
        return Err(refuse(
            "--bitrate",
            "--crf and --bitrate both set the rate; give one (--crf with --maxrate and --bufsize caps a constant-quality encode)",
        ));
    }
    match (asked.maxrate, asked.bufsize) {
        (Some(_), None) => return Err(refuse(
            "--maxrate",
            "needs --bufsize (the VBV buffer the peak rate is measured over), e.g. --bufsize 2M",
        )),
        (None, Some(_)) => {
            return Err(refuse(
                "--bufsize",
                "needs --maxrate (the rate the buffer fills at)",
            ))
        }
        _ => {}
    }
    if let (Some(bitrate), Some(maxrate)) = (asked.bitrate, asked.maxrate) {
        if maxrate < bitrate {
            return Err(refuse(
                "--maxrate",
                format!("{maxrate} b/s is below --bitrate {bitrate} b/s; the peak cannot be lower than the average"),
            ));
        }
    }
    if asked.two_pass {
        if asked.bitrate.is_none() {
            return Err(refuse(
                "--passes",
                "two passes need a target: add --bitrate (a constant-quality encode needs one pass)",
            ));
        }
        if !has_two_pass(codec) {
            return Err(refuse(
                "--passes",
                format!("vre runs two passes with libx264, libx265, libvpx-vp9 and libaom-av1, not {codec}"),
            ));
        }
    }
    if asked.maxrate.is_some() {
        if plans_seams(codec) {
            delivery.seams = Some(SeamBuffer {
                start_fill: SEAM_START_FILL,
                tail_zones: SEAM_TAIL_ZONES.to_vec(),
            });
        } else {
            notes.push(format!(
                "--maxrate/--bufsize: {codec}'s buffer model is each chunk's own; vre cannot set where it starts, so the buffer at seams is not planned (libx264 and libx265 plan it)"
            ));
        }
    }
    check_shape(asked, codec)?;
    Ok((delivery, notes))
}

/// `--profile`, `--level`, `--tune` and the pass-through settings against the codec.
fn check_shape(asked: &Delivery, codec: VideoCodec) -> Result<(), Refusal> {
    if asked.profile.is_some() && !has_bitrate(codec) {
        let instead = match codec {
            VideoCodec::ProresKs | VideoCodec::Dnxhd => {
                "; its profile is the --preset (hq, 4444, dnxhr_hq, …)"
            }
            _ => "",
        };
        return Err(refuse(
            "--profile",
            format!("{codec} takes no profile{instead}"),
        ));
    }
    if asked.level.is_some() && !matches!(codec, VideoCodec::Libx264 | VideoCodec::Libx265) {
        return Err(refuse(
            "--level",
            format!("vre sets levels for libx264 and libx265, not {codec}"),
        ));
    }
    if asked.tune.is_some()
        && !matches!(
            codec,
            VideoCodec::Libx264
                | VideoCodec::Libx265
                | VideoCodec::LibvpxVp9
                | VideoCodec::H264Nvenc
                | VideoCodec::HevcNvenc
        )
    {
        return Err(refuse(
            "--tune",
            format!("{codec} has no --tune (libx264, libx265, libvpx-vp9 and NVENC do)"),
        ));
    }
    if !asked.encoder_params.is_empty() {
        let Some(option) = codec.params_option() else {
            return Err(refuse(
                "--encoder-params",
                format!("{codec} has no parameter string (libx264, libx265 and libsvtav1 do); use --encoder-opt KEY=VALUE for its options"),
            ));
        };
        for item in &asked.encoder_params {
            let key = item.split_once('=').map_or(item.as_str(), |(k, _)| k);
            // x264 and x265 read `_` in a key as `-` (`open_gop` is `open-gop`).
            let key = key.replace('_', "-");
            if let Some(instead) = reserved(RESERVED_PARAMS, &key) {
                return Err(refuse(
                    "--encoder-params",
                    format!("'{key}' in {option} is vre's to set; use {instead}"),
                ));
            }
        }
    }
    for (key, _) in &asked.encoder_options {
        if let Some(instead) = reserved(RESERVED_OPTIONS, key) {
            return Err(refuse(
                "--encoder-opt",
                format!("-{key} is vre's to set; use {instead}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_ffmpeg_writes_them() {
        assert_eq!(parse_bits("800k"), Ok(800_000));
        assert_eq!(parse_bits("1.2M"), Ok(1_200_000));
        assert_eq!(parse_bits("8000000"), Ok(8_000_000));
        assert!(parse_bits("fast").is_err());
        assert!(parse_bits("0").is_err());
        assert!(parse_bits("-1M").is_err());
    }

    #[test]
    fn key_intervals_are_frames_or_seconds() {
        let ntsc = Rational {
            num: 30000,
            den: 1001,
        };
        assert_eq!(KeyInterval::parse("40").map(|k| k.frames(ntsc)), Ok(40));
        assert_eq!(KeyInterval::parse("2s").map(|k| k.frames(ntsc)), Ok(59));
        let pal = Rational { num: 25, den: 1 };
        assert_eq!(KeyInterval::parse("2s").map(|k| k.frames(pal)), Ok(50));
        assert!(KeyInterval::parse("0").is_err());
        assert!(KeyInterval::parse("-2s").is_err());
    }

    #[test]
    fn keys_that_break_chunks_or_retries_are_refused_with_the_flag_to_use() {
        let asked = |params: &str| Delivery {
            encoder_params: parse_encoder_params(params).unwrap().0,
            ..Delivery::default()
        };
        let refused = settle(
            &asked("aq-mode=3:keyint=500"),
            VideoCodec::Libx264,
            Some(20),
        )
        .unwrap_err();
        assert_eq!(refused.flag, "--encoder-params");
        assert!(refused.why.contains("--keyint"), "{}", refused.why);
        assert!(settle(&asked("aq-mode=3:ref=4"), VideoCodec::Libx264, Some(20)).is_ok());
        assert!(settle(&asked("open_gop=1"), VideoCodec::Libx264, Some(20)).is_err());
        let option = Delivery {
            encoder_options: vec![("g".into(), "300".into())],
            ..Delivery::default()
        };
        assert_eq!(
            settle(&option, VideoCodec::Libx264, Some(20))
                .unwrap_err()
                .flag,
            "--encoder-opt"
        );
    }

    #[test]
    fn the_buffer_is_planned_at_seams_where_the_encoder_lets_vre() {
        let vbv = Delivery {
            bitrate: Some(1_000_000),
            maxrate: Some(1_200_000),
            bufsize: Some(600_000),
            ..Delivery::default()
        };
        let (x264, notes) = settle(&vbv, VideoCodec::Libx264, None).unwrap();
        assert_eq!(x264.seams.map(|s| s.start_fill), Some(SEAM_START_FILL));
        assert!(notes.is_empty());
        let (vp9, notes) = settle(&vbv, VideoCodec::LibvpxVp9, None).unwrap();
        assert_eq!(vp9.seams, None);
        assert_eq!(notes.len(), 1);
        let no_buffer = Delivery {
            bufsize: None,
            ..vbv.clone()
        };
        assert_eq!(
            settle(&no_buffer, VideoCodec::Libx264, None)
                .unwrap_err()
                .flag,
            "--maxrate"
        );
        assert_eq!(
            settle(&vbv, VideoCodec::Libx264, Some(23))
                .unwrap_err()
                .flag,
            "--bitrate"
        );
        assert_eq!(
            settle(&vbv, VideoCodec::ProresKs, None).unwrap_err().flag,
            "--bitrate"
        );
    }
}
