//! `vre plan`: analyse the input and write a planDir.

use crate::cmd::options::PlanOptions;
use crate::codecs::Container;
use crate::exit::Code;
use crate::plan;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::write::{self, PlanOutcome};
use crate::sys::host;
use clap::Args;
use std::path::PathBuf;

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

/// Runs `vre plan`.
pub fn run(args: &PlanArgs, quiet: bool) -> anyhow::Result<Code> {
    let started = std::time::Instant::now();
    let request = args
        .options
        .request(args.input.clone(), host::cores() as u32, None);
    let loaded = plan::make_plan(&request)?;
    let dir = PlanDir::new(&args.plan_dir);
    let outcome = write::write_plan(&dir, &loaded, args.options.force)?;
    crate::plandir::stages::note(&dir, crate::plandir::stages::Stage::Plan, started);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&loaded.plan)?);
    } else if !quiet {
        print!("{}", describe(&dir, &loaded, &outcome));
    }
    Ok(Code::Success)
}

/// What vre does about the input's timing that a user may not expect, one line each.
fn timing_notes(loaded: &LoadedPlan) -> String {
    let plan = &loaded.plan;
    let mut notes = String::new();
    let start = plan.source.start_micros as f64 / 1e6;
    let early = (0..loaded.index.len())
        .take_while(|&k| loaded.index.time_of(k) < start)
        .count();
    if early > 0 {
        notes.push_str(&format!(
            "  note       {early} frame(s) are timed before the file's start (leading frames of an open GOP): vre keeps them, as serial ffmpeg does for mp4 (to mkv/webm its default drops some)\n"
        ));
    }
    let lead = plan.source.lead_frames;
    if lead > 0 {
        let rate = plan.source.frame_rate;
        notes.push_str(&format!(
            "  note       the video starts after the file does: its first frame also fills the {lead} frame(s) ({:.3} s) before it, as serial ffmpeg does for {}\n",
            rate.seconds_of(lead),
            if plan.output.container.is_quicktime() || plan.output.container == Container::Png {
                "this format"
            } else {
                "mp4 (to mkv/webm its default keeps the gap as a timestamp offset instead)"
            }
        ));
    }
    let delay = plan
        .audio
        .as_ref()
        .and_then(|a| a.tracks.iter().find(|t| t.is_source))
        .map_or(0.0, |t| t.media_start);
    if delay > 0.0 {
        notes.push_str(&format!(
            "  note       the input's audio starts {delay:.3} s after the file; that delay is kept\n"
        ));
    }
    notes
}

/// A human description of a plan and of what writing it did.
pub fn describe(dir: &PlanDir, loaded: &LoadedPlan, outcome: &PlanOutcome) -> String {
    let plan = &loaded.plan;
    let out = &plan.output;
    let lengths: Vec<u64> = loaded.chunks.iter().map(|c| c.frames()).collect();
    let (shortest, longest) = (
        lengths.iter().min().copied().unwrap_or(0),
        lengths.iter().max().copied().unwrap_or(0),
    );
    let what = match outcome {
        PlanOutcome::Created => "planned".to_string(),
        PlanOutcome::Unchanged => "plan unchanged (already there)".to_string(),
        PlanOutcome::Replaced { kept, withdrawn } => {
            format!("plan replaced ({kept} finished pieces kept, {withdrawn} withdrawn)")
        }
    };
    let audio = match &plan.audio {
        Some(a) => format!(
            "{} track(s) mixed once, {} {} Hz",
            a.tracks.len(),
            a.codec,
            a.sample_rate
        ),
        None => "none".to_string(),
    };
    let grid = match &plan.normalize {
        Some(n) => format!(
            " (normalised from {}x{} at {} fps{})",
            plan.source.width,
            plan.source.height,
            plan.source.frame_rate,
            if n.fps.is_some() {
                " by an fps filter"
            } else {
                ""
            }
        ),
        None => String::new(),
    };
    format!(
        "vre: {what}: {}\n{}  plan hash  {}\n  input      {} ({}x{}, {} fps, {} frames)\n  output     {} {}x{} at {} fps{grid}\n  range      frames {}..{} ({} frames, {:.3} s)\n  chunks     {} of {}..{} frames, split by {}\n  filter     {}\n  preroll    {} frames: {}\n  encoder    {}, keyint {}\n  audio      {}\n",
        dir.root().display(),
        timing_notes(loaded),
        plan.plan_hash,
        plan.input.path.display(),
        plan.source.width,
        plan.source.height,
        plan.source.frame_rate,
        plan.source.total_frames,
        out.container,
        out.width,
        out.height,
        out.frame_rate,
        out.start_frame,
        out.end_frame,
        out.total_frames(),
        out.frame_rate.seconds_of(out.total_frames()),
        loaded.chunks.len(),
        shortest,
        longest,
        format!("{:?}", plan.chunking.strategy).to_lowercase(),
        plan.video_filter.as_deref().unwrap_or("none"),
        plan.preroll.frames,
        plan.preroll.reason,
        plan.encoder.summary(),
        plan.encoder.gop.keyint,
        audio,
    )
}
