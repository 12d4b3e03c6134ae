//! Free-space preflight: refuse work that cannot fit before it starts, not hours into it.

use crate::exit::{Code, HasCode};
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::TaskId;
use std::path::{Path, PathBuf};

/// Not enough room on a filesystem.
#[derive(Debug, thiserror::Error)]
#[error("not enough free space for {what} on the filesystem of {}: about {} needed, {} free; free some space, use another directory, or pass --no-space-check if the estimate is too pessimistic", .path.display(), human(*.needed), human(*.free))]
pub struct SpaceError {
    /// The directory checked.
    pub path: PathBuf,
    /// What needs the space.
    pub what: &'static str,
    /// Bytes needed (estimated).
    pub needed: u64,
    /// Bytes free.
    pub free: u64,
}

impl HasCode for SpaceError {
    fn code(&self) -> Code {
        Code::CantCreate
    }
}

/// Bytes as a short human text (`1.5 GiB`).
pub fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

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
            TaskId::Audio => loaded.plan.audio.as_ref().map_or(0, |a| {
                u64::from(a.bitrate.unwrap_or(LOSSLESS_AUDIO_BITRATE)) / 8
                    * (a.samples / u64::from(a.sample_rate) + 1)
            }),
        })
        .sum()
}

/// Estimated bytes of the whole assembled output.
pub fn estimate_output(loaded: &LoadedPlan) -> u64 {
    let video = bytes_per_frame(loaded) * loaded.plan.output.total_frames() as f64;
    let audio = loaded.plan.audio.as_ref().map_or(0, |a| {
        u64::from(a.bitrate.unwrap_or(LOSSLESS_AUDIO_BITRATE)) / 8
            * (a.samples / u64::from(a.sample_rate) + 1)
    });
    video as u64 + audio
}

/// Refuses when the filesystem holding `path` has less than `needed` bytes free. When the free
/// space cannot be read (an unusual filesystem), there is nothing to refuse on.
pub fn ensure_free(path: &Path, what: &'static str, needed: u64) -> Result<(), SpaceError> {
    let Ok(free) = fs2::available_space(path) else {
        return Ok(());
    };
    if needed > free {
        return Err(SpaceError {
            path: path.to_path_buf(),
            what,
            needed,
            free,
        });
    }
    Ok(())
}

/// Whether two existing paths live on the same filesystem.
pub fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(human(512), "512.0 B");
        assert_eq!(human(3 * 1024 * 1024 / 2), "1.5 MiB");
    }

    #[test]
    fn refuses_what_cannot_fit_and_accepts_what_can() {
        let here = std::env::temp_dir();
        assert!(ensure_free(&here, "test", 1).is_ok());
        let err = ensure_free(&here, "test", u64::MAX).unwrap_err();
        assert!(err.to_string().contains("not enough free space for test"));
    }
}
