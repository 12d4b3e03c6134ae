//! Errors about a planDir and the files in it, with their exit codes.

use crate::exit::{Code, HasCode};
use crate::plandir::schema::{TaskId, FORMAT_VERSION};
use std::io;
use std::path::PathBuf;

/// Errors about a planDir and the files in it.
#[derive(Debug, thiserror::Error)]
pub enum PlanDirError {
    /// No plan.json.
    #[error("{} is not a planDir (it has no plan.json); create one with `vre plan INPUT -o {}`", .dir.display(), .dir.display())]
    NotAPlanDir {
        /// The directory.
        dir: PathBuf,
    },
    /// A folder of the layout is a symbolic link or not a directory.
    #[error("{} is {what}: vre acts on a planDir only through its own folders, never through a link (link the planDir itself instead); replace it with a real directory", .path.display())]
    UnsafeLayout {
        /// The folder.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// A directory chosen as a new planDir holds files that are not vre's.
    #[error("{} is not a planDir: {why}; choose a new or empty directory", .dir.display())]
    Foreign {
        /// The directory.
        dir: PathBuf,
        /// What is in the way (naming a few of the files that are not vre's).
        why: String,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}{}", .path.display(), environment_advice(.source).unwrap_or_default())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file does not parse or violates the protocol.
    #[error("{} is damaged: {reason}; re-create the plan with `vre plan ... --force`", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The plan was written by another planDir format.
    #[error("{} uses planDir format {found}, but this vre reads format {FORMAT_VERSION}; use the vre that planned it, or plan again with `vre plan ... --force`", .path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// plan.json or chunks.json changed after planning.
    #[error("the plan in {} was edited after it was written (plan.json says {recorded}, its content hashes to {actual}); plan again with `vre plan ... --force`", .dir.display())]
    Tampered {
        /// The planDir.
        dir: PathBuf,
        /// The hash recorded in plan.json.
        recorded: String,
        /// The hash of what is there now.
        actual: String,
    },
    /// The planned input is gone.
    #[error("input {} is missing; restore it, or plan again with the new path (`vre plan NEW_PATH -o PLANDIR --force`)", .path.display())]
    InputMissing {
        /// The input path.
        path: PathBuf,
    },
    /// The planned input (or an audio track) changed.
    #[error("input {} changed since it was planned ({what}); nothing made from it since then is published. If its content is still the planned one (after a chmod, or a copy put back: `vre verify PLANDIR --input` tells), `vre plan ... --force` re-plans and keeps every finished chunk; otherwise it re-plans for the new content", .path.display())]
    InputChanged {
        /// The input path.
        path: PathBuf,
        /// What differs.
        what: String,
    },
    /// A file a filter chain reads is gone.
    #[error("{}, which {flag}'s {filter} filter reads ({option}), is missing; restore it, or plan again with `vre plan ... --force`", .path.display())]
    FilterFileMissing {
        /// The file.
        path: PathBuf,
        /// The chain's flag (`--vf`, `--af`).
        flag: &'static str,
        /// The filter that reads it.
        filter: String,
        /// The option that names it.
        option: String,
    },
    /// A file a filter chain reads changed since it was planned.
    #[error("{}, which {flag}'s {filter} filter reads ({option}), changed since it was planned ({what}); plan again with `vre plan ... --force` (only the tasks whose files changed in content are rendered again)", .path.display())]
    FilterFileChanged {
        /// The file.
        path: PathBuf,
        /// The chain's flag (`--vf`, `--af`).
        flag: &'static str,
        /// The filter that reads it.
        filter: String,
        /// The option that names it.
        option: String,
        /// What differs.
        what: String,
    },
    /// The planDir holds a different plan.
    #[error("{} already holds a different plan ({existing}, new plan {new}); pass --force to replace it (finished pieces the new plan can use are kept), or choose another planDir", .dir.display())]
    DifferentPlan {
        /// The planDir.
        dir: PathBuf,
        /// Hash of the plan there.
        existing: String,
        /// Hash of the new plan.
        new: String,
    },
    /// A lock is held by a running worker.
    #[error("{} is in use: {what}; stop its workers first, or wait for them to finish", .dir.display())]
    Busy {
        /// The planDir.
        dir: PathBuf,
        /// What holds it.
        what: String,
    },
    /// The planDir's filesystem refuses file locks.
    #[error("the filesystem holding {} ({fs}) does not support file locks ({source}); vre coordinates workers with them alone: see `vre doctor {}`, and put the planDir on a filesystem (or mount) whose locks work", .dir.display(), .dir.display())]
    LocksUnsupported {
        /// The planDir.
        dir: PathBuf,
        /// The kind of filesystem.
        fs: String,
        /// The lock call's error.
        source: io::Error,
    },
    /// Locks on the planDir's filesystem did not exclude: a self-test failed, or a task's lock
    /// was taken while another live worker held it.
    #[error("locks on the filesystem holding {} ({fs}) do not exclude between these workers: {what}; this worker stopped claiming and published nothing it was not sure of: see `vre doctor {}` (another mount of the planDir, such as a FUSE mount, or hosts whose locks stay local)", .dir.display(), .dir.display())]
    LocksDoNotExclude {
        /// The planDir.
        dir: PathBuf,
        /// The kind of filesystem.
        fs: String,
        /// What showed it.
        what: String,
    },
    /// The planDir no longer holds the plan a worker loaded: it was removed (and perhaps
    /// planned again at the same path).
    #[error("the plan in {} was replaced or removed while this worker ran ({what}); the worker stopped without publishing into it: run `vre work {}` again to work on the plan there now", .dir.display(), .dir.display())]
    PlanReplaced {
        /// The planDir.
        dir: PathBuf,
        /// What is there now.
        what: String,
    },
    /// A task's lock was free, but its previous holder, on another host, was writing moments
    /// ago: it either died just now or holds a lock that did not exclude this host.
    #[error("{task}: its lock was free, but its previous holder {holder} (another host) wrote to it {seconds:.0} s ago; it is left alone until it has been silent for {quiet} s: if that worker is still running, locks do not exclude across these hosts (see `vre doctor`)", quiet = .quiet_seconds)]
    HolderActive {
        /// The task.
        task: TaskId,
        /// The previous holder, `host:pid:start`.
        holder: String,
        /// Seconds since its last write, by the filesystem's clock.
        seconds: f64,
        /// Seconds of silence after which a holder on another host counts as gone.
        quiet_seconds: u64,
    },
}

impl PlanDirError {
    /// Whether nothing a worker renders from now on could be published: its plan was replaced or
    /// an input changed. Such a worker abandons its running renders and stops.
    pub fn invalidates_work(&self) -> bool {
        matches!(
            self,
            PlanDirError::PlanReplaced { .. } | PlanDirError::InputChanged { .. }
        )
    }
}

impl HasCode for PlanDirError {
    fn code(&self) -> Code {
        match self {
            PlanDirError::NotAPlanDir { .. }
            | PlanDirError::InputMissing { .. }
            | PlanDirError::FilterFileMissing { .. } => Code::NoInput,
            PlanDirError::Read { .. } => Code::IoErr,
            PlanDirError::Write { source, .. } if environment_advice(source).is_some() => {
                Code::TempFail
            }
            PlanDirError::Write { source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied
                | io::ErrorKind::NotFound
                | io::ErrorKind::ReadOnlyFilesystem
                | io::ErrorKind::NotADirectory => Code::CantCreate,
                _ => Code::IoErr,
            },
            PlanDirError::Malformed { .. }
            | PlanDirError::Version { .. }
            | PlanDirError::Tampered { .. }
            | PlanDirError::InputChanged { .. }
            | PlanDirError::FilterFileChanged { .. }
            | PlanDirError::UnsafeLayout { .. } => Code::DataErr,
            PlanDirError::DifferentPlan { .. } | PlanDirError::Foreign { .. } => Code::CantCreate,
            PlanDirError::Busy { .. }
            | PlanDirError::PlanReplaced { .. }
            | PlanDirError::HolderActive { .. } => Code::TempFail,
            PlanDirError::LocksUnsupported { .. } | PlanDirError::LocksDoNotExclude { .. } => {
                Code::Unavailable
            }
        }
    }
}

/// What to do when a write fails because of the environment rather than of anything asked for
/// (a full disk or quota, an I/O error): such a failure is a temporary one (exit 75), as in
/// `vre work`. `None` for any other failure.
fn environment_advice(source: &io::Error) -> Option<&'static str> {
    match source.raw_os_error()? {
        libc::ENOSPC | libc::EDQUOT => Some(
            "; free space on that filesystem (or enlarge it), then run the same command again (exit 75 asks a scheduler to retry)",
        ),
        libc::EIO => Some(
            "; check the device or network share (`dmesg`), then run the same command again (exit 75 asks a scheduler to retry)",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_the_environment_stopped_is_a_temporary_failure_with_advice() {
        let write = |errno| PlanDirError::Write {
            path: "job.vre/plan.json".into(),
            source: io::Error::from_raw_os_error(errno),
        };
        for errno in [libc::ENOSPC, libc::EDQUOT, libc::EIO] {
            let err = write(errno);
            assert_eq!(err.code(), Code::TempFail, "{err}");
            assert!(
                err.to_string().contains("run the same command again"),
                "{err}"
            );
        }
        assert_eq!(write(libc::EROFS).code(), Code::CantCreate);
        assert_eq!(write(libc::EINVAL).code(), Code::IoErr);
        assert!(!write(libc::EINVAL).to_string().contains("again"));
    }
}
