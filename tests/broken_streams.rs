//! Streams that change or break mid-way, one synthetic reproduction per class: a transport
//! stream whose frame size changes, one cut inside an open GOP (its leading frames do not
//! decode), a damaged keyframe the decoder conceals, one it cannot decode at all, and `--fps` on
//! a stream whose only intact picture follows frames that do not decode. Each is rendered in
//! several chunks and in a `--range` and compared with the serial command (decoded frames,
//! frame count, size), or refused by `vre plan` naming the cause.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Encodes lavfi `source` (and a tone, with `audio`) to H.264 in MPEG-TS with `extra` options.
fn ts(out: &Path, source: &str, audio: bool, extra: &[&str]) {
    let mut args = vec!["-f", "lavfi", "-i", source];
    if audio {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:duration=8"]);
    }
    args.extend(["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2"]);
    args.extend(extra);
    if audio {
        args.extend(["-c:a", "aac", "-shortest"]);
    }
    args.extend(["-f", "mpegts", out.to_str().unwrap()]);
    ffmpeg(&args);
}

/// A transport stream whose video switches from 320x240 to 480x360 (another picture) after 75
/// frames, as a broadcast changing resolution does: two segments, the second's timestamps
/// following the first's, joined byte for byte.
fn size_change(dir: &Path) -> PathBuf {
    let (a, b) = (dir.join("a.ts"), dir.join("b.ts"));
    ts(
        &a,
        "testsrc2=size=320x240:rate=25:duration=3",
        true,
        &["-g", "25"],
    );
    ts(
        &b,
        "testsrc2=size=480x360:rate=25:duration=3,hue=h=90",
        true,
        &["-g", "25", "-output_ts_offset", "3.08"],
    );
    let joined = dir.join("size-change.ts");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend(std::fs::read(&b).unwrap());
    std::fs::write(&joined, bytes).unwrap();
    joined
}

/// The packets (stream index, pts, flags, byte position) of a file's video, in file order.
fn video_packets(path: &Path) -> Vec<(i64, String, u64)> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-of", "json"])
        .args(["-show_entries", "packet=pts,flags,pos"])
        .arg(path)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pts"].as_i64().unwrap(),
                p["flags"].as_str().unwrap().to_string(),
                p["pos"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// An open-GOP H.264 transport stream with a tone (the first keyframe of each GOP is not an
/// IDR, and B-frames after it in decoding order are shown before it).
fn open_gop(dir: &Path) -> PathBuf {
    let out = dir.join("open-gop.ts");
    ts(
        &out,
        "testsrc2=size=320x240:rate=25:duration=8",
        true,
        &[
            "-bf",
            "3",
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-x264-params",
            "open-gop=1:scenecut=0",
        ],
    );
    out
}

/// The bytes of a transport stream from TS packet `from` (188 bytes each) to `to`, behind its
/// first two packets (the program tables).
fn ts_cut(input: &Path, (from, to): (u64, u64), out: &Path) {
    let bytes = std::fs::read(input).unwrap();
    let (from, to) = (
        (from / 188 * 188) as usize,
        (to / 188 * 188).min(bytes.len() as u64) as usize,
    );
    let mut cut = bytes[..376].to_vec();
    cut.extend_from_slice(&bytes[from..to]);
    std::fs::write(out, cut).unwrap();
}

/// A 4 s, 25 fps H.264 MP4 with keyframes every 25 frames, and a copy whose keyframe at frame
/// 50 is damaged: `count` bytes XORed from `at` (a fraction of its packet) on.
fn damaged_keyframe(dir: &Path, name: &str, (at, count): (f64, usize)) -> (PathBuf, PathBuf) {
    let clean = dir.join("clean.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-bf",
        "2",
        clean.to_str().unwrap(),
    ]);
    let packets = video_packets(&clean);
    let keyframes: Vec<&(i64, String, u64)> =
        packets.iter().filter(|p| p.1.starts_with('K')).collect();
    let third = keyframes[2];
    let next_pos = packets
        .iter()
        .map(|p| p.2)
        .filter(|&pos| pos > third.2)
        .min()
        .unwrap();
    let size = next_pos - third.2;
    let mut bytes = std::fs::read(&clean).unwrap();
    let start = third.2 as usize + (size as f64 * at) as usize;
    for byte in &mut bytes[start..start + count] {
        *byte ^= 0xA5;
    }
    let damaged = dir.join(name);
    std::fs::write(&damaged, bytes).unwrap();
    (clean, damaged)
}

/// The decoded frames of the serial command `ffmpeg -i INPUT OPTIONS -c:v libx264 -crf 0
/// serial.mp4` (lossless: the frames serial ffmpeg hands its encoder), with their size.
fn serial(input: &Path, dir: &Path, options: &[&str]) -> (Vec<String>, (i64, i64)) {
    let out = dir.join("serial.mp4");
    let mut args = vec!["-i", input.to_str().unwrap()];
    args.extend(options);
    args.extend([
        "-c:v",
        "libx264",
        "-crf",
        "0",
        "-preset",
        "ultrafast",
        out.to_str().unwrap(),
    ]);
    ffmpeg(&args);
    (framemd5(&out, None), size(&out))
}

/// A file's video size.
fn size(path: &Path) -> (i64, i64) {
    let video = stream(path, "video").unwrap();
    (
        video["width"].as_i64().unwrap(),
        video["height"].as_i64().unwrap(),
    )
}

/// `vre run INPUT -o OUT -y -j 2 -q --crf 0 OPTIONS` (lossless x264), asserted to succeed;
/// returns OUT's decoded frames and size.
fn render(input: &Path, out: &Path, options: &[&str]) -> (Vec<String>, (i64, i64)) {
    let mut args = args!["run", input, "-o", out, "-y", "-j", "2", "-q", "--crf", "0"];
    args.extend(options.iter().map(std::ffi::OsString::from));
    vre_ok(args);
    (framemd5(out, None), size(out))
}

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

/// `vre plan INPUT -o DIR OPTIONS` (asserted to succeed): its text and the plan's source facts.
fn plan(input: &Path, dir: &Path, options: &[&str]) -> (String, Value) {
    let mut args = args!["plan", input, "-o", dir, "--force"];
    args.extend(options.iter().map(std::ffi::OsString::from));
    let out = vre_ok(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    (text, read_json(&dir.join("plan.json"))["source"].clone())
}

#[test]
fn a_size_change_mid_stream_is_scaled_to_the_first_size_in_every_chunk() {
    let t = temp_dir();
    let input = size_change(t.path());
    let (text, source) = plan(&input, &t.path().join("job.vre"), &["--chunks", "4"]);
    assert_eq!(source["size_changes"][0]["frame"], 75, "{source}");
    let schema = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json"));
    let written = read_json(&t.path().join("job.vre/plan.json"));
    assert!(jsonschema::validator_for(&schema)
        .unwrap()
        .is_valid(&written));
    assert!(text.contains("frame size changes 1 time(s)"), "{text}");
    let (whole, first_size) = serial(&input, t.path(), &[]);
    assert_eq!(first_size, (320, 240));
    let out = t.path().join("out.mp4");
    // Chunk boundaries at 38, 75 (the change) and 113, then 7 chunks of odd lengths.
    for chunks in ["4", "7"] {
        let (frames, size) = render(&input, &out, &["--chunks", chunks]);
        assert_eq!(size, (320, 240));
        assert_same_frames(&frames, &whole, &format!("{chunks} chunks"));
    }
    let (ranged, _) = render(&input, &out, &["--chunks", "2", "--range", "60:101"]);
    assert_same_frames(&ranged, &whole[60..101], "range across the change");
    let mkv = t.path().join("out.mkv");
    vre_ok(args![
        "run", input, "-o", mkv, "-y", "-j", "2", "-q", "--chunks", "3"
    ]);
    assert_eq!(size(&mkv), (320, 240));
    assert_same_frames(&framemd5(&mkv, Some("format=yuv420p")), &whole, "ffv1");
    // A filter chain or an fps grid would start over at the change in serial ffmpeg.
    let refused = t.path().join("refused.vre");
    assert_plan_refused(
        &input,
        &refused,
        &["--vf", "hue=s=0"],
        &["--vf", "input frame 75", "480x360"],
    );
    assert_plan_refused(
        &input,
        &refused,
        &["--fps", "30"],
        &["--fps", "input frame 75", "starts over"],
    );
}

#[test]
fn leading_frames_of_an_open_gop_cut_mid_stream_are_left_out_as_serial_ffmpeg_leaves_them() {
    let t = temp_dir();
    let whole_file = open_gop(t.path());
    let size = std::fs::metadata(&whole_file).unwrap().len();
    // Cut at 37 %: inside a GOP, so the file starts with packets that reference frames before it.
    let input = t.path().join("cut.ts");
    ts_cut(&whole_file, (size * 37 / 100, size), &input);
    let (text, source) = plan(&input, &t.path().join("job.vre"), &[]);
    let check = &source["decode_check"];
    assert!(check["dropped_frames"].as_u64().unwrap() > 0, "{source}");
    assert!(
        text.contains("the decoder cannot produce are left out"),
        "{text}"
    );
    let (whole, _) = serial(&input, t.path(), &[]);
    let out = t.path().join("out.mp4");
    for chunks in ["3", "5"] {
        let (frames, _) = render(&input, &out, &["--chunks", chunks]);
        assert_same_frames(&frames, &whole, &format!("{chunks} chunks"));
    }
    let (ranged, _) = render(&input, &out, &["--chunks", "2", "--range", "10:70"]);
    assert_same_frames(&ranged, &whole[10..70], "range");
}

/// A 4 s, 25 fps H.264 transport stream with keyframes every 25 frames whose keyframe at frame
/// 50 is damaged as by a reception error: 100 bytes of the payload of one of its TS packets
/// XORed (the packet headers intact).
fn damaged_ts_keyframe(dir: &Path) -> PathBuf {
    let clean = dir.join("clean.ts");
    ts(
        &clean,
        "testsrc2=size=320x240:rate=25:duration=4",
        false,
        &["-g", "25"],
    );
    let keyframes: Vec<u64> = video_packets(&clean)
        .into_iter()
        .filter(|p| p.1.starts_with('K'))
        .map(|p| p.2)
        .collect();
    let mut bytes = std::fs::read(&clean).unwrap();
    // The PES of the keyframe at frame 50 starts in the TS packet at its position; ten
    // packets on, the middle of a payload.
    let packet = (keyframes[2] / 188 * 188 + 10 * 188) as usize;
    for byte in &mut bytes[packet + 40..packet + 140] {
        *byte ^= 0xA5;
    }
    let damaged = dir.join("concealed.ts");
    std::fs::write(&damaged, bytes).unwrap();
    damaged
}

#[test]
fn a_damaged_keyframe_the_decoder_conceals_is_never_where_a_chunk_starts_decoding() {
    let t = temp_dir();
    // A transport stream: its packets are a sign to look, and the keyframes' decode shows the
    // damage, without asking.
    let input = damaged_ts_keyframe(t.path());
    let (text, source) = plan(&input, &t.path().join("job.vre"), &["--chunk-frames", "25"]);
    // What the decoder says of a damaged stream does not depend on thread timing: planning
    // again gives the same plan.
    let (again, _) = plan(&input, &t.path().join("job.vre"), &["--chunk-frames", "25"]);
    assert!(again.contains("plan unchanged"), "{again}");
    assert_eq!(source["decode_check"]["damaged_keyframes"], 1, "{source}");
    assert_eq!(source["decode_check"]["dropped_frames"], 0, "{source}");
    assert!(
        text.contains("damaged keyframe(s) the decoder conceals"),
        "{text}"
    );
    let (whole, _) = serial(&input, t.path(), &[]);
    let out = t.path().join("out.mp4");
    let (frames, _) = render(&input, &out, &["--chunk-frames", "25"]);
    assert_eq!(frames.len(), whole.len());
    // Before the damaged GOP (frames 50..75) the frames are the serial command's; there, the
    // concealment depends on the decoder's threads (the note says so).
    assert_same_frames(&frames[..50], &whole[..50], "before the damage");
    assert_same_frames(&frames[75..], &whole[75..], "after the damage");
    let (ranged, _) = render(&input, &out, &["--chunks", "2", "--range", "30:90"]);
    assert_eq!(ranged.len(), 60);
    assert_same_frames(&ranged[45..], &whole[75..90], "range after the damage");
}

#[test]
fn frames_that_do_not_decode_amid_the_video_are_refused_without_fps_and_follow_the_fps_filter_with_it(
) {
    let t = temp_dir();
    // The keyframe's length prefix damaged: the decoder gives no frame for it. In an MP4 nothing
    // in the packets shows it: the chunk that meets it fails, naming --check-decoding.
    let (_, input) = damaged_keyframe(t.path(), "dropped.mp4", (0.0, 8));
    let unchecked = run_vre(args![
        "run",
        input,
        "-o",
        t.path().join("unchecked.mp4"),
        "-q",
        "--chunk-frames",
        "25",
        "--max-attempts",
        "1"
    ]);
    assert_eq!(unchecked.status.code(), Some(80), "{}", stderr(&unchecked));
    assert!(
        stderr(&unchecked).contains("--check-decoding"),
        "{}",
        stderr(&unchecked)
    );
    assert_plan_refused(
        &input,
        &t.path().join("refused.vre"),
        &["--check-decoding"],
        &["--fps", "1 frame(s)", "do not decode", "2.000 s"],
    );
    let (text, source) = plan(
        &input,
        &t.path().join("job.vre"),
        &["--fps", "25", "--check-decoding"],
    );
    assert_eq!(source["decode_check"]["dropped_frames"], 1, "{source}");
    assert!(
        text.contains("1 frame(s) the decoder cannot produce"),
        "{text}"
    );
    let (whole, _) = serial(&input, t.path(), &["-vf", "fps=25"]);
    let out = t.path().join("out.mp4");
    let (frames, _) = render(
        &input,
        &out,
        &["--fps", "25", "--chunk-frames", "25", "--check-decoding"],
    );
    assert_eq!(frames.len(), whole.len());
    assert_same_frames(&frames[..50], &whole[..50], "before the damage");
    assert_same_frames(&frames[75..], &whole[75..], "after the damage");
}

#[test]
fn fps_counts_the_grid_of_the_frames_that_decode() {
    let t = temp_dir();
    let whole_file = open_gop(t.path());
    // From the B-frame before the second GOP's keyframe to five packets later: B-frames that do
    // not decode around the one intact picture, and the tone.
    let packets = video_packets(&whole_file);
    let key = packets
        .iter()
        .skip(1)
        .position(|p| p.1.starts_with('K'))
        .unwrap()
        + 1;
    let input = t.path().join("one-picture.ts");
    ts_cut(
        &whole_file,
        (packets[key - 1].2, packets[key + 4].2),
        &input,
    );
    let (_, source) = plan(&input, &t.path().join("job.vre"), &["--fps", "25"]);
    assert!(source["decode_check"].is_object(), "{source}");
    let (whole, _) = serial(&input, t.path(), &["-vf", "fps=25"]);
    let out = t.path().join("out.mp4");
    let (frames, _) = render(&input, &out, &["--fps", "25"]);
    assert_same_frames(&frames, &whole, "one picture on the fps grid");
}

#[test]
fn check_decoding_decodes_a_clean_input_and_changes_nothing_else() {
    let t = temp_dir();
    let (clean, _) = damaged_keyframe(t.path(), "unused.mp4", (0.5, 1));
    let (plain_text, plain) = plan(&clean, &t.path().join("plain.vre"), &[]);
    assert!(plain["decode_check"].is_null(), "{plain}");
    assert!(!plain_text.contains("decoded at plan time"), "{plain_text}");
    let (text, checked) = plan(&clean, &t.path().join("checked.vre"), &["--check-decoding"]);
    assert!(text.contains("--check-decoding"), "{text}");
    assert_eq!(checked["decode_check"]["dropped_frames"], 0);
    assert_eq!(checked["total_frames"], plain["total_frames"]);
    let index = |dir: &str| std::fs::read(t.path().join(dir).join("index.bin")).unwrap();
    assert_eq!(
        index("plain.vre"),
        index("checked.vre"),
        "the same frames and keyframes"
    );
}
