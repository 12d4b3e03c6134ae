//! How many bytes a plan's unfinished tasks and its assembled output will take, for the
//! free-space checks made before work starts; and how slow its published chunks were, for the
//! stall limit of its renders.

use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::TaskId;

/// Bits per second assumed for lossless audio: 16-bit stereo at 48 kHz.
const LOSSLESS_AUDIO_BITRATE: u32 = 1_536_000;

/// A pessimistic estimate of the bytes one encoded frame takes: raw 8-bit 4:2:0 is 1.5 bytes
/// per pixel (3 for other formats), lossless coding keeps at most about half of it, and every 6
/// steps of CRF halve the size again.
fn bytes_per_frame(loaded: &LoadedPlan) -> f64 {
    let plan = &loaded.plan;
    let pixels = f64::from(plan.output.width) * f64::from(plan.output.height);
    let raw = pixels
        * if plan.encoder.pix_fmt == "yuv420p" {
            1.5
        } else {
            3.0
        };
    (raw * 0.5 * 2f64.powf(-f64::from(plan.encoder.crf.unwrap_or(0)) / 6.0)).max(1024.0)
}

/// Estimated bytes of the tasks of a plan that are not done yet.
pub fn estimate_remaining(dir: &PlanDir, loaded: &LoadedPlan) -> u64 {
    let per_frame = bytes_per_frame(loaded);
    loaded
        .tasks()
        .into_iter()
        .filter(|&t| !dir.is_done(loaded, t))
        .map(|task| match task {
            TaskId::Chunk(_) => {
                (per_frame * loaded.chunk(task).map_or(0, |c| c.frames()) as f64) as u64
            }
            TaskId::Audio(_) | TaskId::AudioPart(..) => {
                loaded.plan.audio_output(task).map_or(0, |audio| {
                    // A part: its share of the whole output's bytes.
                    let share = audio.samples_of(task) as f64 / audio.samples.max(1) as f64;
                    (audio_bytes(audio) as f64 * share) as u64
                })
            }
        })
        .sum()
}

/// Estimated bytes of the whole assembled output.
pub fn estimate_output(loaded: &LoadedPlan) -> u64 {
    let video = bytes_per_frame(loaded) * loaded.plan.output.total_frames() as f64;
    let audio: u64 = loaded
        .plan
        .audio_outputs()
        .into_iter()
        .map(|(_, a)| audio_bytes(a))
        .sum();
    video as u64 + audio
}

/// Estimated bytes of an audio output.
fn audio_bytes(audio: &crate::plandir::schema::AudioPlan) -> u64 {
    u64::from(audio.bitrate.unwrap_or(LOSSLESS_AUDIO_BITRATE)) / 8
        * (audio.samples / u64::from(audio.sample_rate) + 1)
}

/// The longest a published chunk of this plan took per frame, seconds (its sidecar's encode time
/// over its frames), among `tasks`; `None` when none of them is a published chunk.
pub fn slowest_seconds_per_frame(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    tasks: &[TaskId],
) -> Option<f64> {
    tasks
        .iter()
        .filter_map(|&task| {
            let frames = loaded.chunk(task)?.frames();
            let sidecar = dir.read_sidecar(task).ok().flatten()?;
            (sidecar.plan_hash == loaded.plan.plan_hash && frames > 0)
                .then(|| sidecar.encode_seconds / frames as f64)
        })
        .max_by(f64::total_cmp)
}
