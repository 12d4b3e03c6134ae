//! The command line: the verbs with their help texts, and the global flags. Each verb's own
//! options are defined beside it, in `cmd/`.

use crate::cmd::{assemble, bench, doctor, plan, report, run, status, verify, work};
use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  vre run in.mp4 -o out.mp4 -j 2 --vf 'hqdn3d,unsharp'    plan, render with 2 workers, assemble
  vre plan in.mp4 -o job.vre --chunks 40                  plan into a shared directory
  vre work job.vre                                        in any number of shells and machines
  vre status job.vre                                      where it stands
  vre assemble job.vre -o out.mp4                         verify and concatenate
  vre report job.vre -o report.html                       timeline, speed and stages as HTML

Exit codes: 0 done, 64 usage, 65 bad data, 66 missing input, 69 ffmpeg missing, not the
plan's, or locks that do not work, 73 cannot create output, 74 I/O error, 75 retry later,
80 chunks failed, 130 interrupted.";

/// vre renders video in chunks across independent worker processes that share one directory,
/// and resumes exactly where it stopped after any crash.
#[derive(Debug, Parser)]
#[command(name = "vre", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Print only errors and warnings (no progress bars).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: debug lines, among them every ffmpeg command line.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The ffmpeg to run (its ffprobe is taken from the same directory) [default: ffmpeg and
    /// ffprobe on PATH].
    #[arg(long, global = true, env = "VRE_FFMPEG", value_name = "PATH")]
    pub ffmpeg: Option<std::path::PathBuf>,
    /// The verb.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse INPUT and write a planDir: plan.json and chunks.json.
    #[command(
        after_help = "Example:\n  vre plan in.mp4 -o job.vre --vf hue=s=0 --chunk-frames 150"
    )]
    Plan(plan::PlanArgs),
    /// Claim and render chunks of a planDir; start any number at once, anywhere the planDir is shared.
    #[command(
        after_help = "Examples:\n  vre work job.vre -j 2\n  vre work job.vre --json > events.jsonl"
    )]
    Work(work::WorkArgs),
    /// Verify every chunk and concatenate them (and the audio) into OUT, atomically.
    #[command(after_help = "Example:\n  vre assemble job.vre -o out.mp4")]
    Assemble(assemble::AssembleArgs),
    /// Plan, render with N local workers, and assemble; run it again after a crash to resume.
    #[command(after_help = "Example:\n  vre run in.mp4 -o out.mp4 -j 2 --vf 'smartblur=lr=5'")]
    Run(run::RunArgs),
    /// Re-hash every published chunk and the audio; withdraw the ones that do not match.
    #[command(after_help = "Example:\n  vre verify job.vre && vre assemble job.vre -o out.mp4")]
    Verify(verify::VerifyArgs),
    /// Show where a planDir stands: chunks done, running, pending, failed.
    #[command(after_help = "Example:\n  vre status job.vre --json")]
    Status(status::StatusArgs),
    /// Check that the planDir's filesystem gives vre what it needs: locks that exclude between
    /// processes (and hosts), mount options that keep them local, free space.
    #[command(
        after_help = "Examples:\n  vre doctor job.vre             on every host that will run workers\n  vre doctor job.vre --hold 60   on one host; meanwhile `vre doctor job.vre` on another\n\nExits 0 when locks work (warnings aside), 69 when they do not, 66 when the directory is missing."
    )]
    Doctor(doctor::DoctorArgs),
    /// Write one self-contained HTML page about a planDir: timeline per worker, encode speed,
    /// stages, speedup; works on a partly rendered planDir too.
    #[command(after_help = "Example:\n  vre report job.vre -o report.html")]
    Report(report::ReportArgs),
    /// Print a shell completion script to stdout.
    #[command(
        after_help = "Examples:\n  vre completions bash > ~/.local/share/bash-completion/completions/vre\n  vre completions zsh > \"${fpath[1]}/_vre\"\n  vre completions fish > ~/.config/fish/completions/vre.fish"
    )]
    Completions(CompletionsArgs),
    /// Measure vre against the plain ffmpeg command a user would type for the same job: wall and
    /// CPU time, speedup, efficiency, CPU and size overhead, stage times, fixed overhead,
    /// Amdahl's serial fraction.
    #[command(
        after_help = "Example:\n  vre bench in.mp4 --vf 'deshake,smartblur=lr=5:ls=-0.5' --preset ultrafast --workers 1,2 --runs 3 --plot speedup.svg\n\nRuns interleave (ffmpeg, vre -j 1, vre -j 2, ffmpeg, …), each vre run in a fresh temp planDir;\nmedians are reported. TMPDIR decides where the outputs are written."
    )]
    Bench(bench::BenchArgs),
}

/// `vre completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
