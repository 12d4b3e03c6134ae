//! Free-space preflight: refuse work that cannot fit before it starts, not hours into it.

use crate::exit::{Code, HasCode};
use std::path::{Path, PathBuf};

/// Not enough room on a filesystem.
#[derive(Debug, thiserror::Error)]
#[error("not enough free space for {what} on the filesystem of {}: about {} needed, {} free; free some space, use another directory, or pass --no-space-check if the estimate is too pessimistic", .path.display(), human(*.needed), human(*.free))]
pub struct SpaceError {
    /// The directory checked.
    pub path: PathBuf,
    /// What needs the space.
    pub what: &'static str,
    /// Bytes needed (estimated).
    pub needed: u64,
    /// Bytes free.
    pub free: u64,
}

impl HasCode for SpaceError {
    fn code(&self) -> Code {
        Code::CantCreate
    }
}

/// Bytes as a short human text (`1.5 GiB`).
pub fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// Refuses when the filesystem holding `path` has less than `needed` bytes free. When the free
/// space cannot be read (an unusual filesystem), there is nothing to refuse on.
pub fn ensure_free(path: &Path, what: &'static str, needed: u64) -> Result<(), SpaceError> {
    let Ok(free) = fs2::available_space(path) else {
        return Ok(());
    };
    if needed > free {
        return Err(SpaceError {
            path: path.to_path_buf(),
            what,
            needed,
            free,
        });
    }
    Ok(())
}

/// Whether two existing paths live on the same filesystem.
pub fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

/// Whether two paths name the same existing file (the same inode on the same device: also
/// through a hard link or a symlink).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The kind of filesystem holding `path`, by its statfs magic number (`nfs`, `fuse`, `ext4`, …),
/// for messages about what the filesystem does not support; `unknown` when it cannot be read.
pub fn filesystem_type(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return "unknown".to_string();
    };
    // SAFETY: statfs writes only into the struct we pass; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut st) } != 0 {
        return "unknown".to_string();
    }
    const KNOWN: [(i64, &str); 16] = [
        (0xEF53, "ext2/3/4"),
        (0x5846_5342, "xfs"),
        (0x9123_683E, "btrfs"),
        (0x2FC1_2FC1, "zfs"),
        (0x0102_1994, "tmpfs"),
        (0x794C_7630, "overlay"),
        (0x6969, "nfs"),
        (0x6573_5546, "fuse"),
        (0x517B, "smb"),
        (0xFF53_4D42, "cifs"),
        (0xFE53_4D42, "smb2"),
        (0x0BD0_0BD0, "lustre"),
        (0x00C3_6400, "ceph"),
        (0x4750_4653, "gpfs"),
        (0x0102_1997, "9p"),
        (0x6B41_4653, "afs"),
    ];
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on some targets, u32 or i32 on others
    let magic = (st.f_type as i64) & 0xFFFF_FFFF;
    KNOWN
        .iter()
        .find(|(m, _)| *m == magic)
        .map_or_else(|| format!("type {magic:#x}"), |(_, name)| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(human(512), "512.0 B");
        assert_eq!(human(3 * 1024 * 1024 / 2), "1.5 MiB");
    }

    #[test]
    fn refuses_what_cannot_fit_and_accepts_what_can() {
        let here = std::env::temp_dir();
        assert!(ensure_free(&here, "test", 1).is_ok());
        let err = ensure_free(&here, "test", u64::MAX).unwrap_err();
        assert!(err.to_string().contains("not enough free space for test"));
    }

    #[test]
    fn the_filesystem_type_is_named() {
        assert_eq!(filesystem_type(Path::new("/proc")), "type 0x9fa0");
        assert_eq!(filesystem_type(Path::new("/no/such/dir")), "unknown");
    }
}
