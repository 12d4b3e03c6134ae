//! Which video stream is rendered: the one the default serial command (`ffmpeg -i IN OUT`, no
//! `-map`) renders — its score of size, packets and default disposition, cover art last — or
//! the one `--video-stream N` names. Each case is compared with serial ffmpeg on the decoded
//! frames (framemd5) and the frame count, in several chunks and in a `--range`.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// An ASF whose first two video streams (640x480, larger than the third) are declared but hold
/// no packets, as truncated recordings have them: the encoder's packets of those two are dropped
/// (`noise=drop=1`) after the header is written.
fn asf_with_empty_streams(dir: &Path) -> PathBuf {
    let out = dir.join("empty-first.asf");
    let source = |size: &str| format!("testsrc2=size={size}:rate=25:duration=3");
    let (big, small) = (source("640x480"), source("320x240"));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &big,
        "-f",
        "lavfi",
        "-i",
        &big,
        "-f",
        "lavfi",
        "-i",
        &small,
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        "-c:v",
        "wmv2",
        "-q:v",
        "3",
        "-bsf:v:0",
        "noise=drop=1",
        "-bsf:v:1",
        "noise=drop=1",
        out.to_str().unwrap(),
    ]);
    out
}

/// A Matroska file whose first track is a one-frame 64x64 picture (a title card stored as a
/// plain video track, not an attachment), the second the 320x240 video; the track `default` (0 or 1)
/// has the default disposition.
fn mkv_with_a_picture_track_first(dir: &Path, default: usize) -> PathBuf {
    let cover = dir.join("cover.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x64:duration=1",
        "-frames:v",
        "1",
        cover.to_str().unwrap(),
    ]);
    let out = dir.join(format!("picture-first-{default}.mkv"));
    let disposition = |track: usize| match track == default {
        true => "default",
        false => "0",
    };
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=3",
        "-i",
        cover.to_str().unwrap(),
        "-map",
        "1",
        "-map",
        "0",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "20",
        "-disposition:v:0",
        disposition(0),
        "-disposition:v:1",
        disposition(1),
        out.to_str().unwrap(),
    ]);
    out
}

/// The decoded frames of the serial command `ffmpeg -i INPUT [MAP] -c:v rawvideo ref.nut`
/// (uncompressed, in the decoder's own pixel format) in [`SAME_FORMAT`], frames `[a, b)` of it
/// when `range` is given.
fn serial_frames(
    input: &Path,
    dir: &Path,
    map: &[&str],
    range: Option<(usize, usize)>,
) -> Vec<String> {
    let reference = dir.join("serial.nut");
    let mut args = vec!["-i", input.to_str().unwrap()];
    args.extend(map);
    args.extend(["-c:v", "rawvideo", reference.to_str().unwrap()]);
    ffmpeg(&args);
    let frames = framemd5(&reference, Some(SAME_FORMAT));
    match range {
        Some((a, b)) => frames[a..b].to_vec(),
        None => frames,
    }
}

/// `vre run INPUT -o OUT -y -j 2 -q --crf 0 OPTIONS` (lossless x264), asserted to succeed;
/// returns OUT's decoded frames, in [`SAME_FORMAT`].
fn render(input: &Path, out: &Path, options: &[&str]) -> Vec<String> {
    let mut args = args!["run", input, "-o", out, "-y", "-j", "2", "-q", "--crf", "0"];
    args.extend(options.iter().map(std::ffi::OsString::from));
    vre_ok(args);
    framemd5(out, Some(SAME_FORMAT))
}

/// Frames are compared in one pixel format: the pixel format an output gets is not what these
/// tests are about.
const SAME_FORMAT: &str = "format=yuv420p";

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

/// The stream index a plan records.
fn planned_stream(input: &Path, dir: &Path, options: &[&str]) -> serde_json::Value {
    let plan_dir = dir.join("job.vre");
    let mut args = args!["plan", input, "-o", plan_dir, "-q", "--force"];
    args.extend(options.iter().map(std::ffi::OsString::from));
    vre_ok(args);
    read_json(&plan_dir.join("plan.json"))["source"]["video_stream"].clone()
}

#[test]
fn the_stream_serial_ffmpeg_picks_is_rendered_when_the_first_ones_are_empty() {
    let t = temp_dir();
    let input = asf_with_empty_streams(t.path());
    assert_eq!(planned_stream(&input, t.path(), &[]), 2);
    let whole = serial_frames(&input, t.path(), &[], None);
    assert_eq!(whole.len(), 75);
    let out = t.path().join("out.mp4");
    assert_same_frames(&render(&input, &out, &["--chunks", "3"]), &whole, "chunks");
    let ranged = render(&input, &out, &["--chunks", "2", "--range", "20:61"]);
    assert_same_frames(&ranged, &whole[20..61], "range");
    let streams = streams(&out);
    assert_eq!(streams.len(), 1, "one video stream: {streams:?}");
    assert_eq!(
        (streams[0]["width"].clone(), streams[0]["height"].clone()),
        (320.into(), 240.into())
    );
}

#[test]
fn a_one_frame_picture_track_before_the_video_is_not_taken_for_it() {
    let t = temp_dir();
    let input = mkv_with_a_picture_track_first(t.path(), 1);
    assert_eq!(planned_stream(&input, t.path(), &[]), 1);
    let whole = serial_frames(&input, t.path(), &[], None);
    assert_eq!(whole.len(), 75);
    let out = t.path().join("out.mp4");
    assert_same_frames(&render(&input, &out, &["--chunks", "3"]), &whole, "chunks");
    let ranged = render(&input, &out, &["--chunks", "2", "--range", "7:50"]);
    assert_eq!(ranged, serial_frames(&input, t.path(), &[], Some((7, 50))));
}

#[test]
fn cover_art_is_never_rendered_as_the_video() {
    let t = temp_dir();
    let cover = t.path().join("cover.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x96:duration=1",
        "-frames:v",
        "1",
        cover.to_str().unwrap(),
    ]);
    let input = t.path().join("with-cover.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=25:duration=2",
        "-i",
        cover.to_str().unwrap(),
        "-map",
        "0",
        "-map",
        "1",
        "-c:v:0",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:v:1",
        "png",
        "-disposition:v:1",
        "attached_pic",
        input.to_str().unwrap(),
    ]);
    // The cover (96x96) is larger than the video (64x48): only its disposition keeps it out.
    assert_eq!(planned_stream(&input, t.path(), &[]), 0);
    // A Matroska attachment named as a cover is read as an attached picture too.
    let attached = t.path().join("with-attachment.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=25:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-attach",
        cover.to_str().unwrap(),
        "-metadata:s:t:0",
        "mimetype=image/png",
        "-metadata:s:t:0",
        "filename=cover.png",
        attached.to_str().unwrap(),
    ]);
    assert_eq!(planned_stream(&attached, t.path(), &[]), 0);
    assert_eq!(
        render(&attached, &t.path().join("attached.mp4"), &[]),
        serial_frames(&attached, t.path(), &[], None)
    );
    let out = t.path().join("out.mp4");
    let whole = serial_frames(&input, t.path(), &[], None);
    assert_same_frames(&render(&input, &out, &["--chunks", "2"]), &whole, "video");
    assert_plan_refused(
        &input,
        &t.path().join("c.vre"),
        &["--video-stream", "1"],
        &["attached picture"],
    );
}

#[test]
fn the_default_disposition_outweighs_a_larger_size_as_in_serial_ffmpeg() {
    let t = temp_dir();
    // The picture track is the default one: serial ffmpeg renders its one frame, and so does vre.
    let input = mkv_with_a_picture_track_first(t.path(), 0);
    assert_eq!(planned_stream(&input, t.path(), &[]), 0);
    let out = t.path().join("out.mp4");
    let whole = serial_frames(&input, t.path(), &[], None);
    assert_eq!(whole.len(), 1);
    assert_same_frames(&render(&input, &out, &[]), &whole, "the default track");
}

#[test]
fn video_stream_chooses_another_stream_and_refuses_what_is_not_a_video_with_frames() {
    let t = temp_dir();
    let input = mkv_with_a_picture_track_first(t.path(), 1);
    // The one-frame picture track, asked for by its index: what `-map 0:0` gives.
    let out = t.path().join("picture.mp4");
    assert_eq!(
        render(&input, &out, &["--video-stream", "0"]),
        serial_frames(&input, t.path(), &["-map", "0:0"], None)
    );
    assert_eq!(
        planned_stream(&input, t.path(), &["--video-stream", "0"]),
        0
    );
    assert_plan_refused(
        &input,
        &t.path().join("m.vre"),
        &["--video-stream", "7"],
        &[
            "--video-stream",
            "no video stream 7",
            "stream 0 (h264, 64x64",
            "stream 1 (h264, 320x240",
        ],
    );
    let asf = asf_with_empty_streams(t.path());
    assert_plan_refused(
        &asf,
        &t.path().join("e.vre"),
        &["--video-stream", "1"],
        &["stream 1 of", "has no packets"],
    );
}
