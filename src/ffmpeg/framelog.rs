//! The frame logs a render writes with `metadata=mode=print` (`frame:N pts:TICKS pts_time:S`
//! lines): the input frames that entered the filter graph, and the frames that left the user's
//! filter chain. Reading them, and the check that the chain hands on every frame it is given,
//! one for one, at its own time: vre cuts the output by frame number, so a chain that drops,
//! adds or re-times frames would make every chunk from the wrong frames.

use crate::ffmpeg::video::SourceSpan;
use crate::plandir::frameindex::FrameIndex;
use crate::plandir::schema::Plan;
use std::path::Path;

/// Reads the timestamps of a frame log, in ticks of the time base of the link it was written on
/// (a chunk's render puts the chain's output back on the time base of its input).
pub fn logged_pts(path: &Path) -> std::io::Result<Vec<i64>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|line| line.starts_with("frame:"))
        .filter_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("pts:"))
                .and_then(|pts| pts.parse().ok())
        })
        .collect())
}

/// What to do about a chain that does not hand frames on one for one.
const FIX: &str = "vre renders one output frame per input frame and cannot cut such a chain into chunks; for a frame-rate change, plan with `vre plan … --fps N` (or `vre run … --fps N`) instead";

/// Checks that the user's filter chain handed on, for output frames `[first, first + frames)`,
/// every frame it was given (the span's preroll and input frames, or its `--fps` grid slots),
/// in order, each within a quarter frame of the time it came in at, as `filtered` logged them.
/// A chain that does not (`fps`, `select`, `setpts`, `framerate`, `yadif=1`, …) fails, naming
/// what it did. Nothing to check without a chain.
pub fn check_filter_keeps_frames(
    plan: &Plan,
    index: &FrameIndex,
    (first, frames): (u64, u64),
    filtered: &Path,
) -> Result<(), String> {
    let span = SourceSpan::of(plan, first, frames);
    // The copies of a lead are put in after the chain; the chain sees the rest.
    let needed = (span.preroll + frames).saturating_sub(span.repeats) as usize;
    if plan.video_filter.is_none() || needed == 0 {
        return Ok(());
    }
    let rate = plan.output.frame_rate.as_f64();
    let (given, quarter): (Vec<i64>, i64) = match plan.normalize.as_ref().and_then(|n| n.fps) {
        // Grid slots, in ticks of one slot each.
        Some(_) => ((0..needed as i64).collect(), 0),
        None => {
            let Some(ticks) = index.pts.get(span.from..span.from + needed) else {
                // The input is shorter than planned: the check of the source frames says so.
                return Ok(());
            };
            let tb = index.time_base;
            let quarter = (f64::from(tb.den) / f64::from(tb.num) / rate / 4.0).floor();
            (ticks.to_vec(), quarter as i64)
        }
    };
    let handed_on = logged_pts(filtered).map_err(|e| {
        format!(
            "cannot read the render's filter log {}: {e}",
            filtered.display()
        )
    })?;
    if handed_on.len() < needed {
        return Err(format!(
            "the filter chain handed on {} frames where frames {first}..{} need {needed}: it drops frames (like select, decimate, mpdecimate or fps at a lower rate); {FIX}",
            handed_on.len(),
            first + frames
        ));
    }
    let (given_start, handed_start) = (given[0], handed_on[0]);
    let moved = (0..needed).find(|&k| {
        let (came, left) = (given[k] - given_start, handed_on[k] - handed_start);
        (left - came).abs() > quarter
    });
    match moved {
        Some(k) => Err(format!(
            "the filter chain does not hand on one frame for each frame it is given, at that frame's time: frame {k} of the {needed} it was given for frames {first}..{} came in {} ticks after the first and left {} ticks after it (filters like fps, select, setpts, framerate, decimate or yadif=1 drop, add or re-time frames); {FIX}",
            first + frames,
            given[k] - given_start,
            handed_on[k] - handed_start
        )),
        None => Ok(()),
    }
}
