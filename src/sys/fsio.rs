//! Crash-safe file writes and content hashing.
//!
//! Every file that matters is written as: temp file in the same directory → write → fsync →
//! rename → fsync the directory. A crash at any instant leaves either the old file or the new one,
//! never a torn one.

use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A name for a temp file that no other process or thread picks: pid, a per-process counter and
/// the clock.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{}-{:08x}", std::process::id(), n, nanos)
}

/// Whether `text` has the shape [`unique_suffix`] gives: `PID-N-XXXXXXXX`.
pub fn is_unique_suffix(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    matches!(parts.as_slice(), [pid, n, nanos]
        if digits(pid) && digits(n) && nanos.len() == 8 && nanos.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The name of the file a temp file of [`temp_path_for`] (`.NAME.tmp-UNIQUE`) or
/// [`locked_temp_path`] (`.NAME.tmp`) stands in for: `NAME`; `None` for any other name.
pub fn temp_target(name: &str) -> Option<&str> {
    let hidden = name.strip_prefix('.')?;
    if let Some(target) = hidden.strip_suffix(".tmp") {
        return (!target.is_empty()).then_some(target);
    }
    let (target, suffix) = hidden.rsplit_once(".tmp-")?;
    (!target.is_empty() && is_unique_suffix(suffix)).then_some(target)
}

/// The temp path used while `dest` is being written: `.NAME.tmp-…`, hidden, in the same
/// directory (so the rename is atomic).
pub fn temp_path_for(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.tmp-{}", unique_suffix()))
}

/// fsyncs a directory so that a rename or creation inside it survives a crash.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory that holds `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Moves a finished temp file into place: fsync the file, rename, fsync the directory.
pub fn publish(temp: &Path, dest: &Path) -> io::Result<()> {
    File::open(temp)?.sync_all()?;
    fs::rename(temp, dest)?;
    fsync_dir(parent_dir(dest))
}

/// Renames `from` to `to` unless something exists at `to` (then fails with
/// [`io::ErrorKind::AlreadyExists`] and changes nothing): `renameat2(RENAME_NOREPLACE)`, or on
/// filesystems without it a hard link and unlink for a file (the link refuses an existing name
/// atomically), and a check then a rename for a directory.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (source, target) = (c(from)?, c(to)?);
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            source.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
        return Err(err);
    }
    if fs::symlink_metadata(from)?.is_dir() {
        if fs::symlink_metadata(to).is_ok() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        return fs::rename(from, to);
    }
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

/// [`publish`] that never replaces an existing `dest` (see [`rename_no_replace`]).
pub fn publish_no_replace(temp: &Path, dest: &Path) -> io::Result<()> {
    File::open(temp)?.sync_all()?;
    rename_no_replace(temp, dest)?;
    fsync_dir(parent_dir(dest))
}

/// Flushes the filesystem holding `path` to disk (one `syncfs` instead of an fsync per file).
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = File::open(path)?;
    // SAFETY: syncfs only reads the descriptor, which stays open for the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Puts the directory `staging` at `dest`: a plain rename when `dest` does not exist, an atomic
/// exchange when it does (readers see the old tree or the new one, never a mix), after which
/// the old tree is removed. Filesystems without exchange fall back to moving the old tree
/// aside first.
pub fn replace_dir(staging: &Path, dest: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    if !dest.exists() {
        fs::rename(staging, dest)?;
        return fsync_dir(parent_dir(dest));
    }
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (from, to) = (c(staging)?, c(dest)?);
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let exchanged = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    } == 0;
    if exchanged {
        fsync_dir(parent_dir(dest))?;
        return fs::remove_dir_all(staging);
    }
    let aside = temp_path_for(dest);
    fs::rename(dest, &aside)?;
    fs::rename(staging, dest)?;
    fsync_dir(parent_dir(dest))?;
    fs::remove_dir_all(&aside)
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_via(dest, bytes, &temp_path_for(dest))
}

/// The one temp path of a file that only the holder of an exclusive lock writes (a task's
/// sidecar, attempt record, log, progress record): `.NAME.tmp`. A fixed name means the next
/// holder finds what a killed one left without listing the directory.
pub fn locked_temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.tmp"))
}

/// [`write_atomic`] for a file whose writer holds an exclusive lock on it (see
/// [`locked_temp_path`]).
pub fn write_atomic_locked(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_via(dest, bytes, &locked_temp_path(dest))
}

/// [`write_json_atomic`] for a file whose writer holds an exclusive lock on it.
pub fn write_json_atomic_locked<T: Serialize + ?Sized>(dest: &Path, value: &T) -> io::Result<()> {
    write_atomic_locked(dest, &json_bytes(value)?)
}

fn json_bytes<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn write_atomic_via(dest: &Path, bytes: &[u8], temp: &Path) -> io::Result<()> {
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(temp, dest)?;
        fsync_dir(parent_dir(dest))
    })();
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

/// Writes `value` as pretty JSON (with a final newline) to `dest` atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(dest: &Path, value: &T) -> io::Result<()> {
    write_atomic(dest, &json_bytes(value)?)
}

/// Removes a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The size and blake3 (hex) of a file's content. Large files are memory-mapped and hashed on
/// all cores, which runs at several GB/s.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path)?;
    let size = fs::metadata(path)?.len();
    Ok((size, hasher.finalize().to_hex().to_string()))
}

/// Sets an open file's modification time to the filesystem's "now" and returns it: on a network
/// filesystem that is the server's clock, so it compares with the times other hosts' writes left
/// on files there, whatever this host's clock says.
pub fn touch_now(file: &File) -> io::Result<SystemTime> {
    use std::os::fd::AsRawFd;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    ];
    // SAFETY: futimens reads the two timespecs we own; the descriptor is open.
    if unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    file.metadata()?.modified()
}

/// Seconds since the Unix epoch, as a float (for timings in sidecars and reports).
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("vre-fsio-{}", unique_suffix()));
        fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("a.json");
        write_atomic(&dest, b"one").unwrap();
        write_atomic(&dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let (size, hash) = hash_file(&dest).unwrap();
        assert_eq!(size, 3);
        assert_eq!(hash, blake3::hash(b"two").to_hex().to_string());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_names_lead_back_to_their_file_and_nothing_else_does() {
        let dest = Path::new("/d/out.mp4");
        let temp = temp_path_for(dest);
        let name = temp.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_target(name), Some("out.mp4"));
        let locked = locked_temp_path(dest);
        assert_eq!(
            temp_target(locked.file_name().unwrap().to_str().unwrap()),
            Some("out.mp4")
        );
        for foreign in [
            "out.mp4",
            ".out.mp4.tmp-mine",
            ".out.mp4.tmp-1-2-3",
            ".tmp",
            "out.mp4.tmp",
            ".out.mp4.tmp-12-0-0000000g",
        ] {
            assert_eq!(temp_target(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn a_rename_without_replace_refuses_an_existing_name_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"new").unwrap();
        fs::write(&b, b"old").unwrap();
        let err = rename_no_replace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"old");
        assert_eq!(fs::read(&a).unwrap(), b"new");
        fs::remove_file(&b).unwrap();
        publish_no_replace(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"new");
        assert!(!a.exists());
    }
}
