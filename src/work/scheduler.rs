//! The worker: claims the tasks of a planDir with file locks and renders them, with any number of
//! threads in one process and any number of processes on one planDir.
//!
//! Claiming walks the task list once, in order, without re-reading the planDir per claim: a task
//! with a sidecar of this plan is skipped, a task whose lock is held elsewhere is set aside, and
//! a free one is rendered. Tasks set aside are retried when the planDir changes (or every second,
//! for workers that die without a trace on disk), until every task is done.

use crate::exit::Code;
use crate::ffmpeg::runner;
use crate::plan::{PlanError, Trial};
use crate::plandir::attempts;
use crate::plandir::claim::{self, PlanLock, TaskLock};
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::plandir::load::LoadedPlan;
use crate::plandir::publish;
use crate::plandir::schema::{Chunk, Sidecar, TaskId};
use crate::sys::watch::DirWatcher;
use crate::work::environment::EnvFailure;
use crate::work::events::{Event, Observer, TaskRef};
use crate::work::render::{self, RenderError, Renderer};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How a `vre work` process behaves.
#[derive(Debug, Clone)]
pub struct WorkOptions {
    /// Chunks rendered at once by this process (`None`: as many as fill the host, from the
    /// plan's threads per chunk).
    pub threads: Option<usize>,
    /// The chunk to claim first (array-job index).
    pub first_index: Option<u32>,
    /// Render at most one chunk (and the audio, if it is still free), then stop.
    pub once: bool,
    /// Failed attempts after which a task is marked failed.
    pub max_attempts: u32,
    /// Give tasks that ran out of attempts a fresh set.
    pub retry_failed: bool,
    /// Refuse to start when the remaining chunks cannot fit on the planDir's filesystem.
    pub space_check: bool,
    /// The plan's untried settings (`vre run` on a new planDir); `None` when the plan was tried
    /// before it was written.
    pub trial: Option<Arc<TrialGate>>,
    /// How long a render may make no progress before it is killed as stalled.
    pub stall_timeout: StallTimeout,
    /// Compare this host's ffmpeg with the plan's and refuse to render with another one.
    pub check_ffmpeg: bool,
}

/// How long a render may make no progress — no progress report from ffmpeg and no CPU time used
/// by it — before the watchdog kills it and records a failed attempt (`--stall-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallTimeout {
    /// Derived from what the planDir shows of the job's speed ([`default_stall_limit`]).
    FromPlan,
    /// Never: no watchdog.
    Off,
    /// After this long.
    After(Duration),
}

impl StallTimeout {
    /// The timeout `--stall-timeout SECONDS` asks for: none given derives it from the plan, 0
    /// turns the watchdog off.
    pub fn from_flag(seconds: Option<u64>) -> StallTimeout {
        match seconds {
            None => StallTimeout::FromPlan,
            Some(0) => StallTimeout::Off,
            Some(s) => StallTimeout::After(Duration::from_secs(s)),
        }
    }
}

/// The stall limit when the planDir shows no slow chunk: no progress report and no CPU time for
/// two minutes is not a slow render but a stopped process or a hung filesystem.
pub const STALL_FLOOR: Duration = Duration::from_secs(120);

/// How many frames' time, at the slowest speed a published chunk of the plan showed, a render
/// may go without progress (when that is longer than [`STALL_FLOOR`]).
pub const STALL_FRAMES: f64 = 100.0;

/// The default stall limit: [`STALL_FRAMES`] frames at the slowest speed a published chunk of
/// the plan showed (`slowest_seconds_per_frame`), in whole seconds, and at least [`STALL_FLOOR`].
pub fn default_stall_limit(slowest_seconds_per_frame: Option<f64>) -> Duration {
    let derived = slowest_seconds_per_frame
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(0.0, |s| (s * STALL_FRAMES).ceil());
    STALL_FLOOR.max(Duration::from_secs_f64(derived.min(u32::MAX as f64)))
}

/// A plan whose settings have not been tried yet (`vre run` on a new planDir): the first render
/// that fails runs the plan's [`Trial`] to tell a bad setting from a bad chunk, while other
/// failing renders wait for its verdict. Once the trial has failed, the running renders are
/// killed, no worker claims another task and no failure is held against a chunk. While every
/// render succeeds, the trial never runs: a published chunk proves the settings.
#[derive(Debug)]
pub struct TrialGate {
    trial: Trial,
    verdict: Mutex<Option<Result<(), PlanError>>>,
}

impl TrialGate {
    /// A gate for `trial`, not run yet.
    pub fn new(trial: Trial) -> TrialGate {
        TrialGate {
            trial,
            verdict: Mutex::new(None),
        }
    }

    /// Whether the settings pass: runs the trial the first time it is asked (false, with no
    /// verdict, when a signal cut the trial short).
    fn passed(&self) -> bool {
        let mut verdict = self.verdict.lock().unwrap_or_else(|e| e.into_inner());
        if verdict.is_none() {
            let tried = self.trial.run();
            if runner::interrupted() {
                // A signal killed the trial: that is no verdict on the settings.
                return false;
            }
            if tried.is_err() {
                // The renders still running use the same rejected settings.
                runner::kill_running();
            }
            *verdict = Some(tried);
        }
        matches!(*verdict, Some(Ok(())))
    }

    /// Whether the trial has run and failed.
    fn failed(&self) -> bool {
        matches!(
            *self.verdict.lock().unwrap_or_else(|e| e.into_inner()),
            Some(Err(_))
        )
    }

    /// Why the plan was rejected, if its trial ran and failed.
    pub fn take_rejection(&self) -> Option<PlanError> {
        let mut verdict = self.verdict.lock().unwrap_or_else(|e| e.into_inner());
        match verdict.take() {
            Some(Err(rejected)) => Some(rejected),
            other => {
                *verdict = other;
                None
            }
        }
    }
}

/// Why a worker could not work.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The planDir is unusable.
    #[error(transparent)]
    PlanDir(#[from] PlanDirError),
    /// The remaining chunks cannot fit.
    #[error(transparent)]
    Space(#[from] crate::sys::disk::SpaceError),
    /// This host's ffmpeg cannot be asked who it is.
    #[error("cannot tell which ffmpeg this is: {0}")]
    Ffmpeg(#[from] crate::ffmpeg::error::FfmpegError),
    /// This host's ffmpeg is not the plan's.
    #[error("this host's ffmpeg is not the one the plan was made with ({difference}): its chunks would not be byte-identical to the others'; run the plan's ffmpeg here (--ffmpeg PATH or VRE_FFMPEG), plan again with this one (`vre plan --force`), or render anyway with `vre work --any-ffmpeg`")]
    OtherFfmpeg {
        /// What differs.
        difference: String,
    },
}

impl crate::exit::HasCode for WorkError {
    fn code(&self) -> crate::exit::Code {
        match self {
            WorkError::PlanDir(e) => e.code(),
            WorkError::Space(e) => e.code(),
            WorkError::Ffmpeg(e) => e.code(),
            WorkError::OtherFfmpeg { .. } => crate::exit::Code::Unavailable,
        }
    }
}

/// What a worker process did.
#[derive(Debug, Default)]
pub struct WorkSummary {
    /// Sidecars of the tasks this process published.
    pub rendered: Vec<Sidecar>,
    /// Tasks out of attempts, with their last error.
    pub exhausted: Vec<(TaskId, String)>,
    /// Renders the environment stopped (full disk, missing input, …): the worker stopped
    /// claiming, and none of them is an attempt.
    pub environment: Vec<EnvFailure>,
    /// Whether a signal stopped the work.
    pub interrupted: bool,
}

impl WorkSummary {
    /// The exit code this summary stands for.
    pub fn code(&self) -> Code {
        if self.interrupted {
            Code::Interrupted
        } else if !self.environment.is_empty() {
            Code::TempFail
        } else if !self.exhausted.is_empty() {
            Code::ChunksFailed
        } else {
            Code::Success
        }
    }
}

/// How often a running task's progress record is rewritten at most.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// How long a worker waits for a change before it looks again at tasks held elsewhere.
const RECHECK_HELD: Duration = Duration::from_secs(1);

struct Queue {
    pending: VecDeque<TaskId>,
    held_elsewhere: Vec<TaskId>,
    watching: bool,
    rendering: usize,
    stop: bool,
    /// With `--once`: a chunk is done; the chunk threads stop (the audio thread may go on).
    one_chunk_done: bool,
    last_idle: usize,
}

enum Next {
    Task(TaskId),
    Watch(Vec<TaskId>),
    Done,
}

enum Outcome {
    Done,
    Held,
    Published(Box<Sidecar>),
    Retry,
    Exhausted(String),
    Interrupted,
    Environment(Box<EnvFailure>),
    /// The render failed and so did the plan's trial: the settings' fault, not the chunk's.
    TrialFailed,
}

struct Scheduler<'a> {
    dir: &'a PlanDir,
    loaded: &'a LoadedPlan,
    options: &'a WorkOptions,
    observer: &'a dyn Observer,
    renderer: Renderer,
    watcher: DirWatcher,
    queue: Mutex<Queue>,
    wake: Condvar,
    summary: Mutex<WorkSummary>,
    refreshed: Mutex<HashSet<TaskId>>,
    /// Tasks and previous holders already warned about (see `leave_to_holder`).
    warned: Mutex<HashSet<(TaskId, String)>>,
    /// How long a render may make no progress before it is killed (`None`: never).
    stall_limit: Option<Duration>,
}

/// The order the chunk threads try tasks in: chunks from the asked-for first one (array index),
/// wrapping around, with the parts of audio outputs rendered in parts before them (after the
/// asked-for chunk, which is that array task's own). An audio output rendered whole is not
/// among them: it has a thread of its own from the start (so a failing track shows up early and
/// its single-threaded encode does not leave one core idle at the end of the run).
fn task_order(loaded: &LoadedPlan, first_index: Option<u32>) -> Vec<TaskId> {
    let chunks = loaded.chunks.len() as u32;
    let first = first_index.filter(|&i| i < chunks);
    let mut order: Vec<TaskId> = (0..chunks)
        .map(|k| TaskId::Chunk((first.unwrap_or(0) + k) % chunks))
        .collect();
    let parts = loaded
        .audio_tasks()
        .into_iter()
        .filter(|task| matches!(task, TaskId::AudioPart(..)));
    let at = usize::from(first.is_some()).min(order.len());
    order.splice(at..at, parts);
    order
}

/// Works on a planDir until every task is done (or failed for good, or a signal arrives),
/// rendering with ffmpeg.
pub fn work(
    dir: &PlanDir,
    options: &WorkOptions,
    observer: &dyn Observer,
) -> Result<WorkSummary, WorkError> {
    work_with(dir, options, observer, render::render_task)
}

/// [`work`] with a given renderer.
pub fn work_with(
    dir: &PlanDir,
    options: &WorkOptions,
    observer: &dyn Observer,
    renderer: Renderer,
) -> Result<WorkSummary, WorkError> {
    runner::install_signal_handlers();
    let (_plan_lock, loaded) = open_for_work(dir, options)?;
    let tasks = loaded.tasks();
    let done_tasks: Vec<TaskId> = tasks
        .iter()
        .copied()
        .filter(|&t| dir.is_done(&loaded, t))
        .collect();
    let frames_done = done_tasks
        .iter()
        .filter_map(|&t| loaded.chunk(t))
        .map(Chunk::frames)
        .sum();
    let stall_limit = match options.stall_timeout {
        StallTimeout::Off => None,
        StallTimeout::After(limit) => Some(limit),
        StallTimeout::FromPlan => Some(default_stall_limit(
            crate::plandir::estimate::slowest_seconds_per_frame(dir, &loaded, &done_tasks),
        )),
    };
    crate::sys::log::log(
        crate::sys::log::Level::Debug,
        "stall limit",
        &[(
            "seconds",
            stall_limit.map_or("off".to_string(), |l| l.as_secs_f64().to_string()),
        )],
    );
    let threads = match (options.once, options.threads) {
        (true, _) => 1,
        (false, Some(threads)) => threads.max(1),
        (false, None) => crate::sys::host::default_worker_slots(loaded.plan.encoder.threads),
    };
    observer.on(&Event::Started {
        plan_hash: loaded.plan.plan_hash.clone(),
        tasks: tasks.len(),
        done: done_tasks.len(),
        frames_total: loaded.plan.output.total_frames(),
        frames_done,
        threads,
    });
    let scheduler = Scheduler {
        dir,
        loaded: &loaded,
        options,
        observer,
        renderer,
        watcher: DirWatcher::new([
            dir.output_dir(TaskId::Audio(0)).as_path(),
            dir.output_dir(TaskId::Chunk(0)).as_path(),
        ]),
        queue: Mutex::new(Queue {
            pending: task_order(&loaded, options.first_index).into(),
            held_elsewhere: Vec::new(),
            watching: false,
            rendering: 0,
            stop: false,
            one_chunk_done: false,
            last_idle: 0,
        }),
        wake: Condvar::new(),
        summary: Mutex::new(WorkSummary::default()),
        refreshed: Mutex::new(HashSet::new()),
        warned: Mutex::new(HashSet::new()),
        stall_limit,
    };
    let audio_tasks: Vec<TaskId> = loaded
        .audio_tasks()
        .into_iter()
        .filter(|task| matches!(task, TaskId::Audio(_)) && !done_tasks.contains(task))
        .collect();
    let audio_thread = !audio_tasks.is_empty();
    let first_error = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| scheduler.run_thread()))
            .chain(audio_thread.then(|| scope.spawn(|| scheduler.run_audio_thread(audio_tasks))))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("worker threads do not panic").err())
            .next()
    });
    let summary = scheduler
        .summary
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    observer.on(&Event::Finished {
        rendered: summary.rendered.len(),
        failed: summary.exhausted.len(),
        interrupted: summary.interrupted,
    });
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(summary),
    }
}

/// Takes the planDir's shared lock, checks that locks exclude there, and loads the plan, refusing
/// when the input changed or the remaining chunks cannot fit on disk.
fn open_for_work(
    dir: &PlanDir,
    options: &WorkOptions,
) -> Result<(PlanLock, LoadedPlan), WorkError> {
    if !dir.has_plan() {
        return Err(PlanDirError::NotAPlanDir {
            dir: dir.root().to_path_buf(),
        }
        .into());
    }
    let plan_lock = claim::lock_plan_shared(dir)?;
    // Locks that do not exclude would let workers render and delete each other's work.
    claim::self_test(dir)?;
    let loaded = dir.load()?;
    crate::plandir::write::check_input_unchanged(&loaded.plan)?;
    if options.check_ffmpeg {
        check_ffmpeg(&loaded.plan)?;
    }
    if options.space_check {
        let needed = crate::plandir::estimate::estimate_remaining(dir, &loaded);
        crate::sys::disk::ensure_free(dir.root(), "the remaining chunks", needed)?;
    }
    Ok((plan_lock, loaded))
}

/// Refuses to render with an ffmpeg other than the one the plan was made with: another version
/// or build makes other bytes, and a plan promises chunks that are the same whoever renders them.
fn check_ffmpeg(plan: &crate::plandir::schema::Plan) -> Result<(), WorkError> {
    let (version, configuration) = crate::ffmpeg::probe::installed_ffmpeg()?;
    let same_build =
        plan.ffmpeg_configuration.is_empty() || plan.ffmpeg_configuration == configuration;
    if version == plan.ffmpeg_version && same_build {
        return Ok(());
    }
    let flags =
        |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_string).collect() };
    let (planned, found) = (flags(&plan.ffmpeg_configuration), flags(&configuration));
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter()
            .filter(|f| !b.contains(f))
            .take(4)
            .cloned()
            .collect()
    };
    let difference = if version != plan.ffmpeg_version {
        format!("version {version}, the plan's is {}", plan.ffmpeg_version)
    } else {
        format!(
            "version {version} as planned, but built otherwise (only the plan's: {}; only this one: {})",
            only(&planned, &found).join(" "),
            only(&found, &planned).join(" ")
        )
    };
    Err(WorkError::OtherFfmpeg { difference })
}

impl Scheduler<'_> {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next(&self) -> Next {
        let mut q = self.lock_queue();
        loop {
            if q.stop || runner::interrupted() || self.trial_failed() {
                return Next::Done;
            }
            if q.one_chunk_done {
                q.pending.clear();
                q.held_elsewhere.clear();
            }
            if let Some(task) = q.pending.pop_front() {
                q.rendering += 1;
                return Next::Task(task);
            }
            if !q.held_elsewhere.is_empty() && !q.watching {
                q.watching = true;
                let held = std::mem::take(&mut q.held_elsewhere);
                if held.len() != q.last_idle {
                    q.last_idle = held.len();
                    self.observer.on(&Event::Idle {
                        waiting_for: held.len(),
                    });
                }
                return Next::Watch(held);
            }
            if !q.watching && q.rendering == 0 {
                return Next::Done;
            }
            q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn run_thread(&self) -> Result<(), PlanDirError> {
        loop {
            match self.next() {
                Next::Done => return Ok(()),
                Next::Watch(held) => {
                    self.watcher.wait(RECHECK_HELD);
                    let mut q = self.lock_queue();
                    q.watching = false;
                    q.pending.extend(held);
                    self.wake.notify_all();
                }
                Next::Task(task) => {
                    let outcome = self.attempt(task);
                    let mut q = self.lock_queue();
                    q.rendering -= 1;
                    let result = match outcome {
                        Ok(Outcome::Held) => {
                            q.held_elsewhere.push(task);
                            Ok(())
                        }
                        Ok(Outcome::Retry) => {
                            q.pending.push_back(task);
                            Ok(())
                        }
                        Ok(outcome) => {
                            self.record(&mut q, task, outcome);
                            Ok(())
                        }
                        Err(e) => {
                            q.stop = true;
                            Err(e)
                        }
                    };
                    self.wake.notify_all();
                    result?;
                }
            }
        }
    }

    /// Records an attempt that settled its task (done, published, failed for good, or
    /// interrupted, which stops every thread); `Held` and `Retry` are the callers' to re-queue.
    fn record(&self, q: &mut Queue, task: TaskId, outcome: Outcome) {
        match outcome {
            Outcome::Done | Outcome::Held | Outcome::Retry => {}
            Outcome::Published(sidecar) => {
                q.one_chunk_done |= self.options.once && matches!(task, TaskId::Chunk(_));
                self.summary_mut().rendered.push(*sidecar);
            }
            Outcome::Exhausted(error) => self.summary_mut().exhausted.push((task, error)),
            Outcome::Interrupted => {
                q.stop = true;
                self.summary_mut().interrupted = true;
            }
            Outcome::TrialFailed => q.stop = true,
            // Whatever stopped this render would stop the next one: stop claiming.
            Outcome::Environment(failure) => {
                q.stop = true;
                self.summary_mut().environment.push(*failure);
            }
        }
    }

    /// The audio tasks' own thread: renders them one after the other (retrying failed
    /// attempts); a task another worker holds is left for later, and once only such tasks are
    /// left it waits for their holders to publish them or die — except with `--once`, which
    /// leaves them to their holders.
    fn run_audio_thread(&self, tasks: Vec<TaskId>) -> Result<(), PlanDirError> {
        let mut pending: VecDeque<TaskId> = tasks.into();
        let mut held = Vec::new();
        loop {
            if self.lock_queue().stop || runner::interrupted() || self.trial_failed() {
                return Ok(());
            }
            let Some(task) = pending.pop_front() else {
                if held.is_empty() || self.options.once {
                    return Ok(());
                }
                self.watcher.wait(RECHECK_HELD);
                pending.extend(held.drain(..));
                continue;
            };
            let outcome = self.attempt(task);
            let mut q = self.lock_queue();
            match outcome {
                Ok(Outcome::Retry) => pending.push_front(task),
                Ok(Outcome::Held) => held.push(task),
                Ok(outcome) => {
                    self.record(&mut q, task, outcome);
                    self.wake.notify_all();
                }
                Err(e) => {
                    q.stop = true;
                    self.wake.notify_all();
                    return Err(e);
                }
            }
        }
    }

    fn trial_failed(&self) -> bool {
        self.options.trial.as_ref().is_some_and(|t| t.failed())
    }

    fn summary_mut(&self) -> std::sync::MutexGuard<'_, WorkSummary> {
        self.summary.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims and renders a task. I/O errors of the environment (a full disk, a vanished
    /// planDir, no descriptors left) become [`Outcome::Environment`], recorded in the task's
    /// attempt record (best effort: the disk may be full) but never counted as an attempt.
    fn attempt(&self, task: TaskId) -> Result<Outcome, PlanDirError> {
        let dir = self.dir;
        if dir.is_done(self.loaded, task) {
            return Ok(Outcome::Done);
        }
        // A worker whose planDir was removed and planned again claims nothing in the new plan.
        if let Err(error) = dir.check_plan_identity(&self.loaded.plan) {
            return self.environment_or(task, error);
        }
        let lock = match claim::try_claim(dir, task) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Ok(Outcome::Held),
            Err(source) => {
                let error = claim::lock_error(dir, dir.lock(task), source);
                return self.environment_or(task, error);
            }
        };
        let outcome = self
            .claimed(task, &lock)
            .or_else(|e| self.environment_or(task, e))?;
        if let Outcome::Environment(failure) = &outcome {
            if let Err(e) =
                attempts::record_environment(dir, task, failure.cause, failure.to_string())
            {
                crate::sys::log::log(
                    crate::sys::log::Level::Warn,
                    "could not record the environment error",
                    &[
                        ("path", dir.attempts(task).display().to_string()),
                        ("error", e.to_string()),
                    ],
                );
            }
            self.observer.on(&Event::Environment {
                task: task.into(),
                cause: failure.cause,
                error: failure.to_string(),
            });
        }
        Ok(outcome)
    }

    /// An error of the environment as an outcome; any other error as it is.
    fn environment_or(&self, task: TaskId, error: PlanDirError) -> Result<Outcome, PlanDirError> {
        match EnvFailure::of_plandir_error(task, self.dir.root(), &error) {
            Some(failure) => Ok(Outcome::Environment(Box::new(failure))),
            None => Err(error),
        }
    }

    /// The part of [`Self::attempt`] that runs while holding the task's lock.
    fn claimed(&self, task: TaskId, lock: &TaskLock) -> Result<Outcome, PlanDirError> {
        let dir = self.dir;
        // Someone may have published between our check and our claim.
        if dir.is_done(self.loaded, task) {
            return Ok(Outcome::Done);
        }
        // Before anything is announced or touched: is the previous holder gone?
        match publish::vet_previous_holder(dir, self.loaded, lock) {
            Ok(_) => {}
            Err(PlanDirError::HolderActive {
                task,
                holder,
                seconds,
                quiet_seconds,
            }) => return Ok(self.leave_to_holder(task, holder, seconds, quiet_seconds)),
            Err(e) => return Err(e),
        }
        let record = attempts::read(dir, task);
        if record.exhausted {
            let first_refresh = self.options.retry_failed
                && self
                    .refreshed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(task);
            if !first_refresh {
                return Ok(Outcome::Exhausted(
                    record
                        .last_error()
                        .unwrap_or("no error recorded")
                        .to_string(),
                ));
            }
            attempts::grant_fresh_attempts(dir, task).map_err(|source| PlanDirError::Write {
                path: dir.attempts(task),
                source,
            })?;
        }
        self.render(task, lock)
    }

    /// A task whose previous holder, on another host, wrote moments ago: left to it for now
    /// (it is tried again later, and taken over once that holder has been silent long enough),
    /// with one warning per holder, since a holder that is still running means that locks do
    /// not exclude across these hosts.
    fn leave_to_holder(
        &self,
        task: TaskId,
        holder: String,
        seconds: f64,
        quiet_seconds: u64,
    ) -> Outcome {
        let first = self
            .warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((task, holder.clone()));
        if first {
            let warning = PlanDirError::HolderActive {
                task,
                holder,
                seconds,
                quiet_seconds,
            };
            crate::sys::log::log(
                crate::sys::log::Level::Warn,
                &warning.to_string(),
                &[("planDir", self.dir.root().display().to_string())],
            );
        }
        Outcome::Held
    }

    fn render(&self, task: TaskId, lock: &TaskLock) -> Result<Outcome, PlanDirError> {
        let frames = self.loaded.chunk(task).map_or(0, |c| c.frames());
        // From the claim on, `vre status` sees who holds the task and since when it has made no
        // progress, even if the render never starts.
        self.dir
            .write_progress(task, (0, frames), 0.0, self.stall_limit);
        self.observer.on(&Event::Claimed {
            task: task.into(),
            frames,
        });
        let mut last_write = Instant::now();
        let mut progress = render::Progress::default();
        let mut on_alive = |alive: render::Alive| {
            if let render::Alive::Progress(p) = alive {
                progress = p;
                self.observer.on(&Event::Progress {
                    task: task.into(),
                    frames_done: p.frames,
                    frames,
                    fps: p.fps,
                });
            }
            if last_write.elapsed() >= PROGRESS_EVERY {
                last_write = Instant::now();
                // The plan and its inputs are proven again with every progress record: renders
                // that could never be published are abandoned now, not when they end.
                match publish::check_still_current(self.dir, self.loaded) {
                    Err(e) if e.invalidates_work() => runner::kill_running(),
                    _ => self.dir.write_progress(
                        task,
                        (progress.frames, frames),
                        progress.fps,
                        self.stall_limit,
                    ),
                }
            }
        };
        let result = (self.renderer)(self.dir, self.loaded, lock, self.stall_limit, &mut on_alive);
        // A render that failed because its plan was replaced or its input changed under it is
        // no attempt: the worker stops.
        let invalidated = match &result {
            Ok(_) | Err(RenderError::Interrupted) => None,
            Err(_) => publish::check_still_current(self.dir, self.loaded)
                .err()
                .filter(PlanDirError::invalidates_work),
        };
        let result = invalidated.map_or(result, |e| Err(RenderError::PlanDir(e)));
        // Another worker's progress record, or another planDir's, is not this worker's to remove.
        let not_ours = matches!(
            &result,
            Err(RenderError::PlanDir(
                PlanDirError::PlanReplaced { .. }
                    | PlanDirError::LocksDoNotExclude { .. }
                    | PlanDirError::HolderActive { .. }
            ))
        );
        if !not_ours {
            self.dir.clear_progress(task);
        }
        match result {
            Ok(sidecar) => {
                self.observer.on(&Event::Published {
                    task: TaskRef::from(task),
                    frames,
                    seconds: sidecar.encode_seconds,
                    bytes: sidecar.bytes,
                });
                Ok(Outcome::Published(Box::new(sidecar)))
            }
            // A render cut short by a signal (ffmpeg or ffprobe killed) is not an attempt.
            Err(RenderError::Interrupted) => Ok(Outcome::Interrupted),
            Err(RenderError::Failed { .. } | RenderError::Environment(_))
                if runner::interrupted() =>
            {
                Ok(Outcome::Interrupted)
            }
            Err(RenderError::PlanDir(PlanDirError::HolderActive {
                task,
                holder,
                seconds,
                quiet_seconds,
            })) => Ok(self.leave_to_holder(task, holder, seconds, quiet_seconds)),
            Err(RenderError::PlanDir(e)) => Err(e),
            // Killed because the trial rejected the plan: not the environment's doing (a failed
            // render is the trial's business in the arm below).
            Err(RenderError::Environment(_)) if self.trial_failed() => Ok(Outcome::TrialFailed),
            Err(RenderError::Environment(failure)) => Ok(Outcome::Environment(Box::new(failure))),
            Err(RenderError::Failed { .. })
                if self.options.trial.as_ref().is_some_and(|t| !t.passed()) =>
            {
                Ok(match runner::interrupted() {
                    true => Outcome::Interrupted,
                    false => Outcome::TrialFailed,
                })
            }
            Err(RenderError::Failed { reason, log }) => {
                let record = attempts::record_failure(
                    self.dir,
                    task,
                    &reason,
                    &log,
                    self.options.max_attempts,
                )?;
                self.observer.on(&Event::Failed {
                    task: task.into(),
                    attempt: record.failures.len() as u32,
                    exhausted: record.exhausted,
                    error: reason.clone(),
                });
                Ok(if record.exhausted {
                    Outcome::Exhausted(reason)
                } else {
                    Outcome::Retry
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_stall_limit_is_the_floor_or_the_slowest_speeds_hundred_frames() {
        assert_eq!(default_stall_limit(None), STALL_FLOOR);
        assert_eq!(default_stall_limit(Some(0.05)), STALL_FLOOR);
        assert_eq!(default_stall_limit(Some(2.504)), Duration::from_secs(251));
        assert_eq!(default_stall_limit(Some(f64::NAN)), STALL_FLOOR);
        assert_eq!(StallTimeout::from_flag(Some(0)), StallTimeout::Off);
        assert_eq!(
            StallTimeout::from_flag(Some(7)),
            StallTimeout::After(Duration::from_secs(7))
        );
        assert_eq!(StallTimeout::from_flag(None), StallTimeout::FromPlan);
    }
}
