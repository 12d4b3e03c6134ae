//! Delivery specs: a VBV buffer that holds across seams in the assembled file, two-pass bit
//! rates, the stream shape asked for (profile, level, keyframe interval, tune, encoder
//! parameters) in the stream itself, `--size` that keeps the aspect ratio, and the settings that
//! would break chunks refused at plan time.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use vre::vbv::{Frame, Model};

/// Frames per chunk in these tests: one second at 25 fps.
const CHUNK: &str = "25";

/// An 8-second 640x360 clip whose complexity changes every second, where its chunks meet: a
/// test pattern, then noise, in turn.
fn changing_clip(path: &Path) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=640x360:r=25:d=1",
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=640x360:r=25:d=1,geq=lum='random(1)*255':cb=128:cr=128",
        "-filter_complex",
        "[0]format=yuv420p,split=4[a0][a1][a2][a3];[1]format=yuv420p,split=4[b0][b1][b2][b3];\
         [a0][b0][a1][b1][a2][b2][a3][b3]concat=n=8",
        "-c:v",
        "ffv1",
        path.to_str().unwrap(),
    ]);
}

/// Makes the changing clip in `dir` and renders it with `vre run -j 2`, x264 `veryfast`,
/// chunks of `chunk_frames` and `options`, keeping the planDir: the input, the output and the
/// planDir.
fn render_changing(
    dir: &Path,
    chunk_frames: &str,
    options: &[&str],
) -> (PathBuf, PathBuf, PathBuf) {
    let input = dir.join("changing.mkv");
    changing_clip(&input);
    let (out, plan_dir) = (dir.join("out.mp4"), dir.join("job.vre"));
    let mut run = args![
        "run",
        &input,
        "-o",
        &out,
        "--plan-dir",
        &plan_dir,
        "--keep-temp",
        "-j",
        "2",
        "--chunk-frames",
        chunk_frames,
        "--preset",
        "veryfast",
        "-q"
    ];
    run.extend(options.iter().map(std::ffi::OsString::from));
    vre_ok(run);
    (input, out, plan_dir)
}

/// The video packets of a file in decode order, read with ffprobe.
fn coded_frames(path: &Path) -> Vec<Frame> {
    packet_entries(path, "v:0", "dts_time,size")
        .iter()
        .filter_map(|line| {
            let (dts, size) = line.split_once(',')?;
            Some(Frame {
                dts: dts.parse().ok()?,
                bits: size.parse::<f64>().ok()? * 8.0,
            })
        })
        .collect()
}

/// The video's average bit rate: its packets over its frames' duration at 25 fps.
fn video_bitrate(path: &Path) -> f64 {
    let frames = coded_frames(path);
    frames.iter().map(|f| f.bits).sum::<f64>() / (frames.len() as f64 / 25.0)
}

/// The fill x264 starts its buffer from by default (the serial command's and the first chunk's).
const X264_START_FILL: f64 = 0.9;

#[test]
fn the_vbv_buffer_holds_across_seams_in_the_assembled_file() {
    let tmp = temp_dir();
    let (input, out, plan_dir) = render_changing(
        tmp.path(),
        CHUNK,
        &["--bitrate", "1M", "--maxrate", "1.2M", "--bufsize", "600k"],
    );
    let model = Model {
        rate: 1.2e6,
        size: 6e5,
    };
    // The serial command at the same settings passes the same check: the checker is right.
    let serial = tmp.path().join("serial.mp4");
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-b:v",
        "1M",
        "-maxrate",
        "1.2M",
        "-bufsize",
        "600k",
        serial.to_str().unwrap(),
    ]);
    let serial_run = model.run(&coded_frames(&serial), X264_START_FILL, 0.04);
    assert!(serial_run.underflows.is_empty(), "serial: {serial_run:?}");

    let frames = coded_frames(&out);
    assert_eq!(frames.len(), 200);
    let run = model.run(&frames, X264_START_FILL, 0.04);
    assert!(run.underflows.is_empty(), "vre: {run:?}");
    let bitrate = video_bitrate(&out);
    assert!(
        (bitrate / 1e6 - 1.0).abs() <= 0.15,
        "average {bitrate:.0} b/s is not within 15 % of 1 Mb/s"
    );

    // What makes the whole file hold: every chunk but the last leaves the buffer at least as
    // full as the next chunk's encoder assumed (the plan's seam fill).
    let plan = read_json(&plan_dir.join("plan.json"));
    let seams = &plan["encoder"]["delivery"]["seams"];
    let start_fill = seams["start_fill"].as_f64().expect("a seam plan");
    let chunks = chunk_files(&plan_dir);
    assert_eq!(chunks.len(), 8);
    for (n, chunk) in chunks.iter().enumerate().take(chunks.len() - 1) {
        let start = if n == 0 { X264_START_FILL } else { start_fill };
        let end = model.run(&coded_frames(chunk), start, 0.04).end_fill;
        assert!(
            end >= start_fill,
            "chunk {n} leaves the buffer {end:.3} full, the next assumes {start_fill}"
        );
    }
}

#[test]
fn two_passes_land_on_the_bit_rate_and_keep_their_statistics_in_the_plan_dir() {
    let tmp = temp_dir();
    let (_, out, plan_dir) =
        render_changing(tmp.path(), "50", &["--passes", "2", "--bitrate", "800k"]);
    let bitrate = video_bitrate(&out);
    assert!(
        (bitrate / 8e5 - 1.0).abs() <= 0.05,
        "average {bitrate:.0} b/s is not within 5 % of 800 kb/s"
    );
    assert_eq!(framemd5(&out, None).len(), 200);
    for n in 0..4 {
        let stats = plan_dir.join(format!("passlog/chunk-{n:06}-0.log"));
        assert!(
            std::fs::metadata(&stats).is_ok_and(|m| m.len() > 0),
            "{stats:?}"
        );
    }
}

/// The x264 options string of a file's first SEI (`… options: cabac=1 ref=3 …`).
fn x264_options(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let at = text.find("options: ").expect("x264's SEI");
    text[at..].split('\0').next().unwrap().to_string()
}

#[test]
fn profile_level_keyframe_interval_tune_and_encoder_params_reach_the_stream() {
    let tmp = temp_dir();
    let shape = [
        "--profile",
        "high",
        "--level",
        "4.1",
        "--keyint",
        "40",
        "--tune",
        "film",
        "--encoder-params",
        "aq-mode=3:ref=2",
    ];
    let (_, out, _) = render_changing(tmp.path(), "100", &shape);
    let video = stream(&out, "video").unwrap();
    assert_eq!(video["profile"], "High");
    assert_eq!(video["level"], 41);
    let options = x264_options(&out);
    // aq-mode=3, ref=2 as asked; tune film's deblocking (-1:-1) and psy-trellis (0.15).
    for expected in [
        "aq=3:",
        " ref=2 ",
        "deblock=1:-1:-1",
        "psy_rd=1.00:0.15",
        "keyint=40",
    ] {
        assert!(options.contains(expected), "{expected} not in {options}");
    }
    let keyframes = keyframe_indices(&out);
    assert_eq!(keyframes.first(), Some(&0));
    let longest_gap = keyframes
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain([200 - keyframes.last().unwrap()])
        .max()
        .unwrap();
    assert!(longest_gap <= 40, "keyframes {keyframes:?}");
    // Every chunk starts on a keyframe: 0, 100.
    assert!(keyframes.contains(&100), "keyframes {keyframes:?}");
}

/// The indices of a file's video keyframes, in decode order.
fn keyframe_indices(path: &Path) -> Vec<usize> {
    packet_entries(path, "v:0", "flags")
        .iter()
        .enumerate()
        .filter(|(_, flags)| flags.starts_with('K'))
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn keyframes_fall_on_scene_cuts_where_the_serial_command_puts_them_unless_the_gop_is_fixed() {
    let tmp = temp_dir();
    // Cuts every 25 frames; two chunks of 100 frames, keyint 100.
    let (input, out, _) = render_changing(tmp.path(), "100", &[]);
    let serial = tmp.path().join("serial.mp4");
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        serial.to_str().unwrap(),
    ]);
    let serial_keys = keyframe_indices(&serial);
    let vre_keys = keyframe_indices(&out);
    // Every scene-cut keyframe of the serial command, and besides those only chunk starts.
    let chunk_starts = [0, 100];
    assert!(
        serial_keys.iter().any(|k| !chunk_starts.contains(k)),
        "the serial command keys a cut inside a chunk: {serial_keys:?}"
    );
    let expected: std::collections::BTreeSet<usize> =
        serial_keys.iter().copied().chain(chunk_starts).collect();
    assert_eq!(
        vre_keys
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        expected,
        "vre's keyframes {vre_keys:?}, serial {serial_keys:?}"
    );
    assert!(x264_options(&out).contains("scenecut=40"));

    let fixed = temp_dir();
    let (_, out, _) = render_changing(fixed.path(), "100", &["--fixed-gop"]);
    assert_eq!(keyframe_indices(&out), chunk_starts);
    assert!(x264_options(&out).contains("scenecut=0"));
}

#[test]
fn a_keyframe_interval_in_seconds_counts_the_output_frame_rate() {
    let (_tmp, input) = scratch_input(VideoSpec {
        size: "160x90",
        rate: "25",
        seconds: 4.0,
        audio: false,
    });
    let plan_dir = input.with_extension("vre");
    vre_plan(&input, &plan_dir, ["--keyint", "2s", "--chunks", "2", "-q"]);
    let plan = read_json(&plan_dir.join("plan.json"));
    assert_eq!(plan["encoder"]["gop"]["keyint"], 50);
}

#[test]
fn a_side_of_minus_n_keeps_the_aspect_ratio_as_ffmpegs_scale_does() {
    let (tmp, input) = scratch_input(VideoSpec {
        size: "320x180",
        rate: "25",
        seconds: 1.0,
        audio: false,
    });
    for (asked, scale) in [
        ("-2x100", "-2:100"),
        ("150x-2", "150:-2"),
        ("-4x100", "-4:100"),
    ] {
        let out = tmp.path().join(format!("{scale}.mp4").replace(':', "_"));
        vre_ok(args![
            "run", &input, "-o", &out, "--size", asked, "--chunks", "2", "--crf", "0", "-q"
        ]);
        let serial = tmp.path().join("serial.mp4");
        ffmpeg(&[
            "-i",
            input.to_str().unwrap(),
            "-vf",
            &format!("scale={scale}"),
            "-c:v",
            "libx264",
            "-crf",
            "0",
            serial.to_str().unwrap(),
        ]);
        let (ours, theirs) = (
            stream(&out, "video").unwrap(),
            stream(&serial, "video").unwrap(),
        );
        for key in ["width", "height", "sample_aspect_ratio"] {
            assert_eq!(ours[key], theirs[key], "--size {asked}: {key}");
        }
        assert_eq!(
            framemd5(&out, None),
            framemd5(&serial, None),
            "--size {asked}"
        );
    }
}

#[test]
fn settings_that_would_break_chunks_or_cannot_work_are_refused_before_any_work() {
    let (tmp, input) = scratch_input(VideoSpec {
        size: "160x90",
        rate: "25",
        seconds: 1.0,
        audio: false,
    });
    let dir = tmp.path().join("refused.vre");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--encoder-params", "keyint=500"],
            &["--encoder-params", "--keyint"],
        ),
        (
            &["--encoder-params", "open-gop=1"],
            &["--encoder-params", "closed GOPs"],
        ),
        (
            &["--encoder-params", "threads=8"],
            &["--encoder-params", "--threads"],
        ),
        (&["--encoder-opt", "g=300"], &["--encoder-opt", "--keyint"]),
        (
            &["--encoder-opt", "x264-params=bframes=2"],
            &["--encoder-opt", "--encoder-params"],
        ),
        (&["--maxrate", "2M"], &["--maxrate", "--bufsize"]),
        (&["--bitrate", "1M", "--crf", "20"], &["--bitrate", "--crf"]),
        (
            &["--bitrate", "2M", "--maxrate", "1M", "--bufsize", "1M"],
            &["--maxrate"],
        ),
        (&["--passes", "2"], &["--passes", "--bitrate"]),
        (
            &["--codec", "prores_ks", "--bitrate", "50M"],
            &["--bitrate", "prores_ks"],
        ),
        (
            &["--codec", "prores_ks", "--profile", "hq"],
            &["--profile", "--preset"],
        ),
        (
            &["--codec", "libsvtav1", "--passes", "2", "--bitrate", "1M"],
            &["--passes"],
        ),
        (&["--profile", "nonsense"], &["ffmpeg rejects"]),
    ];
    for (options, named) in cases {
        assert_plan_refused(&input, &dir, options, named);
    }
}

/// ffmpeg's complaints decoding a file (empty: it decodes cleanly).
fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{path:?} does not decode");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn encoders_beyond_the_first_seven_render_in_chunks_with_every_frame() {
    let (tmp, input) = scratch_input(VideoSpec {
        size: "320x180",
        rate: "25",
        seconds: 3.0,
        audio: true,
    });
    for (codec, format, decoded_as) in [
        ("mpeg2video", "mp4", "mpeg2video"),
        ("mpeg2video", "mkv", "mpeg2video"),
        ("mjpeg", "mov", "mjpeg"),
        ("libaom-av1", "webm", "av1"),
        ("dnxhd", "mov", "dnxhd"),
    ] {
        let out = tmp.path().join(format!("{codec}.{format}"));
        vre_ok(args![
            "run", &input, "-o", &out, "--codec", codec, "--chunks", "3", "-j", "2", "-q"
        ]);
        let video = stream(&out, "video").unwrap();
        assert_eq!(video["codec_name"], decoded_as, "{codec} in {format}");
        assert_eq!(framemd5(&out, None).len(), 75, "{codec} in {format}");
        assert_eq!(decode_errors(&out), "", "{codec} in {format}");
        assert!(stream(&out, "audio").is_some(), "{codec} in {format}");
    }
}

#[test]
fn a_hardware_encoder_is_refused_at_plan_time_where_its_device_is_missing() {
    let (tmp, input) = scratch_input(VideoSpec {
        size: "160x90",
        rate: "25",
        seconds: 1.0,
        audio: false,
    });
    let dir = tmp.path().join("gpu.vre");
    let has_gpu = Path::new("/dev/nvidia0").exists();
    for codec in ["h264_nvenc", "hevc_nvenc"] {
        if has_gpu {
            vre_plan(&input, &dir, ["--codec", codec, "--force", "-q"]);
        } else {
            assert_plan_refused(
                &input,
                &dir,
                &["--codec", codec],
                &["--codec", codec, "needs a device", "libcuda"],
            );
        }
    }
}
