//! Publishing a task's output: the temp file it is rendered to (a unique name beside the
//! output, recorded in the task's lock file with the claim), the removal of what killed holders
//! left behind (only once the holder is proven gone), and the publish itself — the last checks
//! (plan identity, inputs, the claim still this worker's), hash, rename into place, then the
//! sidecar that proves it done.
//!
//! A crash at any instant leaves at worst a temp file or an unproven output, both of which the
//! next claimant of the task discards.

use crate::plandir::attempts;
use crate::plandir::claim::{self, ClaimRecord, TaskLock};
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::{Media, Sidecar, StreamFacts, TaskId, FORMAT_VERSION};
use crate::plandir::write;
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

/// How long a previous holder on another host must have been silent — no write to its temp file
/// or its progress record, by the filesystem's clock — before its claim counts as abandoned.
/// A live render rewrites its progress record about once a second.
pub const HOLDER_QUIET_SECONDS: u64 = 30;

/// Checks that the planDir still holds the plan a worker loaded and that the plan's input files
/// are unchanged: what a worker proves before each claim, after a failed render and right before
/// it publishes. A plan.json read and a few stats.
pub fn check_still_current(dir: &PlanDir, loaded: &LoadedPlan) -> Result<(), PlanDirError> {
    dir.check_plan_identity(&loaded.plan)?;
    write::check_input_unchanged(&loaded.plan)
}

/// The render temp a claim record names, if it is a plain name of this task's temp files (the
/// lock file is data: nothing else is acted on).
fn recorded_render_temp(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    task: TaskId,
    record: &ClaimRecord,
) -> Option<PathBuf> {
    let dest = dir.output(&loaded.plan, task);
    let dest_name = dest.file_name().unwrap_or_default().to_string_lossy();
    record
        .temp
        .as_ref()
        .filter(|name| !name.contains('/') && name.starts_with(&format!(".{dest_name}.tmp-")))
        .map(|name| dir.output_dir(task).join(name))
}

/// Reads the record the previous holder of a just-claimed task left in its lock file and
/// decides whether that holder is gone, so that what it left may be removed. A holder that is
/// still alive (on this host: its process runs; in this process: its claim is held) means the
/// lock did not exclude: [`PlanDirError::LocksDoNotExclude`]. A holder on another host, which
/// this host cannot see, counts as gone once its temp file and the task's progress record have
/// been silent for [`HOLDER_QUIET_SECONDS`] by the filesystem's clock; until then
/// [`PlanDirError::HolderActive`] (it may have died just now: the task is to be tried again
/// later, not reported).
pub fn vet_previous_holder(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
) -> Result<ClaimRecord, PlanDirError> {
    let task = lock.task();
    let lock_path = dir.lock(task);
    let previous = lock.record().map_err(|source| PlanDirError::Read {
        path: lock_path.clone(),
        source,
    })?;
    let holder = || {
        previous
            .holder
            .as_ref()
            .map_or_else(String::new, ToString::to_string)
    };
    match TaskLock::record_is_live(&previous) {
        Some(false) => Ok(previous),
        Some(true) => Err(claim::not_excluding(
            dir,
            format!(
                "{task} was claimed while its previous holder {} is still running",
                holder()
            ),
        )),
        None => {
            let now = lock
                .filesystem_now()
                .map_err(|source| PlanDirError::Write {
                    path: lock_path,
                    source,
                })?;
            let last_write = recorded_render_temp(dir, loaded, task, &previous)
                .into_iter()
                .chain([dir.progress(task)])
                .filter_map(|path| fs::metadata(path).and_then(|m| m.modified()).ok())
                .max();
            let Some(last_write) = last_write else {
                return Ok(previous);
            };
            let silent = now.duration_since(last_write).unwrap_or_default();
            if silent.as_secs() >= HOLDER_QUIET_SECONDS {
                return Ok(previous);
            }
            Err(PlanDirError::HolderActive {
                task,
                holder: holder(),
                seconds: silent.as_secs_f64(),
                quiet_seconds: HOLDER_QUIET_SECONDS,
            })
        }
    }
}

/// Removes what earlier, killed holders of this task left behind: the render temp whose name
/// the last holder recorded in the lock file, and the fixed temp names of the task's sidecar,
/// attempt record, progress record and next attempt log. Constant work, whatever the number of
/// chunks. Safe because the caller holds the task's lock, which every live writer of those files
/// would hold too, and has vetted the previous holder gone ([`vet_previous_holder`]).
fn remove_stale_temps(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    task: TaskId,
    previous: &ClaimRecord,
) -> Result<(), PlanDirError> {
    let render_temps = recorded_render_temp(dir, loaded, task, previous)
        .into_iter()
        .flat_map(|temp| {
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

/// Prepares a claimed task for rendering: checks that its previous holder is gone
/// ([`vet_previous_holder`]), removes what killed holders of it left behind and returns a fresh
/// temp path beside the task's output, recorded in the lock file with this claim so that the next
/// holder can remove it if this one dies before publishing.
pub fn begin_render(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
) -> Result<PathBuf, PlanDirError> {
    let task = lock.task();
    let previous = vet_previous_holder(dir, loaded, lock)?;
    remove_stale_temps(dir, loaded, task, &previous)?;
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

/// The last checks before a render is published, right before the rename: the plan and its
/// inputs are still the ones rendered from ([`check_still_current`]), the lock file still
/// records this claim (a claimant that got the lock although this claim holds it has written
/// its own), and the task has no output of this plan yet (never replace a valid one).
fn check_before_publish(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
) -> Result<(), PlanDirError> {
    let task = lock.task();
    check_still_current(dir, loaded)?;
    let record = lock.record().map_err(|source| PlanDirError::Read {
        path: dir.lock(task),
        source,
    })?;
    if !lock.owns(&record) {
        let now = record
            .holder
            .map_or_else(|| "no holder".to_string(), |h| h.to_string());
        return Err(claim::not_excluding(
            dir,
            format!("{task}'s lock file now records {now}, not this worker's claim"),
        ));
    }
    if let Ok(Some(sidecar)) = dir.read_sidecar(task) {
        if sidecar.plan_hash == loaded.plan.plan_hash {
            return Err(claim::not_excluding(
                dir,
                format!(
                    "{task} was published by {}:{} while this worker held its lock",
                    sidecar.host, sidecar.pid
                ),
            ));
        }
    }
    Ok(())
}

/// Publishes a verified render: hashes the temp file, checks that it may still be published
/// ([`check_before_publish`]), renames it to the task's output and then writes the sidecar that
/// proves it done. The temp file is removed if it cannot be published.
pub fn publish_render(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
    temp: &Path,
    rendered: Rendered,
) -> Result<Sidecar, PlanDirError> {
    let task = lock.task();
    let dest = dir.output(&loaded.plan, task);
    let (bytes, blake3) = fsio::hash_file(temp).map_err(|source| {
        let _ = fs::remove_file(temp);
        PlanDirError::Read {
            path: temp.to_path_buf(),
            source,
        }
    })?;
    check_before_publish(dir, loaded, lock).inspect_err(|_| {
        let _ = fs::remove_file(temp);
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
