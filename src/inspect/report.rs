//! `vre report`: one self-contained HTML page about a planDir — a timeline of every published
//! task per worker, per-chunk encode speed, the plan / work / assemble stages, the speedup over
//! the summed render time, and the plan's facts.
//!
//! Everything comes from the planDir alone: `plan.json`, the sidecars (who rendered what, when)
//! and `stages.json` ([`crate::plandir::stages`]). A partially rendered planDir reports what is done.
//! The page needs no network: CSS and JS are inline, a Content-Security-Policy forbids loading
//! anything, and the task data is embedded as compact JSON that a script draws onto canvases,
//! so 10,000 chunks make a page of well under a megabyte that draws in milliseconds.

use crate::inspect::status::{self, Status, TaskState};
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::Sidecar;
use crate::plandir::stages::{self, Stage, StageTiming};
use crate::sys::fsio;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// More distinct worker processes than this are drawn one lane per host (with as many rows as
/// the host ran tasks at once) instead of one lane per process.
pub const MAX_LANES: usize = 32;

/// What a written report holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// Published tasks, each drawn as one bar.
    pub bars: usize,
    /// Tasks in the plan (chunks and audio).
    pub tasks: usize,
    /// Lanes of the timeline.
    pub lanes: usize,
    /// Size of the HTML in bytes.
    pub bytes: usize,
}

/// One published task on the timeline.
#[derive(Debug, Clone)]
struct Bar {
    index: Option<u32>,
    frames: u64,
    sidecar: Sidecar,
    lane: usize,
    row: usize,
}

/// A timeline lane: one worker process, or one host when there are too many processes.
#[derive(Debug, Clone, Serialize)]
struct Lane {
    label: String,
    rows: usize,
    tasks: usize,
    frames: u64,
    busy: f64,
}

/// The work stage, read from the sidecars.
#[derive(Debug, Clone, Copy)]
struct Work {
    started_at: f64,
    finished_at: f64,
    task_seconds: f64,
    peak: usize,
}

impl Work {
    fn seconds(&self) -> f64 {
        (self.finished_at - self.started_at).max(0.0)
    }

    fn speedup(&self) -> f64 {
        self.task_seconds / self.seconds().max(1e-9)
    }
}

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

#[derive(Debug, Serialize)]
struct PageData<'a> {
    span: f64,
    chunks: usize,
    lanes: &'a [Lane],
    tasks: Columns,
}

/// Writes the report of `dir` to `out` atomically.
pub fn write_report(dir: &PlanDir, out: &Path) -> anyhow::Result<ReportSummary> {
    let (html, summary) = build(dir)?;
    fsio::write_atomic(out, html.as_bytes()).map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound
            | std::io::ErrorKind::PermissionDenied
            | std::io::ErrorKind::IsADirectory
            | std::io::ErrorKind::NotADirectory => crate::exit::Code::CantCreate,
            _ => crate::exit::Code::IoErr,
        };
        crate::exit::Coded::new(code, format!("cannot write {}: {e}", out.display()))
    })?;
    Ok(summary)
}

/// Builds the report of `dir`: the HTML and what it holds.
pub fn build(dir: &PlanDir) -> Result<(String, ReportSummary), PlanDirError> {
    let loaded = dir.load()?;
    let status = status::status_of(dir, &loaded)?;
    let stage_records = stages::read(dir);
    let hash = &loaded.plan.plan_hash;
    let plan_stage = stage_records.get(Stage::Plan, hash).cloned();
    let assemble_stage = stage_records.get(Stage::Assemble, hash).cloned();

    let mut bars: Vec<Bar> = status
        .tasks
        .iter()
        .filter_map(|t| {
            let sidecar = t.sidecar.clone()?;
            Some(Bar {
                index: t.index,
                frames: t.frames,
                sidecar,
                lane: 0,
                row: 0,
            })
        })
        .collect();
    let (lanes, lane_kind) = assign_lanes(&mut bars);
    let work = work_stage(&bars);

    let t0 = work.map_or(0.0, |w| w.started_at);
    let mut columns = Columns {
        idx: Vec::with_capacity(bars.len()),
        lane: Vec::with_capacity(bars.len()),
        row: Vec::with_capacity(bars.len()),
        s: Vec::with_capacity(bars.len()),
        e: Vec::with_capacity(bars.len()),
        fr: Vec::with_capacity(bars.len()),
        enc: Vec::with_capacity(bars.len()),
    };
    for bar in &bars {
        columns.idx.push(bar.index.map_or(-1, i64::from));
        columns.lane.push(bar.lane);
        columns.row.push(bar.row);
        columns.s.push(round_to(bar.sidecar.started_at - t0, 1e3));
        columns.e.push(round_to(
            bar.sidecar.finished_at.max(bar.sidecar.started_at) - t0,
            1e3,
        ));
        columns.fr.push(bar.frames);
        columns.enc.push(round_to(bar.sidecar.encode_seconds, 1e4));
    }
    let data = PageData {
        span: work.map_or(1.0, |w| w.seconds().max(1e-3)),
        chunks: loaded.chunks.len(),
        lanes: &lanes,
        tasks: columns,
    };

    let html = page(
        dir,
        &loaded,
        &status,
        &bars,
        &lanes,
        lane_kind,
        work,
        plan_stage.as_ref(),
        assemble_stage.as_ref(),
        &data,
    );
    let summary = ReportSummary {
        bars: bars.len(),
        tasks: status.total,
        lanes: lanes.len(),
        bytes: html.len(),
    };
    Ok((html, summary))
}

fn round_to(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

/// What a timeline lane stands for.
#[derive(Debug, Clone, Copy)]
enum Grouping {
    Process,
    Host,
    All,
}

impl Grouping {
    fn key(self, s: &Sidecar) -> String {
        match self {
            Grouping::Process => format!("{}:{}", s.host, s.pid),
            Grouping::Host => s.host.clone(),
            Grouping::All => "all workers".to_string(),
        }
    }

    fn caption(self) -> &'static str {
        match self {
            Grouping::Process => "per worker process (host:pid)",
            Grouping::Host => "per host (too many worker processes for a lane each)",
            Grouping::All => "of all workers (too many hosts for a lane each)",
        }
    }
}

/// Groups bars into lanes (per process, or per host when there are too many processes) ordered
/// by their first task, and gives each bar a row in its lane so that overlapping tasks (a
/// process with `-j 2`, or a host's many processes) never cover each other.
fn assign_lanes(bars: &mut [Bar]) -> (Vec<Lane>, &'static str) {
    let distinct = |grouping: Grouping| {
        let mut keys: Vec<String> = bars.iter().map(|b| grouping.key(&b.sidecar)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    };
    let grouping = [Grouping::Process, Grouping::Host]
        .into_iter()
        .find(|&g| distinct(g) <= MAX_LANES)
        .unwrap_or(Grouping::All);
    let key = |s: &Sidecar| grouping.key(s);

    let mut order: Vec<usize> = (0..bars.len()).collect();
    order.sort_by(|&a, &b| {
        bars[a]
            .sidecar
            .started_at
            .total_cmp(&bars[b].sidecar.started_at)
    });
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    let mut lanes: Vec<Lane> = Vec::new();
    // The end of the last bar in each row of each lane.
    let mut row_ends: Vec<Vec<f64>> = Vec::new();
    for i in order {
        let bar = &mut bars[i];
        let label = key(&bar.sidecar);
        let lane = *lane_of.entry(label.clone()).or_insert_with(|| {
            lanes.push(Lane {
                label,
                rows: 0,
                tasks: 0,
                frames: 0,
                busy: 0.0,
            });
            row_ends.push(Vec::new());
            lanes.len() - 1
        });
        let (start, end) = (
            bar.sidecar.started_at,
            bar.sidecar.finished_at.max(bar.sidecar.started_at),
        );
        let ends = &mut row_ends[lane];
        let row = match ends.iter().position(|&e| e <= start) {
            Some(r) => r,
            None => {
                ends.push(f64::NEG_INFINITY);
                ends.len() - 1
            }
        };
        ends[row] = end;
        bar.lane = lane;
        bar.row = row;
        let l = &mut lanes[lane];
        l.rows = ends.len();
        l.tasks += 1;
        l.frames += bar.frames;
        l.busy += end - start;
    }
    (lanes, grouping.caption())
}

fn work_stage(bars: &[Bar]) -> Option<Work> {
    if bars.is_empty() {
        return None;
    }
    let started_at = bars
        .iter()
        .map(|b| b.sidecar.started_at)
        .fold(f64::INFINITY, f64::min);
    let finished_at = bars
        .iter()
        .map(|b| b.sidecar.finished_at)
        .fold(f64::NEG_INFINITY, f64::max);
    let task_seconds = bars.iter().map(|b| b.sidecar.encode_seconds).sum();
    // Peak concurrency: sweep the starts and ends (an end before a start at the same instant).
    let mut events: Vec<(f64, i32)> = bars
        .iter()
        .flat_map(|b| [(b.sidecar.started_at, 1), (b.sidecar.finished_at, -1)])
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        peak = peak.max(now);
    }
    Some(Work {
        started_at,
        finished_at,
        task_seconds,
        peak: peak as usize,
    })
}

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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

/// Seconds as people read them.
fn secs(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2} s")
    } else if x < 600.0 {
        format!("{x:.1} s")
    } else if x < 36_000.0 {
        format!("{:.1} min", x / 60.0)
    } else {
        format!("{:.1} h", x / 3600.0)
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_text(t: f64) -> String {
    let secs = t.floor() as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// One row of the stage table.
struct StageRow {
    name: &'static str,
    started_at: Option<f64>,
    seconds: Option<f64>,
    who: String,
    note: &'static str,
}

fn stage_rows(
    status: &Status,
    lanes: &[Lane],
    work: Option<Work>,
    plan: Option<&StageTiming>,
    assemble: Option<&StageTiming>,
) -> Vec<StageRow> {
    let recorded = |name, t: Option<&StageTiming>, missing| match t {
        Some(t) => StageRow {
            name,
            started_at: Some(t.started_at),
            seconds: Some(t.seconds),
            who: format!("{}:{}", t.host, t.pid),
            note: "",
        },
        None => StageRow {
            name,
            started_at: None,
            seconds: None,
            who: String::new(),
            note: missing,
        },
    };
    let work_row = match work {
        Some(w) => StageRow {
            name: "work",
            started_at: Some(w.started_at),
            seconds: Some(w.seconds()),
            who: format!("{} lane(s), peak {} task(s) at once", lanes.len(), w.peak),
            note: if status.complete() {
                ""
            } else {
                "in progress: first task start to last task end so far"
            },
        },
        None => StageRow {
            name: "work",
            started_at: None,
            seconds: None,
            who: String::new(),
            note: "no task published yet",
        },
    };
    vec![
        recorded("plan", plan, "not recorded"),
        work_row,
        recorded("assemble", assemble, "not assembled yet"),
    ]
}

#[allow(clippy::too_many_arguments)]
fn page(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    status: &Status,
    bars: &[Bar],
    lanes: &[Lane],
    lane_kind: &str,
    work: Option<Work>,
    plan_stage: Option<&StageTiming>,
    assemble_stage: Option<&StageTiming>,
    data: &PageData,
) -> String {
    let plan = &loaded.plan;
    let name = dir.root().file_name().map_or_else(
        || dir.root().display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut h = String::with_capacity(64 * 1024 + bars.len() * 48);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>vre report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&name)
    );
    let _ = writeln!(
        h,
        "<header><h1>vre report <span class=\"dim\">{}</span></h1>\
         <div class=\"dim\">plan {} &middot; report made {}</div></header>",
        esc(&name),
        &plan.plan_hash[..plan.plan_hash.len().min(16)],
        utc_text(fsio::unix_now())
    );

    // Key numbers.
    let frames_pct = 100.0 * status.frames_done as f64 / status.frames_total.max(1) as f64;
    h.push_str("<section class=\"cards\">");
    let card = |h: &mut String, label: &str, value: String, sub: String, attr: String| {
        let _ = write!(
            h,
            "<div class=\"card\"{attr}><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"sub\">{}</div></div>",
            esc(label),
            esc(&value),
            esc(&sub)
        );
    };
    card(
        &mut h,
        "tasks done",
        format!("{} / {}", status.done, status.total),
        format!(
            "{} running, {} pending, {} failed; {} environment error(s)",
            status.running, status.pending, status.failed, status.environment_errors
        ),
        format!(
            " data-done=\"{}\" data-total=\"{}\"",
            status.done, status.total
        ),
    );
    card(
        &mut h,
        "frames done",
        format!("{frames_pct:.1} %"),
        format!("{} of {}", status.frames_done, status.frames_total),
        String::new(),
    );
    match work {
        Some(w) => {
            card(
                &mut h,
                "work wall time",
                secs(w.seconds()),
                format!("{} lane(s), peak {} at once", lanes.len(), w.peak),
                String::new(),
            );
            card(
                &mut h,
                "speedup",
                format!("{:.2}\u{d7}", w.speedup()),
                format!(
                    "{} of rendering in {}",
                    secs(w.task_seconds),
                    secs(w.seconds())
                ),
                format!(" data-speedup=\"{:.6}\"", w.speedup()),
            );
        }
        None => card(
            &mut h,
            "work",
            "not started".to_string(),
            "no task published yet".to_string(),
            String::new(),
        ),
    }
    h.push_str("</section>\n");

    // Timeline.
    let _ = writeln!(
        h,
        "<section><h2>Timeline <span class=\"dim\">tasks {}</span></h2>\
         <div class=\"legend\"><span class=\"sw video\"></span>video chunk <span class=\"sw audio\"></span>audio \
         <span class=\"dim\">&middot; wheel to zoom, drag to pan, double-click to reset</span></div>\
         <div id=\"gantt\" class=\"chart\" data-lanes=\"{}\"><canvas id=\"gantt-canvas\"></canvas></div>\
         <noscript><p>The charts need JavaScript; the tables below do not.</p></noscript></section>",
        lane_kind,
        lanes.len()
    );

    // Stages and speedup.
    let rows = stage_rows(status, lanes, work, plan_stage, assemble_stage);
    let origin = rows
        .iter()
        .filter_map(|r| r.started_at)
        .fold(f64::INFINITY, f64::min);
    let longest = rows
        .iter()
        .filter_map(|r| r.seconds)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    h.push_str(
        "<section class=\"split\"><div><h2>Stages</h2><table class=\"stages\">\
         <tr><th>stage</th><th>start</th><th>duration</th><th></th><th>by</th></tr>",
    );
    for row in &rows {
        let start = row
            .started_at
            .map_or(String::new(), |t| format!("+{}", secs(t - origin)));
        let (duration, bar, attr) = match row.seconds {
            Some(s) => (
                secs(s),
                format!(
                    "<div class=\"sbar {}\" style=\"width:{:.1}%\"></div>",
                    row.name,
                    (100.0 * s / longest).max(0.5)
                ),
                format!(" data-seconds=\"{s:.6}\""),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        let _ = write!(
            h,
            "<tr data-stage=\"{}\"{attr}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"barcell\">{bar}</td><td>{}{}</td></tr>",
            row.name,
            row.name,
            esc(&start),
            esc(&duration),
            esc(&row.who),
            if row.note.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"dim\">{}</span>", esc(row.note))
            }
        );
    }
    h.push_str("</table>");
    if origin.is_finite() {
        let _ = write!(
            h,
            "<p class=\"dim\">start times after {}; work runs from the first task's start to the last task's end.</p>",
            utc_text(origin)
        );
    }
    h.push_str("</div><div><h2>Speedup</h2>");
    match work {
        Some(w) => {
            let chunk_seconds: f64 = bars
                .iter()
                .filter(|b| b.index.is_some())
                .map(|b| b.sidecar.encode_seconds)
                .sum();
            let audio_seconds = w.task_seconds - chunk_seconds;
            let _ = write!(
                h,
                "<p class=\"big\">{:.2}&times;</p><p>{} of rendering (&Sigma; encode_seconds of {} task(s): {} chunks{}) \
                 done in {} of wall time by {} lane(s), at most {} task(s) at once.</p>",
                w.speedup(),
                secs(w.task_seconds),
                bars.len(),
                secs(chunk_seconds),
                if bars.iter().any(|b| b.index.is_none()) {
                    format!(" + {} audio", secs(audio_seconds))
                } else {
                    String::new()
                },
                secs(w.seconds()),
                lanes.len(),
                w.peak
            );
        }
        None => h.push_str("<p class=\"dim\">Nothing rendered yet.</p>"),
    }
    h.push_str("</div></section>\n");

    // Encode speed.
    let mut fps: Vec<f64> = bars
        .iter()
        .filter(|b| b.index.is_some())
        .map(|b| b.frames as f64 / b.sidecar.encode_seconds.max(1e-9))
        .collect();
    fps.sort_by(f64::total_cmp);
    let _ = write!(
        h,
        "<section><h2>Encode speed <span class=\"dim\">frames / encode_seconds per chunk"
    );
    if let (Some(lo), Some(hi)) = (fps.first(), fps.last()) {
        let _ = write!(
            h,
            ": min {lo:.1}, median {:.1}, max {hi:.1} frames/s",
            fps[fps.len() / 2]
        );
    }
    h.push_str(
        "</span></h2><div id=\"speed\" class=\"chart\"><canvas id=\"speed-canvas\"></canvas></div></section>\n",
    );

    // Workers.
    h.push_str(
        "<section class=\"split\"><div><h2>Workers</h2><table><tr><th>lane</th><th>tasks</th><th>frames</th><th>busy</th><th>of work</th></tr>",
    );
    for lane in lanes {
        let share = work.map_or(0.0, |w| {
            100.0 * lane.busy / (w.seconds().max(1e-9) * lane.rows.max(1) as f64)
        });
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{share:.0} %</td></tr>",
            esc(&lane.label),
            lane.tasks,
            lane.frames,
            esc(&secs(lane.busy))
        );
    }
    h.push_str("</table>");
    let failed: Vec<_> = status
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Failed)
        .collect();
    if !failed.is_empty() {
        let _ = write!(h, "<h2>Failed tasks ({})</h2><table>", failed.len());
        for t in failed.iter().take(50) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} attempt(s)</td><td>{}</td></tr>",
                t.index
                    .map_or("audio".to_string(), |i| format!("chunk {i}")),
                t.failed_attempts,
                esc(t.last_error.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>");
    }
    let environment: Vec<_> = status
        .tasks
        .iter()
        .filter_map(|t| Some((t, t.last_environment_error.as_ref()?)))
        .collect();
    if !environment.is_empty() {
        let _ = write!(
            h,
            "<h2>Environment errors ({}) <span class=\"dim\">full disk, missing input, …: not attempts of the chunk</span></h2><table>",
            status.environment_errors
        );
        for (t, e) in environment.iter().take(50) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} time(s)</td><td>{}</td><td>{}</td></tr>",
                t.index
                    .map_or("audio".to_string(), |i| format!("chunk {i}")),
                t.environment_errors,
                esc(e.cause.name()),
                esc(&e.error)
            );
        }
        h.push_str("</table>");
    }

    // Plan facts.
    let out = &plan.output;
    let lengths = loaded.chunks.iter().map(|c| c.frames());
    let (shortest, longest_chunk) = (
        lengths.clone().min().unwrap_or(0),
        lengths.max().unwrap_or(0),
    );
    let audio = match &plan.audio {
        Some(a) => format!(
            "{} track(s) mixed once, {} {} Hz {} ch",
            a.tracks.len(),
            a.codec,
            a.sample_rate,
            a.channels
        ),
        None => "none".to_string(),
    };
    let facts: Vec<(&str, String)> = vec![
        ("planDir", dir.root().display().to_string()),
        (
            "input",
            format!(
                "{} ({:.1} MB)",
                plan.input.path.display(),
                plan.input.size as f64 / 1e6
            ),
        ),
        (
            "source",
            format!(
                "{}x{}, {} fps ({:.3}), {} frames, {} {}{}",
                plan.source.width,
                plan.source.height,
                plan.source.frame_rate,
                plan.source.frame_rate.as_f64(),
                plan.source.total_frames,
                plan.source.codec,
                plan.source.pix_fmt,
                if plan.source.has_audio { ", audio" } else { "" }
            ),
        ),
        (
            "range",
            format!(
                "frames {}..{} ({} frames, {:.3} s)",
                out.start_frame,
                out.end_frame,
                out.total_frames(),
                out.frame_rate.seconds_of(out.total_frames())
            ),
        ),
        (
            "chunks",
            format!(
                "{} of {}..{} frames",
                loaded.chunks.len(),
                shortest,
                longest_chunk
            ),
        ),
        (
            "filter",
            plan.video_filter
                .clone()
                .unwrap_or_else(|| "none".to_string()),
        ),
        (
            "encoder",
            format!(
                "{}, keyint {}",
                plan.encoder.summary(),
                plan.encoder.gop.keyint
            ),
        ),
        ("audio", audio),
        ("plan hash", plan.plan_hash.clone()),
        (
            "versions",
            format!("vre {}, ffmpeg {}", plan.vre_version, plan.ffmpeg_version),
        ),
    ];
    h.push_str("</div><div><h2>Plan</h2><table class=\"facts\">");
    for (key, value) in facts {
        let _ = write!(
            h,
            "<tr><th>{}</th><td data-fact=\"{}\">{}</td></tr>",
            esc(key),
            esc(key),
            esc(&value)
        );
    }
    h.push_str("</table></div></section>\n");

    // Per-chunk table, built by the script only when opened.
    let _ = writeln!(
        h,
        "<section><details id=\"chunk-table\"><summary>Per-task table ({} published task(s))</summary><div id=\"chunk-rows\"></div></details></section>",
        bars.len()
    );
    let _ = write!(
        h,
        "<div id=\"tip\" hidden></div>\n<script type=\"application/json\" id=\"vre-data\">{}</script>\n<script>{JS}</script>\n</body>\n</html>\n",
        script_json(data)
    );
    h
}

const CSS: &str = r#"
:root { --fg:#1d2430; --dim:#6b7585; --line:#dde2ea; --bg:#f6f8fb; --video:#3f7fd0; --video2:#6aa1e6; --audio:#e8891c; }
* { box-sizing: border-box; }
body { margin: 0; padding: 18px 26px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 16px; margin: 18px 0 8px; }
.dim { color: var(--dim); font-weight: normal; }
header { margin-bottom: 12px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 14px; margin: 12px 0; }
.cards { display: flex; gap: 12px; background: none; border: none; padding: 0; }
.card { flex: 1; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--dim); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 24px; font-weight: 600; }
.card .sub { color: var(--dim); font-size: 12px; }
.split { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
.chart { position: relative; width: 100%; }
canvas { display: block; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
.stages td { white-space: nowrap; } .stages td:last-child { white-space: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.facts th { width: 90px; color: var(--dim); font-weight: normal; }
.facts td { word-break: break-all; }
.barcell { width: 40%; }
.sbar { height: 12px; border-radius: 3px; background: var(--video); min-width: 2px; }
.sbar.plan { background: #8a6fd1; } .sbar.assemble { background: #2aa876; }
.big { font-size: 34px; font-weight: 600; margin: 4px 0; }
.legend { color: var(--fg); font-size: 13px; margin-bottom: 6px; }
.sw { display: inline-block; width: 14px; height: 10px; border-radius: 2px; margin: 0 4px 0 10px; vertical-align: -1px; }
.sw.video { background: var(--video); margin-left: 0; }
.sw.audio { background: repeating-linear-gradient(135deg, var(--audio) 0 3px, #f6c38a 3px 5px); }
#tip { position: fixed; pointer-events: none; background: #1d2430; color: #fff; font-size: 12px; padding: 5px 8px; border-radius: 4px; white-space: pre; z-index: 10; }
details summary { cursor: pointer; padding: 8px 0; font-weight: 600; }
#chunk-rows { max-height: 480px; overflow: auto; }
"#;

const JS: &str = r#"
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('vre-data').textContent);
  var T = D.tasks, n = T.s.length, lanes = D.lanes;
  var tip = document.getElementById('tip');
  function fmt(x) { return x < 10 ? x.toFixed(2) + ' s' : x < 600 ? x.toFixed(1) + ' s' : (x / 60).toFixed(1) + ' min'; }
  function name(i) { return T.idx[i] < 0 ? 'audio' : 'chunk ' + T.idx[i]; }
  function fps(i) { return T.fr[i] / Math.max(T.enc[i], 1e-9); }
  function canvas(cv, w, h) {
    var r = window.devicePixelRatio || 1;
    cv.width = Math.round(w * r); cv.height = Math.round(h * r);
    cv.style.width = w + 'px'; cv.style.height = h + 'px';
    var g = cv.getContext('2d'); g.setTransform(r, 0, 0, r, 0, 0); g.clearRect(0, 0, w, h);
    return g;
  }
  function step(span, px, gap) {
    var want = span * gap / Math.max(px, 1), p = Math.pow(10, Math.floor(Math.log10(want)));
    var ms = [1, 2, 5, 10];
    for (var j = 0; j < ms.length; j++) if (ms[j] * p >= want) return ms[j] * p;
    return 10 * p;
  }
  function showTip(ev, text) {
    tip.textContent = text; tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 4) x = ev.clientX - tip.offsetWidth - 10;
    if (y + tip.offsetHeight > window.innerHeight - 4) y = ev.clientY - tip.offsetHeight - 10;
    tip.style.left = x + 'px'; tip.style.top = y + 'px';
  }
  function hideTip() { tip.hidden = true; }

  // ---- Timeline: one lane per worker, bars from started_at to finished_at. ----
  var gwrap = document.getElementById('gantt'), gc = document.getElementById('gantt-canvas');
  var LABEL = 180, AXIS = 24, GAP = 8, RIGHT = 10;
  var rows = 0; lanes.forEach(function (l) { rows += l.rows; });
  var rowH = Math.max(3, Math.min(24, Math.floor(440 / Math.max(rows, 1))));
  var laneY = [], y = AXIS;
  lanes.forEach(function (l) { laneY.push(y); y += l.rows * rowH + GAP; });
  var GH = Math.max(y + 4, 60), view = [0, D.span], hatch = null;
  function audioFill(g) {
    if (!hatch) {
      var c = document.createElement('canvas'); c.width = 8; c.height = 8;
      var p = c.getContext('2d'); p.fillStyle = '#e8891c'; p.fillRect(0, 0, 8, 8);
      p.strokeStyle = '#f8d2a4'; p.lineWidth = 2;
      p.beginPath(); p.moveTo(-2, 2); p.lineTo(2, -2); p.moveTo(0, 8); p.lineTo(8, 0); p.moveTo(6, 10); p.lineTo(10, 6); p.stroke();
      hatch = c;
    }
    return g.createPattern(hatch, 'repeat');
  }
  function drawGantt() {
    var W = Math.max(gwrap.clientWidth, 300), pw = W - LABEL - RIGHT, g = canvas(gc, W, GH);
    var a = view[0], b = view[1], k = pw / Math.max(b - a, 1e-9);
    g.font = '11px system-ui, sans-serif'; g.textBaseline = 'middle';
    var st = step(b - a, pw, 90);
    g.strokeStyle = '#e6eaf0'; g.fillStyle = '#6b7585'; g.lineWidth = 1;
    for (var t = Math.ceil(a / st) * st; t <= b + 1e-9; t += st) {
      var x = Math.round(LABEL + (t - a) * k) + 0.5;
      g.beginPath(); g.moveTo(x, AXIS - 4); g.lineTo(x, GH); g.stroke();
      var digits = st < 1 ? Math.min(3, Math.ceil(-Math.log10(st))) : 0;
      g.textAlign = 'center'; g.fillText(t.toFixed(digits) + ' s', x, 10);
    }
    g.textAlign = 'left';
    lanes.forEach(function (l, i) {
      var h = l.rows * rowH;
      g.fillStyle = i % 2 ? '#fafbfd' : '#f2f5f9'; g.fillRect(LABEL, laneY[i], pw, h);
      g.fillStyle = '#1d2430';
      var label = l.label.length > 26 ? l.label.slice(0, 12) + '\u2026' + l.label.slice(-13) : l.label;
      g.fillText(label, 4, laneY[i] + Math.min(h, 2 * rowH) / 2);
      if (h >= 28) { g.fillStyle = '#6b7585'; g.fillText(l.tasks + ' tasks', 4, laneY[i] + Math.min(h, 2 * rowH) / 2 + 13); }
    });
    var audio = audioFill(g), drawn = 0;
    g.save(); g.beginPath(); g.rect(LABEL, 0, pw, GH); g.clip();
    for (var i = 0; i < n; i++) {
      var s = T.s[i], e = T.e[i];
      if (e < a || s > b) continue;
      var x0 = LABEL + (s - a) * k, w = Math.max((e - s) * k, 1);
      if (w > 4) w -= 1;
      var top = laneY[T.lane[i]] + T.row[i] * rowH, bh = Math.max(rowH - (rowH > 6 ? 2 : 1), 1);
      g.fillStyle = T.idx[i] < 0 ? audio : (T.idx[i] % 2 ? '#6aa1e6' : '#3f7fd0');
      g.fillRect(x0, top + (rowH > 6 ? 1 : 0), w, bh);
      if (w > 42 && rowH >= 14) {
        g.fillStyle = T.idx[i] < 0 ? '#5a3000' : '#fff';
        g.fillText(T.idx[i] < 0 ? 'audio' : String(T.idx[i]), x0 + 4, top + rowH / 2);
      }
      drawn++;
    }
    g.restore();
    if (n === 0) { g.fillStyle = '#6b7585'; g.fillText('no task published yet', LABEL + 8, AXIS + 12); }
    gwrap.dataset.bars = String(drawn);
  }
  function ganttHit(ev) {
    var r = gc.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    if (px < LABEL) return -1;
    var pw = r.width - LABEL - RIGHT, k = pw / Math.max(view[1] - view[0], 1e-9), t = view[0] + (px - LABEL) / k, slack = 2 / k;
    for (var l = 0; l < lanes.length; l++) {
      var row = Math.floor((py - laneY[l]) / rowH);
      if (row < 0 || row >= lanes[l].rows) continue;
      var best = -1, dist = Infinity;
      for (var i = 0; i < n; i++) {
        if (T.lane[i] !== l || T.row[i] !== row || T.s[i] - slack > t || T.e[i] + slack < t) continue;
        var d = Math.abs((T.s[i] + T.e[i]) / 2 - t);
        if (d < dist) { dist = d; best = i; }
      }
      return best;
    }
    return -1;
  }
  var drag = null;
  gc.addEventListener('mousedown', function (ev) { drag = { x: ev.clientX, view: view.slice() }; });
  window.addEventListener('mouseup', function () { drag = null; });
  gc.addEventListener('mousemove', function (ev) {
    if (drag) {
      var pw = gc.getBoundingClientRect().width - LABEL - RIGHT, span = drag.view[1] - drag.view[0];
      var dt = -(ev.clientX - drag.x) * span / Math.max(pw, 1);
      dt = Math.max(-drag.view[0], Math.min(D.span - drag.view[1], dt));
      view = [drag.view[0] + dt, drag.view[1] + dt]; drawGantt(); hideTip(); return;
    }
    var i = ganttHit(ev);
    if (i < 0) { hideTip(); return; }
    var text = name(i) + '  \u00b7  ' + lanes[T.lane[i]].label + '\n' + 'start +' + fmt(T.s[i]) + ', end +' + fmt(T.e[i]) +
      '\nrendered in ' + fmt(T.enc[i]) + (T.idx[i] < 0 ? '' : ', ' + T.fr[i] + ' frames, ' + fps(i).toFixed(1) + ' frames/s');
    showTip(ev, text);
  });
  gc.addEventListener('mouseleave', hideTip);
  gc.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var r = gc.getBoundingClientRect(), pw = r.width - LABEL - RIGHT;
    var f = Math.min(Math.max((ev.clientX - r.left - LABEL) / Math.max(pw, 1), 0), 1);
    var span = view[1] - view[0], t = view[0] + f * span;
    var ns = Math.min(D.span, Math.max(span * Math.pow(1.0015, ev.deltaY), D.span / 20000, 1e-3));
    var a = Math.max(0, Math.min(t - f * ns, D.span - ns));
    view = [a, a + ns]; drawGantt();
  }, { passive: false });
  gc.addEventListener('dblclick', function () { view = [0, D.span]; drawGantt(); });

  // ---- Encode speed: frames / encode_seconds per chunk, by chunk index. ----
  var swrap = document.getElementById('speed'), sc = document.getElementById('speed-canvas');
  var byChunk = new Int32Array(D.chunks).fill(-1), top = 0, speeds = [];
  for (var i = 0; i < n; i++) if (T.idx[i] >= 0) { byChunk[T.idx[i]] = i; top = Math.max(top, fps(i)); speeds.push(fps(i)); }
  speeds.sort(function (p, q) { return p - q; });
  var SH = 200, SL = 56, SB = 22;
  function drawSpeed() {
    var W = Math.max(swrap.clientWidth, 300), pw = W - SL - RIGHT, ph = SH - SB - 8, g = canvas(sc, W, SH);
    g.font = '11px system-ui, sans-serif'; g.textBaseline = 'middle';
    var max = top > 0 ? top * 1.1 : 1, st = step(max, ph, 36);
    g.strokeStyle = '#e6eaf0'; g.fillStyle = '#6b7585'; g.textAlign = 'right';
    for (var v = 0; v <= max + 1e-9; v += st) {
      var yy = Math.round(8 + ph - v / max * ph) + 0.5;
      g.beginPath(); g.moveTo(SL, yy); g.lineTo(SL + pw, yy); g.stroke(); g.fillText(v.toFixed(st < 1 ? 1 : 0), SL - 6, yy);
    }
    g.save(); g.translate(12, 8 + ph / 2); g.rotate(-Math.PI / 2); g.textAlign = 'center'; g.fillText('frames/s', 0, 0); g.restore();
    var bw = pw / Math.max(D.chunks, 1), cstep = step(D.chunks, pw, 70);
    g.textAlign = 'center';
    for (var c = 0; c < D.chunks; c += Math.max(1, cstep)) g.fillText(String(c), SL + (c + 0.5) * bw, SH - 10);
    for (var j = 0; j < D.chunks; j++) {
      var ti = byChunk[j];
      if (ti < 0) continue;
      var h = fps(ti) / max * ph;
      g.fillStyle = j % 2 ? '#6aa1e6' : '#3f7fd0';
      g.fillRect(SL + j * bw + (bw > 4 ? 1 : 0), 8 + ph - h, Math.max(bw - (bw > 4 ? 2 : 0), 1), Math.max(h, 1));
    }
    if (speeds.length) {
      var med = speeds[Math.floor(speeds.length / 2)], my = Math.round(8 + ph - med / max * ph) + 0.5;
      g.strokeStyle = '#c0392b'; g.setLineDash([5, 4]); g.beginPath(); g.moveTo(SL, my); g.lineTo(SL + pw, my); g.stroke(); g.setLineDash([]);
      g.fillStyle = '#c0392b'; g.textAlign = 'right'; g.fillText('median ' + med.toFixed(1), SL + pw - 2, my - 8);
    } else {
      g.fillStyle = '#6b7585'; g.textAlign = 'left'; g.fillText('no chunk published yet', SL + 8, 20);
    }
  }
  sc.addEventListener('mousemove', function (ev) {
    var r = sc.getBoundingClientRect(), pw = r.width - SL - RIGHT;
    var c = Math.floor((ev.clientX - r.left - SL) / (pw / Math.max(D.chunks, 1)));
    if (c < 0 || c >= D.chunks) { hideTip(); return; }
    var i = byChunk[c];
    showTip(ev, i < 0 ? 'chunk ' + c + ': not published' :
      'chunk ' + c + ': ' + fps(i).toFixed(1) + ' frames/s\n' + T.fr[i] + ' frames in ' + fmt(T.enc[i]) + '\n' + lanes[T.lane[i]].label);
  });
  sc.addEventListener('mouseleave', hideTip);

  // ---- Per-task table, built when opened. ----
  var details = document.getElementById('chunk-table');
  details.addEventListener('toggle', function () {
    var box = document.getElementById('chunk-rows');
    if (!details.open || box.firstChild) return;
    var order = []; for (var i = 0; i < n; i++) order.push(i);
    order.sort(function (p, q) { return T.idx[p] - T.idx[q]; });
    var table = document.createElement('table'), head = table.insertRow();
    ['task', 'frames', 'encode', 'frames/s', 'start', 'end', 'worker'].forEach(function (h) {
      var th = document.createElement('th'); th.textContent = h; head.appendChild(th);
    });
    order.forEach(function (i) {
      var row = table.insertRow();
      [name(i), T.idx[i] < 0 ? '' : T.fr[i], fmt(T.enc[i]), T.idx[i] < 0 ? '' : fps(i).toFixed(1), '+' + fmt(T.s[i]), '+' + fmt(T.e[i]), lanes[T.lane[i]].label]
        .forEach(function (v) { row.insertCell().textContent = v; });
    });
    box.appendChild(table);
  });

  drawGantt(); drawSpeed();
  var pending = false;
  window.addEventListener('resize', function () {
    if (pending) return; pending = true;
    setTimeout(function () { pending = false; drawGantt(); drawSpeed(); }, 100);
  });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc_text(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(1_700_000_000.5), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_text(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn text_cannot_break_out_of_html_or_script() {
        assert_eq!(esc("<b a=\"x\">&'"), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
        let json = script_json(&serde_json::json!({"f": "</script><script>alert(1)</script>&"}));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["f"], "</script><script>alert(1)</script>&");
    }
}
