//! A worker renders only with the ffmpeg the plan was made with, or says how it differs; the
//! ffmpeg can be chosen with `--ffmpeg` or `VRE_FFMPEG`.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes an `ffmpeg` and an `ffprobe` into `dir` that run the real ones, the ffprobe changing
/// what it reports of itself with the sed expression `edit`. Returns the ffmpeg's path.
fn disguised_ffmpeg(dir: &Path, edit: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let which = |tool: &str| {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let ffmpeg = dir.join("ffmpeg");
    std::fs::write(
        &ffmpeg,
        format!("#!/bin/sh\nexec {} \"$@\"\n", which("ffmpeg")),
    )
    .unwrap();
    let ffprobe = dir.join("ffprobe");
    std::fs::write(
        &ffprobe,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" -show_program_version \"*) {real} \"$@\" | sed '{edit}'; exit;; esac\nexec {real} \"$@\"\n",
            real = which("ffprobe")
        ),
    )
    .unwrap();
    for file in [&ffmpeg, &ffprobe] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    ffmpeg
}

#[test]
fn a_worker_with_another_ffmpeg_refuses_naming_the_difference_unless_told_otherwise() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        audio: false,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, ["--chunks", "2", "-q"]);
    let plan = read_json(&plan_dir.join("plan.json"));
    let version = plan["ffmpeg_version"].as_str().unwrap().to_string();
    assert!(plan["ffmpeg_configuration"]
        .as_str()
        .unwrap()
        .contains("--enable-libx264"));

    // Another version, chosen with VRE_FFMPEG.
    let other = disguised_ffmpeg(
        &tmp.path().join("other"),
        &format!("s/\"version\": \"{version}\"/\"version\": \"9.9.9-other\"/"),
    );
    let refused = vre()
        .args(args!["work", plan_dir, "-q"])
        .env("VRE_FFMPEG", &other)
        .output()
        .unwrap();
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(69), "{err}");
    assert!(
        err.contains("9.9.9-other") && err.contains(&version),
        "{err}"
    );
    assert!(
        err.contains("--any-ffmpeg") && err.contains("--ffmpeg"),
        "{err}"
    );
    assert!(!plan_dir.join("chunks/chunk-000000.json").exists());

    // The same version built otherwise, chosen with --ffmpeg: the flags that differ are named.
    let rebuilt = disguised_ffmpeg(
        &tmp.path().join("rebuilt"),
        "s/--enable-libx264/--enable-libx264-rebuilt/",
    );
    let refused = run_vre(args!["work", plan_dir, "--ffmpeg", &rebuilt, "-q"]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(69), "{err}");
    assert!(
        err.contains("built otherwise") && err.contains("--enable-libx264-rebuilt"),
        "{err}"
    );

    // Told otherwise, the worker renders with it.
    vre_ok(args![
        "work",
        plan_dir,
        "--ffmpeg",
        &other,
        "--any-ffmpeg",
        "-q"
    ]);
    assert!(plan_dir.join("chunks/chunk-000001.json").is_file());

    // An ffmpeg that is not there is named with where it was looked for.
    let missing = tmp.path().join("nowhere/ffmpeg");
    let absent = run_vre(args!["work", plan_dir, "--ffmpeg", &missing, "-q"]);
    let err = stderr(&absent);
    assert_eq!(absent.status.code(), Some(69), "{err}");
    assert!(
        err.contains(&missing.with_file_name("ffprobe").display().to_string()),
        "{err}"
    );
}

#[test]
fn vre_run_resumed_with_another_build_renders_again_what_the_old_one_made() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        audio: false,
        ..VideoSpec::default()
    });
    let (out, plan_dir) = (tmp.path().join("out.mp4"), tmp.path().join("job.vre"));
    let run = |extra: &[&std::ffi::OsStr]| {
        let mut args = args![
            "run",
            &input,
            "-o",
            &out,
            "-y",
            "--plan-dir",
            &plan_dir,
            "--keep-temp",
            "--chunks",
            "2",
            "-q"
        ];
        args.extend(extra.iter().map(|a| a.to_os_string()));
        run_vre(args)
    };
    let ok = |out: std::process::Output| assert!(out.status.success(), "{}", stderr(&out));
    let started = || read_json(&plan_dir.join("chunks/chunk-000000.json"))["started_at"].clone();
    ok(run(&[]));
    let first = started();
    // Run again with this ffmpeg: nothing to render.
    ok(run(&[]));
    assert_eq!(started(), first, "the same build keeps the chunk");
    // Run again with another build: another plan, refused without --force; with it the plan
    // names the build, and the chunk is rendered again.
    let rebuilt = disguised_ffmpeg(
        &tmp.path().join("rebuilt"),
        "s/--enable-libx264/--enable-libx264-rebuilt/",
    );
    let refused = run(&["--ffmpeg".as_ref(), rebuilt.as_os_str()]);
    assert_eq!(refused.status.code(), Some(73), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--force"));
    assert_eq!(started(), first);
    ok(run(&[
        "--ffmpeg".as_ref(),
        rebuilt.as_os_str(),
        "--force".as_ref(),
    ]));
    let plan = read_json(&plan_dir.join("plan.json"));
    assert!(plan["ffmpeg_configuration"]
        .as_str()
        .unwrap()
        .contains("--enable-libx264-rebuilt"));
    assert_ne!(started(), first, "another build renders the chunk again");
}
