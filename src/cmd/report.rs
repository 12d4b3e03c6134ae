//! `vre report`: write one self-contained HTML page about a planDir.

use crate::exit::Code;
use crate::inspect::report::write::write_report;
use crate::plandir::layout::PlanDir;
use clap::Args;
use std::path::PathBuf;

/// `vre report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// The HTML file to write [default: PLANDIR/report.html].
    #[arg(short = 'o', long = "output", value_name = "HTML")]
    pub out: Option<PathBuf>,
}

/// Runs `vre report`.
pub fn run(args: &ReportArgs, quiet: bool) -> anyhow::Result<Code> {
    let dir = PlanDir::new(&args.plan_dir);
    let out = args.out.clone().unwrap_or_else(|| dir.report_path());
    let summary = write_report(&dir, &out)?;
    if !quiet {
        eprintln!(
            "vre: report written to {} ({} of {} tasks published, {} lane(s), {} bytes)",
            out.display(),
            summary.bars,
            summary.tasks,
            summary.lanes,
            summary.bytes
        );
    }
    Ok(Code::Success)
}
