//! A chunk's check reads its frame count and stream facts from its mp4 index instead of starting
//! ffprobe, and so do the checks of the rendered audio and the assembled output read their stream
//! timings. What the index gives must be exactly what ffprobe reports, for every codec and pixel
//! format vre puts in mp4 chunks and for every mp4/mov/m4a vre writes; where the index cannot
//! tell, ffprobe answers.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use vre::ffmpeg::{mp4, probe};

/// Encodes 20 frames of a test pattern (`size`, 24 fps) with `codec_args` into `name`, muxed
/// with the options vre's chunks are muxed with.
fn encode(dir: &Path, name: &str, size: &str, codec_args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let source = format!("testsrc2=size={size}:rate=24:duration=1");
    let mut args = vec!["-f", "lavfi", "-i", &source, "-frames:v", "20"];
    args.extend_from_slice(codec_args);
    args.extend(["-fflags", "+bitexact", path.to_str().unwrap()]);
    ffmpeg(&args);
    path
}

#[test]
fn the_index_gives_what_ffprobe_reports_for_every_mp4_codec() {
    let dir = temp_dir();
    let x264 = |preset: &'static str, pix_fmt: &'static str| {
        vec!["-c:v", "libx264", "-preset", preset, "-pix_fmt", pix_fmt]
    };
    let x265 = |pix_fmt: &'static str| {
        vec![
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            pix_fmt,
        ]
    };
    let vp9 = |pix_fmt: &'static str| {
        vec![
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-pix_fmt",
            pix_fmt,
        ]
    };
    let av1 =
        |pix_fmt: &'static str| vec!["-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", pix_fmt];
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "x264 medium (B-frames, edit list)",
            "yuv420p",
            x264("medium", "yuv420p"),
        ),
        (
            "x264 ultrafast (constrained baseline)",
            "yuv420p",
            x264("ultrafast", "yuv420p"),
        ),
        ("x264 full range", "yuvj420p", x264("veryfast", "yuvj420p")),
        ("x264 4:2:2", "yuv422p", x264("veryfast", "yuv422p")),
        (
            "x264 4:4:4 10-bit",
            "yuv444p10le",
            x264("veryfast", "yuv444p10le"),
        ),
        (
            "x264 10-bit",
            "yuv420p10le",
            x264("veryfast", "yuv420p10le"),
        ),
        ("x265", "yuv420p", x265("yuv420p")),
        ("x265 10-bit", "yuv420p10le", x265("yuv420p10le")),
        ("x265 4:4:4", "yuv444p", x265("yuv444p")),
        ("svt-av1", "yuv420p", av1("yuv420p")),
        ("svt-av1 10-bit", "yuv420p10le", av1("yuv420p10le")),
        ("vp9", "yuv420p", vp9("yuv420p")),
        ("vp9 4:4:4", "yuv444p", vp9("yuv444p")),
        ("vp9 10-bit", "yuv420p10le", vp9("yuv420p10le")),
    ];
    for (i, (what, pix_fmt, args)) in cases.iter().enumerate() {
        // Odd sizes where the codec allows them (4:2:0 and 4:2:2 need even ones).
        let size = if pix_fmt.contains("444") {
            "317x181"
        } else {
            "318x180"
        };
        let file = encode(dir.path(), &format!("{i}.mp4"), size, args);
        let by_ffprobe = probe::chunk_facts_by_ffprobe(&file).unwrap();
        let by_index = mp4::chunk_facts(&file, pix_fmt);
        assert_eq!(by_index.as_ref(), Some(&by_ffprobe), "{what}");
        assert_eq!(by_ffprobe.0, 20, "{what}");
    }
}

#[test]
fn what_the_index_cannot_tell_is_left_to_ffprobe() {
    let dir = temp_dir();
    let x264 = [
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
    ];
    let plain = encode(dir.path(), "plain.mp4", "320x240", &x264);

    // A pixel format the stream does not have: not this reader's call.
    assert!(mp4::chunk_facts(&plain, "yuv444p").is_none());
    assert_eq!(
        probe::chunk_facts(&plain, "yuv444p").unwrap(),
        probe::chunk_facts_by_ffprobe(&plain).unwrap()
    );

    // Not an mp4: NUT chunks (FFV1, PNG).
    let nut = encode(dir.path(), "lossless.nut", "320x240", &["-c:v", "ffv1"]);
    assert!(mp4::chunk_facts(&nut, "yuv420p").is_none());
    assert_eq!(probe::chunk_facts(&nut, "yuv420p").unwrap().0, 20);

    // Frames of changing duration: ffmpeg guesses the frame rate, so ffprobe is asked.
    let uneven = dir.path().join("uneven.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=24:duration=1",
        "-frames:v",
        "20",
        "-vf",
        "setpts=N*N",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        uneven.to_str().unwrap(),
    ]);
    assert!(mp4::chunk_facts(&uneven, "yuv420p").is_none());
    assert_eq!(probe::chunk_facts(&uneven, "yuv420p").unwrap().0, 20);

    // A file cut short loses its index (ffmpeg writes it last): no facts, and ffprobe's error.
    let bytes = std::fs::read(&plain).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(mp4::chunk_facts(&cut, "yuv420p").is_none());
    assert!(probe::chunk_facts(&cut, "yuv420p").is_err());
}

/// Asserts that the index reader either leaves `file` to ffprobe or says exactly what ffprobe
/// says of it; returns whether it answered.
fn timings_agree(file: &Path, what: &str) -> bool {
    let by_ffprobe = probe::stream_timings_by_ffprobe(file, false).unwrap();
    let Some(by_index) = mp4::stream_timings(file) else {
        return false;
    };
    assert_eq!(by_index.len(), by_ffprobe.len(), "{what}");
    for (index, ffprobe) in by_index.iter().zip(&by_ffprobe) {
        // ffprobe prints seconds with six decimals.
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        let same = index.codec_type == ffprobe.codec_type
            && close(index.start_time, ffprobe.start_time)
            && close(index.duration, ffprobe.duration)
            && index.sample_rate == ffprobe.sample_rate
            && index.frames == ffprobe.frames
            && index.r_frame_rate == ffprobe.r_frame_rate
            && index.avg_frame_rate == ffprobe.avg_frame_rate;
        assert!(same, "{what}: index {index:?}, ffprobe {ffprobe:?}");
    }
    true
}

#[test]
fn the_index_gives_the_stream_timings_ffprobe_reports_for_what_vre_writes() {
    let dir = temp_dir();
    let clip = |name: &str, rate: &'static str, audio: bool| {
        let path = dir.path().join(name);
        make_video(
            &path,
            &VideoSpec {
                rate,
                seconds: 3.0,
                audio,
                ..VideoSpec::default()
            },
        );
        path
    };
    let ntsc = clip("ntsc.mp4", "30000/1001", true);
    let pal = clip("pal.mp4", "25", true);
    let silent = clip("silent.mp4", "24", false);
    let cases: Vec<(&str, &Path, &str, Vec<&str>)> = vec![
        ("mp4, x264 with B-frames, AAC", &ntsc, "out.mp4", vec![]),
        ("mov, ProRes, AAC", &pal, "out.mov", vec![]),
        (
            "mp4, x265, AAC at 25 fps",
            &pal,
            "hevc.mp4",
            vec!["--codec", "libx265", "--preset", "ultrafast"],
        ),
        ("mp4 without audio", &silent, "silent-out.mp4", vec![]),
        (
            "mp4, the --fps grid and a late --audio track",
            &silent,
            "grid.mp4",
            vec!["--fps", "30", "--audio", "file=pal.mp4,offset=0.5"],
        ),
    ];
    for (what, input, name, options) in cases {
        let out = dir.path().join(name);
        let mut args = vec![
            "run".to_string(),
            input.display().to_string(),
            "-o".to_string(),
            out.display().to_string(),
            "-j".to_string(),
            "2".to_string(),
            "-q".to_string(),
            "--keep-temp".to_string(),
        ];
        args.extend(options.iter().map(|o| o.to_string()));
        let run = vre().current_dir(dir.path()).args(&args).output().unwrap();
        assert!(run.status.success(), "{what}: {}", stderr(&run));
        // Both the output and the audio file rendered for it are read from their index.
        assert!(timings_agree(&out, what), "{what}: left to ffprobe");
        let plan_dir = dir.path().join(format!("{name}.vre"));
        let audio = plan_dir.join("audio").join("audio.m4a");
        if audio.exists() {
            assert!(timings_agree(&audio, what), "{what}: audio left to ffprobe");
        }
    }
    assert!(dir.path().join("out.mp4.vre/audio/audio.m4a").exists());
}

#[test]
fn timings_the_index_cannot_tell_are_left_to_ffprobe() {
    let dir = temp_dir();
    let source = dir.path().join("source.mp4");
    make_video(&source, &VideoSpec::default());
    let remux = |name: &str, options: &[&str]| {
        let path = dir.path().join(name);
        let mut args = vec!["-i", source.to_str().unwrap(), "-c", "copy"];
        args.extend_from_slice(options);
        args.push(path.to_str().unwrap());
        ffmpeg(&args);
        path
    };
    let late = dir.path().join("late.mp4");
    let source_text = source.to_str().unwrap();
    ffmpeg(&[
        "-i",
        source_text,
        "-itsoffset",
        "0.5",
        "-i",
        source_text,
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c",
        "copy",
        late.to_str().unwrap(),
    ]);
    // Whatever the reader answers for these must be ffprobe's answer; these it cannot answer.
    let cases = [
        (
            "no edit lists",
            remux("no-edits.mp4", &["-use_editlist", "0"]),
        ),
        (
            "fragmented",
            remux("fragments.mp4", &["-movflags", "frag_keyframe+empty_moov"]),
        ),
        (
            "a timecode track",
            remux("timecode.mov", &["-timecode", "01:00:00:00"]),
        ),
        ("audio that starts late (an empty edit)", late),
    ];
    for (what, file) in &cases {
        assert!(!timings_agree(file, what), "{what}: the index answered");
        assert_eq!(
            probe::stream_timings(file, false).unwrap(),
            probe::stream_timings_by_ffprobe(file, false).unwrap(),
            "{what}"
        );
    }
    // A plain remux with ffmpeg's defaults may be answered, and then exactly.
    timings_agree(&remux("plain.mp4", &[]), "plain remux");
}
