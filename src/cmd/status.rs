//! `vre status`: where a planDir stands.

use crate::cli::StatusArgs;
use crate::exit::Code;
use crate::plandir::PlanDir;
use crate::status;

/// Runs `vre status`.
pub fn run(args: &StatusArgs) -> anyhow::Result<Code> {
    let status = status::status(&PlanDir::new(&args.plan_dir))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        println!("{}", status::summary_line(&status));
        print!("{}", status::task_table(&status));
    }
    Ok(Code::Success)
}
