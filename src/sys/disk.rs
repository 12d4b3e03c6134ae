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
}
