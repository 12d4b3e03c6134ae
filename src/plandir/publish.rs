//! Publishing a task's output: the temp file it is rendered to (a unique name beside the
//! output, recorded in the task's lock file), the removal of what killed holders left behind,
//! and the publish itself — hash, rename into place, then the sidecar that proves it done.
//!
//! A crash at any instant leaves at worst a temp file or an unproven output, both of which the
//! next claimant of the task discards.

use crate::plandir::attempts;
use crate::plandir::claim::TaskLock;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::{Media, Sidecar, StreamFacts, TaskId, FORMAT_VERSION};
use crate::sys::fsio;
use crate::sys::host;
use std::fs;
use std::path::{Path, PathBuf};

/// The files a render logs frame timestamps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameLogs {
    /// The input frames entering the filter graph.
    pub source: PathBuf,
    /// The frames leaving the user's filter chain (written only when the plan has one).
    pub filtered: PathBuf,
}

/// The suffix of the source-frame log.
const SOURCE_LOG_SUFFIX: &str = ".pts";
/// The suffix of the filtered-frame log.
const FILTERED_LOG_SUFFIX: &str = ".filtered.pts";

impl FrameLogs {
    /// The logs of a render that writes `output`: beside it, named after it, removed with it.
    pub fn beside(output: &Path) -> FrameLogs {
        let named = |suffix: &str| {
            let mut name = output.file_name().unwrap_or_default().to_os_string();
            name.push(suffix);
            output.with_file_name(name)
        };
        FrameLogs {
            source: named(SOURCE_LOG_SUFFIX),
            filtered: named(FILTERED_LOG_SUFFIX),
        }
    }

    /// The name of the output a frame log named `name` belongs to; `None` if it is not a log.
    pub fn logged_name(name: &str) -> Option<&str> {
        name.strip_suffix(FILTERED_LOG_SUFFIX)
            .or_else(|| name.strip_suffix(SOURCE_LOG_SUFFIX))
    }

    /// Both files, to remove them.
    pub fn paths(&self) -> [&Path; 2] {
        [&self.source, &self.filtered]
    }
}

/// Removes what earlier, killed holders of this task left behind: the render temp whose name
/// the last holder recorded in the lock file, and the fixed temp names of the task's sidecar,
/// attempt record, progress record and next attempt log. Constant work, whatever the number of
/// chunks. Safe because the caller holds the task's lock, which every live writer of those files
/// would hold too.
fn remove_stale_temps(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
) -> Result<(), PlanDirError> {
    let task = lock.task();
    let dest = dir.output(&loaded.plan, task);
    let dest_name = dest.file_name().unwrap_or_default().to_string_lossy();
    let recorded = lock.recorded_temp().map_err(|source| PlanDirError::Read {
        path: dir.lock(task),
        source,
    })?;
    // The lock file is data: only a plain name of this task's temp files is acted on.
    let render_temp = recorded
        .filter(|name| !name.contains('/') && name.starts_with(&format!(".{dest_name}.tmp-")))
        .map(|name| dir.output_dir(task).join(name));
    let render_temps = render_temp.into_iter().flat_map(|temp| {
        let logs = FrameLogs::beside(&temp);
        [logs.source, logs.filtered, temp]
    });
    let next_attempt = attempts::read(dir, task).failures.len() as u32 + 1;
    let fixed = [
        dir.sidecar(task),
        dir.attempts(task),
        dir.progress(task),
        dir.attempt_log(task, next_attempt),
    ]
    .map(|path| fsio::locked_temp_path(&path));
    for path in render_temps.chain(fixed) {
        fsio::remove_if_exists(&path).map_err(|source| PlanDirError::Write { path, source })?;
    }
    Ok(())
}

/// Prepares a claimed task for rendering: removes what killed holders of it left behind and
/// returns a fresh temp path beside the task's output, recorded in the lock file so that the
/// next holder can remove it if this one dies before publishing.
pub fn begin_render(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
) -> Result<PathBuf, PlanDirError> {
    let task = lock.task();
    remove_stale_temps(dir, loaded, lock)?;
    let temp = fsio::temp_path_for(&dir.output(&loaded.plan, task));
    let temp_name = temp.file_name().unwrap_or_default().to_string_lossy();
    lock.record_temp(&temp_name)
        .map_err(|source| PlanDirError::Write {
            path: dir.lock(task),
            source,
        })?;
    Ok(temp)
}

/// What a verified render measured, for its sidecar.
pub struct Rendered {
    /// Frames or samples, as verified.
    pub media: Media,
    /// The video stream's parameters (chunks only).
    pub stream: Option<StreamFacts>,
    /// When the render started, Unix seconds.
    pub started_at: f64,
    /// Seconds ffmpeg ran.
    pub encode_seconds: f64,
}

/// Publishes a verified render: hashes the temp file, renames it to the task's output and then
/// writes the sidecar that proves it done. The temp file is removed if it cannot be published.
pub fn publish_render(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    task: TaskId,
    temp: &Path,
    rendered: Rendered,
) -> Result<Sidecar, PlanDirError> {
    let dest = dir.output(&loaded.plan, task);
    let (bytes, blake3) = fsio::hash_file(temp).map_err(|source| {
        let _ = fs::remove_file(temp);
        PlanDirError::Read {
            path: temp.to_path_buf(),
            source,
        }
    })?;
    fsio::publish(temp, &dest).map_err(|source| {
        let _ = fs::remove_file(temp);
        PlanDirError::Write {
            path: dest.clone(),
            source,
        }
    })?;
    let sidecar = Sidecar {
        format_version: FORMAT_VERSION,
        plan_hash: loaded.plan.plan_hash.clone(),
        task_key: loaded.task_key(task),
        media: rendered.media,
        stream: rendered.stream,
        bytes,
        blake3,
        encode_seconds: rendered.encode_seconds,
        started_at: rendered.started_at,
        finished_at: fsio::unix_now(),
        host: host::host_name(),
        pid: std::process::id(),
    };
    let sidecar_path = dir.sidecar(task);
    fsio::write_json_atomic_locked(&sidecar_path, &sidecar).map_err(|source| {
        // Unproven, the output is garbage: leave nothing that looks published.
        let _ = fs::remove_file(&dest);
        PlanDirError::Write {
            path: sidecar_path,
            source,
        }
    })?;
    Ok(sidecar)
}
