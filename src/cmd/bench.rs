//! `vre bench`: vre against the plain ffmpeg command a user would have typed, on the same job.

use crate::bench::measure::{self, Setup};
use crate::bench::model::{Job, Machine};
use crate::bench::{svg, table};
use crate::cmd::options::PlanOptions;
use crate::codecs::Container;
use crate::exit::{Code, Coded, HasCode};
use crate::ffmpeg;
use crate::pipeline::{self, Finished};
use crate::plan;
use crate::plandir::layout::PlanDir;
use crate::plandir::schema::Plan;
use crate::sys::host;
use crate::work::events;
use crate::work::scheduler::StallTimeout;
use clap::Args;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

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
    /// Re-encode while merging if the chunks cannot be joined by stream copy (slow), as
    /// `vre run --allow-reencode`.
    #[arg(long = "allow-reencode")]
    pub allow_reencode: bool,
    /// Start even if the chunks and output look too big for their filesystems, as
    /// `vre run --no-space-check`.
    #[arg(long = "no-space-check")]
    pub no_space_check: bool,
    /// Plan options (the serial ffmpeg command gets the same input, range, filters and encoder
    /// settings, with ffmpeg's own threading).
    #[command(flatten)]
    pub options: PlanOptions,
}

/// Options of `vre bench` that are not plan options (left out when showing the `vre run`
/// command), with whether they take a value.
const BENCH_ONLY: [(&str, bool); 4] = [
    ("--workers", true),
    ("--runs", true),
    ("--json", false),
    ("--plot", true),
];

/// The plan options as they were typed, for showing the equivalent `vre run` command: the
/// arguments after the verb and INPUT, without the options that belong to `vre bench` alone.
fn typed_plan_options(input: &Path) -> Vec<OsString> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(verb) = args.iter().position(|a| a == "bench") else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut rest = args[verb + 1..].iter();
    while let Some(arg) = rest.next() {
        let text = arg.to_string_lossy();
        let bench_only = BENCH_ONLY
            .iter()
            .find(|(name, _)| text == *name || text.starts_with(&format!("{name}=")));
        match bench_only {
            Some((name, takes_value)) => {
                if *takes_value && text == *name {
                    rest.next();
                }
            }
            None if arg == input.as_os_str()
                || ["-q", "--quiet", "--verbose"].contains(&text.as_ref())
                || (text.starts_with("-v") && text[1..].chars().all(|c| c == 'v')) => {}
            None => kept.push(arg.clone()),
        }
    }
    kept
}

/// Worker counts to measure: as given (repeats dropped), else 1 up to the cores.
fn worker_counts(args: &BenchArgs) -> Vec<u32> {
    if args.workers.is_empty() {
        return (1..=host::cores() as u32).collect();
    }
    let mut seen = Vec::new();
    for &n in &args.workers {
        if !seen.contains(&n) {
            seen.push(n);
        }
    }
    seen
}

/// Refuses what one plain ffmpeg command cannot be compared with.
fn check_comparable(args: &BenchArgs, plan: &Plan) -> Result<(), Coded> {
    if args.options.format == Some(Container::Png) {
        return Err(Coded::new(
            Code::Usage,
            "vre bench compares against one ffmpeg command writing a file; a PNG sequence is not measured",
        ));
    }
    ffmpeg::video::serial_render(plan, Path::new("serial.out"))
        .map(|_| ())
        .map_err(|what| {
            Coded::new(
                Code::Usage,
                format!(
                "vre bench compares against one plain ffmpeg command, which cannot express {what}"
            ),
            )
        })
}

/// The job as the bench's table describes it.
fn job_of(plan: &Plan) -> Job {
    let e = &plan.encoder;
    let mut encoder = vec![e.codec.name().to_string()];
    encoder.extend(e.crf.map(|c| format!("crf {c}")));
    encoder.extend(e.preset.as_ref().map(|p| format!("preset {p}")));
    encoder.push(e.pix_fmt.clone());
    Job {
        input: plan.input.path.clone(),
        frames: plan.output.total_frames(),
        frame_rate: plan.output.frame_rate.to_string(),
        size: format!("{}x{}", plan.output.width, plan.output.height),
        video_filter: plan.video_filter.clone(),
        encoder: encoder.join(" "),
        extension: plan.output.container.name().to_string(),
    }
}

/// One measured vre run: what `vre run INPUT -o OUT -j JOBS --plan-dir PLAN_DIR --keep-temp`
/// with the bench's plan options does, in this process.
fn run_vre(args: &BenchArgs, jobs: u32, out: &Path, plan_dir: &Path) -> Result<(), Coded> {
    let workers = jobs as usize;
    let job = pipeline::Job {
        request: args
            .options
            .request_for_workers(args.input.clone(), workers, None),
        plan_dir: PlanDir::new(plan_dir),
        out: out.to_path_buf(),
        force: args.options.force,
        workers,
        max_attempts: 3,
        space_check: !args.no_space_check,
        allow_reencode: args.allow_reencode,
        // The bench's own scratch output, removed after each run.
        overwrite: true,
        stall_timeout: StallTimeout::FromPlan,
    };
    let observer = events::observer_for(false, job.plan_dir.root());
    match pipeline::run(&job, observer.as_ref(), &mut |_, _| {}) {
        Ok(Finished::Done { .. }) => Ok(()),
        Ok(Finished::Stopped { code, .. }) => Err(Coded::new(
            code,
            format!("vre run -j {jobs} stopped ({code})"),
        )),
        Err(e) => Err(Coded::new(e.code(), e.to_string())),
    }
}

/// Runs `vre bench`.
pub fn run(args: &BenchArgs, quiet: bool) -> anyhow::Result<Code> {
    // Plan once up front: bad options are refused before anything is timed, and the plan gives
    // the serial command its input, range, filters and encoder settings.
    let request = args.options.request(args.input.clone(), 1, None);
    let loaded = plan::make_plan(&request)?;
    let plan = &loaded.plan;
    check_comparable(args, plan)?;
    let container = plan.output.container;
    let serial = |out: &Path| {
        ffmpeg::video::serial_render(plan, out)
            .expect("checked above: the plan has a serial command")
    };
    let vre = |jobs: u32, out: &Path, plan_dir: &Path| run_vre(args, jobs, out, plan_dir);
    let mut typed = vec![args.input.clone().into_os_string()];
    typed.extend(typed_plan_options(&args.input));
    let vre_command = format!(
        "vre run {} -o out.{} -j N (in process, planDir kept for its stage timings, then removed)",
        typed
            .iter()
            .map(|a| ffmpeg::argv::shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        container.name(),
    );
    let progress = |line: &str| {
        if !quiet {
            eprintln!("vre: bench: {line}");
        }
    };
    if !quiet {
        eprintln!(
            "vre: bench: serial command: {}",
            serial(Path::new(&format!("serial.{}", container.name()))).display()
        );
    }
    let stream = plan
        .source
        .video_stream
        .map_or("v:0".to_string(), |n| n.to_string());
    let measure_quality = |out: &Path| {
        measure::picture_quality(
            out,
            &plan.input.path,
            &stream,
            (plan.output.start_frame, plan.output.end_frame),
            &plan.encoder.pix_fmt,
        )
    };
    let quality: Option<&measure::MeasureQuality<'_>> = match (&plan.video_filter, &plan.normalize)
    {
        (None, None) => Some(&measure_quality),
        _ => {
            progress("quality not measured: with --vf, --fps or --size the output's frames are not the input's");
            None
        }
    };
    let setup = Setup {
        job: job_of(plan),
        quality,
        serial: &serial,
        vre: &vre,
        vre_command,
        workers: worker_counts(args),
        runs: args.runs,
        scratch: std::env::temp_dir()
            .join(format!("vre-bench-{}", crate::sys::fsio::unique_suffix())),
        progress: &progress,
    };
    // The in-process runs' own info lines would drown the bench's; warnings and errors stay.
    crate::sys::log::set_level(true, 0);
    let result = measure::run(&setup, Machine::detect())?;
    if let Some(plot) = &args.plot {
        std::fs::write(plot, svg::svg(&result)).map_err(|e| {
            Coded::new(
                Code::CantCreate,
                format!("cannot write {}: {e}", plot.display()),
            )
        })?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", table::table(&result));
    }
    Ok(Code::Success)
}
