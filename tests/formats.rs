//! Every output people deliver, every split that pays, and filters exact across seams.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn input(dir: &Path, seconds: f64) -> PathBuf {
    let path = dir.join("in.mp4");
    make_video(
        &path,
        &VideoSpec {
            seconds,
            ..VideoSpec::default()
        },
    );
    path
}

/// Decodes a file (or a PNG sequence pattern) and returns ffmpeg's error output.
fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "decoding {} failed", path.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// framemd5 of the decoded frames converted to `pix_fmt`.
fn frames_as(path: &Path, filter: &str) -> Vec<String> {
    framemd5(path, Some(filter))
}

#[test]
fn every_format_decodes_cleanly_with_exact_frames_rate_and_audio() {
    let tmp = temp_dir();
    let input = input(tmp.path(), 2.0);
    let frames = num(&stream(&input, "video").unwrap(), "nb_read_packets");
    let cases: [(&str, &str); 6] = [
        ("mp4", "libx264"),
        ("mp4", "libx265"),
        ("mov", "prores_ks"),
        ("mkv", "ffv1"),
        ("webm", "libvpx-vp9"),
        ("webm", "libsvtav1"),
    ];
    for (format, codec) in cases {
        let out = tmp.path().join(format!("out-{codec}.{format}"));
        vre_ok(args![
            "run", input, "-o", out, "--codec", codec, "--chunks", "3", "-j", "2"
        ]);
        assert_eq!(
            decode_errors(&out),
            "",
            "{codec}: decodes without a single error"
        );
        let video = stream(&out, "video").unwrap();
        assert_eq!(
            num(&video, "nb_read_packets"),
            frames,
            "{codec}: frame count"
        );
        assert_eq!(video["r_frame_rate"], "30000/1001", "{codec}: frame rate");
        assert_eq!(
            video["codec_name"],
            codec
                .trim_start_matches("lib")
                .replace("x264", "h264")
                .replace("x265", "hevc")
                .replace("svtav1", "av1")
                .replace("vpx-vp9", "vp9")
                .replace("prores_ks", "prores")
        );
        let audio = stream(&out, "audio").unwrap_or_else(|| panic!("{codec}: audio kept"));
        let expected_audio = match format {
            "webm" => "opus",
            "mkv" => "flac",
            _ => "aac",
        };
        assert_eq!(
            audio["codec_name"], expected_audio,
            "{codec}: audio codec follows the container"
        );
        let samples = audio_samples(&out).len() as f64;
        let seconds = frames * 1001.0 / 30000.0;
        assert!(
            (samples / 48000.0 - seconds).abs() <= 1024.0 / 48000.0,
            "{codec}: audio length"
        );
    }

    let sequence = tmp.path().join("frames");
    vre_ok(args![
        "run",
        input,
        "-o",
        format!("{}/", sequence.display()),
        "--chunks",
        "3",
        "-j",
        "2"
    ]);
    let names: BTreeSet<String> = std::fs::read_dir(&sequence)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = (1..=frames as u64)
        .map(|n| format!("frame_{n:06}.png"))
        .chain(["audio.flac".to_string()])
        .collect();
    assert_eq!(
        names, expected,
        "one PNG per frame, numbered globally, audio beside them"
    );
    assert_eq!(decode_errors(&sequence.join("frame_%06d.png")), "");
    let audio = audio_samples(&sequence.join("audio.flac")).len() as f64;
    assert!(
        (audio / 48000.0 - frames * 1001.0 / 30000.0).abs() <= 1.0 / 48000.0,
        "exact FLAC length"
    );
}

#[test]
fn lossless_outputs_are_frame_identical_to_serial_ffmpeg() {
    let tmp = temp_dir();
    let input = input(tmp.path(), 2.0);
    let filter = "hue=s=0.3";
    let serial = frames_as(&input, filter);
    let mkv = tmp.path().join("out.mkv");
    vre_ok(args![
        "run", input, "-o", mkv, "--vf", filter, "--chunks", "4"
    ]);
    assert_eq!(framemd5(&mkv, None), serial, "mkv/ffv1");
    let mp4 = tmp.path().join("out.mp4");
    vre_ok(args![
        "run", input, "-o", mp4, "--vf", filter, "--crf", "0", "--chunks", "4"
    ]);
    assert_eq!(framemd5(&mp4, None), serial, "mp4/libx264 --crf 0");
    let pngs = tmp.path().join("pngs");
    vre_ok(args![
        "run",
        input,
        "-o",
        pngs,
        "--format",
        "png",
        "--vf",
        filter,
        "--chunks",
        "4",
        "--no-source-audio"
    ]);
    assert_eq!(
        framemd5(&pngs.join("frame_%06d.png"), None),
        frames_as(&input, &format!("{filter},format=rgb24")),
        "png"
    );
}

#[test]
fn a_temporal_filter_is_exact_across_seams_with_the_derived_preroll() {
    let tmp = temp_dir();
    let input = input(tmp.path(), 3.0);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--vf", "tmix=frames=5", "--crf", "0", "--chunks", "7"],
    );
    let plan = read_json(&plan_dir.join("plan.json"));
    assert_eq!(plan["preroll"]["frames"], 4, "derived: {}", plan["preroll"]);
    assert!(plan["preroll"]["reason"].as_str().unwrap().contains("tmix"));
    vre_ok(args!["work", plan_dir, "-j", "2", "-q"]);
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert_eq!(
        framemd5(&out, None),
        framemd5(&input, Some("tmix=frames=5"))
    );

    // Without the preroll the seams differ: the test above can fail.
    let cold = tmp.path().join("cold.mp4");
    vre_ok(args![
        "run",
        input,
        "-o",
        cold,
        "--vf",
        "tmix=frames=5",
        "--crf",
        "0",
        "--chunks",
        "7",
        "--preroll",
        "0"
    ]);
    assert_ne!(
        framemd5(&cold, None),
        framemd5(&input, Some("tmix=frames=5"))
    );
}

#[test]
fn lagfun_is_exact_across_seams_with_the_derived_preroll() {
    let tmp = temp_dir();
    let input = input(tmp.path(), 10.0);
    let serial = framemd5(&input, Some("lagfun"));
    let render = |name: &str, preroll: Option<&str>| {
        let out = tmp.path().join(name);
        let mut args =
            args!["run", input, "-o", out, "--vf", "lagfun", "--crf", "0", "--chunks", "2", "-q"];
        args.extend(preroll.map(|p| args!["--preroll", p]).unwrap_or_default());
        vre_ok(args);
        framemd5(&out, None)
    };
    // 110 frames by default (255 · 0.95^109 < 1): the second chunk starts at frame 205, so its
    // preroll begins at frame 95, well after the range start.
    assert_eq!(render("derived.mp4", None), serial);
    // One second of history (the earlier default) is not enough: the test above can fail.
    assert_ne!(render("short.mp4", Some("30")), serial);
}

/// The worst per-frame PSNR (dB) of `rendered` against `input` put through `filter` by one
/// serial ffmpeg; infinite where every frame is identical.
fn worst_psnr_against_serial(rendered: &Path, input: &Path, filter: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(rendered)
        .arg("-i")
        .arg(input)
        .args([
            "-lavfi",
            &format!("[1:v]{filter}[serial];[0:v][serial]psnr=stats_file=-"),
        ])
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "psnr of {}", rendered.display());
    let values: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|field| field.strip_prefix("psnr_avg:"))
        .map(|value| value.parse().expect("a PSNR value"))
        .collect();
    assert!(
        !values.is_empty(),
        "no PSNR lines for {}",
        rendered.display()
    );
    values.into_iter().fold(f64::INFINITY, f64::min)
}

#[test]
fn deshake_seams_converge_with_the_derived_preroll() {
    // A strongly shaken camera: the frame jumps by up to 30 px and pans.
    let tmp = temp_dir();
    let input = tmp.path().join("shaken.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=400x240:rate=30:duration=8,crop=320:180:40+15*sin(n*0.9)+n*0.3:30+10*cos(n*1.3)",
        "-c:v",
        "libx264",
        "-crf",
        "10",
        "-g",
        "60",
        "-pix_fmt",
        "yuv420p",
        input.to_str().unwrap(),
    ]);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--vf", "deshake", "--crf", "0", "--chunks", "2"],
    );
    let plan = read_json(&plan_dir.join("plan.json"));
    assert_eq!(
        plan["preroll"]["frames"], 90,
        "derived: {}",
        plan["preroll"]
    );
    vre_ok(args!["work", plan_dir, "-j", "2", "-q"]);
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    let worst = worst_psnr_against_serial(&out, &input, "deshake");
    assert!(
        worst >= 33.0,
        "worst frame {worst:.1} dB from the serial render"
    );

    // One second of preroll (the earlier default) leaves a visible jump at the seam.
    let short = tmp.path().join("short.mp4");
    vre_ok(args![
        "run",
        input,
        "-o",
        short,
        "--vf",
        "deshake",
        "--crf",
        "0",
        "--chunks",
        "2",
        "--preroll",
        "30",
        "-q"
    ]);
    let worst = worst_psnr_against_serial(&short, &input, "deshake");
    assert!(
        worst < 25.0,
        "worst frame {worst:.1} dB with 30 frames of preroll"
    );
}

/// Presentation-order frame indices of the source's keyframes.
fn source_keyframes(path: &Path) -> BTreeSet<u64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let mut packets: Vec<(f64, bool)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (t, f) = l.split_once(',')?;
            Some((t.parse().ok()?, f.starts_with('K')))
        })
        .collect();
    packets.sort_by(|a, b| a.0.total_cmp(&b.0));
    packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.1)
        .map(|(i, _)| i as u64)
        .collect()
}

fn chunk_starts(plan_dir: &Path) -> Vec<u64> {
    read_json(&plan_dir.join("chunks.json"))
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["start_frame"].as_u64().unwrap())
        .collect()
}

#[test]
fn keyframe_and_scene_splits_put_chunk_starts_where_they_belong() {
    let tmp = temp_dir();
    let input = input(tmp.path(), 6.0);
    let keyframes = source_keyframes(&input);
    assert!(keyframes.len() >= 3, "the test input has GOPs of 48 frames");
    let by_keys = tmp.path().join("keys.vre");
    vre_plan(
        &input,
        &by_keys,
        args!["--split", "keyframes", "--chunk-frames", "60"],
    );
    let starts = chunk_starts(&by_keys);
    assert!(starts.len() >= 3);
    for start in &starts {
        assert!(
            keyframes.contains(start),
            "chunk start {start} is a source keyframe ({keyframes:?})"
        );
    }
    let reasons = read_json(&by_keys.join("chunks.json"));
    assert!(reasons[1]["reason"].as_str().unwrap().contains("keyframe"));

    // Hard cuts at frames 50, 100, 150 (25 fps).
    let cuts = tmp.path().join("cuts.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x120:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "smptebars=s=160x120:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "rgbtestsrc=s=160x120:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=160x120:r=25:d=2",
        "-filter_complex",
        "[0][1][2][3]concat=n=4,format=yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        cuts.to_str().unwrap(),
    ]);
    let by_scenes = tmp.path().join("scenes.vre");
    vre_plan(
        &cuts,
        &by_scenes,
        args![
            "--split",
            "scenes",
            "--min-chunk-frames",
            "10",
            "--max-chunk-frames",
            "80"
        ],
    );
    assert_eq!(chunk_starts(&by_scenes), vec![0, 50, 100, 150]);
    let reasons = read_json(&by_scenes.join("chunks.json"));
    assert!(reasons[2]["reason"].as_str().unwrap().contains("scene cut"));
    let out = tmp.path().join("scenes.mp4");
    vre_ok(args!["work", by_scenes, "-q"]);
    vre_ok(args!["assemble", by_scenes, "-o", out]);
    assert_eq!(
        num(&stream(&out, "video").unwrap(), "nb_read_packets"),
        200.0
    );
}

#[test]
fn variable_frame_rate_input_matches_a_serial_fps_filter_frame_for_frame() {
    let tmp = temp_dir();
    let vfr = tmp.path().join("vfr.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=60:duration=6",
        "-vf",
        "select='lt(mod(n\\,7)\\,2)+eq(mod(n\\,5)\\,0)+between(n\\,100\\,104)'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-bf",
        "2",
        vfr.to_str().unwrap(),
    ]);
    let refused = run_vre(args!["plan", vfr, "-o", tmp.path().join("x.vre")]);
    assert_eq!(refused.status.code(), Some(64), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("variable frame rate") && stderr(&refused).contains("--fps"));

    let out = tmp.path().join("out.mkv");
    vre_ok(args![
        "run", vfr, "-o", out, "--fps", "25", "--chunks", "5", "-j", "2"
    ]);
    let serial = framemd5(&vfr, Some("fps=25"));
    assert_eq!(serial.len(), 150);
    assert_eq!(framemd5(&out, None), serial);
    assert_eq!(stream(&out, "video").unwrap()["r_frame_rate"], "25/1");
}

#[test]
fn chunks_that_cannot_be_stream_copied_are_refused_unless_reencoding_is_allowed() {
    let tmp = temp_dir();
    let input = input(tmp.path(), 2.0);
    let main = tmp.path().join("main.vre");
    let other = tmp.path().join("other.vre");
    vre_plan(&input, &main, args!["--chunks", "3", "--no-source-audio"]);
    vre_plan(
        &input,
        &other,
        args!["--chunks", "3", "--no-source-audio", "--pix-fmt", "yuv444p"],
    );
    vre_ok(args!["work", main, "-q"]);
    vre_ok(args!["work", other, "-q"]);
    // Graft chunk 1 of a yuv444p render into the yuv420p planDir, with a sidecar that is
    // otherwise valid for this plan: only the stream check can catch it.
    let chunk = |dir: &Path| dir.join("chunks/chunk-000001.mp4");
    let sidecar = |dir: &Path| dir.join("chunks/chunk-000001.json");
    std::fs::copy(chunk(&other), chunk(&main)).unwrap();
    let mut grafted = read_json(&sidecar(&other));
    let own = read_json(&sidecar(&main));
    grafted["plan_hash"] = own["plan_hash"].clone();
    grafted["task_key"] = own["task_key"].clone();
    std::fs::write(sidecar(&main), serde_json::to_vec(&grafted).unwrap()).unwrap();

    let out = tmp.path().join("out.mp4");
    let refused = run_vre(args!["assemble", main, "-o", out]);
    assert_eq!(refused.status.code(), Some(65), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("chunk 1") && stderr(&refused).contains("pixel format"));
    assert!(stderr(&refused).contains("--allow-reencode"));
    assert!(!out.exists());
    vre_ok(args!["assemble", main, "-o", out, "--allow-reencode"]);
    assert_eq!(decode_errors(&out), "");
    let video = stream(&out, "video").unwrap();
    assert_eq!(
        num(&video, "nb_read_packets"),
        num(&stream(&input, "video").unwrap(), "nb_read_packets")
    );
}

#[test]
fn impossible_combinations_are_refused_with_the_valid_ones() {
    let tmp = temp_dir();
    let input = input(tmp.path(), 1.0);
    let refused = run_vre(args![
        "plan",
        input,
        "-o",
        tmp.path().join("a.vre"),
        "--format",
        "webm",
        "--codec",
        "libx264"
    ]);
    assert_eq!(refused.status.code(), Some(64));
    assert!(
        stderr(&refused).contains("webm: libvpx-vp9, libsvtav1"),
        "{}",
        stderr(&refused)
    );
    let no_crf = run_vre(args![
        "plan",
        input,
        "-o",
        tmp.path().join("b.vre"),
        "--codec",
        "ffv1",
        "--crf",
        "10"
    ]);
    assert_eq!(no_crf.status.code(), Some(64));
    assert!(stderr(&no_crf).contains("--crf"));
    let bad_out = run_vre(args!["run", input, "-o", tmp.path().join("x.avi")]);
    assert_eq!(bad_out.status.code(), Some(64));
    assert!(stderr(&bad_out).contains(".avi"));
}
