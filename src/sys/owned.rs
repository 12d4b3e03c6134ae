//! Temp files that name their owner, so that whatever a killed process left can later be proven
//! dead and removed: `.NAME.tmp-TAG-PID-START-N-HOST`, where TAG says what the file belongs to
//! (assembly uses the plan identity), PID, START and HOST name the process that writes it (see
//! [`ProcessIdentity`]) and N tells apart the temp files of one process.
//!
//! Such a file is removed only when its owner is dead on this host
//! ([`ProcessIdentity::is_alive`] is `Some(false)`): never while it runs, and never when it ran
//! on another host, which this host cannot tell.

use crate::sys::host::ProcessIdentity;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A temp file name of this module, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTemp {
    /// The name of the file it stands in for.
    pub target: String,
    /// What it belongs to.
    pub tag: String,
    /// The process that writes it.
    pub owner: ProcessIdentity,
}

/// The temp path under which this process writes `dest` for `tag` (lowercase hex, not empty),
/// hidden in `dest`'s directory so that the final rename is atomic.
pub fn temp_path(dest: &Path, tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let me = ProcessIdentity::current();
    let mut name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A host name never holds a `/` in practice; if it did, the name read back would not be
    // this host's, and the file would be left alone, which is safe.
    let host = me.host.replace('/', "_");
    let suffix = format!(".tmp-{tag}-{}-{}-{n}-{host}", me.pid, me.start);
    // File names end at 255 bytes: a long NAME is shortened (the tag and owner identify it).
    while 1 + name.len() + suffix.len() > NAME_MAX && name.pop().is_some() {}
    dest.with_file_name(format!(".{name}{suffix}"))
}

/// The longest file name Linux filesystems take, in bytes.
const NAME_MAX: usize = 255;

/// Reads a name written by [`temp_path`]; `None` for any other name.
pub fn parse(name: &str) -> Option<OwnedTemp> {
    let hidden = name.strip_prefix('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // NAME itself may hold `.tmp-`: the first split whose rest has the right shape wins.
    hidden.match_indices(".tmp-").find_map(|(at, _)| {
        let target = &hidden[..at];
        let mut parts = hidden[at + ".tmp-".len()..].splitn(5, '-');
        let tag = parts.next()?;
        let (pid, start, n, host) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex_tag =
            !tag.is_empty() && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if target.is_empty() || !hex_tag || !digits(pid) || !digits(start) || !digits(n) {
            return None;
        }
        if host.is_empty() {
            return None;
        }
        Some(OwnedTemp {
            target: target.to_string(),
            tag: tag.to_string(),
            owner: ProcessIdentity {
                host: host.to_string(),
                pid: pid.parse().ok()?,
                start: start.parse().ok()?,
            },
        })
    })
}

/// Removes the temp files and directories of this module in `dir` that `wanted` accepts and
/// whose owner is dead on this host; returns what it removed. Symbolic links are never
/// followed nor removed (this module never makes one). A directory that is gone is nothing to
/// remove.
pub fn remove_dead(dir: &Path, wanted: impl Fn(&OwnedTemp) -> bool) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(temp) = name.to_str().and_then(parse) else {
            continue;
        };
        if !wanted(&temp) || temp.owner.is_alive() != Some(false) {
            continue;
        }
        let path = entry.path();
        let result = match entry.file_type()? {
            t if t.is_dir() => fs::remove_dir_all(&path),
            t if t.is_file() => fs::remove_file(&path),
            _ => continue,
        };
        match result {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_name_reads_back_as_its_target_tag_and_owner() {
        let path = temp_path(Path::new("/out/a.tmp-b 1.mp4"), "00ff");
        let name = path.file_name().unwrap().to_str().unwrap();
        let temp = parse(name).expect("its own name parses");
        assert_eq!(temp.target, "a.tmp-b 1.mp4");
        assert_eq!(temp.tag, "00ff");
        assert_eq!(temp.owner, ProcessIdentity::current());
        assert_ne!(path, temp_path(Path::new("/out/a.tmp-b 1.mp4"), "00ff"));
        let long = temp_path(Path::new(&"é".repeat(127)), "00ff");
        let long_name = long.file_name().unwrap().to_str().unwrap();
        assert!(long_name.len() <= NAME_MAX);
        assert_eq!(parse(long_name).unwrap().owner, ProcessIdentity::current());
        for foreign in [
            "a.mp4",
            ".a.mp4.tmp-123-0-0000abcd",
            ".a.mp4.tmp-XYZ-1-2-3-host",
            ".a.mp4.tmp-00ff-1-2-3-",
            ".tmp-00ff-1-2-3-host",
        ] {
            assert_eq!(parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn only_temps_of_dead_owners_that_are_wanted_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let me = ProcessIdentity::current();
        let dead = format!(".out.mp4.tmp-aa-{}-{}-0-{}", me.pid, me.start + 1, me.host);
        let dead_dir = format!(".frames.tmp-aa-{}-{}-1-{}", me.pid, me.start + 1, me.host);
        let other_tag = format!(".out.mp4.tmp-bb-{}-{}-0-{}", me.pid, me.start + 1, me.host);
        let elsewhere = format!(
            ".out.mp4.tmp-aa-{}-{}-0-{}-x",
            me.pid,
            me.start + 1,
            me.host
        );
        let live = temp_path(&dir.path().join("out.mp4"), "aa");
        for name in [&dead, &other_tag, &elsewhere, &"out.mp4".to_string()] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        fs::write(&live, b"x").unwrap();
        fs::create_dir(dir.path().join(&dead_dir)).unwrap();
        fs::write(dir.path().join(&dead_dir).join("frame_000001.png"), b"x").unwrap();
        let mut removed = remove_dead(dir.path(), |t| t.tag == "aa").unwrap();
        removed.sort();
        assert_eq!(
            removed,
            vec![dir.path().join(&dead_dir), dir.path().join(&dead)]
        );
        for kept in [&other_tag, &elsewhere, &"out.mp4".to_string()] {
            assert!(dir.path().join(kept).exists(), "{kept}");
        }
        assert!(live.exists());
    }
}
