//! `--audio-codec`, `--audio-bitrate`, `--audio-channels`, `--audio-rate`: every audio codec
//! each format takes comes out as the serial command with the same `-c:a` makes it (codec,
//! rate, channels, sound in place to the millisecond), and settings the codec or format cannot
//! take are refused before any work.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A 3-second 320x180 clip `name` in `dir` with `sound` (a lavfi audio source) as 48 kHz PCM.
fn clip_with_sound(dir: &Path, name: &str, sound: &str) -> PathBuf {
    let path = dir.join(name);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=25:d=3",
        "-f",
        "lavfi",
        "-i",
        sound,
        "-c:v",
        "libx264",
        "-c:a",
        "pcm_s16le",
        path.to_str().unwrap(),
    ]);
    path
}

/// A clip with a 20 ms 1 kHz beep at every second (0.5, 1.5, 2.5 s) in stereo: the beeps show
/// where the sound sits.
fn beeping_clip(dir: &Path) -> PathBuf {
    clip_with_sound(
        dir,
        "beeps.mov",
        "aevalsrc='if(between(mod(t,1),0.5,0.52),sin(2*PI*1000*t),0)|if(between(mod(t,1),0.5,0.52),sin(2*PI*1000*t),0)':s=48000:d=3",
    )
}

/// The audio stream's codec, sample rate and channels.
fn audio_facts(path: &Path) -> (String, u64, u64) {
    let audio = stream(path, "audio").expect("an audio stream");
    (
        audio["codec_name"].as_str().unwrap().to_string(),
        num(&audio, "sample_rate") as u64,
        audio["channels"].as_u64().unwrap(),
    )
}

/// Where the beeps of a file's sound start on its timeline.
fn beeps(path: &Path) -> Vec<f64> {
    onsets(&audio_on_timeline(path), 0.3, 0.2)
}

#[test]
fn every_audio_codec_of_every_format_comes_out_as_the_serial_command_makes_it() {
    let tmp = temp_dir();
    let input = beeping_clip(tmp.path());
    let cases = [
        ("mp4", "aac", "aac"),
        ("mp4", "ac3", "ac3"),
        ("mp4", "libopus", "opus"),
        ("mov", "aac", "aac"),
        ("mov", "ac3", "ac3"),
        ("mov", "pcm_s16le", "pcm_s16le"),
        ("mov", "pcm_s24le", "pcm_s24le"),
        ("mov", "pcm_f32le", "pcm_f32le"),
        ("mkv", "flac", "flac"),
        ("mkv", "aac", "aac"),
        ("mkv", "libopus", "opus"),
        ("mkv", "libvorbis", "vorbis"),
        ("mkv", "ac3", "ac3"),
        ("mkv", "pcm_s32le", "pcm_s32le"),
        ("webm", "libopus", "opus"),
        ("webm", "libvorbis", "vorbis"),
    ];
    for (format, codec, named) in cases {
        let name = format!("{codec}.{format}");
        let out = tmp.path().join(format!("vre-{name}"));
        vre_ok(args![
            "run",
            &input,
            "-o",
            &out,
            "--audio-codec",
            codec,
            "--chunks",
            "2",
            "-j",
            "2",
            "-q"
        ]);
        let serial = tmp.path().join(format!("serial-{name}"));
        let video: &[&str] = match format {
            "webm" => &[
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
            ],
            _ => &["-c:v", "libx264", "-preset", "ultrafast"],
        };
        let mut args = vec!["-i", input.to_str().unwrap()];
        args.extend(video);
        args.extend(["-c:a", codec, serial.to_str().unwrap()]);
        ffmpeg(&args);
        let ours = audio_facts(&out);
        assert_eq!(ours.0, named, "{name}");
        assert_eq!(ours, audio_facts(&serial), "{name}: codec, rate, channels");
        let (vre_beeps, serial_beeps) = (beeps(&out), beeps(&serial));
        assert_eq!(vre_beeps.len(), 3, "{name}: {vre_beeps:?}");
        for (a, b) in vre_beeps.iter().zip(&serial_beeps) {
            assert!(
                (a - b).abs() <= 0.002,
                "{name}: beeps at {vre_beeps:?}, serial {serial_beeps:?}"
            );
        }
    }
}

/// The audio stream's bit rate from its packets: bytes over `seconds`.
fn audio_bitrate(path: &Path, seconds: f64) -> f64 {
    let bytes: f64 = packet_entries(path, "a:0", "size")
        .iter()
        .filter_map(|size| size.parse::<f64>().ok())
        .sum();
    bytes * 8.0 / seconds
}

#[test]
fn bit_rate_channels_and_rate_come_out_as_asked() {
    let tmp = temp_dir();
    let input = beeping_clip(tmp.path());
    // Noise, which Opus spends its whole rate on.
    let noisy = clip_with_sound(
        tmp.path(),
        "noise.mov",
        "anoisesrc=d=3:sample_rate=48000:amplitude=0.5",
    );
    let opus = tmp.path().join("opus.webm");
    vre_ok(args![
        "run",
        &noisy,
        "-o",
        &opus,
        "--audio-codec",
        "libopus",
        "--audio-bitrate",
        "96k",
        "-q"
    ]);
    assert_eq!(stream(&opus, "audio").unwrap()["codec_name"], "opus");
    let serial = tmp.path().join("serial-opus.webm");
    ffmpeg(&[
        "-i",
        noisy.to_str().unwrap(),
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-c:a",
        "libopus",
        "-b:a",
        "96k",
        serial.to_str().unwrap(),
    ]);
    // Opus in WebM states no bit rate: the stream's bytes over its length say it.
    let (ours, theirs) = (audio_bitrate(&opus, 3.0), audio_bitrate(&serial, 3.0));
    assert!((ours / 96_000.0 - 1.0).abs() < 0.15, "{ours} b/s");
    assert!(
        (ours / theirs - 1.0).abs() < 0.05,
        "{ours} b/s, serial {theirs} b/s"
    );

    let pcm = tmp.path().join("pcm.mov");
    vre_ok(args![
        "run",
        &input,
        "-o",
        &pcm,
        "--audio-codec",
        "pcm_s24le",
        "--audio-channels",
        "1",
        "--audio-rate",
        "44100",
        "-q"
    ]);
    assert_eq!(audio_facts(&pcm), ("pcm_s24le".to_string(), 44_100, 1));
    let beeps = beeps(&pcm);
    assert_eq!(beeps.len(), 3, "{beeps:?}");
    assert!((beeps[0] - 0.5).abs() <= 0.002, "{beeps:?}");
}

#[test]
fn audio_settings_the_codec_or_format_cannot_take_are_refused() {
    let (tmp, input) = scratch_input(VideoSpec {
        size: "160x90",
        rate: "25",
        seconds: 1.0,
        audio: true,
    });
    let dir = tmp.path().join("refused.vre");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--audio-codec", "pcm_s16le"],
            &["--audio-codec", "mp4", "aac"],
        ),
        (
            &["--format", "webm", "--audio-codec", "aac"],
            &["--audio-codec", "libopus"],
        ),
        (
            &[
                "--format",
                "mkv",
                "--audio-codec",
                "flac",
                "--audio-bitrate",
                "128k",
            ],
            &["--audio-bitrate", "lossless"],
        ),
        (
            &["--audio-codec", "libopus", "--audio-rate", "44100"],
            &["--audio-rate", "48000"],
        ),
        (
            &["--audio-codec", "ac3", "--audio-channels", "8"],
            &["--audio-channels", "6"],
        ),
    ];
    for (options, named) in cases {
        assert_plan_refused(&input, &dir, options, named);
    }
    let out = run_vre(args!["plan", &input, "-o", &dir, "--audio-codec", "mp3"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("pcm_s24le"), "{}", stderr(&out));
}

/// Each audio packet of a file as (size, md5), in order: its bytes, whatever its timestamps.
fn audio_packets(path: &Path) -> Vec<(String, String)> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(',').map(str::trim).collect();
            Some((fields.get(4)?.to_string(), fields.get(5)?.to_string()))
        })
        .collect()
}

#[test]
fn audio_copy_keeps_the_inputs_packets_where_the_serial_command_puts_them() {
    let tmp = temp_dir();
    // AAC that starts 0.25 s after the video, Opus in Matroska.
    let late = tmp.path().join("late.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=25:d=2",
        "-itsoffset",
        "0.25",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:sample_rate=48000",
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        late.to_str().unwrap(),
    ]);
    let opus = tmp.path().join("opus.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2:sample_rate=48000",
        "-c:v",
        "libx264",
        "-c:a",
        "libopus",
        opus.to_str().unwrap(),
    ]);
    for (input, format) in [
        (&late, "mp4"),
        (&late, "mkv"),
        (&opus, "mkv"),
        (&opus, "webm"),
    ] {
        let name = format!("{}.{format}", input.file_stem().unwrap().to_str().unwrap());
        let out = tmp.path().join(format!("vre-{name}"));
        vre_ok(args![
            "run",
            input,
            "-o",
            &out,
            "--audio-codec",
            "copy",
            "--chunks",
            "2",
            "-j",
            "2",
            "-q"
        ]);
        let serial = tmp.path().join(format!("serial-{name}"));
        let video = if format == "webm" {
            "libvpx-vp9"
        } else {
            "libx264"
        };
        ffmpeg(&[
            "-i",
            input.to_str().unwrap(),
            "-c:v",
            video,
            "-deadline",
            "realtime",
            "-c:a",
            "copy",
            serial.to_str().unwrap(),
        ]);
        let packets = audio_packets(&out);
        assert!(!packets.is_empty(), "{name}");
        assert_eq!(packets, audio_packets(input), "{name}: the input's packets");
        let start = |path: &Path| num(&stream(path, "audio").unwrap(), "start_time");
        assert!(
            (start(&out) - start(&serial)).abs() < 1e-3,
            "{name}: audio start"
        );
        assert_eq!(
            rounded_sound_on_timeline(&out),
            rounded_sound_on_timeline(&serial),
            "{name}"
        );
    }
}

/// The decoded sound on the file's timeline, rounded (the same sound at the same times).
fn rounded_sound_on_timeline(path: &Path) -> Vec<i32> {
    audio_on_timeline(path)
        .iter()
        .map(|s| (s * 1000.0).round() as i32)
        .collect()
}

#[test]
fn audio_copy_is_refused_where_the_packets_cannot_stay_as_they_are() {
    let (tmp, input) = scratch_input(VideoSpec {
        size: "160x90",
        rate: "25",
        seconds: 2.0,
        audio: true,
    });
    let dir = tmp.path().join("refused.vre");
    let copy = ["--audio-codec", "copy"];
    let cases: &[(&[&str], &[&str])] = &[
        (&["--range", "10:40"], &["--audio-codec", "--range"]),
        (&["--af", "volume=0.5"], &["--audio-codec", "--af"]),
        (
            &["--audio-rate", "44100"],
            &["--audio-codec", "--audio-rate"],
        ),
        (&["--format", "webm"], &["--audio-codec", "webm", "aac"]),
        (&["--no-source-audio"], &["--audio-codec", "no audio"]),
    ];
    for (options, named) in cases {
        let mut all: Vec<&str> = copy.to_vec();
        all.extend(options.iter());
        assert_plan_refused(&input, &dir, &all, named);
    }
}
