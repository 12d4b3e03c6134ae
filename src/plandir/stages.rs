//! Stage timings of a planDir: when the plan was made and when it was last assembled, kept in
//! `PLANDIR/stages.json` (schemas/stages.schema.json) for `vre report`. The work stage needs no
//! record of its own: every published task's sidecar says when it was rendered, and by whom.
//!
//! The file is informational. It is written atomically (read, modify, write to a temp file,
//! rename); an unreadable one is started afresh, and failing to write it never fails the verb
//! that was timed.

use crate::plandir::layout::PlanDir;
use crate::sys::fsio;
use crate::sys::host;
use crate::sys::log::{self, Level};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;
use std::time::Instant;

/// The version of `stages.json` this vre writes.
pub const STAGES_VERSION: u32 = 1;

/// A stage that is timed in `stages.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `vre plan` (or the planning part of `vre run`).
    Plan,
    /// `vre assemble` (or the assembling part of `vre run`).
    Assemble,
}

/// When one stage ran, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    /// The plan the stage worked on.
    pub plan_hash: String,
    /// Start, seconds since the Unix epoch.
    pub started_at: f64,
    /// End, seconds since the Unix epoch.
    pub finished_at: f64,
    /// Duration on a monotonic clock (immune to wall-clock jumps).
    pub seconds: f64,
    /// Host that ran the stage.
    pub host: String,
    /// Process id that ran it.
    pub pid: u32,
}

/// `stages.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    /// Format version of this file.
    pub format_version: u32,
    /// When the current plan was made (a re-plan that changes nothing keeps the first record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<StageTiming>,
    /// The last assembly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assemble: Option<StageTiming>,
}

impl Default for Stages {
    fn default() -> Self {
        Stages {
            format_version: STAGES_VERSION,
            plan: None,
            assemble: None,
        }
    }
}

impl Stages {
    /// A stage's timing, if it was recorded for the plan `plan_hash`.
    pub fn get(&self, stage: Stage, plan_hash: &str) -> Option<&StageTiming> {
        let timing = match stage {
            Stage::Plan => self.plan.as_ref(),
            Stage::Assemble => self.assemble.as_ref(),
        };
        timing.filter(|t| t.plan_hash == plan_hash)
    }

    /// Records a stage. Planning the same plan again is a no-op, so an existing plan record of
    /// the same plan is kept; an assembly always replaces the previous one.
    pub fn set(&mut self, stage: Stage, timing: StageTiming) {
        match stage {
            Stage::Plan => {
                if self.get(Stage::Plan, &timing.plan_hash).is_none() {
                    self.plan = Some(timing);
                }
            }
            Stage::Assemble => self.assemble = Some(timing),
        }
    }
}

/// `PLANDIR/stages.json`.
pub fn path(dir: &PlanDir) -> PathBuf {
    dir.stages_path()
}

/// Reads `stages.json`; a missing, unreadable or damaged file reads as empty.
pub fn read(dir: &PlanDir) -> Stages {
    std::fs::read(path(dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Stages>(&bytes).ok())
        .filter(|s| s.format_version == STAGES_VERSION)
        .unwrap_or_default()
}

/// Adds one stage's timing to `stages.json`, atomically.
pub fn record(dir: &PlanDir, stage: Stage, timing: StageTiming) -> io::Result<()> {
    let mut stages = read(dir);
    stages.set(stage, timing);
    fsio::write_json_atomic(&path(dir), &stages)
}

/// The plan hash recorded in `plan.json`, read without verifying the plan.
fn current_plan_hash(dir: &PlanDir) -> io::Result<String> {
    let bytes = std::fs::read(dir.plan_path())?;
    let plan: serde_json::Value = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
    plan.get("plan_hash")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| io::Error::other("plan.json has no plan_hash"))
}

/// Records that `stage` ran on the planDir's current plan from `started` until now. A failure
/// is logged as a warning, never returned: the stage itself succeeded.
pub fn note(dir: &PlanDir, stage: Stage, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let finished_at = fsio::unix_now();
    let result = current_plan_hash(dir).and_then(|plan_hash| {
        let timing = StageTiming {
            plan_hash,
            started_at: finished_at - seconds,
            finished_at,
            seconds,
            host: host::host_name(),
            pid: std::process::id(),
        };
        record(dir, stage, timing)
    });
    if let Err(e) = result {
        log::log(
            Level::Warn,
            &format!(
                "could not record stage timings in {}: {e}",
                path(dir).display()
            ),
            &[],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(hash: &str, at: f64) -> StageTiming {
        StageTiming {
            plan_hash: hash.to_string(),
            started_at: at,
            finished_at: at + 1.0,
            seconds: 1.0,
            host: "h".to_string(),
            pid: 7,
        }
    }

    #[test]
    fn records_survive_rereads_and_damaged_files_start_afresh() {
        let root = std::env::temp_dir().join(format!("vre-stages-{}", fsio::unique_suffix()));
        std::fs::create_dir_all(&root).unwrap();
        let dir = PlanDir::new(&root);
        assert_eq!(read(&dir), Stages::default());

        record(&dir, Stage::Plan, timing("a", 10.0)).unwrap();
        record(&dir, Stage::Assemble, timing("a", 20.0)).unwrap();
        let stages = read(&dir);
        assert_eq!(stages.get(Stage::Plan, "a"), Some(&timing("a", 10.0)));
        assert_eq!(stages.get(Stage::Assemble, "a"), Some(&timing("a", 20.0)));
        assert_eq!(stages.get(Stage::Plan, "b"), None, "another plan's record");

        // Planning the same plan again keeps when it was made; a new plan replaces it.
        record(&dir, Stage::Plan, timing("a", 30.0)).unwrap();
        assert_eq!(read(&dir).plan, Some(timing("a", 10.0)));
        record(&dir, Stage::Plan, timing("b", 40.0)).unwrap();
        assert_eq!(read(&dir).plan, Some(timing("b", 40.0)));
        // Assembling again replaces the last assembly.
        record(&dir, Stage::Assemble, timing("b", 50.0)).unwrap();
        assert_eq!(read(&dir).assemble, Some(timing("b", 50.0)));

        std::fs::write(path(&dir), b"{ torn").unwrap();
        assert_eq!(read(&dir), Stages::default());
        record(&dir, Stage::Assemble, timing("c", 60.0)).unwrap();
        assert_eq!(read(&dir).assemble, Some(timing("c", 60.0)));
        assert_eq!(
            std::fs::read_dir(&root).unwrap().count(),
            1,
            "no temp file left"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
