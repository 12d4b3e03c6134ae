//! The result of `vre bench` as a text table: the machine and the job, one row per
//! configuration, then the machine's limit, the wall ratios and Amdahl's law.

use crate::bench::model::{BenchResult, Configuration};
use std::fmt::Write as _;

/// The result as a text table with a header and the commands.
pub fn table(result: &BenchResult) -> String {
    let mut out = String::new();
    header(&mut out, result);
    let _ = writeln!(
        out,
        "{:<9} {:>3} {:>4} {:>6} {:>8} {:>8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8}",
        "config",
        "N",
        "thr",
        "chunks",
        "wall s",
        "CPU s",
        "speedup",
        "effic",
        "CPU x",
        "size x",
        "plan s",
        "work s",
        "asm s",
        "cp s",
        "p+a %",
        "extra s",
        "fixed %",
        "Amdahl f"
    );
    for c in std::iter::once(&result.serial).chain(&result.vre) {
        row(&mut out, c);
    }
    footer(&mut out, result);
    out
}

/// The machine, the job, both commands and what the figures are.
fn header(out: &mut String, result: &BenchResult) {
    let m = &result.machine;
    let j = &result.job;
    let _ = writeln!(
        out,
        "machine: {} cores, {}, {:.1} GiB; {}",
        m.cores,
        m.cpu_model,
        m.memory_bytes as f64 / (1u64 << 30) as f64,
        m.ffmpeg_version
    );
    let _ = writeln!(
        out,
        "job: {}, {} frames {} @ {} fps, --vf {}, {}",
        j.input.display(),
        j.frames,
        j.size,
        j.frame_rate,
        j.video_filter.as_deref().unwrap_or("(none)"),
        j.encoder
    );
    let _ = writeln!(out, "serial: {}", result.serial_command);
    let _ = writeln!(out, "vre:    {}", result.vre_command);
    let _ = writeln!(
        out,
        "medians of {} interleaved run(s); ratios against serial ffmpeg\n",
        result.runs
    );
}

/// A number with `digits` decimals, or `-` for none.
fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("-".to_string(), |v| format!("{v:.digits$}"))
}

/// One configuration's row.
fn row(out: &mut String, c: &Configuration) {
    let stages = c.vre.map(|v| v.stages);
    let _ = writeln!(
        out,
        "{:<9} {:>3} {:>4} {:>6} {:>8.2} {:>8.2} {:>7.3} {:>6.3} {:>6.3} {:>6.3} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8}",
        c.name,
        c.workers,
        c.facts
            .map_or("auto".to_string(), |f| f.threads_per_chunk.to_string()),
        c.facts.map_or("-".to_string(), |f| f.chunks.to_string()),
        c.wall_seconds,
        c.cpu_seconds,
        c.speedup,
        c.efficiency,
        c.cpu_overhead,
        c.size_overhead,
        opt(stages.map(|s| s.plan_seconds), 2),
        opt(stages.map(|s| s.work_seconds), 2),
        opt(stages.map(|s| s.assemble_seconds), 2),
        opt(c.vre.map(|v| v.copy_seconds), 2),
        opt(c.vre.map(|v| v.plan_assemble_share * 100.0), 2),
        opt(c.vre.map(|v| v.task_extra_seconds), 2),
        opt(c.vre.map(|v| v.fixed_share * 100.0), 2),
        opt(c.serial_fraction, 3)
    );
}

/// The machine's limit, each vre configuration's wall ratio, and Amdahl's law.
fn footer(out: &mut String, result: &BenchResult) {
    let _ = writeln!(
        out,
        "\nlimit: serial CPU / {} cores = {:.2} s, {:.3} of the serial wall time",
        result.machine.cores, result.limit_wall_seconds, result.limit_ratio
    );
    for c in &result.vre {
        let _ = writeln!(
            out,
            "{}: wall ratio {:.3} (vre wall / ffmpeg wall)",
            c.name,
            c.wall_seconds / result.serial.wall_seconds.max(1e-9)
        );
        if let Some(v) = c.vre {
            let _ = writeln!(
                out,
                "{}: fixed overhead {:.2} s, {:.1} % of the wall time (plan {:.2} s + assemble {:.2} s + {:.2} s of per-task checks, hashing and publishing shared by {} worker(s))",
                c.name,
                v.fixed_seconds,
                v.fixed_share * 100.0,
                v.stages.plan_seconds,
                v.stages.assemble_seconds,
                v.task_extra_seconds,
                c.workers
            );
        }
    }
    for c in std::iter::once(&result.serial).chain(&result.vre) {
        if let Some(q) = c.quality {
            let _ = writeln!(
                out,
                "{}: against the input PSNR-Y {:.2} dB ({:+.2} dB), SSIM-Y {:.4}, size x {:.3}",
                c.name,
                q.psnr_y,
                q.psnr_y - result.serial.quality.map_or(q.psnr_y, |s| s.psnr_y),
                q.ssim_y,
                c.size_overhead
            );
        }
    }
    if let Some(slower) = result
        .vre
        .iter()
        .filter(|c| c.workers > 1 && c.speedup < 1.0)
        .max_by_key(|c| c.workers)
        .filter(|_| result.amdahl.is_none())
    {
        let _ = writeln!(
            out,
            "Amdahl: no fit: {} was slower than serial ffmpeg (speedup {:.2})",
            slower.name, slower.speedup
        );
    }
    if let Some(a) = result.amdahl {
        let _ = writeln!(
            out,
            "Amdahl: serial fraction {:.3} at {} workers; predicted speedup at 4 workers {:.2}, limit {}",
            a.serial_fraction,
            a.workers,
            a.speedup(4.0),
            if a.serial_fraction > 0.0 {
                format!("{:.2}", 1.0 / a.serial_fraction)
            } else {
                "unbounded".to_string()
            }
        );
    }
}
