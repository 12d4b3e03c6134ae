//! The VBV (video buffering verifier) leaky bucket: the decoder's buffer fills at the peak rate
//! (`--maxrate`) up to its size (`--bufsize`), and each frame's bits leave it at the frame's
//! decode time. A stream that never asks for more bits than the buffer holds plays on a decoder
//! built to the spec. Used by workers to check the buffer a chunk leaves at its seam, and by tests
//! to check whole files.

/// A buffer model: the rate it fills at and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// Fill rate, bits per second.
    pub rate: f64,
    /// Size, bits.
    pub size: f64,
}

/// One coded frame: its decode time and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Decode time, seconds.
    pub dts: f64,
    /// Size, bits.
    pub bits: f64,
}

/// What the buffer did over a run of frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The lowest fill right after a frame left, a fraction of the size (below 0: underflow).
    pub lowest_fill: f64,
    /// The frames (positions in the run) that found fewer bits in the buffer than they hold.
    pub underflows: Vec<usize>,
    /// The fill one frame duration after the last frame left: what the next frame (the next
    /// chunk's first) finds, a fraction of the size.
    pub end_fill: f64,
}

impl Model {
    /// Runs the buffer over `frames` in decode order, from `start_fill` (a fraction of the size,
    /// the fill when the first frame leaves); `frame_seconds` is the time between the last frame
    /// and the one after it.
    pub fn run(&self, frames: &[Frame], start_fill: f64, frame_seconds: f64) -> Run {
        let mut fill = start_fill * self.size;
        let mut lowest = fill;
        let mut underflows = Vec::new();
        for (n, frame) in frames.iter().enumerate() {
            fill -= frame.bits;
            if fill < 0.0 {
                underflows.push(n);
            }
            lowest = lowest.min(fill);
            let until_next = frames
                .get(n + 1)
                .map_or(frame_seconds, |next| next.dts - frame.dts);
            fill = (fill + self.rate * until_next.max(0.0)).min(self.size);
        }
        Run {
            lowest_fill: lowest / self.size,
            underflows,
            end_fill: fill / self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(sizes: &[f64]) -> Vec<Frame> {
        sizes
            .iter()
            .enumerate()
            .map(|(n, &bits)| Frame {
                dts: n as f64 * 0.04,
                bits,
            })
            .collect()
    }

    #[test]
    fn the_buffer_fills_at_the_rate_up_to_its_size_and_empties_by_frames() {
        // 1 Mb/s fills 40 000 bits a frame at 25 fps; a 100 000-bit buffer.
        let model = Model {
            rate: 1e6,
            size: 1e5,
        };
        let steady = model.run(&frames(&[40_000.0; 10]), 0.5, 0.04);
        assert!(steady.underflows.is_empty());
        assert!((steady.end_fill - 0.5).abs() < 1e-9);
        let burst = model.run(&frames(&[90_000.0, 60_000.0, 10_000.0]), 1.0, 0.04);
        assert_eq!(burst.underflows, vec![1]);
        assert!((burst.lowest_fill - (-0.1)).abs() < 1e-9);
        // Capped at the size: a full buffer cannot bank more.
        let idle = model.run(&frames(&[0.0, 0.0]), 0.9, 0.04);
        assert_eq!(idle.end_fill, 1.0);
    }

    #[test]
    fn a_fuller_start_never_empties_sooner() {
        let model = Model {
            rate: 1e6,
            size: 1e5,
        };
        let sizes = [70_000.0, 20_000.0, 80_000.0, 5_000.0, 60_000.0, 45_000.0];
        let low = model.run(&frames(&sizes), 0.8, 0.04);
        let high = model.run(&frames(&sizes), 0.95, 0.04);
        assert!(high.lowest_fill >= low.lowest_fill);
        assert!(high.end_fill >= low.end_fill);
    }
}
