//! What in a planDir is vre's own, and removing it: vre removes only the files its layout names
//! (root files, task outputs, sidecars, locks, attempt records, logs, progress records) and the
//! temp names of their writers, then each layout folder and the root only once empty. It never
//! follows a symbolic link (a link is never vre's) and reports whatever else it found, which it
//! leaves in place.

use crate::plandir::claim;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::{self, PlanDir};
use crate::plandir::publish::FrameLogs;
use crate::plandir::schema::TaskId;
use crate::sys::{fsio, owned};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A planDir's entries, sorted into vre's own and the rest.
#[derive(Debug, Default)]
struct Survey {
    /// vre's files.
    own_files: Vec<PathBuf>,
    /// vre's layout folders (real directories).
    own_dirs: Vec<PathBuf>,
    /// Everything else, not looked into.
    foreign: Vec<PathBuf>,
}

/// Whether `name` in the layout folder `folder` (`None`: the root) is a file of vre's: a name of
/// the layout, a temp name of one (`.NAME.tmp`, `.NAME.tmp-UNIQUE`, an owned temp) or a frame
/// log beside such a temp.
fn is_own_file_name(folder: Option<&str>, name: &str) -> bool {
    if layout::names_own_file(folder, name) {
        return true;
    }
    let temp = FrameLogs::logged_name(name).unwrap_or(name);
    if let Some(target) = fsio::temp_target(temp) {
        return layout::names_own_file(folder, target);
    }
    owned::parse(temp).is_some_and(|t| layout::names_own_file(folder, &t.target))
}

/// Sorts the entries of a folder: regular files with vre's names are its own, everything else
/// (links, folders, other files) is not.
fn survey_folder(
    path: &Path,
    folder: Option<&str>,
    survey: &mut Survey,
    mut visit_dir: impl FnMut(&str, PathBuf, &mut Survey) -> Result<(), PlanDirError>,
) -> Result<(), PlanDirError> {
    let read = |source| PlanDirError::Read {
        path: path.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(read(e)),
    };
    for entry in entries {
        let entry = entry.map_err(read)?;
        let kind = entry.file_type().map_err(read)?;
        let name = entry.file_name();
        let name = name.to_str().unwrap_or_default();
        if kind.is_file() && is_own_file_name(folder, name) {
            survey.own_files.push(entry.path());
        } else if kind.is_dir() {
            visit_dir(name, entry.path(), survey)?;
        } else {
            survey.foreign.push(entry.path());
        }
    }
    Ok(())
}

/// Sorts every entry of a planDir (the root is followed if it is a link; nothing inside is).
fn survey(dir: &PlanDir) -> Result<Survey, PlanDirError> {
    let mut survey = Survey::default();
    let layout: Vec<&'static str> = dir.layout_dirs().map(|(name, _)| name).collect();
    survey_folder(dir.root(), None, &mut survey, |name, path, survey| {
        match layout.iter().find(|&&folder| folder == name) {
            Some(&folder) => {
                survey_folder(&path, Some(folder), survey, |_, inner, survey| {
                    survey.foreign.push(inner);
                    Ok(())
                })?;
                survey.own_dirs.push(path);
            }
            None => survey.foreign.push(path),
        }
        Ok(())
    })?;
    survey.foreign.sort();
    Ok(survey)
}

/// A few paths for a message: `a, b, c and 4 more`.
pub fn describe(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let mut text = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

/// Checks that `dir` can hold a new plan or already holds one: it does not exist, or is a
/// directory that holds a plan.json, or nothing but vre's files (an empty one). Refuses a
/// directory of someone else's files, which vre would otherwise mix with its own.
pub fn check_can_hold_plan(dir: &PlanDir) -> Result<(), PlanDirError> {
    let refuse = |why: String| PlanDirError::Foreign {
        dir: dir.root().to_path_buf(),
        why,
    };
    match fs::metadata(dir.root()) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(PlanDirError::Read {
                path: dir.root().to_path_buf(),
                source,
            })
        }
        Ok(meta) if !meta.is_dir() => return Err(refuse("it is not a directory".to_string())),
        Ok(_) => {}
    }
    if dir.has_plan() {
        return Ok(());
    }
    let foreign = survey(dir)?.foreign;
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(refuse(format!(
            "it has no plan.json and holds files that are not vre's ({})",
            describe(&foreign)
        )))
    }
}

/// The order files are removed in, so that a removal cut short leaves a planDir that still
/// loads and resumes: sidecars first (nothing stays proven without its output), plan.json last.
fn removal_rank(dir: &PlanDir, path: &Path) -> u8 {
    let in_output_dir = path.parent().is_some_and(|p| {
        [TaskId::Audio(0), TaskId::Chunk(0)]
            .iter()
            .any(|&task| dir.output_dir(task) == p)
    });
    let is_sidecar = in_output_dir
        && path.extension().is_some_and(|e| e == "json")
        && !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    if is_sidecar {
        0
    } else if path == dir.plan_path() {
        2
    } else {
        1
    }
}

/// Removes a planDir's own files, then each layout folder and the root if nothing else is in
/// them; returns what it left, which is not vre's. Holds the plan lock exclusively while it
/// removes, so it refuses ([`PlanDirError::Busy`]) while a worker runs on it. A root that is a
/// symbolic link is left (the folder it points to is emptied of vre's files).
pub fn remove_plan_dir(dir: &PlanDir) -> Result<Vec<PathBuf>, PlanDirError> {
    let root_meta = match fs::symlink_metadata(dir.root()) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(PlanDirError::Read {
                path: dir.root().to_path_buf(),
                source,
            })
        }
    };
    let locks_dir_is_real = fs::symlink_metadata(dir.locks_dir()).is_ok_and(|m| m.is_dir());
    let _lock = (locks_dir_is_real && dir.plan_lock().is_file())
        .then(|| claim::lock_plan_exclusive(dir))
        .transpose()?;
    let mut survey = survey(dir)?;
    survey.own_files.sort_by_key(|path| removal_rank(dir, path));
    for path in &survey.own_files {
        fsio::remove_if_exists(path).map_err(|source| PlanDirError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let mut left = survey.foreign;
    let root = (!root_meta.file_type().is_symlink()).then(|| dir.root().to_path_buf());
    for folder in survey.own_dirs.into_iter().chain(root) {
        match fs::remove_dir(&folder) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Something not vre's is inside: already listed, unless it appeared meanwhile.
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                if !left.iter().any(|p| p.starts_with(&folder)) {
                    left.push(folder);
                }
            }
            Err(source) => {
                return Err(PlanDirError::Write {
                    path: folder,
                    source,
                })
            }
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A planDir with one of every kind of vre file, and a few files that are not vre's.
    fn crowded(root: &Path) -> (PlanDir, Vec<PathBuf>) {
        let dir = PlanDir::new(root);
        dir.create_layout().unwrap();
        let chunk = TaskId::Chunk(3);
        let chunk_out = dir.output_dir(chunk).join("chunk-000003.mp4");
        let render_temp = fsio::temp_path_for(&chunk_out);
        let logs = FrameLogs::beside(&render_temp);
        let own = [
            dir.plan_path(),
            dir.chunks_path(),
            dir.index_path(),
            dir.stages_path(),
            dir.report_path(),
            fsio::temp_path_for(&dir.concat_list()),
            owned::temp_path(&dir.concat_list(), "0123abcd"),
            owned::temp_path(&dir.metadata_file(), "0123abcd"),
            owned::temp_path(&dir.subtitles_file("mkv"), "0123abcd"),
            owned::temp_path(&dir.subtitles_file("mp4"), "0123abcd"),
            fsio::temp_path_for(&dir.plan_path()),
            chunk_out,
            dir.sidecar(chunk),
            fsio::locked_temp_path(&dir.sidecar(chunk)),
            render_temp.clone(),
            logs.source,
            logs.filtered,
            dir.output_dir(TaskId::Audio(0)).join("audio.m4a"),
            dir.sidecar(TaskId::Audio(0)),
            dir.output_dir(TaskId::Audio(2)).join("audio-2.ogg"),
            dir.sidecar(TaskId::Audio(2)),
            dir.lock(chunk),
            dir.lock(TaskId::Audio(0)),
            dir.lock(TaskId::Audio(1)),
            dir.plan_lock(),
            dir.locks_dir().join("doctor.lock"),
            dir.locks_dir()
                .join(format!("doctor-{}.lock", fsio::unique_suffix())),
            dir.attempts(chunk),
            fsio::locked_temp_path(&dir.attempts(chunk)),
            dir.attempt_log(chunk, 2),
            fsio::locked_temp_path(&dir.attempt_log(chunk, 3)),
            dir.progress(TaskId::Audio(0)),
            dir.attempts(TaskId::Audio(3)),
            dir.output_dir(TaskId::AudioPart(0, 0))
                .join("audio-part-000000.m4a"),
            dir.sidecar(TaskId::AudioPart(0, 7)),
            dir.sidecar(TaskId::AudioPart(2, 1)),
            dir.lock(TaskId::AudioPart(0, 12)),
            dir.attempt_log(TaskId::AudioPart(1, 3), 1),
            owned::temp_path(&dir.audio_parts_list(0), "0123abcd"),
            owned::temp_path(&dir.joined_audio(2), "0123abcd"),
        ];
        for path in &own {
            fs::write(path, b"vre").unwrap();
        }
        let foreign = vec![
            root.join("notes.txt"),
            root.join("chunks").join("my-edit.mp4"),
            root.join("logs").join("chunk-000003.attempt-x.log"),
            root.join("locks").join("mine.lock"),
            root.join(".plan.json.tmp-mine"),
            root.join("audio").join("audio.mp3"),
            root.join("audio").join("audio-x.flac"),
            root.join("audio").join("audio-0.flac"),
            root.join("audio").join("audio-part-1.m4a"),
            root.join("chunks").join("audio-part-000001.m4a"),
            root.join("audio-joined.mp3"),
            root.join("mix-joined.m4a"),
        ];
        for path in &foreign {
            fs::write(path, b"user").unwrap();
        }
        fs::create_dir(root.join("holiday")).unwrap();
        fs::write(root.join("holiday").join("a.jpg"), b"user").unwrap();
        let mut all_foreign = foreign;
        all_foreign.push(root.join("holiday"));
        all_foreign.sort();
        (dir, all_foreign)
    }

    #[test]
    fn removing_a_plan_dir_keeps_exactly_what_is_not_vres() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("job.vre");
        let (dir, foreign) = crowded(&root);
        let mut left = remove_plan_dir(&dir).unwrap();
        left.sort();
        assert_eq!(left, foreign);
        for path in &foreign {
            assert!(
                fs::symlink_metadata(path).is_ok(),
                "{} kept",
                path.display()
            );
        }
        assert!(!dir.plan_path().exists());
        assert!(!root.join("progress").exists(), "an emptied folder goes");
        assert!(
            matches!(check_can_hold_plan(&dir), Err(PlanDirError::Foreign { .. })),
            "what is left is not a planDir"
        );
        for path in &foreign {
            if fs::symlink_metadata(path).unwrap().is_dir() {
                fs::remove_dir_all(path).unwrap();
            } else {
                fs::remove_file(path).unwrap();
            }
        }
        assert_eq!(remove_plan_dir(&dir).unwrap(), Vec::<PathBuf>::new());
        assert!(!root.exists(), "an empty root goes");
    }

    #[test]
    fn links_are_never_followed_nor_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("chunk-000000.mp4"), b"precious").unwrap();
        fs::write(outside.join("plan.json"), b"precious").unwrap();
        let dir = PlanDir::new(tmp.path().join("job.vre"));
        dir.create_layout().unwrap();
        fs::write(dir.plan_path(), b"{}").unwrap();
        fs::remove_dir(dir.root().join("chunks")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.root().join("chunks")).unwrap();
        std::os::unix::fs::symlink(outside.join("plan.json"), dir.stages_path()).unwrap();
        let mut left = remove_plan_dir(&dir).unwrap();
        left.sort();
        assert_eq!(left, vec![dir.root().join("chunks"), dir.stages_path()]);
        assert_eq!(
            fs::read(outside.join("chunk-000000.mp4")).unwrap(),
            b"precious"
        );
        assert_eq!(fs::read(outside.join("plan.json")).unwrap(), b"precious");
        assert!(matches!(
            dir.check_layout(),
            Err(PlanDirError::UnsafeLayout { .. })
        ));
    }

    #[test]
    fn a_new_plan_dir_may_be_missing_empty_or_vres_but_not_someone_elses() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = PlanDir::new(tmp.path().join("job.vre"));
        check_can_hold_plan(&dir).unwrap();
        fs::create_dir(dir.root()).unwrap();
        check_can_hold_plan(&dir).unwrap();
        dir.create_layout().unwrap();
        fs::write(dir.lock(crate::plandir::schema::TaskId::Chunk(0)), b"").unwrap();
        check_can_hold_plan(&dir).unwrap();
        fs::write(dir.root().join("thesis.tex"), b"user").unwrap();
        let err = check_can_hold_plan(&dir).unwrap_err();
        assert!(err.to_string().contains("thesis.tex"), "{err}");
        fs::write(dir.plan_path(), b"{}").unwrap();
        check_can_hold_plan(&dir).unwrap();
        let file = PlanDir::new(tmp.path().join("job.vre").join("thesis.tex"));
        assert!(check_can_hold_plan(&file).is_err());
    }
}
