//! Process exit codes: the stable contract that shells and schedulers act on.
//!
//! The numbers follow sysexits(3) where one fits; the README's table lists them and a test walks
//! that table against this module.

use std::fmt;

/// Why vre stopped. Each variant has one documented, stable exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Everything asked for is done.
    Success,
    /// An unexpected failure: a bug in vre, or an error it could not classify.
    Failure,
    /// The command line is wrong (unknown flag, bad value, conflicting options).
    Usage,
    /// Input data is unusable: not a video, a plan that was edited or belongs to another run,
    /// a chunk whose bytes do not match its sidecar.
    DataErr,
    /// A file that must exist does not: the input, the planDir, an audio track.
    NoInput,
    /// A program vre needs (ffmpeg, ffprobe) is not installed or cannot run.
    Unavailable,
    /// An output cannot be created: its directory is missing or not writable, or the planDir
    /// holds a different plan.
    CantCreate,
    /// Reading or writing failed (disk full, permission lost, I/O error).
    IoErr,
    /// Try again later: another process holds a lock vre needs, or the work is not finished yet.
    TempFail,
    /// Some chunks ran out of attempts; `vre status` shows why, `vre work --retry-failed`
    /// gives them fresh attempts.
    ChunksFailed,
    /// Stopped by SIGINT or SIGTERM after cleaning up; running the same command again resumes.
    Interrupted,
}

impl Code {
    /// Every code, in the order of the README's table.
    pub const ALL: [Code; 11] = [
        Code::Success,
        Code::Failure,
        Code::Usage,
        Code::DataErr,
        Code::NoInput,
        Code::Unavailable,
        Code::CantCreate,
        Code::IoErr,
        Code::TempFail,
        Code::ChunksFailed,
        Code::Interrupted,
    ];

    /// The number the process exits with.
    pub fn number(self) -> i32 {
        match self {
            Code::Success => 0,
            Code::Failure => 1,
            Code::Usage => 64,
            Code::DataErr => 65,
            Code::NoInput => 66,
            Code::Unavailable => 69,
            Code::CantCreate => 73,
            Code::IoErr => 74,
            Code::TempFail => 75,
            Code::ChunksFailed => 80,
            Code::Interrupted => 130,
        }
    }

    /// A short stable name, used in JSON output and the README.
    pub fn name(self) -> &'static str {
        match self {
            Code::Success => "success",
            Code::Failure => "failure",
            Code::Usage => "usage",
            Code::DataErr => "data-error",
            Code::NoInput => "no-input",
            Code::Unavailable => "unavailable",
            Code::CantCreate => "cannot-create",
            Code::IoErr => "io-error",
            Code::TempFail => "temporary-failure",
            Code::ChunksFailed => "chunks-failed",
            Code::Interrupted => "interrupted",
        }
    }

    /// What the code means, in one line (the man page's EXIT STATUS).
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Success => "everything asked for is done",
            Code::Failure => "an unexpected failure (a bug, or an error vre could not classify)",
            Code::Usage => "a bad command line, or settings ffmpeg or the input cannot take",
            Code::DataErr => "unusable data: not a video, an edited plan, a changed input, a chunk that does not match its sidecar",
            Code::NoInput => "a file that must exist does not: the input, the planDir, an audio track",
            Code::Unavailable => "ffmpeg is missing or not the plan's, or the planDir's locks do not work",
            Code::CantCreate => "an output cannot be created, or the planDir holds another plan",
            Code::IoErr => "reading or writing failed (retry)",
            Code::TempFail => "try again later: a lock is held, the disk is full, the work is not done (retry)",
            Code::ChunksFailed => "tasks ran out of attempts: vre work --retry-failed gives them more",
            Code::Interrupted => "stopped by SIGINT or SIGTERM; the same command resumes",
        }
    }

    /// Whether a scheduler should run the same command again (the failure may go away).
    pub fn is_retryable(self) -> bool {
        matches!(self, Code::IoErr | Code::TempFail | Code::Interrupted)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.name())
    }
}

/// Implemented by every domain error so the edge can map it to an exit code.
pub trait HasCode {
    /// The exit code this error stands for.
    fn code(&self) -> Code;
}

/// An error that carries its exit code explicitly, for the few places where no domain error fits.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    /// The exit code.
    pub code: Code,
    /// One sentence: what, where, what to do.
    pub message: String,
}

impl Coded {
    /// Builds an error with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Coded {
            code,
            message: message.into(),
        }
    }
}

impl HasCode for Coded {
    fn code(&self) -> Code {
        self.code
    }
}
