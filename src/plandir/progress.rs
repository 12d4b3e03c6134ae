//! Progress records: how far a running task is, rewritten by its worker about once a second and
//! read by `vre status --watch` and the report. Best effort on both sides: progress is a
//! courtesy to viewers, never a reason to fail a render.

use crate::plandir::layout::PlanDir;
use crate::plandir::schema::{ProgressRecord, TaskId};
use crate::sys::fsio;
use crate::sys::host;
use std::fs;

impl PlanDir {
    /// Writes a running task's progress record: `frames_done` of `frames` at `fps`.
    pub fn write_progress(&self, task: TaskId, frames_done: u64, frames: u64, fps: f64) {
        let record = ProgressRecord {
            frames_done,
            frames,
            fps,
            host: host::host_name(),
            pid: std::process::id(),
            updated_at: fsio::unix_now(),
        };
        let path = self.progress(task);
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let _ = fsio::write_json_atomic_locked(&path, &record);
    }

    /// Reads a running task's progress record, if there is a readable one.
    pub fn read_progress(&self, task: TaskId) -> Option<ProgressRecord> {
        serde_json::from_slice(&fs::read(self.progress(task)).ok()?).ok()
    }

    /// Removes a task's progress record once it no longer runs.
    pub fn clear_progress(&self, task: TaskId) {
        let _ = fsio::remove_if_exists(&self.progress(task));
    }
}
