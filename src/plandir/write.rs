//! Writing a plan into a planDir, and replacing one (`--force`) so that every finished output
//! the new plan can use is kept. Also the check that the planned input, and the files its filter
//! chains read, have not changed since.

use crate::plandir::claim;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::{FileStamp, Plan, TaskId};
use crate::sys::fsio;
use std::fs;
use std::path::{Path, PathBuf};

/// Checks that a file the plan reads is still the one planned: same size, modification and
/// status-change times, same inode (see [`FileStamp`]).
pub fn check_file_unchanged(path: &Path, planned: &FileStamp) -> Result<(), PlanDirError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PlanDirError::InputMissing {
                path: path.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(PlanDirError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    match planned.changes(&FileStamp::of(&meta)) {
        None => Ok(()),
        Some(what) => Err(PlanDirError::InputChanged {
            path: path.to_path_buf(),
            what,
        }),
    }
}

/// The files a plan reads, with their stamps when planned: the input, then every audio track
/// whose stamp the plan records (the input's own audio is the input again).
pub fn input_files(plan: &Plan) -> Vec<(&Path, &FileStamp)> {
    let mut files = vec![(plan.input.path.as_path(), &plan.input.stamp)];
    let tracks = plan
        .audio_outputs()
        .into_iter()
        .flat_map(|(_, a)| &a.tracks);
    for track in tracks.filter(|t| !t.is_source) {
        if let Some(stamp) = &track.stamp {
            files.push((track.path.as_path(), stamp));
        }
    }
    files
}

/// Checks that the input, the audio tracks and every file the plan's filter chains read are
/// still the files planned (see [`check_file_unchanged`]): a few stats. An error about a
/// filter's file names the file, the filter and its chain.
pub fn check_input_unchanged(plan: &Plan) -> Result<(), PlanDirError> {
    for (path, stamp) in input_files(plan) {
        check_file_unchanged(path, stamp)?;
    }
    for used in &plan.filter_files {
        let (flag, filter, option) = (used.chain.flag(), &used.filter, &used.option);
        check_file_unchanged(&used.file.path, &used.file.stamp).map_err(|e| match e {
            PlanDirError::InputMissing { path } => PlanDirError::FilterFileMissing {
                path,
                flag,
                filter: filter.clone(),
                option: option.clone(),
            },
            PlanDirError::InputChanged { path, what } => PlanDirError::FilterFileChanged {
                path,
                flag,
                filter: filter.clone(),
                option: option.clone(),
                what,
            },
            other => other,
        })?;
    }
    Ok(())
}

/// What writing a plan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanOutcome {
    /// A new planDir was written.
    Created,
    /// The planDir already held this very plan; nothing changed.
    Unchanged,
    /// A different plan was replaced (`--force`): outputs still valid for the new plan were
    /// kept, the others withdrawn.
    Replaced {
        /// Outputs kept.
        kept: usize,
        /// Outputs withdrawn.
        withdrawn: usize,
    },
}

fn write_err(path: PathBuf) -> impl FnOnce(std::io::Error) -> PlanDirError {
    move |source| PlanDirError::Write { path, source }
}

fn write_plan_files(dir: &PlanDir, new: &LoadedPlan) -> Result<(), PlanDirError> {
    // plan.json first: if a crash cuts in between, planning again with the same arguments
    // finds its own hash in plan.json and simply rewrites chunks.json.
    // The index first: plan.json names it by hash, so it is never found missing or stale.
    dir.write_index(&new.index.encode())?;
    let plan_path = dir.plan_path();
    fsio::write_json_atomic(&plan_path, &new.plan).map_err(write_err(plan_path))?;
    let chunks_path = dir.chunks_path();
    fsio::write_json_atomic(&chunks_path, &new.chunks).map_err(write_err(chunks_path))
}

fn recorded_hash(dir: &PlanDir) -> Option<String> {
    let bytes = fs::read(dir.plan_path()).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("plan_hash")?.as_str().map(str::to_string)
}

/// Writes a plan into a planDir: creates it; succeeds without change if it already holds this
/// plan; refuses a different plan unless `force`, and refuses `force` while a worker runs.
pub fn write_plan(
    dir: &PlanDir,
    new: &LoadedPlan,
    force: bool,
) -> Result<PlanOutcome, PlanDirError> {
    dir.check_layout()?;
    if dir.has_plan() {
        match dir.load() {
            Ok(old) if old.plan.plan_hash == new.plan.plan_hash => {
                return Ok(PlanOutcome::Unchanged)
            }
            Ok(old) if !force => {
                return Err(PlanDirError::DifferentPlan {
                    dir: dir.root().to_path_buf(),
                    existing: old.plan.plan_hash,
                    new: new.plan.plan_hash.clone(),
                })
            }
            Err(_) if recorded_hash(dir).as_deref() == Some(new.plan.plan_hash.as_str()) => {
                // An earlier `vre plan` of this very plan stopped between its two writes.
                let _lock = claim::lock_plan_exclusive(dir)?;
                write_plan_files(dir, new)?;
                return Ok(PlanOutcome::Unchanged);
            }
            Err(e) if !force => return Err(e),
            old => return replace_plan(dir, old.ok(), new),
        }
    }
    dir.create_layout()?;
    let _lock = claim::lock_plan_exclusive(dir)?;
    write_plan_files(dir, new)?;
    Ok(PlanOutcome::Created)
}

/// Replaces the plan in a planDir (`--force`), keeping each output whose task key the new plan
/// shares (its sidecar is re-stamped with the new plan hash) and withdrawing all others.
fn replace_plan(
    dir: &PlanDir,
    old: Option<LoadedPlan>,
    new: &LoadedPlan,
) -> Result<PlanOutcome, PlanDirError> {
    dir.create_layout()?;
    let _lock = claim::lock_plan_exclusive(dir)?;
    let old_tasks = old.as_ref().map(LoadedPlan::tasks).unwrap_or_default();
    let new_tasks = new.tasks();
    // Hold every task lock while outputs are moved around: a worker that outlived its plan lock
    // (it cannot, but a stale ffmpeg could) must not be writing.
    let every_task: std::collections::BTreeSet<TaskId> =
        old_tasks.iter().chain(&new_tasks).copied().collect();
    let mut held = Vec::new();
    for task in every_task {
        let lock = claim::try_claim(dir, task).map_err(write_err(dir.lock(task)))?;
        match lock {
            Some(lock) => held.push(lock),
            None => {
                return Err(PlanDirError::Busy {
                    dir: dir.root().to_path_buf(),
                    what: format!("{task} is being rendered"),
                })
            }
        }
    }
    let (mut kept, mut withdrawn) = (0, 0);
    for &task in &new_tasks {
        let sidecar = dir.read_sidecar(task).ok().flatten();
        match sidecar {
            Some(mut s) if s.task_key == new.task_key(task) => {
                s.plan_hash = new.plan.plan_hash.clone();
                let path = dir.sidecar(task);
                fsio::write_json_atomic_locked(&path, &s).map_err(write_err(path))?;
                kept += 1;
            }
            Some(_) => {
                dir.withdraw(&new.plan, task)?;
                fsio::remove_if_exists(&dir.attempts(task))
                    .map_err(write_err(dir.attempts(task)))?;
                withdrawn += 1;
            }
            None => {
                fsio::remove_if_exists(&dir.attempts(task))
                    .map_err(write_err(dir.attempts(task)))?;
            }
        }
    }
    if let Some(old) = &old {
        for &task in old_tasks.iter().filter(|t| !new_tasks.contains(t)) {
            if dir.read_sidecar(task).ok().flatten().is_some() {
                withdrawn += 1;
            }
            dir.withdraw(&old.plan, task)?;
            fsio::remove_if_exists(&dir.attempts(task)).map_err(write_err(dir.attempts(task)))?;
        }
    }
    write_plan_files(dir, new)?;
    drop(held);
    Ok(PlanOutcome::Replaced { kept, withdrawn })
}
