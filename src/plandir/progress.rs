//! Progress records: how far a running task is and when it last made progress, written by its
//! worker at the claim and then about once a second while the render makes progress, and read
//! by `vre status` (which flags a task whose progress is older than its holder's stall limit)
//! and the report. Best effort on both sides: progress is a courtesy to viewers, never a reason
//! to fail a render.

use crate::plandir::layout::PlanDir;
use crate::plandir::schema::{ProgressRecord, TaskId};
use crate::sys::fsio;
use crate::sys::host;
use std::fs;
use std::time::Duration;

impl PlanDir {
    /// Writes a running task's progress record as its render makes progress (or starts):
    /// `frames_done` of `frames` at `fps`, now, by this process, whose stall limit is
    /// `stall_limit` (`None`: no watchdog).
    pub fn write_progress(
        &self,
        task: TaskId,
        (frames_done, frames): (u64, u64),
        fps: f64,
        stall_limit: Option<Duration>,
    ) {
        let now = fsio::unix_now();
        let record = ProgressRecord {
            frames_done,
            frames,
            fps,
            host: host::host_name(),
            pid: std::process::id(),
            updated_at: now,
            progress_at: now,
            stall_limit_seconds: stall_limit.map(|l| l.as_secs_f64()),
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
