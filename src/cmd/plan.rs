//! `vre plan`: analyse the input and write a planDir.

use crate::cmd::options::PlanOptions;
use crate::cmd::summary;
use crate::exit::Code;
use crate::plan;
use crate::plandir::layout::PlanDir;
use crate::plandir::write;
use crate::sys::host;
use clap::Args;
use std::path::PathBuf;

/// `vre plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The input video.
    pub input: PathBuf,
    /// The planDir to write.
    #[arg(short = 'o', long = "output", value_name = "PLANDIR")]
    pub plan_dir: PathBuf,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Plan options.
    #[command(flatten)]
    pub options: PlanOptions,
}

/// Runs `vre plan`.
pub fn run(args: &PlanArgs, quiet: bool) -> anyhow::Result<Code> {
    let started = std::time::Instant::now();
    let request = args
        .options
        .request(args.input.clone(), host::default_threads_per_chunk(), None);
    let loaded = plan::make_plan(&request)?;
    let dir = PlanDir::new(&args.plan_dir);
    let outcome = write::write_plan(&dir, &loaded, args.options.force)?;
    crate::plandir::stages::note(&dir, crate::plandir::stages::Stage::Plan, started);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&loaded.plan)?);
    } else if !quiet {
        print!("{}", summary::describe_plan(&dir, &loaded, &outcome));
    }
    Ok(Code::Success)
}
