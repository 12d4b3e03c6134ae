//! `vre bench`: measures vre against the plain ffmpeg command a user would have typed for the
//! same job, in one run, as ratios (absolute times drift between runs on shared machines).
//!
//! Configurations are interleaved — serial ffmpeg, vre with each worker count, serial ffmpeg
//! again, … — so that drift in the machine's speed hits all of them alike, and the median of the
//! runs is reported. CPU time is the growth of `getrusage` over this process and its waited-for
//! children (every ffmpeg and ffprobe counts), so vre's own planning, hashing and claiming are
//! part of its CPU time.
//!
//! Reported per configuration: wall and CPU seconds; speedup (serial wall ÷ wall) and
//! efficiency (speedup ÷ workers); CPU overhead (CPU ÷ serial CPU); size overhead (output bytes
//! ÷ serial output bytes); for vre the time in plan / work / assemble (from `stages.json`), the
//! share of plan + assemble in the wall time, a plain copy of the output for comparison with
//! assembly, and the serial fraction Amdahl's law implies, f = (N/S − 1)/(N − 1).

use crate::plandir::layout::PlanDir;
use crate::plandir::stages::{self, Stage};
use crate::sys::fsio;
use serde::Serialize;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Cores this process may use.
    pub cores: usize,
    /// CPU model, from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Total memory in bytes, from `/proc/meminfo`.
    pub memory_bytes: u64,
    /// The first line of `ffmpeg -version`.
    pub ffmpeg_version: String,
}

impl Machine {
    /// Reads what this machine is.
    pub fn detect() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown", |(_, v)| v.trim())
            .to_string();
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_bytes = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let ffmpeg_version = crate::ffmpeg::version()
            .command()
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "unknown".to_string());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_bytes,
            ffmpeg_version,
        }
    }
}

/// One timed run of one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Which round of the interleaved runs, from 1.
    pub run: u32,
    /// Wall-clock seconds, from start to the output in place.
    pub wall_seconds: f64,
    /// CPU seconds (user + system) of every process involved.
    pub cpu_seconds: f64,
    /// Bytes of the output.
    pub bytes: u64,
    /// vre: the plan stage (probe, packet scan, hash, trial frame, planDir written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_seconds: Option<f64>,
    /// vre: the work stage (the wall time between plan and assemble).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_seconds: Option<f64>,
    /// vre: the assemble stage (verify, concatenate, mux, check, rename).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assemble_seconds: Option<f64>,
    /// vre: copying the output to a new file and fsyncing it, for comparison with assembly
    /// (not part of the wall time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_seconds: Option<f64>,
}

/// What one vre run reports back besides its time.
#[derive(Debug, Clone, Default)]
pub struct VreFacts {
    /// Chunks in the plan.
    pub chunks: usize,
    /// Frames per chunk aimed at.
    pub chunk_frames: u64,
    /// Encoder threads per chunk.
    pub threads_per_chunk: u32,
    /// Preroll frames per chunk.
    pub preroll_frames: u64,
}

/// One configuration: serial ffmpeg, or vre with N workers.
#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    /// `ffmpeg` or `vre -j N`.
    pub name: String,
    /// Workers (1 for ffmpeg).
    pub workers: u32,
    /// vre: encoder threads per chunk (ffmpeg: its own default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads_per_chunk: Option<u32>,
    /// vre: chunks in the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<usize>,
    /// Every run.
    pub samples: Vec<Sample>,
    /// Median wall seconds.
    pub wall_seconds: f64,
    /// Median CPU seconds.
    pub cpu_seconds: f64,
    /// Median output bytes.
    pub bytes: u64,
    /// Serial ffmpeg's wall ÷ this wall.
    pub speedup: f64,
    /// Speedup ÷ workers.
    pub efficiency: f64,
    /// This CPU ÷ serial ffmpeg's CPU.
    pub cpu_overhead: f64,
    /// This output's bytes ÷ serial ffmpeg's output bytes.
    pub size_overhead: f64,
    /// vre: median plan seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_seconds: Option<f64>,
    /// vre: median work seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_seconds: Option<f64>,
    /// vre: median assemble seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assemble_seconds: Option<f64>,
    /// vre: (plan + assemble) ÷ wall, from the medians.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_assemble_share: Option<f64>,
    /// vre: median seconds to copy the output (compare with `assemble_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_seconds: Option<f64>,
    /// vre with more than one worker: the serial fraction f that Amdahl's law gives for this
    /// speedup S at N workers, (N/S − 1)/(N − 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_fraction: Option<f64>,
}

/// Amdahl's law fitted to one measured point.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Amdahl {
    /// The worker count the fraction was measured at (the largest above 1).
    pub workers: u32,
    /// The serial fraction f.
    pub serial_fraction: f64,
}

impl Amdahl {
    /// The speedup Amdahl's law predicts at `n` workers: 1 / (f + (1 − f) / n).
    pub fn speedup(&self, n: f64) -> f64 {
        1.0 / (self.serial_fraction + (1.0 - self.serial_fraction) / n)
    }
}

/// The job a benchmark measures, as the caller describes it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// The input.
    pub input: PathBuf,
    /// Output frames.
    pub frames: u64,
    /// Output frame rate, `N/D`.
    pub frame_rate: String,
    /// Output size, `WxH`.
    pub size: String,
    /// The filter chain.
    pub video_filter: Option<String>,
    /// Encoder settings in one line.
    pub encoder: String,
    /// Extension of the output files (the container's name).
    pub extension: String,
}

/// The whole result of `vre bench`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// The machine.
    pub machine: Machine,
    /// The job.
    pub job: Job,
    /// The serial command, as a person would type it (the output named `serial.EXT`).
    pub serial_command: String,
    /// How vre was run for each worker count.
    pub vre_command: String,
    /// Rounds of interleaved runs.
    pub runs: u32,
    /// Serial ffmpeg.
    pub serial: Configuration,
    /// vre, one per worker count.
    pub vre: Vec<Configuration>,
    /// Amdahl's law from the largest worker count above 1, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amdahl: Option<Amdahl>,
    /// The machine's limit for this job: serial CPU seconds ÷ cores.
    pub limit_wall_seconds: f64,
    /// That limit ÷ serial wall: the best wall ratio any parallel run could reach.
    pub limit_ratio: f64,
}

/// What `run` needs besides the job.
pub struct Setup<'a> {
    /// The job.
    pub job: Job,
    /// The serial command for an output path.
    pub serial: &'a dyn Fn(&Path) -> crate::ffmpeg::Argv,
    /// Runs vre (`vre run` logic) with N workers into OUT, keeping its planDir at DIR.
    pub vre: &'a dyn Fn(u32, &Path, &Path) -> anyhow::Result<()>,
    /// How vre is run, for the record.
    pub vre_command: String,
    /// Worker counts.
    pub workers: Vec<u32>,
    /// Rounds.
    pub runs: u32,
    /// Where temporary outputs and planDirs go (created, and removed afterwards).
    pub scratch: PathBuf,
    /// Called with a line of progress after every run.
    pub progress: &'a dyn Fn(&str),
}

/// Seconds of CPU (user + system) used so far by this process and its waited-for children.
pub fn cpu_seconds() -> f64 {
    let mut total = 0.0;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes only into the struct we own.
        if unsafe { libc::getrusage(who, &mut usage) } == 0 {
            for tv in [usage.ru_utime, usage.ru_stime] {
                total += tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
            }
        }
    }
    total
}

/// The median (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The serial fraction Amdahl's law gives for speedup `speedup` at `workers` workers:
/// (N/S − 1)/(N − 1); `None` for one worker.
pub fn serial_fraction(workers: u32, speedup: f64) -> Option<f64> {
    (workers > 1 && speedup > 0.0).then(|| {
        let n = f64::from(workers);
        (n / speedup - 1.0) / (n - 1.0)
    })
}

/// Removes the scratch directory when the benchmark ends, however it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn file_size(path: &Path) -> io::Result<u64> {
    Ok(fs::metadata(path)?.len())
}

/// Copies `path` to a new file beside it and fsyncs the copy; returns the seconds it took.
fn time_copy(path: &Path) -> io::Result<f64> {
    let copy = fsio::temp_path_for(path);
    let clock = Instant::now();
    let result = fs::copy(path, &copy).and_then(|_| fs::File::open(&copy)?.sync_all());
    let seconds = clock.elapsed().as_secs_f64();
    let _ = fs::remove_file(&copy);
    result.map(|()| seconds)
}

fn run_serial(setup: &Setup, out: &Path, run: u32) -> anyhow::Result<Sample> {
    let argv = (setup.serial)(out);
    let cpu = cpu_seconds();
    let clock = Instant::now();
    // Guarded like vre's own children: killed with vre, and by SIGINT/SIGTERM.
    let outcome = crate::ffmpeg::runner::run_guarded(&argv, None, |_| {})?;
    let wall_seconds = clock.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds() - cpu;
    if outcome.interrupted {
        return Err(crate::exit::Coded::new(crate::exit::Code::Interrupted, "interrupted").into());
    }
    if !outcome.status.success() {
        anyhow::bail!(
            "the serial ffmpeg failed ({}): {}\ncommand: {}",
            outcome.status,
            crate::ffmpeg::last_lines(&outcome.stderr_tail, 4),
            argv.display()
        );
    }
    let bytes = file_size(out)?;
    fs::remove_file(out)?;
    Ok(Sample {
        run,
        wall_seconds,
        cpu_seconds,
        bytes,
        plan_seconds: None,
        work_seconds: None,
        assemble_seconds: None,
        copy_seconds: None,
    })
}

fn run_vre(
    setup: &Setup,
    workers: u32,
    out: &Path,
    plan_dir: &Path,
    run: u32,
) -> anyhow::Result<(Sample, VreFacts)> {
    let cpu = cpu_seconds();
    let clock = Instant::now();
    (setup.vre)(workers, out, plan_dir)?;
    let wall_seconds = clock.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds() - cpu;
    let dir = PlanDir::new(plan_dir);
    let loaded = dir.load()?;
    let recorded = stages::read(&dir);
    let stage = |s| {
        recorded
            .get(s, &loaded.plan.plan_hash)
            .map(|t| t.seconds)
            .unwrap_or(0.0)
    };
    let (plan_seconds, assemble_seconds) = (stage(Stage::Plan), stage(Stage::Assemble));
    let facts = VreFacts {
        chunks: loaded.chunks.len(),
        chunk_frames: loaded.plan.chunking.target_frames,
        threads_per_chunk: loaded.plan.encoder.threads,
        preroll_frames: loaded.plan.preroll.frames,
    };
    let bytes = file_size(out)?;
    let copy_seconds = time_copy(out)?;
    fs::remove_file(out)?;
    fs::remove_dir_all(plan_dir)?;
    Ok((
        Sample {
            run,
            wall_seconds,
            cpu_seconds,
            bytes,
            plan_seconds: Some(plan_seconds),
            work_seconds: Some((wall_seconds - plan_seconds - assemble_seconds).max(0.0)),
            assemble_seconds: Some(assemble_seconds),
            copy_seconds: Some(copy_seconds),
        },
        facts,
    ))
}

fn summarize(
    name: String,
    workers: u32,
    samples: Vec<Sample>,
    facts: Option<&VreFacts>,
    serial: Option<&Configuration>,
) -> Configuration {
    let pick = |f: &dyn Fn(&Sample) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
    let pick_opt = |f: &dyn Fn(&Sample) -> Option<f64>| {
        let values: Vec<f64> = samples.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| median(&values))
    };
    let wall_seconds = pick(&|s| s.wall_seconds);
    let cpu_seconds = pick(&|s| s.cpu_seconds);
    let bytes = pick(&|s| s.bytes as f64).round() as u64;
    let (serial_wall, serial_cpu, serial_bytes) = serial
        .map_or((wall_seconds, cpu_seconds, bytes), |s| {
            (s.wall_seconds, s.cpu_seconds, s.bytes)
        });
    let speedup = serial_wall / wall_seconds.max(1e-9);
    let plan_seconds = pick_opt(&|s| s.plan_seconds);
    let assemble_seconds = pick_opt(&|s| s.assemble_seconds);
    Configuration {
        name,
        workers,
        threads_per_chunk: facts.map(|f| f.threads_per_chunk),
        chunks: facts.map(|f| f.chunks),
        wall_seconds,
        cpu_seconds,
        bytes,
        speedup,
        efficiency: speedup / f64::from(workers),
        cpu_overhead: cpu_seconds / serial_cpu.max(1e-9),
        size_overhead: bytes as f64 / serial_bytes.max(1) as f64,
        plan_seconds,
        work_seconds: pick_opt(&|s| s.work_seconds),
        assemble_seconds,
        plan_assemble_share: plan_seconds
            .zip(assemble_seconds)
            .map(|(p, a)| (p + a) / wall_seconds.max(1e-9)),
        copy_seconds: pick_opt(&|s| s.copy_seconds),
        serial_fraction: facts.and_then(|_| serial_fraction(workers, speedup)),
        samples,
    }
}

/// Runs the benchmark: `runs` rounds of serial ffmpeg followed by vre at every worker count.
pub fn run(setup: &Setup, machine: Machine) -> anyhow::Result<BenchResult> {
    crate::ffmpeg::runner::install_signal_handlers();
    fs::create_dir_all(&setup.scratch)?;
    let _cleanup = Scratch(setup.scratch.clone());
    let ext = &setup.job.extension;
    let mut serial_samples = Vec::new();
    let mut vre_samples: Vec<Vec<Sample>> = vec![Vec::new(); setup.workers.len()];
    let mut facts: Vec<VreFacts> = vec![VreFacts::default(); setup.workers.len()];
    for run in 1..=setup.runs {
        let out = setup.scratch.join(format!("serial-{run}.{ext}"));
        let sample = run_serial(setup, &out, run)?;
        (setup.progress)(&format!(
            "run {run}/{}: ffmpeg {:.2} s wall, {:.2} s CPU",
            setup.runs, sample.wall_seconds, sample.cpu_seconds
        ));
        serial_samples.push(sample);
        for (i, &workers) in setup.workers.iter().enumerate() {
            let out = setup.scratch.join(format!("vre-j{workers}-{run}.{ext}"));
            let plan_dir = setup.scratch.join(format!("vre-j{workers}-{run}.vre"));
            let (sample, f) = run_vre(setup, workers, &out, &plan_dir, run)?;
            (setup.progress)(&format!(
                "run {run}/{}: vre -j {workers} {:.2} s wall, {:.2} s CPU (plan {:.2} s, assemble {:.2} s)",
                setup.runs,
                sample.wall_seconds,
                sample.cpu_seconds,
                sample.plan_seconds.unwrap_or(0.0),
                sample.assemble_seconds.unwrap_or(0.0)
            ));
            vre_samples[i].push(sample);
            facts[i] = f;
        }
    }
    let serial = summarize("ffmpeg".to_string(), 1, serial_samples, None, None);
    let vre: Vec<Configuration> = setup
        .workers
        .iter()
        .zip(vre_samples)
        .zip(&facts)
        .map(|((&workers, samples), f)| {
            summarize(
                format!("vre -j {workers}"),
                workers,
                samples,
                Some(f),
                Some(&serial),
            )
        })
        .collect();
    let amdahl = vre
        .iter()
        .filter(|c| c.workers > 1)
        .max_by_key(|c| c.workers)
        .and_then(|c| {
            c.serial_fraction.map(|f| Amdahl {
                workers: c.workers,
                serial_fraction: f,
            })
        });
    let limit_wall_seconds = serial.cpu_seconds / machine.cores.max(1) as f64;
    Ok(BenchResult {
        limit_ratio: limit_wall_seconds / serial.wall_seconds.max(1e-9),
        limit_wall_seconds,
        serial_command: (setup.serial)(Path::new(&format!("serial.{ext}"))).display(),
        vre_command: setup.vre_command.clone(),
        runs: setup.runs,
        job: setup.job.clone(),
        machine,
        serial,
        vre,
        amdahl,
    })
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or("-".to_string(), |v| format!("{v:.digits$}"))
}

/// The result as a text table with a header and the commands.
pub fn table(result: &BenchResult) -> String {
    let mut out = String::new();
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
    let _ = writeln!(
        out,
        "{:<9} {:>3} {:>4} {:>6} {:>8} {:>8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}",
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
        "Amdahl f"
    );
    for c in std::iter::once(&result.serial).chain(&result.vre) {
        let _ = writeln!(
            out,
            "{:<9} {:>3} {:>4} {:>6} {:>8.2} {:>8.2} {:>7.3} {:>6.3} {:>6.3} {:>6.3} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}",
            c.name,
            c.workers,
            c.threads_per_chunk
                .map_or("auto".to_string(), |t| t.to_string()),
            c.chunks.map_or("-".to_string(), |n| n.to_string()),
            c.wall_seconds,
            c.cpu_seconds,
            c.speedup,
            c.efficiency,
            c.cpu_overhead,
            c.size_overhead,
            opt(c.plan_seconds, 2),
            opt(c.work_seconds, 2),
            opt(c.assemble_seconds, 2),
            opt(c.copy_seconds, 2),
            opt(c.plan_assemble_share.map(|s| s * 100.0), 2),
            opt(c.serial_fraction, 3)
        );
    }
    let _ = writeln!(
        out,
        "\nlimit: serial CPU / {} cores = {:.2} s, {:.3} of the serial wall time",
        m.cores, result.limit_wall_seconds, result.limit_ratio
    );
    for c in &result.vre {
        let _ = writeln!(
            out,
            "{}: wall ratio {:.3} (vre wall / ffmpeg wall)",
            c.name,
            c.wall_seconds / result.serial.wall_seconds.max(1e-9)
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
    out
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A self-contained SVG of speedup against workers: the measured points, the ideal line
/// (speedup = workers) and, if known, Amdahl's curve for the measured serial fraction.
pub fn svg(result: &BenchResult) -> String {
    let (width, height) = (640.0, 420.0);
    let (left, right, top, bottom) = (60.0, 20.0, 40.0, 50.0);
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
    let x = |n: f64| left + n / f64::from(max_workers) * (width - left - right);
    let y = |s: f64| height - bottom - s / max_speedup * (height - top - bottom);
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
        xml_escape(&format!(
            "vre speedup over serial ffmpeg — {}",
            result.job.video_filter.as_deref().unwrap_or("no filter")
        ))
    );
    // Axes, ticks and grid.
    let _ = writeln!(
        out,
        r##"<g id="axes" stroke="#333" fill="none"><line x1="{l}" y1="{b}" x2="{r}" y2="{b}"/><line x1="{l}" y1="{b}" x2="{l}" y2="{t}"/></g>"##,
        l = x(0.0),
        r = x(f64::from(max_workers)),
        b = y(0.0),
        t = y(max_speedup)
    );
    for n in 0..=max_workers {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{n}</text>"#,
            x(f64::from(n)),
            y(0.0) + 18.0
        );
    }
    let steps = max_speedup as u32;
    for s in 0..=steps {
        let _ = writeln!(
            out,
            r##"<line x1="{:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{s}</text>"##,
            x(0.0),
            x(f64::from(max_workers)),
            x(0.0) - 6.0,
            y(f64::from(s)) + 4.0,
            yy = y(f64::from(s))
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">workers</text><text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">speedup</text>"#,
        x(f64::from(max_workers) / 2.0),
        height - 10.0,
        y(max_speedup / 2.0),
        y(max_speedup / 2.0)
    );
    // The ideal line: speedup = workers.
    let _ = writeln!(
        out,
        r##"<line id="ideal" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="6 4"/>"##,
        x(0.0),
        y(0.0),
        x(f64::from(max_workers)),
        y(f64::from(max_workers))
    );
    if let Some(a) = result.amdahl {
        let points: Vec<String> = (0..=50)
            .map(|i| {
                let n = 1.0 + f64::from(max_workers - 1) * f64::from(i) / 50.0;
                format!("{:.1},{:.1}", x(n), y(a.speedup(n)))
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
        .map(|c| format!("{:.1},{:.1}", x(f64::from(c.workers)), y(c.speedup)))
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
            x(f64::from(c.workers)),
            y(c.speedup),
            xml_escape(&c.name),
            c.speedup,
            c.efficiency
        );
    }
    // Legend.
    let lx = x(0.0) + 12.0;
    let mut legend = vec![
        ("#3f7fd0", "", "vre, measured".to_string()),
        (
            "#999",
            r#" stroke-dasharray="6 4""#,
            "ideal (speedup = workers)".to_string(),
        ),
    ];
    if let Some(a) = result.amdahl {
        legend.push((
            "#e8891c",
            "",
            format!("Amdahl, serial fraction f = {:.3}", a.serial_fraction),
        ));
    }
    for (i, (color, dash, label)) in legend.iter().enumerate() {
        let ly = top + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            xml_escape(label)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_amdahl() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(serial_fraction(1, 0.9), None);
        assert!((serial_fraction(2, 2.0).unwrap()).abs() < 1e-12);
        assert!((serial_fraction(2, 1.0).unwrap() - 1.0).abs() < 1e-12);
        let f = serial_fraction(4, 2.5).unwrap();
        let a = Amdahl {
            workers: 4,
            serial_fraction: f,
        };
        assert!((a.speedup(4.0) - 2.5).abs() < 1e-9);
        assert!((a.speedup(1.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn cpu_time_grows() {
        let before = cpu_seconds();
        let mut x = 0u64;
        let clock = Instant::now();
        while clock.elapsed().as_millis() < 30 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds() > before);
    }
}
