//! The command line: options of every verb, and the edge where errors become exit codes.

use crate::audio::{self, TrackSpec};
use crate::cmd;
use crate::exit::{self, Code};
use crate::planner::{self, PlanRequest, RangeSpec};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  vre run in.mp4 -o out.mp4 -j 2 --vf 'hqdn3d,unsharp'    plan, render with 2 workers, assemble
  vre plan in.mp4 -o job.vre --chunks 40                  plan into a shared directory
  vre work job.vre                                        start in as many shells/machines as you like
  vre status job.vre                                      where it stands
  vre assemble job.vre -o out.mp4                         verify and concatenate

Exit codes: 0 done, 64 usage, 65 bad data, 66 missing input, 69 ffmpeg missing,
73 cannot create output, 74 I/O error, 75 retry later, 80 chunks failed, 130 interrupted.";

/// vre renders video in chunks across independent worker processes that share one directory,
/// and resumes exactly where it stopped after any crash.
#[derive(Debug, Parser)]
#[command(name = "vre", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
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
    Plan(PlanArgs),
    /// Claim and render chunks of a planDir; start any number at once, anywhere the planDir is shared.
    #[command(
        after_help = "Examples:\n  vre work job.vre -j 2\n  vre work job.vre --json > events.jsonl"
    )]
    Work(WorkArgs),
    /// Verify every chunk and concatenate them (and the audio) into OUT, atomically.
    #[command(after_help = "Example:\n  vre assemble job.vre -o out.mp4")]
    Assemble(AssembleArgs),
    /// Plan, render with N local workers, and assemble; run it again after a crash to resume.
    #[command(after_help = "Example:\n  vre run in.mp4 -o out.mp4 -j 2 --vf 'smartblur=lr=5'")]
    Run(RunArgs),
    /// Re-hash every published chunk and the audio; withdraw the ones that do not match.
    #[command(after_help = "Example:\n  vre verify job.vre && vre assemble job.vre -o out.mp4")]
    Verify(VerifyArgs),
    /// Show where a planDir stands: chunks done, running, pending, failed.
    #[command(after_help = "Example:\n  vre status job.vre --json")]
    Status(StatusArgs),
}

/// Options that define a plan (shared by `plan` and `run`).
#[derive(Debug, Args)]
pub struct PlanOptions {
    /// Video filter chain applied to every frame (ffmpeg -vf syntax).
    #[arg(long = "vf", value_name = "FILTERGRAPH")]
    pub vf: Option<String>,
    /// Video encoder.
    #[arg(long, default_value = "libx264", value_name = "NAME")]
    pub codec: String,
    /// Constant rate factor (0 with libx264 is lossless).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub crf: u32,
    /// Encoder preset.
    #[arg(long, default_value = "veryfast", value_name = "NAME")]
    pub preset: String,
    /// Pixel format of the output video.
    #[arg(long = "pix-fmt", default_value = "yuv420p", value_name = "FMT")]
    pub pix_fmt: String,
    /// Encoder threads per chunk (recorded in the plan so retries are byte-identical)
    /// [default: cores, or cores / -j for `run`].
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Frames per chunk [default: about 10 seconds].
    #[arg(long = "chunk-frames", value_name = "N", conflicts_with = "chunks")]
    pub chunk_frames: Option<u64>,
    /// Number of chunks (instead of --chunk-frames).
    #[arg(long, value_name = "N")]
    pub chunks: Option<u64>,
    /// Render only part of the timeline: frames START:END (END exclusive), or seconds 5s:12.5s.
    #[arg(long, value_name = "START:END", value_parser = planner::parse_range)]
    pub range: Option<RangeSpec>,
    /// Add an audio track: file=PATH[,offset=S][,seek=S][,rate=R][,volume=V][,fade-in=S][,fade-out=S][,loop].
    #[arg(long = "audio", value_name = "SPEC", value_parser = audio::parse_spec)]
    pub audio: Vec<TrackSpec>,
    /// Audio filters for the input's own audio track.
    #[arg(long = "af", value_name = "FILTERS")]
    pub af: Option<String>,
    /// Leave the input's own audio out.
    #[arg(long = "no-source-audio")]
    pub no_source_audio: bool,
    /// Replace a different plan in the planDir (outputs the new plan can use are kept).
    #[arg(long)]
    pub force: bool,
}

impl PlanOptions {
    /// The plan request for INPUT, with `default_threads` when --threads is not given.
    pub fn request(&self, input: PathBuf, default_threads: u32) -> PlanRequest {
        PlanRequest {
            input,
            video_filter: self.vf.clone(),
            codec: self.codec.clone(),
            crf: self.crf,
            preset: self.preset.clone(),
            pix_fmt: self.pix_fmt.clone(),
            threads: self.threads.unwrap_or(default_threads),
            chunk_frames: self.chunk_frames,
            chunks: self.chunks,
            range: self.range.unwrap_or_default(),
            audio_tracks: self.audio.clone(),
            audio_filter: self.af.clone(),
            no_source_audio: self.no_source_audio,
        }
    }
}

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

/// `vre work`.
#[derive(Debug, Args)]
pub struct WorkArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// Worker threads in this process.
    #[arg(short = 'j', long = "jobs", default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Claim chunk I first, then go on with free chunks [default: SLURM_ARRAY_TASK_ID,
    /// JOB_COMPLETION_INDEX or PBS_ARRAY_INDEX when set].
    #[arg(long, value_name = "I")]
    pub index: Option<u32>,
    /// Render at most one task, then exit.
    #[arg(long)]
    pub once: bool,
    /// Failed attempts after which a chunk is marked failed.
    #[arg(long = "max-attempts", default_value_t = 3, value_name = "N")]
    pub max_attempts: u32,
    /// Give chunks that ran out of attempts a fresh set.
    #[arg(long = "retry-failed")]
    pub retry_failed: bool,
    /// Print one JSON event per line on stdout instead of human messages.
    #[arg(long)]
    pub json: bool,
    /// Start even if the remaining chunks look too big for the planDir's filesystem.
    #[arg(long = "no-space-check")]
    pub no_space_check: bool,
}

/// `vre assemble`.
#[derive(Debug, Args)]
pub struct AssembleArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// The output file.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub out: PathBuf,
    /// Wait until every chunk is published (watching the planDir), then assemble.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 75).
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub timeout: Option<f64>,
}

/// `vre run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The input video.
    pub input: PathBuf,
    /// The output file.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub out: PathBuf,
    /// Local workers [default: cores].
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// planDir to use [default: OUT.vre beside OUT].
    #[arg(long = "plan-dir", value_name = "DIR")]
    pub plan_dir: Option<PathBuf>,
    /// Keep the planDir after success.
    #[arg(long = "keep-temp")]
    pub keep_temp: bool,
    /// Failed attempts after which a chunk is marked failed.
    #[arg(long = "max-attempts", default_value_t = 3, value_name = "N")]
    pub max_attempts: u32,
    /// Start even if the chunks and output look too big for their filesystems.
    #[arg(long = "no-space-check")]
    pub no_space_check: bool,
    /// Plan options.
    #[command(flatten)]
    pub options: PlanOptions,
}

/// `vre verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// Report only; withdraw nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

/// `vre status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses the command line, runs the verb, and returns the process exit code. Errors are
/// printed as one sentence on stderr.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Code::Usage.number()
            } else {
                Code::Success.number()
            };
        }
    };
    let result = match &cli.command {
        Command::Plan(args) => cmd::plan::run(args, cli.quiet),
        Command::Work(args) => cmd::work::run(args, cli.quiet),
        Command::Assemble(args) => cmd::assemble::run(args, cli.quiet),
        Command::Run(args) => cmd::run::run(args, cli.quiet),
        Command::Verify(args) => cmd::verify::run(args, cli.quiet),
        Command::Status(args) => cmd::status::run(args),
    };
    match result {
        Ok(code) => code.number(),
        Err(e) => {
            let code = exit::code_of(&e);
            // Every vre error names its cause in its own message: print it once, not the chain.
            eprintln!("vre: error: {e}");
            code.number()
        }
    }
}

/// Cores this machine offers.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
