//! Reading a rendered chunk's facts from its mp4 index (the `moov` box) instead of starting
//! ffprobe: the sample count of its video track and the stream parameters ffprobe would report
//! (codec, profile, pixel format, size, frame rate, time base), derived the way ffmpeg's mov
//! demuxer and decoders derive them; and the stream timings of a finished mp4/mov output or m4a
//! audio file. Whatever this reader is not sure of makes it answer `None`, and the caller asks
//! ffprobe instead.

use crate::ffmpeg::probe::StreamTiming;
use crate::plandir::schema::{Rational, StreamFacts};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The most a chunk's `moov` box may hold before the reader leaves it to ffprobe.
const MAX_MOVIE_HEADER_BYTES: u64 = 64 << 20;

/// The first video track of an mp4/mov file, as its index describes it.
#[derive(Debug, Clone, PartialEq)]
struct VideoTrack {
    /// Sample entry type (`avc1`, `hvc1`, `av01`, `vp09`, …).
    format: [u8; 4],
    /// Coded size from the sample entry.
    width: u32,
    height: u32,
    /// Ticks per second of the track's timestamps.
    timescale: u32,
    /// Samples (frames) in the track.
    samples: u64,
    /// The sample duration ffmpeg takes the frame rate from: the `stts` table's first delta when
    /// it has one entry, or two with a single last sample (ffmpeg's rule for `r_frame_rate`).
    frame_ticks: Option<u32>,
    /// The codec configuration box of the sample entry: its type and payload.
    config: Option<([u8; 4], Vec<u8>)>,
}

/// The children of a box payload: `(type, payload)` pairs; stops at the first malformed header.
fn children(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let size = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as u64;
        let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8, rest.len() as u64),
            1 => (16, u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?)),
            n => (8, n),
        };
        let size = usize::try_from(size).ok()?;
        let payload = rest.get(header..size)?;
        rest = &rest[size..];
        Some((kind, payload))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data).find(|(k, _)| k == kind).map(|(_, p)| p)
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        data.get(at..at + 2)?.try_into().ok()?,
    )))
}

/// The timescale of an `mvhd` or `mdhd` box (their layouts agree up to it).
fn timescale(header: &[u8]) -> Option<u32> {
    u32_at(header, if header.first()? == &1 { 20 } else { 12 })
}

/// Reads the file's `moov` box, seeking over everything else (the media data).
fn read_movie_header(path: &Path) -> Option<Vec<u8>> {
    let mut file = File::open(path).ok()?;
    let length = file.metadata().ok()?.len();
    let mut at = 0u64;
    while at + 8 <= length {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(at)).ok()?;
        file.read_exact(&mut header[..8]).ok()?;
        let (header_len, size) = match u32_at(&header, 0)? {
            0 => (8, length - at),
            1 => {
                file.read_exact(&mut header[8..]).ok()?;
                (16, u64::from_be_bytes(header[8..16].try_into().ok()?))
            }
            n => (8, u64::from(n)),
        };
        if size < header_len || at + size > length {
            return None;
        }
        if &header[4..8] == b"moov" {
            let payload = size - header_len;
            if payload > MAX_MOVIE_HEADER_BYTES {
                return None;
            }
            let mut moov = vec![0u8; payload as usize];
            file.read_exact(&mut moov).ok()?;
            return Some(moov);
        }
        at += size;
    }
    None
}

/// What every track's index states: its handler (`vide`, `soun`, …), its media timescale, its
/// sample table, the `(count, duration)` runs of its `stts` table and its sample count.
struct TrackTables<'a> {
    handler: [u8; 4],
    timescale: u32,
    stbl: &'a [u8],
    deltas: Vec<(u32, u32)>,
    samples: u64,
}

/// A track's tables, where its timescale is set and its `stts` runs count exactly its `stsz`
/// samples.
fn track_tables(trak: &[u8]) -> Option<TrackTables<'_>> {
    let mdia = child(trak, b"mdia")?;
    let handler = child(mdia, b"hdlr")?.get(8..12)?.try_into().ok()?;
    let timescale = timescale(child(mdia, b"mdhd")?)?;
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    let deltas = runs(child(stbl, b"stts")?)?;
    let samples = u64::from(u32_at(child(stbl, b"stsz")?, 8)?);
    let counted: u64 = deltas.iter().map(|&(n, _)| u64::from(n)).sum();
    (counted == samples && timescale > 0).then_some(TrackTables {
        handler,
        timescale,
        stbl,
        deltas,
        samples,
    })
}

/// The sample duration ffmpeg takes a track's `r_frame_rate` from: the only one, or the first of
/// two when the second is a single last sample.
fn single_sample_duration(deltas: &[(u32, u32)]) -> Option<u32> {
    match deltas {
        [(_, d)] | [(_, d), (1, _)] => Some(*d),
        _ => None,
    }
}

/// The first video track of the movie header.
fn video_track(moov: &[u8]) -> Option<VideoTrack> {
    children(moov)
        .filter(|(kind, _)| kind == b"trak")
        .find_map(|(_, trak)| {
            let tables = track_tables(trak)?;
            (&tables.handler == b"vide").then_some(())?;
            let (format, entry) = children(child(tables.stbl, b"stsd")?.get(8..)?).next()?;
            Some(VideoTrack {
                format,
                width: u16_at(entry, 24)?,
                height: u16_at(entry, 26)?,
                timescale: tables.timescale,
                samples: tables.samples,
                frame_ticks: single_sample_duration(&tables.deltas),
                config: children(entry.get(78..)?)
                    .find(|(kind, _)| [b"avcC", b"hvcC", b"av1C", b"vpcC"].contains(&kind))
                    .map(|(kind, payload)| (kind, payload.to_vec())),
            })
        })
}

/// An H.264 parameter set's bits, read MSB first, emulation prevention bytes removed.
struct Bits {
    bytes: Vec<u8>,
    at: usize,
}

impl Bits {
    fn new(nal: &[u8]) -> Bits {
        let mut bytes = Vec::with_capacity(nal.len());
        for &b in nal {
            if b == 3 && bytes.ends_with(&[0, 0]) {
                continue;
            }
            bytes.push(b);
        }
        Bits { bytes, at: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = self.bytes.get(self.at / 8)?;
        let bit = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(bit))
    }

    /// An unsigned Exp-Golomb number.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut value = 0u32;
        for _ in 0..zeros {
            value = (value << 1) | self.bit()?;
        }
        Some((1u32 << zeros) - 1 + value)
    }
}

/// `(profile, chroma format, bit depth)` of an `avcC` record, from its first sequence parameter
/// set; profile names as ffmpeg's h264 decoder gives them.
fn h264_facts(avcc: &[u8]) -> Option<(&'static str, u32, u32)> {
    let length = u16_at(avcc, 6)? as usize;
    let sps = avcc.get(8..8 + length)?;
    let (profile_idc, flags) = (*sps.get(1)?, *sps.get(2)?);
    let (constrained, intra) = (flags & 0x40 != 0, flags & 0x10 != 0);
    let profile = match (profile_idc, constrained, intra) {
        (66, true, _) => "Constrained Baseline",
        (66, false, _) => "Baseline",
        (77, ..) => "Main",
        (88, ..) => "Extended",
        (100, ..) => "High",
        (110, _, false) => "High 10",
        (110, _, true) => "High 10 Intra",
        (122, _, false) => "High 4:2:2",
        (122, _, true) => "High 4:2:2 Intra",
        (244, _, false) => "High 4:4:4 Predictive",
        (244, _, true) => "High 4:4:4 Intra",
        (44, ..) => "CAVLC 4:4:4",
        _ => return None,
    };
    let mut bits = Bits::new(sps.get(4..)?);
    bits.ue()?; // seq_parameter_set_id
    if [100, 110, 122, 244, 44].contains(&profile_idc) {
        let chroma = bits.ue()?;
        if chroma == 3 {
            bits.bit()?; // separate_colour_plane_flag
        }
        let depth = bits.ue()? + 8;
        (bits.ue()? + 8 == depth).then_some((profile, chroma, depth))
    } else {
        Some((profile, 1, 8))
    }
}

/// ffmpeg's codec name, profile name, chroma format (0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4)
/// and bit depth of a track, from its codec configuration record.
fn codec_facts(track: &VideoTrack) -> Option<(&'static str, String, u32, u32)> {
    let (kind, config) = track.config.as_ref()?;
    match (&track.format, kind) {
        (b"avc1" | b"avc3", b"avcC") => {
            let (profile, chroma, depth) = h264_facts(config)?;
            Some(("h264", profile.to_string(), chroma, depth))
        }
        (b"hvc1" | b"hev1", b"hvcC") => {
            let profile = match config.get(1)? & 0x1f {
                1 => "Main",
                2 => "Main 10",
                3 => "Main Still Picture",
                4 => "Rext",
                _ => return None,
            };
            let (chroma, depth) = (
                u32::from(config.get(16)? & 3),
                u32::from(config.get(17)? & 7) + 8,
            );
            Some(("hevc", profile.to_string(), chroma, depth))
        }
        (b"av01", b"av1C") => {
            let profile = ["Main", "High", "Professional"].get(usize::from(config.get(1)? >> 5))?;
            let flags = config.get(2)?;
            let depth = match (flags & 0x40 != 0, flags & 0x20 != 0) {
                (false, _) => 8,
                (true, false) => 10,
                (true, true) => 12,
            };
            let chroma = match (flags & 0x10 != 0, flags & 0x08 != 0, flags & 0x04 != 0) {
                (true, ..) => 0,
                (false, true, true) => 1,
                (false, true, false) => 2,
                (false, false, false) => 3,
                _ => return None,
            };
            Some(("av1", profile.to_string(), chroma, depth))
        }
        (b"vp09", b"vpcC") => {
            // A full box: version and flags first. Matrix 0 is RGB, which has its own formats.
            let (profile, packed, matrix) = (*config.get(4)?, *config.get(6)?, *config.get(9)?);
            let chroma = match (packed >> 1) & 7 {
                0 | 1 => 1,
                2 => 2,
                3 => 3,
                _ => return None,
            };
            (matrix != 0 && profile <= 3).then_some(())?;
            Some((
                "vp9",
                format!("Profile {profile}"),
                chroma,
                u32::from(packed >> 4),
            ))
        }
        _ => None,
    }
}

/// The pixel format name ffmpeg's decoders give a chroma format and bit depth, without the
/// range: `yuv420p`, `yuv444p10le`, `gray`.
fn pixel_format(chroma: u32, depth: u32) -> Option<String> {
    let layout = ["gray", "yuv420p", "yuv422p", "yuv444p"].get(chroma as usize)?;
    match depth {
        8 => Some(layout.to_string()),
        10 | 12 => Some(format!("{layout}{depth}le")),
        _ => None,
    }
}

/// A rendered chunk's frame count and stream facts, read from its mp4/mov index, as ffprobe
/// would report them (`probe::chunk_facts_by_ffprobe`). `pix_fmt` is the one the chunk was
/// encoded to: it is the answer when the stream's chroma format and bit depth are its own, and
/// its range (`yuvj…`) is taken from it. `None` where the file is not an mp4/mov this reader
/// knows to the last detail.
pub fn chunk_facts(path: &Path, pix_fmt: &str) -> Option<(u64, StreamFacts)> {
    let track = video_track(&read_movie_header(path)?)?;
    let (codec, profile, chroma, depth) = codec_facts(&track)?;
    (pixel_format(chroma, depth)? == pix_fmt.replacen("yuvj", "yuv", 1)).then_some(())?;
    let (ticks, timescale) = (u64::from(track.frame_ticks?), u64::from(track.timescale));
    let common = super::mux::gcd(timescale, ticks);
    (ticks > 0).then_some(())?;
    // Only the H.264 decoder names a full-range stream `yuvj…`; the others say `yuv…`.
    let pix_fmt = match codec {
        "h264" => pix_fmt.to_string(),
        _ => pix_fmt.replacen("yuvj", "yuv", 1),
    };
    let facts = StreamFacts {
        codec: codec.to_string(),
        profile,
        pix_fmt,
        width: track.width,
        height: track.height,
        frame_rate: format!("{}/{}", timescale / common, ticks / common),
        time_base: format!("1/{}", track.timescale),
    };
    Some((track.samples, facts))
}

/// One edit of an `elst` box: its duration in movie ticks, the media time it starts at (`-1`
/// for an empty edit) and whether it plays at normal speed.
struct Edit {
    duration: u64,
    media_time: i64,
    normal_rate: bool,
}

/// The edits of an `elst` box.
fn edits(elst: &[u8]) -> Option<Vec<Edit>> {
    let (version, count) = (*elst.first()?, u32_at(elst, 4)? as usize);
    let size = if version == 1 { 20 } else { 12 };
    (0..count)
        .map(|i| {
            let entry = elst.get(8 + size * i..8 + size * (i + 1))?;
            let (duration, media_time, rate) = if version == 1 {
                (
                    u64::from_be_bytes(entry[..8].try_into().ok()?),
                    i64::from_be_bytes(entry[8..16].try_into().ok()?),
                    u32_at(entry, 16)?,
                )
            } else {
                (
                    u64::from(u32_at(entry, 0)?),
                    i64::from(u32_at(entry, 4)? as i32),
                    u32_at(entry, 8)?,
                )
            };
            Some(Edit {
                duration,
                media_time,
                normal_rate: rate == 0x0001_0000,
            })
        })
        .collect()
}

/// `(count, value)` runs of an `stts` or `ctts` table.
fn runs(table: &[u8]) -> Option<Vec<(u32, u32)>> {
    let count = u32_at(table, 4)? as usize;
    (0..count)
        .map(|i| Some((u32_at(table, 8 + 8 * i)?, u32_at(table, 12 + 8 * i)?)))
        .collect()
}

/// The sample rate of an AAC-LC `esds` box's decoder configuration; `None` for any other
/// MPEG-4 audio object (HE-AAC's SBR doubles the rate a decoder reports).
fn aac_lc_sample_rate(esds: &[u8]) -> Option<u32> {
    // A descriptor: a tag, a length in up to four 7-bit groups, the payload.
    fn descriptor(data: &[u8], tag: u8) -> Option<&[u8]> {
        (*data.first()? == tag).then_some(())?;
        let (mut length, mut at) = (0usize, 1);
        loop {
            let byte = *data.get(at)?;
            length = (length << 7) | usize::from(byte & 0x7f);
            at += 1;
            if byte & 0x80 == 0 || at == 5 {
                break;
            }
        }
        data.get(at..at + length)
    }
    let es = descriptor(esds.get(4..)?, 0x03)?;
    let flags = *es.get(2)?;
    let mut at = 3;
    if flags & 0x80 != 0 {
        at += 2;
    }
    if flags & 0x40 != 0 {
        at += 1 + usize::from(*es.get(at)?);
    }
    if flags & 0x20 != 0 {
        at += 2;
    }
    let config = descriptor(es.get(at..)?, 0x04)?;
    (*config.first()? == 0x40).then_some(())?;
    let specific = descriptor(config.get(13..)?, 0x05)?;
    let (first, second) = (*specific.first()?, *specific.get(1)?);
    (first >> 3 == 2).then_some(())?;
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    RATES
        .get(usize::from(((first & 7) << 1) | (second >> 7)))
        .copied()
}

/// The sample rate of an `mp4a` sample entry holding AAC-LC whose stated rate is `timescale`
/// (QuickTime sound descriptions of version 0 and 1, the `esds` box directly in the entry or in
/// its `wave` box).
fn aac_lc_entry_rate(entry: &[u8], timescale: u32) -> Option<u32> {
    let boxes = entry.get(
        match u16_at(entry, 8)? {
            0 => 28,
            1 => 44,
            _ => return None,
        }..,
    )?;
    let esds = child(boxes, b"esds").or_else(|| child(child(boxes, b"wave")?, b"esds"))?;
    let rate = aac_lc_sample_rate(esds)?;
    (rate == timescale && u32_at(entry, 24)? >> 16 == rate).then_some(rate)
}

/// `num/den` reduced, as ffmpeg reduces a rate; `None` where it does not fit.
fn reduced(num: u64, den: u64) -> Option<Rational> {
    let common = super::mux::gcd(num, den).max(1);
    let (num, den) = (num / common, den / common);
    let fits = |v: u64| (1..=i32::MAX as u64).contains(&v);
    (fits(num) && fits(den)).then_some(Rational {
        num: num as u32,
        den: den as u32,
    })
}

/// The timing of one track, as ffprobe reports it, where the track is a video track or AAC-LC
/// audio whose single edit shows every sample exactly once, from the first; `None` otherwise.
fn track_timing(trak: &[u8], movie_timescale: u32) -> Option<StreamTiming> {
    let TrackTables {
        handler,
        timescale,
        stbl,
        deltas,
        samples,
    } = track_tables(trak)?;
    let media_ticks = deltas.iter().try_fold(0u64, |total, &(n, d)| {
        total.checked_add(u64::from(n) * u64::from(d))
    })?;
    (samples > 0 && movie_timescale > 0).then_some(())?;
    let [edit] = edits(child(child(trak, b"edts")?, b"elst")?)?
        .try_into()
        .ok()?;
    let start = u64::try_from(edit.media_time).ok()?;
    // The edit's length in media ticks, exactly.
    let scaled = edit.duration.checked_mul(u64::from(timescale))?;
    (edit.normal_rate && scaled % u64::from(movie_timescale) == 0).then_some(())?;
    let shown = scaled / u64::from(movie_timescale);
    let (_, entry) = children(child(stbl, b"stsd")?.get(8..)?).next()?;
    let (kind, sample_rate, span) = match &handler {
        b"vide" => {
            // Presentation times: decode times shifted by the composition offsets.
            let offsets = match child(stbl, b"ctts") {
                Some(ctts) => runs(ctts)?,
                None => vec![(u32::try_from(samples).ok()?, 0)],
            };
            let mut decode = deltas
                .iter()
                .flat_map(|&(n, d)| std::iter::repeat_n(u64::from(d), n as usize))
                .scan(0i64, |dts, d| {
                    let at = *dts;
                    *dts += d as i64;
                    Some((at, d as i64))
                });
            let (mut first, mut end) = (i64::MAX, i64::MIN);
            for &(n, offset) in &offsets {
                for _ in 0..n {
                    let (dts, d) = decode.next()?;
                    let pts = dts + i64::from(offset as i32);
                    first = first.min(pts);
                    end = end.max(pts + d);
                }
            }
            (decode.next().is_none() && first == start as i64).then_some(())?;
            ("video", None, u64::try_from(end).ok()?)
        }
        b"soun" => (
            "audio",
            Some(aac_lc_entry_rate(entry, timescale)?),
            media_ticks,
        ),
        _ => return None,
    };
    (span.checked_sub(start)? == shown).then_some(())?;
    // ffmpeg's rules for video: a rate from a single sample duration (or one more for a last
    // sample), an average over every sample.
    let (r_frame_rate, avg_frame_rate) = if kind == "video" {
        let frame_ticks = single_sample_duration(&deltas)?;
        let timescale = u64::from(timescale);
        (
            Some(reduced(timescale, u64::from(frame_ticks))?),
            Some(reduced(timescale.checked_mul(samples)?, media_ticks)?),
        )
    } else {
        (None, None)
    };
    Some(StreamTiming {
        codec_type: kind.to_string(),
        start_time: 0.0,
        duration: shown as f64 / f64::from(timescale),
        sample_rate,
        frames: samples,
        r_frame_rate,
        avg_frame_rate,
    })
}

/// Every stream's timing in an mp4/mov/m4a file, as ffprobe reports it from the index
/// (`probe::stream_timings_by_ffprobe` without counting packets), for the files vre writes: video
/// tracks and AAC-LC audio, each with one edit that shows every sample. `None` for anything
/// else, a track of another kind among them.
pub fn stream_timings(path: &Path) -> Option<Vec<StreamTiming>> {
    let moov = read_movie_header(path)?;
    let movie_timescale = timescale(child(&moov, b"mvhd")?)?;
    let timings: Vec<StreamTiming> = children(&moov)
        .filter(|(kind, _)| kind == b"trak")
        .map(|(_, trak)| track_timing(trak, movie_timescale))
        .collect::<Option<_>>()?;
    (!timings.is_empty()).then_some(timings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn boxes_are_walked_by_their_sizes_and_a_short_one_ends_the_walk() {
        let mut data = boxed(b"free", &[1, 2, 3]);
        data.extend(boxed(b"moov", &boxed(b"trak", &[])));
        let kinds: Vec<[u8; 4]> = children(&data).map(|(k, _)| k).collect();
        assert_eq!(kinds, vec![*b"free", *b"moov"]);
        data.extend([0, 0, 0, 99, b'x', b'x', b'x', b'x']);
        assert_eq!(children(&data).count(), 2);
    }

    #[test]
    fn exp_golomb_numbers_skip_emulation_prevention_bytes() {
        // 1 → 0, 010 → 1, 011 → 2, 00100 → 3; then a 00 00 03 01 run whose 03 is dropped.
        let mut bits = Bits::new(&[0b1010_0110, 0b0100_0000, 0, 0, 3, 1]);
        assert_eq!(
            (bits.ue(), bits.ue(), bits.ue(), bits.ue()),
            (Some(0), Some(1), Some(2), Some(3))
        );
        assert_eq!(bits.bytes.len(), 5);
    }

    #[test]
    fn pixel_formats_are_named_as_ffmpeg_names_them() {
        assert_eq!(pixel_format(1, 8).as_deref(), Some("yuv420p"));
        assert_eq!(pixel_format(3, 10).as_deref(), Some("yuv444p10le"));
        assert_eq!(pixel_format(0, 8).as_deref(), Some("gray"));
        assert_eq!(pixel_format(1, 9), None);
    }
}
