//! What the report shows, read from a planDir: the published tasks as bars on lanes, the work
//! stage they make up, and the recorded plan and assemble stages.

use crate::inspect::status::{self, Status};
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::Sidecar;
use crate::plandir::stages::{self, Stage, StageTiming, Stages};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// More distinct worker processes than this are drawn one lane per host (with as many rows as
/// the host ran tasks at once) instead of one lane per process.
const MAX_LANES: usize = 32;

/// Everything the report of one planDir shows.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The planDir, as given.
    pub root: PathBuf,
    /// The plan.
    pub loaded: LoadedPlan,
    /// Where every task stands.
    pub status: Status,
    /// `stages.json` (its records count only for this plan).
    pub recorded: Stages,
    /// The published tasks on their lanes, and the work stage they make up.
    pub timeline: Timeline,
}

/// The timeline: every published task as a bar on a lane.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Every published task, each with its lane and row.
    pub bars: Vec<Bar>,
    /// The lanes.
    pub lanes: Vec<Lane>,
    /// What a lane stands for.
    pub grouping: Grouping,
    /// The work stage, once a task is published.
    pub work: Option<Work>,
}

impl RunReport {
    /// Reads the report of `dir`.
    pub fn read(dir: &PlanDir) -> Result<RunReport, PlanDirError> {
        let loaded = dir.load()?;
        let status = status::status_of(dir, &loaded)?;
        let mut bars: Vec<Bar> = status
            .tasks
            .iter()
            .filter_map(|t| {
                let sidecar = t.sidecar.clone()?;
                Some(Bar {
                    index: t.index.filter(|_| t.kind == "chunk"),
                    frames: t.frames,
                    sidecar,
                    lane: 0,
                    row: 0,
                })
            })
            .collect();
        let (lanes, grouping) = assign_lanes(&mut bars);
        let work = work_stage(&bars);
        Ok(RunReport {
            root: dir.root().to_path_buf(),
            recorded: stages::read(dir),
            loaded,
            status,
            timeline: Timeline {
                bars,
                lanes,
                grouping,
                work,
            },
        })
    }

    /// The planDir's name: its last path component.
    pub fn name(&self) -> String {
        self.root.file_name().map_or_else(
            || self.root.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// A stage's timing, if recorded for this plan.
    fn stage(&self, stage: Stage) -> Option<&StageTiming> {
        self.recorded.get(stage, &self.loaded.plan.plan_hash)
    }

    /// The rows of the stage table: plan, work, assemble.
    pub fn stage_rows(&self) -> [StageRow; 3] {
        let recorded = |name, t: Option<&StageTiming>, missing| match t {
            Some(t) => StageRow {
                name,
                started_at: Some(t.started_at),
                seconds: Some(t.seconds),
                who: format!("{}:{}", t.host, t.pid),
                note: "",
            },
            None => StageRow {
                name,
                started_at: None,
                seconds: None,
                who: String::new(),
                note: missing,
            },
        };
        let work_row = match self.timeline.work {
            Some(w) => StageRow {
                name: "work",
                started_at: Some(w.started_at),
                seconds: Some(w.seconds()),
                who: format!(
                    "{} lane(s), peak {} task(s) at once",
                    self.timeline.lanes.len(),
                    w.peak
                ),
                note: if self.status.complete() {
                    ""
                } else {
                    "in progress: first task start to last task end so far"
                },
            },
            None => recorded("work", None, "no task published yet"),
        };
        [
            recorded("plan", self.stage(Stage::Plan), "not recorded"),
            work_row,
            recorded("assemble", self.stage(Stage::Assemble), "not assembled yet"),
        ]
    }
}

/// One published task on the timeline.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Chunk index; `None` for the audio.
    pub index: Option<u32>,
    /// Frames (0 for the audio).
    pub frames: u64,
    /// Who rendered it, when.
    pub sidecar: Sidecar,
    /// Its lane.
    pub lane: usize,
    /// Its row in the lane.
    pub row: usize,
}

impl Bar {
    /// Start and end, seconds since the Unix epoch (an end before the start counts as the start).
    pub fn span(&self) -> (f64, f64) {
        let s = &self.sidecar;
        (s.started_at, s.finished_at.max(s.started_at))
    }
}

/// A timeline lane: one worker process, or one host when there are too many processes.
#[derive(Debug, Clone, Serialize)]
pub struct Lane {
    /// `host:pid`, the host, or `all workers`.
    pub label: String,
    /// Rows: the most tasks it ran at once.
    pub rows: usize,
    /// Tasks it ran.
    pub tasks: usize,
    /// Frames it rendered.
    pub frames: u64,
    /// Seconds its tasks took, summed.
    pub busy: f64,
}

/// The work stage, read from the sidecars.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    /// The first task's start, seconds since the Unix epoch.
    pub started_at: f64,
    /// The last task's end.
    pub finished_at: f64,
    /// `encode_seconds` of every task, summed.
    pub task_seconds: f64,
    /// The most tasks running at once.
    pub peak: usize,
}

impl Work {
    /// Wall seconds from the first start to the last end.
    pub fn seconds(&self) -> f64 {
        (self.finished_at - self.started_at).max(0.0)
    }

    /// Summed task seconds ÷ wall seconds.
    pub fn speedup(&self) -> f64 {
        self.task_seconds / self.seconds().max(1e-9)
    }
}

/// One row of the stage table.
#[derive(Debug, Clone)]
pub struct StageRow {
    /// `plan`, `work` or `assemble`.
    pub name: &'static str,
    /// When it started, if known.
    pub started_at: Option<f64>,
    /// How long it took, if known.
    pub seconds: Option<f64>,
    /// Who ran it.
    pub who: String,
    /// Why a figure is missing or provisional.
    pub note: &'static str,
}

/// What a timeline lane stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One worker process (`host:pid`).
    Process,
    /// One host, when there are too many processes for a lane each.
    Host,
    /// Every worker, when there are too many hosts for a lane each.
    All,
}

impl Grouping {
    /// The lane a task rendered by `s` belongs to.
    fn key(self, s: &Sidecar) -> String {
        match self {
            Grouping::Process => format!("{}:{}", s.host, s.pid),
            Grouping::Host => s.host.clone(),
            Grouping::All => "all workers".to_string(),
        }
    }

    /// What the lanes are, for the timeline's title.
    pub fn caption(self) -> &'static str {
        match self {
            Grouping::Process => "per worker process (host:pid)",
            Grouping::Host => "per host (too many worker processes for a lane each)",
            Grouping::All => "of all workers (too many hosts for a lane each)",
        }
    }
}

/// Groups bars into lanes (per process, or per host when there are too many processes) ordered
/// by their first task, and gives each bar a row in its lane so that overlapping tasks (a
/// process with `-j 2`, or a host's many processes) never cover each other.
fn assign_lanes(bars: &mut [Bar]) -> (Vec<Lane>, Grouping) {
    let distinct = |grouping: Grouping| {
        let mut keys: Vec<String> = bars.iter().map(|b| grouping.key(&b.sidecar)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    };
    let grouping = [Grouping::Process, Grouping::Host]
        .into_iter()
        .find(|&g| distinct(g) <= MAX_LANES)
        .unwrap_or(Grouping::All);

    let mut order: Vec<usize> = (0..bars.len()).collect();
    order.sort_by(|&a, &b| {
        bars[a]
            .sidecar
            .started_at
            .total_cmp(&bars[b].sidecar.started_at)
    });
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    let mut lanes: Vec<Lane> = Vec::new();
    // The end of the last bar in each row of each lane.
    let mut row_ends: Vec<Vec<f64>> = Vec::new();
    for i in order {
        let bar = &mut bars[i];
        let label = grouping.key(&bar.sidecar);
        let lane = *lane_of.entry(label.clone()).or_insert_with(|| {
            lanes.push(Lane {
                label,
                rows: 0,
                tasks: 0,
                frames: 0,
                busy: 0.0,
            });
            row_ends.push(Vec::new());
            lanes.len() - 1
        });
        let (start, end) = bar.span();
        let ends = &mut row_ends[lane];
        let row = match ends.iter().position(|&e| e <= start) {
            Some(r) => r,
            None => {
                ends.push(f64::NEG_INFINITY);
                ends.len() - 1
            }
        };
        ends[row] = end;
        bar.lane = lane;
        bar.row = row;
        let l = &mut lanes[lane];
        l.rows = ends.len();
        l.tasks += 1;
        l.frames += bar.frames;
        l.busy += end - start;
    }
    (lanes, grouping)
}

/// The work stage the bars make up: first start, last end, summed task time, peak concurrency.
fn work_stage(bars: &[Bar]) -> Option<Work> {
    if bars.is_empty() {
        return None;
    }
    let started_at = bars
        .iter()
        .map(|b| b.sidecar.started_at)
        .fold(f64::INFINITY, f64::min);
    let finished_at = bars
        .iter()
        .map(|b| b.sidecar.finished_at)
        .fold(f64::NEG_INFINITY, f64::max);
    let task_seconds = bars.iter().map(|b| b.sidecar.encode_seconds).sum();
    // Peak concurrency: sweep the starts and ends (an end before a start at the same instant).
    let mut events: Vec<(f64, i32)> = bars
        .iter()
        .flat_map(|b| [(b.sidecar.started_at, 1), (b.sidecar.finished_at, -1)])
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        peak = peak.max(now);
    }
    Some(Work {
        started_at,
        finished_at,
        task_seconds,
        peak: peak as usize,
    })
}
