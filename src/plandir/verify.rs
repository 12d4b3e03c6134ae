//! Checking published tasks against their sidecars: the sidecar belongs to this plan and this
//! task, and the output's size and blake3 match it (`vre assemble`, `vre verify`).

use crate::plandir::claim;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::{FileStamp, Media, Plan, Sidecar, TaskId};
use crate::sys::fsio;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a task's output cannot be trusted.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// No sidecar: not rendered (yet).
    NotDone,
    /// The sidecar does not parse.
    BadSidecar(String),
    /// The sidecar carries another plan's hash.
    ForeignPlan(String),
    /// The sidecar describes another task or another range.
    WrongMedia(String),
    /// The sidecar exists but the output file does not.
    OutputMissing,
    /// The output's size differs from the sidecar's.
    SizeMismatch {
        /// Bytes on disk.
        found: u64,
        /// Bytes in the sidecar.
        expected: u64,
    },
    /// The output's blake3 differs from the sidecar's.
    HashMismatch,
    /// The output could not be read.
    Unreadable(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotDone => write!(f, "not rendered yet (no sidecar)"),
            Problem::BadSidecar(why) => write!(f, "its sidecar is unreadable ({why})"),
            Problem::ForeignPlan(hash) => write!(f, "its sidecar belongs to another plan ({hash})"),
            Problem::WrongMedia(what) => write!(f, "its sidecar describes {what}"),
            Problem::OutputMissing => write!(f, "its output file is missing"),
            Problem::SizeMismatch { found, expected } => write!(
                f,
                "its output has {found} bytes, the sidecar says {expected}"
            ),
            Problem::HashMismatch => write!(f, "its output's blake3 does not match the sidecar"),
            Problem::Unreadable(why) => write!(f, "its output cannot be read ({why})"),
        }
    }
}

fn expected_media(loaded: &LoadedPlan, task: TaskId, media: &Media) -> Result<(), Problem> {
    match (task, media) {
        (
            TaskId::Chunk(_),
            Media::Chunk {
                index,
                start_frame,
                end_frame,
                frames,
            },
        ) => {
            let chunk = loaded.chunk(task).expect("task comes from this plan");
            if *index == chunk.index
                && *start_frame == chunk.start_frame
                && *end_frame == chunk.end_frame
                && *frames == chunk.frames()
            {
                Ok(())
            } else {
                Err(Problem::WrongMedia(format!(
                    "chunk {index}, frames [{start_frame}, {end_frame}) counted {frames}, but this chunk is [{}, {})",
                    chunk.start_frame, chunk.end_frame
                )))
            }
        }
        (TaskId::Audio(_) | TaskId::AudioPart(..), Media::Audio { samples, .. }) => {
            let output = loaded.plan.audio_output(task);
            let expected = output.map_or(0, |a| a.samples_of(task));
            if output.is_some_and(|a| a.holds(task, *samples)) {
                Ok(())
            } else {
                Err(Problem::WrongMedia(format!(
                    "{samples} audio samples, the plan needs {expected}"
                )))
            }
        }
        _ => Err(Problem::WrongMedia("another kind of task".to_string())),
    }
}

/// Checks everything about a published task, including its bytes; returns its sidecar.
pub fn check_task(dir: &PlanDir, loaded: &LoadedPlan, task: TaskId) -> Result<Sidecar, Problem> {
    let sidecar = match dir.read_sidecar(task) {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Problem::NotDone),
        Err(e) => return Err(Problem::BadSidecar(e.to_string())),
    };
    if sidecar.plan_hash != loaded.plan.plan_hash {
        return Err(Problem::ForeignPlan(sidecar.plan_hash));
    }
    expected_media(loaded, task, &sidecar.media)?;
    let output = dir.output(&loaded.plan, task);
    let (bytes, blake3) = match fsio::hash_file(&output) {
        Ok(digest) => digest,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Problem::OutputMissing),
        Err(e) => return Err(Problem::Unreadable(e.to_string())),
    };
    if bytes != sidecar.bytes {
        return Err(Problem::SizeMismatch {
            found: bytes,
            expected: sidecar.bytes,
        });
    }
    if blake3 != sidecar.blake3 {
        return Err(Problem::HashMismatch);
    }
    Ok(sidecar)
}

/// What `vre verify` found.
#[derive(Debug, Default)]
pub struct Report {
    /// Published tasks whose bytes match their sidecars.
    pub good: Vec<TaskId>,
    /// Tasks whose output cannot be trusted (withdrawn unless it was a dry run).
    pub bad: Vec<(TaskId, Problem)>,
    /// Tasks not published yet.
    pub not_done: Vec<TaskId>,
    /// Tasks skipped because a worker holds them right now.
    pub running: Vec<TaskId>,
}

/// Re-hashes every published task against its sidecar; withdraws (sidecar first, then output)
/// each one that cannot be trusted, unless `dry_run`, so that the next `vre work` renders just
/// those again. Each task is checked while holding its lock.
pub fn verify_plan(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    dry_run: bool,
) -> Result<Report, PlanDirError> {
    let mut report = Report::default();
    for task in loaded.tasks() {
        let Some(_lock) = claim::try_claim(dir, task).map_err(|source| PlanDirError::Write {
            path: dir.lock(task),
            source,
        })?
        else {
            report.running.push(task);
            continue;
        };
        match check_task(dir, loaded, task) {
            Ok(_) => report.good.push(task),
            Err(Problem::NotDone) => report.not_done.push(task),
            Err(problem) => {
                if !dry_run {
                    dir.withdraw(&loaded.plan, task)?;
                }
                report.bad.push((task, problem));
            }
        }
    }
    Ok(report)
}

/// How a file the plan reads compares with the plan's record of it (`vre verify --input`).
#[derive(Debug, Clone, PartialEq)]
pub enum InputState {
    /// The planned content (blake3) with the planned size, times and inode.
    Unchanged,
    /// The planned content, but its stamp differs (how, in words): after a `chmod`, a `touch`
    /// or a copy put back. Workers refuse it until the job is planned again.
    SameContent(String),
    /// Not the planned content.
    Changed {
        /// blake3 of the content now.
        found: String,
    },
    /// Not there.
    Missing,
    /// Cannot be read.
    Unreadable(String),
}

/// One input file checked.
#[derive(Debug, Clone, PartialEq)]
pub struct InputCheck {
    /// The file.
    pub path: PathBuf,
    /// The blake3 the plan records.
    pub planned: String,
    /// What it is now.
    pub state: InputState,
}

/// Re-hashes (blake3) the input and every audio track the plan mixes against the plan's records,
/// and compares their stamps: what `vre verify --input` reports. Reads every byte of them.
pub fn verify_inputs(plan: &Plan) -> Vec<InputCheck> {
    let outputs = plan.audio_outputs();
    let tracks = outputs.iter().flat_map(|(_, a)| &a.tracks);
    let files = std::iter::once((
        &plan.input.path,
        Some(&plan.input.stamp),
        &plan.input.blake3,
    ))
    .chain(
        tracks
            .filter(|t| !t.is_source)
            .map(|t| (&t.path, t.stamp.as_ref(), &t.blake3)),
    );
    files
        .map(|(path, stamp, planned)| InputCheck {
            path: path.clone(),
            planned: planned.clone(),
            state: input_state(path, stamp, planned),
        })
        .collect()
}

fn input_state(path: &std::path::Path, stamp: Option<&FileStamp>, planned: &str) -> InputState {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return InputState::Missing,
        Err(e) => return InputState::Unreadable(e.to_string()),
    };
    let found = match fsio::hash_file(path) {
        Ok((_, blake3)) => blake3,
        Err(e) => return InputState::Unreadable(e.to_string()),
    };
    if found != planned {
        return InputState::Changed { found };
    }
    match stamp.and_then(|s| s.changes(&FileStamp::of(&meta))) {
        Some(what) => InputState::SameContent(what),
        None => InputState::Unchanged,
    }
}
