//! `vre work`: claim and render chunks of a planDir.

use crate::cli::WorkArgs;
use crate::exit::Code;
use crate::plandir::PlanDir;
use crate::work::events;
use crate::work::scheduler::{self, WorkOptions, WorkSummary};

/// Runs `vre work`.
pub fn run(args: &WorkArgs) -> anyhow::Result<Code> {
    let options = WorkOptions {
        threads: args.jobs,
        first_index: args.index.or_else(array_index_from_env),
        once: args.once,
        max_attempts: args.max_attempts.max(1),
        retry_failed: args.retry_failed,
        space_check: !args.no_space_check,
    };
    let observer = events::observer_for(args.json);
    let summary = scheduler::work(&PlanDir::new(&args.plan_dir), &options, observer.as_ref())?;
    Ok(outcome_code(&summary))
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

/// The exit code a worker's summary stands for.
pub fn outcome_code(summary: &WorkSummary) -> Code {
    if summary.interrupted {
        Code::Interrupted
    } else if !summary.environment.is_empty() {
        Code::TempFail
    } else if !summary.exhausted.is_empty() {
        Code::ChunksFailed
    } else {
        Code::Success
    }
}
