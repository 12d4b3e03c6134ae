//! Sound as the serial command keeps it, one synthetic reproduction per trap: Vorbis and Opus in
//! Matroska seeked into (the decoder drops its first block), an MPEG-TS segment whose first AAC
//! packet decodes to nothing, several audio tracks (ffmpeg's pick, `--audio-stream N|all`),
//! surround and high rates, a declared stream without packets, audio longer than the video.
//! Each is rendered in several chunks and in a `--range`, and compared with the serial command
//! on decoded frames, frame count, A/V offset (within 2 ms), channel layout, sample rate and
//! track list.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Frames per second of every clip here.
const FPS: f64 = 25.0;

/// The video of every clip: black, with a white frame at frame 5 of every second.
fn flashes(seconds: f64) -> String {
    format!(
        "color=c=black:s=160x120:r=25:d={seconds},drawbox=color=white:t=fill:enable='eq(mod(n\\,25)\\,5)'"
    )
}

/// A quiet tone with a 40 ms beep at 0.2 s of every second (with the flashes), shifted by
/// `beep_at` seconds, at `rate` Hz in `layout`: a steady signal, so that codecs use long blocks.
fn beeps(seconds: f64, rate: u32, layout: &str, beep_at: f64) -> String {
    format!(
        "aevalsrc='0.02*sin(2*PI*220*t)+0.5*sin(2*PI*1000*t)*between(mod(t-{beep_at}\\,1)\\,0.2\\,0.24)':s={rate}:c={layout}:d={seconds}"
    )
}

/// Runs ffmpeg with lavfi `sources` as inputs 0, 1, … and `args`, writing `out`.
fn lavfi(sources: &[String], args: &[&str], out: &Path) {
    let mut all: Vec<&str> = Vec::new();
    for source in sources {
        all.extend(["-f", "lavfi", "-i", source]);
    }
    all.extend(args);
    all.push(out.to_str().unwrap());
    ffmpeg(&all);
}

/// A Matroska clip of flashes and beeps in `audio_codec` (6 s, a keyframe every second),
/// remuxed so that its video starts at 0, as most files' does: a `--range` from a keyframe then
/// seeks to a cluster whose audio starts right there.
fn matroska(dir: &Path, audio_codec: &str, rate: u32) -> PathBuf {
    let encoded = dir.join(format!("{audio_codec}-encoded.mkv"));
    lavfi(
        &[flashes(6.0), beeps(6.0, rate, "stereo", 0.0)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            audio_codec,
        ],
        &encoded,
    );
    let out = dir.join(format!("{audio_codec}.mkv"));
    ffmpeg(&[
        "-i",
        encoded.to_str().unwrap(),
        "-c",
        "copy",
        "-bsf:v",
        "setts=pts=PTS-STARTPTS:dts=DTS-STARTDTS",
        out.to_str().unwrap(),
    ]);
    out
}

/// An MPEG-TS segment of flashes and beeps whose first AAC packet is damaged, so that it decodes
/// to nothing: the stream's first sound comes one AAC frame after its first packet.
fn ts_with_a_dead_first_packet(dir: &Path) -> PathBuf {
    let whole = dir.join("whole.ts");
    lavfi(
        &[flashes(4.0), beeps(4.0, 48000, "stereo", 0.0)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
        ],
        &whole,
    );
    let mut bytes = std::fs::read(&whole).unwrap();
    let audio_pid = 0x101;
    let first_audio = (0..bytes.len())
        .step_by(188)
        .find(|&at| {
            let pid = (usize::from(bytes[at + 1] & 0x1f) << 8) | usize::from(bytes[at + 2]);
            pid == audio_pid && bytes[at + 1] & 0x40 != 0
        })
        .expect("an audio packet starts a PES");
    // Past the TS header (and adaptation field), the PES header and the ADTS header.
    let mut at = first_audio + 4;
    if bytes[first_audio + 3] & 0x20 != 0 {
        at += 1 + usize::from(bytes[at]);
    }
    assert_eq!(&bytes[at..at + 3], [0, 0, 1], "a PES header");
    at += 9 + usize::from(bytes[at + 8]);
    assert_eq!(bytes[at], 0xff, "an ADTS header");
    for b in &mut bytes[at + 7..at + 40] {
        *b ^= 0x5a;
    }
    let out = dir.join("dead-first-packet.ts");
    std::fs::write(&out, bytes).unwrap();
    out
}

/// Where each beep of a file's audio stream `0:a:N` lies relative to its flash, seconds (beeps
/// paired with the nearest flashing frame).
fn av_offsets(path: &Path, audio_stream: usize) -> Vec<f64> {
    let flashes = bright_frames(path);
    assert!(!flashes.is_empty(), "{}: no flash", path.display());
    onsets(&audio_stream_on_timeline(path, audio_stream), 0.1, 0.5)
        .into_iter()
        .map(|beep| {
            let flash = flashes
                .iter()
                .map(|&f| f as f64 / FPS)
                .min_by(|a, b| (a - beep).abs().total_cmp(&(b - beep).abs()))
                .unwrap();
            beep - flash
        })
        .collect()
}

/// What a file's streams are, as the serial command's output is compared on: kind, and for
/// audio its channels, layout, sample rate, language and title tags and default flag.
fn track_list(path: &Path) -> Vec<String> {
    streams(path)
        .iter()
        .map(|s| match s["codec_type"].as_str() {
            Some("audio") => {
                let tag = |key: &str| {
                    let tags = &s["tags"];
                    tags[key]
                        .as_str()
                        .or(tags[key.to_uppercase()].as_str())
                        .unwrap_or("-")
                        .to_string()
                };
                format!(
                    "audio {} ch {} {} Hz lang {} title {} handler {} default {}",
                    s["channels"],
                    s["channel_layout"].as_str().unwrap_or("?"),
                    s["sample_rate"].as_str().unwrap_or("?"),
                    tag("language"),
                    tag("title"),
                    tag("handler_name"),
                    s["disposition"]["default"]
                )
            }
            kind => kind.unwrap_or("?").to_string(),
        })
        .collect()
}

/// The serial command: one ffmpeg over `input`, x264 lossless to mp4 unless `args` say
/// otherwise.
fn serial(input: &Path, out: &Path, args: &[&str]) {
    let mut all = vec!["-i", input.to_str().unwrap()];
    all.extend(args);
    if !args.contains(&"-c:v") {
        all.extend(["-c:v", "libx264", "-crf", "0", "-preset", "ultrafast"]);
    }
    all.push(out.to_str().unwrap());
    ffmpeg(&all);
}

/// Output frames `[start, end)` of the serial command's output `whole` (every stream kept, its
/// audio cut at the same instant, x264 lossless): what a range of the serial render is.
fn serial_range(whole: &Path, out: &Path, (start, end): (u64, u64)) {
    let video = format!("trim=start_frame={start}:end_frame={end},setpts=PTS-STARTPTS");
    let audio = format!("atrim=start={:.6},asetpts=PTS-STARTPTS", start as f64 / FPS);
    let mut args = vec!["-map", "0", "-vf", &video];
    if stream(whole, "audio").is_some() {
        args.extend(["-af", &audio]);
    }
    serial(whole, out, &args);
}

/// `vre run INPUT -o OUT -y -q --chunks 3 --crf 0 [--range A:B] OPTIONS`, which must succeed;
/// returns its stderr (the plan's lines).
fn vre_render(input: &Path, out: &Path, range: Option<(u64, u64)>, options: &[&str]) -> String {
    let mut args = args!["run", input, "-o", out, "-y", "--chunks", "3", "--crf", "0"];
    if let Some((start, end)) = range {
        args.extend(args!["--range", format!("{start}:{end}")]);
    }
    args.extend(options.iter().map(std::ffi::OsString::from));
    stderr(&vre_ok(args))
}

/// Renders `input` with vre (in three chunks, whole and as `range`) and with the serial command,
/// and asserts the same decoded frames and frame count, the same track list (layout, rate,
/// tags, default flags), and every beep of every audio stream within 2 ms of the serial
/// command's relative to its flash.
fn assert_like_serial(
    input: &Path,
    dir: &Path,
    range: (u64, u64),
    vre_options: &[&str],
    serial_args: &[&str],
) {
    let whole = dir.join("serial-whole.mp4");
    serial(input, &whole, serial_args);
    let cut = dir.join("serial-range.mp4");
    serial_range(&whole, &cut, range);
    for (name, range, theirs) in [("whole", None, whole), ("range", Some(range), cut)] {
        let ours = dir.join(format!("{name}.mp4"));
        vre_render(input, &ours, range, vre_options);
        let frames = framemd5(&ours, None);
        assert_eq!(
            frames.len(),
            framemd5(&theirs, None).len(),
            "{name}: frames"
        );
        assert!(frames == framemd5(&theirs, None), "{name}: decoded frames");
        let tracks = track_list(&ours);
        assert_eq!(tracks, track_list(&theirs), "{name}: tracks");
        let audio_streams = tracks.iter().filter(|t| t.starts_with("audio")).count();
        for n in 0..audio_streams {
            let (ours, theirs) = (av_offsets(&ours, n), av_offsets(&theirs, n));
            assert!(ours.len() >= 2, "{name}: beeps of stream {n}: {ours:?}");
            for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert!(
                    (a - b).abs() <= 0.002,
                    "{name}: stream {n}, beep {k}: {:.2} ms after its flash, serial {:.2} ms",
                    a * 1000.0,
                    b * 1000.0
                );
            }
        }
    }
}

#[test]
fn vorbis_and_opus_in_matroska_keep_their_av_offset_after_a_seek() {
    for (codec, rate) in [("libvorbis", 44100), ("libopus", 48000)] {
        let t = temp_dir();
        let input = matroska(t.path(), codec, rate);
        // Frame 50 is a keyframe at 2.000 s: the seek lands on its cluster, whose audio starts
        // there, and the decoder's first block after it is dropped.
        assert_like_serial(&input, t.path(), (50, 120), &[], &[]);
    }
}

#[test]
fn an_mpeg_ts_whose_first_aac_packet_decodes_to_nothing_keeps_its_av_offset() {
    let t = temp_dir();
    let input = ts_with_a_dead_first_packet(t.path());
    let plan_dir = t.path().join("job.vre");
    let planned = vre_plan(&input, &plan_dir, args!["--chunks", "3"]);
    let plan = read_json(&plan_dir.join("plan.json"));
    let source = &plan["audio"]["source"];
    let start = source["start"].as_f64().unwrap();
    assert!(
        (start - 1024.0 / 48000.0).abs() < 0.0005,
        "the first sound comes one AAC frame after the first packet: {source}"
    );
    assert!(
        String::from_utf8_lossy(&planned.stdout).contains("audio starts 0.021 s after the file"),
        "{}",
        String::from_utf8_lossy(&planned.stdout)
    );
    assert_like_serial(&input, t.path(), (30, 90), &[], &[]);
}

/// An mp4 of flashes and three audio tracks: a stereo commentary (first, not default, beeps
/// 0.1 s late), a 5.1 main track at 48 kHz (default), a mono 44.1 kHz track (beeps 0.3 s late).
fn three_tracks(dir: &Path) -> PathBuf {
    let out = dir.join("tracks.mp4");
    lavfi(
        &[
            flashes(4.0),
            beeps(4.0, 48000, "stereo", 0.1),
            beeps(4.0, 48000, "5.1", 0.0),
            beeps(4.0, 44100, "mono", 0.3),
        ],
        &[
            "-map",
            "0",
            "-map",
            "1",
            "-map",
            "2",
            "-map",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:0",
            "handler_name=Commentary",
            "-metadata:s:a:1",
            "language=fra",
            "-metadata:s:a:2",
            "language=deu",
            "-disposition:a:0",
            "0",
            "-disposition:a:1",
            "default",
            "-disposition:a:2",
            "0",
        ],
        &out,
    );
    out
}

#[test]
fn the_audio_stream_serial_ffmpeg_picks_is_kept_or_the_one_asked_for() {
    let t = temp_dir();
    let input = three_tracks(t.path());
    // ffmpeg's pick: the default 5.1 track, not the first.
    assert_like_serial(&input, t.path(), (30, 80), &[], &[]);
    let plan_dir = t.path().join("job.vre");
    let planned = vre_plan(&input, &plan_dir, args!["--chunks", "2"]);
    assert!(
        String::from_utf8_lossy(&planned.stdout)
            .contains("input stream #2, once: aac 48000 Hz 5.1"),
        "{}",
        String::from_utf8_lossy(&planned.stdout)
    );
    // `--audio-stream 2`: the mono track, as `-map 0:v -map 0:a:2`.
    let chosen = t.path().join("chosen");
    std::fs::create_dir(&chosen).unwrap();
    assert_like_serial(
        &input,
        &chosen,
        (30, 80),
        &["--audio-stream", "2"],
        &["-map", "0:v", "-map", "0:a:2"],
    );
    assert_plan_refused(
        &input,
        &t.path().join("bad.vre"),
        &["--audio-stream", "3"],
        &["--audio-stream: 3: the input has 3 audio stream(s)"],
    );
}

#[test]
fn every_audio_stream_is_kept_as_a_task_of_its_own_with_its_tags() {
    let t = temp_dir();
    let input = three_tracks(t.path());
    // `-map 0:v -map 0:a`: every track, in input order, tags and default flags kept.
    assert_like_serial(
        &input,
        t.path(),
        (30, 80),
        &["--audio-stream", "all"],
        &["-map", "0:v", "-map", "0:a"],
    );
    let plan_dir = t.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "2", "--audio-stream", "all", "--format", "mkv"],
    );
    let work = vre_ok(args!["work", plan_dir, "--json"]);
    let mut done = published(&work.stdout);
    done.sort();
    assert_eq!(
        done,
        ["audio:1", "audio:2", "audio:null", "chunk:0", "chunk:1"],
        "one task per audio stream"
    );
    let schema = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    let plan = read_json(&plan_dir.join("plan.json"));
    assert!(validator.is_valid(&plan), "plan.json matches its schema");
    assert_eq!(plan["extra_audio"].as_array().map(Vec::len), Some(2));
    let audio_files: Vec<String> = ["audio.flac", "audio-1.flac", "audio-2.flac"]
        .into_iter()
        .filter(|name| plan_dir.join("audio").join(name).is_file())
        .map(String::from)
        .collect();
    assert_eq!(audio_files.len(), 3, "{audio_files:?}");
    let status = vre_ok(args!["status", plan_dir, "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let audio_tasks: Vec<&Value> = status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|task| task["kind"] == "audio")
        .collect();
    assert_eq!(audio_tasks.len(), 3);
    assert!(audio_tasks.iter().all(|task| task["state"] == "done"));
    let out = t.path().join("all.mkv");
    vre_ok(args!["assemble", plan_dir, "-o", out]);
    let theirs = t.path().join("serial-all.mkv");
    serial(
        &input,
        &theirs,
        &["-map", "0:v", "-map", "0:a", "-c:a", "flac", "-c:v", "ffv1"],
    );
    assert_eq!(track_list(&out), track_list(&theirs));
}

#[test]
fn channel_layouts_and_rates_are_kept_where_the_codec_takes_them() {
    let t = temp_dir();
    for (name, rate, layout) in [("mono", 44100, "mono"), ("surround", 96000, "5.1")] {
        let input = t.path().join(format!("{name}.mkv"));
        lavfi(
            &[flashes(4.0), beeps(4.0, rate, layout, 0.0)],
            &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac"],
            &input,
        );
        let dir = t.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        // Native AAC takes mono, 5.1 and 96 kHz as they are.
        assert_like_serial(&input, &dir, (30, 80), &[], &[]);
        let plan_dir = dir.join("job.vre");
        let planned = vre_plan(&input, &plan_dir, args!["--format", "webm"]);
        let said = String::from_utf8_lossy(&planned.stdout);
        let audio = &read_json(&plan_dir.join("plan.json"))["audio"];
        // libopus takes 48 kHz (serial ffmpeg converts alike) and these layouts.
        assert_eq!(audio["sample_rate"], 48000, "{name}");
        assert_eq!(audio["channel_layout"], layout, "{name}");
        assert_eq!(
            said.contains(&format!(
                "{rate} Hz becomes 48000 Hz, the nearest rate libopus takes"
            )),
            rate != 48000,
            "{name}: {said}"
        );
    }
}

#[test]
fn a_layout_opus_cannot_take_is_converted_where_the_serial_command_fails() {
    let t = temp_dir();
    let input = t.path().join("side.mkv");
    lavfi(
        &[flashes(2.0), beeps(2.0, 48000, "5.1(side)", 0.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac"],
        &input,
    );
    let failed = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&input)
        .args(["-c:v", "libvpx-vp9", "-deadline", "realtime", "-t", "0.2"])
        .arg(t.path().join("serial.webm"))
        .output()
        .unwrap();
    assert!(!failed.status.success(), "the serial command fails there");
    let out = t.path().join("out.webm");
    let said = vre_render(&input, &out, None, &["--codec", "libvpx-vp9"]);
    assert!(
        said.contains("5.1(side) becomes 5.1: libopus cannot take 5.1(side)"),
        "{said}"
    );
    let audio = stream(&out, "audio").unwrap();
    assert_eq!(
        (audio["channels"].as_u64(), audio["channel_layout"].as_str()),
        (Some(6), Some("5.1"))
    );
}

/// A copy of `input` whose audio stream keeps its declaration but loses every packet, as in HLS
/// segments cut from a stream whose audio had not started.
fn without_audio_packets(input: &Path, out: &Path) {
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-map",
        "0",
        "-c",
        "copy",
        "-bsf:a",
        "noise=drop=1",
        out.to_str().unwrap(),
    ]);
}

#[test]
fn a_declared_audio_stream_without_packets_is_left_out_as_the_serial_command_leaves_it() {
    let t = temp_dir();
    let whole = t.path().join("whole.ts");
    lavfi(
        &[flashes(3.0), beeps(3.0, 48000, "stereo", 0.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
        &whole,
    );
    let input = t.path().join("no-audio-packets.ts");
    without_audio_packets(&whole, &input);
    let audio = stream(&input, "audio").expect("the stream is still declared");
    assert_eq!(audio["channels"], 0);
    for (name, range) in [("whole", None), ("range", Some((20, 60)))] {
        let ours = t.path().join(format!("{name}.mp4"));
        let theirs = t.path().join(format!("serial-{name}.mp4"));
        let said = vre_render(&input, &ours, range, &[]);
        assert!(
            said.contains("audio stream #1 (aac) has no packets: it is left out"),
            "{said}"
        );
        match range {
            None => serial(&input, &theirs, &[]),
            Some(range) => serial_range(&t.path().join("serial-whole.mp4"), &theirs, range),
        }
        assert_eq!(track_list(&ours), ["video"], "{name}");
        assert_eq!(track_list(&ours), track_list(&theirs), "{name}");
        assert!(
            framemd5(&ours, None) == framemd5(&theirs, None),
            "{name}: frames"
        );
    }
    assert_plan_refused(
        &input,
        &t.path().join("job.vre"),
        &["--audio-stream", "0"],
        &["has no packets"],
    );
}

#[test]
fn audio_longer_than_the_video_is_cut_and_the_plan_says_so_with_both_lengths() {
    let t = temp_dir();
    let input = t.path().join("long-audio.mp4");
    lavfi(
        &[flashes(3.0), beeps(4.0, 48000, "stereo", 0.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
        &input,
    );
    let serial_out = t.path().join("serial.mp4");
    serial(&input, &serial_out, &[]);
    let serial_audio = num(&stream(&serial_out, "audio").unwrap(), "duration");
    assert!(
        serial_audio > 3.9,
        "the serial command keeps it: {serial_audio}"
    );
    let out = t.path().join("out.mp4");
    let said = vre_render(&input, &out, None, &[]);
    assert!(
        said.contains("ends at 4.0") && said.contains("the video at 3.000 s: vre cuts the audio"),
        "{said}"
    );
    let audio = num(&stream(&out, "audio").unwrap(), "duration");
    assert!((audio - 3.0).abs() < 0.03, "cut to the video: {audio} s");
    // A range that ends before the video does cuts the audio as it cuts the video: no note.
    let range = vre_render(&input, &t.path().join("range.mp4"), Some((0, 50)), &[]);
    assert!(!range.contains("vre cuts the audio"), "{range}");
}

#[test]
fn a_plan_of_the_previous_format_is_refused_with_what_to_do() {
    let (t, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        ..VideoSpec::default()
    });
    let plan_dir = t.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "2"]);
    let plan_path = plan_dir.join("plan.json");
    let text = std::fs::read_to_string(&plan_path).unwrap();
    std::fs::write(
        &plan_path,
        text.replace("\"format_version\": 3", "\"format_version\": 2"),
    )
    .unwrap();
    let refused = run_vre(args!["work", plan_dir, "-q"]);
    assert_eq!(refused.status.code(), Some(65), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("uses planDir format 2")
            && stderr(&refused).contains("plan again with `vre plan ... --force`"),
        "{}",
        stderr(&refused)
    );
}
