//! plan → work → assemble in one process, with each stage's wall time: what `vre run` does,
//! and what `vre bench` measures. Running it again on the same planDir resumes: the plan is
//! found unchanged and only unfinished tasks are rendered.

use crate::assemble::{self, AssembleError, AssembleOptions, Assembled};
use crate::codecs::Container;
use crate::exit::{Code, HasCode};
use crate::plan::{self, PlanError, PlanRequest, Trial};
use crate::plandir::clean;
use crate::plandir::error::PlanDirError;
use crate::plandir::estimate;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::stages::{self, Stage};
use crate::plandir::write::{self, PlanOutcome};
use crate::sys::disk::{self, SpaceError};
use crate::sys::fsio;
use crate::work::events::Observer;
use crate::work::scheduler::{self, StallTimeout, TrialGate, WorkError, WorkOptions, WorkSummary};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// One job from input to output.
#[derive(Debug, Clone)]
pub struct Job {
    /// What to plan.
    pub request: PlanRequest,
    /// Where the planDir is (created if missing, resumed if it holds this plan).
    pub plan_dir: PlanDir,
    /// The output file or PNG directory.
    pub out: PathBuf,
    /// Replace a different plan in the planDir.
    pub force: bool,
    /// Worker threads.
    pub workers: usize,
    /// Failed attempts after which a chunk is marked failed.
    pub max_attempts: u32,
    /// Refuse to start when the chunks and the output look too big for their filesystems, and
    /// to assemble when the output's filesystem has less room than the chunks take.
    pub space_check: bool,
    /// Re-encode while merging when the chunks cannot be joined by stream copy.
    pub allow_reencode: bool,
    /// Replace an existing OUT; without it an existing OUT is refused before planning.
    pub overwrite: bool,
    /// How long a render may make no progress before it is killed as stalled.
    pub stall_timeout: StallTimeout,
}

/// Wall seconds of each stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageSeconds {
    /// Analysis and writing the plan.
    pub plan: f64,
    /// Rendering every task.
    pub work: f64,
    /// Verifying and joining.
    pub assemble: f64,
}

/// How a job ended.
#[derive(Debug)]
pub enum Finished {
    /// OUT is in place.
    Done {
        /// The plan.
        loaded: Box<LoadedPlan>,
        /// The assembled output.
        assembled: Assembled,
        /// Stage times.
        seconds: StageSeconds,
    },
    /// The work stopped before every task was done (interrupted, environment, failed chunks);
    /// the planDir keeps what is done.
    Stopped {
        /// The exit code the stop stands for.
        code: Code,
        /// What the workers did.
        summary: WorkSummary,
    },
}

/// Why a job could not run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Planning refused the job.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The planDir is unusable.
    #[error(transparent)]
    PlanDir(#[from] PlanDirError),
    /// The job cannot fit.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// The workers could not start.
    #[error(transparent)]
    Work(#[from] WorkError),
    /// Assembly refused or failed.
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    /// OUT is written but its planDir could not be removed.
    #[error("{} was written, but its planDir {} could not be removed: {source}; remove it by hand", .out.display(), .plan_dir.display())]
    Cleanup {
        /// The output.
        out: PathBuf,
        /// The planDir.
        plan_dir: PathBuf,
        /// Why.
        source: Box<PlanDirError>,
    },
}

impl HasCode for PipelineError {
    fn code(&self) -> Code {
        match self {
            PipelineError::Plan(e) => e.code(),
            PipelineError::PlanDir(e) => e.code(),
            PipelineError::Space(e) => e.code(),
            PipelineError::Work(e) => e.code(),
            PipelineError::Assemble(e) => e.code(),
            PipelineError::Cleanup { .. } => Code::IoErr,
        }
    }
}

/// Refuses a job whose chunks and output cannot fit: both on one filesystem need room for both.
fn check_space(dir: &PlanDir, loaded: &LoadedPlan, out: &Path) -> Result<(), SpaceError> {
    let chunks = estimate::estimate_remaining(dir, loaded);
    let output = estimate::estimate_output(loaded);
    let out_dir = fsio::parent_dir(out);
    if disk::same_filesystem(dir.root(), out_dir) {
        disk::ensure_free(dir.root(), "the chunks and the output", chunks + output)
    } else {
        disk::ensure_free(dir.root(), "the chunks", chunks)?;
        disk::ensure_free(out_dir, "the output", output)
    }
}

/// Plans (or finds the plan already there), renders every unfinished task with `job.workers`
/// threads, and assembles OUT. `on_planned` hears of the plan before rendering starts.
pub fn run(
    job: &Job,
    observer: &dyn Observer,
    on_planned: &mut dyn FnMut(&LoadedPlan, &PlanOutcome),
) -> Result<Finished, PipelineError> {
    let dir = &job.plan_dir;
    let started = Instant::now();
    // Before anything is planned or written: an OUT that would be replaced, a folder that is
    // someone else's.
    let png = job.request.format == Some(Container::Png);
    assemble::check_spares_input(&job.out, &job.request.input, png)?;
    assemble::check_overwrite(&job.out, job.overwrite)?;
    clean::check_can_hold_plan(dir)?;
    // On a planDir this run creates, the one-frame trial of the settings runs only if a chunk
    // fails (a published chunk proves them), and a rejected plan leaves nothing behind.
    // Anywhere else (a resume, a replaced plan) it runs first, so that a rejected plan changes
    // nothing.
    let fresh = !dir.root().exists();
    let loaded = if fresh {
        plan::make_untried_plan(&job.request)?
    } else {
        plan::make_plan(&job.request)?
    };
    assemble::check_output_path(&loaded, &job.out)?;
    let outcome = write::write_plan(dir, &loaded, job.force)?;
    if job.space_check {
        check_space(dir, &loaded, &job.out)?;
    }
    stages::note(dir, Stage::Plan, started);
    let mut seconds = StageSeconds {
        plan: started.elapsed().as_secs_f64(),
        ..StageSeconds::default()
    };
    on_planned(&loaded, &outcome);

    let clock = Instant::now();
    let options = WorkOptions {
        threads: Some(job.workers),
        first_index: None,
        once: false,
        max_attempts: job.max_attempts.max(1),
        retry_failed: false,
        space_check: false,
        trial: fresh.then(|| Arc::new(TrialGate::new(Trial::of(&loaded)))),
        stall_timeout: job.stall_timeout,
        // The plan was just made (or kept, being the same) with this process's ffmpeg: a plan
        // of another build is a different plan, replaced only with --force, and the task keys
        // name the build, so its chunks render again.
        check_ffmpeg: false,
    };
    let summary = scheduler::work(dir, &options, observer);
    if let Some(rejected) = options.trial.as_ref().and_then(|t| t.take_rejection()) {
        // This run created the planDir: nothing of a rejected plan stays (but what others put
        // there meanwhile).
        let _ = clean::remove_plan_dir(dir);
        return Err(rejected.into());
    }
    let summary = summary?;
    seconds.work = clock.elapsed().as_secs_f64();
    let code = summary.code();
    if code != Code::Success {
        return Ok(Finished::Stopped { code, summary });
    }

    let clock = Instant::now();
    let options = AssembleOptions {
        allow_reencode: job.allow_reencode,
        skip_space_check: !job.space_check,
        overwrite: job.overwrite,
    };
    let assembled = assemble::assemble(dir, &job.out, options)?;
    seconds.assemble = clock.elapsed().as_secs_f64();
    stages::note(dir, Stage::Assemble, clock);
    Ok(Finished::Done {
        loaded: Box::new(loaded),
        assembled,
        seconds,
    })
}

/// Removes a finished job's planDir: vre's files in it, and the folders they leave empty
/// (see [`clean::remove_plan_dir`]). Returns what it left, which is not vre's.
pub fn remove_plan_dir(job: &Job) -> Result<Vec<PathBuf>, PipelineError> {
    clean::remove_plan_dir(&job.plan_dir).map_err(|source| PipelineError::Cleanup {
        out: job.out.clone(),
        plan_dir: job.plan_dir.root().to_path_buf(),
        source: Box::new(source),
    })
}
