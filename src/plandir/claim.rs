//! Claiming tasks with file locks. All locking in vre lives here.
//!
//! A task is claimed by an exclusive `flock` on its lock file (`fs2`). The kernel releases the
//! lock when the last descriptor of that open file closes, including when the process is
//! SIGKILLed, so there are no stale lock files to clean up. The render's ffmpeg inherits the
//! descriptor (see `process`), so the lock lives exactly as long as anything still writes.
//!
//! A claim also writes a small record into its lock file ([`ClaimRecord`]: the holder, a nonce
//! drawn for this claim, the temp file it renders to) and clears it when released. The next
//! claimant reads it to remove what a killed holder left, and to notice a holder that is still
//! alive although the lock was free: on filesystems whose locks do not exclude (FUSE mounts,
//! hosts with local locks) that is the only sign.
//!
//! fs2's methods are called with qualified syntax: since Rust 1.89 `std::fs::File` has inherent
//! `lock`/`try_lock` methods that would otherwise win over the trait's.

use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::schema::TaskId;
use crate::sys::host::{self, ProcessIdentity};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// The most of a lock file a reader looks at: a record is a few short lines.
const RECORD_MAX_BYTES: usize = 1024;

/// What a task's lock file says about the claim that wrote it: one `key=value` per line,
/// `holder=host:pid:start`, `nonce=<32 hex>`, `temp=<temp file name>`. The file is data: at most
/// 1 KiB is read, unknown or malformed lines are ignored, and a file of one bare line is a temp
/// name recorded by an older vre.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimRecord {
    /// The process that claimed the task.
    pub holder: Option<ProcessIdentity>,
    /// The nonce drawn for that claim.
    pub nonce: Option<String>,
    /// The name of the temp file it renders to (a plain name, beside the task's output).
    pub temp: Option<String>,
}

impl ClaimRecord {
    /// Parses a lock file's content (see [`ClaimRecord`]).
    pub fn parse(text: &str) -> ClaimRecord {
        let mut record = ClaimRecord::default();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if let [bare] = lines.as_slice() {
            if !bare.contains('=') {
                record.temp = Some(bare.to_string());
                return record;
            }
        }
        for line in lines {
            match line.split_once('=') {
                Some(("holder", value)) => record.holder = ProcessIdentity::parse(value),
                Some(("nonce", value))
                    if value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    record.nonce = Some(value.to_string());
                }
                Some(("temp", value)) if !value.is_empty() => record.temp = Some(value.to_string()),
                _ => {}
            }
        }
        record
    }

    /// The record as written into a lock file.
    fn render(&self) -> String {
        let mut text = String::new();
        if let Some(holder) = &self.holder {
            text.push_str(&format!("holder={holder}\n"));
        }
        if let Some(nonce) = &self.nonce {
            text.push_str(&format!("nonce={nonce}\n"));
        }
        if let Some(temp) = &self.temp {
            text.push_str(&format!("temp={temp}\n"));
        }
        text
    }
}

/// This process, as claim records name it (read once: it does not change).
fn this_process() -> &'static ProcessIdentity {
    static ME: OnceLock<ProcessIdentity> = OnceLock::new();
    ME.get_or_init(ProcessIdentity::current)
}

/// The nonces of the claims this process holds right now.
fn live_claims() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// An exclusive claim on one task; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct TaskLock {
    file: File,
    task: TaskId,
    /// Drawn for this claim: tells this claim's record from any other, of this process too.
    nonce: String,
    /// Whether this claim wrote its record (which it then clears on release).
    recorded: AtomicBool,
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

    /// The record in the lock file now: the previous holder's before [`TaskLock::record_temp`],
    /// this claim's after (unless a lock that did not exclude let another claimant write).
    pub fn record(&self) -> io::Result<ClaimRecord> {
        let mut buf = [0u8; RECORD_MAX_BYTES];
        let n = std::os::unix::fs::FileExt::read_at(&self.file, &mut buf, 0)?;
        Ok(ClaimRecord::parse(&String::from_utf8_lossy(&buf[..n])))
    }

    /// Records this claim in the lock file — this process, the claim's nonce and the name of
    /// the temp file it is about to write — so that the next holder can remove the temp if this
    /// one is killed, and can tell this holder alive.
    pub fn record_temp(&self, name: &str) -> io::Result<()> {
        let record = ClaimRecord {
            holder: Some(this_process().clone()),
            nonce: Some(self.nonce.clone()),
            temp: Some(name.to_string()),
        };
        let text = record.render();
        std::os::unix::fs::FileExt::write_all_at(&self.file, text.as_bytes(), 0)?;
        self.file.set_len(text.len() as u64)?;
        // Written through to the server, so that another host's claimant reads it.
        self.file.sync_data()?;
        self.recorded.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether `record` is this claim's (read back before publishing: another claimant that
    /// got the lock although this claim holds it has written its own).
    pub fn owns(&self, record: &ClaimRecord) -> bool {
        record.nonce.as_deref() == Some(self.nonce.as_str())
    }

    /// Whether `record` names a claim that is still held: by this process (a claim it has not
    /// released), or by another live process on this host. `None` when it names a process on
    /// another host, which this host cannot see.
    pub fn record_is_live(record: &ClaimRecord) -> Option<bool> {
        let Some(holder) = &record.holder else {
            return Some(false);
        };
        if holder == this_process() {
            return Some(
                record
                    .nonce
                    .as_ref()
                    .is_some_and(|n| live_claims().contains(n)),
            );
        }
        holder.is_alive()
    }

    /// The filesystem's "now", by touching the lock file (see [`crate::sys::fsio::touch_now`]).
    pub fn filesystem_now(&self) -> io::Result<SystemTime> {
        crate::sys::fsio::touch_now(&self.file)
    }
}

impl Drop for TaskLock {
    /// Clears this claim's record (if it wrote one and it is still there): a released task's
    /// lock file names no holder.
    fn drop(&mut self) {
        live_claims().remove(&self.nonce);
        if self.recorded.load(Ordering::SeqCst) && self.record().is_ok_and(|r| self.owns(&r)) {
            let _ = self.file.set_len(0);
        }
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
    Ok(lock.map(|FileLock { file }| {
        let nonce = host::nonce();
        live_claims().insert(nonce.clone());
        TaskLock {
            file,
            task,
            nonce,
            recorded: AtomicBool::new(false),
        }
    }))
}

/// The error a failed lock call on `path` stands for: [`PlanDirError::LocksUnsupported`] when
/// the filesystem refuses locks (not worth retrying), else a write error.
pub fn lock_error(dir: &PlanDir, path: std::path::PathBuf, source: io::Error) -> PlanDirError {
    if is_unsupported(&source) {
        PlanDirError::LocksUnsupported {
            dir: dir.root().to_path_buf(),
            fs: crate::sys::disk::filesystem_type(&dir.locks_dir()),
            source,
        }
    } else {
        PlanDirError::Write { path, source }
    }
}

/// Checks that locks exclude on the planDir's filesystem, as a worker does before it claims
/// anything: two open file descriptions of one fresh probe file in `locks/` (as two processes
/// would have) must not both hold its lock. The probe file is removed afterwards.
pub fn self_test(dir: &PlanDir) -> Result<(), PlanDirError> {
    let probe = crate::sys::fsio::temp_path_for(&dir.lock_probe());
    let result = self_test_on(dir, &probe);
    let _ = std::fs::remove_file(&probe);
    result
}

/// The error for locks that did not exclude on a planDir's filesystem, with what showed it.
pub fn not_excluding(dir: &PlanDir, what: impl Into<String>) -> PlanDirError {
    PlanDirError::LocksDoNotExclude {
        dir: dir.root().to_path_buf(),
        fs: crate::sys::disk::filesystem_type(&dir.locks_dir()),
        what: what.into(),
    }
}

fn self_test_on(dir: &PlanDir, probe: &Path) -> Result<(), PlanDirError> {
    let fail = |what: &str| not_excluding(dir, what);
    let take = || try_lock_file(probe).map_err(|e| lock_error(dir, probe.to_path_buf(), e));
    let Some(_first) = take()? else {
        return Err(fail("a fresh probe lock file was locked already"));
    };
    match take()? {
        None => Ok(()),
        Some(_) => Err(fail(
            "a second open of a probe lock file took the lock the first one held",
        )),
    }
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
    let file = open_lock_file(&path).map_err(|source| lock_error(dir, path.clone(), source))?;
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
        Err(source) => Err(lock_error(dir, path, source)),
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
    fn claim_records_parse_defensively_and_round_trip() {
        let record = ClaimRecord {
            holder: ProcessIdentity::parse("node-a:12:345"),
            nonce: Some("0123456789abcdef0123456789abcdef".to_string()),
            temp: Some(".chunk-000001.mp4.tmp-1-2-3".to_string()),
        };
        assert_eq!(ClaimRecord::parse(&record.render()), record);
        let legacy = ClaimRecord::parse(".chunk-000001.mp4.tmp-9-9-9\n");
        assert_eq!(legacy.temp.as_deref(), Some(".chunk-000001.mp4.tmp-9-9-9"));
        assert_eq!((legacy.holder, legacy.nonce), (None, None));
        let hostile = ClaimRecord::parse("holder=nonsense\nnonce=zz\nrm -rf /\n=\ntemp=\n\0\0");
        assert_eq!(hostile, ClaimRecord::default());
        assert_eq!(ClaimRecord::parse(""), ClaimRecord::default());
    }

    #[test]
    fn a_claim_records_its_holder_recognises_it_live_and_clears_it_when_released() {
        let root =
            std::env::temp_dir().join(format!("vre-record-{}", crate::sys::fsio::unique_suffix()));
        let dir = PlanDir::new(&root);
        dir.create_layout().unwrap();
        let task = TaskId::Chunk(0);
        let lock = try_claim(&dir, task).unwrap().unwrap();
        assert_eq!(lock.record().unwrap(), ClaimRecord::default());
        lock.record_temp(".chunk-000000.mp4.tmp-x").unwrap();
        let mine = lock.record().unwrap();
        assert!(lock.owns(&mine));
        assert_eq!(mine.holder.as_ref(), Some(this_process()));
        assert_eq!(TaskLock::record_is_live(&mine), Some(true), "held by us");
        let other_host = ClaimRecord {
            holder: Some(ProcessIdentity {
                host: format!("{}-elsewhere", host::host_name()),
                ..this_process().clone()
            }),
            ..mine.clone()
        };
        assert_eq!(TaskLock::record_is_live(&other_host), None);
        drop(lock);
        assert_eq!(
            TaskLock::record_is_live(&mine),
            Some(false),
            "a released claim of this process"
        );
        let again = try_claim(&dir, task).unwrap().unwrap();
        assert_eq!(again.record().unwrap(), ClaimRecord::default(), "cleared");
        assert!(!again.owns(&mine));
        drop(again);
        self_test(&dir).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.locks_dir()).unwrap().count(),
            1,
            "the probe file is removed: only the task's lock file remains"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn filesystems_refusing_locks_are_unavailable_not_io_errors() {
        use crate::exit::{Code, HasCode};
        let dir = PlanDir::new("/shared/job.vre");
        for errno in [libc::ENOLCK, libc::EOPNOTSUPP, libc::ENOSYS] {
            let e = lock_error(&dir, dir.plan_lock(), io::Error::from_raw_os_error(errno));
            assert!(matches!(e, PlanDirError::LocksUnsupported { .. }), "{e}");
            assert_eq!(e.code(), Code::Unavailable);
            assert!(e.to_string().contains("vre doctor /shared/job.vre"), "{e}");
        }
        let e = lock_error(
            &dir,
            dir.plan_lock(),
            io::Error::from_raw_os_error(libc::EIO),
        );
        // An I/O error is the environment's, as everywhere else: retried, not refused.
        assert_eq!(e.code(), Code::TempFail);
        let collision = not_excluding(&dir, "chunk 3 was claimed twice");
        assert_eq!(collision.code(), Code::Unavailable);
        assert!(collision.to_string().contains("do not exclude"));
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
