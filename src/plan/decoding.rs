//! What the decoder makes of the input's video, learnt at plan time: changes of the frame size,
//! the frames it cannot produce (leading frames of an open GOP cut mid-stream, a damaged
//! keyframe, a corrupt packet) and the keyframes a chunk cannot start decoding at (a damaged
//! keyframe the decoder conceals from the frames before it: decoding from it alone gives other
//! pixels than the serial decode).
//!
//! The packet scan lists packets, not decodable frames, so it is read for signs: a first frame
//! that is not a keyframe, a transport or program stream or FLV (broadcast and capture, where
//! sizes change in-band and reception damages packets), VP8, VP9 or AV1 (which change size at
//! any keyframe), packets that bring the decoder new parameters. Only where one shows, a cheap
//! pass decodes the keyframes alone (a few frames a second): it gives the frame size at every
//! keyframe, where sizes change for the codecs that have keyframes, and it shows trouble — the
//! decoder complains, a keyframe gives no frame, or the first frame is not a keyframe. Only then
//! is the whole video decoded, twice at once: every frame, as the serial command decodes it, and
//! every keyframe alone; the frames the first pass gives become the frame index, and a keyframe
//! is a place to start decoding only where both passes give it the same pixels. Intra-only
//! streams (every frame a keyframe) would need a full decode for the cheap pass, and damage
//! that shows no sign is found only by decoding everything: both on request
//! (`--check-decoding`).

use crate::ffmpeg::probe::{self, DecodedFrame, ProbeError};
use crate::plandir::frameindex::FrameIndex;
use crate::plandir::schema::SizeChange;
use std::path::Path;

/// What decoding the input taught.
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    /// The frame index: the packet scan's, or, after a full decode, the frames the decoder
    /// produced, keyframes only where a chunk can start decoding.
    pub index: FrameIndex,
    /// The size of the first frame, where a pass decoded it.
    pub first_size: Option<(u32, u32)>,
    /// Where the frame size changes, in display order.
    pub size_changes: Vec<SizeChange>,
    /// Why the whole video was decoded, if it was.
    pub full_decode: Option<String>,
    /// Timestamps of the packet scan's frames the decoder did not produce (full decode only).
    pub dropped: Vec<i64>,
    /// Timestamps of keyframes a chunk cannot start decoding at (full decode only).
    pub damaged_keyframes: Vec<i64>,
}

/// What the keyframe pass gave: the keyframes decoded alone and the decoder's complaints.
pub type KeyframePass = Result<(Vec<DecodedFrame>, Vec<String>), ProbeError>;

/// Whether the file's first bytes are those of an MPEG transport stream (188- or 192-byte
/// packets), a program stream or FLV: containers whose packets are a sign to look at the
/// keyframes ([`signs`]). The keyframe pass of such a file can start with its packet scan
/// instead of after it.
pub fn starts_like_a_stream_to_look_at(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 400];
    let read = std::fs::File::open(path).and_then(|mut f| {
        let mut filled = 0;
        while filled < head.len() {
            match f.read(&mut head[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        Ok(filled)
    });
    let Ok(read) = read else {
        return false;
    };
    let sync_every = |offset: usize, size: usize| {
        (0..3)
            .map(|k| offset + k * size)
            .all(|at| at < read && head[at] == 0x47)
    };
    sync_every(0, 188)
        || sync_every(4, 192)
        || head[..read].starts_with(&[0, 0, 1, 0xBA])
        || head[..read].starts_with(b"FLV")
}

/// How closely to look at what the decoder makes of the video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// The packets show no sign of change or damage: trust the packet scan.
    Not,
    /// The packets show a sign (the reason): decode the keyframes alone.
    Keyframes(String),
    /// Decode the whole video (`--check-decoding`).
    Everything,
}

/// What in the packet scan calls for a look at the decoder's output (see the module's
/// documentation), for video stream `video` of a file whose scan is `scanned` and frame index
/// `index`; `None` when nothing does.
pub fn signs(
    scanned: &probe::Scanned,
    video: &probe::VideoInfo,
    index: &FrameIndex,
) -> Option<String> {
    if index.key.first() == Some(&false) {
        return Some("its first frame is not a keyframe".to_string());
    }
    let container = scanned
        .info
        .format_name
        .split(',')
        .find(|f| matches!(*f, "mpegts" | "mpeg" | "flv"));
    if let Some(container) = container {
        return Some(format!("a {container} stream"));
    }
    if matches!(video.codec.as_str(), "vp8" | "vp9" | "av1") {
        return Some(format!("{} video", video.codec));
    }
    scanned
        .changes_parameters(video.stream_index)
        .then(|| "its packets bring the decoder new parameters".to_string())
}

/// Learns what the decoder makes of video stream `stream` of `path`, whose packet scan gave
/// `index`, looking as closely as `look` says; `early` is the keyframe pass of that stream, where
/// it already ran.
pub fn learn(
    path: &Path,
    stream: usize,
    index: FrameIndex,
    look: Look,
    early: Option<KeyframePass>,
) -> Result<Findings, ProbeError> {
    let intra_only = index.key.iter().all(|&k| k);
    let mut findings = Findings {
        index,
        first_size: None,
        size_changes: Vec::new(),
        full_decode: (look == Look::Everything)
            .then(|| "--check-decoding asked for it".to_string()),
        dropped: Vec::new(),
        damaged_keyframes: Vec::new(),
    };
    if let (Look::Keyframes(sign), false) = (&look, intra_only) {
        let (keyframes, complaints) = match early {
            Some(pass) => pass?,
            None => probe::decoded_keyframes(path, Some(stream))?,
        };
        findings.full_decode =
            trouble(&findings.index, &keyframes, &complaints).map(|t| format!("{sign}; {t}"));
        let mut keyframes = keyframes;
        keyframes.sort_by_key(|f| f.pts);
        let (first_size, changes) = size_runs(&findings.index, &keyframes);
        findings.first_size = first_size;
        findings.size_changes = changes;
    }
    if findings.full_decode.is_some() {
        let (all, alone) = std::thread::scope(|scope| {
            let alone = scope.spawn(|| match intra_only {
                true => Ok(Vec::new()),
                false => probe::decoded_frames(path, stream, true),
            });
            let all = probe::decoded_frames(path, stream, false);
            (all, alone.join().expect("the keyframe pass does not panic"))
        });
        let (mut all, mut alone) = (all?, alone?);
        all.sort_by_key(|f| f.pts);
        all.dedup_by_key(|f| f.pts);
        alone.sort_by_key(|f| f.pts);
        let packets = &findings.index;
        findings.dropped = packets
            .pts
            .iter()
            .filter(|&&p| all.binary_search_by_key(&p, |f| f.pts).is_err())
            .copied()
            .collect();
        let same_alone = |frame: &DecodedFrame| {
            intra_only
                || alone
                    .binary_search_by_key(&frame.pts, |f| f.pts)
                    .is_ok_and(|k| alone[k].checksum == frame.checksum)
        };
        let packet_key = |pts: i64| {
            packets
                .pts
                .binary_search(&pts)
                .is_ok_and(|k| packets.key[k])
        };
        findings.damaged_keyframes = all
            .iter()
            .filter(|f| packet_key(f.pts) && !same_alone(f))
            .map(|f| f.pts)
            .collect();
        let decoded = FrameIndex {
            time_base: packets.time_base,
            pts: all.iter().map(|f| f.pts).collect(),
            key: all
                .iter()
                .map(|f| packet_key(f.pts) && same_alone(f))
                .collect(),
        };
        let (first_size, changes) = size_runs(&decoded, &all);
        findings.first_size = first_size;
        findings.size_changes = changes;
        findings.index = decoded;
    }
    Ok(findings)
}

/// Why the cheap pass calls for a full decode: the decoder complained, the first frame is not a
/// keyframe (leading frames of an open GOP, or a file cut mid-stream), or a keyframe gave no
/// frame. `None` when nothing shows.
fn trouble(
    index: &FrameIndex,
    keyframes: &[DecodedFrame],
    complaints: &[String],
) -> Option<String> {
    if let Some(first) = complaints.first() {
        return Some(format!(
            "decoding its keyframes, the decoder reports: {first}"
        ));
    }
    if index.key.first() == Some(&false) {
        return Some(format!(
            "its first frame (at {:.3} s) is not a keyframe",
            index.time_of(0)
        ));
    }
    let decoded: Vec<i64> = keyframes.iter().map(|f| f.pts).collect();
    index
        .keyframes()
        .find(|&k| !decoded.contains(&index.pts[k]))
        .map(|k| format!("its keyframe at {:.3} s gives no frame", index.time_of(k)))
}

/// The size of the first frame and every change of size among `frames` (sorted by timestamp),
/// placed at the frame of `index` each starts at.
fn size_runs(index: &FrameIndex, frames: &[DecodedFrame]) -> (Option<(u32, u32)>, Vec<SizeChange>) {
    let first = frames.first().map(|f| (f.width, f.height));
    let mut changes = Vec::new();
    for pair in frames.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        if (before.width, before.height) != (after.width, after.height) {
            changes.push(SizeChange {
                frame: index.pts.partition_point(|&p| p < after.pts) as u64,
                width: after.width,
                height: after.height,
            });
        }
    }
    (first, changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plandir::schema::Rational;

    fn frame(pts: i64, (width, height): (u32, u32)) -> DecodedFrame {
        DecodedFrame {
            pts,
            key: true,
            width,
            height,
            checksum: None,
        }
    }

    fn index(pts: &[i64], keys: &[usize]) -> FrameIndex {
        FrameIndex {
            time_base: Rational { num: 1, den: 25 },
            pts: pts.to_vec(),
            key: (0..pts.len()).map(|k| keys.contains(&k)).collect(),
        }
    }

    #[test]
    fn transport_and_program_streams_and_flv_are_known_by_their_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: Vec<u8>| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            starts_like_a_stream_to_look_at(&path)
        };
        let packets = |size: usize, offset: usize| {
            let mut bytes = vec![0u8; 3 * size];
            for k in 0..3 {
                bytes[offset + k * size] = 0x47;
            }
            bytes
        };
        assert!(file("a.ts", packets(188, 0)));
        assert!(file("a.m2ts", packets(192, 4)));
        assert!(file("a.mpg", vec![0, 0, 1, 0xBA, 0x44]));
        assert!(file("a.flv", b"FLV\x01".to_vec()));
        assert!(!file("a.mp4", b"\0\0\0\x20ftypisom".to_vec()));
        assert!(
            !file("short.ts", vec![0x47; 10]),
            "one sync byte is not a stream"
        );
        assert!(!starts_like_a_stream_to_look_at(
            &dir.path().join("missing")
        ));
    }

    #[test]
    fn size_changes_are_placed_at_the_frame_they_start_at() {
        let idx = index(&[0, 1, 2, 3, 4, 5, 6, 7], &[0, 3, 6]);
        let keys = [
            frame(0, (320, 240)),
            frame(3, (640, 480)),
            frame(6, (640, 480)),
        ];
        let (first, changes) = size_runs(&idx, &keys);
        assert_eq!(first, Some((320, 240)));
        assert_eq!(
            changes,
            vec![SizeChange {
                frame: 3,
                width: 640,
                height: 480
            }]
        );
        let back = [
            frame(0, (320, 240)),
            frame(3, (640, 480)),
            frame(6, (320, 240)),
        ];
        assert_eq!(size_runs(&idx, &back).1.len(), 2);
    }

    #[test]
    fn trouble_shows_in_complaints_a_first_frame_that_is_not_key_and_a_keyframe_without_frame() {
        let idx = index(&[0, 1, 2, 3], &[0, 2]);
        let keys = [frame(0, (8, 8)), frame(2, (8, 8))];
        assert_eq!(trouble(&idx, &keys, &[]), None);
        let said = trouble(
            &idx,
            &keys,
            &["[h264] error while decoding MB 0 3".to_string()],
        );
        assert!(said.unwrap().contains("error while decoding MB"));
        assert!(trouble(&idx, &keys[..1], &[])
            .unwrap()
            .contains("0.080 s gives no frame"));
        let cut = index(&[0, 1, 2, 3], &[2]);
        assert!(trouble(&cut, &keys[1..], &[])
            .unwrap()
            .contains("not a keyframe"));
    }
}
