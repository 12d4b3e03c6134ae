//! The result of `vre bench` as a self-contained SVG: speedup against workers.

use crate::bench::model::BenchResult;
use crate::inspect::markup::escape;
use std::fmt::Write as _;

/// The plot's size, margins and scales.
struct Plot {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    /// The largest worker count on the x axis (at least 2).
    max_workers: u32,
    /// The largest speedup on the y axis (at least `max_workers`, rounded up).
    max_speedup: f64,
}

impl Plot {
    /// The plot of `result`: wide enough for its largest worker count and speedup.
    fn of(result: &BenchResult) -> Plot {
        let max_workers = result
            .vre
            .iter()
            .map(|c| c.workers)
            .max()
            .unwrap_or(1)
            .max(2);
        let max_speedup = result
            .vre
            .iter()
            .map(|c| c.speedup)
            .fold(f64::from(max_workers), f64::max)
            .ceil();
        Plot {
            width: 640.0,
            height: 420.0,
            left: 60.0,
            right: 20.0,
            top: 40.0,
            bottom: 50.0,
            max_workers,
            max_speedup,
        }
    }

    /// The x coordinate of `n` workers.
    fn x(&self, n: f64) -> f64 {
        self.left + n / f64::from(self.max_workers) * (self.width - self.left - self.right)
    }

    /// The y coordinate of speedup `s`.
    fn y(&self, s: f64) -> f64 {
        self.height - self.bottom - s / self.max_speedup * (self.height - self.top - self.bottom)
    }
}

/// A self-contained SVG of speedup against workers: the measured points, the ideal line
/// (speedup = workers) and, if known, Amdahl's curve for the measured serial fraction.
pub fn svg(result: &BenchResult) -> String {
    let p = Plot::of(result);
    let (width, height) = (p.width, p.height);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">
<title>vre speedup against workers</title>
<rect width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        width / 2.0,
        escape(&format!(
            "vre speedup over serial ffmpeg — {}",
            result.job.video_filter.as_deref().unwrap_or("no filter")
        ))
    );
    axes(&mut out, &p);
    curves(&mut out, &p, result);
    legend(&mut out, &p, result);
    out.push_str("</svg>\n");
    out
}

/// Axes, ticks, grid and axis labels.
fn axes(out: &mut String, p: &Plot) {
    let max_workers = f64::from(p.max_workers);
    let _ = writeln!(
        out,
        r##"<g id="axes" stroke="#333" fill="none"><line x1="{l}" y1="{b}" x2="{r}" y2="{b}"/><line x1="{l}" y1="{b}" x2="{l}" y2="{t}"/></g>"##,
        l = p.x(0.0),
        r = p.x(max_workers),
        b = p.y(0.0),
        t = p.y(p.max_speedup)
    );
    for n in 0..=p.max_workers {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{n}</text>"#,
            p.x(f64::from(n)),
            p.y(0.0) + 18.0
        );
    }
    let steps = p.max_speedup as u32;
    for s in 0..=steps {
        let _ = writeln!(
            out,
            r##"<line x1="{:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{s}</text>"##,
            p.x(0.0),
            p.x(max_workers),
            p.x(0.0) - 6.0,
            p.y(f64::from(s)) + 4.0,
            yy = p.y(f64::from(s))
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">workers</text><text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">speedup</text>"#,
        p.x(max_workers / 2.0),
        p.height - 10.0,
        p.y(p.max_speedup / 2.0),
        p.y(p.max_speedup / 2.0)
    );
}

/// The ideal line, Amdahl's curve if known, and the measured points.
fn curves(out: &mut String, p: &Plot, result: &BenchResult) {
    let max_workers = f64::from(p.max_workers);
    // The ideal line: speedup = workers.
    let _ = writeln!(
        out,
        r##"<line id="ideal" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="6 4"/>"##,
        p.x(0.0),
        p.y(0.0),
        p.x(max_workers),
        p.y(max_workers)
    );
    if let Some(a) = result.amdahl {
        let points: Vec<String> = (0..=50)
            .map(|i| {
                let n = 1.0 + f64::from(p.max_workers - 1) * f64::from(i) / 50.0;
                format!("{:.1},{:.1}", p.x(n), p.y(a.speedup(n)))
            })
            .collect();
        let _ = writeln!(
            out,
            r##"<polyline id="amdahl" points="{}" fill="none" stroke="#e8891c" stroke-width="1.5"/>"##,
            points.join(" ")
        );
    }
    let measured: Vec<String> = result
        .vre
        .iter()
        .map(|c| format!("{:.1},{:.1}", p.x(f64::from(c.workers)), p.y(c.speedup)))
        .collect();
    let _ = writeln!(
        out,
        r##"<polyline id="measured" points="{}" fill="none" stroke="#3f7fd0" stroke-width="2"/>"##,
        measured.join(" ")
    );
    for c in &result.vre {
        let _ = writeln!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#3f7fd0"><title>{}: speedup {:.3}, efficiency {:.3}</title></circle>"##,
            p.x(f64::from(c.workers)),
            p.y(c.speedup),
            escape(&c.name),
            c.speedup,
            c.efficiency
        );
    }
}

/// What each line is.
fn legend(out: &mut String, p: &Plot, result: &BenchResult) {
    let lx = p.x(0.0) + 12.0;
    let mut entries = vec![
        ("#3f7fd0", "", "vre, measured".to_string()),
        (
            "#999",
            r#" stroke-dasharray="6 4""#,
            "ideal (speedup = workers)".to_string(),
        ),
    ];
    if let Some(a) = result.amdahl {
        entries.push((
            "#e8891c",
            "",
            format!("Amdahl, serial fraction f = {:.3}", a.serial_fraction),
        ));
    }
    for (i, (color, dash, label)) in entries.iter().enumerate() {
        let ly = p.top + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            escape(label)
        );
    }
}
