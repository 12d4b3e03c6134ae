//! Helpers shared by the integration tests: media generated with ffmpeg's lavfi sources, the
//! vre binary, framemd5 and ffprobe readings.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temp directory removed at the end of the test.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vre-test-")
        .tempdir()
        .unwrap()
}

/// The vre binary under test.
pub fn vre() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vre"));
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs vre with `args` to completion.
pub fn run_vre<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    vre().args(args).output().expect("vre runs")
}

/// Runs vre and asserts it exits 0, returning its output.
pub fn vre_ok<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = run_vre(args);
    assert!(
        out.status.success(),
        "vre failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// What a generated test video looks like.
pub struct VideoSpec {
    /// `WxH`.
    pub size: &'static str,
    /// Frame rate, e.g. `30000/1001`.
    pub rate: &'static str,
    /// Seconds.
    pub seconds: f64,
    /// Add a 440 Hz tone as audio.
    pub audio: bool,
}

impl Default for VideoSpec {
    fn default() -> Self {
        VideoSpec {
            size: "320x240",
            rate: "30000/1001",
            seconds: 6.0,
            audio: true,
        }
    }
}

/// Generates an H.264 (with B-frames) MP4 test video: moving testsrc2, optionally a sine tone.
pub fn make_video(path: &Path, spec: &VideoSpec) {
    let video = format!(
        "testsrc2=size={}:rate={}:duration={}",
        spec.size, spec.rate, spec.seconds
    );
    let audio = format!(
        "sine=frequency=440:sample_rate=48000:duration={}",
        spec.seconds
    );
    let mut args = vec!["-f", "lavfi", "-i", &video];
    if spec.audio {
        args.extend(["-f", "lavfi", "-i", &audio]);
    }
    args.extend([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-bf",
        "3",
        "-g",
        "48",
        "-pix_fmt",
        "yuv420p",
    ]);
    if spec.audio {
        args.extend(["-c:a", "aac", "-shortest"]);
    }
    let out = path.to_str().unwrap();
    args.push(out);
    ffmpeg(&args);
}

/// The per-frame MD5s of a file's first video stream after `filter` (if any), decoded.
pub fn framemd5(path: &Path, filter: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0"]);
    if let Some(f) = filter {
        cmd.args(["-vf", f]);
    }
    let out = cmd
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "framemd5 of {} failed",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

/// ffprobe's JSON of every stream of a file, with packets counted.
pub fn streams(path: &Path) -> Vec<Value> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-count_packets",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe of {} failed", path.display());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["streams"].as_array().cloned().unwrap_or_default()
}

/// The first stream of a type (`video`, `audio`).
pub fn stream(path: &Path, kind: &str) -> Option<Value> {
    streams(path).into_iter().find(|s| s["codec_type"] == kind)
}

/// A numeric field of an ffprobe stream (ffprobe prints many numbers as strings).
pub fn num(stream: &Value, key: &str) -> f64 {
    match &stream[key] {
        Value::String(s) => s.parse().unwrap(),
        Value::Number(n) => n.as_f64().unwrap(),
        other => panic!("{key} is {other}"),
    }
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The published chunk files of a planDir, in index order.
pub fn chunk_files(plan_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(plan_dir.join("chunks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    files.sort();
    files
}
