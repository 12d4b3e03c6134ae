//! `vre bench`: vre against the plain ffmpeg command a user would have typed, on the same job.

use crate::bench::measure::{self, Setup};
use crate::bench::model::{Job, Machine};
use crate::bench::{svg, table};
use crate::cli::{self, BenchArgs, RunArgs};
use crate::codecs::Container;
use crate::exit::{Code, Coded, HasCode};
use crate::ffmpeg;
use crate::plan;
use std::ffi::OsString;
use std::path::Path;

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

fn shell_words(args: &[OsString]) -> String {
    args.iter()
        .map(|a| {
            let text = a.to_string_lossy();
            if !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c))
            {
                text.into_owned()
            } else {
                format!("'{}'", text.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `vre bench`.
pub fn run(args: &BenchArgs, quiet: bool) -> anyhow::Result<Code> {
    let cores = cli::cores();
    let workers: Vec<u32> = if args.workers.is_empty() {
        (1..=cores as u32).collect()
    } else {
        let mut seen = Vec::new();
        for &n in &args.workers {
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
        seen
    };
    if args.options.format == Some(Container::Png) {
        return Err(Coded::new(
            Code::Usage,
            "vre bench compares against one ffmpeg command writing a file; a PNG sequence is not measured",
        )
        .into());
    }
    // Plan once up front: bad options are refused before anything is timed, and the plan gives
    // the serial command its input, range, filters and encoder settings.
    let request = args.options.request(args.input.clone(), 1, None);
    let loaded = plan::make_plan(&request)?;
    let plan = &loaded.plan;
    if let Err(what) = ffmpeg::serial_render(plan, Path::new("serial.out")) {
        return Err(Coded::new(
            Code::Usage,
            format!(
                "vre bench compares against one plain ffmpeg command, which cannot express {what}"
            ),
        )
        .into());
    }
    let container = plan.output.container;
    let job = Job {
        input: plan.input.path.clone(),
        frames: plan.output.total_frames(),
        frame_rate: plan.output.frame_rate.to_string(),
        size: format!("{}x{}", plan.output.width, plan.output.height),
        video_filter: plan.video_filter.clone(),
        encoder: {
            let e = &plan.encoder;
            let mut parts = vec![e.codec.name().to_string()];
            parts.extend(e.crf.map(|c| format!("crf {c}")));
            parts.extend(e.preset.as_ref().map(|p| format!("preset {p}")));
            parts.push(e.pix_fmt.clone());
            parts.join(" ")
        },
        extension: container.name().to_string(),
    };
    let serial = |out: &Path| {
        ffmpeg::serial_render(plan, out).expect("checked above: the plan has a serial command")
    };
    let vre = |jobs: u32, out: &Path, plan_dir: &Path| -> Result<(), Coded> {
        let run_args = RunArgs {
            input: args.input.clone(),
            out: out.to_path_buf(),
            jobs: Some(jobs as usize),
            plan_dir: Some(plan_dir.to_path_buf()),
            keep_temp: true,
            allow_reencode: false,
            max_attempts: 3,
            no_space_check: false,
            options: args.options.clone(),
        };
        let code = crate::cmd::run::run(&run_args, true)
            .map_err(|e| Coded::new(crate::exit::code_of(&e), e.to_string()))?;
        if code == Code::Success {
            Ok(())
        } else {
            Err(Coded::new(
                code,
                format!("vre run -j {jobs} stopped ({code})"),
            ))
        }
    };
    let vre_command = format!(
        "vre run {} -o out.{} -j N {} (in process, planDir kept for its stage timings, then removed)",
        shell_words(&[args.input.clone().into_os_string()]),
        container.name(),
        shell_words(&typed_plan_options(&args.input))
    );
    let progress = |line: &str| {
        if !quiet {
            eprintln!("vre: bench: {line}");
        }
    };
    let machine = Machine::detect();
    if !quiet {
        eprintln!(
            "vre: bench: serial command: {}",
            serial(Path::new(&format!("serial.{}", container.name()))).display()
        );
    }
    let setup = Setup {
        job,
        serial: &serial,
        vre: &vre,
        vre_command,
        workers,
        runs: args.runs,
        scratch: std::env::temp_dir()
            .join(format!("vre-bench-{}", crate::sys::fsio::unique_suffix())),
        progress: &progress,
    };
    // The in-process runs' own info lines would drown the bench's; warnings and errors stay.
    crate::sys::log::set_level(true, 0);
    let result = measure::run(&setup, machine).map_err(|e| Coded::new(e.code(), e.to_string()))?;
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
