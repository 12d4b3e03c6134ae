//! `vre report`: write one self-contained HTML page about a planDir.

use crate::cli::ReportArgs;
use crate::exit::{Code, Coded, HasCode};
use crate::inspect::report::write::write_report;
use crate::plandir::PlanDir;

/// Runs `vre report`.
pub fn run(args: &ReportArgs, quiet: bool) -> anyhow::Result<Code> {
    let dir = PlanDir::new(&args.plan_dir);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dir.root().join("report.html"));
    let summary = write_report(&dir, &out).map_err(|e| Coded::new(e.code(), e.to_string()))?;
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
