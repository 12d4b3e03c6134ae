//! What an output container can state of the plan's frame rate is known at plan time: a rate
//! Matroska's millisecond timestamps or ffmpeg's `-r` cannot carry is refused by `vre plan`,
//! and every rate they can carry is stated by vre's output exactly as by the serial command's
//! (never refused by assembly after every chunk was rendered).

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// An H.264 clip of `seconds` at `rate`.
fn clip(dir: &Path, rate: &str, seconds: &str) -> PathBuf {
    let out = dir.join(format!("in-{}.mp4", rate.replace('/', "_")));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=160x120:rate={rate}:duration={seconds}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "30",
        out.to_str().unwrap(),
    ]);
    out
}

/// The rates ffprobe states for a file's video, and its frame count.
fn stated(path: &Path) -> (String, String, f64) {
    let video = stream(path, "video").expect("a video stream");
    (
        video["r_frame_rate"].as_str().unwrap().to_string(),
        video["avg_frame_rate"].as_str().unwrap().to_string(),
        num(&video, "nb_read_packets"),
    )
}

#[test]
fn an_odd_frame_rate_in_matroska_is_stated_as_the_serial_command_states_it() {
    let t = temp_dir();
    // 26.777 fps (and 12.34 fps): NUT chunks state no rate, and ffmpeg's guess when reading them
    // rounds it to a "standard" one (26.75), which the Matroska output used to state.
    for rate in ["26777/1000", "1234/100", "24000/1001"] {
        let input = clip(t.path(), rate, "4");
        let serial = t.path().join("serial.mkv");
        ffmpeg(&[
            "-i",
            input.to_str().unwrap(),
            "-c:v",
            "ffv1",
            serial.to_str().unwrap(),
        ]);
        let expected = framemd5(&serial, None);
        for (name, options) in [
            ("chunks.mkv", vec!["--chunks", "3"]),
            ("range.mkv", vec!["--chunks", "2", "--range", "10:41"]),
        ] {
            let out = t.path().join(name);
            let mut args = args!["run", input, "-o", out, "-y", "-j", "2", "-q"];
            args.extend(options.iter().map(std::ffi::OsString::from));
            vre_ok(args);
            let frames = framemd5(&out, None);
            let (r, avg, count) = stated(&out);
            let (serial_r, serial_avg, _) = stated(&serial);
            assert_eq!((r, avg), (serial_r, serial_avg), "{rate} {name}");
            if name == "range.mkv" {
                assert_eq!(frames, expected[10..41].to_vec(), "{rate} {name}");
                assert_eq!(count, 31.0);
            } else {
                assert_eq!(frames, expected, "{rate} {name}");
            }
        }
    }
}

#[test]
fn a_rate_the_container_cannot_carry_is_refused_at_plan_time() {
    let t = temp_dir();
    let input = clip(t.path(), "25", "1");
    // Matroska keeps milliseconds: at 2000 fps two frames would share a timestamp.
    let dir = t.path().join("fast.vre");
    let out = run_vre(args![
        "plan", input, "-o", dir, "--fps", "2000", "--format", "mkv"
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    for named in ["--fps", "2000", "mkv", "millisecond"] {
        assert!(stderr(&out).contains(named), "{named}: {}", stderr(&out));
    }
    assert!(!dir.join("plan.json").exists());
    // ffmpeg reads a rate whose terms pass 1001000 as a nearby one: every chunk would be timed
    // at another rate than the plan's.
    let fine = run_vre(args!["plan", input, "-o", dir, "--fps", "2000003/1000"]);
    assert_eq!(fine.status.code(), Some(64), "{}", stderr(&fine));
    assert!(stderr(&fine).contains("1001000"), "{}", stderr(&fine));
    // The same rates where the container carries them are planned.
    vre_ok(args![
        "plan", input, "-o", dir, "--fps", "2000", "--format", "mp4", "-q"
    ]);
}
