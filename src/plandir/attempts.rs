//! Failed attempts per task, kept in the planDir across processes and restarts.
//!
//! Only failures of the chunk count: a render killed by a signal or by the death of its worker
//! is not an attempt, and neither is one stopped by its environment (a full disk, a missing
//! input, …; see [`crate::work::environment`]), which is recorded apart, for `vre status` and the
//! report. Records are written only by the holder of the task's lock.

use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::schema::TaskId;
use crate::sys::fsio;
use crate::sys::host;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;

/// What in the environment made a render fail. The serialized names are stable (they appear in
/// `attempts/*.json` and `vre status --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvCause {
    /// No space left on the device, or the disk quota is exceeded (ENOSPC, EDQUOT).
    DiskFull,
    /// The filesystem is mounted read-only (EROFS).
    ReadOnly,
    /// The planDir is not writable for this user (EACCES, EPERM).
    NotWritable,
    /// The process or the system ran out of file descriptors (EMFILE, ENFILE).
    TooManyOpenFiles,
    /// The device reported an I/O error (EIO).
    IoError,
    /// The input is missing or not its planned size (e.g. a network share that went away).
    InputMissing,
    /// The planDir, or a directory inside it, is missing.
    PlanDirMissing,
    /// Memory ran out (ENOMEM), or ffmpeg was killed with SIGKILL (the OOM killer's signal).
    OutOfMemory,
}

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedAttempt {
    /// Attempt number, from 1.
    pub attempt: u32,
    /// What went wrong, in one line.
    pub error: String,
    /// The attempt's log file, relative to the planDir.
    pub log: String,
    /// When it failed, seconds since the Unix epoch.
    pub at: f64,
    /// Host of the worker.
    pub host: String,
    /// Process id of the worker.
    pub pid: u32,
}

/// A render stopped by its environment: recorded, never counted as an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentError {
    /// What failed (`disk-full`, `input-missing`, …).
    pub cause: EnvCause,
    /// The whole message, as the worker printed it.
    pub error: String,
    /// When, seconds since the Unix epoch.
    pub at: f64,
    /// Host of the worker.
    pub host: String,
    /// Process id of the worker.
    pub pid: u32,
}

/// How many environment errors a task's record keeps (the latest ones): a scheduler that
/// retries a worker on a full disk for hours must not grow the record without bound.
pub const ENVIRONMENT_ERRORS_KEPT: usize = 20;

/// `attempts/<task>.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Every failed attempt, oldest first (attempt numbers never repeat, so logs are never
    /// overwritten).
    pub failures: Vec<FailedAttempt>,
    /// How many of `failures` came before the last `--retry-failed`; only the ones after it
    /// count against `--max-attempts`.
    pub forgiven: usize,
    /// Whether the task ran out of attempts (workers skip it until `--retry-failed`).
    pub exhausted: bool,
    /// Renders stopped by the environment, oldest first (the last
    /// [`ENVIRONMENT_ERRORS_KEPT`]); they are not attempts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<EnvironmentError>,
}

impl AttemptRecord {
    /// The last failure's message.
    pub fn last_error(&self) -> Option<&str> {
        self.failures.last().map(|f| f.error.as_str())
    }
}

/// Reads a task's record; an absent or unreadable record counts as no failures.
pub fn read(dir: &PlanDir, task: TaskId) -> AttemptRecord {
    fs::read(dir.attempts(task))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Records a failed attempt and its log; marks the task exhausted once `max_attempts` failures
/// are recorded. The caller must hold the task's lock.
pub fn record_failure(
    dir: &PlanDir,
    task: TaskId,
    error: &str,
    log_text: &str,
    max_attempts: u32,
) -> Result<AttemptRecord, PlanDirError> {
    let mut record = read(dir, task);
    let attempt = record.failures.len() as u32 + 1;
    let log_path = dir.attempt_log(task, attempt);
    fsio::write_atomic_locked(&log_path, log_text.as_bytes()).map_err(|source| {
        PlanDirError::Write {
            path: log_path.clone(),
            source,
        }
    })?;
    record.failures.push(FailedAttempt {
        attempt,
        error: error.to_string(),
        log: dir.relative(&log_path),
        at: fsio::unix_now(),
        host: host::host_name(),
        pid: std::process::id(),
    });
    record.exhausted = record.failures.len() - record.forgiven >= max_attempts as usize;
    let path = dir.attempts(task);
    fsio::write_json_atomic_locked(&path, &record)
        .map_err(|source| PlanDirError::Write { path, source })?;
    Ok(record)
}

/// Records a render stopped by its environment (not an attempt). The caller must hold the
/// task's lock.
pub fn record_environment(
    dir: &PlanDir,
    task: TaskId,
    cause: EnvCause,
    message: String,
) -> io::Result<()> {
    let mut record = read(dir, task);
    record.environment.push(EnvironmentError {
        cause,
        error: message,
        at: fsio::unix_now(),
        host: host::host_name(),
        pid: std::process::id(),
    });
    let excess = record
        .environment
        .len()
        .saturating_sub(ENVIRONMENT_ERRORS_KEPT);
    record.environment.drain(..excess);
    fsio::write_json_atomic_locked(&dir.attempts(task), &record)
}

/// Gives a task a fresh set of attempts, keeping its history and logs. The caller must hold its
/// lock.
pub fn grant_fresh_attempts(dir: &PlanDir, task: TaskId) -> io::Result<()> {
    let mut record = read(dir, task);
    record.forgiven = record.failures.len();
    record.exhausted = false;
    fsio::write_json_atomic_locked(&dir.attempts(task), &record)
}
