//! `vre run`: plan, render with local workers, and assemble, resuming whatever an earlier run
//! of the same command left.

use crate::cmd::options::PlanOptions;
use crate::cmd::summary;
use crate::codecs::Container;
use crate::exit::{Code, Coded};
use crate::inspect::status;
use crate::pipeline::{self, Finished, Job};
use crate::plandir::clean;
use crate::plandir::layout::PlanDir;
use crate::sys::host;
use crate::work::events;
use crate::work::scheduler::StallTimeout;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `vre run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The input video.
    pub input: PathBuf,
    /// The output file.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub out: PathBuf,
    /// Local workers [default: cores].
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// planDir to use: a new or empty directory, or a planDir to resume [default: OUT.vre beside
    /// OUT].
    #[arg(long = "plan-dir", value_name = "DIR")]
    pub plan_dir: Option<PathBuf>,
    /// Keep the planDir after success.
    #[arg(long = "keep-temp")]
    pub keep_temp: bool,
    /// Replace OUT if it exists (without it an existing OUT is refused before planning, exit 73).
    #[arg(short = 'y', long)]
    pub overwrite: bool,
    /// Re-encode while merging if the chunks cannot be joined by stream copy (slow).
    #[arg(long = "allow-reencode")]
    pub allow_reencode: bool,
    /// Failed attempts after which a chunk is marked failed.
    #[arg(long = "max-attempts", default_value_t = 3, value_name = "N")]
    pub max_attempts: u32,
    /// Start even if the chunks and output look too big for their filesystems.
    #[arg(long = "no-space-check")]
    pub no_space_check: bool,
    /// Kill a render that makes no progress (no progress report from ffmpeg, no CPU time) for
    /// SECONDS and count it as a failed attempt; 0 turns the watchdog off [default: 100 frames'
    /// time at the slowest speed a published chunk showed, at least 120]
    #[arg(long = "stall-timeout", value_name = "SECONDS")]
    pub stall_timeout: Option<u64>,
    /// Plan options.
    #[command(flatten)]
    pub options: PlanOptions,
}

/// The planDir `vre run` uses when none is given: `OUT.vre` beside OUT (also when OUT is a
/// directory written as `frames/`).
pub fn default_plan_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or(out.as_os_str()).to_owned();
    name.push(".vre");
    out.with_file_name(name)
}

/// The format OUT's name implies: its extension, or a PNG sequence for a directory (an existing
/// one, or a path ending in `/`). `None` when `--format` must decide.
fn format_of_output(out: &Path) -> Result<Option<Container>, Coded> {
    if out.is_dir() || out.as_os_str().to_string_lossy().ends_with('/') {
        return Ok(Some(Container::Png));
    }
    match out.extension().and_then(|e| e.to_str()) {
        None => Ok(None),
        Some(ext) => Container::parse(ext).map(Some).ok_or_else(|| {
            Coded::new(
                Code::Usage,
                format!(
                    "{}: .{ext} is not a format vre writes; name it .mp4, .mov, .mkv or .webm, use a directory for PNG frames, or pass --format",
                    out.display()
                ),
            )
        }),
    }
}

impl RunArgs {
    /// The job these options describe, with `jobs` workers sharing the cores.
    pub fn job(&self, jobs: usize) -> Result<Job, Coded> {
        let format = format_of_output(&self.out)?;
        Ok(Job {
            request: self
                .options
                .request_for_workers(self.input.clone(), jobs, format),
            plan_dir: PlanDir::new(
                self.plan_dir
                    .clone()
                    .unwrap_or_else(|| default_plan_dir(&self.out)),
            ),
            out: self.out.clone(),
            force: self.options.force,
            workers: jobs,
            max_attempts: self.max_attempts,
            space_check: !self.no_space_check,
            allow_reencode: self.allow_reencode,
            overwrite: self.overwrite,
            stall_timeout: StallTimeout::from_flag(self.stall_timeout),
        })
    }
}

/// Runs `vre run`.
pub fn run(args: &RunArgs, quiet: bool) -> anyhow::Result<Code> {
    let started = Instant::now();
    let jobs = args.jobs.unwrap_or_else(host::cores).max(1);
    let job = args.job(jobs)?;
    let mut on_planned = |loaded: &_, outcome: &_| {
        if !quiet {
            eprint!("{}", summary::describe_plan(&job.plan_dir, loaded, outcome));
        }
    };
    let observer = events::observer_for(false, job.plan_dir.root());
    let finished = pipeline::run(&job, observer.as_ref(), &mut on_planned)?;
    let (loaded, assembled, seconds) = match finished {
        Finished::Stopped { code, .. } => {
            eprintln!(
                "vre: run stopped ({code}); the planDir {} keeps what is done: run the same command again to resume",
                job.plan_dir.root().display()
            );
            return Ok(code);
        }
        Finished::Done {
            loaded,
            assembled,
            seconds,
        } => (loaded, assembled, seconds),
    };
    if !quiet {
        let status = status::status_of(&job.plan_dir, &loaded)?;
        eprint!("{}", status::task_table(&status));
        eprintln!("{}", summary::describe_assembly(&assembled));
        let total = started.elapsed().as_secs_f64();
        eprintln!(
            "vre: total {total:.2} s (plan {:.2} s, work {:.2} s with {jobs} worker(s), assemble {:.2} s): {:.1} frames/s",
            seconds.plan,
            seconds.work,
            seconds.assemble,
            assembled.frames as f64 / total.max(1e-9)
        );
    }
    if !args.keep_temp {
        let left = pipeline::remove_plan_dir(&job)?;
        if !left.is_empty() {
            eprintln!(
                "vre: removed the planDir {}, but for {} file(s) that are not vre's, left in place: {}",
                job.plan_dir.root().display(),
                left.len(),
                clean::describe(&left)
            );
        }
    }
    Ok(Code::Success)
}
