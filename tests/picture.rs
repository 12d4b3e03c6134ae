//! The picture as the serial command keeps it: the pixel format ffmpeg picks, the colour tags,
//! chroma location, field order, sample aspect ratio, rotation, HDR10 metadata and timecode, in
//! every codec and container, rendered in several chunks and in a `--range`.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The picture fields ffprobe reports of a file's first video stream that the serial command
/// sets: pixel format, colour range, primaries, transfer, matrix, chroma location, field order
/// and sample aspect ratio.
const PICTURE_FIELDS: &str = "pix_fmt,color_range,color_primaries,color_transfer,color_space,chroma_location,field_order,sample_aspect_ratio";

/// ffprobe's JSON of a file's first video stream: the picture fields, side data and tags.
fn video_stream(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-select_streams", "v:0"])
        .arg("-show_entries")
        .arg(format!(
            "stream={PICTURE_FIELDS}:stream_side_data:stream_tags"
        ))
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe of {} failed", path.display());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["streams"][0].clone()
}

/// The picture fields of a file's first video stream, by name.
fn picture(path: &Path) -> BTreeMap<String, String> {
    let stream = video_stream(path);
    PICTURE_FIELDS
        .split(',')
        .map(|f| {
            (
                f.to_string(),
                stream[f].as_str().unwrap_or("absent").to_string(),
            )
        })
        .collect()
}

/// The side data of a file's first video stream, each as its type and numeric fields.
fn side_data(path: &Path) -> BTreeMap<String, BTreeMap<String, f64>> {
    let stream = video_stream(path);
    let list = stream["side_data_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.iter()
        .map(|d| {
            let fields = d
                .as_object()
                .unwrap()
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), number(v)?)))
                .collect();
            (d["side_data_type"].as_str().unwrap().to_string(), fields)
        })
        .collect()
}

/// A number ffprobe prints as a number, a string or a fraction `N/D`.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.split_once('/') {
            Some((n, d)) => Some(n.parse::<f64>().ok()? / d.parse::<f64>().ok()?),
            None => s.parse().ok(),
        },
        _ => None,
    }
}

/// A video stream's `timecode` tag, whatever its case (Matroska writes `TIMECODE`).
fn timecode(path: &Path) -> Option<String> {
    let stream = video_stream(path);
    stream["tags"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("timecode"))
        .map(|(_, v)| v.as_str().unwrap().to_string())
}

/// The codec tags of every stream of a file (`avc1`, `mp4a`, `tmcd`, …).
fn stream_tags(path: &Path) -> Vec<String> {
    streams(path)
        .iter()
        .map(|s| s["codec_tag_string"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A 1 s tagged clip with a tone: interlaced (top field first) H.264 with a 16:15 sample aspect
/// ratio, BT.601 625-line primaries, SMPTE 170M transfer and matrix, limited range, chroma at the
/// top left, made from `pix_fmt` frames.
fn tagged_clip(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=1,setfield=tff,setsar=16/15",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=1",
        "-c:v",
        "libx264",
        "-flags",
        "+ildct+ilme",
        "-top",
        "1",
        "-color_primaries",
        "bt470bg",
        "-color_trc",
        "smpte170m",
        "-colorspace",
        "smpte170m",
        "-color_range",
        "tv",
        "-chroma_sample_location",
        "topleft",
        "-c:a",
        "aac",
        "-shortest",
    ];
    args.extend(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path
}

/// The default serial command: `ffmpeg -i IN [OPTIONS] -c:v CODEC OUT`.
fn serial(input: &Path, codec: &str, options: &[&str], output: &Path) {
    let mut args = vec!["-i", input.to_str().unwrap()];
    args.extend(options);
    args.extend(["-c:v", codec, output.to_str().unwrap()]);
    ffmpeg(&args);
}

/// The first frame file of a PNG sequence directory.
fn first_png(dir: &Path) -> PathBuf {
    dir.join("frame_000001.png")
}

#[test]
fn every_codec_and_container_keeps_the_colour_tags_field_order_and_sar_of_the_serial_command() {
    let tmp = temp_dir();
    let input = tagged_clip(tmp.path(), "tagged.mp4", &["-pix_fmt", "yuv420p"]);
    let mut compared = 0;
    for container in ["mp4", "mov", "mkv", "webm"] {
        let codecs: &[&str] = match container {
            "mp4" => &["libx264", "libx265", "libsvtav1", "libvpx-vp9"],
            "mov" => &["prores_ks", "libx264", "libx265"],
            "mkv" => &[
                "ffv1",
                "libx264",
                "libx265",
                "libsvtav1",
                "libvpx-vp9",
                "prores_ks",
            ],
            _ => &["libvpx-vp9", "libsvtav1"],
        };
        for codec in codecs {
            let theirs = tmp.path().join(format!("serial-{codec}.{container}"));
            serial(&input, codec, &[], &theirs);
            let ours = tmp.path().join(format!("vre-{codec}.{container}"));
            vre_ok(args![
                "run", input, "-o", ours, "--codec", codec, "--chunks", "3", "-j", "2"
            ]);
            assert_eq!(
                picture(&ours),
                picture(&theirs),
                "{codec} in {container}: the picture as the serial command has it"
            );
            compared += 1;
        }
    }
    // The PNG sequence: each frame file carries what the serial command's PNGs carry.
    let theirs = tmp.path().join("serial-frames");
    std::fs::create_dir(&theirs).unwrap();
    serial(&input, "png", &[], &theirs.join("frame_%06d.png"));
    let ours = tmp.path().join("vre-frames");
    vre_ok(args![
        "run",
        input,
        "-o",
        format!("{}/", ours.display()),
        "--chunks",
        "3",
        "-j",
        "2"
    ]);
    assert_eq!(
        picture(&first_png(&ours)),
        picture(&first_png(&theirs)),
        "png"
    );
    assert_eq!(compared, 15, "every codec of every container");
    let tags = picture(&tmp.path().join("vre-ffv1.mkv"));
    assert_eq!(
        (tags["color_primaries"].as_str(), tags["field_order"].as_str()),
        ("bt470bg", "tb"),
        "FFV1 in Matroska keeps the tags (its chunks once travelled in a container that stores none)"
    );
}

#[test]
fn the_default_pixel_format_is_the_one_serial_ffmpeg_picks_and_lossless_frames_match() {
    let tmp = temp_dir();
    let deep = tagged_clip(tmp.path(), "deep444.mp4", &["-pix_fmt", "yuv444p10le"]);
    let mjpeg = tmp.path().join("camera.mov");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=1",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=1",
        "-c:v",
        "mjpeg",
        "-pix_fmt",
        "yuvj422p",
        "-c:a",
        "pcm_s16le",
        "-shortest",
        mjpeg.to_str().unwrap(),
    ]);
    // A rotated clip: the serial command turns its frames upright and drops the rotation.
    let rotated = tmp.path().join("rotated.mp4");
    let tagged = tagged_clip(tmp.path(), "tagged.mp4", &["-pix_fmt", "yuv420p"]);
    ffmpeg(&[
        "-i",
        tagged.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        rotated.to_str().unwrap(),
    ]);
    // Input, codec, container, --vf, the pixel format the serial command's output has.
    let cases = [
        (&deep, "libx264", "mp4", None, "yuv444p10le"),
        (&deep, "libsvtav1", "webm", None, "yuv420p10le"),
        (&deep, "prores_ks", "mov", None, "yuv444p12le"),
        (&deep, "ffv1", "mkv", None, "yuv444p10le"),
        (&mjpeg, "libx264", "mp4", None, "yuvj422p"),
        (&mjpeg, "libx265", "mkv", None, "yuv422p"),
        (&mjpeg, "ffv1", "mkv", None, "yuv422p"),
        (&rotated, "ffv1", "mkv", None, "yuv420p"),
        (&tagged, "libvpx-vp9", "webm", Some("format=gray"), "gbrp"),
    ];
    for (i, (input, codec, container, chain, expected)) in cases.into_iter().enumerate() {
        let theirs = tmp.path().join(format!("serial-{i}.{container}"));
        let serial_options: Vec<&str> = chain.map(|c| vec!["-vf", c]).unwrap_or_default();
        serial(input, codec, &serial_options, &theirs);
        let ours = tmp.path().join(format!("vre-{i}.{container}"));
        let mut run = args!["run", input, "-o", ours, "--codec", codec, "--chunks", "3"];
        run.extend(chain.map(|c| args!["--vf", c]).unwrap_or_default());
        vre_ok(run);
        let what = format!("{codec} from {}", input.display());
        assert_eq!(picture(&ours), picture(&theirs), "{what}");
        assert_eq!(picture(&ours)["pix_fmt"], expected, "{what}");
        assert!(
            !side_data(&ours).contains_key("Display Matrix"),
            "{what}: no rotation left, as serially"
        );
        if codec == "ffv1" {
            assert_eq!(
                framemd5(&ours, None),
                framemd5(&theirs, None),
                "{what}: frames"
            );
        }
    }
    // The format handed to the encoder, which its decoder may name otherwise (x264 encodes gray
    // as 4:0:0, which the decoder returns as yuvj420p).
    let plan_dir = tmp.path().join("gray.vre");
    vre_plan(&tagged, &plan_dir, ["--vf", "format=gray", "-q"]);
    assert_eq!(
        read_json(&plan_dir.join("plan.json"))["encoder"]["pix_fmt"],
        "gray"
    );
    // A range of the 10-bit 4:4:4 clip, losslessly, in chunks.
    let theirs = tmp.path().join("serial-range.mkv");
    serial(
        &deep,
        "ffv1",
        &["-vf", "trim=start_frame=5:end_frame=20,setpts=PTS-STARTPTS"],
        &theirs,
    );
    let ours = tmp.path().join("vre-range.mkv");
    vre_ok(args![
        "run",
        deep,
        "-o",
        ours,
        "--range",
        "5:20",
        "--chunks",
        "3",
        "--no-source-audio"
    ]);
    assert_eq!(picture(&ours), picture(&theirs), "a range");
    assert_eq!(
        framemd5(&ours, None),
        framemd5(&theirs, None),
        "a range: frames"
    );
}

#[test]
fn a_pixel_format_the_encoder_does_not_take_is_refused_with_the_ones_it_does() {
    let tmp = temp_dir();
    let input = tagged_clip(tmp.path(), "in.mp4", &["-pix_fmt", "yuv420p"]);
    let out = run_vre(args![
        "plan",
        input,
        "-o",
        tmp.path().join("job.vre"),
        "--codec",
        "libsvtav1",
        "--pix-fmt",
        "yuv444p"
    ]);
    assert_eq!(out.status.code(), Some(64));
    let err = stderr(&out);
    assert!(
        err.contains("--pix-fmt") && err.contains("yuv420p10le"),
        "names the flag and what the encoder takes: {err}"
    );
    assert!(!tmp.path().join("job.vre").exists(), "nothing written");
}

#[test]
fn hdr10_metadata_travel_in_every_codec_as_the_serial_command_carries_them() {
    if Command::new("mkvpropedit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "skipped: mkvpropedit (mkvtoolnix) is not installed; `make test-deps` installs it"
        );
        return;
    }
    let tmp = temp_dir();
    let input = tmp.path().join("hdr.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=1",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=1",
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=error",
        "-pix_fmt",
        "yuv420p10le",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        "smpte2084",
        "-colorspace",
        "bt2020nc",
        "-c:a",
        "aac",
        "-shortest",
        input.to_str().unwrap(),
    ]);
    // The container's HDR10 metadata: mastering display and content light level.
    let status = Command::new("mkvpropedit")
        .arg("-q")
        .arg(&input)
        .args(["--edit", "track:v1"])
        .args(
            [
                "max-content-light=1000",
                "max-frame-light=400",
                "chromaticity-coordinates-red-x=0.68",
                "chromaticity-coordinates-red-y=0.32",
                "chromaticity-coordinates-green-x=0.265",
                "chromaticity-coordinates-green-y=0.69",
                "chromaticity-coordinates-blue-x=0.15",
                "chromaticity-coordinates-blue-y=0.06",
                "white-coordinates-x=0.3127",
                "white-coordinates-y=0.329",
                "max-luminance=1000",
                "min-luminance=0.005",
            ]
            .iter()
            .flat_map(|p| ["--set", p]),
        )
        .status()
        .unwrap();
    assert!(status.success());
    let source = side_data(&input);
    assert_eq!(source.len(), 2, "the source states both: {source:?}");
    for (codec, container) in [
        ("libx265", "mp4"),
        ("ffv1", "mkv"),
        ("prores_ks", "mov"),
        ("libsvtav1", "webm"),
    ] {
        let theirs = tmp.path().join(format!("serial-{codec}.{container}"));
        serial(&input, codec, &[], &theirs);
        let ours = tmp.path().join(format!("vre-{codec}.{container}"));
        let plan_dir = tmp.path().join(format!("{codec}.vre"));
        let planned = vre_ok(args![
            "plan", input, "-o", plan_dir, "--codec", codec, "--format", container, "--chunks", "3"
        ]);
        let note = String::from_utf8_lossy(&planned.stdout).contains("mastering-display");
        assert_eq!(
            note,
            matches!(container, "mkv" | "webm"),
            "{codec}: the plan says where the values are rounded"
        );
        vre_ok(args!["work", plan_dir]);
        vre_ok(args!["assemble", plan_dir, "-o", ours]);
        let what = format!("{codec} in {container}");
        assert_eq!(picture(&ours), picture(&theirs), "{what}");
        assert_eq!(picture(&ours)["color_transfer"], "smpte2084", "{what}");
        let (ours, theirs) = (side_data(&ours), side_data(&theirs));
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{what}: the same HDR10 side data"
        );
        for (kind, fields) in &theirs {
            for (field, value) in fields {
                let got = ours[kind][field];
                assert!(
                    (got - value).abs() <= 1e-4 * value.abs().max(1.0),
                    "{what}: {kind} {field} is {got}, serially {value}"
                );
            }
        }
    }
}

#[test]
fn a_mov_timecode_is_kept_and_a_range_starts_at_its_first_frames_timecode() {
    let tmp = temp_dir();
    let input = tmp.path().join("tape.mov");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=2",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-timecode",
        "01:02:03:04",
        "-shortest",
        input.to_str().unwrap(),
    ]);
    for (codec, container) in [
        ("libx264", "mov"),
        ("prores_ks", "mov"),
        ("libx264", "mp4"),
        ("ffv1", "mkv"),
    ] {
        let theirs = tmp.path().join(format!("serial-{codec}.{container}"));
        serial(&input, codec, &[], &theirs);
        let ours = tmp.path().join(format!("vre-{codec}.{container}"));
        vre_ok(args![
            "run", input, "-o", ours, "--codec", codec, "--format", container, "--chunks", "2"
        ]);
        let what = format!("{codec} in {container}");
        assert_eq!(timecode(&theirs).as_deref(), Some("01:02:03:04"), "{what}");
        assert_eq!(timecode(&ours), timecode(&theirs), "{what}");
        assert_eq!(
            stream_tags(&ours).contains(&"tmcd".to_string()),
            stream_tags(&theirs).contains(&"tmcd".to_string()),
            "{what}: a timecode track where the serial command writes one"
        );
    }
    // A range: the timecode of its first frame (frame 30 at 25 fps: 1 s 5 frames later), which
    // the plan announces, since serial ffmpeg keeps the input's start however it is cut.
    let plan_dir = tmp.path().join("range.vre");
    let planned = vre_ok(args![
        "plan", input, "-o", plan_dir, "--format", "mov", "--range", "30:45", "--chunks", "2"
    ]);
    let text = String::from_utf8_lossy(&planned.stdout);
    assert!(
        text.contains("note       the output's timecode is 01:02:04:09"),
        "the plan says where it differs: {text}"
    );
    vre_ok(args!["work", plan_dir]);
    let ours = tmp.path().join("range.mov");
    vre_ok(args!["assemble", plan_dir, "-o", ours]);
    assert_eq!(timecode(&ours).as_deref(), Some("01:02:04:09"));
    assert!(stream_tags(&ours).contains(&"tmcd".to_string()));
}
