//! Cutting the output range into chunks: evenly, at source keyframes, or at scene cuts. Every
//! chunk records why it starts where it does.

use crate::plandir::schema::{Chunk, Rational};

/// The default chunk length without a preroll, in seconds.
pub const DEFAULT_CHUNK_SECONDS: f64 = 10.0;

/// Prerolls in a default chunk at least: the preroll every chunk but the first decodes then
/// costs at most a tenth of the work. A plan for local workers (`vre run -j N`) uses
/// [`LOCAL_CHUNK_PREROLLS`] instead; a plan whose chunks may go to any number of machines keeps
/// more, shorter chunks.
pub const CHUNK_PREROLLS: u64 = 10;

/// Prerolls in a default chunk at least where the workers are known: the preroll costs at most
/// 2 % of the work, and rounding the count up to the workers still keeps them all busy.
pub const LOCAL_CHUNK_PREROLLS: u64 = 50;

/// The default chunk length: about ten seconds of frames, long enough that the keyframe each
/// chunk starts with costs little, short enough that workers stay balanced; and at least
/// `prerolls` times `preroll` frames.
pub fn default_chunk_frames(rate: Rational, preroll: u64, prerolls: u64) -> u64 {
    rate.frames_in(DEFAULT_CHUNK_SECONDS)
        .max(preroll.saturating_mul(prerolls))
}

/// The number of chunks of about `target` frames that `[start, end)` needs: `ceil(total/target)`.
pub fn count_for_target(start: u64, end: u64, target: u64) -> u64 {
    end.saturating_sub(start).div_ceil(target.max(1))
}

/// The default chunk count for `[start, end)` rendered by `workers` workers: chunks of about
/// `target` frames, their number rounded up to a multiple of `workers` (3 chunks on 2 workers
/// take as long as 4 would), unless that makes them shorter than `shortest` frames.
pub fn count_for_workers(start: u64, end: u64, target: u64, workers: u64, shortest: u64) -> u64 {
    let count = count_for_target(start, end, target);
    let rounded = count.div_ceil(workers.max(1)) * workers.max(1);
    if end.saturating_sub(start) / rounded.max(1) >= shortest {
        rounded
    } else {
        count
    }
}

/// Turns chunk starts (strictly increasing, the first being `start`, all below `end`) into
/// chunks.
fn from_starts(starts: Vec<(u64, String)>, end: u64) -> Vec<Chunk> {
    let ends: Vec<u64> = starts
        .iter()
        .skip(1)
        .map(|(s, _)| *s)
        .chain([end])
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .enumerate()
        .map(|(index, ((start_frame, reason), end_frame))| Chunk {
            index: index as u32,
            start_frame,
            end_frame,
            reason,
        })
        .collect()
}

/// Even starts for `[start, end)` in `count` pieces whose lengths differ by at most one frame
/// (the longer ones first).
fn even_starts(start: u64, end: u64, count: u64) -> Vec<u64> {
    let total = end - start;
    let count = count.clamp(1, total);
    let (base, longer) = (total / count, total % count);
    let mut next = start;
    (0..count)
        .map(|i| {
            let here = next;
            next += base + u64::from(i < longer);
            here
        })
        .collect()
}

/// Cuts `[start, end)` into `count` chunks of equal work. Every chunk but the first also
/// decodes and filters `preroll` frames of history before its start, so the first is longer by
/// about that much and the rest differ by at most one frame; without a preroll all lengths
/// differ by at most one frame. `count` is clamped to `1..=end-start`, so no chunk is ever
/// empty.
pub fn even_chunks(start: u64, end: u64, count: u64, preroll: u64) -> Vec<Chunk> {
    if end <= start {
        return Vec::new();
    }
    let total = end - start;
    let count = count.clamp(1, total);
    // Equal work: the first chunk's frames equal every later chunk's frames plus its preroll.
    let first = (total + preroll * (count - 1))
        .div_ceil(count)
        .min(total - (count - 1));
    let first_reason = if count > 1 && first > total.div_ceil(count) {
        format!(
            "start of the range; longer, as the later chunks each also decode {preroll} preroll frames"
        )
    } else {
        "start of the range".to_string()
    };
    let mut starts = vec![(start, first_reason)];
    if count > 1 {
        starts.extend(
            even_starts(start + first, end, count - 1)
                .into_iter()
                .map(|s| (s, "even split".to_string())),
        );
    }
    from_starts(starts, end)
}

/// Chunks of about `target` frames whose starts are moved to the nearest source keyframe within
/// half a target of the even boundary (cheap seeks: decoding starts right at the chunk).
pub fn keyframe_chunks(start: u64, end: u64, target: u64, keyframes: &[u64]) -> Vec<Chunk> {
    if end <= start {
        return Vec::new();
    }
    let target = target.max(1);
    let tolerance = target / 2;
    let mut starts = vec![(start, "start of the range".to_string())];
    let mut ideal = start + target;
    while ideal < end {
        let last = starts.last().map_or(start, |(s, _)| *s);
        let nearest = keyframes
            .iter()
            .copied()
            .filter(|&k| k > last && k < end && k.abs_diff(ideal) <= tolerance)
            .min_by_key(|&k| k.abs_diff(ideal));
        let (boundary, reason) = match nearest {
            Some(k) => (
                k,
                format!("source keyframe at frame {k} (even boundary {ideal})"),
            ),
            None => (
                ideal,
                format!("no source keyframe within {tolerance} frames of {ideal}; even boundary"),
            ),
        };
        starts.push((boundary, reason));
        ideal = boundary + target;
    }
    from_starts(starts, end)
}

/// Chunks that start at scene cuts: a cut closer than `min` frames to the previous start is
/// skipped, and a span between cuts longer than `max` frames is split evenly.
pub fn scene_chunks(start: u64, end: u64, cuts: &[(u64, f64)], min: u64, max: u64) -> Vec<Chunk> {
    if end <= start {
        return Vec::new();
    }
    let max = max.max(1);
    let mut starts = vec![(start, "start of the range".to_string())];
    let split_long_span = |starts: &mut Vec<(u64, String)>, until: u64| {
        let from = starts.last().map_or(start, |(s, _)| *s);
        if until - from > max {
            let pieces = (until - from).div_ceil(max);
            for s in even_starts(from, until, pieces).into_iter().skip(1) {
                starts.push((
                    s,
                    format!(
                        "span of {} frames between cuts is longer than {max}: split evenly",
                        until - from
                    ),
                ));
            }
        }
    };
    for &(cut, score) in cuts {
        let last = starts.last().map_or(start, |(s, _)| *s);
        if cut <= last || cut >= end || cut - last < min {
            continue;
        }
        split_long_span(&mut starts, cut);
        let last = starts.last().map_or(start, |(s, _)| *s);
        if cut - last >= min {
            starts.push((cut, format!("scene cut (scdet score {score:.1})")));
        }
    }
    split_long_span(&mut starts, end);
    from_starts(starts, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_tiling(chunks: &[Chunk], start: u64, end: u64) {
        assert_eq!(chunks[0].start_frame, start);
        assert_eq!(chunks.last().unwrap().end_frame, end);
        for (i, pair) in chunks.windows(2).enumerate() {
            assert_eq!(pair[0].end_frame, pair[1].start_frame);
            assert_eq!(pair[0].index as usize, i);
        }
        assert!(chunks.iter().all(|c| c.end_frame > c.start_frame));
    }

    #[test]
    fn chunks_cover_the_range_evenly_and_never_empty() {
        for total in 1..200u64 {
            for target in 1..40u64 {
                let count = count_for_target(5, 5 + total, target);
                let chunks = even_chunks(5, 5 + total, count, 0);
                assert_eq!(chunks.len() as u64, count);
                check_tiling(&chunks, 5, 5 + total);
                let lens: Vec<u64> = chunks.iter().map(Chunk::frames).collect();
                assert!(lens.iter().all(|&l| l <= target));
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
            }
        }
    }

    #[test]
    fn a_preroll_lengthens_the_first_chunk_so_that_every_chunk_does_equal_work() {
        for (total, count, preroll) in [(360, 2, 30), (1800, 6, 30), (1000, 7, 25), (50, 4, 30)] {
            let chunks = even_chunks(10, 10 + total, count, preroll);
            check_tiling(&chunks, 10, 10 + total);
            assert_eq!(chunks.len() as u64, count);
            let work: Vec<u64> = chunks
                .iter()
                .enumerate()
                .map(|(i, c)| c.frames() + if i == 0 { 0 } else { preroll })
                .collect();
            let (min, max) = (work.iter().min().unwrap(), work.iter().max().unwrap());
            if chunks[1..].iter().all(|c| c.frames() > 1) {
                assert!(max - min <= 1, "{total}/{count}/{preroll}: work {work:?}");
            }
            assert!(chunks[0].reason.contains("preroll"));
        }
        let halves: Vec<u64> = even_chunks(0, 360, 2, 30)
            .iter()
            .map(Chunk::frames)
            .collect();
        assert_eq!(halves, vec![195, 165]);
    }

    #[test]
    fn the_default_count_keeps_every_worker_busy_in_the_last_round() {
        // 30 fps, 10 s chunks: 5 s, 12 s, 25 s, 60 s and 65 s at 2 workers; 1 worker as before.
        let count = |frames, workers| count_for_workers(0, frames, 300, workers, 30);
        assert_eq!(
            [150, 360, 750, 1800, 1950].map(|f| count(f, 2)),
            [2, 2, 4, 6, 8]
        );
        assert_eq!([150, 750, 1950].map(|f| count(f, 1)), [1, 3, 7]);
        assert_eq!(count(750, 3), 3);
        // Never chunks shorter than a second: 1.5 s stays one chunk at 2 workers.
        assert_eq!(count(45, 2), 1);
        assert_eq!(count(60, 2), 2);
    }

    #[test]
    fn more_chunks_than_frames_is_clamped() {
        assert_eq!(even_chunks(0, 3, 10, 0).len(), 3);
        assert_eq!(even_chunks(0, 3, 10, 50).len(), 3);
        assert!(even_chunks(4, 4, 2, 0).is_empty());
    }

    #[test]
    fn default_is_about_ten_seconds_and_some_prerolls() {
        let ntsc = Rational {
            num: 30000,
            den: 1001,
        };
        assert_eq!(default_chunk_frames(ntsc, 0, CHUNK_PREROLLS), 300);
        assert_eq!(
            default_chunk_frames(Rational { num: 25, den: 1 }, 0, CHUNK_PREROLLS),
            250
        );
        assert_eq!(default_chunk_frames(ntsc, 30, CHUNK_PREROLLS), 300);
        assert_eq!(default_chunk_frames(ntsc, 90, CHUNK_PREROLLS), 900);
        assert_eq!(default_chunk_frames(ntsc, 30, LOCAL_CHUNK_PREROLLS), 1500);
    }

    #[test]
    fn keyframe_starts_snap_to_the_nearest_keyframe() {
        let keys: Vec<u64> = (0..300).step_by(48).collect();
        let chunks = keyframe_chunks(0, 300, 100, &keys);
        check_tiling(&chunks, 0, 300);
        let starts: Vec<u64> = chunks.iter().map(|c| c.start_frame).collect();
        assert_eq!(starts, vec![0, 96, 192, 288]);
        assert!(chunks[1].reason.contains("keyframe at frame 96"));
        let none = keyframe_chunks(0, 300, 100, &[0]);
        assert!(none[1].reason.contains("no source keyframe"));
        check_tiling(&none, 0, 300);
    }

    #[test]
    fn scene_starts_follow_cuts_within_bounds() {
        let cuts = [(50, 30.0), (55, 20.0), (100, 25.0), (400, 40.0)];
        let chunks = scene_chunks(0, 500, &cuts, 20, 120);
        check_tiling(&chunks, 0, 500);
        let starts: Vec<u64> = chunks.iter().map(|c| c.start_frame).collect();
        assert_eq!(starts, vec![0, 50, 100, 200, 300, 400]);
        assert!(chunks[1].reason.contains("scene cut"));
        assert!(chunks[3].reason.contains("split evenly"));
        assert!(chunks.iter().all(|c| c.frames() <= 120));
    }
}
