//! `vre work`: claim and render chunks of a planDir.

use crate::exit::Code;
use crate::plandir::layout::PlanDir;
use crate::work::events;
use crate::work::scheduler::{self, StallTimeout, WorkOptions};
use clap::Args;
use std::path::PathBuf;

/// `vre work`.
#[derive(Debug, Args)]
pub struct WorkArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// Chunks rendered at once by this process [default: the host's cores over the plan's
    /// threads per chunk, at least 1].
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Claim chunk I first, then go on with free chunks [default: SLURM_ARRAY_TASK_ID,
    /// JOB_COMPLETION_INDEX or PBS_ARRAY_INDEX when set].
    #[arg(long, value_name = "I")]
    pub index: Option<u32>,
    /// Render at most one chunk (plus the audio task if nobody has taken it), then exit.
    #[arg(long)]
    pub once: bool,
    /// Failed attempts after which a chunk is marked failed.
    #[arg(long = "max-attempts", default_value_t = 3, value_name = "N")]
    pub max_attempts: u32,
    /// Give chunks that ran out of attempts a fresh set.
    #[arg(long = "retry-failed")]
    pub retry_failed: bool,
    /// Print one JSON event per line on stdout instead of human messages.
    #[arg(long)]
    pub json: bool,
    /// Start even if the remaining chunks look too big for the planDir's filesystem.
    #[arg(long = "no-space-check")]
    pub no_space_check: bool,
    /// Render even with an ffmpeg whose version or build differs from the plan's (its chunks
    /// may differ in bytes from other hosts').
    #[arg(long = "any-ffmpeg")]
    pub any_ffmpeg: bool,
    /// Kill a render that makes no progress (no progress report from ffmpeg, no CPU time) for
    /// SECONDS and count it as a failed attempt; 0 turns the watchdog off [default: 100 frames'
    /// time at the slowest speed a published chunk showed, at least 120]
    #[arg(long = "stall-timeout", value_name = "SECONDS")]
    pub stall_timeout: Option<u64>,
}

/// Runs `vre work`.
pub fn run(args: &WorkArgs) -> anyhow::Result<Code> {
    let options = WorkOptions {
        threads: args.jobs.map(usize::from),
        first_index: args.index.or_else(array_index_from_env),
        once: args.once,
        max_attempts: args.max_attempts.max(1),
        retry_failed: args.retry_failed,
        space_check: !args.no_space_check,
        trial: None,
        stall_timeout: StallTimeout::from_flag(args.stall_timeout),
        check_ffmpeg: !args.any_ffmpeg,
    };
    let observer = events::observer_for(args.json, &args.plan_dir);
    let summary = scheduler::work(&PlanDir::new(&args.plan_dir), &options, observer.as_ref())?;
    Ok(summary.code())
}

/// The array-job index a scheduler gave this task: Slurm, Kubernetes Indexed Jobs, PBS.
pub fn array_index_from_env() -> Option<u32> {
    [
        "SLURM_ARRAY_TASK_ID",
        "JOB_COMPLETION_INDEX",
        "PBS_ARRAY_INDEX",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
}
