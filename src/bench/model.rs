//! What `vre bench` measures and reports: the machine, the job, every timed run, and each
//! configuration's medians and ratios. Serialised as they are for `vre bench --json`.

use serde::Serialize;
use std::path::PathBuf;

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

/// Seconds vre spent in each of its stages (one run's, or the medians of a configuration).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StageSeconds {
    /// The plan stage (probe and packet scan, hash, the trial frame where it runs first,
    /// planDir written).
    pub plan_seconds: f64,
    /// The work stage (the wall time between plan and assemble).
    pub work_seconds: f64,
    /// The assemble stage (verify, concatenate, mux, check, rename).
    pub assemble_seconds: f64,
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
    /// The output's pictures against the input's (the first run only: outputs are the same
    /// from run to run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// What only a vre run has (none for serial ffmpeg).
    #[serde(flatten)]
    pub vre: Option<VreSample>,
}

/// How close an output's pictures are to the input's: averages over every frame of the luma
/// plane (PSNR of the mean squared error, `null` in JSON where the pictures are identical).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// PSNR of Y, dB.
    pub psnr_y: f64,
    /// SSIM of Y, 0..1.
    pub ssim_y: f64,
}

/// The part of a [`Sample`] that only vre runs have.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VreSample {
    /// Its stages, from `stages.json`.
    #[serde(flatten)]
    pub stages: StageSeconds,
    /// Seconds to copy the output to a new file and fsync it, for comparison with assembly
    /// (not part of the wall time).
    pub copy_seconds: f64,
    /// Seconds the tasks spent outside their ffmpeg (frame and sample checks, hashing,
    /// publishing), summed over every task, from the sidecars.
    pub task_extra_seconds: f64,
}

/// What one vre run reports back about its plan besides its time.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct VreFacts {
    /// Encoder threads per chunk.
    pub threads_per_chunk: u32,
    /// Chunks in the plan.
    pub chunks: usize,
}

/// One configuration: serial ffmpeg, or vre with N workers.
#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    /// `ffmpeg` or `vre -j N`.
    pub name: String,
    /// Workers (1 for ffmpeg).
    pub workers: u32,
    /// vre: threads per chunk and chunks, of the last run (none for ffmpeg, which picks its
    /// own threads).
    #[serde(flatten)]
    pub facts: Option<VreFacts>,
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
    /// The first run's output's pictures against the input's, where the bench measures it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// The medians only vre runs have (none for serial ffmpeg).
    #[serde(flatten)]
    pub vre: Option<VreMedians>,
    /// vre with more than one worker: the serial fraction f that Amdahl's law gives for this
    /// speedup S at N workers, (N/S − 1)/(N − 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_fraction: Option<f64>,
}

/// The medians of the parts of its samples that only vre runs have.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VreMedians {
    /// Median seconds of each stage.
    #[serde(flatten)]
    pub stages: StageSeconds,
    /// (plan + assemble) ÷ wall, from the medians.
    pub plan_assemble_share: f64,
    /// Median seconds to copy the output (compare with the assemble stage).
    pub copy_seconds: f64,
    /// Median seconds the tasks spent outside ffmpeg, summed over the tasks.
    pub task_extra_seconds: f64,
    /// vre's fixed overhead in wall seconds: plan + assemble + the tasks' extra seconds shared
    /// by the workers.
    pub fixed_seconds: f64,
    /// `fixed_seconds` ÷ wall.
    pub fixed_share: f64,
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

/// Every timed run of a benchmark, before it is summarised.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Rounds of interleaved runs.
    pub runs: u32,
    /// Serial ffmpeg's runs.
    pub serial: Vec<Sample>,
    /// vre's runs, one entry per worker count.
    pub vre: Vec<VreRuns>,
}

/// vre's runs at one worker count.
#[derive(Debug, Clone)]
pub struct VreRuns {
    /// Workers.
    pub workers: u32,
    /// Every run.
    pub samples: Vec<Sample>,
    /// What the last run reported about its plan.
    pub facts: VreFacts,
}
