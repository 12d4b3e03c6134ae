//! `vre doctor`: does the filesystem of a planDir give vre what it needs?
//!
//! vre's only coordination between workers is an exclusive `flock` per task. On a local
//! filesystem that always works; on a shared one it works only if the filesystem makes locks
//! exclude across hosts, and some mounts silently keep them local (NFS `local_lock=all`,
//! `nolock`, Lustre `localflock`). The doctor:
//!
//! - finds the mount holding the directory (`/proc/self/mountinfo`): filesystem type, source,
//!   options, and warns about mount options that keep locks local to one host;
//! - reports the free space;
//! - checks with two processes that a lock really excludes: this process locks a scratch file,
//!   a second process (vre itself, re-executed with the hidden `--probe-lock FILE`) must fail to
//!   take it, and must take it once it is released; a lock call the filesystem does not support
//!   (`ENOLCK`, `EOPNOTSUPP`, `ENOSYS`) is reported as such;
//! - checks across hosts when asked: `vre doctor DIR --hold S` on one host holds a well-known
//!   probe lock (`locks/doctor.lock`) and writes who holds it into it; `vre doctor DIR` on another
//!   host meanwhile must find it held. Taking it while the record says another host holds it
//!   proves that locks do not exclude across hosts.
//!
//! All locking goes through [`crate::plandir::claim`].

use crate::exit::{Code, HasCode};
use crate::plandir::claim;
use crate::plandir::layout::PlanDir;
use crate::sys::fsio;
use crate::sys::host;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the filesystem's device.
    pub device: (u64, u64),
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Filesystem type (`ext4`, `nfs4`, `lustre`, `fuse.sshfs`, ...).
    pub fs_type: String,
    /// What is mounted (a device, `server:/export`, ...).
    pub source: String,
    /// Per-mount options (`rw`, `relatime`, ...).
    pub options: Vec<String>,
    /// The filesystem's own (super block) options: where NFS shows `local_lock=`.
    pub super_options: Vec<String>,
}

impl Mount {
    /// The value of option `name=value`, or `Some("")` for a bare flag `name`.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .chain(&self.super_options)
            .find_map(|o| match o.split_once('=') {
                Some((k, v)) if k == name => Some(v),
                None if o == name => Some(""),
                _ => None,
            })
    }

    /// Whether this is a filesystem that other hosts may mount too.
    pub fn is_network(&self) -> bool {
        const NETWORK: [&str; 14] = [
            "nfs",
            "nfs4",
            "ceph",
            "lustre",
            "gpfs",
            "cifs",
            "smb3",
            "glusterfs",
            "beegfs",
            "9p",
            "afs",
            "ocfs2",
            "gfs2",
            "pvfs2",
        ];
        NETWORK.contains(&self.fs_type.as_str()) || self.fs_type.starts_with("fuse")
    }
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(value) = field
                .get(i + 1..i + 4)
                .and_then(|digits| u8::from_str_radix(digits, 8).ok())
            {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo` (proc(5)); lines that do not parse are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            if left.len() < 6 || right.len() < 3 {
                return None;
            }
            let (major, minor) = left[2].split_once(':')?;
            Some(Mount {
                device: (major.parse().ok()?, minor.parse().ok()?),
                mount_point: PathBuf::from(unescape(left[4])),
                fs_type: unescape(right[0]),
                source: unescape(right[1]),
                options: left[5].split(',').map(str::to_string).collect(),
                super_options: right[2].split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// The mount holding `path` (an absolute, canonical path whose filesystem has device `device`):
/// the deepest mount point above it, preferring mounts of that device; the last one listed
/// wins a tie (it is mounted over the others).
pub fn mount_containing(
    mounts: &[Mount],
    path: &Path,
    device: Option<(u64, u64)>,
) -> Option<Mount> {
    let depth = |m: &Mount| m.mount_point.components().count();
    let above: Vec<&Mount> = mounts
        .iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .collect();
    let same_device: Vec<&Mount> = above
        .iter()
        .copied()
        .filter(|m| Some(m.device) == device)
        .collect();
    let pool = if same_device.is_empty() {
        above
    } else {
        same_device
    };
    pool.into_iter().rev().max_by_key(|m| depth(m)).cloned()
}

/// What a mount's options mean for vre's locks: warnings for options that keep locks local to
/// one host, or make them fail.
pub fn lock_warnings(mount: &Mount) -> Vec<String> {
    let mut warnings = Vec::new();
    let local = "locks exclude only processes on this host: workers on other hosts cannot see \
                 them and may render the same chunk at once (wasted work, never a corrupt output)";
    match mount.fs_type.as_str() {
        "nfs" | "nfs4" => {
            if let Some(mode @ ("all" | "flock")) = mount.option("local_lock") {
                warnings.push(format!(
                    "NFS mount {} has local_lock={mode}: {local}; remount with local_lock=none \
                     (the default) to run workers on several hosts",
                    mount.mount_point.display()
                ));
            } else if mount.option("nolock").is_some() {
                warnings.push(format!(
                    "NFS mount {} has nolock: {local}; remount without it (and run lockd/statd \
                     for NFSv3) to run workers on several hosts",
                    mount.mount_point.display()
                ));
            }
        }
        "lustre" => {
            if mount.option("localflock").is_some() {
                warnings.push(format!(
                    "Lustre mount {} has localflock: {local}; mount with -o flock to run \
                     workers on several hosts",
                    mount.mount_point.display()
                ));
            } else if mount.option("flock").is_none() {
                warnings.push(format!(
                    "Lustre mount {} lacks the flock option: lock calls fail there; mount it \
                     with -o flock",
                    mount.mount_point.display()
                ));
            }
        }
        "cifs" | "smb3" if mount.option("nobrl").is_some() => {
            warnings.push(format!(
                "SMB mount {} has nobrl: {local}",
                mount.mount_point.display()
            ));
        }
        t if t.starts_with("fuse") => {
            warnings.push(format!(
                "{} is a FUSE filesystem ({t}): many (sshfs among them) keep locks local to \
                 one host; check with `vre doctor DIR --hold 60` here and `vre doctor DIR` on \
                 another host before running workers on several hosts",
                mount.mount_point.display()
            ));
        }
        _ => {}
    }
    warnings
}

/// Who holds the cross-host probe lock, as written into it by `vre doctor --hold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// Until when it holds the lock, seconds since the Unix epoch.
    pub until: f64,
}

/// What the second process found when it tried the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// It took the lock (and released it).
    Took,
    /// Another process holds it.
    Held,
    /// The filesystem does not support the lock call.
    Unsupported,
}

impl Probe {
    /// The exit code the probe process reports this with.
    pub fn code(self) -> Code {
        match self {
            Probe::Took => Code::Success,
            Probe::Held => Code::TempFail,
            Probe::Unsupported => Code::Unavailable,
        }
    }
}

/// The probe process's side: try to lock `file` once, without waiting.
pub fn probe(file: &Path) -> io::Result<Probe> {
    match claim::try_lock_file(file) {
        Ok(Some(_lock)) => Ok(Probe::Took),
        Ok(None) => Ok(Probe::Held),
        Err(e) if claim::is_unsupported(&e) => Ok(Probe::Unsupported),
        Err(e) => Err(e),
    }
}

/// Runs the probe in a second process: `exe doctor --probe-lock FILE`.
fn probe_in_child(exe: &Path, file: &Path) -> Result<Probe, String> {
    let out = Command::new(exe)
        .args(["doctor", "--probe-lock", "--"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot start a second process ({}): {e}", exe.display()))?;
    match out.status.code() {
        Some(c) if c == Code::Success.number() => Ok(Probe::Took),
        Some(c) if c == Code::TempFail.number() => Ok(Probe::Held),
        Some(c) if c == Code::Unavailable.number() => Ok(Probe::Unsupported),
        _ => Err(format!(
            "the second process failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The outcome of the two-process lock check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockCheck {
    /// A held lock excluded the second process, which took it once released.
    Works,
    /// The filesystem refuses lock calls.
    Unsupported(String),
    /// Locks did not behave: what happened.
    Broken(String),
}

/// What `vre doctor --hold` on another host told us, seen from here.
#[derive(Debug, Clone, PartialEq)]
pub enum AcrossHosts {
    /// Nobody holds the probe lock: nothing to compare with.
    NoHolder,
    /// The probe lock is held, as the record in it says, by this holder (possibly on this host).
    HeldBy(Option<Holder>),
    /// This process took the probe lock although its record says another process holds it.
    NotExcluded(Holder),
}

/// Everything the doctor found.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The directory checked.
    pub dir: PathBuf,
    /// Whether it holds a plan (plan.json).
    pub is_plan_dir: bool,
    /// Its mount, when /proc/self/mountinfo names one.
    pub mount: Option<Mount>,
    /// Bytes free for vre there.
    pub free: Option<u64>,
    /// Mount options that keep locks local or make them fail.
    pub warnings: Vec<String>,
    /// The two-process check.
    pub locks: LockCheck,
    /// The cross-host check against a `--hold` elsewhere.
    pub across_hosts: AcrossHosts,
}

impl Diagnosis {
    /// Why vre's locks do not work here (warnings aside); `None` when they do.
    pub fn lock_failure(&self) -> Option<String> {
        match (&self.locks, &self.across_hosts) {
            (LockCheck::Unsupported(why), _) => Some(format!(
                "this filesystem does not support the locks vre claims chunks with ({why})"
            )),
            (LockCheck::Broken(why), _) => {
                Some(format!("locks on this filesystem do not exclude: {why}"))
            }
            (LockCheck::Works, AcrossHosts::NotExcluded(h)) => Some(format!(
                "locks on this filesystem do not exclude across hosts: this host took the probe \
                 lock that `vre doctor --hold` on {} (pid {}) holds (if that process was killed, \
                 run again after its hold time)",
                h.host, h.pid
            )),
            (LockCheck::Works, _) => None,
        }
    }

    /// The findings as lines for a terminal.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "directory:    {} ({})",
            self.dir.display(),
            if self.is_plan_dir {
                "a planDir"
            } else {
                "not a planDir: checking the filesystem that would hold one"
            }
        )];
        lines.push(match &self.mount {
            Some(m) => format!(
                "filesystem:   {} ({}) mounted at {}, options {} ({})",
                m.fs_type,
                m.source,
                m.mount_point.display(),
                m.options.join(","),
                m.super_options.join(",")
            ),
            None => "filesystem:   unknown (no /proc/self/mountinfo entry)".to_string(),
        });
        lines.push(match self.free {
            Some(bytes) => format!("free space:   {}", crate::sys::disk::human(bytes)),
            None => "free space:   unknown".to_string(),
        });
        lines.push(match &self.locks {
            LockCheck::Works => "locks:        ok: a second process could not take a lock this \
                                 process held, and took it once released"
                .to_string(),
            LockCheck::Unsupported(why) => format!("locks:        NOT SUPPORTED: {why}"),
            LockCheck::Broken(why) => format!("locks:        BROKEN: {why}"),
        });
        let network = self.mount.as_ref().is_some_and(Mount::is_network);
        lines.push(match &self.across_hosts {
            AcrossHosts::NoHolder if network => format!(
                "across hosts: not checked: run `vre doctor {0} --hold 60` on one host and \
                 `vre doctor {0}` on another meanwhile",
                self.dir.display()
            ),
            AcrossHosts::NoHolder => {
                "across hosts: not checked (a local filesystem: only this host uses it)".to_string()
            }
            AcrossHosts::HeldBy(Some(h)) if h.host == host::host_name() => format!(
                "across hosts: the probe lock is held by `vre doctor --hold` in pid {} on this \
                 host: run `vre doctor` on another host to check across hosts",
                h.pid
            ),
            AcrossHosts::HeldBy(Some(h)) => format!(
                "across hosts: ok: the probe lock held by `vre doctor --hold` on {} (pid {}) \
                 excluded this host",
                h.host, h.pid
            ),
            AcrossHosts::HeldBy(None) => "across hosts: the probe lock is held by a process \
                                          that did not say who it is"
                .to_string(),
            AcrossHosts::NotExcluded(h) => format!(
                "across hosts: BROKEN: took the probe lock although `vre doctor --hold` on {} \
                 (pid {}) holds it: locks do not exclude across hosts",
                h.host, h.pid
            ),
        });
        lines
    }
}

/// Why the doctor could not check.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// The directory does not exist or is not a directory.
    #[error("{} is not a directory; give a planDir, or the directory that will hold one", .0.display())]
    NoDir(PathBuf),
    /// A scratch lock file could not be created there.
    #[error("cannot create a lock file in {}: {source}", .dir.display())]
    Create {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Something else failed.
    #[error("{0}")]
    Other(String),
    /// `--hold` found the probe lock held by another process.
    #[error(
        "the probe lock {} is already held{}; try again when it is released",
        .path.display(),
        .holder.as_ref().map_or(String::new(), |h| format!(
            " by `vre doctor --hold` on {} (pid {})",
            h.host, h.pid
        ))
    )]
    Held {
        /// The probe lock.
        path: PathBuf,
        /// Who holds it, as its record says.
        holder: Option<Holder>,
    },
    /// `--hold` could not take or write the probe lock.
    #[error("cannot hold the probe lock {}: {source}", .path.display())]
    Hold {
        /// The probe lock.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl HasCode for DoctorError {
    fn code(&self) -> Code {
        match self {
            DoctorError::NoDir(_) => Code::NoInput,
            DoctorError::Create { source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    Code::CantCreate
                }
                _ => Code::IoErr,
            },
            DoctorError::Other(_) | DoctorError::Hold { .. } => Code::IoErr,
            DoctorError::Held { .. } => Code::TempFail,
        }
    }
}

/// Where the doctor puts its lock files: `locks/` of a planDir, else the directory itself.
fn lock_dir(dir: &Path, is_plan_dir: bool) -> PathBuf {
    if is_plan_dir {
        PlanDir::new(dir).locks_dir()
    } else {
        dir.to_path_buf()
    }
}

/// The well-known probe lock `--hold` takes and other hosts try.
pub fn hold_lock_path(dir: &Path) -> PathBuf {
    let is_plan_dir = PlanDir::new(dir).has_plan();
    let name = if is_plan_dir {
        "doctor.lock"
    } else {
        ".vre-doctor.lock"
    };
    lock_dir(dir, is_plan_dir).join(name)
}

fn read_holder(file: &std::fs::File) -> Option<Holder> {
    let mut text = String::new();
    let mut reader = file;
    reader.rewind().ok()?;
    reader.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

fn holder_alive(holder: &Holder) -> bool {
    if holder.until <= fsio::unix_now() {
        return false;
    }
    if holder.host != host::host_name() {
        return true;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(holder.pid as libc::pid_t, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Checks the two-process lock behaviour on a scratch file in `lock_dir`.
fn check_locks(exe: &Path, lock_dir: &Path) -> Result<LockCheck, DoctorError> {
    let scratch = lock_dir.join(format!("doctor-{}.lock", fsio::unique_suffix()));
    let result = check_locks_on(exe, &scratch);
    let _ = std::fs::remove_file(&scratch);
    result
}

fn check_locks_on(exe: &Path, scratch: &Path) -> Result<LockCheck, DoctorError> {
    let held = match claim::try_lock_file(scratch) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Ok(LockCheck::Broken(format!(
                "a fresh lock file {} was already locked",
                scratch.display()
            )))
        }
        Err(e) if claim::is_unsupported(&e) => {
            return Ok(LockCheck::Unsupported(format!(
                "flock on {} fails: {e}",
                scratch.display()
            )))
        }
        Err(source) => {
            return Err(DoctorError::Create {
                dir: fsio::parent_dir(scratch).to_path_buf(),
                source,
            })
        }
    };
    match probe_in_child(exe, scratch).map_err(DoctorError::Other)? {
        Probe::Held => {}
        Probe::Took => {
            return Ok(LockCheck::Broken(
                "a second process took a lock this process held".to_string(),
            ))
        }
        Probe::Unsupported => {
            return Ok(LockCheck::Unsupported(
                "the second process's flock call fails".to_string(),
            ))
        }
    }
    drop(held);
    match probe_in_child(exe, scratch).map_err(DoctorError::Other)? {
        Probe::Took => Ok(LockCheck::Works),
        Probe::Held => Ok(LockCheck::Broken(
            "a released lock still excluded a second process".to_string(),
        )),
        Probe::Unsupported => Ok(LockCheck::Unsupported(
            "the second process's flock call fails".to_string(),
        )),
    }
}

/// Tries the well-known probe lock once: held (by whom), free, or taken against its record.
fn check_across_hosts(dir: &Path) -> AcrossHosts {
    let path = hold_lock_path(dir);
    if !path.exists() {
        return AcrossHosts::NoHolder;
    }
    match claim::try_lock_file(&path) {
        Ok(None) => AcrossHosts::HeldBy(
            std::fs::File::open(&path)
                .ok()
                .and_then(|f| read_holder(&f)),
        ),
        Ok(Some(lock)) => match read_holder(lock.file()) {
            Some(holder) if holder_alive(&holder) => AcrossHosts::NotExcluded(holder),
            _ => AcrossHosts::NoHolder,
        },
        Err(_) => AcrossHosts::NoHolder,
    }
}

/// Runs every check on `dir`; `exe` is the vre binary the second process runs.
pub fn check(dir: &Path, exe: &Path) -> Result<Diagnosis, DoctorError> {
    if !dir.is_dir() {
        return Err(DoctorError::NoDir(dir.to_path_buf()));
    }
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let is_plan_dir = PlanDir::new(dir).has_plan();
    let mount = mount_of(&canonical);
    let warnings = mount.as_ref().map(lock_warnings).unwrap_or_default();
    let locks_in = lock_dir(dir, is_plan_dir);
    std::fs::create_dir_all(&locks_in).map_err(|source| DoctorError::Create {
        dir: locks_in.clone(),
        source,
    })?;
    let locks = check_locks(exe, &locks_in)?;
    let across_hosts = if locks == LockCheck::Works {
        check_across_hosts(dir)
    } else {
        AcrossHosts::NoHolder
    };
    Ok(Diagnosis {
        dir: dir.to_path_buf(),
        is_plan_dir,
        mount,
        free: fs2::available_space(dir).ok(),
        warnings,
        locks,
        across_hosts,
    })
}

/// The mount holding `path`, from `/proc/self/mountinfo`.
pub fn mount_of(path: &Path) -> Option<Mount> {
    use std::os::unix::fs::MetadataExt;
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let device = std::fs::metadata(path).ok().map(|m| {
        let dev = m.dev();
        (u64::from(libc::major(dev)), u64::from(libc::minor(dev)))
    });
    let path: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    mount_containing(&parse_mountinfo(&text), &path, device)
}

/// How a `--hold` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldEnd {
    /// The time ran out.
    Elapsed,
    /// SIGINT or SIGTERM arrived.
    Interrupted,
}

/// Holds the well-known probe lock of `dir` for `seconds`, with a record of who holds it until
/// when; calls `on_held` once it is held. Fails with [`DoctorError::Held`] when another process
/// holds it.
pub fn hold(dir: &Path, seconds: f64, on_held: impl FnOnce(&Path)) -> Result<HoldEnd, DoctorError> {
    crate::ffmpeg::runner::install_signal_handlers();
    let path = hold_lock_path(dir);
    let io_err = |source: io::Error| DoctorError::Hold {
        path: path.clone(),
        source,
    };
    let lock = match claim::try_lock_file(&path).map_err(io_err)? {
        Some(lock) => lock,
        None => {
            let holder = std::fs::File::open(&path)
                .ok()
                .and_then(|f| read_holder(&f));
            return Err(DoctorError::Held {
                path: path.clone(),
                holder,
            });
        }
    };
    let record = Holder {
        host: host::host_name(),
        pid: std::process::id(),
        until: fsio::unix_now() + seconds,
    };
    let write = |text: &[u8]| -> io::Result<()> {
        let mut file = lock.file();
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(text)?;
        file.sync_all()
    };
    let json = serde_json::to_vec(&record).expect("a holder record serializes");
    write(&json).map_err(io_err)?;
    on_held(&path);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut end = HoldEnd::Elapsed;
    while Instant::now() < deadline {
        if crate::ffmpeg::runner::interrupted() {
            end = HoldEnd::Interrupted;
            break;
        }
        std::thread::sleep(Duration::from_millis(50).min(deadline - Instant::now()));
    }
    write(b"").map_err(io_err)?;
    drop(lock);
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
40 22 0:35 / /mnt/my\\040share rw,relatime shared:20 - nfs4 srv:/export rw,vers=4.2,rsize=1048576,local_lock=none,addr=10.0.0.2
41 22 0:36 / /mnt/old rw,relatime - nfs srv:/old rw,vers=3,nolock,local_lock=all,addr=10.0.0.3
42 22 0:37 / /lustre rw - lustre mgs@tcp:/fs rw,localflock
43 22 0:38 / /mnt/ssh rw,nosuid,nodev - fuse.sshfs me@host:/ rw,user_id=0
44 22 0:39 / /mnt/flk rw - nfs4 srv:/flk rw,vers=4.1,local_lock=flock
45 22 0:40 / /mnt/px rw - nfs4 srv:/px rw,vers=4.1,local_lock=posix
garbage line
";

    #[test]
    fn mountinfo_lines_parse_with_escapes_and_super_options() {
        let mounts = parse_mountinfo(SAMPLE);
        assert_eq!(mounts.len(), 7, "the garbage line is skipped");
        assert_eq!(mounts[1].mount_point, PathBuf::from("/mnt/my share"));
        assert_eq!(mounts[1].fs_type, "nfs4");
        assert_eq!(mounts[1].source, "srv:/export");
        assert_eq!(mounts[1].device, (0, 35));
        assert_eq!(mounts[1].option("local_lock"), Some("none"));
        assert_eq!(mounts[1].option("relatime"), Some(""));
        assert_eq!(mounts[1].option("nolock"), None);
    }

    #[test]
    fn the_deepest_mount_above_a_path_holds_it() {
        let mounts = parse_mountinfo(SAMPLE);
        let find = |p: &str, dev| mount_containing(&mounts, Path::new(p), dev).unwrap();
        assert_eq!(find("/mnt/my share/job.vre", None).fs_type, "nfs4");
        assert_eq!(find("/mnt/my sharex", None).fs_type, "ext4");
        assert_eq!(find("/home/x", Some((253, 1))).fs_type, "ext4");
        assert_eq!(find("/lustre/a/b", Some((0, 37))).fs_type, "lustre");
    }

    #[test]
    fn mount_options_that_keep_locks_local_are_warned_about() {
        let mounts = parse_mountinfo(SAMPLE);
        let warned = |i: usize| lock_warnings(&mounts[i]).join(" ");
        assert_eq!(warned(0), "");
        assert_eq!(warned(1), "", "local_lock=none is what vre needs");
        assert!(warned(2).contains("local_lock=all"), "{}", warned(2));
        assert!(warned(3).contains("localflock"));
        assert!(warned(4).contains("FUSE"));
        assert!(warned(5).contains("local_lock=flock"));
        assert_eq!(warned(6), "", "local_lock=posix keeps flock global");
        assert!(mounts[1].is_network() && !mounts[0].is_network());
    }

    #[test]
    fn escapes_at_the_end_of_a_field_are_kept_or_decoded() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("a\\134"), "a\\");
        assert_eq!(unescape("a\\04"), "a\\04");
        assert_eq!(unescape("plain"), "plain");
    }
}
