//! The report as one HTML page: a header, key numbers, the timeline and encode-speed charts
//! (drawn by the page's script from the embedded task data), the stage, worker and failure
//! tables, and the plan's facts. CSS and JS are inline; a Content-Security-Policy forbids
//! loading anything.

use crate::inspect::markup::escape;
use crate::inspect::report::data::page_data_json;
use crate::inspect::report::model::RunReport;
use crate::inspect::report::text::{facts, secs, utc_text};
use crate::inspect::status::TaskState;
use crate::sys::fsio;
use std::fmt::Write as _;

/// The page's style sheet.
const CSS: &str = include_str!("report.css");

/// The page's script: draws the charts and builds the per-task table.
const JS: &str = include_str!("report.js");

/// The whole page.
pub fn page(report: &RunReport) -> String {
    let mut h = String::with_capacity(64 * 1024 + report.timeline.bars.len() * 48);
    head(&mut h, report);
    cards(&mut h, report);
    timeline(&mut h, report);
    stages(&mut h, report);
    speedup(&mut h, report);
    encode_speed(&mut h, report);
    workers(&mut h, report);
    failed_tasks(&mut h, report);
    environment_errors(&mut h, report);
    plan_facts(&mut h, report);
    tail(&mut h, report);
    h
}

/// The document head and the page header.
fn head(h: &mut String, r: &RunReport) {
    let plan = &r.loaded.plan;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>vre report: {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        escape(&r.name())
    );
    let _ = writeln!(
        h,
        "<header><h1>vre report <span class=\"dim\">{}</span></h1>\
         <div class=\"dim\">plan {} &middot; report made {}</div></header>",
        escape(&r.name()),
        &plan.plan_hash[..plan.plan_hash.len().min(16)],
        utc_text(fsio::unix_now())
    );
}

/// One key number: a label, the value, a line below it, and `attr` on the card.
fn card(h: &mut String, label: &str, value: &str, sub: &str, attr: &str) {
    let _ = write!(
        h,
        "<div class=\"card\"{attr}><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"sub\">{}</div></div>",
        escape(label),
        escape(value),
        escape(sub)
    );
}

/// The key numbers: tasks and frames done, the work's wall time and speedup.
fn cards(h: &mut String, r: &RunReport) {
    let status = &r.status;
    let frames_pct = 100.0 * status.frames_done as f64 / status.frames_total.max(1) as f64;
    h.push_str("<section class=\"cards\">");
    card(
        h,
        "tasks done",
        &format!("{} / {}", status.done, status.total),
        &format!(
            "{} running, {} pending, {} failed; {} environment error(s)",
            status.running, status.pending, status.failed, status.environment_errors
        ),
        &format!(
            " data-done=\"{}\" data-total=\"{}\"",
            status.done, status.total
        ),
    );
    card(
        h,
        "frames done",
        &format!("{frames_pct:.1} %"),
        &format!("{} of {}", status.frames_done, status.frames_total),
        "",
    );
    match r.timeline.work {
        Some(w) => {
            card(
                h,
                "work wall time",
                &secs(w.seconds()),
                &format!(
                    "{} lane(s), peak {} at once",
                    r.timeline.lanes.len(),
                    w.peak
                ),
                "",
            );
            card(
                h,
                "speedup",
                &format!("{:.2}\u{d7}", w.speedup()),
                &format!(
                    "{} of rendering in {}",
                    secs(w.task_seconds),
                    secs(w.seconds())
                ),
                &format!(" data-speedup=\"{:.6}\"", w.speedup()),
            );
        }
        None => card(h, "work", "not started", "no task published yet", ""),
    }
    h.push_str("</section>\n");
}

/// The timeline's frame; the script draws the bars.
fn timeline(h: &mut String, r: &RunReport) {
    let _ = writeln!(
        h,
        "<section><h2>Timeline <span class=\"dim\">tasks {}</span></h2>\
         <div class=\"legend\"><span class=\"sw video\"></span>video chunk <span class=\"sw audio\"></span>audio \
         <span class=\"dim\">&middot; wheel to zoom, drag to pan, double-click to reset</span></div>\
         <div id=\"gantt\" class=\"chart\" data-lanes=\"{}\"><canvas id=\"gantt-canvas\"></canvas></div>\
         <noscript><p>The charts need JavaScript; the tables below do not.</p></noscript></section>",
        r.timeline.grouping.caption(),
        r.timeline.lanes.len()
    );
}

/// The stage table (plan, work, assemble), opening the section the speedup shares.
fn stages(h: &mut String, r: &RunReport) {
    let rows = r.stage_rows();
    let origin = rows
        .iter()
        .filter_map(|row| row.started_at)
        .fold(f64::INFINITY, f64::min);
    let longest = rows
        .iter()
        .filter_map(|row| row.seconds)
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
            escape(&start),
            escape(&duration),
            escape(&row.who),
            if row.note.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"dim\">{}</span>", escape(row.note))
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
}

/// The speedup over the summed render time, closing the section the stage table opened.
fn speedup(h: &mut String, r: &RunReport) {
    h.push_str("</div><div><h2>Speedup</h2>");
    match r.timeline.work {
        Some(w) => {
            let bars = &r.timeline.bars;
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
                r.timeline.lanes.len(),
                w.peak
            );
        }
        None => h.push_str("<p class=\"dim\">Nothing rendered yet.</p>"),
    }
    h.push_str("</div></section>\n");
}

/// The encode-speed chart's frame, titled with the spread of frames per second.
fn encode_speed(h: &mut String, r: &RunReport) {
    let mut fps: Vec<f64> = r
        .timeline
        .bars
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
}

/// The lanes' table, opening the section the failures and the plan's facts share.
fn workers(h: &mut String, r: &RunReport) {
    h.push_str(
        "<section class=\"split\"><div><h2>Workers</h2><table><tr><th>lane</th><th>tasks</th><th>frames</th><th>busy</th><th>of work</th></tr>",
    );
    for lane in &r.timeline.lanes {
        let share = r.timeline.work.map_or(0.0, |w| {
            100.0 * lane.busy / (w.seconds().max(1e-9) * lane.rows.max(1) as f64)
        });
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{share:.0} %</td></tr>",
            escape(&lane.label),
            lane.tasks,
            lane.frames,
            escape(&secs(lane.busy))
        );
    }
    h.push_str("</table>");
}

/// A heading and a table of the first 50 items, if there are any; `cells` gives each item's
/// cells as HTML.
fn short_table<T>(h: &mut String, heading: &str, items: &[T], cells: impl Fn(&T) -> Vec<String>) {
    if items.is_empty() {
        return;
    }
    h.push_str(heading);
    h.push_str("<table>");
    for item in items.iter().take(50) {
        h.push_str("<tr>");
        for cell in cells(item) {
            let _ = write!(h, "<td>{cell}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

/// The tasks out of attempts, if any.
fn failed_tasks(h: &mut String, r: &RunReport) {
    let failed: Vec<_> = r
        .status
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Failed)
        .collect();
    let heading = format!("<h2>Failed tasks ({})</h2>", failed.len());
    short_table(h, &heading, &failed, |t| {
        vec![
            t.name(),
            format!("{} attempt(s)", t.failed_attempts),
            escape(t.last_error.as_deref().unwrap_or("")),
        ]
    });
}

/// The tasks whose environment stopped a render, if any.
fn environment_errors(h: &mut String, r: &RunReport) {
    let environment: Vec<_> = r
        .status
        .tasks
        .iter()
        .filter_map(|t| Some((t, t.last_environment_error.as_ref()?)))
        .collect();
    let heading = format!(
        "<h2>Environment errors ({}) <span class=\"dim\">full disk, missing input, …: not attempts of the chunk</span></h2>",
        r.status.environment_errors
    );
    short_table(h, &heading, &environment, |(t, e)| {
        vec![
            t.name(),
            format!("{} time(s)", t.environment_errors),
            escape(e.cause.name()),
            escape(&e.error),
        ]
    });
}

/// The plan's facts, closing the section the workers' table opened.
fn plan_facts(h: &mut String, r: &RunReport) {
    h.push_str("</div><div><h2>Plan</h2><table class=\"facts\">");
    for (key, value) in facts(r) {
        let _ = write!(
            h,
            "<tr><th>{}</th><td data-fact=\"{}\">{}</td></tr>",
            escape(key),
            escape(key),
            escape(&value)
        );
    }
    h.push_str("</table></div></section>\n");
}

/// The per-task table (built by the script only when opened), the tooltip, the embedded task
/// data and the script.
fn tail(h: &mut String, r: &RunReport) {
    let _ = writeln!(
        h,
        "<section><details id=\"chunk-table\"><summary>Per-task table ({} published task(s))</summary><div id=\"chunk-rows\"></div></details></section>",
        r.timeline.bars.len()
    );
    let _ = write!(
        h,
        "<div id=\"tip\" hidden></div>\n<script type=\"application/json\" id=\"vre-data\">{}</script>\n<script>\n{JS}</script>\n</body>\n</html>\n",
        page_data_json(r)
    );
}
