//! The task data embedded in the page for its script to draw: compact JSON columns, so that
//! 10,000 tasks stay well under a megabyte.

use crate::inspect::report::model::{Lane, RunReport};
use serde::Serialize;

/// The task data the page's script draws: columns, to stay compact at 10,000 tasks.
#[derive(Debug, Serialize)]
struct Columns {
    /// Chunk index, or -1 for the audio.
    idx: Vec<i64>,
    lane: Vec<usize>,
    row: Vec<usize>,
    /// Start and end, seconds after the work stage started.
    s: Vec<f64>,
    e: Vec<f64>,
    /// Frames (0 for the audio).
    fr: Vec<u64>,
    /// encode_seconds.
    enc: Vec<f64>,
}

/// Everything the script reads.
#[derive(Debug, Serialize)]
struct PageData<'a> {
    span: f64,
    chunks: usize,
    lanes: &'a [Lane],
    tasks: Columns,
}

/// `x` rounded to a multiple of 1 / `scale`.
fn round_to(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

/// The report's task data as JSON that is safe inside a `<script>` element.
pub fn page_data_json(report: &RunReport) -> String {
    let bars = &report.timeline.bars;
    let t0 = report.timeline.work.map_or(0.0, |w| w.started_at);
    let mut columns = Columns {
        idx: Vec::with_capacity(bars.len()),
        lane: Vec::with_capacity(bars.len()),
        row: Vec::with_capacity(bars.len()),
        s: Vec::with_capacity(bars.len()),
        e: Vec::with_capacity(bars.len()),
        fr: Vec::with_capacity(bars.len()),
        enc: Vec::with_capacity(bars.len()),
    };
    for bar in bars {
        let (start, end) = bar.span();
        columns.idx.push(bar.index.map_or(-1, i64::from));
        columns.lane.push(bar.lane);
        columns.row.push(bar.row);
        columns.s.push(round_to(start - t0, 1e3));
        columns.e.push(round_to(end - t0, 1e3));
        columns.fr.push(bar.frames);
        columns.enc.push(round_to(bar.sidecar.encode_seconds, 1e4));
    }
    script_json(&PageData {
        span: report.timeline.work.map_or(1.0, |w| w.seconds().max(1e-3)),
        chunks: report.loaded.chunks.len(),
        lanes: &report.timeline.lanes,
        tasks: columns,
    })
}

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` only occur inside JSON
/// strings, where their `\u` escapes mean the same.
fn script_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .expect("report data serialises")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_break_out_of_a_script() {
        let json = script_json(&serde_json::json!({"f": "</script><script>alert(1)</script>&"}));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["f"], "</script><script>alert(1)</script>&");
    }
}
