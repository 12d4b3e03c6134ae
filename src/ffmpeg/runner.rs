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
//! A render's child may also be watched for stalls ([`run_watched`]): a child that shows no sign
//! of life (no line on stdout, no CPU time) for a limit is killed, so that a stopped process or
//! a hung filesystem fails the render instead of stalling its worker forever.
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
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

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
    /// Its exit status (for a stalled child that had not died yet, the SIGKILL it was sent).
    pub status: ExitStatus,
    /// The last lines of its stderr.
    pub stderr_tail: String,
    /// Whether vre was interrupted while it ran (it was then killed).
    pub interrupted: bool,
    /// Set when the stall watchdog killed it.
    pub stalled: Option<Stall>,
}

/// A child the stall watchdog of [`run_watched`] killed: it printed nothing on stdout and its
/// process group used no CPU time for `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// Its process id (and process group).
    pub pid: u32,
    /// The limit it exceeded.
    pub limit: Duration,
    /// Whether it died within [`KILL_WAIT`] of its SIGKILL. A process blocked in uninterruptible
    /// I/O (a hung network filesystem) dies only when that I/O returns; the caller goes on
    /// without it, and whatever it holds (the task's lock) stays held until then.
    pub died: bool,
}

/// How long [`run_watched`] waits for a child it killed as stalled to die before going on
/// without it.
pub const KILL_WAIT: Duration = Duration::from_secs(10);

/// What a watched child did, as [`run_watched`] hands it to its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity<'a> {
    /// A line on its stdout (ffmpeg's `-progress pipe:1`).
    Line(&'a str),
    /// No line for a while, but its process group used CPU time: it works on something slow.
    Busy,
}

/// Runs a command as a guarded child: own process group, killed with its parent thread, and
/// optionally holding `inherit_fd` (a lock) for as long as it lives. Each line the child
/// prints on stdout is handed to `on_stdout_line` (ffmpeg's `-progress pipe:1`).
pub fn run_guarded(
    argv: &Argv,
    inherit_fd: Option<RawFd>,
    mut on_stdout_line: impl FnMut(&str),
) -> Result<ChildOutcome, FfmpegError> {
    run_watched(argv, inherit_fd, None, |activity| {
        if let Activity::Line(line) = activity {
            on_stdout_line(line);
        }
    })
}

/// What the threads watching a child tell the thread that runs it.
enum Message {
    Line(String),
    Busy,
    StdoutClosed,
    Exited(std::io::Result<ExitStatus>),
    Stalled,
}

/// [`run_guarded`] with a stall watchdog: when `stall_limit` is given and the child neither
/// prints a line on stdout nor uses CPU time (its process group's, from `/proc`) for that long,
/// its process group is killed (SIGKILL) and the outcome says so ([`ChildOutcome::stalled`]).
/// Needing both signs of life to be missing spares a slow but working child (a heavy filter on
/// one frame prints nothing but computes). The watchdog runs on a thread of its own, so a
/// caller blocked in `on_activity` does not stop it. A killed child that does not die within
/// [`KILL_WAIT`] is left to die on its own.
pub fn run_watched(
    argv: &Argv,
    inherit_fd: Option<RawFd>,
    stall_limit: Option<Duration>,
    mut on_activity: impl FnMut(Activity),
) -> Result<ChildOutcome, FfmpegError> {
    let mut child = spawn_guarded(argv, inherit_fd)?;
    let pgid = child.id() as i32;
    let started = Instant::now();
    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
    let stderr_reader = {
        let tail = Arc::clone(&stderr_tail);
        thread::spawn(move || keep_tail(stderr, &tail))
    };
    let (messages, received) = mpsc::channel();
    // Milliseconds after `started` of the child's last line on stdout.
    let last_line_ms = Arc::new(AtomicU64::new(0));
    let stdout = child.stdout.take().expect("stdout is piped");
    read_lines(stdout, started, Arc::clone(&last_line_ms), messages.clone());
    // Set once the child is reaped: it ended, it cannot stall any more.
    let exited = Arc::new(AtomicBool::new(false));
    reap(child, Arc::clone(&exited), messages.clone());
    // Set by the watchdog before it kills the child (the child's death may be seen first).
    let killed = Arc::new(AtomicBool::new(false));
    let (stop_watchdog, watchdog_stopped) = mpsc::channel::<()>();
    let watchdog = stall_limit.map(|limit| {
        let watch = StallWatch {
            pgid,
            limit,
            started,
            last_line_ms,
            exited,
            killed: Arc::clone(&killed),
            messages: messages.clone(),
        };
        thread::spawn(move || watch.run(&watchdog_stopped))
    });
    drop(messages);

    // Until the child has exited and every line of its stdout is handed on, or, once it is
    // killed as stalled, until it dies or KILL_WAIT has passed.
    let (mut status, mut stdout_open) = (None, true);
    let mut kill_deadline: Option<Instant> = None;
    while status.is_none() || (stdout_open && kill_deadline.is_none()) {
        let message = match kill_deadline {
            None => received.recv().ok(),
            Some(deadline) => received
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok(),
        };
        match message {
            None => break,
            Some(Message::Line(line)) => on_activity(Activity::Line(&line)),
            Some(Message::Busy) => on_activity(Activity::Busy),
            Some(Message::StdoutClosed) => stdout_open = false,
            Some(Message::Exited(exit)) => status = Some(exit),
            Some(Message::Stalled) => kill_deadline = Some(Instant::now() + KILL_WAIT),
        }
    }
    drop(stop_watchdog);
    if let Some(watchdog) = watchdog {
        let _ = watchdog.join();
    }
    // A child that exited on its own at the instant the watchdog gave up on it did not stall.
    let exited_by_itself = matches!(&status, Some(Ok(s)) if s.code().is_some());
    let stalled = killed.load(Ordering::SeqCst) && !exited_by_itself;
    let died = status.is_some();
    if died {
        let _ = stderr_reader.join();
    }
    let stderr_tail = Vec::from(
        stderr_tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    )
    .join("\n");
    let status = match status {
        Some(exit) => exit.map_err(|source| FfmpegError::Spawn {
            program: argv.program(),
            source,
        })?,
        None => ExitStatus::from_raw(libc::SIGKILL),
    };
    Ok(ChildOutcome {
        status,
        stderr_tail,
        interrupted: interrupted(),
        stalled: stall_limit.filter(|_| stalled).map(|limit| Stall {
            pid: pgid as u32,
            limit,
            died,
        }),
    })
}

/// Hands each line of a child's stdout on as a message, noting when it came, then says the
/// stream closed.
fn read_lines(
    stdout: impl Read + Send + 'static,
    started: Instant,
    last_line_ms: Arc<AtomicU64>,
    messages: mpsc::Sender<Message>,
) {
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            last_line_ms.store(millis_since(started), Ordering::SeqCst);
            if messages.send(Message::Line(line)).is_err() {
                return;
            }
        }
        let _ = messages.send(Message::StdoutClosed);
    });
}

/// Waits for a child on a thread of its own (so that waiting for it can be bounded), then marks
/// it `exited`, forgets its process group and sends its exit status.
fn reap(mut child: Child, exited: Arc<AtomicBool>, messages: mpsc::Sender<Message>) {
    let pgid = child.id() as i32;
    thread::spawn(move || {
        let status = child.wait();
        exited.store(true, Ordering::SeqCst);
        unregister(pgid);
        let _ = messages.send(Message::Exited(status));
    });
}

/// Starts a guarded child with stdout and stderr piped: its own process group, SIGKILL when
/// its parent thread dies, `inherit_fd` kept open in it, and its group registered for the signal
/// handler to kill.
fn spawn_guarded(argv: &Argv, inherit_fd: Option<RawFd>) -> Result<Child, FfmpegError> {
    let mut cmd = argv.command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    guard(&mut cmd, inherit_fd);
    spawn_registered(&mut cmd, argv.program())
}

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The stall watchdog of one child.
struct StallWatch {
    pgid: i32,
    limit: Duration,
    started: Instant,
    last_line_ms: Arc<AtomicU64>,
    exited: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    messages: mpsc::Sender<Message>,
}

impl StallWatch {
    /// Looks at the child every tick (a quarter of the limit, between 0.1 and 1 s) until `stop`
    /// is dropped or the child stalls: then kills its group and tells the running thread. A
    /// tick that comes late (vre itself was stopped, or the machine suspended) counts as a sign
    /// of life: the child's silence meanwhile proves nothing.
    fn run(self, stop: &mpsc::Receiver<()>) {
        let tick = (self.limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let tick_ms = tick.as_millis() as u64;
        let limit_ms = u64::try_from(self.limit.as_millis()).unwrap_or(u64::MAX);
        let mut cpu = crate::sys::host::group_cpu_ticks(self.pgid);
        let (mut last_alive_ms, mut last_tick_ms) = (0, 0);
        while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(tick) {
            let now_ms = millis_since(self.started);
            let cpu_now = crate::sys::host::group_cpu_ticks(self.pgid);
            let last_line_ms = self.last_line_ms.load(Ordering::SeqCst);
            if now_ms - last_tick_ms > 2 * tick_ms {
                last_alive_ms = now_ms;
            }
            last_tick_ms = now_ms;
            if cpu_now != cpu {
                cpu = cpu_now;
                last_alive_ms = now_ms;
                if now_ms.saturating_sub(last_line_ms) >= tick_ms {
                    let _ = self.messages.send(Message::Busy);
                }
            }
            let alive_ms = last_line_ms.max(last_alive_ms);
            if now_ms.saturating_sub(alive_ms) >= limit_ms && !self.exited.load(Ordering::SeqCst) {
                self.killed.store(true, Ordering::SeqCst);
                kill_groups(&[self.pgid]);
                let _ = self.messages.send(Message::Stalled);
                return;
            }
        }
    }
}

fn keep_tail(stream: impl Read, tail: &Mutex<VecDeque<String>>) {
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// Makes a command a guarded child: its own process group (a terminal's Ctrl-C reaches only vre,
/// which then kills the group), `SIGKILL` from the kernel when the thread that started it dies,
/// and `inherit_fd` (a task's lock) kept open in it, so that the lock lives as long as the child.
fn guard(cmd: &mut Command, inherit_fd: Option<RawFd>) {
    cmd.process_group(0);
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
    run_capture_all(argv, subject).map(|(stdout, _)| stdout)
}

/// [`run_capture`], returning stderr as well as stdout: for commands that report on stderr
/// (ffmpeg's `showinfo`, decoder errors).
pub fn run_capture_all(argv: &Argv, subject: &Path) -> Result<(Vec<u8>, Vec<u8>), FfmpegError> {
    let mut cmd = argv.command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    guard(&mut cmd, None);
    let child = spawn_registered(&mut cmd, argv.program())?;
    let pgid = child.id() as i32;
    let output = child.wait_with_output();
    unregister(pgid);
    let output = output.map_err(|source| FfmpegError::Spawn {
        program: argv.program(),
        source,
    })?;
    if output.status.success() {
        Ok((output.stdout, output.stderr))
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
    guard(&mut cmd, None);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Argv {
        let mut argv = Argv::new("sh");
        argv.push("-c").push(script);
        argv
    }

    #[test]
    fn a_child_that_neither_prints_nor_computes_is_killed_as_stalled() {
        let limit = Duration::from_millis(400);
        let clock = Instant::now();
        let outcome = run_watched(&shell("exec sleep 30"), None, Some(limit), |_| {}).unwrap();
        let took = clock.elapsed();
        let stall = outcome.stalled.expect("killed as stalled");
        assert_eq!(stall.limit, limit);
        assert!(stall.died, "a sleeping process dies at once");
        assert_eq!(outcome.status.signal(), Some(libc::SIGKILL));
        assert!(took >= limit, "not before the limit: {took:?}");
        assert!(
            took < Duration::from_secs(10),
            "long before sleep ends: {took:?}"
        );
    }

    #[test]
    fn a_silent_child_that_computes_is_not_killed() {
        // Two to three seconds of computing (bash's builtins only: no child processes) without a
        // line on stdout, over twice the limit.
        let mut argv = Argv::new("bash");
        argv.push("-c")
            .push("end=$((SECONDS + 3)); while [ $SECONDS -lt $end ]; do :; done");
        let mut busy = 0;
        let outcome = run_watched(&argv, None, Some(Duration::from_secs(1)), |activity| {
            if activity == Activity::Busy {
                busy += 1;
            }
        })
        .unwrap();
        assert_eq!(outcome.stalled, None);
        assert!(outcome.status.success());
        assert!(busy > 0, "its CPU time was reported as a sign of life");
    }
}
