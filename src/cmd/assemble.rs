//! `vre assemble`: verify and concatenate a planDir into OUT.

use crate::assemble;
use crate::cli::AssembleArgs;
use crate::exit::Code;
use crate::plandir::PlanDir;

/// Runs `vre assemble`.
pub fn run(args: &AssembleArgs, quiet: bool) -> anyhow::Result<Code> {
    let done = assemble::assemble(&PlanDir::new(&args.plan_dir), &args.out)?;
    if !quiet {
        eprintln!("{}", describe(&done));
    }
    Ok(Code::Success)
}

/// One line about a finished assembly.
pub fn describe(done: &assemble::Assembled) -> String {
    format!(
        "vre: assembled {} ({} frames{}, {} bytes): verified in {:.2} s, concatenated in {:.2} s",
        done.output.display(),
        done.frames,
        if done.has_audio { " + audio" } else { "" },
        done.bytes,
        done.verify_seconds,
        done.mux_seconds
    )
}
