//! vre touches only what is its own: in a planDir only the files its layout names, never
//! anything through a link; OUT only with `--overwrite`; beside OUT only the temps of its own
//! dead assemblies. And a path reaches ffmpeg as written, `%` included.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vre::sys::host::ProcessIdentity;

/// A two-second clip without audio, lossless-friendly.
fn clip(dir: &Path) -> PathBuf {
    let input = dir.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 2.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    input
}

/// Every path under `dir` (links listed, not followed), relative to it, with file contents.
fn tree(dir: &Path) -> BTreeSet<(PathBuf, Vec<u8>)> {
    let mut found = BTreeSet::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        let name = PathBuf::from(entry.file_name());
        if kind.is_dir() {
            found.insert((name.clone(), Vec::new()));
            for (inner, bytes) in tree(&path) {
                found.insert((name.join(inner), bytes));
            }
        } else if kind.is_symlink() {
            found.insert((
                name,
                fs::read_link(&path).unwrap().into_os_string().into_vec(),
            ));
        } else {
            found.insert((name, fs::read(&path).unwrap()));
        }
    }
    found
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn run_refuses_a_folder_of_other_files_and_removes_only_its_own() {
    let tmp = temp_dir();
    let t = tmp.path();
    let input = clip(t);
    let expected = framemd5(&input, None);
    let out = t.join("out.mp4");
    let lossless = ["--chunks", "2", "--crf", "0"];

    // Someone else's folder: refused before any work, left as it was.
    let theirs = t.join("theirs");
    fs::create_dir(&theirs).unwrap();
    fs::write(theirs.join("thesis.tex"), b"years of work").unwrap();
    let before = tree(&theirs);
    let mut a = args!["run", input, "-o", out, "--plan-dir", theirs];
    a.extend(args![lossless[0], lossless[1], lossless[2], lossless[3]]);
    let refused = run_vre(&a);
    assert_eq!(code(&refused), Some(73), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains(&theirs.display().to_string()) && err.contains("thesis.tex"),
        "{err}"
    );
    assert_eq!(tree(&theirs), before, "the folder is untouched");
    assert!(!out.exists());

    // An empty folder is fine; once the run is done nothing of it is left.
    let empty = t.join("empty");
    fs::create_dir(&empty).unwrap();
    let mut a = args!["run", input, "-o", out, "--plan-dir", empty];
    a.extend(args![lossless[0], lossless[1], lossless[2], lossless[3]]);
    vre_ok(&a);
    assert_eq!(framemd5(&out, None), expected);
    assert!(!empty.exists(), "an empty planDir goes");

    // A planDir kept by an earlier run, where the user has put files meanwhile: running the
    // same command again (OUT gone, no --overwrite needed) resumes and removes only vre's files.
    let kept = t.join("kept.vre");
    let out2 = t.join("out2.mp4");
    let command = |extra: &[&str]| {
        let mut a = args!["run", input, "-o", out2, "--plan-dir", kept];
        a.extend(args![lossless[0], lossless[1], lossless[2], lossless[3]]);
        a.extend(extra.iter().map(std::ffi::OsString::from));
        a
    };
    vre_ok(command(&["--keep-temp"]));
    fs::write(kept.join("notes.txt"), b"mine").unwrap();
    fs::write(kept.join("chunks").join("my cut.mp4"), b"mine").unwrap();
    std::os::unix::fs::symlink(&input, kept.join("audio").join("link.mp4")).unwrap();
    fs::remove_file(&out2).unwrap();
    let rerun = vre_ok(command(&[]));
    let err = stderr(&rerun);
    assert!(
        err.contains("not vre's") && err.contains("notes.txt"),
        "{err}"
    );
    assert_eq!(framemd5(&out2, None), expected);
    let left: BTreeSet<PathBuf> = tree(&kept).into_iter().map(|(p, _)| p).collect();
    let theirs: BTreeSet<PathBuf> = [
        "notes.txt",
        "chunks",
        "chunks/my cut.mp4",
        "audio",
        "audio/link.mp4",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(left, theirs, "exactly the user's files are left");
    assert_eq!(
        framemd5(&input, None),
        expected,
        "the linked input is intact"
    );
}

#[test]
fn every_plan_dir_verb_refuses_a_layout_folder_that_is_a_link() {
    let tmp = temp_dir();
    let root = tmp.path().join("job.vre");
    synthetic_plan_dir(&root, 3, 2, 1);
    // chunks/ now lives elsewhere, beside a file of someone else's named like a chunk.
    let elsewhere = tmp.path().join("elsewhere");
    fs::rename(root.join("chunks"), &elsewhere).unwrap();
    fs::write(elsewhere.join("chunk-000000.mp4"), b"someone's file").unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("chunks")).unwrap();
    let before = tree(&elsewhere);
    let out = tmp.path().join("out.mp4");
    let link = root.join("chunks").display().to_string();
    for verb in [
        args!["verify", root],
        args!["work", root],
        args!["assemble", root, "-o", out],
        args!["status", root],
        args!["report", root],
    ] {
        let refused = run_vre(&verb);
        let err = stderr(&refused);
        assert_eq!(code(&refused), Some(65), "{verb:?}: {err}");
        assert!(
            err.contains(&link) && err.contains("symbolic link"),
            "{verb:?}: {err}"
        );
    }
    assert_eq!(
        tree(&elsewhere),
        before,
        "nothing outside the planDir changed"
    );
    assert!(!out.exists());

    fs::remove_file(root.join("chunks")).unwrap();
    fs::write(root.join("chunks"), b"").unwrap();
    let refused = run_vre(args!["verify", root]);
    assert_eq!(code(&refused), Some(65), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("not a directory"));
}

#[test]
fn an_existing_output_is_replaced_only_with_overwrite() {
    let tmp = temp_dir();
    let t = tmp.path();
    let input = clip(t);
    let expected = framemd5(&input, None);
    let master = t.join("master.mp4");
    fs::write(&master, b"a finished master").unwrap();
    let refused_by = |out: &std::process::Output| {
        assert_eq!(code(out), Some(73), "{}", stderr(out));
        let err = stderr(out);
        assert!(
            err.contains(&master.display().to_string()) && err.contains("--overwrite"),
            "{err}"
        );
        assert_eq!(fs::read(&master).unwrap(), b"a finished master");
    };

    // vre run: refused before planning; no planDir is made.
    refused_by(&run_vre(args![
        "run", input, "-o", master, "--chunks", "2", "--crf", "0"
    ]));
    assert!(!t.join("master.mp4.vre").exists());

    // vre assemble: refused before waiting, and after the work.
    let plan_dir = t.join("job.vre");
    vre_plan(&input, &plan_dir, ["--chunks", "2", "--crf", "0"]);
    refused_by(&run_vre(args![
        "assemble",
        plan_dir,
        "-o",
        master,
        "--wait",
        "--timeout",
        "5"
    ]));
    vre_ok(args!["work", plan_dir, "-q"]);
    refused_by(&run_vre(args!["assemble", plan_dir, "-o", master]));
    vre_ok(args!["assemble", plan_dir, "-o", master, "-y"]);
    assert_eq!(framemd5(&master, None), expected);
    fs::write(&master, b"a finished master").unwrap();
    vre_ok(args![
        "run",
        input,
        "-o",
        master,
        "--chunks",
        "2",
        "--crf",
        "0",
        "--overwrite"
    ]);
    assert_eq!(framemd5(&master, None), expected);

    // A PNG sequence: a folder with anything in it is refused, an empty one is filled.
    let frames = t.join("frames");
    fs::create_dir(&frames).unwrap();
    fs::write(frames.join("keep.txt"), b"mine").unwrap();
    let png = |dir: &Path| {
        args![
            "run",
            input,
            "-o",
            format!("{}/", dir.display()),
            "--chunks",
            "2"
        ]
    };
    let refused = run_vre(png(&frames));
    assert_eq!(code(&refused), Some(73), "{}", stderr(&refused));
    assert_eq!(fs::read(frames.join("keep.txt")).unwrap(), b"mine");
    assert_eq!(fs::read_dir(&frames).unwrap().count(), 1);
    fs::remove_file(frames.join("keep.txt")).unwrap();
    vre_ok(png(&frames));
    assert_eq!(fs::read_dir(&frames).unwrap().count(), expected.len());
}

/// Whether a process is stopped (state `T`).
fn stopped(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s[s.rfind(')').unwrap() + 2..].starts_with('T'))
        .unwrap_or(false)
}

/// A directory holding an `ffmpeg` that runs the real one and, when it was an assembly's
/// concatenation or PNG extraction, stops itself before exiting: the assembly's temp files are
/// written and vre waits for it, a state the test can freeze and kill without timing.
fn ffmpeg_that_stops_after_assembling(dir: &Path) -> PathBuf {
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v ffmpeg"])
        .output()
        .unwrap();
    let real = String::from_utf8(found.stdout).unwrap().trim().to_string();
    let wrap = dir.join("wrap");
    fs::create_dir(&wrap).unwrap();
    let script = format!(
        "#!/bin/sh\n'{real}' \"$@\"\nrc=$?\ncase \" $* \" in *' -f concat '*|*' -f image2 '*) kill -STOP $$ ;; esac\nexit $rc\n"
    );
    fs::write(wrap.join("ffmpeg"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(wrap.join("ffmpeg"), fs::Permissions::from_mode(0o755)).unwrap();
    wrap
}

/// The entries of `dir` whose names start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[test]
fn what_a_killed_assembly_left_is_removed_by_the_next_and_nothing_else() {
    let tmp = temp_dir();
    let t = tmp.path();
    let input = clip(t);
    let expected = framemd5(&input, None);
    let wrap = ffmpeg_that_stops_after_assembling(t);
    let path = format!("{}:{}", wrap.display(), std::env::var("PATH").unwrap());
    let me = ProcessIdentity::current();
    for (name, out_name, format) in [("file", "out.mp4", "mp4"), ("png", "frames", "png")] {
        let plan_dir = t.join(format!("{name}.vre"));
        let quality: &[&str] = if format == "mp4" {
            &["--crf", "0"]
        } else {
            &[]
        };
        let mut options = vec!["--chunks", "2", "--format", format];
        options.extend(quality);
        vre_plan(&input, &plan_dir, options);
        vre_ok(args!["work", plan_dir, "-q"]);
        let plan_id = read_json(&plan_dir.join("plan.json"))["plan_id"]
            .as_str()
            .unwrap()
            .to_string();
        let out = t.join(out_name);

        // Kill -9 an assembly whose ffmpeg has written its part.
        let mut assembly = vre()
            .args(args!["assemble", plan_dir, "-o", out])
            .env("PATH", &path)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let child = loop {
            if let Some(pid) = children_of(assembly.id()).into_iter().find(|&p| stopped(p)) {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the assembly never got to ffmpeg"
            );
            std::thread::yield_now();
        };
        assembly.kill().unwrap();
        assembly.wait().unwrap();
        // Its parent's death kills it (PDEATHSIG); make sure of it.
        // SAFETY: sending a signal to a process this test started (through vre).
        unsafe { libc::kill(child as i32, libc::SIGKILL) };
        assert!(all_gone_within(&[child], Duration::from_secs(5)));
        let killed_beside = named(t, &format!(".{out_name}.tmp-"));
        let killed_in_plan_dir = named(&plan_dir, ".concat.txt.tmp-");
        assert_eq!(
            killed_beside.len(),
            1,
            "{name}: the partial output is there"
        );
        assert_eq!(killed_in_plan_dir.len(), usize::from(format == "mp4"));
        assert!(!out.exists());

        // Look-alikes that are not provably a dead assembly's of this plan.
        let dead = |id: &str, host: &str| format!("{id}-{}-{}-0-{host}", me.pid, me.start + 1);
        let kept = [
            // Live: this test process.
            vre::sys::owned::temp_path(&out, &plan_id),
            vre::sys::owned::temp_path(&plan_dir.join("concat.txt"), &plan_id),
            // Dead, but another plan's.
            t.join(format!(
                ".{out_name}.tmp-{}",
                dead(&"ab".repeat(16), &me.host)
            )),
            // Dead on another host: this host cannot tell.
            t.join(format!(
                ".{out_name}.tmp-{}",
                dead(&plan_id, &format!("{}-b", me.host))
            )),
            // Not a name of an owned temp.
            t.join(format!(".{out_name}.tmp-12345-0-0000beef")),
            t.join(format!(".{out_name}.tmp-mine")),
        ];
        for path in &kept {
            fs::write(path, b"not yours").unwrap();
        }

        vre_ok(args!["assemble", plan_dir, "-o", out]);
        for path in killed_beside.iter().chain(&killed_in_plan_dir) {
            assert!(!path.exists(), "{name}: {} is removed", path.display());
        }
        for path in &kept {
            assert_eq!(fs::read(path).unwrap(), b"not yours", "{}", path.display());
            fs::remove_file(path).unwrap();
        }
        if format == "png" {
            assert_eq!(fs::read_dir(&out).unwrap().count(), expected.len());
        } else {
            assert_eq!(framemd5(&out, None), expected);
        }
    }
}

#[test]
fn png_frames_go_to_a_folder_named_with_percent_signs() {
    let tmp = temp_dir();
    let t = tmp.path();
    let input = clip(t);
    let out = t.join("frames %d 100%");
    vre_ok(args![
        "run", input, "-o", out, "--format", "png", "--vf", "hue=s=0", "--chunks", "2", "-j", "2"
    ]);
    let expected = framemd5(&input, Some("hue=s=0,format=rgb24"));
    assert_eq!(fs::read_dir(&out).unwrap().count(), expected.len());
    let pattern = format!(
        "{}/frame_%06d.png",
        out.display().to_string().replace('%', "%%")
    );
    assert_eq!(framemd5(Path::new(&pattern), None), expected);

    // A path the image2 muxer cannot take is refused at plan time, before any render.
    let deep = (0..5).fold(t.to_path_buf(), |p, i| {
        p.join(format!("{i}{}", "d".repeat(200)))
    });
    fs::create_dir_all(&deep).unwrap();
    let frames = deep.join("frames");
    let refused = run_vre(args![
        "run",
        input,
        "-o",
        format!("{}/", frames.display()),
        "--chunks",
        "2"
    ]);
    assert_eq!(code(&refused), Some(64), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("too long"),
        "{}",
        stderr(&refused)
    );
    assert!(
        !deep.join("frames.vre").exists(),
        "nothing was planned into a planDir"
    );
}
