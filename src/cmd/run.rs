//! `vre run`: plan, render with local workers, and assemble, resuming whatever an earlier run
//! of the same command left.

use crate::assemble;
use crate::cmd::options::PlanOptions;
use crate::codecs::Container;
use crate::exit::{Code, Coded};
use crate::inspect::status;
use crate::plan;
use crate::plandir::estimate;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::sys::disk::{self, SpaceError};
use crate::sys::host;
use crate::work::events;
use crate::work::scheduler::{self, WorkOptions};
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
    /// planDir to use [default: OUT.vre beside OUT].
    #[arg(long = "plan-dir", value_name = "DIR")]
    pub plan_dir: Option<PathBuf>,
    /// Keep the planDir after success.
    #[arg(long = "keep-temp")]
    pub keep_temp: bool,
    /// Re-encode while merging if the chunks cannot be joined by stream copy (slow).
    #[arg(long = "allow-reencode")]
    pub allow_reencode: bool,
    /// Failed attempts after which a chunk is marked failed.
    #[arg(long = "max-attempts", default_value_t = 3, value_name = "N")]
    pub max_attempts: u32,
    /// Start even if the chunks and output look too big for their filesystems.
    #[arg(long = "no-space-check")]
    pub no_space_check: bool,
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

/// Refuses a run whose chunks and output cannot fit: both on one filesystem need room for both.
fn check_space(dir: &PlanDir, loaded: &LoadedPlan, out: &Path) -> Result<(), SpaceError> {
    let chunks = estimate::estimate_remaining(dir, loaded);
    let output = estimate::estimate_output(loaded);
    let out_dir = crate::sys::fsio::parent_dir(out);
    if disk::same_filesystem(dir.root(), out_dir) {
        disk::ensure_free(dir.root(), "the chunks and the output", chunks + output)
    } else {
        disk::ensure_free(dir.root(), "the chunks", chunks)?;
        disk::ensure_free(out_dir, "the output", output)
    }
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

/// Runs `vre run`.
pub fn run(args: &RunArgs, quiet: bool) -> anyhow::Result<Code> {
    let started = Instant::now();
    let jobs = args.jobs.unwrap_or_else(host::cores).max(1);
    let threads_per_chunk = (host::cores() / jobs).max(1) as u32;
    let dir = PlanDir::new(
        args.plan_dir
            .clone()
            .unwrap_or_else(|| default_plan_dir(&args.out)),
    );
    let format = format_of_output(&args.out)?;
    let request = args
        .options
        .request(args.input.clone(), threads_per_chunk, format);
    let loaded = plan::make_plan(&request)?;
    assemble::check_output_path(&loaded, &args.out)?;
    let outcome = crate::plandir::write::write_plan(&dir, &loaded, args.options.force)?;
    if !args.no_space_check {
        check_space(&dir, &loaded, &args.out)?;
    }
    let plan_seconds = started.elapsed().as_secs_f64();
    crate::plandir::stages::note(&dir, crate::plandir::stages::Stage::Plan, started);
    if !quiet {
        eprint!("{}", crate::cmd::plan::describe(&dir, &loaded, &outcome));
    }

    let clock = Instant::now();
    let options = WorkOptions {
        threads: jobs,
        first_index: None,
        once: false,
        max_attempts: args.max_attempts.max(1),
        retry_failed: false,
        space_check: false,
    };
    let observer = events::observer_for(false);
    let summary = scheduler::work(&dir, &options, observer.as_ref())?;
    let work_seconds = clock.elapsed().as_secs_f64();
    let code = crate::cmd::work::outcome_code(&summary);
    if code != Code::Success {
        eprintln!(
            "vre: run stopped ({code}); the planDir {} keeps what is done: run the same command again to resume",
            dir.root().display()
        );
        return Ok(code);
    }

    let clock = Instant::now();
    let options = assemble::AssembleOptions {
        allow_reencode: args.allow_reencode,
    };
    let done = assemble::assemble(&dir, &args.out, options)?;
    let assemble_seconds = clock.elapsed().as_secs_f64();
    crate::plandir::stages::note(&dir, crate::plandir::stages::Stage::Assemble, clock);
    if !quiet {
        let status = status::status_of(&dir, &loaded)?;
        eprint!("{}", status::task_table(&status));
        eprintln!("{}", crate::cmd::assemble::describe(&done));
        let total = started.elapsed().as_secs_f64();
        eprintln!(
            "vre: total {total:.2} s (plan {plan_seconds:.2} s, work {work_seconds:.2} s with {jobs} worker(s), assemble {assemble_seconds:.2} s): {:.1} frames/s",
            done.frames as f64 / total.max(1e-9)
        );
    }
    if !args.keep_temp {
        std::fs::remove_dir_all(dir.root()).map_err(|e| {
            anyhow::anyhow!(
                "{} was written, but its planDir {} could not be removed: {e}",
                args.out.display(),
                dir.root().display()
            )
        })?;
    }
    Ok(Code::Success)
}
