//! Whose fault a failed render is: the chunk's, or the environment's.
//!
//! A render that fails because of its chunk (ffmpeg rejects its data, a filter errors out, the
//! frame count is wrong) is an attempt, counted against `--max-attempts`. A render that fails
//! because of where it runs — a full disk or quota, a read-only or unwritable planDir, too many
//! open files, an I/O error, an input or planDir that vanished for a moment from a network
//! share, memory exhausted or the OOM killer — says nothing about the chunk: it is not an
//! attempt, the worker stops claiming and exits with [`crate::exit::Code::TempFail`] so that a
//! scheduler (or the user) runs it again once the environment is fixed.
//!
//! The classification lives here alone. It trusts, in this order: the environment as it is
//! right after the failure (is the input still there with its planned size, is the planDir
//! there, writable, with free space?), the signal that ended ffmpeg (SIGKILL that vre did not
//! send is the OOM killer's), the OS error of vre's own I/O, and last the error texts ffmpeg
//! printed.

use crate::plandir::attempts::EnvCause;
use crate::plandir::error::PlanDirError;
use crate::plandir::schema::TaskId;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Free space below which a failed render on the planDir's filesystem is blamed on the disk.
const NEARLY_FULL: u64 = 1 << 20;

impl EnvCause {
    /// The stable name (`disk-full`, …).
    pub fn name(self) -> &'static str {
        match self {
            EnvCause::DiskFull => "disk-full",
            EnvCause::ReadOnly => "read-only",
            EnvCause::NotWritable => "not-writable",
            EnvCause::TooManyOpenFiles => "too-many-open-files",
            EnvCause::IoError => "io-error",
            EnvCause::InputMissing => "input-missing",
            EnvCause::PlanDirMissing => "plandir-missing",
            EnvCause::OutOfMemory => "out-of-memory",
        }
    }

    /// What to do about it, as an imperative clause.
    pub fn advice(self) -> &'static str {
        match self {
            EnvCause::DiskFull => "free space on that filesystem (or enlarge it)",
            EnvCause::ReadOnly => "remount that filesystem read-write",
            EnvCause::NotWritable => "give this user write access to the planDir",
            EnvCause::TooManyOpenFiles => {
                "raise the open-files limit (`ulimit -n`) or run fewer workers on this host"
            }
            EnvCause::IoError => "check the device or network share (`dmesg`)",
            EnvCause::InputMissing => "make the input available again at its planned path",
            EnvCause::PlanDirMissing => "make the planDir available again at its path",
            EnvCause::OutOfMemory => "free memory or run fewer workers on this host",
        }
    }

    /// The cause as a phrase naming the path it concerns (`the disk holding PATH is full`).
    pub fn phrase(self, path: &Path) -> String {
        let path = path.display();
        match self {
            EnvCause::DiskFull => format!("the disk holding {path} is full"),
            EnvCause::ReadOnly => format!("the filesystem of {path} is read-only"),
            EnvCause::NotWritable => format!("{path} is not writable"),
            EnvCause::TooManyOpenFiles => "too many open files".to_string(),
            EnvCause::IoError => format!("an I/O error on {path}"),
            EnvCause::InputMissing => format!("the input {path} is missing or incomplete"),
            EnvCause::PlanDirMissing => format!("{path} is missing"),
            EnvCause::OutOfMemory => "out of memory".to_string(),
        }
    }

    /// The cause an OS error stands for, if it is one of the environment's.
    pub fn of_io(err: &io::Error) -> Option<EnvCause> {
        match err.raw_os_error()? {
            libc::ENOSPC | libc::EDQUOT => Some(EnvCause::DiskFull),
            libc::EROFS => Some(EnvCause::ReadOnly),
            libc::EACCES | libc::EPERM => Some(EnvCause::NotWritable),
            libc::EMFILE | libc::ENFILE => Some(EnvCause::TooManyOpenFiles),
            libc::EIO => Some(EnvCause::IoError),
            libc::ENOMEM => Some(EnvCause::OutOfMemory),
            libc::ENOENT | libc::ENOTDIR => Some(EnvCause::PlanDirMissing),
            _ => None,
        }
    }
}

impl fmt::Display for EnvCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A render stopped by its environment: what, where, and the evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{task}: {what} ({detail}); this is not counted as an attempt of the chunk: {advice}, then run `vre work {dir}` again (exit 75 asks a scheduler to retry)", what = self.what(), advice = self.cause.advice(), dir = self.plan_dir.display())]
pub struct EnvFailure {
    /// The task whose render was stopped.
    pub task: TaskId,
    /// What failed.
    pub cause: EnvCause,
    /// The path concerned: the planDir's filesystem, the input, the planDir.
    pub path: PathBuf,
    /// The planDir (for the command to run again).
    pub plan_dir: PathBuf,
    /// The evidence, in one line (an OS error, ffmpeg's last error line).
    pub detail: String,
}

impl EnvFailure {
    /// The environment failure a planDir error of vre's own I/O (claiming, hashing,
    /// publishing, recording) stands for, if it is one.
    pub fn of_plandir_error(task: TaskId, plan_dir: &Path, err: &PlanDirError) -> Option<Self> {
        if let PlanDirError::InputMissing { path } = err {
            // Found missing mid-run (before publishing): a share gone for a moment, as a render
            // that fails on it is taken; at the start of a worker it stays exit 66.
            return Some(EnvFailure {
                task,
                cause: EnvCause::InputMissing,
                path: path.clone(),
                plan_dir: plan_dir.to_path_buf(),
                detail: "it is no longer there".to_string(),
            });
        }
        let (PlanDirError::Read { path, source } | PlanDirError::Write { path, source }) = err
        else {
            return None;
        };
        Some(EnvFailure {
            task,
            cause: EnvCause::of_io(source)?,
            path: path.clone(),
            plan_dir: plan_dir.to_path_buf(),
            detail: source.to_string(),
        })
    }

    /// The failure as a phrase naming the path.
    fn what(&self) -> String {
        self.cause.phrase(&self.path)
    }
}

/// What is known about a failed ffmpeg render, to classify it.
#[derive(Debug, Clone, Copy)]
pub struct RenderEvidence<'a> {
    /// The tail of ffmpeg's stderr.
    pub stderr_tail: &'a str,
    /// The signal that ended ffmpeg, if one did (and vre did not send it).
    pub signal: Option<i32>,
    /// The input's path.
    pub input: &'a Path,
    /// The input's planned size in bytes.
    pub input_size: u64,
    /// The planDir.
    pub plan_dir: &'a Path,
    /// The directory the render writes its temp file into.
    pub output_dir: &'a Path,
}

/// The environment's share of a failed render: `None` when the chunk is to blame (an attempt),
/// otherwise the cause and the path it concerns.
pub fn classify_render(evidence: &RenderEvidence<'_>) -> Option<(EnvCause, PathBuf, String)> {
    let e = evidence;
    // The environment right after the failure.
    match std::fs::metadata(e.input) {
        Err(err) => {
            let cause = match EnvCause::of_io(&err) {
                Some(EnvCause::PlanDirMissing) | None => EnvCause::InputMissing,
                Some(cause) => cause,
            };
            return Some((cause, e.input.to_path_buf(), err.to_string()));
        }
        Ok(meta) if meta.len() != e.input_size => {
            let detail = format!("{} bytes, planned {}", meta.len(), e.input_size);
            return Some((EnvCause::InputMissing, e.input.to_path_buf(), detail));
        }
        Ok(_) => {}
    }
    for dir in [e.plan_dir, e.output_dir] {
        if let Err(err) = std::fs::metadata(dir) {
            let cause = EnvCause::of_io(&err).unwrap_or(EnvCause::PlanDirMissing);
            return Some((cause, dir.to_path_buf(), err.to_string()));
        }
    }
    if let Some(cause) = filesystem_state(e.output_dir) {
        let detail = first_error_line(e.stderr_tail).unwrap_or_else(|| match cause {
            EnvCause::DiskFull => "less than 1 MiB free".to_string(),
            _ => "mounted read-only".to_string(),
        });
        return Some((cause, e.plan_dir.to_path_buf(), detail));
    }
    if e.signal == Some(libc::SIGKILL) {
        let detail = "ffmpeg was killed by SIGKILL, as the OOM killer does".to_string();
        return Some((EnvCause::OutOfMemory, e.plan_dir.to_path_buf(), detail));
    }
    // What ffmpeg said.
    let (cause, line) = cause_in_stderr(e.stderr_tail, e.input, e.plan_dir)?;
    let path = match cause {
        EnvCause::InputMissing => e.input,
        _ => e.plan_dir,
    };
    Some((cause, path.to_path_buf(), line.trim().to_string()))
}

/// The environment's share of a failed write outside a render (assembly writing OUT, its
/// staging directory or its concat list), decided while what was written is still there: the
/// OS error of vre's own I/O, if it is one of the environment's; else the state of the
/// filesystem at `dir` (read-only, less than 1 MiB free); else an environment error text in
/// the stderr of the ffmpeg that wrote. `None` when nothing points at the environment.
pub fn classify_write(
    dir: &Path,
    os_error: Option<&io::Error>,
    stderr: &str,
) -> Option<(EnvCause, String)> {
    if let Some(err) = os_error {
        return EnvCause::of_io(err).map(|cause| (cause, err.to_string()));
    }
    if let Some(cause) = filesystem_state(dir) {
        let detail = first_error_line(stderr).unwrap_or_else(|| match cause {
            EnvCause::DiskFull => "less than 1 MiB free".to_string(),
            _ => "mounted read-only".to_string(),
        });
        return Some((cause, detail));
    }
    stderr.lines().find_map(|line| {
        ERROR_TEXTS
            .iter()
            .find(|(text, _)| line.contains(text))
            .map(|(_, cause)| (*cause, line.trim().to_string()))
    })
}

/// A full or read-only filesystem at `dir`, read with statvfs.
fn filesystem_state(dir: &Path) -> Option<EnvCause> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes only into the struct we pass; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Some(EnvCause::ReadOnly);
    }
    let free = st.f_bavail.saturating_mul(st.f_frsize);
    (free < NEARLY_FULL).then_some(EnvCause::DiskFull)
}

/// The environment's error texts as ffmpeg prints them (strerror of the errno).
const ERROR_TEXTS: [(&str, EnvCause); 7] = [
    ("No space left on device", EnvCause::DiskFull),
    ("Disk quota exceeded", EnvCause::DiskFull),
    ("Read-only file system", EnvCause::ReadOnly),
    ("Too many open files", EnvCause::TooManyOpenFiles),
    ("Input/output error", EnvCause::IoError),
    ("Cannot allocate memory", EnvCause::OutOfMemory),
    ("Permission denied", EnvCause::NotWritable),
];

/// The first environment error in ffmpeg's stderr, with its line. "No such file or directory"
/// counts only on a line naming the input or the planDir (a filter's own missing file is the
/// plan's problem, not the environment's).
fn cause_in_stderr<'a>(
    stderr: &'a str,
    input: &Path,
    plan_dir: &Path,
) -> Option<(EnvCause, &'a str)> {
    let input = input.to_string_lossy();
    let plan_dir = plan_dir.to_string_lossy();
    stderr.lines().find_map(|line| {
        if let Some((_, cause)) = ERROR_TEXTS.iter().find(|(text, _)| line.contains(text)) {
            return Some((*cause, line));
        }
        if line.contains("No such file or directory") {
            if line.contains(input.as_ref()) {
                return Some((EnvCause::InputMissing, line));
            }
            if line.contains(plan_dir.as_ref()) {
                return Some((EnvCause::PlanDirMissing, line));
            }
        }
        None
    })
}

/// The first line of ffmpeg's stderr that carries one of the environment's error texts.
fn first_error_line(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find(|l| ERROR_TEXTS.iter().any(|(text, _)| l.contains(text)))
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence<'a>(
        stderr: &'a str,
        input: &'a Path,
        size: u64,
        dir: &'a Path,
    ) -> RenderEvidence<'a> {
        RenderEvidence {
            stderr_tail: stderr,
            signal: None,
            input,
            input_size: size,
            plan_dir: dir,
            output_dir: dir,
        }
    }

    fn fixture() -> (tempfile::TempDir, PathBuf, u64) {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in.mp4");
        std::fs::write(&input, b"0123456789").unwrap();
        (tmp, input, 10)
    }

    #[test]
    fn os_errors_of_the_environment_are_recognised() {
        let cases = [
            (libc::ENOSPC, Some(EnvCause::DiskFull)),
            (libc::EDQUOT, Some(EnvCause::DiskFull)),
            (libc::EROFS, Some(EnvCause::ReadOnly)),
            (libc::EACCES, Some(EnvCause::NotWritable)),
            (libc::EMFILE, Some(EnvCause::TooManyOpenFiles)),
            (libc::ENFILE, Some(EnvCause::TooManyOpenFiles)),
            (libc::EIO, Some(EnvCause::IoError)),
            (libc::ENOMEM, Some(EnvCause::OutOfMemory)),
            (libc::ENOENT, Some(EnvCause::PlanDirMissing)),
            (libc::EINVAL, None),
        ];
        for (errno, cause) in cases {
            assert_eq!(EnvCause::of_io(&io::Error::from_raw_os_error(errno)), cause);
        }
        assert_eq!(EnvCause::of_io(&io::Error::other("not an OS error")), None);
        let write = PlanDirError::Write {
            path: "x".into(),
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let failure = EnvFailure::of_plandir_error(TaskId::Chunk(1), Path::new("d"), &write);
        assert_eq!(
            failure.map(|f| (f.cause, f.path)),
            Some((EnvCause::DiskFull, PathBuf::from("x")))
        );
        let vanished = PlanDirError::InputMissing {
            path: "/share/in.mp4".into(),
        };
        let failure = EnvFailure::of_plandir_error(TaskId::Chunk(1), Path::new("d"), &vanished);
        assert_eq!(
            failure.map(|f| (f.cause, f.path)),
            Some((EnvCause::InputMissing, PathBuf::from("/share/in.mp4")))
        );
        let changed = PlanDirError::InputChanged {
            path: "/share/in.mp4".into(),
            what: "size".into(),
        };
        assert_eq!(
            EnvFailure::of_plandir_error(TaskId::Chunk(1), Path::new("d"), &changed),
            None,
            "a changed input is no passing trouble of the environment"
        );
        let damaged = PlanDirError::Malformed {
            path: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(
            EnvFailure::of_plandir_error(TaskId::Chunk(1), Path::new("d"), &damaged),
            None
        );
    }

    #[test]
    fn the_chunks_own_errors_are_attempts() {
        let (tmp, input, size) = fixture();
        for stderr in [
            "",
            "[libx264 @ 0x1] Input picture width (160) is greater than stride (128)",
            "Error while filtering: Invalid argument",
            "[Parsed_movie_0 @ 0x1] Failed to avformat_open_input 'lut.png': No such file or directory",
        ] {
            assert_eq!(
                classify_render(&evidence(stderr, &input, size, tmp.path())),
                None,
                "{stderr}"
            );
        }
    }

    #[test]
    fn ffmpegs_error_texts_name_the_environment() {
        let (tmp, input, size) = fixture();
        let cases = [
            (
                "av_interleaved_write_frame(): No space left on device",
                EnvCause::DiskFull,
            ),
            (
                "Error writing trailer: Disk quota exceeded",
                EnvCause::DiskFull,
            ),
            (
                "file:/x/chunk.mp4: Read-only file system",
                EnvCause::ReadOnly,
            ),
            ("Too many open files", EnvCause::TooManyOpenFiles),
            (
                "Error during demuxing: Input/output error",
                EnvCause::IoError,
            ),
            ("Cannot allocate memory", EnvCause::OutOfMemory),
        ];
        for (stderr, cause) in cases {
            let found = classify_render(&evidence(stderr, &input, size, tmp.path()));
            assert_eq!(found.map(|f| f.0), Some(cause), "{stderr}");
        }
        let missing = format!(
            "{}/chunks/.x.tmp: No such file or directory",
            tmp.path().display()
        );
        let found = classify_render(&evidence(&missing, &input, size, tmp.path()));
        assert_eq!(found.map(|f| f.0), Some(EnvCause::PlanDirMissing));
    }

    #[test]
    fn the_environment_after_the_failure_decides_first() {
        let (tmp, input, size) = fixture();
        let changed = classify_render(&evidence("", &input, size + 1, tmp.path())).unwrap();
        assert_eq!(
            (changed.0, changed.1),
            (EnvCause::InputMissing, input.clone())
        );
        let gone = tmp.path().join("gone.mp4");
        let missing = classify_render(&evidence("", &gone, size, tmp.path())).unwrap();
        assert_eq!((missing.0, missing.1), (EnvCause::InputMissing, gone));
        let no_dir = tmp.path().join("job.vre");
        let dir_gone = classify_render(&evidence("", &input, size, &no_dir)).unwrap();
        assert_eq!(dir_gone.0, EnvCause::PlanDirMissing);
        let killed = RenderEvidence {
            signal: Some(libc::SIGKILL),
            ..evidence("", &input, size, tmp.path())
        };
        assert_eq!(
            classify_render(&killed).map(|f| f.0),
            Some(EnvCause::OutOfMemory)
        );
    }

    #[test]
    fn a_failed_write_outside_a_render_blames_the_environment_on_its_evidence() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let full = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(
            classify_write(dir, Some(&full), "").map(|f| f.0),
            Some(EnvCause::DiskFull)
        );
        let odd = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(classify_write(dir, Some(&odd), ""), None);
        let said = "file:/x/.out.mp4.tmp-1: Input/output error\nConversion failed!";
        assert_eq!(
            classify_write(dir, None, said),
            Some((
                EnvCause::IoError,
                "file:/x/.out.mp4.tmp-1: Input/output error".to_string()
            ))
        );
        assert_eq!(classify_write(dir, None, "Invalid data found"), None);
    }

    #[test]
    fn a_failure_names_the_path_and_what_to_do() {
        let failure = EnvFailure {
            task: TaskId::Chunk(3),
            cause: EnvCause::DiskFull,
            path: "/shared/job.vre".into(),
            plan_dir: "/shared/job.vre".into(),
            detail: "No space left on device".into(),
        };
        let text = failure.to_string();
        assert!(
            text.starts_with("chunk 3: the disk holding /shared/job.vre is full"),
            "{text}"
        );
        assert!(text.contains("not counted as an attempt") && text.contains("free space"));
        assert!(text.contains("vre work /shared/job.vre"));
        assert_eq!(
            serde_json::to_string(&EnvCause::TooManyOpenFiles).unwrap(),
            "\"too-many-open-files\""
        );
    }
}
