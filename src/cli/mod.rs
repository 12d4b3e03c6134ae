//! The command line: options of every verb, and the edge where errors become exit codes.

use crate::cmd;
use crate::codecs::{self, Container, VideoCodec};
use crate::exit::{self, Code};
use crate::plan::audio::{self, TrackSpec};
use crate::plan::{self, PlanRequest, RangeSpec};
use crate::plandir::{Rational, Size, SplitStrategy};
use crate::sys::log;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  vre run in.mp4 -o out.mp4 -j 2 --vf 'hqdn3d,unsharp'    plan, render with 2 workers, assemble
  vre plan in.mp4 -o job.vre --chunks 40                  plan into a shared directory
  vre work job.vre                                        start in as many shells/machines as you like
  vre status job.vre                                      where it stands
  vre assemble job.vre -o out.mp4                         verify and concatenate
  vre report job.vre -o report.html                       timeline, speed and stages as one HTML page

Exit codes: 0 done, 64 usage, 65 bad data, 66 missing input, 69 ffmpeg missing,
73 cannot create output, 74 I/O error, 75 retry later, 80 chunks failed, 130 interrupted.";

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
    /// Check that the planDir's filesystem gives vre what it needs: locks that exclude between
    /// processes (and hosts), mount options that keep them local, free space.
    #[command(
        after_help = "Examples:\n  vre doctor job.vre             on every host that will run workers\n  vre doctor job.vre --hold 60   on one host; meanwhile `vre doctor job.vre` on another\n\nExits 0 when locks work (warnings aside), 69 when they do not, 66 when the directory is missing."
    )]
    Doctor(DoctorArgs),
    /// Write one self-contained HTML page about a planDir: timeline per worker, encode speed,
    /// stages, speedup; works on a partly rendered planDir too.
    #[command(after_help = "Example:\n  vre report job.vre -o report.html")]
    Report(ReportArgs),
    /// Print a shell completion script to stdout.
    #[command(
        after_help = "Examples:\n  vre completions bash > ~/.local/share/bash-completion/completions/vre\n  vre completions zsh > \"${fpath[1]}/_vre\"\n  vre completions fish > ~/.config/fish/completions/vre.fish"
    )]
    Completions(CompletionsArgs),
    /// Measure vre against the plain ffmpeg command a user would type for the same job: wall and
    /// CPU time, speedup, efficiency, CPU and size overhead, stage times, Amdahl's serial fraction.
    #[command(
        after_help = "Example:\n  vre bench in.mp4 --vf 'deshake,smartblur=lr=5:ls=-0.5' --preset ultrafast --workers 1,2 --runs 3 --plot speedup.svg\n\nRuns interleave (ffmpeg, vre -j 1, vre -j 2, ffmpeg, …), each vre run in a fresh temp planDir;\nmedians are reported. TMPDIR decides where the outputs are written."
    )]
    Bench(BenchArgs),
}

/// Options that define a plan (shared by `plan`, `run` and `bench`).
#[derive(Debug, Clone, Args)]
pub struct PlanOptions {
    /// Output format: mp4, mov, mkv, webm, or png (a directory of frames) [default: from
    /// --codec, or for `run` from OUT's extension; else mp4].
    #[arg(long, value_name = "FORMAT", value_parser = parse_container)]
    pub format: Option<Container>,
    /// Video filter chain applied to every frame (ffmpeg -vf syntax).
    #[arg(long = "vf", value_name = "FILTERGRAPH")]
    pub vf: Option<String>,
    /// Video encoder: libx264, libx265, libsvtav1, libvpx-vp9, prores_ks, ffv1, png
    /// [default: the format's first].
    #[arg(long, value_name = "NAME", value_parser = parse_codec)]
    pub codec: Option<VideoCodec>,
    /// Constant rate factor; 0 is lossless with libx264, libx265 and libvpx-vp9 [default: 20 for
    /// libx264, 24 libx265, 35 libsvtav1, 33 libvpx-vp9].
    #[arg(long, value_name = "N")]
    pub crf: Option<u32>,
    /// Encoder preset: x264/x265 name, SVT-AV1 speed 0-13, VP9 speed 0-8, ProRes profile
    /// [default: veryfast, 10, 5, hq].
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Pixel format of the output video [default: yuv420p; yuv422p10le for ProRes, rgb24 for
    /// PNG, the source's for FFV1].
    #[arg(long = "pix-fmt", value_name = "FMT")]
    pub pix_fmt: Option<String>,
    /// Encoder threads per chunk (recorded in the plan so retries are byte-identical)
    /// [default: cores, or cores / -j for `run`].
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// How to place chunk boundaries: frames (even sizes), keyframes (at the source's
    /// keyframes, cheap seeks), scenes (at detected scene cuts).
    #[arg(long, value_enum, default_value_t = Split::Frames)]
    pub split: Split,
    /// Frames per chunk (the target for every split) [default: about 10 seconds].
    #[arg(long = "chunk-frames", value_name = "N", conflicts_with = "chunks")]
    pub chunk_frames: Option<u64>,
    /// Number of chunks (instead of --chunk-frames; even split).
    #[arg(long, value_name = "N", conflicts_with = "split")]
    pub chunks: Option<u64>,
    /// With --split scenes: cuts closer than this to the previous chunk start are ignored
    /// [default: 1 second of frames].
    #[arg(long = "min-chunk-frames", value_name = "N")]
    pub min_chunk_frames: Option<u64>,
    /// With --split scenes: longer spans between cuts are split evenly [default: twice
    /// --chunk-frames].
    #[arg(long = "max-chunk-frames", value_name = "N")]
    pub max_chunk_frames: Option<u64>,
    /// Frames each chunk decodes and filters before its start, then drops, so temporal filters
    /// see the same history as in a serial run [default: derived from the filter chain].
    #[arg(long, value_name = "N")]
    pub preroll: Option<u64>,
    /// Output frame rate, N or N/D: the output grid is what `-vf fps=N` makes of the input
    /// (needed for variable-frame-rate input).
    #[arg(long, value_name = "RATE", value_parser = plan::parse_fps)]
    pub fps: Option<Rational>,
    /// Output size WxH (scaled before the filter chain).
    #[arg(long, value_name = "WxH", value_parser = plan::parse_size)]
    pub size: Option<Size>,
    /// Render only part of the timeline: frames START:END (END exclusive), or seconds 5s:12.5s.
    #[arg(long, value_name = "START:END", value_parser = plan::parse_range)]
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

/// `--split`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// Even sizes.
    Frames,
    /// At the source's keyframes, within half a chunk of the even boundary.
    Keyframes,
    /// At detected scene cuts.
    Scenes,
}

fn parse_container(text: &str) -> Result<Container, String> {
    Container::parse(text).ok_or_else(|| {
        format!(
            "'{text}' is not a format; valid: {}",
            codecs::list(Container::ALL)
        )
    })
}

fn parse_codec(text: &str) -> Result<VideoCodec, String> {
    VideoCodec::parse(text).ok_or_else(|| {
        format!(
            "'{text}' is not supported; valid: {}",
            codecs::list(VideoCodec::ALL)
        )
    })
}

impl PlanOptions {
    /// The plan request for INPUT, with `default_threads` when --threads is not given and
    /// `format` when --format is not given.
    pub fn request(
        &self,
        input: PathBuf,
        default_threads: u32,
        format: Option<Container>,
    ) -> PlanRequest {
        PlanRequest {
            input,
            format: self.format.or(format),
            video_filter: self.vf.clone(),
            codec: self.codec,
            crf: self.crf,
            preset: self.preset.clone(),
            pix_fmt: self.pix_fmt.clone(),
            threads: self.threads.unwrap_or(default_threads),
            split: match (self.split, self.chunks) {
                (_, Some(_)) => SplitStrategy::Count,
                (Split::Frames, None) => SplitStrategy::Frames,
                (Split::Keyframes, None) => SplitStrategy::Keyframes,
                (Split::Scenes, None) => SplitStrategy::Scenes,
            },
            chunk_frames: self.chunk_frames,
            chunks: self.chunks,
            min_chunk_frames: self.min_chunk_frames,
            max_chunk_frames: self.max_chunk_frames,
            preroll: self.preroll,
            fps: self.fps,
            size: self.size,
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
    /// Render at most one chunk (plus the audio task if nobody has taken it), then exit.
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
    /// Re-encode while merging if the chunks cannot be joined by stream copy (slow).
    #[arg(long = "allow-reencode")]
    pub allow_reencode: bool,
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
    /// Re-encode while merging if the chunks cannot be joined by stream copy (slow).
    #[arg(long = "allow-reencode")]
    pub allow_reencode: bool,
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

/// `vre bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The input video.
    pub input: PathBuf,
    /// Worker counts to run vre with (`vre run -j N`), comma-separated [default: 1 up to the
    /// number of cores].
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Vec<u32>,
    /// Runs of every configuration; the median is reported.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Print the whole result as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write an SVG plot of speedup against workers, with the ideal line and Amdahl's curve.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Plan options (the serial ffmpeg command gets the same input, range, filters and encoder
    /// settings, with ffmpeg's own threading).
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
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Keep watching: refresh whenever the planDir changes, exit when the run is complete.
    #[arg(long)]
    pub watch: bool,
}

/// `vre report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// The HTML file to write [default: PLANDIR/report.html].
    #[arg(short = 'o', long = "output", value_name = "HTML")]
    pub out: Option<PathBuf>,
}

/// `vre completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `vre doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The planDir, or the directory that will hold one.
    #[arg(value_name = "PLANDIR")]
    pub plan_dir: PathBuf,
    /// Then hold a probe lock for SECONDS, for `vre doctor` on another host to check that locks
    /// exclude across hosts.
    #[arg(long, value_name = "SECONDS")]
    pub hold: Option<f64>,
    /// Internal: be the second process of the lock check. Tries once to lock the file given as
    /// PLANDIR and exits 0 (took it), 75 (another process holds it) or 69 (no lock support).
    #[arg(long = "probe-lock", hide = true, conflicts_with = "hold")]
    pub probe_lock: bool,
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
    log::set_level(cli.quiet, cli.verbose);
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
            let code = exit::code_of(&e);
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

/// Cores this machine offers.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
