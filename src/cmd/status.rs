//! `vre status`: where a planDir stands, once or live.

use crate::exit::Code;
use crate::inspect::status::{self, Status};
use crate::plandir::layout::PlanDir;
use crate::plandir::schema::TaskId;
use crate::sys::fsio::parent_dir;
use crate::sys::watch::DirWatcher;
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// `vre status`: exits 0, or 80 (`chunks-failed`) when a task has run out of attempts.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The planDir.
    pub plan_dir: PathBuf,
    /// Print JSON.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Keep watching: refresh whenever the planDir changes, exit when the run is complete.
    #[arg(long)]
    pub watch: bool,
}

/// How often `--watch` refreshes when nothing in the planDir changes (running tasks' progress
/// records change about once a second anyway).
const REFRESH: Duration = Duration::from_secs(1);

/// Runs `vre status`.
pub fn run(args: &StatusArgs) -> anyhow::Result<Code> {
    let dir = PlanDir::new(&args.plan_dir);
    if args.watch {
        return watch(&dir);
    }
    let status = status::status(&dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        println!("{}", status::summary_line(&status));
        print!("{}", status::task_table(&status));
    }
    // A task that ran out of attempts will not finish by itself: say so to scripts too.
    Ok(match status.failed {
        0 => Code::Success,
        _ => Code::ChunksFailed,
    })
}

/// Redraws the live view whenever the planDir changes (notify), until every task is done (exit
/// 0) or nothing can progress because the remaining tasks ran out of attempts (exit 80). On a
/// terminal the view replaces itself; otherwise each changed view is printed below the last.
fn watch(dir: &PlanDir) -> anyhow::Result<Code> {
    let loaded = dir.load()?;
    let watched = [
        dir.output_dir(TaskId::Audio(0)),
        dir.output_dir(TaskId::Chunk(0)),
        parent_dir(&dir.progress(TaskId::Audio(0))).to_path_buf(),
        parent_dir(&dir.attempts(TaskId::Audio(0))).to_path_buf(),
    ];
    let _ = std::fs::create_dir_all(&watched[2]);
    let watcher = DirWatcher::new(watched.iter().map(|p| p.as_path()));
    let terminal = std::io::stdout().is_terminal();
    let mut shown = String::new();
    loop {
        let status = status::status_of(dir, &loaded)?;
        let view = status::live_view(&status);
        if view != shown {
            let mut out = std::io::stdout().lock();
            if terminal {
                // Home the cursor and clear the screen, then draw.
                write!(out, "\x1b[H\x1b[2J")?;
            }
            write!(out, "{view}")?;
            out.flush()?;
            shown = view;
        }
        if let Some(code) = finished(&status) {
            return Ok(code);
        }
        watcher.wait(REFRESH);
    }
}

/// Whether watching can stop: every task done, or nothing left that can still finish.
fn finished(status: &Status) -> Option<Code> {
    if status.complete() {
        Some(Code::Success)
    } else if status.pending == 0 && status.running == 0 && status.failed > 0 {
        Some(Code::ChunksFailed)
    } else {
        None
    }
}
