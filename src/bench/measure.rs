//! Running what `vre bench` compares: the serial ffmpeg command and vre at each worker count,
//! interleaved round by round, timing each run's wall and CPU seconds.
//!
//! CPU time is the growth of `getrusage` over this process and its waited-for children (every
//! ffmpeg and ffprobe counts), so vre's own planning, hashing and claiming are part of its CPU
//! time. Outputs and planDirs go to a scratch directory that is removed however the run ends.

use crate::bench::model::{
    BenchResult, Job, Machine, Measured, Quality, Sample, StageSeconds, VreFacts, VreRuns,
    VreSample,
};
use crate::bench::stats;
use crate::exit::{Code, Coded, HasCode};
use crate::ffmpeg::error::FfmpegError;
use crate::ffmpeg::{query, runner};
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::stages::{self, Stage};
use crate::sys::fsio;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Instant;

/// Why a benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The serial ffmpeg could not be run.
    #[error(transparent)]
    Ffmpeg(#[from] FfmpegError),
    /// SIGINT or SIGTERM arrived while the serial ffmpeg ran.
    #[error("interrupted")]
    Interrupted,
    /// A vre run failed (the error [`Setup::vre`] returned).
    #[error(transparent)]
    Vre(#[from] Coded),
    /// The serial ffmpeg command failed.
    #[error("the serial ffmpeg failed ({status}): {stderr}\ncommand: {command}")]
    Serial {
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its stderr.
        stderr: String,
        /// The command, as a shell would take it.
        command: String,
    },
    /// The planDir of a vre run could not be read.
    #[error(transparent)]
    PlanDir(#[from] PlanDirError),
    /// A scratch file or directory could not be made, measured or removed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl HasCode for BenchError {
    fn code(&self) -> Code {
        match self {
            BenchError::Interrupted => Code::Interrupted,
            BenchError::Serial { .. } => Code::Failure,
            BenchError::Vre(e) => e.code(),
            BenchError::Ffmpeg(e) => e.code(),
            BenchError::PlanDir(e) => e.code(),
            BenchError::Io(_) => Code::IoErr,
        }
    }
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
        let ffmpeg_version = runner::run_capture(&query::version(), Path::new("ffmpeg"))
            .ok()
            .and_then(|stdout| {
                // `ffmpeg version 5.1.9-0+deb12u1`, without the copyright that follows.
                String::from_utf8_lossy(&stdout).lines().next().map(|line| {
                    line.split(" Copyright")
                        .next()
                        .unwrap_or(line)
                        .trim()
                        .to_string()
                })
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

/// Measures an output file's pictures against the input's.
pub type MeasureQuality<'a> = dyn Fn(&Path) -> Result<Quality, BenchError> + 'a;

/// What `run` needs besides the machine.
pub struct Setup<'a> {
    /// The job.
    pub job: Job,
    /// The serial command for an output path.
    pub serial: &'a dyn Fn(&Path) -> crate::ffmpeg::argv::Argv,
    /// Runs vre (`vre run` logic) with N workers into OUT, keeping its planDir at DIR; an
    /// error carries the exit code the run stood for.
    pub vre: &'a dyn Fn(u32, &Path, &Path) -> Result<(), Coded>,
    /// How vre is run, for the record.
    pub vre_command: String,
    /// Worker counts.
    pub workers: Vec<u32>,
    /// Rounds.
    pub runs: u32,
    /// Where temporary outputs and planDirs go (created, and removed afterwards).
    pub scratch: PathBuf,
    /// Measures an output's pictures against the input's (`None`: the job's outputs are not
    /// frame for frame the input's, so nothing is measured).
    pub quality: Option<&'a MeasureQuality<'a>>,
    /// Called with a line of progress after every run.
    pub progress: &'a dyn Fn(&str),
}

/// Seconds of CPU (user + system) used so far by this process and its waited-for children.
fn cpu_seconds() -> f64 {
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

/// Removes the scratch directory when the benchmark ends, however it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
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

/// Wall and CPU seconds of `f`, with its result.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let cpu = cpu_seconds();
    let clock = Instant::now();
    let value = f();
    (value, clock.elapsed().as_secs_f64(), cpu_seconds() - cpu)
}

/// Runs the serial ffmpeg command once into `out`, measures it and removes the output.
fn run_serial(setup: &Setup, out: &Path, run: u32) -> Result<Sample, BenchError> {
    let argv = (setup.serial)(out);
    // Guarded like vre's own children: killed with vre, and by SIGINT/SIGTERM.
    let (outcome, wall_seconds, cpu_seconds) =
        timed(|| crate::ffmpeg::runner::run_guarded(&argv, None, |_| {}));
    let outcome = outcome?;
    if outcome.interrupted {
        return Err(BenchError::Interrupted);
    }
    if !outcome.status.success() {
        return Err(BenchError::Serial {
            status: outcome.status,
            stderr: crate::ffmpeg::error::last_lines(&outcome.stderr_tail, 4),
            command: argv.display(),
        });
    }
    let bytes = fs::metadata(out)?.len();
    let quality = first_run_quality(setup, out, run)?;
    fs::remove_file(out)?;
    Ok(Sample {
        run,
        wall_seconds,
        cpu_seconds,
        bytes,
        quality,
        vre: None,
    })
}

/// Runs vre once with `workers` into `out` (planDir `plan_dir`), measures it, reads its stage
/// timings and plan, times a plain copy of the output, and removes output and planDir.
fn run_vre(
    setup: &Setup,
    workers: u32,
    out: &Path,
    plan_dir: &Path,
    run: u32,
) -> Result<(Sample, VreFacts), BenchError> {
    let (done, wall_seconds, cpu_seconds) = timed(|| (setup.vre)(workers, out, plan_dir));
    done?;
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
    let task_extra_seconds = task_extra_seconds(&dir, &loaded)?;
    let facts = VreFacts {
        threads_per_chunk: loaded.plan.encoder.threads,
        chunks: loaded.chunks.len(),
    };
    let bytes = fs::metadata(out)?.len();
    let quality = first_run_quality(setup, out, run)?;
    let copy_seconds = time_copy(out)?;
    fs::remove_file(out)?;
    fs::remove_dir_all(plan_dir)?;
    let stages = StageSeconds {
        plan_seconds,
        work_seconds: (wall_seconds - plan_seconds - assemble_seconds).max(0.0),
        assemble_seconds,
    };
    let vre = VreSample {
        stages,
        copy_seconds,
        task_extra_seconds,
    };
    let sample = Sample {
        run,
        wall_seconds,
        cpu_seconds,
        bytes,
        quality,
        vre: Some(vre),
    };
    Ok((sample, facts))
}

/// The quality of the first run's output (later runs make the same output).
fn first_run_quality(setup: &Setup, out: &Path, run: u32) -> Result<Option<Quality>, BenchError> {
    match setup.quality {
        Some(measure) if run == 1 => measure(out).map(Some),
        _ => Ok(None),
    }
}

/// Measures `output`'s pictures against frames `[start, end)` of `reference`'s video stream
/// `stream` (a stream specifier) in `pix_fmt`.
pub fn picture_quality(
    output: &Path,
    reference: &Path,
    stream: &str,
    frames: (u64, u64),
    pix_fmt: &str,
) -> Result<Quality, BenchError> {
    let argv = query::picture_quality(output, reference, stream, frames, pix_fmt);
    let (_, stderr) = runner::run_capture_all(&argv, output)?;
    let stderr = String::from_utf8_lossy(&stderr);
    parse_quality(&stderr).ok_or_else(|| {
        BenchError::Io(io::Error::other(format!(
            "ffmpeg's psnr and ssim filters printed no averages for {}: {}",
            output.display(),
            crate::ffmpeg::error::last_lines(&stderr, 4)
        )))
    })
}

/// The averages ffmpeg's psnr and ssim filters print when they end (`PSNR y:41.45 …`,
/// `SSIM Y:0.987 (18.9) …`); `inf` for identical pictures.
pub fn parse_quality(stderr: &str) -> Option<Quality> {
    let value_after = |marker: &str| {
        let line = stderr.lines().rev().find(|l| l.contains(marker))?;
        let at = line.find(marker)? + marker.len();
        line[at..].split_whitespace().next()?.parse::<f64>().ok()
    };
    Some(Quality {
        psnr_y: value_after("PSNR y:")?,
        ssim_y: value_after("SSIM Y:")?,
    })
}

/// Seconds every task of a finished run spent outside its ffmpeg, summed, from the sidecars.
fn task_extra_seconds(dir: &PlanDir, loaded: &LoadedPlan) -> Result<f64, BenchError> {
    let mut total = 0.0;
    for task in loaded.tasks() {
        if let Some(sidecar) = dir.read_sidecar(task)? {
            total += (sidecar.finished_at - sidecar.started_at - sidecar.encode_seconds).max(0.0);
        }
    }
    Ok(total)
}

/// Runs every round: serial ffmpeg followed by vre at every worker count.
fn measure(setup: &Setup) -> Result<Measured, BenchError> {
    let ext = &setup.job.extension;
    let mut measured = Measured {
        runs: setup.runs,
        serial: Vec::new(),
        vre: setup
            .workers
            .iter()
            .map(|&workers| VreRuns {
                workers,
                samples: Vec::new(),
                facts: VreFacts::default(),
            })
            .collect(),
    };
    for run in 1..=setup.runs {
        let out = setup.scratch.join(format!("serial-{run}.{ext}"));
        let sample = run_serial(setup, &out, run)?;
        (setup.progress)(&format!(
            "run {run}/{}: ffmpeg {:.2} s wall, {:.2} s CPU",
            setup.runs, sample.wall_seconds, sample.cpu_seconds
        ));
        measured.serial.push(sample);
        for runs in &mut measured.vre {
            let workers = runs.workers;
            let out = setup.scratch.join(format!("vre-j{workers}-{run}.{ext}"));
            let plan_dir = setup.scratch.join(format!("vre-j{workers}-{run}.vre"));
            let (sample, facts) = run_vre(setup, workers, &out, &plan_dir, run)?;
            let (plan, assemble) = sample.vre.map_or((0.0, 0.0), |v| {
                (v.stages.plan_seconds, v.stages.assemble_seconds)
            });
            (setup.progress)(&format!(
                "run {run}/{}: vre -j {workers} {:.2} s wall, {:.2} s CPU (plan {plan:.2} s, assemble {assemble:.2} s)",
                setup.runs, sample.wall_seconds, sample.cpu_seconds
            ));
            runs.samples.push(sample);
            runs.facts = facts;
        }
    }
    Ok(measured)
}

/// Runs the benchmark: `runs` rounds of serial ffmpeg followed by vre at every worker count,
/// in a scratch directory removed afterwards.
pub fn run(setup: &Setup, machine: Machine) -> Result<BenchResult, BenchError> {
    crate::ffmpeg::runner::install_signal_handlers();
    fs::create_dir_all(&setup.scratch)?;
    let _cleanup = Scratch(setup.scratch.clone());
    let measured = measure(setup)?;
    let serial_command =
        (setup.serial)(Path::new(&format!("serial.{}", setup.job.extension))).display();
    Ok(stats::result(
        measured,
        machine,
        setup.job.clone(),
        serial_command,
        setup.vre_command.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_is_read_from_the_filters_last_words() {
        let stderr = "frame=  10 fps=0.0\n\
            [Parsed_psnr_6 @ 0x55] PSNR y:41.450850 u:44.1 v:45.2 average:42.3 min:40.1 max:43.0\n\
            [Parsed_ssim_7 @ 0x56] SSIM Y:0.987654 (19.08) U:0.99 (20.0) V:0.99 (20.1) All:0.98 (19.5)\n";
        let quality = parse_quality(stderr).unwrap();
        assert_eq!(quality.psnr_y, 41.450850);
        assert_eq!(quality.ssim_y, 0.987654);
        let identical = "PSNR y:inf u:inf v:inf average:inf\nSSIM Y:1.000000 (inf)\n";
        assert!(parse_quality(identical).unwrap().psnr_y.is_infinite());
        assert_eq!(parse_quality("no filters ran"), None);
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
