//! `vre assemble`: verify and concatenate a planDir into OUT.

use crate::assemble;
use crate::cli::AssembleArgs;
use crate::exit::Code;
use crate::plandir::PlanDir;

/// Runs `vre assemble`.
pub fn run(args: &AssembleArgs, quiet: bool) -> anyhow::Result<Code> {
    let dir = PlanDir::new(&args.plan_dir);
    if args.wait {
        let timeout = args.timeout.map(std::time::Duration::from_secs_f64);
        assemble::wait_until_complete(&dir, &args.out, timeout)?;
    }
    let started = std::time::Instant::now();
    let options = assemble::AssembleOptions {
        allow_reencode: args.allow_reencode,
    };
    let done = assemble::assemble(&dir, &args.out, options)?;
    crate::plandir::stages::note(&dir, crate::plandir::stages::Stage::Assemble, started);
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
