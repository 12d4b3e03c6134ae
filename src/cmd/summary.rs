//! What the verbs print about a plan and an assembly, shared by the verbs that do them
//! (`plan` and `run`; `assemble` and `run`).

use crate::assemble::Assembled;
use crate::codecs::Container;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::Plan;
use crate::plandir::write::PlanOutcome;

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
        .and_then(|a| a.source.as_ref())
        .map_or(0.0, |s| s.start);
    if delay >= 0.0005 {
        notes.push_str(&format!(
            "  note       the input's audio starts {delay:.3} s after the file; that delay is kept\n"
        ));
    }
    for note in plan.container.iter().flat_map(|c| &c.notes) {
        notes.push_str(&format!("  note       {note}\n"));
    }
    for note in &plan.notes {
        notes.push_str(&format!("  note       {note}\n"));
    }
    notes
}

/// What the output holds besides pictures and sound, in one line: tags, chapters, subtitles.
fn container_line(plan: &crate::plandir::schema::Plan) -> String {
    use crate::plandir::schema::MetadataMode;
    let Some(data) = &plan.container else {
        return "none".to_string();
    };
    let subtitles: Vec<String> = data
        .subtitles()
        .map(|s| {
            let write = s.subtitle.as_ref();
            let mut text = format!(
                "input stream {} {} -> {}",
                s.input_stream.unwrap_or_default(),
                write.map_or("?", |w| w.from.as_str()),
                write.map_or("?", |w| w.codec.as_str())
            );
            if let Some(language) = s.tags.get("language") {
                text.push_str(&format!(" ({language})"));
            }
            text
        })
        .collect();
    let subtitles = match subtitles.is_empty() {
        true => "no subtitles".to_string(),
        false => format!("subtitles {}", subtitles.join(", ")),
    };
    match data.metadata {
        MetadataMode::Keep => format!(
            "{} global tag(s), {} chapter(s), {subtitles}{}",
            data.tags.len(),
            data.chapters.len(),
            match data.cut {
                Some(_) => " (cut to the range)",
                None => "",
            }
        ),
        MetadataMode::Strip => format!("metadata stripped (no tags or chapters), {subtitles}"),
    }
}

/// What vre does about the picture's tags that differs from the serial command, one line each.
fn picture_notes(loaded: &LoadedPlan) -> String {
    let plan = &loaded.plan;
    let mut notes = String::new();
    if let (Some(input), Some(output)) = (&plan.source.timecode, &plan.output.timecode) {
        if input != output {
            notes.push_str(&format!(
                "  note       the output's timecode is {output}, its first frame's (the input's starts at {input}); serial ffmpeg keeps the input's start timecode however it is cut\n"
            ));
        }
    }
    if plan.source.mastering_display
        && matches!(plan.output.container, Container::Mkv | Container::Webm)
    {
        notes.push_str(
            "  note       the HDR10 mastering-display metadata travel in the chunks' mp4/mov box, which rounds them to 0.00002 (chromaticity) and 0.0001 cd/m² (luminance); serial ffmpeg copies Matroska's values unrounded\n",
        );
    }
    notes
}

/// The plan's audio outputs in words: what each is made of, its codec and format.
fn describe_audio(plan: &Plan) -> String {
    let outputs = plan.audio_outputs();
    if outputs.is_empty() {
        return "none".to_string();
    }
    outputs
        .iter()
        .map(|(_, a)| {
            let made_of = match (&a.source, a.tracks.len()) {
                (Some(s), 1) => format!("input stream #{}", s.stream),
                (Some(s), n) => format!("input stream #{} + {} track(s) mixed", s.stream, n - 1),
                (None, n) => format!("{n} track(s) mixed"),
            };
            let how = match a.parts {
                Some(_) => format!("in {} parts joined by stream copy", a.part_count()),
                None => "once".to_string(),
            };
            format!(
                "{made_of}, {how}: {} {} Hz {}",
                a.codec, a.sample_rate, a.channel_layout
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What vre learnt about frames that change or break mid-way, and what it does about them, one
/// line each.
fn stream_notes(loaded: &LoadedPlan) -> String {
    let source = &loaded.plan.source;
    let mut notes = String::new();
    if let Some(first) = source.size_changes.first() {
        notes.push_str(&format!(
            "  note       the frame size changes {} time(s) (first at input frame {}, to {}x{}): every frame is scaled to {}x{}, as serial ffmpeg does\n",
            source.size_changes.len(),
            first.frame,
            first.width,
            first.height,
            source.width,
            source.height
        ));
    }
    if let Some(check) = &source.decode_check {
        notes.push_str(&format!(
            "  note       the whole video was decoded at plan time ({}): {} frame(s) the decoder cannot produce are left out, as serial ffmpeg's decoder leaves them out\n",
            check.reason, check.dropped_frames
        ));
        if check.damaged_keyframes > 0 {
            notes.push_str(&format!(
                "  note       {} damaged keyframe(s) the decoder conceals: no chunk starts decoding at them, but concealment depends on the decoder's threads, so frames there may differ from the serial command's (whose own differ between machines)\n",
                check.damaged_keyframes
            ));
        }
    }
    notes
}

/// A human description of a plan and of what writing it did.
pub fn describe_plan(dir: &PlanDir, loaded: &LoadedPlan, outcome: &PlanOutcome) -> String {
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
    let audio = describe_audio(plan);
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
        "vre: {what}: {}\n{}{}  plan hash  {}\n  input      {} ({}{}x{}, {} fps, {} frames)\n  output     {} {}x{} at {} fps{grid}\n  range      frames {}..{} ({} frames, {:.3} s)\n  chunks     {} of {}..{} frames, split by {}\n  filter     {}\n  preroll    {} frames: {}\n  encoder    {}, keyint {}\n  audio      {}\n  data       {}\n",
        dir.root().display(),
        timing_notes(loaded) + &stream_notes(loaded),
        picture_notes(loaded),
        plan.plan_hash,
        plan.input.path.display(),
        plan.source
            .video_stream
            .map_or(String::new(), |n| format!("stream {n}: ")),
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
        container_line(plan),
    )
}

/// One line about a finished assembly.
pub fn describe_assembly(done: &Assembled) -> String {
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
