//! Container data as the default serial ffmpeg command keeps it: global tags, stream tags,
//! chapters and subtitles, rendered in several chunks and in a `--range`, compared with the
//! serial command of the same job on the tags, the chapter list, the subtitle events (times and
//! texts) and the track list; `--metadata strip` and `--subtitle-stream` likewise.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Global tags (with characters FFMETADATA escapes) and three titled chapters.
const METADATA: &str = ";FFMETADATA1
title=Global Title
artist=Some Artist
comment=semi\\;colon \\=equals \\#hash
[CHAPTER]
TIMEBASE=1/1000
START=0
END=1500
title=Intro
[CHAPTER]
TIMEBASE=1/1000
START=1500
END=4000
title=Middle part
[CHAPTER]
TIMEBASE=1/1000
START=4000
END=6000
title=End
";

const SUBRIP: &str = "1
00:00:00,500 --> 00:00:01,200
First line

2
00:00:01,800 --> 00:00:02,900
Second line

3
00:00:03,100 --> 00:00:04,600
Third line

4
00:00:05,000 --> 00:00:05,800
Fourth
";

/// Event starts and lengths of the generated subtitles, seconds.
const EVENTS: [(f64, f64); 4] = [(0.5, 0.7), (1.8, 1.1), (3.1, 1.5), (5.0, 0.8)];

/// A 6 s, 25 fps clip with a tone, tagged (`-metadata`, `-metadata:s`), with chapters and
/// SubRip subtitles in German (written as `subtitle_codec`: `srt` for mkv, `mov_text` for mp4);
/// with `pictures` (an MPEG-PS file of DVD subtitles), those come first, in English.
fn tagged_clip(dir: &Path, name: &str, subtitle_codec: &str, pictures: Option<&Path>) -> PathBuf {
    let metadata = dir.join("metadata.txt");
    let subrip = dir.join("subs.srt");
    std::fs::write(&metadata, METADATA).unwrap();
    std::fs::write(&subrip, SUBRIP).unwrap();
    let out = dir.join(name);
    let (video, audio) = match subtitle_codec {
        "mov_text" => ("libx264", "aac"),
        _ => ("ffv1", "flac"),
    };
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:duration=6",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=6",
        "-i",
        metadata.to_str().unwrap(),
        "-i",
        subrip.to_str().unwrap(),
    ];
    if let Some(pictures) = pictures {
        args.extend(["-f", "mpeg", "-i", pictures.to_str().unwrap()]);
    }
    args.extend(["-map", "0:v", "-map", "1:a"]);
    let text = match pictures {
        Some(_) => {
            args.extend([
                "-map",
                "4:s",
                "-c:s:0",
                "copy",
                "-metadata:s:s:0",
                "language=eng",
            ]);
            "s:1"
        }
        None => "s:0",
    };
    let (language, title, codec) = (
        format!("-metadata:s:{text}"),
        format!("-metadata:s:{text}"),
        format!("-c:{text}"),
    );
    args.extend([
        "-map",
        "3:s",
        &language,
        "language=deu",
        &title,
        "title=German subs",
        &codec,
        subtitle_codec,
    ]);
    args.extend([
        "-map_metadata",
        "2",
        "-map_chapters",
        "2",
        "-metadata:s:v",
        "language=fra",
        "-metadata:s:v",
        "title=Main video",
        "-metadata:s:a",
        "language=eng",
        "-metadata",
        "creation_time=2020-01-02T03:04:05Z",
        "-c:v",
        video,
        "-c:a",
        audio,
    ]);
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
    out
}

/// An MPEG program stream of DVD subtitles (pictures: a 4x2 block) at [`EVENTS`], written
/// byte by byte, since ffmpeg cannot turn text into pictures.
fn dvd_subtitles(path: &Path) {
    fn timestamp(pts: u64) -> [u8; 5] {
        [
            0x21 | (((pts >> 30) & 7) << 1) as u8,
            (pts >> 22) as u8,
            ((((pts >> 15) & 0x7f) << 1) | 1) as u8,
            (pts >> 7) as u8,
            (((pts & 0x7f) << 1) | 1) as u8,
        ]
    }
    fn pack_header(scr: u64) -> Vec<u8> {
        let mut b = vec![0, 0, 1, 0xba];
        b.extend([
            0x44 | ((scr >> 27) & 0x38) as u8 | ((scr >> 28) & 3) as u8,
            (scr >> 20) as u8,
            (((scr >> 12) & 0xf8) as u8) | 0x04 | ((scr >> 13) & 3) as u8,
            (scr >> 5) as u8,
            (((scr << 3) & 0xf8) as u8) | 0x04,
            0x01,
            0x01,
            0x89,
            0xc3,
            0xf8,
        ]);
        b
    }
    /// A subpicture: two run-length coded lines (4 pixels of colour 1 each), shown at once and
    /// hidden after `ticks` (1024/90000 s each).
    fn subpicture(ticks: u16) -> Vec<u8> {
        let (top, bottom) = (4u16, 5u16);
        let first = 6u16;
        let mut commands = vec![0x01, 0x03, 0x01, 0x23, 0x04, 0xff, 0xf0];
        commands.extend([0x05, 0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x06]);
        commands.extend(top.to_be_bytes());
        commands.extend(bottom.to_be_bytes());
        commands.push(0xff);
        let second = first + 4 + commands.len() as u16;
        let mut body = vec![0x99, 0x99];
        body.extend(0u16.to_be_bytes());
        body.extend(second.to_be_bytes());
        body.extend(commands);
        body.extend(ticks.to_be_bytes());
        body.extend(second.to_be_bytes());
        body.extend([0x02, 0xff]);
        let mut spu = (4 + body.len() as u16).to_be_bytes().to_vec();
        spu.extend(first.to_be_bytes());
        spu.extend(body);
        spu
    }
    let mut stream = Vec::new();
    for (start, length) in EVENTS {
        let pts = (start * 90_000.0) as u64;
        let mut payload = vec![0x20];
        payload.extend(subpicture((length * 90_000.0 / 1024.0) as u16));
        let mut header = vec![0x81, 0x80, 5];
        header.extend(timestamp(pts));
        stream.extend(pack_header(pts));
        stream.extend([0, 0, 1, 0xbd]);
        stream.extend(((header.len() + payload.len()) as u16).to_be_bytes());
        stream.extend(header);
        stream.extend(payload);
    }
    stream.extend([0, 0, 1, 0xb9]);
    std::fs::write(path, stream).unwrap();
}

/// ffprobe's JSON of a file's format, streams and chapters.
fn probe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_format"])
        .args(["-show_streams", "-show_chapters"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe of {} failed", path.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A stream's tags, less the timing tags muxers write themselves (Matroska's `DURATION`).
fn stream_tags(stream: &Value) -> Value {
    let mut tags = stream["tags"].clone();
    if let Some(map) = tags.as_object_mut() {
        map.remove("DURATION");
    }
    tags
}

/// The track list: each stream's kind, subtitle codec, tags and disposition (data streams,
/// such as mp4's chapter track, included).
fn tracks(file: &Value) -> Vec<Value> {
    file["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let codec = match s["codec_type"].as_str() {
                Some("subtitle" | "data") => s["codec_name"].clone(),
                _ => Value::Null,
            };
            serde_json::json!([s["codec_type"], codec, stream_tags(s), s["disposition"]])
        })
        .collect()
}

/// The chapters: start and end in whole milliseconds, and the title.
fn chapters(file: &Value) -> Vec<(i64, i64, String)> {
    let ms = |v: &Value| (v.as_str().unwrap().parse::<f64>().unwrap() * 1000.0).round() as i64;
    file["chapters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let title = c["tags"]["title"].as_str().unwrap_or_default().to_string();
            (ms(&c["start_time"]), ms(&c["end_time"]), title)
        })
        .collect()
}

/// The events of a file's subtitle stream `n`: text subtitles decoded to SubRip (times and
/// texts), pictures as their packets' times and content hashes.
fn subtitle_events(path: &Path, n: usize, bitmap: bool) -> String {
    let out = if bitmap {
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", &format!("s:{n}")])
            .args(["-show_data_hash", "md5", "-show_entries"])
            .args(["packet=pts_time,duration_time,data_hash", "-of", "csv=p=0"])
            .arg(path)
            .output()
    } else {
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-map", &format!("0:s:{n}"), "-f", "srt", "-"])
            .output()
    }
    .expect("ffmpeg runs");
    assert!(out.status.success(), "subtitles of {}", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that `vre` and `serial` hold the same container data: global tags, the track list
/// (tags and dispositions), chapters, and every subtitle stream's events. Returns the vre
/// output's probe.
fn assert_same_container(vre_out: &Path, serial: &Path) -> Value {
    let (ours, theirs) = (probe(vre_out), probe(serial));
    assert_eq!(
        ours["format"]["tags"], theirs["format"]["tags"],
        "global tags"
    );
    assert_eq!(tracks(&ours), tracks(&theirs), "track list");
    assert_eq!(chapters(&ours), chapters(&theirs), "chapters");
    let subtitles: Vec<&Value> = ours["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["codec_type"] == "subtitle")
        .collect();
    for (n, stream) in subtitles.iter().enumerate() {
        let bitmap = stream["codec_name"] == "dvd_subtitle";
        let events = subtitle_events(vre_out, n, bitmap);
        assert_eq!(
            events,
            subtitle_events(serial, n, bitmap),
            "subtitle stream {n}"
        );
    }
    ours
}

/// `vre run INPUT -o OUT -j 2 -y` with `options`, asserted to succeed; returns what it printed
/// about the plan (on stderr).
fn vre_run(input: &Path, out: &Path, options: &[&str]) -> String {
    let mut args = args!["run", input, "-o", out, "-j", "2", "-y"];
    args.extend(options.iter().map(std::ffi::OsString::from));
    stderr(&vre_ok(args))
}

/// The serial command: `ffmpeg -i INPUT OPTIONS OUT`.
fn serial(input: &Path, options: &[&str], out: &Path) {
    let mut args = vec!["-i", input.to_str().unwrap()];
    args.extend(options);
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
}

#[test]
fn tags_chapters_and_subtitles_are_kept_as_the_serial_command_keeps_them() {
    let tmp = temp_dir();
    let mkv = tagged_clip(tmp.path(), "in.mkv", "srt", None);
    let mp4 = tagged_clip(tmp.path(), "in.mp4", "mov_text", None);
    // Matroska: the first text subtitle, as ASS.
    let (ours, theirs) = (tmp.path().join("vre.mkv"), tmp.path().join("serial.mkv"));
    vre_run(&mkv, &ours, &["--chunks", "3"]);
    serial(&mkv, &["-c:v", "ffv1", "-c:a", "flac"], &theirs);
    let probed = assert_same_container(&ours, &theirs);
    assert_eq!(probed["format"]["tags"]["title"], "Global Title");
    assert_eq!(
        probed["format"]["tags"]["COMMENT"],
        "semi;colon =equals #hash"
    );
    assert!(
        probed["format"]["tags"].get("creation_time").is_none(),
        "serial ffmpeg does not copy creation_time"
    );
    assert_eq!(chapters(&probed).len(), 3);
    assert_eq!(probed["streams"][2]["codec_name"], "ass");
    assert_eq!(probed["streams"][2]["tags"]["language"], "deu");
    let events = subtitle_events(&ours, 0, false);
    assert_eq!(events.matches(" --> ").count(), EVENTS.len(), "{events}");
    // WebM: WebVTT.
    let (ours, theirs) = (tmp.path().join("vre.webm"), tmp.path().join("serial.webm"));
    vre_run(&mkv, &ours, &["--chunks", "2"]);
    serial(
        &mkv,
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ],
        &theirs,
    );
    let probed = assert_same_container(&ours, &theirs);
    assert_eq!(probed["streams"][2]["codec_name"], "webvtt");
    // mp4 has no default subtitle codec: no subtitles, and the chapters with their titles (not
    // the audio task's, untitled, pointing at a track that is not there).
    let (ours, theirs) = (tmp.path().join("vre.mp4"), tmp.path().join("serial.mp4"));
    vre_run(&mp4, &ours, &["--chunks", "3"]);
    serial(&mp4, &["-c:v", "libx264", "-preset", "ultrafast"], &theirs);
    let probed = assert_same_container(&ours, &theirs);
    assert!(!tracks(&probed).iter().any(|t| t[0] == "subtitle"));
    assert_eq!(probed["streams"][0]["tags"]["language"], "fra");
    assert_eq!(
        chapters(&probed)[1],
        (1500, 4000, "Middle part".to_string())
    );
    // The fast reader of mp4 indexes declines a file with a chapter track; ffprobe answered.
    assert!(vre::ffmpeg::mp4::stream_timings(&ours).is_none());
    // mov_text from an mp4 becomes ASS in Matroska, with the mp4's own tags (brands, handlers).
    let (ours, theirs) = (
        tmp.path().join("mp4.mkv"),
        tmp.path().join("serial-mp4.mkv"),
    );
    vre_run(&mp4, &ours, &["--chunks", "2"]);
    serial(&mp4, &["-c:v", "ffv1", "-c:a", "flac"], &theirs);
    let probed = assert_same_container(&ours, &theirs);
    assert_eq!(probed["streams"][2]["codec_name"], "ass");
    assert_eq!(probed["format"]["tags"]["MAJOR_BRAND"], "isom");
}

#[test]
fn a_range_cuts_chapters_and_subtitles_as_the_serial_command_with_the_same_cut() {
    let tmp = temp_dir();
    let mkv = tagged_clip(tmp.path(), "in.mkv", "srt", None);
    let (ours, theirs) = (tmp.path().join("vre.mkv"), tmp.path().join("serial.mkv"));
    let printed = vre_run(&mkv, &ours, &["--chunks", "3", "--range", "30:105"]);
    assert!(
        printed.contains("note       --range cuts chapters and subtitles"),
        "{printed}"
    );
    // Frames 30..105 at 25 fps: from 1.2 s, for 3 s.
    serial(
        &mkv,
        &["-ss", "1.2", "-t", "3", "-c:v", "ffv1", "-c:a", "flac"],
        &theirs,
    );
    let probed = assert_same_container(&ours, &theirs);
    assert_eq!(
        chapters(&probed),
        [
            (0, 300, "Intro".to_string()),
            (300, 2800, "Middle part".to_string()),
            (2800, 3000, "End".to_string())
        ]
    );
    // The events that start inside the range (1.8 s and 3.1 s), moved by 1.2 s.
    let events = subtitle_events(&ours, 0, false);
    assert!(
        events.contains("00:00:00,600 --> 00:00:01,700\nSecond line"),
        "{events}"
    );
    assert!(
        !events.contains("First line") && !events.contains("Fourth"),
        "{events}"
    );
    assert_eq!(
        stream(&ours, "video").unwrap()["nb_read_packets"],
        stream(&theirs, "video").unwrap()["nb_read_packets"]
    );
}

#[test]
fn a_range_without_subtitle_events_keeps_the_subtitle_stream_empty() {
    let tmp = temp_dir();
    let mkv = tagged_clip(tmp.path(), "in.mkv", "srt", None);
    for format in ["mkv", "mp4"] {
        let ours = tmp.path().join(format!("vre.{format}"));
        let theirs = tmp.path().join(format!("serial.{format}"));
        // Frames 146..150: from 5.84 s, after the last event started.
        vre_run(
            &mkv,
            &ours,
            &[
                "--chunks",
                "1",
                "--range",
                "146:150",
                "--subtitle-stream",
                "0",
            ],
        );
        // Matroska's default subtitle encoder; mp4 has none, so mov_text is asked for.
        let (video, audio, codec, asked) = match format {
            "mkv" => ("ffv1", "flac", "ass", None),
            _ => ("libx264", "aac", "mov_text", Some("mov_text")),
        };
        let mut options = vec![
            "-ss", "5.84", "-t", "0.16", "-map", "0:v", "-map", "0:a", "-map", "0:s:0", "-c:v",
            video, "-c:a", audio,
        ];
        options.extend(asked.map(|encoder| ["-c:s", encoder]).into_iter().flatten());
        serial(&mkv, &options, &theirs);
        let probed = assert_same_container(&ours, &theirs);
        assert_eq!(probed["streams"][2]["codec_name"], codec);
        assert!(!subtitle_events(&ours, 0, false).contains(" --> "));
        assert_eq!(chapters(&probed), [(0, 160, "End".to_string())]);
    }
}

#[test]
fn strip_leaves_out_tags_and_chapters_as_map_metadata_minus_one_does() {
    let tmp = temp_dir();
    let mkv = tagged_clip(tmp.path(), "in.mkv", "srt", None);
    let (ours, theirs) = (tmp.path().join("vre.mkv"), tmp.path().join("serial.mkv"));
    // Stripping re-renders nothing: the chunks and the audio do not depend on the metadata.
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&mkv, &plan_dir, ["--format", "mkv", "--chunks", "2"]);
    vre_ok(args!["work", &plan_dir, "-q"]);
    let replanned = vre_ok(args![
        "plan",
        &mkv,
        "-o",
        &plan_dir,
        "--format",
        "mkv",
        "--chunks",
        "2",
        "--metadata",
        "strip",
        "--force"
    ]);
    let replanned = String::from_utf8_lossy(&replanned.stdout);
    assert!(
        replanned.contains("3 finished pieces kept, 0 withdrawn"),
        "{replanned}"
    );
    assert!(
        replanned.contains("data       metadata stripped"),
        "{replanned}"
    );
    vre_ok(args!["assemble", &plan_dir, "-o", &ours]);
    serial(
        &mkv,
        &[
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-c:v",
            "ffv1",
            "-c:a",
            "flac",
        ],
        &theirs,
    );
    let probed = assert_same_container(&ours, &theirs);
    assert!(chapters(&probed).is_empty());
    assert!(probed["format"]["tags"].get("title").is_none());
    assert!(probed["streams"][0]["tags"].get("language").is_none());
}

#[test]
fn bitmap_subtitles_are_skipped_by_default_copied_when_chosen_and_refused_where_they_cannot_go() {
    let tmp = temp_dir();
    let pictures = tmp.path().join("dvd.mpg");
    dvd_subtitles(&pictures);
    let input = tagged_clip(tmp.path(), "in.mkv", "srt", Some(&pictures));
    // ffmpeg's default for Matroska passes over pictures it cannot write as ASS: the text
    // stream is taken, and so it is by vre.
    let (ours, theirs) = (tmp.path().join("vre.mkv"), tmp.path().join("serial.mkv"));
    vre_run(&input, &ours, &["--chunks", "2"]);
    serial(&input, &["-c:v", "ffv1", "-c:a", "flac"], &theirs);
    let probed = assert_same_container(&ours, &theirs);
    assert_eq!(probed["streams"][2]["codec_name"], "ass");
    // Chosen, pictures are copied as `-c:s copy` copies them.
    let (ours, theirs) = (tmp.path().join("vre2.mkv"), tmp.path().join("serial2.mkv"));
    let printed = vre_run(&input, &ours, &["--chunks", "2", "--subtitle-stream", "0"]);
    assert!(
        printed.contains("note       subtitle stream 0 (dvd_subtitle"),
        "{printed}"
    );
    serial(
        &input,
        &[
            "-map", "0:v", "-map", "0:a", "-map", "0:s:0", "-c:v", "ffv1", "-c:a", "flac", "-c:s",
            "copy",
        ],
        &theirs,
    );
    let probed = assert_same_container(&ours, &theirs);
    assert_eq!(probed["streams"][2]["codec_name"], "dvd_subtitle");
    assert_eq!(
        subtitle_events(&ours, 0, true).lines().count(),
        EVENTS.len()
    );
    // WebM takes no pictures: refused at plan time, naming the stream, before any work.
    let plan_dir = tmp.path().join("webm.vre");
    let refused = run_vre(args![
        "plan",
        &input,
        "-o",
        &plan_dir,
        "--format",
        "webm",
        "--subtitle-stream",
        "0"
    ]);
    assert_eq!(refused.status.code(), Some(64), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("subtitle stream 0 is dvd_subtitle"));
    assert!(!plan_dir.join("plan.json").exists());
    // `all` leaves it out there, and says so.
    let printed = vre_ok(args![
        "plan",
        &input,
        "-o",
        &plan_dir,
        "--format",
        "webm",
        "--subtitle-stream",
        "all"
    ]);
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.contains("dvd_subtitle, pictures) is left out"),
        "{printed}"
    );
}

#[test]
fn a_chosen_text_subtitle_goes_into_mp4_as_mov_text() {
    let tmp = temp_dir();
    let input = tagged_clip(tmp.path(), "in.mkv", "srt", None);
    let (ours, theirs) = (tmp.path().join("vre.mp4"), tmp.path().join("serial.mp4"));
    let printed = vre_run(
        &input,
        &ours,
        &[
            "--chunks",
            "2",
            "--subtitle-stream",
            "0",
            "--range",
            "25:125",
        ],
    );
    assert!(printed.contains("is written as mov_text"), "{printed}");
    serial(
        &input,
        &[
            "-ss",
            "1",
            "-t",
            "4",
            "-map",
            "0:v",
            "-map",
            "0:a",
            "-map",
            "0:s:0",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:s",
            "mov_text",
        ],
        &theirs,
    );
    let probed = assert_same_container(&ours, &theirs);
    assert_eq!(probed["streams"][2]["codec_name"], "mov_text");
    assert_eq!(probed["streams"][2]["tags"]["language"], "deu");
}

#[test]
fn assembly_needs_the_input_only_for_its_subtitles() {
    let tmp = temp_dir();
    let input = tagged_clip(tmp.path(), "in.mkv", "srt", None);
    let moved = tmp.path().join("elsewhere.mkv");
    for (format, subtitles) in [("mp4", false), ("mkv", true)] {
        let plan_dir = tmp.path().join(format!("{format}.vre"));
        let out = tmp.path().join(format!("out.{format}"));
        vre_plan(&input, &plan_dir, ["--format", format, "--chunks", "2"]);
        vre_ok(args!["work", &plan_dir, "-q"]);
        std::fs::rename(&input, &moved).unwrap();
        let assembled = run_vre(args!["assemble", &plan_dir, "-o", &out]);
        std::fs::rename(&moved, &input).unwrap();
        if subtitles {
            assert_eq!(assembled.status.code(), Some(66), "{}", stderr(&assembled));
            assert!(stderr(&assembled).contains("copies subtitle streams from its input"));
            assert!(!out.exists());
            // Nothing of the attempt is left in the planDir. The input put back is a new file
            // to vre (its inode and times): planned again, every chunk is kept.
            assert!(
                temp_files(&plan_dir).is_empty(),
                "{:?}",
                temp_files(&plan_dir)
            );
            vre_plan(
                &input,
                &plan_dir,
                ["--format", format, "--chunks", "2", "--force"],
            );
            vre_ok(args!["assemble", &plan_dir, "-o", &out]);
            assert!(tracks(&probe(&out)).iter().any(|t| t[0] == "subtitle"));
        } else {
            // Tags and chapters travel in the plan.
            assert!(assembled.status.success(), "{}", stderr(&assembled));
            assert_eq!(chapters(&probe(&out)).len(), 3);
        }
    }
}
