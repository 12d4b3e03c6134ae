//! The files a filter chain reads are inputs. A relative path in `--vf` (`lut3d=grade.cube`,
//! `subtitles=subs.srt`) used to pass `vre plan`, then fail every chunk three times (exit 80) on
//! every worker started in another directory, with an error naming no file; and nothing
//! recorded the file, so an edited LUT went unnoticed. Now the path is made absolute where
//! `vre plan` runs, the file is recorded in the plan (stamp and blake3) and in the task keys,
//! workers refuse it once it changed, and options that make a filter write a file are refused
//! for plans of several chunks.

mod common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// vre run with `args` in `dir`.
fn vre_in(dir: &Path, args: Vec<OsString>) -> Output {
    vre()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("vre runs")
}

/// The per-frame MD5s of the serial command `ffmpeg -i INPUT -vf CHAIN` run in `dir`.
fn serial_frames_in(dir: &Path, input: &str, chain: &str) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .current_dir(dir)
        .args(["-nostdin", "-v", "error", "-i", input, "-map", "0:v:0"])
        .args(["-vf", chain, "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

/// A 2×2×2 3D LUT that scales red by `red` (written with four decimals, so that every scale
/// gives a file of the same size).
fn write_cube(path: &Path, red: f64) {
    let mut text = String::from("LUT_3D_SIZE 2\n");
    for b in 0..2 {
        for g in 0..2 {
            for r in 0..2 {
                let (r, g, b) = (f64::from(r) * red, f64::from(g) * 0.9, f64::from(b) * 0.8);
                text.push_str(&format!("{r:.4} {g:.4} {b:.4}\n"));
            }
        }
    }
    fs::write(path, text).unwrap();
}

/// A 2 s, 25 fps clip with a tone, `in.mp4` in `dir`.
fn clip(dir: &Path) -> PathBuf {
    let input = dir.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            size: "160x120",
            rate: "25",
            seconds: 2.0,
            audio: true,
        },
    );
    input
}

/// A folder for the job whose name needs every kind of escaping in a filtergraph, with the
/// clip, a LUT, subtitles, a fonts folder and audio commands, and a folder to run workers from;
/// returns (job folder, worker folder).
fn job_folders(root: &Path) -> (PathBuf, PathBuf) {
    let job = root.join("it's a job: [v2], final; ok");
    let elsewhere = root.join("elsewhere");
    fs::create_dir_all(&job).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    clip(&job);
    write_cube(&job.join("grade:1.cube"), 0.8);
    fs::write(
        job.join("subs.srt"),
        "1\n00:00:00,200 --> 00:00:01,800\nSeams must not show\n",
    )
    .unwrap();
    fs::create_dir(job.join("fonts")).unwrap();
    fs::write(job.join("fonts/notes.txt"), "no font").unwrap();
    fs::write(job.join("cmds.txt"), "0.5 volume volume 0.50;\n").unwrap();
    (job, elsewhere)
}

/// The chain, as a user in the job folder types it: the LUT's name escaped for ffmpeg (its
/// colon), the subtitles and their fonts by plain relative names.
const CHAIN: &str = r"lut3d=file='grade\:1.cube',subtitles=subs.srt:fontsdir=fonts,format=yuv420p";

/// The audio chain: commands read from a file.
const AUDIO_CHAIN: &str = "asendcmd=f=cmds.txt,volume";

#[test]
fn relative_paths_in_filters_are_read_where_vre_plan_ran_by_workers_started_anywhere() {
    let tmp = temp_dir();
    let (job, elsewhere) = job_folders(tmp.path());
    let plan_dir = job.join("job.vre");
    let plan = args![
        "plan",
        "in.mp4",
        "-o",
        "job.vre",
        "--vf",
        CHAIN,
        "--af",
        AUDIO_CHAIN,
        "--chunks",
        "2",
        "--crf",
        "0"
    ];
    let planned = vre_in(&job, plan.clone());
    assert!(planned.status.success(), "{}", stderr(&planned));
    let recorded = read_json(&plan_dir.join("plan.json"));
    let schema = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json"));
    assert!(
        jsonschema::is_valid(&schema, &recorded),
        "plan.json fits its schema"
    );
    let files: Vec<[String; 4]> = recorded["filter_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| ["chain", "filter", "option", "path"].map(|k| f[k].as_str().unwrap().to_string()))
        .collect();
    let absolute = |name: &str| job.join(name).to_string_lossy().into_owned();
    let file = |chain: &str, filter: &str, option: &str, name: &str| {
        [chain.into(), filter.into(), option.into(), absolute(name)]
    };
    assert_eq!(
        files,
        vec![
            file("video", "lut3d", "file", "grade:1.cube"),
            file("video", "subtitles", "filename", "subs.srt"),
            file("video", "subtitles", "fontsdir", "fonts/notes.txt"),
            file("audio", "asendcmd", "filename", "cmds.txt"),
        ]
    );

    // Rendered from another folder: the frames the serial command makes in the job folder.
    let worked = vre_in(&elsewhere, args!["work", plan_dir, "-q"]);
    assert!(worked.status.success(), "{}", stderr(&worked));
    let out = elsewhere.join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out, "-y"]);
    let graded = framemd5(&out, None);
    assert_eq!(graded, serial_frames_in(&job, "in.mp4", CHAIN));
    assert_ne!(
        graded,
        framemd5(&job.join("in.mp4"), Some("format=yuv420p"))
    );

    // The LUT edited in place, same size, its modification time put back: workers refuse it.
    let cube = job.join("grade:1.cube");
    let mtime = fs::metadata(&cube).unwrap().modified().unwrap();
    write_cube(&cube, 0.5);
    fs::File::options()
        .write(true)
        .open(&cube)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let refused = vre_in(&elsewhere, args!["work", plan_dir, "-q"]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(65), "{err}");
    assert!(
        err.contains(&absolute("grade:1.cube")) && err.contains("lut3d") && err.contains("--force"),
        "{err}"
    );
    // Planned again: the chunks read the LUT and are rendered again; the audio is kept.
    let mut force = plan.clone();
    force.push("--force".into());
    let replanned = vre_in(&job, force.clone());
    let said = String::from_utf8_lossy(&replanned.stdout);
    assert!(
        said.contains("1 finished pieces kept, 2 withdrawn"),
        "{said}"
    );
    let rerun = vre_in(&elsewhere, args!["work", plan_dir, "-j", "1", "--json"]);
    assert_eq!(
        published(&rerun.stdout),
        vec!["chunk:0", "chunk:1"],
        "{}",
        stderr(&rerun)
    );
    vre_ok(args!["assemble", plan_dir, "-o", out, "-q", "-y"]);
    let regraded = framemd5(&out, None);
    assert_eq!(regraded, serial_frames_in(&job, "in.mp4", CHAIN));
    assert_ne!(regraded, graded);

    // Touched, content unchanged: refused until planned again, then nothing is rendered again.
    let subs = job.join("subs.srt");
    fs::File::options()
        .append(true)
        .open(&subs)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let refused = vre_in(&elsewhere, args!["work", plan_dir, "-q"]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(65), "{err}");
    assert!(
        err.contains(&absolute("subs.srt")) && err.contains("subtitles"),
        "{err}"
    );
    let replanned = vre_in(&job, force.clone());
    let said = String::from_utf8_lossy(&replanned.stdout);
    assert!(
        said.contains("3 finished pieces kept, 0 withdrawn"),
        "{said}"
    );
    let rerun = vre_ok(args!["work", plan_dir, "--json"]);
    assert!(published(&rerun.stdout).is_empty());

    // The audio's commands changed in content: only the audio is rendered again.
    fs::write(job.join("cmds.txt"), "0.5 volume volume 0.25;\n").unwrap();
    let replanned = vre_in(&job, force);
    let said = String::from_utf8_lossy(&replanned.stdout);
    assert!(
        said.contains("2 finished pieces kept, 1 withdrawn"),
        "{said}"
    );
    let rerun = vre_in(&elsewhere, args!["work", plan_dir, "-j", "1", "--json"]);
    assert_eq!(
        published(&rerun.stdout),
        vec!["audio:null"],
        "{}",
        stderr(&rerun)
    );

    // Gone: refused as a missing input, naming it.
    fs::rename(&subs, job.join("subs.srt.moved")).unwrap();
    let refused = vre_in(&elsewhere, args!["work", plan_dir, "-q"]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(66), "{err}");
    assert!(
        err.contains(&absolute("subs.srt")) && err.contains("is missing"),
        "{err}"
    );
}

#[test]
fn a_file_a_filter_reads_that_is_missing_or_not_a_file_is_refused_at_plan_time_naming_it() {
    let tmp = temp_dir();
    let input = clip(tmp.path());
    fs::create_dir(tmp.path().join("folder.cube")).unwrap();
    for (flag, chain, named, path) in [
        ("--vf", "lut3d=missing.cube", "lut3d's file", "missing.cube"),
        (
            "--vf",
            "hue=s=0,lut3d=folder.cube",
            "lut3d's file",
            "folder.cube",
        ),
        (
            "--vf",
            "drawtext=textfile=t.txt",
            "drawtext's textfile",
            "t.txt",
        ),
        (
            "--vf",
            "vidstabtransform",
            "vidstabtransform's input",
            "transforms.trf",
        ),
        (
            "--af",
            "asendcmd=f=cmds.txt",
            "asendcmd's filename",
            "cmds.txt",
        ),
    ] {
        let planned = vre_in(
            tmp.path(),
            args!["plan", input, "-o", "job.vre", flag, chain],
        );
        let err = stderr(&planned);
        assert_eq!(planned.status.code(), Some(66), "{chain}: {err}");
        let absolute = tmp.path().join(path);
        assert!(
            err.contains(&format!("{flag}: {named} {}", absolute.display())),
            "{chain}: {err}"
        );
        assert!(!tmp.path().join("job.vre").exists(), "{chain}");
    }
    let planned = vre_in(
        tmp.path(),
        args![
            "plan",
            input,
            "-o",
            "job.vre",
            "--vf",
            r"movie=http\\://example.com/logo.png"
        ],
    );
    let err = stderr(&planned);
    assert_eq!(planned.status.code(), Some(64), "{err}");
    assert!(
        err.contains("movie's filename") && err.contains("local copy"),
        "{err}"
    );
}

#[test]
fn filters_that_write_files_are_refused_in_plans_of_several_chunks_and_write_where_planned_in_one()
{
    let tmp = temp_dir();
    let (job, elsewhere) = job_folders(tmp.path());
    let printing = "metadata=mode=add:key=k:value=1,metadata=mode=print:file=frames.txt";
    for (chain, named, file) in [
        (printing, "metadata's file", "frames.txt"),
        ("vidstabdetect", "vidstabdetect's result", "transforms.trf"),
        (
            "signature=filename=sig.bin",
            "signature's filename",
            "sig.bin",
        ),
    ] {
        let planned = vre_in(
            &job,
            args!["plan", "in.mp4", "-o", "job.vre", "--vf", chain, "--chunks", "2"],
        );
        let err = stderr(&planned);
        assert_eq!(planned.status.code(), Some(64), "{chain}: {err}");
        let written = job.join(file);
        let said = format!("--vf: {named} writes a file ({})", written.display());
        assert!(err.contains(&said), "{chain}: {err}");
        assert!(err.contains("--chunks 1"), "{err}");
        assert!(!job.join("job.vre").exists());
    }
    // As one chunk, the file is written where the plan was made, whoever renders it.
    let planned = vre_in(
        &job,
        args!["plan", "in.mp4", "-o", "job.vre", "--vf", printing, "--chunks", "1"],
    );
    assert!(planned.status.success(), "{}", stderr(&planned));
    let worked = vre_in(&elsewhere, args!["work", job.join("job.vre"), "-q"]);
    assert!(worked.status.success(), "{}", stderr(&worked));
    let printed = fs::read_to_string(job.join("frames.txt")).unwrap();
    assert_eq!(
        printed.lines().filter(|l| l.starts_with("frame:")).count(),
        50
    );
    assert!(!elsewhere.join("frames.txt").exists());
}
