//! `vre verify`: re-hash published outputs and withdraw the ones that do not match.

use crate::exit::Code;
use crate::plandir::layout::PlanDir;
use crate::plandir::verify;
use clap::Args;
use std::path::PathBuf;

/// `vre verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// Report only; withdraw nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

/// Runs `vre verify`. Exits 0 when everything published is intact, 65 when something was not
/// (and has been withdrawn, unless `--dry-run`).
pub fn run(args: &VerifyArgs, quiet: bool) -> anyhow::Result<Code> {
    let dir = PlanDir::new(&args.plan_dir);
    let loaded = dir.load()?;
    let report = verify::verify_plan(&dir, &loaded, args.dry_run)?;
    let action = if args.dry_run {
        "left in place (dry run)"
    } else {
        "withdrawn; `vre work` renders it again"
    };
    for (task, problem) in &report.bad {
        eprintln!("vre: {task}: {problem}: {action}");
    }
    if !quiet {
        eprintln!(
            "vre: verified {} published task(s): {} intact, {} bad; {} not rendered yet, {} running (skipped)",
            report.good.len() + report.bad.len(),
            report.good.len(),
            report.bad.len(),
            report.not_done.len(),
            report.running.len()
        );
    }
    Ok(if report.bad.is_empty() {
        Code::Success
    } else {
        Code::DataErr
    })
}
