//! Audio: rendered once, tracks on a timeline, rate-scaled seeks, exact length, perfect sync.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A silent test video: 64x64 at 10 fps.
fn small_video(dir: &Path, seconds: u32) -> PathBuf {
    let path = dir.join("video.mp4");
    let src = format!("testsrc2=size=64x64:rate=10:duration={seconds}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        path.to_str().unwrap(),
    ]);
    path
}

/// A WAV made from an aevalsrc expression.
fn wav(dir: &Path, name: &str, expr: &str, seconds: f64) -> PathBuf {
    let path = dir.join(name);
    let src = format!("aevalsrc='{expr}':s=48000:d={seconds}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-c:a",
        "pcm_s16le",
        path.to_str().unwrap(),
    ]);
    path
}

fn track(path: &Path, extra: &str) -> String {
    format!("file={}{extra}", path.display())
}

#[test]
fn every_beep_lies_within_one_frame_of_its_flash_across_chunk_seams() {
    let tmp = temp_dir();
    let flashes = [20u32, 50, 95, 130, 170];
    let frame = 1001.0 / 30000.0;
    let enable = flashes
        .iter()
        .map(|n| format!("eq(n,{n})"))
        .collect::<Vec<_>>()
        .join("+");
    let beeps = flashes
        .iter()
        .map(|&n| {
            let t = f64::from(n) * frame;
            format!("between(t,{t:.6},{:.6})", t + 0.04)
        })
        .collect::<Vec<_>>()
        .join("+");
    let video = format!(
        "color=c=black:size=160x120:rate=30000/1001:duration=6,drawbox=color=white:t=fill:enable='{enable}'"
    );
    let audio = format!("aevalsrc='0.5*sin(2*PI*1000*t)*({beeps})':s=48000:d=6");
    let input = tmp.path().join("flashes.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &video,
        "-f",
        "lavfi",
        "-i",
        &audio,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-bf",
        "2",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        input.to_str().unwrap(),
    ]);
    let out = tmp.path().join("out.mp4");
    // 179 frames in 5 chunks: seams at 36, 72, 108, 144 fall between the flashes.
    vre_ok(args!["run", input, "-o", out, "--chunks", "5", "-j", "2"]);

    let seen_flashes = bright_frames(&out);
    assert_eq!(
        seen_flashes,
        flashes.map(|n| n as usize).to_vec(),
        "flashes stay on their frames"
    );
    let beeps = onsets(&audio_samples(&out), 0.1, 0.3);
    assert_eq!(beeps.len(), flashes.len(), "beeps found: {beeps:?}");
    for (beep, flash) in beeps.iter().zip(flashes) {
        let flash_time = f64::from(flash) * frame;
        assert!(
            (beep - flash_time).abs() <= frame,
            "beep at {beep:.4} s, its flash at {flash_time:.4} s"
        );
    }
}

#[test]
fn seed_002_rate_scaled_seeks_and_late_offsets_land_where_they_should() {
    let tmp = temp_dir();
    let video = small_video(tmp.path(), 22);
    let beep = wav(
        tmp.path(),
        "beep.wav",
        "0.5*sin(2*PI*1000*t)*between(t,10,10.05)",
        20.0,
    );
    let cases = [
        (",rate=2.0", "5s:10s", 0.0, 0.025),
        (",rate=0.5", "5s:21s", 15.0, 0.025),
        (",rate=1.0", "5s:12s", 5.0, 0.025),
        // Starts 3 s after the range start, in-point 0.5 s before the beep: delayed exactly.
        (",offset=8,seek=9.5", "5s:12s", 3.5, 0.005),
    ];
    for (i, (extra, range, expected, tolerance)) in cases.into_iter().enumerate() {
        let out = tmp.path().join(format!("out{i}.mp4"));
        vre_ok(args![
            "run",
            video,
            "-o",
            out,
            "--range",
            range,
            "--audio",
            track(&beep, extra),
            "-j",
            "2"
        ]);
        let found = onsets(&audio_samples(&out), 0.1, 0.5);
        assert_eq!(found.len(), 1, "{extra} {range}: one beep, found {found:?}");
        assert!(
            (found[0] - expected).abs() <= tolerance,
            "{extra} {range}: beep at {:.4} s, expected {expected} s",
            found[0]
        );
    }
}

#[test]
fn audio_is_trimmed_or_padded_to_the_video_and_starts_at_zero() {
    let tmp = temp_dir();
    let video = small_video(tmp.path(), 4);
    let long = wav(tmp.path(), "long.wav", "0.3*sin(2*PI*440*t)", 10.0);
    let short = wav(tmp.path(), "short.wav", "0.3*sin(2*PI*440*t)", 1.0);
    for (name, file) in [("long", &long), ("short", &short)] {
        let out = tmp.path().join(format!("{name}.mp4"));
        vre_ok(args![
            "run",
            video,
            "-o",
            out,
            "--audio",
            track(file, ""),
            "--chunks",
            "2"
        ]);
        let audio = stream(&out, "audio").unwrap();
        let video_seconds = num(&stream(&out, "video").unwrap(), "nb_read_packets") / 10.0;
        assert_eq!(num(&audio, "start_time"), 0.0, "{name}: audio starts at 0");
        assert!(
            (num(&audio, "duration") - video_seconds).abs() <= 1024.0 / 48000.0,
            "{name}: audio {} s, video {video_seconds} s",
            num(&audio, "duration")
        );
        let samples = audio_samples(&out);
        assert!(
            (samples.len() as f64 - video_seconds * 48000.0).abs() <= 1024.0,
            "{name}: decoded {} samples",
            samples.len()
        );
        if name == "short" {
            assert!(rms(&samples, 0.2, 0.8) > 0.1, "the tone plays first");
            assert!(rms(&samples, 1.5, 3.9) < 1e-3, "then silence pads it");
        }
    }
}

#[test]
fn tracks_mix_at_full_level_and_volume_scales_linearly() {
    let tmp = temp_dir();
    let video = small_video(tmp.path(), 4);
    let tone = wav(tmp.path(), "tone.wav", "0.2*sin(2*PI*440*t)", 4.0);
    let level = |name: &str, tracks: &[String]| {
        let out = tmp.path().join(format!("{name}.mp4"));
        let mut a = args!["run", video, "-o", out, "--chunks", "2"];
        for t in tracks {
            a.extend(args!["--audio", t]);
        }
        vre_ok(a);
        rms(&audio_samples(&out), 1.0, 3.0)
    };
    let single = level("single", &[track(&tone, "")]);
    let double = level("double", &[track(&tone, ""), track(&tone, ",volume=1.0")]);
    let half = level("half", &[track(&tone, ",volume=0.5")]);
    assert!(
        (single - 0.2 / 2f64.sqrt()).abs() < 0.005,
        "one track keeps its level: {single}"
    );
    assert!(
        (double / single - 2.0).abs() < 0.02,
        "two tracks add up, not halved: {double} vs {single}"
    );
    assert!(
        (half / single - 0.5).abs() < 0.01,
        "volume=0.5 halves: {half} vs {single}"
    );
}

#[test]
fn changing_only_the_audio_rerenders_only_the_audio_task() {
    let tmp = temp_dir();
    let video = small_video(tmp.path(), 4);
    let tone = wav(tmp.path(), "tone.wav", "0.2*sin(2*PI*440*t)", 4.0);
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &video,
        &plan_dir,
        args!["--chunks", "3", "--audio", track(&tone, "")],
    );
    vre_ok(args!["work", plan_dir, "-q"]);
    let chunk_bytes =
        |i: u32| std::fs::read(plan_dir.join(format!("chunks/chunk-{i:06}.mp4"))).unwrap();
    let before: Vec<Vec<u8>> = (0..3).map(chunk_bytes).collect();

    let quieter = track(&tone, ",volume=0.5");
    let refused = run_vre(args![
        "plan", video, "-o", plan_dir, "--chunks", "3", "--audio", quieter
    ]);
    assert_eq!(refused.status.code(), Some(73));
    let replanned = vre_plan(
        &video,
        &plan_dir,
        args!["--chunks", "3", "--audio", quieter, "--force"],
    );
    let said = String::from_utf8_lossy(&replanned.stdout);
    assert!(
        said.contains("3 finished pieces kept, 1 withdrawn"),
        "{said}"
    );

    let rerun = vre_ok(args!["work", plan_dir, "--json"]);
    assert_eq!(
        published(&rerun.stdout),
        vec!["audio:null"],
        "only the audio is rendered again"
    );
    assert_eq!(
        (0..3).map(chunk_bytes).collect::<Vec<_>>(),
        before,
        "chunks untouched"
    );
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    assert!((rms(&audio_samples(&out), 1.0, 3.0) - 0.1 / 2f64.sqrt()).abs() < 0.003);
}

#[test]
fn no_audio_in_means_no_audio_out() {
    let tmp = temp_dir();
    let silent = small_video(tmp.path(), 2);
    let out = tmp.path().join("silent.mp4");
    vre_ok(args!["run", silent, "-o", out, "--chunks", "2"]);
    assert!(stream(&out, "audio").is_none());

    let with_audio = tmp.path().join("with.mp4");
    make_video(
        &with_audio,
        &VideoSpec {
            seconds: 2.0,
            ..VideoSpec::default()
        },
    );
    let out = tmp.path().join("dropped.mp4");
    vre_ok(args![
        "run",
        with_audio,
        "-o",
        out,
        "--chunks",
        "2",
        "--no-source-audio"
    ]);
    assert!(stream(&out, "audio").is_none());
}

#[test]
fn bad_track_specs_are_refused_quoting_the_bad_part() {
    let tmp = temp_dir();
    let video = small_video(tmp.path(), 1);
    let tone = wav(tmp.path(), "tone.wav", "0.2*sin(2*PI*440*t)", 1.0);
    let plan_dir = tmp.path().join("job.vre");
    let cases = [
        (track(&tone, ",rate=0"), 64, "'rate=0'".to_string()),
        (track(&tone, ",rate=nan"), 64, "'rate=nan'".to_string()),
        (track(&tone, ",seek=-2"), 64, "'seek=-2'".to_string()),
        (track(&tone, ",speed=2"), 64, "'speed'".to_string()),
        (
            track(&tmp.path().join("missing.wav"), ""),
            66,
            "missing.wav".to_string(),
        ),
        (track(&video, ""), 65, "has no audio stream".to_string()),
    ];
    for (spec, code, quoted) in cases {
        let result = run_vre(args!["plan", video, "-o", plan_dir, "--audio", spec]);
        assert_eq!(
            result.status.code(),
            Some(code),
            "{spec}: {}",
            stderr(&result)
        );
        assert!(
            stderr(&result).contains(&quoted),
            "{spec}: {}",
            stderr(&result)
        );
        assert!(!plan_dir.exists(), "{spec}: nothing is written");
    }
}

#[test]
fn fades_shape_the_gain_on_the_timeline_even_when_the_range_starts_mid_fade() {
    let tmp = temp_dir();
    let video = small_video(tmp.path(), 4);
    let tone = wav(tmp.path(), "tone.wav", "0.2*sin(2*PI*440*t)", 3.0);
    let out = tmp.path().join("out.mp4");
    // Timeline: the track plays 0..3 s, fading in over 0..2 s and out over 2..3 s.
    // The render starts at 1 s, halfway through the fade-in.
    vre_ok(args![
        "run",
        video,
        "-o",
        out,
        "--range",
        "1s:4s",
        "--audio",
        track(&tone, ",fade-in=2,fade-out=1")
    ]);
    let samples = audio_samples(&out);
    let full = 0.2 / 2f64.sqrt();
    let gain = |from: f64, to: f64| rms(&samples, from, to) / full;
    assert!(
        (gain(0.0, 0.1) - 0.525).abs() < 0.03,
        "mid fade-in: {}",
        gain(0.0, 0.1)
    );
    assert!(
        (gain(0.9, 1.0) - 0.975).abs() < 0.03,
        "end of fade-in: {}",
        gain(0.9, 1.0)
    );
    assert!(
        (gain(1.45, 1.55) - 0.5).abs() < 0.03,
        "mid fade-out: {}",
        gain(1.45, 1.55)
    );
    assert!(
        gain(2.1, 2.9) < 0.001,
        "silence after the track ends: {}",
        gain(2.1, 2.9)
    );
}

#[test]
fn a_seek_into_a_looped_track_wraps_around_its_length() {
    let tmp = temp_dir();
    let video = small_video(tmp.path(), 10);
    // A 2 s loop with a beep at 0.5 s: on the timeline, beeps at 0.5, 2.5, 4.5, 6.5, 8.5 s.
    let beep = wav(
        tmp.path(),
        "loop.wav",
        "0.5*sin(2*PI*1000*t)*between(t,0.5,0.55)",
        2.0,
    );
    let out = tmp.path().join("out.mp4");
    vre_ok(args![
        "run",
        video,
        "-o",
        out,
        "--range",
        "5s:9s",
        "--audio",
        track(&beep, ",loop")
    ]);
    let found = onsets(&audio_samples(&out), 0.1, 0.5);
    assert_eq!(
        found.len(),
        2,
        "beeps at 6.5 and 8.5 s on the timeline: {found:?}"
    );
    for (got, expected) in found.iter().zip([1.5, 3.5]) {
        assert!(
            (got - expected).abs() < 0.005,
            "beep at {got} s, expected {expected} s"
        );
    }
}

/// A file written as a stream (Matroska through a pipe), which states no duration: ffmpeg
/// writes one so when its output cannot be seeked, as recorders and pipelines do.
fn streamed_matroska(dir: &Path, name: &str, with_video: bool) -> PathBuf {
    let path = dir.join(name);
    let beeps = "0.5*sin(2*PI*880*t)*between(mod(t,1),0.25,0.3)";
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error"]);
    if with_video {
        cmd.args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x64:rate=10:duration=3",
        ]);
    }
    cmd.args(["-f", "lavfi", "-i"])
        .arg(format!("aevalsrc='{beeps}':s=48000:d=3"));
    if with_video {
        cmd.args(["-c:v", "libx264", "-preset", "ultrafast"]);
    }
    let out = cmd
        .args(["-c:a", "flac", "-f", "matroska", "pipe:1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&path, out.stdout).unwrap();
    let probed = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probed.stdout).trim(),
        "N/A",
        "the test file states no duration"
    );
    path
}

#[test]
fn a_file_that_states_no_duration_keeps_its_sound() {
    // Its sound was taken for exhausted (0 s long) and the output was silent, exit 0.
    let tmp = temp_dir();
    let input = streamed_matroska(tmp.path(), "recording.mkv", true);
    let out = tmp.path().join("out.mp4");
    vre_ok(args!["run", input, "-o", out, "--chunks", "2", "-q"]);
    let serial = tmp.path().join("serial.mp4");
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        serial.to_str().unwrap(),
    ]);
    let heard = onsets(&audio_on_timeline(&out), 0.1, 0.2);
    assert_eq!(heard.len(), 3, "three beeps: {heard:?}");
    let serial_heard = onsets(&audio_on_timeline(&serial), 0.1, 0.2);
    for (a, b) in heard.iter().zip(&serial_heard) {
        assert!(
            (a - b).abs() < 0.002,
            "{heard:?} against serial {serial_heard:?}"
        );
    }

    // The same as an --audio track, faded out at its end.
    let sound = streamed_matroska(tmp.path(), "sound.mka", false);
    let video = small_video(tmp.path(), 3);
    let mixed = tmp.path().join("mixed.mp4");
    vre_ok(args![
        "run",
        video,
        "-o",
        mixed,
        "--audio",
        track(&sound, ",fade-out=0.5"),
        "-q"
    ]);
    let heard = onsets(&audio_on_timeline(&mixed), 0.1, 0.2);
    assert_eq!(heard.len(), 3, "three beeps from the track: {heard:?}");
}
