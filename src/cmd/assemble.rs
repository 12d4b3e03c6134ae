//! `vre assemble`: verify and concatenate a planDir into OUT.

use crate::assemble;
use crate::cmd::summary;
use crate::exit::Code;
use crate::plandir::layout::PlanDir;
use clap::Args;
use std::path::PathBuf;

/// `vre assemble`.
#[derive(Debug, Args)]
pub struct AssembleArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// The output file.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub out: PathBuf,
    /// Wait until every chunk is published (watching the planDir), then assemble.
    #[arg(long)]
    pub wait: bool,
    /// Re-encode while merging if the chunks cannot be joined by stream copy (slow).
    #[arg(long = "allow-reencode")]
    pub allow_reencode: bool,
    /// With --wait: give up after this many seconds (exit 75).
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub timeout: Option<f64>,
    /// Start even if OUT's filesystem has less free space than the chunks and audio take.
    #[arg(long = "no-space-check")]
    pub no_space_check: bool,
    /// Replace OUT if it exists (without it an existing OUT is refused, exit 73).
    #[arg(short = 'y', long)]
    pub overwrite: bool,
}

/// Runs `vre assemble`.
pub fn run(args: &AssembleArgs, quiet: bool) -> anyhow::Result<Code> {
    let dir = PlanDir::new(&args.plan_dir);
    if args.wait {
        // OUT is checked before the wait, not after it.
        assemble::check_destination(&dir.load()?, &args.out, args.overwrite)?;
        let timeout = args.timeout.map(std::time::Duration::from_secs_f64);
        assemble::wait_until_complete(&dir, &args.out, timeout)?;
    }
    let started = std::time::Instant::now();
    let options = assemble::AssembleOptions {
        allow_reencode: args.allow_reencode,
        skip_space_check: args.no_space_check,
        overwrite: args.overwrite,
    };
    let done = assemble::assemble(&dir, &args.out, options)?;
    crate::plandir::stages::note(&dir, crate::plandir::stages::Stage::Assemble, started);
    if !quiet {
        eprintln!("{}", summary::describe_assembly(&done));
    }
    Ok(Code::Success)
}
