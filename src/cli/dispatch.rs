//! `main → run`: parses the command line, runs the verb, and turns the outcome into the process
//! exit code; errors are printed here, once, as one sentence on stderr.

use crate::cli::args::{Cli, Command, CompletionsArgs};
use crate::cli::exit_codes;
use crate::cmd;
use crate::exit::Code;
use crate::ffmpeg::runner;
use crate::sys::log;
use clap::Parser;

/// Whether the command line is `vre help --help` (or `-h`), which clap's own `help` verb does
/// not take: it means the top-level help.
fn asks_help_of_help() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    matches!(args.as_slice(), [help, flag] if help == "help" && (flag == "--help" || flag == "-h"))
}

/// Parses the command line, runs the verb, and returns the process exit code. Errors are
/// printed as one sentence on stderr.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Code::Success.number();
        }
        Err(_) if asks_help_of_help() => {
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            return Code::Success.number();
        }
        Err(e) => {
            // One style for every error: the parser's as vre's own (`vre: error: …`).
            let text = e.render().to_string();
            eprint!("vre: {}", text.trim_start());
            return Code::Usage.number();
        }
    };
    log::set_level(cli.quiet, cli.verbose);
    if let Some(ffmpeg) = &cli.ffmpeg {
        crate::ffmpeg::argv::use_ffmpeg(ffmpeg.clone());
    }
    // A second Ctrl-C ends vre at once (the first one stops it cleanly).
    runner::on_second_signal(|| std::process::exit(Code::Interrupted.number()));
    let result = match &cli.command {
        Command::Plan(args) => cmd::plan::run(args, cli.quiet),
        Command::Work(args) => cmd::work::run(args),
        Command::Assemble(args) => cmd::assemble::run(args, cli.quiet),
        Command::Run(args) => cmd::run::run(args, cli.quiet),
        Command::Verify(args) => cmd::verify::run(args, cli.quiet),
        Command::Status(args) => cmd::status::run(args),
        Command::Doctor(args) => cmd::doctor::run(args, cli.quiet),
        Command::Report(args) => cmd::report::run(args, cli.quiet),
        Command::Completions(args) => completions(args),
        Command::Bench(args) => cmd::bench::run(args, cli.quiet),
    };
    match result {
        Ok(code) => code.number(),
        Err(e) => {
            let code = exit_codes::code_of(&e);
            // Every vre error names its cause in its own message: print it once, not the chain.
            log::log(log::Level::Error, &e.to_string(), &[]);
            code.number()
        }
    }
}

/// Prints the completion script of a shell to stdout.
fn completions(args: &CompletionsArgs) -> anyhow::Result<Code> {
    use std::io::Write as _;
    let mut script = Vec::new();
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "vre", &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(Code::Success)
}
