//! Frame-exactness on the timestamps real files have, one synthetic reproduction per trap:
//! truncated millisecond timestamps (WebM), sparse keyframes without cues (Matroska), video that
//! starts after the file does, audio delayed by an edit list. Each output is compared with the
//! equivalent single ffmpeg command on the same input: decoded frames (framemd5), frame count
//! and A/V offset.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A 15 fps WebM whose timestamps are stored truncated to the millisecond: every third frame
/// one millisecond early (frame 3 at 199 ms, not 200 ms), as some muxers write them.
fn truncated_webm(dir: &Path) -> PathBuf {
    let base = dir.join("base.webm");
    let out = dir.join("truncated.webm");
    lavfi(
        &["testsrc2=size=320x240:rate=15:duration=6"],
        &["-c:v", "libvpx", "-b:v", "400k", "-g", "30"],
        &base,
    );
    ffmpeg(&[
        "-i",
        base.to_str().unwrap(),
        "-c",
        "copy",
        "-bsf:v",
        "setts=pts=PTS-gt(N\\,0)*eq(mod(N\\,3)\\,0):dts=DTS-gt(N\\,0)*eq(mod(N\\,3)\\,0)",
        out.to_str().unwrap(),
    ]);
    out
}

/// The decoded frames of the serial reference: one ffmpeg command over the same input, with
/// `select` (a frame range by number, no timestamps involved) and a lossless encoder.
fn serial_frames(input: &Path, dir: &Path, range: Option<(u64, u64)>) -> Vec<String> {
    let reference = dir.join("serial.mkv");
    let mut args = vec!["-i".to_string(), input.to_str().unwrap().to_string()];
    args.extend(["-map", "0:v:0"].map(String::from));
    if let Some((a, b)) = range {
        args.push("-vf".to_string());
        args.push(format!("trim=start_frame={a}:end_frame={b}"));
    }
    args.extend(["-c:v", "ffv1", reference.to_str().unwrap()].map(String::from));
    ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    framemd5(&reference, None)
}

/// `vre run INPUT -o OUT -y -j 2 -q OPTIONS`, which must succeed (OUT is scratch, replaced from
/// one case to the next).
fn render(input: &Path, out: &Path, options: &[&str]) -> std::process::Output {
    let mut args = args!["run", input, "-o", out, "-y", "-j", "2", "-q"];
    args.extend(options.iter().map(std::ffi::OsString::from));
    vre_ok(args)
}

/// Encodes lavfi `sources` (inputs 0, 1, ...) with `args` into `out`.
fn lavfi(sources: &[&str], args: &[&str], out: &Path) {
    let mut all: Vec<&str> = sources
        .iter()
        .flat_map(|s| ["-f", "lavfi", "-i", s])
        .collect();
    all.extend(args);
    all.push(out.to_str().unwrap());
    ffmpeg(&all);
}

/// Encodes lavfi `sources` with `args` into `format` written to a pipe (so a muxer that would
/// seek back to write an index, such as Matroska's cues, cannot), returning the bytes.
fn lavfi_to_pipe(sources: &[&str], args: &[&str], format: &str) -> Vec<u8> {
    let inputs = sources.iter().flat_map(|s| ["-f", "lavfi", "-i", s]);
    let piped = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error"])
        .args(inputs)
        .args(args)
        .args(["-f", format, "pipe:1"])
        .output()
        .unwrap();
    assert!(piped.status.success(), "ffmpeg to a pipe failed");
    piped.stdout
}

/// The frames of a PNG sequence directory, in order.
fn png_frames(dir: &Path) -> Vec<String> {
    framemd5(&dir.join("frame_%06d.png"), Some("format=yuv420p"))
}

#[test]
fn truncated_millisecond_timestamps_never_shift_a_chunk() {
    let t = temp_dir();
    let input = truncated_webm(t.path());
    // Chunks of 21 frames start on truncated frames (every third one).
    assert_every_format_like_serial(&input, t.path(), "21", (31, 80));
    let keys = t.path().join("keys.mp4");
    render(
        &input,
        &keys,
        &["--crf", "0", "--split", "keyframes", "--chunk-frames", "21"],
    );
    let whole = serial_frames(&input, t.path(), None);
    assert_eq!(whole.len(), 90);
    assert_same_frames(&framemd5(&keys, None), &whole, "keyframe split");
}

#[test]
fn sparse_keyframes_without_cues_render_every_chunk() {
    let t = temp_dir();
    // Written to a pipe, the Matroska muxer cannot go back to write cues: no seek index, and
    // one keyframe every 4 s.
    let input = t.path().join("sparse.mkv");
    let cueless = lavfi_to_pipe(
        &["testsrc2=size=320x240:rate=25:duration=10"],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "100",
            "-bf",
            "2",
        ],
        "matroska",
    );
    std::fs::write(&input, cueless).unwrap();
    assert_every_format_like_serial(&input, t.path(), "60", (37, 190));
    let whole = serial_frames(&input, t.path(), None);
    for (name, split) in [("even.mkv", "frames"), ("keys.mkv", "keyframes")] {
        let out = t.path().join(name);
        render(
            &input,
            &out,
            &["--codec", "ffv1", "--chunk-frames", "60", "--split", split],
        );
        assert_same_frames(&framemd5(&out, None), &whole, name);
    }
}

/// An mp4 of 24 fps video and a tone, remuxed with one of the two tracks starting `delay`
/// seconds late: the video without an edit list (`-itsoffset` on a stream copy), or the audio
/// with one.
fn late_track(dir: &Path, video_late: bool, delay: &str) -> PathBuf {
    let video = dir.join("v.mp4");
    let tone = dir.join("a.m4a");
    let out = dir.join("late.mp4");
    let (video, tone) = (video.to_str().unwrap(), tone.to_str().unwrap());
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=24:duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "24",
        video,
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:duration=3.2",
        "-c:a",
        "aac",
        tone,
    ]);
    let late = |path| ["-itsoffset", delay, "-i", path];
    let on_time = |path| ["-i", path];
    let mut args: Vec<&str> = Vec::new();
    if video_late {
        args.extend(late(video));
        args.extend(on_time(tone));
    } else {
        args.extend(on_time(video));
        args.extend(late(tone));
    }
    args.extend([
        "-map",
        "0",
        "-map",
        "1",
        "-c",
        "copy",
        out.to_str().unwrap(),
    ]);
    ffmpeg(&args);
    out
}

/// Renders `input` with vre and with one serial ffmpeg command (x264 lossless and AAC, to mp4)
/// and asserts equal frames and the same A/V offset (when the tone is first heard, on each
/// file's timeline) within 1 ms. Returns the serial frame count and the offset.
fn assert_av_like_serial(input: &Path, dir: &Path) -> (usize, f64) {
    let serial = dir.join("serial.mp4");
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-crf",
        "0",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        serial.to_str().unwrap(),
    ]);
    let out = dir.join("out.mp4");
    render(input, &out, &["--crf", "0", "--chunk-frames", "10"]);
    let expected = framemd5(&serial, None);
    assert_same_frames(&framemd5(&out, None), &expected, "frames");
    let onset = |path: &Path| onsets(&audio_on_timeline(path), 0.05, 0.5)[0];
    let (ours, theirs) = (onset(&out), onset(&serial));
    assert!(
        (ours - theirs).abs() < 0.001,
        "A/V offset {ours} s, serial {theirs} s"
    );
    (expected.len(), theirs)
}

#[test]
fn video_that_starts_late_is_filled_like_serial_ffmpeg_fills_it() {
    let t = temp_dir();
    // The video track starts 83 ms after the file does, without an edit list.
    let input = late_track(t.path(), true, "0.083");
    let (frames, _) = assert_av_like_serial(&input, t.path());
    assert_eq!(frames, 74, "serial ffmpeg repeats the first frame twice");
}

#[test]
fn audio_delayed_by_an_edit_list_keeps_its_delay() {
    let t = temp_dir();
    // Remuxed with an offset, the audio track gets an edit list that starts it 67 ms late.
    let input = late_track(t.path(), false, "0.067");
    let (_, offset) = assert_av_like_serial(&input, t.path());
    assert!(offset > 0.05, "the reference keeps the delay ({offset} s)");
}

#[test]
fn a_chunk_made_of_shifted_frames_is_refused_at_publish_time() {
    let t = temp_dir();
    let input = truncated_webm(t.path());
    let dir = t.path().join("job.vre");
    vre_plan(
        &input,
        &dir,
        args!["--codec", "ffv1", "--chunk-frames", "30", "-q"],
    );
    // Debug builds only: the chunk starting at frame 30 seeks one frame late.
    let out = vre()
        .args(args!["work", dir, "-j", "1", "-q", "--max-attempts", "1"])
        .env("VRE_FAULT_SHIFT_FRAME", "30")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(80), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrong input frames"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("chunks/chunk-000001.json").exists());
    assert!(!dir.join("chunks/chunk-000001.mov").exists());
    assert!(dir.join("chunks/chunk-000000.json").exists());
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
    // Without the fault the same planDir completes, frame-exact.
    vre_ok(args!["work", dir, "-q", "--retry-failed"]);
    let out_file = t.path().join("out.mkv");
    vre_ok(args!["assemble", dir, "-o", out_file, "-q"]);
    assert_eq!(
        framemd5(&out_file, None),
        serial_frames(&input, t.path(), None)
    );
}

#[test]
fn ffv1_renders_odd_frame_sizes() {
    let t = temp_dir();
    let input = t.path().join("odd.mkv");
    lavfi(
        &["testsrc2=size=640x272:rate=25:duration=2"],
        &[
            "-vf",
            "scale=639:271",
            "-c:v",
            "ffv1",
            "-pix_fmt",
            "yuv420p",
        ],
        &input,
    );
    let out = t.path().join("out.mkv");
    render(&input, &out, &["--codec", "ffv1", "--chunk-frames", "20"]);
    let video = stream(&out, "video").unwrap();
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(639), Some(271))
    );
    assert_same_frames(&framemd5(&out, None), &framemd5(&input, None), "odd size");
}

/// Compares vre's output against the serial command's for `input`, both lossless.
fn assert_like_serial(
    input: &Path,
    dir: &Path,
    vre_args: &[&str],
    serial_args: &[&str],
    out: &str,
) {
    let ours = dir.join(out);
    render(input, &ours, vre_args);
    let theirs = dir.join(format!("serial-{out}"));
    let mut serial = vec!["-i", input.to_str().unwrap()];
    serial.extend(serial_args);
    serial.push(theirs.to_str().unwrap());
    ffmpeg(&serial);
    assert_same_frames(&framemd5(&ours, None), &framemd5(&theirs, None), out);
}

/// Asserts two decoded frame lists are equal, naming the first difference (not the lists).
fn assert_same_frames(ours: &[String], theirs: &[String], what: &str) {
    assert!(!theirs.is_empty(), "{what}: the reference has no frames");
    let first = ours.iter().zip(theirs).position(|(a, b)| a != b);
    assert!(
        ours.len() == theirs.len() && first.is_none(),
        "{what}: vre has {} frames, serial ffmpeg {}; first difference at frame {first:?}",
        ours.len(),
        theirs.len()
    );
}

#[test]
fn avi_with_b_frames_and_no_stored_pts_is_frame_exact() {
    let t = temp_dir();
    // MPEG-4 ASP with B-frames in AVI: a third of the packets carry no pts.
    let input = t.path().join("xvid.avi");
    lavfi(
        &["testsrc2=size=320x240:rate=2997/125:duration=6"],
        &["-c:v", "mpeg4", "-bf", "2", "-q:v", "4", "-vtag", "XVID"],
        &input,
    );
    assert_every_format_like_serial(&input, t.path(), "40", (23, 101));
    let lossless = ["-c:v", "ffv1"];
    assert_like_serial(
        &input,
        t.path(),
        &["--codec", "ffv1", "--chunk-frames", "40"],
        &lossless,
        "split.mkv",
    );
    assert_like_serial(
        &input,
        t.path(),
        &["--crf", "0", "--chunk-frames", "40"],
        &["-c:v", "libx264", "-crf", "0"],
        "split.mp4",
    );
}

#[test]
fn transport_and_program_streams_render_through_the_frame_index() {
    let t = temp_dir();
    let ts = t.path().join("in.ts");
    let ps = t.path().join("in.mpg");
    let source = "testsrc2=size=320x240:rate=25:duration=8";
    lavfi(
        &[source, "sine=duration=8"],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-bf",
            "3",
            "-c:a",
            "aac",
        ],
        &ts,
    );
    lavfi(
        &[source, "sine=duration=8"],
        &[
            "-c:v",
            "mpeg2video",
            "-g",
            "15",
            "-bf",
            "2",
            "-q:v",
            "3",
            "-c:a",
            "mp2",
        ],
        &ps,
    );
    let x264 = ["-c:v", "libx264", "-crf", "0", "-c:a", "aac"];
    for input in [&ts, &ps] {
        // Chunks of 37 frames start between keyframes, where a plain seek lands anywhere.
        assert_like_serial(
            input,
            t.path(),
            &["--crf", "0", "--chunk-frames", "40"],
            &x264,
            "out.mp4",
        );
    }
}

#[test]
fn a_raw_elementary_stream_is_refused_with_a_conversion_that_works() {
    let t = temp_dir();
    let raw = t.path().join("in.264");
    lavfi(
        &["testsrc2=size=320x240:rate=25:duration=3"],
        &["-c:v", "libx264", "-bf", "2", "-f", "h264"],
        &raw,
    );
    let out = run_vre(args!["plan", raw, "-o", t.path().join("job.vre")]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    let message = stderr(&out);
    let fix = message
        .split("put it in a container first: ")
        .nth(1)
        .expect("the refusal says how to convert it")
        .trim();
    // Run the suggested command as written, with INPUT and its output in place.
    let converted = t.path().join("in.264.mkv");
    let argv: Vec<String> = fix
        .split_whitespace()
        .skip(1)
        .map(|arg| match arg {
            "INPUT" => raw.to_str().unwrap().to_string(),
            "INPUT.mkv" => converted.to_str().unwrap().to_string(),
            other => other.to_string(),
        })
        .collect();
    ffmpeg(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert_like_serial(
        &converted,
        t.path(),
        &["--codec", "ffv1", "--chunk-frames", "20"],
        &["-c:v", "ffv1"],
        "out.mkv",
    );
    assert_same_frames(
        &framemd5(&converted, None),
        &framemd5(&raw, None),
        "conversion",
    );
}

#[test]
fn a_late_video_start_on_an_fps_grid_matches_serial_fps() {
    let t = temp_dir();
    let video = t.path().join("v.mp4");
    lavfi(
        &["testsrc2=size=320x240:rate=24:duration=2"],
        &["-c:v", "libx264", "-preset", "ultrafast"],
        &video,
    );
    let with_audio = t.path().join("late-av.mp4");
    ffmpeg(&[
        "-itsoffset",
        "0.1",
        "-i",
        video.to_str().unwrap(),
        "-f",
        "lavfi",
        "-i",
        "sine=duration=2",
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        with_audio.to_str().unwrap(),
    ]);
    let alone = t.path().join("late-v.mp4");
    ffmpeg(&[
        "-itsoffset",
        "0.1",
        "-i",
        video.to_str().unwrap(),
        "-c",
        "copy",
        alone.to_str().unwrap(),
    ]);
    let serial = ["-vf", "fps=30", "-c:v", "libx264", "-crf", "0", "-an"];
    let ours = [
        "--fps",
        "30",
        "--crf",
        "0",
        "--chunk-frames",
        "10",
        "--no-source-audio",
    ];
    // With audio, serial ffmpeg fills the first 3 slots with the first frame; alone, its grid
    // starts at that frame. Frames 0.1 s off a 24 → 30 fps grid hit near-tie slots (frame 30 at
    // 40.5 slots), where an fps filter anchored with start_time at a chunk's start (slot 36)
    // rounds the other way: every chunk must round as the one serial filter does.
    assert_like_serial(&with_audio, t.path(), &ours, &serial, "av.mp4");
    assert_like_serial(&alone, t.path(), &ours, &serial, "v.mp4");
    assert_eq!(
        framemd5(&t.path().join("av.mp4"), None).len(),
        framemd5(&t.path().join("v.mp4"), None).len() + 3
    );
}

#[test]
fn a_damaged_frame_index_is_refused_before_anything_renders() {
    let t = temp_dir();
    let input = t.path().join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 2.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let dir = t.path().join("job.vre");
    vre_plan(&input, &dir, args!["-q", "--chunk-frames", "20"]);
    let index = dir.join("index.bin");
    let mut bytes = std::fs::read(&index).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x02;
    std::fs::write(&index, bytes).unwrap();
    let out = run_vre(args!["work", dir, "-q"]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(stderr(&out).contains("index.bin"), "{}", stderr(&out));
    assert!(!dir.join("chunks/chunk-000000.json").exists());
}

/// Renders `input` in several chunks to mkv (FFV1), mp4 (x264 lossless) and png, and a range of
/// it to mkv, and compares each with one serial ffmpeg command over the same input.
fn assert_every_format_like_serial(input: &Path, dir: &Path, chunk: &str, (a, b): (u64, u64)) {
    let whole = serial_frames(input, dir, None);
    let ranged = serial_frames(input, dir, Some((a, b)));
    let range = format!("{a}:{b}");
    for (name, extra, expected) in [
        ("all.mkv", vec!["--codec", "ffv1"], &whole),
        ("all.mp4", vec!["--crf", "0"], &whole),
        (
            "range.mkv",
            vec!["--codec", "ffv1", "--range", range.as_str()],
            &ranged,
        ),
    ] {
        let out = dir.join(name);
        let mut options = vec!["--chunk-frames", chunk];
        options.extend(extra);
        render(input, &out, &options);
        assert_same_frames(&framemd5(&out, Some("format=yuv420p")), expected, name);
    }
    let png = dir.join("frames");
    render(input, &png, &["--format", "png", "--chunk-frames", chunk]);
    let serial_png = dir.join("serial-png");
    std::fs::create_dir_all(&serial_png).unwrap();
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        serial_png.join("frame_%06d.png").to_str().unwrap(),
    ]);
    assert_same_frames(&png_frames(&png), &png_frames(&serial_png), "png");
}

#[test]
fn scene_splits_of_a_webm_without_cues_start_on_the_right_frames() {
    let t = temp_dir();
    // Three scenes (a test pattern, a fractal, the pattern negated), one keyframe in 8 s, and
    // no cues (written to a pipe): scene cuts fall far from any keyframe.
    let graph = "[1:v]trim=duration=3,setpts=PTS-STARTPTS[m];[0:v][m]concat=n=2:v=1,split[a][b];\
                 [b]trim=duration=2,setpts=PTS-STARTPTS,negate[c];[a][c]concat=n=2:v=1";
    let input = t.path().join("scenes.webm");
    let cueless = lavfi_to_pipe(
        &[
            "testsrc2=size=320x240:rate=25:duration=3",
            "mandelbrot=size=320x240:rate=25",
        ],
        &[
            "-filter_complex",
            graph,
            "-c:v",
            "libvpx",
            "-b:v",
            "400k",
            "-g",
            "250",
        ],
        "webm",
    );
    std::fs::write(&input, cueless).unwrap();
    let out = t.path().join("out.mkv");
    let run = vre_ok(args![
        "run", input, "-o", out, "-j", "2", "--codec", "ffv1", "--split", "scenes"
    ]);
    assert!(stderr(&run).contains("split by scenes"), "{}", stderr(&run));
    let whole = serial_frames(&input, t.path(), None);
    assert_eq!(whole.len(), 200);
    assert_same_frames(&framemd5(&out, None), &whole, "scene split");
}
