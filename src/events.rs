//! What workers report while they run: human lines on stderr, or one JSON object per line on
//! stdout for machines (`--json`).

use crate::plandir::TaskId;
use serde::Serialize;
use std::io::Write;

/// A task as events name it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskRef {
    /// `chunk` or `audio`.
    pub kind: &'static str,
    /// The chunk index (absent for audio).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

impl From<TaskId> for TaskRef {
    fn from(task: TaskId) -> Self {
        match task {
            TaskId::Audio => TaskRef {
                kind: "audio",
                index: None,
            },
            TaskId::Chunk(i) => TaskRef {
                kind: "chunk",
                index: Some(i),
            },
        }
    }
}

/// Something a worker did.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The worker started on a plan.
    Started {
        /// The plan.
        plan_hash: String,
        /// Tasks in the plan.
        tasks: usize,
        /// Tasks already done.
        done: usize,
        /// Worker threads in this process.
        threads: usize,
    },
    /// A task was claimed.
    Claimed {
        /// The task.
        task: TaskRef,
        /// Frames (chunks) to render.
        frames: u64,
    },
    /// A running task advanced.
    Progress {
        /// The task.
        task: TaskRef,
        /// Frames done.
        frames_done: u64,
        /// Frames in the task.
        frames: u64,
    },
    /// A task was published with its sidecar.
    Published {
        /// The task.
        task: TaskRef,
        /// Frames (chunks) rendered.
        frames: u64,
        /// Seconds it took.
        seconds: f64,
        /// Bytes written.
        bytes: u64,
    },
    /// A render failed.
    Failed {
        /// The task.
        task: TaskRef,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// Whether the task is now out of attempts.
        exhausted: bool,
        /// What went wrong.
        error: String,
    },
    /// Nothing to claim: every remaining task is held by another worker.
    Idle {
        /// Tasks held elsewhere.
        waiting_for: usize,
    },
    /// The worker stopped.
    Finished {
        /// Tasks this process rendered.
        rendered: usize,
        /// Tasks out of attempts.
        failed: usize,
        /// Whether it stopped because of a signal.
        interrupted: bool,
    },
}

/// Receives worker events.
pub trait Observer: Sync {
    /// Called for each event, from any worker thread.
    fn on(&self, event: &Event);
}

/// Prints events as short human lines on stderr; progress is left out.
pub struct HumanLog {
    /// Print only failures.
    pub quiet: bool,
}

fn task_text(task: &TaskRef) -> String {
    match task.index {
        Some(i) => format!("{} {i}", task.kind),
        None => task.kind.to_string(),
    }
}

impl Observer for HumanLog {
    fn on(&self, event: &Event) {
        let line = match event {
            Event::Failed {
                task,
                attempt,
                exhausted,
                error,
            } => Some(format!(
                "vre: {} failed (attempt {attempt}{}): {error}",
                task_text(task),
                if *exhausted { ", no attempts left" } else { "" }
            )),
            _ if self.quiet => None,
            Event::Started {
                tasks,
                done,
                threads,
                ..
            } => Some(format!(
                "vre: working: {done}/{tasks} tasks done, {threads} worker thread(s) in pid {}",
                std::process::id()
            )),
            Event::Published {
                task,
                frames,
                seconds,
                ..
            } => Some(if *frames > 0 {
                format!(
                    "vre: {} done: {frames} frames in {seconds:.2} s ({:.1} fps)",
                    task_text(task),
                    *frames as f64 / seconds.max(1e-9)
                )
            } else {
                format!("vre: {} done in {seconds:.2} s", task_text(task))
            }),
            Event::Idle { waiting_for } => Some(format!(
                "vre: waiting for {waiting_for} task(s) held by other workers"
            )),
            Event::Finished {
                rendered,
                failed,
                interrupted,
            } => Some(format!(
                "vre: worker finished: rendered {rendered}, failed {failed}{}",
                if *interrupted { ", interrupted" } else { "" }
            )),
            Event::Claimed { .. } | Event::Progress { .. } => None,
        };
        if let Some(line) = line {
            eprintln!("{line}");
        }
    }
}

/// Prints every event as one JSON object per line on stdout.
pub struct JsonLines;

impl Observer for JsonLines {
    fn on(&self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
