//! Child processes that cannot outlive their worker, and graceful stops on SIGINT/SIGTERM.
//!
//! The orphan trap: when a worker is SIGKILLed the kernel releases its chunk lock at once, but
//! an ffmpeg it spawned would keep running, reparented to init, and keep writing while another
//! worker claims the chunk. vre closes the trap twice over:
//! - the child inherits the task's lock descriptor, so the lock lives as long as the child;
//! - the child asks the kernel for `SIGKILL` when its parent thread dies (`PR_SET_PDEATHSIG`).
//!
//! Children run in their own process group, so a terminal's Ctrl-C reaches only vre, which then
//! kills the groups it started, removes its temp files, releases its locks and exits with
//! [`crate::exit::Code::Interrupted`].
//!
//! Short commands that only read (probes, counts, the plan's analysis and trial) run through
//! [`run_capture`] and [`count_stdout_bytes`]. They hold no lock, but they are guarded all the
//! same (own process group, `PR_SET_PDEATHSIG`, killed on SIGINT/SIGTERM): an ffprobe stuck on
//! an input, or a trial render of a heavy filter, must not outlive the vre that started it.
//! This module is the only place vre starts ffmpeg or ffprobe (`tests/architecture.rs`).

use crate::ffmpeg::argv::Argv;
use crate::ffmpeg::error::{last_lines, spawn_error, FfmpegError};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::thread;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static RUNNING_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// How many lines of a child's stderr are kept for logs and error messages.
const STDERR_TAIL_LINES: usize = 40;

/// What a second SIGINT/SIGTERM does besides killing the child groups again: the edge (the
/// binary) sets it to exit at once; the library itself never ends the process.
static ON_SECOND_SIGNAL: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what a second SIGINT/SIGTERM does (once per process; later calls are ignored).
pub fn on_second_signal(action: fn()) {
    let _ = ON_SECOND_SIGNAL.set(action);
}

/// Installs the SIGINT/SIGTERM handler (once per process). The first signal marks the process
/// interrupted and kills every running child group; a second one runs the action set with
/// [`on_second_signal`].
pub fn install_signal_handlers() {
    INSTALL.call_once(|| {
        let signals = signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM]);
        let Ok(mut signals) = signals else {
            return;
        };
        thread::spawn(move || {
            for _ in signals.forever() {
                let groups = RUNNING_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
                let again = INTERRUPTED.swap(true, Ordering::SeqCst);
                kill_groups(&groups);
                if again {
                    if let Some(action) = ON_SECOND_SIGNAL.get() {
                        action();
                    }
                }
            }
        });
    });
}

fn kill_groups(groups: &[i32]) {
    for &pgid in groups {
        // SAFETY: killpg only sends a signal; a stale group id fails harmlessly with ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Kills every running guarded child (their runs then fail) without marking the process
/// interrupted: for work being abandoned, e.g. a plan whose settings turned out to be rejected.
pub fn kill_running() {
    kill_groups(&RUNNING_GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
}

/// Whether SIGINT or SIGTERM has arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// How a guarded child ended.
#[derive(Debug)]
pub struct ChildOutcome {
    /// Its exit status.
    pub status: ExitStatus,
    /// The last lines of its stderr.
    pub stderr_tail: String,
    /// Whether vre was interrupted while it ran (it was then killed).
    pub interrupted: bool,
}

/// Runs a command as a guarded child: own process group, killed with its parent thread, and
/// optionally holding `inherit_fd` (a lock) for as long as it lives. Each line the child
/// prints on stdout is handed to `on_stdout_line` (ffmpeg's `-progress pipe:1`).
pub fn run_guarded(
    argv: &Argv,
    inherit_fd: Option<RawFd>,
    mut on_stdout_line: impl FnMut(&str),
) -> Result<ChildOutcome, FfmpegError> {
    let mut cmd = argv.command();
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid, fcntl, _exit) on values copied into it.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            if let Some(fd) = inherit_fd {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }

    let mut child = {
        let mut groups = RUNNING_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        if interrupted() {
            return Err(FfmpegError::Spawn {
                program: argv.program(),
                source: std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted"),
            });
        }
        let child = cmd.spawn().map_err(|e| spawn_error(argv.program(), e))?;
        groups.push(child.id() as i32);
        child
    };
    let pgid = child.id() as i32;

    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = thread::spawn(move || tail_lines(stderr));
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(line) => on_stdout_line(&line),
                Err(_) => break,
            }
        }
    }
    let status = child.wait();
    RUNNING_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&g| g != pgid);
    let stderr_tail = stderr_reader.join().unwrap_or_default();
    let status = status.map_err(|source| FfmpegError::Spawn {
        program: argv.program(),
        source,
    })?;
    Ok(ChildOutcome {
        status,
        stderr_tail,
        interrupted: interrupted(),
    })
}

fn tail_lines(stream: impl Read) -> String {
    let mut tail = VecDeque::with_capacity(STDERR_TAIL_LINES);
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    Vec::from(tail).join("\n")
}

/// Makes a command a guarded child: its own process group (a terminal's Ctrl-C reaches only vre,
/// which then kills the group), and `SIGKILL` from the kernel when the thread that started it
/// dies.
fn guard(cmd: &mut Command) {
    cmd.process_group(0);
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid, _exit) on a value copied into it.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

/// Starts a [`guard`]ed command and registers its group, so that SIGINT/SIGTERM kills it;
/// refuses to start anything once vre is interrupted.
fn spawn_registered(cmd: &mut Command, program: &'static str) -> Result<Child, FfmpegError> {
    let mut groups = RUNNING_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    if interrupted() {
        return Err(FfmpegError::Interrupted { program });
    }
    let child = cmd.spawn().map_err(|e| spawn_error(program, e))?;
    groups.push(child.id() as i32);
    Ok(child)
}

/// Forgets a finished child's group.
fn unregister(pgid: i32) {
    RUNNING_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&g| g != pgid);
}

/// Runs a short command to completion as a guarded child and returns its stdout; `subject`
/// names the file it is about, for the error message. A command killed because vre was
/// interrupted is [`FfmpegError::Interrupted`].
pub fn run_capture(argv: &Argv, subject: &Path) -> Result<Vec<u8>, FfmpegError> {
    let mut cmd = argv.command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    guard(&mut cmd);
    let child = spawn_registered(&mut cmd, argv.program())?;
    let pgid = child.id() as i32;
    let output = child.wait_with_output();
    unregister(pgid);
    let output = output.map_err(|source| FfmpegError::Spawn {
        program: argv.program(),
        source,
    })?;
    if output.status.success() {
        Ok(output.stdout)
    } else if interrupted() {
        Err(FfmpegError::Interrupted {
            program: argv.program(),
        })
    } else {
        Err(FfmpegError::Failed {
            program: argv.program(),
            subject: subject.to_path_buf(),
            stderr: last_lines(&String::from_utf8_lossy(&output.stderr), 6),
        })
    }
}

/// Runs a command that streams a long result to stdout, as a guarded child, and returns how
/// many bytes it wrote, without keeping them; `Ok(None)` when the command failed.
pub fn count_stdout_bytes(argv: &Argv) -> Result<Option<u64>, FfmpegError> {
    let mut cmd = argv.command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    guard(&mut cmd);
    let mut child = spawn_registered(&mut cmd, argv.program())?;
    let pgid = child.id() as i32;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let bytes = std::io::copy(&mut stdout, &mut std::io::sink()).unwrap_or(0);
    let status = child.wait();
    unregister(pgid);
    let ok = status.is_ok_and(|s| s.success());
    if !ok && interrupted() {
        return Err(FfmpegError::Interrupted {
            program: argv.program(),
        });
    }
    Ok(ok.then_some(bytes))
}
