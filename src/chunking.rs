//! Cutting the output range into chunks.

use crate::plandir::{Chunk, Rational};

/// The default chunk length: about ten seconds of frames. Long enough that the keyframe each
/// chunk starts with costs little, short enough that workers stay balanced.
pub fn default_chunk_frames(rate: Rational) -> u64 {
    (rate.as_f64() * 10.0).round().max(1.0) as u64
}

/// Cuts `[start, end)` into `count` chunks whose lengths differ by at most one frame (the longer
/// ones first). `count` is clamped to `1..=end-start`, so no chunk is ever empty.
pub fn even_chunks(start: u64, end: u64, count: u64) -> Vec<Chunk> {
    let total = end.saturating_sub(start);
    if total == 0 {
        return Vec::new();
    }
    let count = count.clamp(1, total);
    let base = total / count;
    let longer = total % count;
    let mut chunks = Vec::with_capacity(count as usize);
    let mut next = start;
    for index in 0..count {
        let len = base + u64::from(index < longer);
        chunks.push(Chunk {
            index: index as u32,
            start_frame: next,
            end_frame: next + len,
        });
        next += len;
    }
    chunks
}

/// The number of chunks of about `target` frames that `[start, end)` needs: `ceil(total/target)`.
pub fn count_for_target(start: u64, end: u64, target: u64) -> u64 {
    end.saturating_sub(start).div_ceil(target.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range_evenly_and_never_empty() {
        for total in 1..200u64 {
            for target in 1..40u64 {
                let count = count_for_target(5, 5 + total, target);
                let chunks = even_chunks(5, 5 + total, count);
                assert_eq!(chunks.len() as u64, count);
                assert_eq!(chunks[0].start_frame, 5);
                assert_eq!(chunks.last().unwrap().end_frame, 5 + total);
                let lens: Vec<u64> = chunks.iter().map(Chunk::frames).collect();
                assert!(lens.iter().all(|&l| l >= 1 && l <= target));
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
                for pair in chunks.windows(2) {
                    assert_eq!(pair[0].end_frame, pair[1].start_frame);
                    assert_eq!(pair[0].index + 1, pair[1].index);
                }
            }
        }
    }

    #[test]
    fn more_chunks_than_frames_is_clamped() {
        assert_eq!(even_chunks(0, 3, 10).len(), 3);
        assert!(even_chunks(4, 4, 2).is_empty());
    }

    #[test]
    fn default_is_about_ten_seconds() {
        assert_eq!(
            default_chunk_frames(Rational {
                num: 30000,
                den: 1001
            }),
            300
        );
        assert_eq!(default_chunk_frames(Rational { num: 25, den: 1 }), 250);
    }
}
