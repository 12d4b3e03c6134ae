//! `vre verify`: re-hash published outputs and withdraw the ones that do not match; with
//! `--input`, re-hash the input files against the plan instead.

use crate::exit::Code;
use crate::plandir::layout::PlanDir;
use crate::plandir::verify::{self, InputCheck, InputState};
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
    /// Check the input and the audio tracks instead of the published outputs: re-hash them
    /// (blake3) against the plan and compare their size, times and inode; withdraws nothing.
    #[arg(long)]
    pub input: bool,
}

/// Runs `vre verify`. Exits 0 when everything published is intact, 65 when something was not
/// (and has been withdrawn, unless `--dry-run`). With `--input`: 0 when every input file has its
/// planned content, 65 when one does not, 66 when one is missing, 74 when one cannot be read.
pub fn run(args: &VerifyArgs, quiet: bool) -> anyhow::Result<Code> {
    let dir = PlanDir::new(&args.plan_dir);
    let loaded = dir.load()?;
    if args.input {
        return Ok(report_inputs(&verify::verify_inputs(&loaded.plan)));
    }
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

/// Prints one line per input file (`vre verify --input`) and returns the exit code.
fn report_inputs(checks: &[InputCheck]) -> Code {
    let short = |hash: &str| hash.chars().take(16).collect::<String>();
    for check in checks {
        let path = check.path.display();
        match &check.state {
            InputState::Unchanged => eprintln!(
                "vre: {path}: unchanged (the planned blake3, size, times and inode)"
            ),
            InputState::SameContent(what) => eprintln!(
                "vre: {path}: the planned content (blake3 matches), but {what}: workers refuse it as it is; `vre plan ... --force` with the same arguments re-plans and keeps every finished chunk"
            ),
            InputState::Changed { found } => eprintln!(
                "vre: {path}: changed: its blake3 is {}…, the plan's {}…; chunks published before the change were made of the planned content: plan again with `vre plan ... --force` to render the new content",
                short(found),
                short(&check.planned)
            ),
            InputState::Missing => eprintln!(
                "vre: {path}: missing; restore it, or plan again with the new path: `vre plan ... --force`"
            ),
            InputState::Unreadable(why) => eprintln!("vre: {path}: cannot be read ({why})"),
        }
    }
    let any = |f: fn(&InputState) -> bool| checks.iter().any(|c| f(&c.state));
    if any(|s| matches!(s, InputState::Changed { .. })) {
        Code::DataErr
    } else if any(|s| matches!(s, InputState::Missing)) {
        Code::NoInput
    } else if any(|s| matches!(s, InputState::Unreadable(_))) {
        Code::IoErr
    } else {
        Code::Success
    }
}
