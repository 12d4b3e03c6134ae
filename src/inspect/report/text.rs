//! The report's figures as people read them: durations, dates, and the plan's facts.

use crate::inspect::report::model::RunReport;

/// Seconds as people read them.
pub fn secs(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2} s")
    } else if x < 600.0 {
        format!("{x:.1} s")
    } else if x < 36_000.0 {
        format!("{:.1} min", x / 60.0)
    } else {
        format!("{:.1} h", x / 3600.0)
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_text(t: f64) -> String {
    let secs = t.floor() as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::sys::log::civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The plan's facts, as (name, value) rows: planDir, input, source, range, chunks, filter,
/// encoder, audio, plan hash, versions.
pub fn facts(r: &RunReport) -> Vec<(&'static str, String)> {
    let loaded = &r.loaded;
    let plan = &loaded.plan;
    let out = &plan.output;
    let lengths = loaded.chunks.iter().map(|c| c.frames());
    let (shortest, longest) = (
        lengths.clone().min().unwrap_or(0),
        lengths.max().unwrap_or(0),
    );
    let source = &plan.source;
    vec![
        ("planDir", r.root.display().to_string()),
        (
            "input",
            format!(
                "{} ({:.1} MB)",
                plan.input.path.display(),
                plan.input.stamp.size as f64 / 1e6
            ),
        ),
        (
            "source",
            format!(
                "{}x{}, {} fps ({:.3}), {} frames, {} {}{}",
                source.width,
                source.height,
                source.frame_rate,
                source.frame_rate.as_f64(),
                source.total_frames,
                source.codec,
                source.pix_fmt,
                if source.has_audio { ", audio" } else { "" }
            ),
        ),
        (
            "range",
            format!(
                "frames {}..{} ({} frames, {:.3} s)",
                out.start_frame,
                out.end_frame,
                out.total_frames(),
                out.frame_rate.seconds_of(out.total_frames())
            ),
        ),
        (
            "chunks",
            format!("{} of {shortest}..{longest} frames", loaded.chunks.len()),
        ),
        (
            "filter",
            plan.video_filter
                .clone()
                .unwrap_or_else(|| "none".to_string()),
        ),
        (
            "encoder",
            format!(
                "{}, keyint {}",
                plan.encoder.summary(),
                plan.encoder.gop.keyint
            ),
        ),
        ("audio", audio_fact(r)),
        ("plan hash", plan.plan_hash.clone()),
        (
            "versions",
            format!("vre {}, ffmpeg {}", plan.vre_version, plan.ffmpeg_version),
        ),
    ]
}

/// The audio outputs in one line.
fn audio_fact(r: &RunReport) -> String {
    let outputs = r.loaded.plan.audio_outputs();
    if outputs.is_empty() {
        return "none".to_string();
    }
    outputs
        .iter()
        .map(|(_, a)| {
            format!(
                "{} track(s) mixed once, {} {} Hz {} ch",
                a.tracks.len(),
                a.codec,
                a.sample_rate,
                a.channels
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc_text(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(1_700_000_000.5), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_text(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }
}
