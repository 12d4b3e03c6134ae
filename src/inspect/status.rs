//! Where a run stands: each task done, running, pending or failed, read from the planDir alone.

use crate::plandir::attempts;
use crate::plandir::claim;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::{Media, ProgressRecord, Sidecar};
use serde::Serialize;
use std::fmt::Write as _;

/// The state of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Published with a sidecar of this plan.
    Done,
    /// Its lock is held: a worker renders it now.
    Running,
    /// Waiting to be claimed.
    Pending,
    /// Out of attempts.
    Failed,
}

/// One task's status.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    /// `chunk` or `audio`.
    pub kind: &'static str,
    /// Chunk index; for audio, the output's number (absent for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// For a part of an audio output rendered in parts, the part's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// State.
    pub state: TaskState,
    /// Frames in the task (0 for audio).
    pub frames: u64,
    /// Failed attempts so far.
    pub failed_attempts: u32,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Renders the environment stopped (not attempts; the latest
    /// [`attempts::ENVIRONMENT_ERRORS_KEPT`] are kept).
    pub environment_errors: u32,
    /// The last of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_environment_error: Option<attempts::EnvironmentError>,
    /// The sidecar, when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<Sidecar>,
    /// How far it is and who renders it, when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressRecord>,
    /// The worker rendering it, `host:pid`, when running (from its progress record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Seconds since its render last made progress, when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_age_seconds: Option<f64>,
    /// Running, but without progress for longer than its holder's stall limit: the holder's
    /// watchdog would have killed a stalled render by then, so the worker itself is likely
    /// stopped or its host gone (its lock still held).
    pub stalled: bool,
}

/// The status of a whole planDir.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The plan.
    pub plan_hash: String,
    /// Chunks in the plan.
    pub chunks: usize,
    /// Tasks (chunks and audio).
    pub total: usize,
    /// Tasks done.
    pub done: usize,
    /// Tasks running.
    pub running: usize,
    /// Running tasks flagged as stalled (see [`TaskStatus::stalled`]).
    pub stalled: usize,
    /// Tasks pending.
    pub pending: usize,
    /// Tasks out of attempts.
    pub failed: usize,
    /// Environment errors recorded over all tasks (not attempts: a full disk, a missing input).
    pub environment_errors: usize,
    /// Frames in done chunks.
    pub frames_done: u64,
    /// Frames in the plan.
    pub frames_total: u64,
    /// Frames rendered per second since the first task started (done chunks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_per_second: Option<f64>,
    /// Seconds until every frame is done at that pace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<f64>,
    /// Every task.
    pub tasks: Vec<TaskStatus>,
}

impl TaskStatus {
    /// `chunk N`, `audio`, or `audio N` (the further audio outputs), with ` part K` for a
    /// part of an audio output rendered in parts.
    pub fn name(&self) -> String {
        let name = match self.index {
            Some(i) => format!("{} {i}", self.kind),
            None => self.kind.to_string(),
        };
        match self.part {
            Some(k) => format!("{name} part {k}"),
            None => name,
        }
    }
}

impl Status {
    /// Whether every task is done.
    pub fn complete(&self) -> bool {
        self.done == self.total
    }
}

/// Reads the status of every task of a planDir.
pub fn status(dir: &PlanDir) -> Result<Status, PlanDirError> {
    let loaded = dir.load()?;
    status_of(dir, &loaded)
}

/// Reads the status of every task of an already loaded plan.
pub fn status_of(dir: &PlanDir, loaded: &LoadedPlan) -> Result<Status, PlanDirError> {
    let mut tasks = Vec::new();
    for task in loaded.tasks() {
        let frames = loaded.chunk(task).map_or(0, |c| c.frames());
        let sidecar = dir
            .read_sidecar(task)
            .ok()
            .flatten()
            .filter(|s| s.plan_hash == loaded.plan.plan_hash);
        let record = attempts::read(dir, task);
        let state = if sidecar.is_some() {
            TaskState::Done
        } else if claim::is_claimed(dir, task).map_err(|source| PlanDirError::Read {
            path: dir.lock(task),
            source,
        })? {
            TaskState::Running
        } else if record.exhausted {
            TaskState::Failed
        } else {
            TaskState::Pending
        };
        let (kind, index, part) = task.kind_index_part();
        let progress = (state == TaskState::Running)
            .then(|| dir.read_progress(task))
            .flatten();
        let now = crate::sys::fsio::unix_now();
        tasks.push(TaskStatus {
            kind,
            index,
            part,
            state,
            frames,
            failed_attempts: record.failures.len() as u32,
            last_error: record.last_error().map(str::to_string),
            environment_errors: record.environment.len() as u32,
            last_environment_error: record.environment.last().cloned(),
            sidecar,
            holder: progress.as_ref().map(|p| format!("{}:{}", p.host, p.pid)),
            progress_age_seconds: progress.as_ref().map(|p| p.progress_age(now)),
            stalled: progress.as_ref().is_some_and(|p| p.stalled(now)),
            progress,
        });
    }
    let count = |s: TaskState| tasks.iter().filter(|t| t.state == s).count();
    let frames_done = tasks
        .iter()
        .filter(|t| t.state == TaskState::Done)
        .map(|t| t.frames)
        .sum();
    let frames_total = loaded.plan.output.total_frames();
    let first_start = tasks
        .iter()
        .filter_map(|t| t.sidecar.as_ref().map(|s| s.started_at))
        .fold(f64::INFINITY, f64::min);
    let elapsed = crate::sys::fsio::unix_now() - first_start;
    let frames_per_second =
        (frames_done > 0 && elapsed > 0.0).then(|| frames_done as f64 / elapsed);
    let eta_seconds = frames_per_second.map(|fps| (frames_total - frames_done) as f64 / fps);
    Ok(Status {
        plan_hash: loaded.plan.plan_hash.clone(),
        chunks: loaded.chunks.len(),
        total: tasks.len(),
        done: count(TaskState::Done),
        running: count(TaskState::Running),
        stalled: tasks.iter().filter(|t| t.stalled).count(),
        pending: count(TaskState::Pending),
        failed: count(TaskState::Failed),
        environment_errors: tasks.iter().map(|t| t.environment_errors as usize).sum(),
        frames_done,
        frames_total,
        frames_per_second,
        eta_seconds,
        tasks,
    })
}

/// The summary line: counts of tasks and frames, and environment errors apart from failures.
pub fn summary_line(status: &Status) -> String {
    let mut line = format!(
        "{} chunks{}: {} done, {} running{}, {} pending, {} failed; {}/{} frames done",
        status.chunks,
        if status.total > status.chunks {
            " + audio"
        } else {
            ""
        },
        status.done,
        status.running,
        if status.stalled > 0 {
            format!(" ({} stalled)", status.stalled)
        } else {
            String::new()
        },
        status.pending,
        status.failed,
        status.frames_done,
        status.frames_total
    );
    if status.environment_errors > 0 {
        let _ = write!(
            line,
            "; {} environment error(s), not attempts (last: {})",
            status.environment_errors,
            last_environment_error(status).unwrap_or_default()
        );
    }
    line
}

/// The most recent environment error of any task, as `cause on task`.
fn last_environment_error(status: &Status) -> Option<String> {
    status
        .tasks
        .iter()
        .filter_map(|t| Some((t, t.last_environment_error.as_ref()?)))
        .max_by(|a, b| a.1.at.total_cmp(&b.1.at))
        .map(|(t, e)| format!("{} on {}", e.cause, t.name()))
}

/// The live view of `vre status --watch`: overall progress and ETA, the running tasks with their
/// progress and owner, and the failed ones with their last error.
pub fn live_view(status: &Status) -> String {
    let mut out = summary_line(status);
    if let (Some(fps), Some(eta)) = (status.frames_per_second, status.eta_seconds) {
        let _ = write!(out, "; {fps:.1} frames/s, ETA {}", clock(eta));
    }
    out.push('\n');
    for task in &status.tasks {
        let name = task.name();
        match (task.state, &task.progress) {
            (TaskState::Running, Some(p)) => {
                let _ = writeln!(
                    out,
                    "  running  {name:<12} {:>6}/{:<6} frames {:>7.1} fps  {}",
                    p.frames_done,
                    p.frames,
                    p.fps,
                    running_note(task).unwrap_or_default()
                );
            }
            (TaskState::Running, None) => {
                let _ = writeln!(out, "  running  {name:<12} starting");
            }
            (TaskState::Failed, _) => {
                let _ = writeln!(
                    out,
                    "  failed   {name:<12} {}",
                    task.last_error.as_deref().unwrap_or("")
                );
            }
            (TaskState::Pending, _) => {
                if let Some(e) = &task.last_environment_error {
                    let _ = writeln!(out, "  env      {name:<12} {}: {}", e.cause, e.error);
                }
            }
            _ => {}
        }
    }
    out
}

/// Who renders a running task and how long ago it last made progress, flagged when that is
/// past its holder's stall limit: `host:pid, last progress 3 s ago`.
fn running_note(task: &TaskStatus) -> Option<String> {
    let progress = task.progress.as_ref()?;
    let age = task.progress_age_seconds.unwrap_or_default();
    let mut note = format!(
        "{}, last progress {age:.0} s ago",
        task.holder.as_deref().unwrap_or_default()
    );
    if task.stalled {
        let _ = write!(
            note,
            "; STALLED: over its worker's {} s limit (is the worker stopped, or its host gone? its lock is still held)",
            progress.stall_limit_seconds.unwrap_or_default()
        );
    }
    Some(note)
}

/// Seconds as `H:MM:SS`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A table of every task: state, frames, render time, speed, worker, last error.
pub fn task_table(status: &Status) -> String {
    let mut out = String::new();
    let width = status
        .tasks
        .iter()
        .map(|t| t.name().len())
        .max()
        .unwrap_or(0)
        .max(10);
    let _ = writeln!(
        out,
        "{:<width$} {:<8} {:>14} {:>8} {:>8}  worker / last error",
        "task", "state", "frames", "seconds", "fps"
    );
    for task in &status.tasks {
        let name = task.name();
        let state = format!("{:?}", task.state).to_lowercase();
        let (range, seconds, fps, who) = match &task.sidecar {
            Some(s) => {
                let range = match s.media {
                    Media::Chunk {
                        start_frame,
                        end_frame,
                        ..
                    } => format!("{start_frame}..{end_frame}"),
                    Media::Audio {
                        duration_seconds, ..
                    } => format!("{duration_seconds:.3} s"),
                };
                let fps = if task.frames > 0 {
                    format!("{:.1}", task.frames as f64 / s.encode_seconds.max(1e-9))
                } else {
                    "-".to_string()
                };
                (
                    range,
                    format!("{:.2}", s.encode_seconds),
                    fps,
                    format!("{}:{}", s.host, s.pid),
                )
            }
            None => (
                task.frames.to_string(),
                "-".to_string(),
                "-".to_string(),
                match (
                    running_note(task),
                    &task.last_error,
                    &task.last_environment_error,
                ) {
                    (Some(note), _, _) => note,
                    (None, Some(e), _) => e.clone(),
                    (None, None, Some(e)) => format!("environment ({}, not an attempt)", e.cause),
                    (None, None, None) => String::new(),
                },
            ),
        };
        let _ = writeln!(
            out,
            "{name:<width$} {state:<8} {range:>14} {seconds:>8} {fps:>8}  {who}"
        );
    }
    out
}
