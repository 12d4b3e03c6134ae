//! Where every file of a planDir lives. All paths are derived here from fixed names and task
//! indices, never from strings read out of `plan.json`, so a tampered plan cannot make vre write
//! outside its planDir.

use crate::plandir::error::PlanDirError;
use crate::plandir::schema::{Plan, TaskId};
use std::fs;
use std::path::{Path, PathBuf};

/// `plan.json`: everything the render depends on, and the plan hash.
const PLAN_FILE: &str = "plan.json";
/// `chunks.json`: the chunks' half-open frame ranges.
const CHUNKS_FILE: &str = "chunks.json";
/// `index.bin`: the input's frame index.
const INDEX_FILE: &str = "index.bin";
/// `stages.json`: when plan, work and assembly ran.
const STAGES_FILE: &str = "stages.json";
/// Where `vre report` writes its page unless told otherwise.
const REPORT_FILE: &str = "report.html";
/// The name assembly's concat lists are written beside.
const CONCAT_LIST_FILE: &str = "concat.txt";
/// The name assembly's FFMETADATA files (tags, chapters) are written beside.
const METADATA_FILE: &str = "metadata.ffmeta";
/// The names assembly's cut subtitles are written beside (Matroska, or mp4 for mp4 and mov).
const SUBTITLE_FILES: [&str; 2] = ["subtitles.mkv", "subtitles.mp4"];
/// What assembly adds to an audio output's stem for the concat list of its parts.
const AUDIO_PARTS_LIST_SUFFIX: &str = "-parts.txt";
/// What assembly adds to an audio output's stem for its parts joined.
const JOINED_AUDIO_SUFFIX: &str = "-joined.m4a";
/// Published chunks and their sidecars.
const CHUNKS_DIR: &str = "chunks";
/// The audio task's output and sidecar.
const AUDIO_DIR: &str = "audio";
/// The extension of an audio part's file (parts are AAC in mp4, whatever the output's format).
const AUDIO_PART_EXTENSION: &str = "m4a";
/// One lock file per task, plus `plan.lock`.
const LOCKS_DIR: &str = "locks";
/// Failed attempts per task.
const ATTEMPTS_DIR: &str = "attempts";
/// One log per failed attempt.
const LOGS_DIR: &str = "logs";
/// How far running tasks are.
const PROGRESS_DIR: &str = "progress";
/// Each chunk's first-pass statistics (`--passes 2`).
const PASSLOG_DIR: &str = "passlog";
/// What the encoders add to a chunk's statistics prefix: ffmpeg's own log and x264's macroblock
/// tree (`-0.log`), x265's log and CU tree (`-x265.log`), each also as the `.temp` x264 and x265
/// write before renaming.
const PASSLOG_SUFFIXES: [&str; 8] = [
    "-0.log",
    "-0.log.temp",
    "-0.log.mbtree",
    "-0.log.mbtree.temp",
    "-x265.log",
    "-x265.log.temp",
    "-x265.log.cutree",
    "-x265.log.cutree.temp",
];
/// The folders below the root, in the order they are created.
const LAYOUT_DIRS: [&str; 7] = [
    CHUNKS_DIR,
    AUDIO_DIR,
    LOCKS_DIR,
    ATTEMPTS_DIR,
    LOGS_DIR,
    PROGRESS_DIR,
    PASSLOG_DIR,
];
/// The files of the root.
const ROOT_FILES: [&str; 9] = [
    PLAN_FILE,
    CHUNKS_FILE,
    INDEX_FILE,
    STAGES_FILE,
    REPORT_FILE,
    CONCAT_LIST_FILE,
    METADATA_FILE,
    SUBTITLE_FILES[0],
    SUBTITLE_FILES[1],
];
/// The probe lock `vre doctor --hold` takes in `locks/` of a planDir.
const DOCTOR_LOCK_FILE: &str = "doctor.lock";

/// A planDir on disk: all paths inside it.
#[derive(Debug, Clone)]
pub struct PlanDir {
    root: PathBuf,
}

impl PlanDir {
    /// A planDir at `root` (which may not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PlanDir { root: root.into() }
    }

    /// The planDir's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `plan.json`.
    pub fn plan_path(&self) -> PathBuf {
        self.root.join(PLAN_FILE)
    }

    /// `chunks.json`.
    pub fn chunks_path(&self) -> PathBuf {
        self.root.join(CHUNKS_FILE)
    }

    /// `index.bin`, the input's frame index.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// `stages.json`, when each stage of the run happened.
    pub fn stages_path(&self) -> PathBuf {
        self.root.join(STAGES_FILE)
    }

    /// `report.html`, where `vre report` writes by default.
    pub fn report_path(&self) -> PathBuf {
        self.root.join(REPORT_FILE)
    }

    /// The published output of a task.
    pub fn output(&self, plan: &Plan, task: TaskId) -> PathBuf {
        let ext = match task {
            TaskId::Audio(_) => plan
                .audio_output(task)
                .map_or("m4a", |a| a.codec.file_format(plan.output.container).1),
            TaskId::AudioPart(..) => AUDIO_PART_EXTENSION,
            TaskId::Chunk(_) => plan.chunk_extension(),
        };
        self.output_dir(task).join(format!("{}.{ext}", task.stem()))
    }

    /// The sidecar of a task.
    pub fn sidecar(&self, task: TaskId) -> PathBuf {
        self.output_dir(task).join(format!("{}.json", task.stem()))
    }

    /// The directory holding a task's output (and its temp files while it renders).
    pub fn output_dir(&self, task: TaskId) -> PathBuf {
        self.root.join(match task {
            TaskId::Audio(_) | TaskId::AudioPart(..) => AUDIO_DIR,
            TaskId::Chunk(_) => CHUNKS_DIR,
        })
    }

    /// `path` relative to the planDir's root, as written into the planDir's own files (concat
    /// lists, attempt records); `path` itself when it is not inside the planDir.
    pub fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// The directory of the lock files.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join(LOCKS_DIR)
    }

    /// The lock file of a task.
    pub fn lock(&self, task: TaskId) -> PathBuf {
        self.locks_dir().join(format!("{}.lock", task.stem()))
    }

    /// The lock file that workers hold shared and a re-plan holds exclusively.
    pub fn plan_lock(&self) -> PathBuf {
        self.locks_dir().join("plan.lock")
    }

    /// The name a worker's lock self-test probes under (each probe is a unique temp file
    /// beside it, removed after the test).
    pub fn lock_probe(&self) -> PathBuf {
        self.locks_dir().join("self-test.lock")
    }

    /// The record of failed attempts of a task.
    pub fn attempts(&self, task: TaskId) -> PathBuf {
        self.root
            .join(ATTEMPTS_DIR)
            .join(format!("{}.json", task.stem()))
    }

    /// The log of one attempt of a task.
    pub fn attempt_log(&self, task: TaskId, attempt: u32) -> PathBuf {
        self.root
            .join(LOGS_DIR)
            .join(format!("{}.attempt-{attempt}.log", task.stem()))
    }

    /// The progress record of a running task.
    pub fn progress(&self, task: TaskId) -> PathBuf {
        self.root
            .join(PROGRESS_DIR)
            .join(format!("{}.json", task.stem()))
    }

    /// The prefix a chunk's first pass writes its statistics under (the encoders add
    /// [`PASSLOG_SUFFIXES`]).
    pub fn pass_stats(&self, task: TaskId) -> PathBuf {
        self.root.join(PASSLOG_DIR).join(task.stem())
    }

    /// The name concat lists are written under by assembly (each assembly uses a private temp
    /// file beside it).
    pub fn concat_list(&self) -> PathBuf {
        self.root.join(CONCAT_LIST_FILE)
    }

    /// The name assembly writes the FFMETADATA file of the plan's tags and chapters under (each
    /// assembly uses a private temp file beside it).
    pub fn metadata_file(&self) -> PathBuf {
        self.root.join(METADATA_FILE)
    }

    /// The name assembly writes the input's subtitles under, cut for the output, in the file
    /// format with extension `ext` (`mkv`, `mp4`; each assembly uses a private temp file beside
    /// it).
    pub fn subtitles_file(&self, ext: &str) -> PathBuf {
        let name = SUBTITLE_FILES
            .into_iter()
            .find(|name| name.strip_prefix("subtitles.") == Some(ext))
            .unwrap_or(SUBTITLE_FILES[0]);
        self.root.join(name)
    }

    /// The names assembly writes its private files under in the root: the concat list, the
    /// FFMETADATA file, the cut subtitles, and for each of the plan's `audio_outputs` outputs
    /// the list and the joined file of its parts.
    pub fn assembly_files(&self, audio_outputs: u32) -> Vec<PathBuf> {
        let mut files = vec![
            self.concat_list(),
            self.metadata_file(),
            self.root.join(SUBTITLE_FILES[0]),
            self.root.join(SUBTITLE_FILES[1]),
        ];
        for n in 0..audio_outputs {
            files.push(self.audio_parts_list(n));
            files.push(self.joined_audio(n));
        }
        files
    }

    /// The name assembly writes the concat list of audio output `n`'s parts under.
    pub fn audio_parts_list(&self, n: u32) -> PathBuf {
        self.root.join(format!(
            "{}{AUDIO_PARTS_LIST_SUFFIX}",
            TaskId::Audio(n).stem()
        ))
    }

    /// The name assembly joins audio output `n`'s parts under, by stream copy.
    pub fn joined_audio(&self, n: u32) -> PathBuf {
        self.root
            .join(format!("{}{JOINED_AUDIO_SUFFIX}", TaskId::Audio(n).stem()))
    }

    /// Creates the planDir and its subdirectories.
    pub fn create_layout(&self) -> Result<(), PlanDirError> {
        for sub in std::iter::once("").chain(LAYOUT_DIRS) {
            let dir = self.root.join(sub);
            fs::create_dir_all(&dir).map_err(|source| PlanDirError::Write { path: dir, source })?;
        }
        Ok(())
    }

    /// Whether a plan.json exists.
    pub fn has_plan(&self) -> bool {
        self.plan_path().is_file()
    }

    /// The folders of the layout below the root (`chunks/`, `audio/`, `locks/`, …), named.
    pub fn layout_dirs(&self) -> impl Iterator<Item = (&'static str, PathBuf)> + '_ {
        LAYOUT_DIRS
            .into_iter()
            .map(|name| (name, self.root.join(name)))
    }

    /// Checks that every folder of the layout that exists is a real directory: not a symbolic
    /// link (vre would read, write and remove files wherever it points) nor anything else. The
    /// root itself may be a link.
    pub fn check_layout(&self) -> Result<(), PlanDirError> {
        for (_, path) in self.layout_dirs() {
            let what = match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(meta) if meta.file_type().is_symlink() => "a symbolic link",
                Ok(_) => "not a directory",
                // No layout yet (or no directory for one: whoever writes there will say so).
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    continue
                }
                Err(source) => return Err(PlanDirError::Read { path, source }),
            };
            return Err(PlanDirError::UnsafeLayout { path, what });
        }
        Ok(())
    }
}

/// The task part of a name: `chunk-NNNNNN` (six digits or more), `audio` or `audio-N` (N from
/// 1, no leading zero), either of those followed by `-part-NNNNNN`.
fn is_task_stem(stem: &str) -> bool {
    is_audio_task_stem(stem)
        || stem
            .strip_prefix("chunk-")
            .is_some_and(|n| n.len() >= 6 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a stem names an audio task: a whole output's or a part's (`…-part-NNNNNN`).
fn is_audio_task_stem(stem: &str) -> bool {
    is_audio_stem(stem)
        || stem.rsplit_once("-part-").is_some_and(|(output, part)| {
            is_audio_stem(output) && part.len() >= 6 && part.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Whether a stem names an audio output: `audio` (the first output) or `audio-N` (N from 1).
fn is_audio_stem(stem: &str) -> bool {
    stem == "audio"
        || stem.strip_prefix("audio-").is_some_and(|n| {
            !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Whether `name` is a name vre gives a file of its own in the layout folder `folder` (`None`:
/// the root): a published, recorded or lock file of any task of any plan, or a root file. Temp
/// names are a matter of their writers (`fsio`, `owned`, `publish::FrameLogs`).
pub fn names_own_file(folder: Option<&str>, name: &str) -> bool {
    let split = |ext: &str| name.strip_suffix(ext).filter(|stem| is_task_stem(stem));
    match folder {
        None => {
            ROOT_FILES.contains(&name)
                || [AUDIO_PARTS_LIST_SUFFIX, JOINED_AUDIO_SUFFIX]
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix).is_some_and(is_audio_stem))
        }
        Some(CHUNKS_DIR) => {
            let mut exts = crate::codecs::VideoCodec::ALL
                .map(|c| c.chunk_format().1)
                .to_vec();
            exts.push("json");
            exts.iter()
                .any(|ext| split(&format!(".{ext}")).is_some_and(|s| !is_audio_task_stem(s)))
        }
        Some(AUDIO_DIR) => {
            let mut exts: Vec<&str> = crate::codecs::AudioCodec::ALL
                .into_iter()
                .flat_map(|codec| crate::codecs::Container::ALL.map(|c| codec.file_format(c).1))
                .collect();
            exts.push("json");
            exts.iter().any(|ext| {
                name.strip_suffix(&format!(".{ext}"))
                    .is_some_and(is_audio_task_stem)
            })
        }
        Some(LOCKS_DIR) => {
            let Some(stem) = name.strip_suffix(".lock") else {
                return false;
            };
            is_task_stem(stem)
                || stem == "plan"
                || name == DOCTOR_LOCK_FILE
                || stem
                    .strip_prefix("doctor-")
                    .is_some_and(crate::sys::fsio::is_unique_suffix)
        }
        Some(ATTEMPTS_DIR | PROGRESS_DIR) => split(".json").is_some(),
        Some(PASSLOG_DIR) => PASSLOG_SUFFIXES
            .iter()
            .any(|suffix| split(suffix).is_some_and(|s| !is_audio_task_stem(s))),
        Some(LOGS_DIR) => name
            .strip_suffix(".log")
            .and_then(|rest| rest.rsplit_once(".attempt-"))
            .is_some_and(|(stem, n)| {
                is_task_stem(stem) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            }),
        Some(_) => false,
    }
}
