//! What workers report while they run: human lines on stderr, or one JSON object per line on
//! stdout for machines (`--json`).

use crate::plandir::schema::TaskId;
use crate::sys::log::{self, Level};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A task as events name it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskRef {
    /// `chunk` or `audio`.
    pub kind: &'static str,
    /// The chunk index; for audio, the output's number (absent for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// For a part of an audio output rendered in parts, the part's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
}

impl From<TaskId> for TaskRef {
    fn from(task: TaskId) -> Self {
        let (kind, index, part) = task.kind_index_part();
        TaskRef { kind, index, part }
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
        /// Frames in the plan.
        frames_total: u64,
        /// Frames in chunks already done.
        frames_done: u64,
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
        /// Encoding speed, frames per second.
        fps: f64,
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
    /// The environment stopped a render (full disk, missing input, …): not an attempt; the
    /// worker stops claiming and exits 75.
    Environment {
        /// The task.
        task: TaskRef,
        /// What failed.
        cause: crate::plandir::attempts::EnvCause,
        /// The message: what, where, what to do.
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

/// Prints events as log lines on stderr (`-q` keeps only failures); progress is left out.
pub struct HumanLog;

fn task_text(task: &TaskRef) -> String {
    match task.index {
        Some(i) => format!("{} {i}", task.kind),
        None => task.kind.to_string(),
    }
}

/// A log line: level, message, structured fields.
type LogLine = (Level, String, Vec<(&'static str, String)>);

/// The log line an event stands for, if any.
fn log_line(event: &Event) -> Option<LogLine> {
    let pid = || ("pid", std::process::id().to_string());
    Some(match event {
        Event::Started {
            tasks,
            done,
            threads,
            ..
        } => (
            Level::Info,
            "working".to_string(),
            vec![
                ("done", format!("{done}/{tasks}")),
                ("threads", threads.to_string()),
                pid(),
            ],
        ),
        Event::Claimed { task, frames } => (
            Level::Debug,
            format!("{} claimed", task_text(task)),
            vec![("frames", frames.to_string()), pid()],
        ),
        Event::Published {
            task,
            frames,
            seconds,
            bytes,
        } => published_line(task, *frames, *seconds, *bytes),
        Event::Failed {
            task,
            attempt,
            exhausted,
            error,
        } => (
            Level::Error,
            format!("{} failed: {error}", task_text(task)),
            vec![
                ("attempt", attempt.to_string()),
                ("attempts_left", (!exhausted).to_string()),
            ],
        ),
        Event::Environment { cause, error, .. } => (
            Level::Error,
            format!("stopped: {error}"),
            vec![("cause", cause.to_string())],
        ),
        Event::Idle { waiting_for } => (
            Level::Info,
            "waiting for tasks held by other workers".to_string(),
            vec![("held", waiting_for.to_string())],
        ),
        Event::Finished {
            rendered,
            failed,
            interrupted,
        } => finished_line(*rendered, *failed, *interrupted),
        Event::Progress { .. } => return None,
    })
}

/// The line for a published task: time and size, and throughput when it has frames.
fn published_line(task: &TaskRef, frames: u64, seconds: f64, bytes: u64) -> LogLine {
    let mut fields = vec![
        ("seconds", format!("{seconds:.2}")),
        ("bytes", bytes.to_string()),
    ];
    if frames > 0 {
        fields.push(("frames", frames.to_string()));
        fields.push(("fps", format!("{:.1}", frames as f64 / seconds.max(1e-9))));
    }
    (Level::Info, format!("{} done", task_text(task)), fields)
}

/// The worker's last line: a warning when it stopped on a signal.
fn finished_line(rendered: usize, failed: usize, interrupted: bool) -> LogLine {
    let (level, message) = if interrupted {
        (Level::Warn, "worker interrupted")
    } else {
        (Level::Info, "worker finished")
    };
    (
        level,
        message.to_string(),
        vec![
            ("rendered", rendered.to_string()),
            ("failed", failed.to_string()),
        ],
    )
}

impl Observer for HumanLog {
    fn on(&self, event: &Event) {
        if let Some((level, message, fields)) = log_line(event) {
            log::log(level, &message, &fields);
        }
    }
}

/// Progress bars on a terminal: one per running chunk (frames, fps) and an overall one with
/// frames done, throughput and ETA. Log lines are printed above the bars.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<(&'static str, Option<u32>), ProgressBar>>,
}

impl Bars {
    /// Bars drawn on stderr.
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{wide_bar}] {pos}/{len} frames  {per_sec}  ETA {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        overall.set_prefix("total");
        Bars {
            multi,
            overall,
            running: Mutex::new(HashMap::new()),
        }
    }

    fn chunk_style() -> ProgressStyle {
        ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {msg}")
            .expect("the template is valid")
            .progress_chars("=> ")
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Observer for Bars {
    fn on(&self, event: &Event) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Started {
                frames_total,
                frames_done,
                ..
            } => {
                self.overall.set_length(*frames_total);
                self.overall.set_position(*frames_done);
                self.overall.reset_eta();
            }
            Event::Claimed { task, frames } => {
                let bar = self.multi.add(ProgressBar::new((*frames).max(1)));
                bar.set_style(Bars::chunk_style());
                bar.set_prefix(task_text(task));
                running.insert((task.kind, task.index), bar);
            }
            Event::Progress {
                task,
                frames_done,
                fps,
                ..
            } => {
                if let Some(bar) = running.get(&(task.kind, task.index)) {
                    bar.set_position(*frames_done);
                    bar.set_message(format!("{fps:.1} fps"));
                }
            }
            _ => {}
        }
        let finished = match event {
            Event::Published { task, frames, .. } => {
                self.overall.inc(*frames);
                Some(task)
            }
            Event::Failed { task, .. } | Event::Environment { task, .. } => Some(task),
            _ => None,
        };
        if let Some(task) = finished {
            if let Some(bar) = running.remove(&(task.kind, task.index)) {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
        }
        if matches!(event, Event::Finished { .. }) {
            self.overall.finish_and_clear();
        }
        if let Some((level, message, fields)) = log_line(event) {
            if log::enabled(level) && !matches!(event, Event::Started { .. }) {
                let _ = self
                    .multi
                    .println(log::format_line(level, &message, &fields));
            }
        }
    }
}

/// The observer a verb uses: JSON lines about `plan_dir` with `--json`; bars on a terminal
/// (unless `-q`); log lines otherwise.
pub fn observer_for(json: bool, plan_dir: &Path) -> Box<dyn Observer> {
    use std::io::IsTerminal;
    if json {
        Box::new(JsonLines {
            plan_dir: plan_dir.to_path_buf(),
        })
    } else if std::io::stderr().is_terminal() && log::enabled(Level::Info) {
        Box::new(Bars::new())
    } else {
        Box::new(HumanLog)
    }
}

/// Prints every event as one JSON object per line on stdout, with when (RFC 3339, UTC), where
/// (host, pid) and for which planDir it happened.
pub struct JsonLines {
    /// The planDir the events are about.
    pub plan_dir: PathBuf,
}

/// An event with its time, host, process and planDir.
#[derive(Serialize)]
struct Stamped<'a> {
    time: String,
    host: String,
    pid: u32,
    plan_dir: &'a Path,
    #[serde(flatten)]
    event: &'a Event,
}

impl Observer for JsonLines {
    fn on(&self, event: &Event) {
        let stamped = Stamped {
            time: log::rfc3339(std::time::SystemTime::now()),
            host: crate::sys::host::host_name(),
            pid: std::process::id(),
            plan_dir: &self.plan_dir,
            event,
        };
        if let Ok(line) = serde_json::to_string(&stamped) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
