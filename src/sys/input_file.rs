//! The files vre reads as inputs (the video, `--audio` tracks) must be regular files: vre
//! probes, hashes and seeks into them many times, from several processes. Anything else is
//! refused from its file type alone (`stat`), before anything opens or reads it: a FIFO or pipe
//! would block the first reader or be consumed by it, a device such as `/dev/zero` never ends,
//! and a directory or a socket is not media.

use crate::exit::{Code, HasCode};
use std::fmt;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Why a path cannot be read as an input.
#[derive(Debug)]
pub enum Unusable {
    /// Nothing is there.
    Missing,
    /// Its symlinks lead back to themselves (ELOOP).
    SymlinkLoop,
    /// A FIFO or a pipe (a shell's `<(…)` is `/dev/fd/N`, a pipe).
    Pipe,
    /// A character device (`/dev/zero`, a terminal, a capture device).
    CharacterDevice,
    /// A block device (a disk).
    BlockDevice,
    /// A directory.
    Directory,
    /// A Unix socket.
    Socket,
    /// `stat` itself failed (e.g. a directory on the way is not searchable).
    Inaccessible(io::Error),
}

/// An input path that is not a regular file, and why.
#[derive(Debug, thiserror::Error)]
pub struct InputFileError {
    /// The path as given.
    pub path: PathBuf,
    /// What it is instead.
    pub problem: Unusable,
}

/// The advice for anything that is a stream rather than a file.
const SAVE_FIRST: &str = "vre seeks into its input many times, from several processes: save the \
                          stream to a file first and pass that file";

impl fmt::Display for InputFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.problem {
            Unusable::Missing => write!(f, "{path} does not exist; check the path"),
            Unusable::SymlinkLoop => write!(
                f,
                "{path} is a symlink loop (its links lead back to themselves and never reach a file); point the link at the video file"
            ),
            Unusable::Pipe if is_descriptor_path(&self.path) => write!(
                f,
                "{path} is a pipe (a shell's <(…) process substitution is one), not a file; {SAVE_FIRST}"
            ),
            Unusable::Pipe => write!(f, "{path} is a FIFO (named pipe), not a file; {SAVE_FIRST}"),
            Unusable::CharacterDevice => write!(
                f,
                "{path} is a character device, not a file (a device may stream forever); {SAVE_FIRST}"
            ),
            Unusable::BlockDevice => {
                write!(f, "{path} is a block device, not a file; {SAVE_FIRST}")
            }
            Unusable::Directory => write!(f, "{path} is a directory; pass a video file"),
            Unusable::Socket => write!(f, "{path} is a socket, not a file; {SAVE_FIRST}"),
            Unusable::Inaccessible(e) => {
                write!(f, "cannot look at {path} ({e}); check its permissions")
            }
        }
    }
}

impl HasCode for InputFileError {
    fn code(&self) -> Code {
        match self.problem {
            Unusable::Missing | Unusable::SymlinkLoop | Unusable::Inaccessible(_) => Code::NoInput,
            Unusable::Pipe
            | Unusable::CharacterDevice
            | Unusable::BlockDevice
            | Unusable::Directory
            | Unusable::Socket => Code::DataErr,
        }
    }
}

/// Whether a path names an open descriptor (`/dev/fd/N`, `/proc/self/fd/N`, `/proc/PID/fd/N`),
/// as a shell's process substitution does.
fn is_descriptor_path(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text.starts_with("/dev/fd/")
        || text.starts_with("/dev/stdin")
        || (text.starts_with("/proc/") && text.contains("/fd/"))
}

/// Refuses a path that is not a regular file (following symlinks), without opening it.
pub fn check_input_file(path: &Path) -> Result<(), InputFileError> {
    let refuse = |problem| {
        Err(InputFileError {
            path: path.to_path_buf(),
            problem,
        })
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            return refuse(match e.raw_os_error() {
                Some(libc::ENOENT | libc::ENOTDIR) => Unusable::Missing,
                Some(libc::ELOOP) => Unusable::SymlinkLoop,
                _ => Unusable::Inaccessible(e),
            })
        }
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    refuse(if kind.is_dir() {
        Unusable::Directory
    } else if kind.is_fifo() {
        Unusable::Pipe
    } else if kind.is_char_device() {
        Unusable::CharacterDevice
    } else if kind.is_block_device() {
        Unusable::BlockDevice
    } else {
        Unusable::Socket
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(path: &Path) -> Option<(Code, String)> {
        check_input_file(path)
            .err()
            .map(|e| (e.code(), e.to_string()))
    }

    #[test]
    fn only_regular_files_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("in.mp4");
        std::fs::write(&file, b"x").unwrap();
        assert!(problem(&file).is_none());
        let link = tmp.path().join("link.mp4");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(problem(&link).is_none(), "a symlink to a file is the file");

        let (code, text) = problem(tmp.path()).unwrap();
        assert_eq!(code, Code::DataErr);
        assert!(text.contains("is a directory"), "{text}");
        let (code, text) = problem(Path::new("/dev/null")).unwrap();
        assert_eq!(code, Code::DataErr);
        assert!(text.contains("character device"), "{text}");
        let (code, text) = problem(&tmp.path().join("gone.mp4")).unwrap();
        assert_eq!(code, Code::NoInput);
        assert!(text.contains("does not exist"), "{text}");

        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::os::unix::fs::symlink(&a, &b).unwrap();
        std::os::unix::fs::symlink(&b, &a).unwrap();
        let (code, text) = problem(&a).unwrap();
        assert_eq!(code, Code::NoInput);
        assert!(text.contains("symlink loop"), "{text}");
    }

    #[test]
    fn descriptor_paths_are_named_as_process_substitution() {
        let pipe = InputFileError {
            path: "/dev/fd/63".into(),
            problem: Unusable::Pipe,
        };
        assert!(pipe.to_string().contains("process substitution"));
        let fifo = InputFileError {
            path: "/tmp/stream".into(),
            problem: Unusable::Pipe,
        };
        assert!(fifo.to_string().contains("FIFO"));
        assert!(!fifo.to_string().contains("process substitution"));
    }
}
