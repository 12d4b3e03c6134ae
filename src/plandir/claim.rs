//! Claiming tasks with file locks. All locking in vre lives here.
//!
//! A task is claimed by an exclusive `flock` on its lock file (`fs2`). The kernel releases the
//! lock when the last descriptor of that open file closes, including when the process is
//! SIGKILLed, so there are no stale lock files to clean up. The render's ffmpeg inherits the
//! descriptor (see `process`), so the lock lives exactly as long as anything still writes.
//!
//! fs2's methods are called with qualified syntax: since Rust 1.89 `std::fs::File` has inherent
//! `lock`/`try_lock` methods that would otherwise win over the trait's.

use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::schema::TaskId;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// An exclusive claim on one task; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct TaskLock {
    file: File,
    task: TaskId,
}

impl TaskLock {
    /// The task claimed.
    pub fn task(&self) -> TaskId {
        self.task
    }

    /// The lock's descriptor, for a child process to inherit.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// The temp file name the previous holder recorded (see [`TaskLock::record_temp`]).
    pub fn recorded_temp(&self) -> io::Result<Option<String>> {
        let mut buf = [0u8; 512];
        let n = std::os::unix::fs::FileExt::read_at(&self.file, &mut buf, 0)?;
        let name = String::from_utf8_lossy(&buf[..n]).trim().to_string();
        Ok((!name.is_empty()).then_some(name))
    }

    /// Records in the lock file the name of the temp file this holder is about to write, so
    /// that the next holder can remove it if this one is killed, without listing directories.
    pub fn record_temp(&self, name: &str) -> io::Result<()> {
        self.file.set_len(0)?;
        std::os::unix::fs::FileExt::write_all_at(&self.file, name.as_bytes(), 0)
    }
}

/// A lock on the plan itself: workers hold it shared, a re-plan holds it exclusively.
#[derive(Debug)]
pub struct PlanLock {
    _file: File,
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn is_contended(err: &io::Error) -> bool {
    err.raw_os_error() == fs2::lock_contended_error().raw_os_error()
        || err.kind() == io::ErrorKind::WouldBlock
}

/// Tries to claim a task without waiting: `Ok(None)` when another process or thread holds it.
pub fn try_claim(dir: &PlanDir, task: TaskId) -> io::Result<Option<TaskLock>> {
    let lock = try_lock_file(&dir.lock(task))?;
    Ok(lock.map(|FileLock { file }| TaskLock { file, task }))
}

/// Whether someone holds a task's lock right now (a running render). Takes and drops a shared
/// lock for an instant; a task whose lock file does not exist was never claimed.
pub fn is_claimed(dir: &PlanDir, task: TaskId) -> io::Result<bool> {
    let file = match File::open(dir.lock(task)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match fs2::FileExt::try_lock_shared(&file) {
        Ok(()) => Ok(false),
        Err(e) if is_contended(&e) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Takes the plan lock shared, as every worker does for as long as it runs. Fails with
/// [`PlanDirError::Busy`] while a re-plan holds it.
pub fn lock_plan_shared(dir: &PlanDir) -> Result<PlanLock, PlanDirError> {
    lock_plan(dir, false)
}

/// Takes the plan lock exclusively, as a re-plan with `--force` does. Fails with
/// [`PlanDirError::Busy`] while any worker runs.
pub fn lock_plan_exclusive(dir: &PlanDir) -> Result<PlanLock, PlanDirError> {
    lock_plan(dir, true)
}

fn lock_plan(dir: &PlanDir, exclusive: bool) -> Result<PlanLock, PlanDirError> {
    let path = dir.plan_lock();
    let file = open_lock_file(&path).map_err(|source| PlanDirError::Write {
        path: path.clone(),
        source,
    })?;
    let result = if exclusive {
        fs2::FileExt::try_lock_exclusive(&file)
    } else {
        fs2::FileExt::try_lock_shared(&file)
    };
    match result {
        Ok(()) => Ok(PlanLock { _file: file }),
        Err(e) if is_contended(&e) => Err(PlanDirError::Busy {
            dir: dir.root().to_path_buf(),
            what: if exclusive {
                "a `vre work` process is running on it".to_string()
            } else {
                "`vre plan --force` is rewriting its plan".to_string()
            },
        }),
        Err(source) => Err(PlanDirError::Write { path, source }),
    }
}

/// An exclusive lock on an arbitrary file (used by `vre doctor` to test a filesystem's locks);
/// released when dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// The locked file, open for reading and writing.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Tries to lock `path` exclusively without waiting (creating the file if needed), exactly as
/// tasks are claimed: `Ok(None)` when another open file description holds it.
pub fn try_lock_file(path: &Path) -> io::Result<Option<FileLock>> {
    let file = open_lock_file(path)?;
    match fs2::FileExt::try_lock_exclusive(&file) {
        Ok(()) => Ok(Some(FileLock { file })),
        Err(e) if is_contended(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a lock call failed because the filesystem does not support locks at all (`ENOLCK`,
/// `EOPNOTSUPP`, `ENOSYS`), rather than because of contention or an ordinary I/O error.
pub fn is_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_lock_excludes_other_descriptions_and_unsupported_errors_are_recognised() {
        let root =
            std::env::temp_dir().join(format!("vre-flock-{}", crate::sys::fsio::unique_suffix()));
        std::fs::create_dir_all(&root).unwrap();
        let path = root.join("probe.lock");
        let held = try_lock_file(&path).unwrap().expect("a new file is free");
        assert!(try_lock_file(&path).unwrap().is_none());
        drop(held);
        assert!(try_lock_file(&path).unwrap().is_some());
        assert!(is_unsupported(&io::Error::from_raw_os_error(libc::ENOLCK)));
        assert!(is_unsupported(&io::Error::from_raw_os_error(
            libc::EOPNOTSUPP
        )));
        assert!(!is_unsupported(&io::Error::from_raw_os_error(libc::EIO)));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_claim_excludes_others_until_dropped() {
        let root =
            std::env::temp_dir().join(format!("vre-claim-{}", crate::sys::fsio::unique_suffix()));
        let dir = PlanDir::new(&root);
        dir.create_layout().unwrap();
        let task = TaskId::Chunk(3);
        assert!(!is_claimed(&dir, task).unwrap());
        let held = try_claim(&dir, task)
            .unwrap()
            .expect("free task is claimed");
        assert!(try_claim(&dir, task).unwrap().is_none());
        assert!(is_claimed(&dir, task).unwrap());
        drop(held);
        assert!(try_claim(&dir, task).unwrap().is_some());

        let worker = lock_plan_shared(&dir).unwrap();
        let _other_worker = lock_plan_shared(&dir).unwrap();
        assert!(matches!(
            lock_plan_exclusive(&dir),
            Err(PlanDirError::Busy { .. })
        ));
        drop(worker);
        drop(_other_worker);
        let _replan = lock_plan_exclusive(&dir).unwrap();
        assert!(matches!(
            lock_plan_shared(&dir),
            Err(PlanDirError::Busy { .. })
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
