//! Errors from running ffmpeg or ffprobe.

use crate::exit::{Code, HasCode};
use std::io;
use std::path::PathBuf;

/// Errors from running ffmpeg or ffprobe.
#[derive(Debug, thiserror::Error)]
pub enum FfmpegError {
    /// The program is not installed (or not where `--ffmpeg` / `VRE_FFMPEG` points).
    #[error("{}", missing(program, chosen.as_deref()))]
    Missing {
        /// ffmpeg or ffprobe.
        program: &'static str,
        /// Where it was looked for, when chosen with `--ffmpeg` / `VRE_FFMPEG`.
        chosen: Option<PathBuf>,
    },
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// ffmpeg or ffprobe.
        program: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The program ran and failed.
    #[error("{program} failed on {}: {stderr}", .subject.display())]
    Failed {
        /// ffmpeg or ffprobe.
        program: &'static str,
        /// The file it was working on.
        subject: PathBuf,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// vre was interrupted (SIGINT/SIGTERM): the program was killed, or not started.
    #[error("{program} was stopped because vre was interrupted (SIGINT/SIGTERM)")]
    Interrupted {
        /// ffmpeg or ffprobe.
        program: &'static str,
    },
}

impl HasCode for FfmpegError {
    fn code(&self) -> Code {
        match self {
            FfmpegError::Missing { .. } => Code::Unavailable,
            FfmpegError::Spawn { .. } => Code::IoErr,
            FfmpegError::Failed { .. } => Code::Failure,
            FfmpegError::Interrupted { .. } => Code::Interrupted,
        }
    }
}

/// What to say of a program that is not there.
fn missing(program: &str, chosen: Option<&std::path::Path>) -> String {
    match chosen {
        Some(path) => format!(
            "{program} is not at {} (the ffmpeg chosen with --ffmpeg or VRE_FFMPEG; its ffprobe must be beside it)",
            path.display()
        ),
        None => format!(
            "{program} is not installed or not on PATH; install ffmpeg (on Debian: `apt-get install ffmpeg`, or `make deps`), or choose one with --ffmpeg PATH"
        ),
    }
}

/// Maps a spawn error to [`FfmpegError`], telling "not installed" apart.
pub fn spawn_error(program: &'static str, source: io::Error) -> FfmpegError {
    if source.kind() == io::ErrorKind::NotFound {
        FfmpegError::Missing {
            program,
            chosen: crate::ffmpeg::argv::chosen_path(program),
        }
    } else {
        FfmpegError::Spawn { program, source }
    }
}

/// The last `n` non-empty lines of a text, joined with " | " (for one-line error messages).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let joined = lines[start..].join(" | ");
    if joined.is_empty() {
        "no diagnostic output".to_string()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(last_lines("", 2), "no diagnostic output");
    }
}
