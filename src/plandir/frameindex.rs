//! The frame index: every frame of the input's first video stream in display order, with its
//! exact presentation timestamp (integer ticks of the stream's time base) and whether it is a
//! keyframe. Made once at plan time from a demux-only packet scan, stored in the planDir as
//! `index.bin` (its blake3 is in `plan.json`, so the plan hash covers it), and used by every
//! chunk to seek between two real frames and to prove afterwards that it rendered exactly its
//! frames. Stored timestamps are never assumed to be multiples of the frame duration.
//!
//! `index.bin` is `VREIDX1\n`, the time base (two little-endian u32), the frame count (u64 LE),
//! then one LEB128 varint per frame: the zigzagged difference to the previous frame's timestamp,
//! shifted left by one, with the keyframe flag in the lowest bit. A 30 fps stream costs about two
//! bytes per frame.

use crate::plandir::schema::{IndexRecord, Rational};

/// The magic bytes that start `index.bin`.
const MAGIC: &[u8; 8] = b"VREIDX1\n";

/// The most frames a decoder may hold back for reordering (H.264's and HEVC's largest picture
/// buffer): a keyframe's decoding time is never earlier than this many frames before it.
pub const REORDER_DEPTH: usize = 16;

/// The frames of one video stream, in display order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameIndex {
    /// Time base of the timestamps (the stream's own).
    pub time_base: Rational,
    /// Presentation timestamp of every frame, ticks of `time_base`, non-decreasing.
    pub pts: Vec<i64>,
    /// Whether each frame is a keyframe (a point where decoding can start).
    pub key: Vec<bool>,
}

/// One demuxed packet as the packet scan reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannedPacket {
    /// Presentation timestamp, if the container stores one.
    pub pts: Option<i64>,
    /// Decoding timestamp, if the container stores one.
    pub dts: Option<i64>,
    /// Whether the packet is a keyframe.
    pub key: bool,
    /// Whether the demuxer marks it to be decoded but not shown (cut by an edit list).
    pub discard: bool,
}

impl ScannedPacket {
    /// A packet with ffprobe's flags string: `K` first for a keyframe, `D` second for a packet
    /// to decode but not show.
    pub fn with_flags(pts: Option<i64>, dts: Option<i64>, flags: &str) -> ScannedPacket {
        let flags = flags.as_bytes();
        ScannedPacket {
            pts,
            dts,
            key: flags.first() == Some(&b'K'),
            discard: flags.get(1) == Some(&b'D'),
        }
    }
}

impl FrameIndex {
    /// The record of this index for `plan.json`, given its encoded bytes.
    pub fn record(&self, encoded: &[u8]) -> IndexRecord {
        IndexRecord {
            frames: self.len() as u64,
            time_base: self.time_base,
            bytes: encoded.len() as u64,
            blake3: blake3::hash(encoded).to_hex().to_string(),
        }
    }

    /// Builds the index from demuxed packets. A packet without a pts gets its dts instead, which
    /// is what ffmpeg's best-effort timestamp falls back to; a packet with neither carries no
    /// frame time, and one an edit list cuts is never shown: both are left out.
    pub fn from_packets(time_base: Rational, packets: &[ScannedPacket]) -> FrameIndex {
        let mut frames: Vec<(i64, bool)> = packets
            .iter()
            .filter(|p| !p.discard)
            .filter_map(|p| p.pts.or(p.dts).map(|t| (t, p.key)))
            .collect();
        frames.sort_by_key(|&(t, _)| t);
        FrameIndex {
            time_base,
            pts: frames.iter().map(|&(t, _)| t).collect(),
            key: frames.iter().map(|&(_, k)| k).collect(),
        }
    }

    /// The index of a constant-rate stream of `frames` frames in a `1/rate` time base, every
    /// frame a keyframe (for synthetic planDirs in tests and benchmarks).
    pub fn constant_rate(rate: Rational, frames: u64) -> FrameIndex {
        FrameIndex {
            time_base: Rational {
                num: rate.den,
                den: rate.num,
            },
            pts: (0..frames as i64).collect(),
            key: vec![true; frames as usize],
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.pts.len()
    }

    /// Whether the stream has no frames.
    pub fn is_empty(&self) -> bool {
        self.pts.is_empty()
    }

    /// Seconds of `ticks` in this index's time base.
    pub fn seconds(&self, ticks: i64) -> f64 {
        ticks as f64 * f64::from(self.time_base.num) / f64::from(self.time_base.den)
    }

    /// The presentation time of frame `frame`, seconds.
    pub fn time_of(&self, frame: usize) -> f64 {
        self.seconds(self.pts[frame])
    }

    /// The frames that are keyframes, by position.
    pub fn keyframes(&self) -> impl Iterator<Item = usize> + '_ {
        self.key
            .iter()
            .enumerate()
            .filter(|(_, &k)| k)
            .map(|(i, _)| i)
    }

    /// A time, in whole microseconds, strictly after frame `frame - 1` and at or before frame
    /// `frame` (three quarters of the way from one to the other): an accurate seek there starts
    /// exactly at `frame`, however the container rounded or truncated its timestamps, and stays
    /// so when ffmpeg rounds the time back to the stream's time base. `None` for frame 0.
    pub fn seek_micros_before(&self, frame: usize) -> Option<i64> {
        if frame == 0 {
            return None;
        }
        Some(self.quarter_micros(i128::from(self.pts[frame - 1]) + 3 * i128::from(self.pts[frame])))
    }

    /// A time, in whole microseconds, after keyframe `keyframe` and before the frame after it (a
    /// quarter of the way), for a seek without ffmpeg's own cut that lands on `keyframe` itself
    /// rather than on the keyframe before it. `None` when that is not safe: for frame 0, the last
    /// frame, or when another keyframe follows within [`REORDER_DEPTH`] frames (the demuxer may
    /// index it by a decoding time early enough to land there instead).
    pub fn seek_micros_into(&self, keyframe: usize) -> Option<i64> {
        if keyframe == 0 || keyframe + 1 >= self.len() {
            return None;
        }
        let next_key = (keyframe + 1..self.len()).find(|&k| self.key[k]);
        if next_key.is_some_and(|k| k - keyframe <= REORDER_DEPTH) {
            return None;
        }
        Some(self.quarter_micros(
            3 * i128::from(self.pts[keyframe]) + i128::from(self.pts[keyframe + 1]),
        ))
    }

    /// Whole microseconds of a time given in quarter ticks of the time base (a weighted sum of
    /// two neighbouring frames' timestamps, the weights adding up to 4).
    fn quarter_micros(&self, quarter_ticks: i128) -> i64 {
        let micros = quarter_ticks * 1_000_000 * i128::from(self.time_base.num)
            / (4 * i128::from(self.time_base.den));
        micros as i64
    }

    /// The last keyframe at or before frame `frame` (frame 0 if there is none): where decoding
    /// must start for `frame` to decode whole.
    pub fn keyframe_at_or_before(&self, frame: usize) -> usize {
        (0..=frame.min(self.len().saturating_sub(1)))
            .rev()
            .find(|&k| self.key[k])
            .unwrap_or(0)
    }

    /// Serialises the index into the `index.bin` form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.pts.len() * 2);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.time_base.num.to_le_bytes());
        out.extend_from_slice(&self.time_base.den.to_le_bytes());
        out.extend_from_slice(&(self.pts.len() as u64).to_le_bytes());
        let mut previous = 0i64;
        for (&pts, &key) in self.pts.iter().zip(&self.key) {
            let delta = pts.wrapping_sub(previous);
            let zigzag = ((delta << 1) ^ (delta >> 63)) as u64;
            write_varint(&mut out, u128::from(zigzag) << 1 | u128::from(key));
            previous = pts;
        }
        out
    }

    /// Reads the `index.bin` form; `Err` says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<FrameIndex, String> {
        let header = bytes
            .get(..24)
            .filter(|h| h.starts_with(MAGIC))
            .ok_or("it does not start with the index header")?;
        let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let time_base = Rational {
            num: word(8),
            den: word(12),
        };
        if time_base.num == 0 || time_base.den == 0 {
            return Err("its time base is zero".to_string());
        }
        let count = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
        let mut rest = &bytes[24..];
        // Every frame takes at least one byte: a count larger than that is damage, not a
        // reason to allocate.
        if count > rest.len() as u64 {
            return Err(format!("it claims {count} frames in {} bytes", rest.len()));
        }
        let mut pts = Vec::with_capacity(count as usize);
        let mut key = Vec::with_capacity(count as usize);
        let mut previous = 0i64;
        for n in 0..count {
            let value = read_varint(&mut rest).ok_or_else(|| format!("frame {n} is cut off"))?;
            let zigzag = (value >> 1) as u64;
            let delta = (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64);
            previous = previous.wrapping_add(delta);
            pts.push(previous);
            key.push(value & 1 == 1);
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes follow the last frame", rest.len()));
        }
        if pts.windows(2).any(|w| w[1] < w[0]) {
            return Err("its timestamps are not in display order".to_string());
        }
        Ok(FrameIndex {
            time_base,
            pts,
            key,
        })
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u128) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(bytes: &mut &[u8]) -> Option<u128> {
    let mut value = 0u128;
    for shift in (0..).step_by(7).take(10) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u128::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(pts: &[i64]) -> FrameIndex {
        FrameIndex {
            time_base: Rational { num: 1, den: 1000 },
            pts: pts.to_vec(),
            key: pts.iter().enumerate().map(|(i, _)| i % 3 == 0).collect(),
        }
    }

    #[test]
    fn seeks_into_a_keyframe_only_where_no_other_keyframe_is_near() {
        // 30 fps in milliseconds (33 or 34 ms apart), keyframes every 60 frames.
        let pts: Vec<i64> = (0..180).map(|i| i * 1000 / 30).collect();
        let mut index = ms(&pts);
        index.key = (0..180).map(|i| i % 60 == 0).collect();
        let micros = index.seek_micros_into(60).unwrap();
        assert!(
            micros > pts[60] * 1000 && micros < pts[61] * 1000,
            "{micros}"
        );
        assert_eq!(index.seek_micros_into(0), None, "frame 0 needs no seek");
        assert_eq!(index.seek_micros_into(179), None, "no frame after the last");
        // Every third frame a keyframe (the helper's pattern): the next one is too near.
        let dense = ms(&pts);
        assert_eq!(dense.seek_micros_into(60), None);
        // With no keyframe after it, a seek into the keyframe is safe.
        index.key[120] = false;
        assert!(index.seek_micros_into(60).is_some());
    }

    #[test]
    fn round_trips_through_its_file_form() {
        let index = ms(&[-42, 0, 66, 133, 199, 267, 100_000_000_000]);
        assert_eq!(FrameIndex::decode(&index.encode()).unwrap(), index);
        let empty = ms(&[]);
        assert_eq!(FrameIndex::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn damage_is_refused_not_misread() {
        let bytes = ms(&[0, 66, 133]).encode();
        assert!(FrameIndex::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(FrameIndex::decode(&bytes[1..]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(FrameIndex::decode(&longer).is_err());
        let mut huge = bytes;
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(FrameIndex::decode(&huge).is_err());
    }

    #[test]
    fn seeks_land_between_truncated_timestamps() {
        // 15 fps stored in truncated milliseconds: frame 3 at 199 ms, not 200 ms.
        let index = ms(&[0, 66, 133, 199, 266]);
        assert_eq!(index.seek_micros_before(0), None);
        assert_eq!(index.seek_micros_before(3), Some(182_500));
        let seek = index.seek_micros_before(4).unwrap();
        assert!(seek > 199_000 && seek <= 266_000);
        // A coarse time base: ffmpeg rounds the seek to the nearest tick, which must be frame 2.
        let coarse = FrameIndex {
            time_base: Rational { num: 1, den: 15 },
            pts: vec![0, 1, 2],
            key: vec![true, false, false],
        };
        let micros = coarse.seek_micros_before(2).unwrap();
        assert_eq!((micros as f64 * 15e-6).round(), 2.0);
    }

    #[test]
    fn decoding_starts_at_the_keyframe_before() {
        let index = ms(&[0, 66, 133, 199, 266]);
        assert_eq!(index.keyframe_at_or_before(2), 0);
        assert_eq!(index.keyframe_at_or_before(3), 3);
        assert_eq!(index.keyframe_at_or_before(4), 3);
    }

    fn packet(pts: Option<i64>, dts: Option<i64>, key: bool, discard: bool) -> ScannedPacket {
        ScannedPacket {
            pts,
            dts,
            key,
            discard,
        }
    }

    #[test]
    fn missing_pts_fall_back_to_dts_cut_frames_drop_and_order_is_display_order() {
        let tb = Rational { num: 1, den: 25 };
        let packets = [
            packet(None, Some(0), true, false),
            packet(Some(3), Some(1), false, false),
            packet(None, Some(2), false, false),
            packet(None, None, false, false),
            packet(Some(-1), Some(-1), false, true),
        ];
        let index = FrameIndex::from_packets(tb, &packets);
        assert_eq!(index.pts, vec![0, 2, 3]);
        assert_eq!(index.key, vec![true, false, false]);
    }

    #[test]
    fn packet_flags_tell_keyframes_and_discarded_packets() {
        assert_eq!(
            ScannedPacket::with_flags(None, Some(4), "K__"),
            packet(None, Some(4), true, false)
        );
        assert_eq!(
            ScannedPacket::with_flags(Some(1001), None, "__"),
            packet(Some(1001), None, false, false)
        );
        assert_eq!(
            ScannedPacket::with_flags(Some(-1024), Some(-1024), "KD"),
            packet(Some(-1024), Some(-1024), true, true)
        );
        assert_eq!(
            ScannedPacket::with_flags(None, None, ""),
            packet(None, None, false, false)
        );
    }
}
