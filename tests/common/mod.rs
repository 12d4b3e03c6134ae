//! Helpers shared by the integration tests: media generated with ffmpeg's lavfi sources, the
//! vre binary, framemd5 and ffprobe readings.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

use serde_json::Value;

/// Arguments of mixed types (paths, strings) as `OsString`s: `args!["plan", input, "-o", dir]`.
#[macro_export]
macro_rules! args {
    ($($x:expr),* $(,)?) => { vec![$(std::ffi::OsString::from(&$x)),*] };
}

/// The tasks a `vre work --json` run published, in order, as `chunk:3` or `audio:null`.
pub fn published(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "published")
        .map(|e| {
            format!(
                "{}:{}",
                e["task"]["kind"].as_str().unwrap_or("?"),
                e["task"]["index"]
            )
        })
        .collect()
}
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

/// `vre plan INPUT -o PLAN_DIR OPTIONS...`, asserted to succeed.
pub fn vre_plan<I, S>(input: impl AsRef<Path>, plan_dir: impl AsRef<Path>, options: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut args: Vec<std::ffi::OsString> = vec![
        "plan".into(),
        input.as_ref().into(),
        "-o".into(),
        plan_dir.as_ref().into(),
    ];
    args.extend(options.into_iter().map(|o| o.as_ref().to_os_string()));
    vre_ok(args)
}

/// `vre plan` of a lossless (`--crf 0`), one-thread-per-chunk render of `filter` in `chunks`
/// chunks: slow enough to interrupt mid-chunk, exact enough to compare frame by frame.
pub fn vre_plan_lossless(input: &Path, plan_dir: &Path, chunks: &str, filter: &str) -> Output {
    vre_plan(
        input,
        plan_dir,
        [
            "--chunks",
            chunks,
            "--crf",
            "0",
            "--vf",
            filter,
            "--threads",
            "1",
        ],
    )
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs ffmpeg with `args` (after `-nostdin -v error -y`) and asserts it succeeds.
pub fn ffmpeg(args: &[&str]) {
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

/// A scratch directory holding `in.mp4`, a clip generated to `spec`; returns both.
pub fn scratch_input(spec: VideoSpec) -> (tempfile::TempDir, PathBuf) {
    let tmp = temp_dir();
    let input = tmp.path().join("in.mp4");
    make_video(&input, &spec);
    (tmp, input)
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

/// One line per packet of a file's stream `selected` (`v:0`, `a:0`), in decode order: its
/// `entries` (`dts_time,size`, `flags`, …) as ffprobe's CSV prints them.
pub fn packet_entries(path: &Path, selected: &str, entries: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", selected])
        .args([
            "-show_entries",
            &format!("packet={entries}"),
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.trim().to_string())
        .collect()
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

/// Decodes a file's first audio stream to mono 48 kHz float samples.
pub fn audio_samples(path: &Path) -> Vec<f32> {
    decode_mono(path, 0, None)
}

/// Decodes a file's first audio stream to mono 48 kHz float samples placed on the file's
/// timeline: silence fills from time 0 to where the stream's timestamps say it starts, so the
/// index of a sample is its presentation time (A/V offsets survive).
pub fn audio_on_timeline(path: &Path) -> Vec<f32> {
    audio_stream_on_timeline(path, 0)
}

/// [`audio_on_timeline`] of the file's audio stream `0:a:N`.
pub fn audio_stream_on_timeline(path: &Path, audio_stream: usize) -> Vec<f32> {
    decode_mono(path, audio_stream, Some("aresample=async=1:first_pts=0"))
}

fn decode_mono(path: &Path, audio_stream: usize, filter: Option<&str>) -> Vec<f32> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .arg("-map")
        .arg(format!("0:a:{audio_stream}"));
    if let Some(filter) = filter {
        cmd.args(["-af", filter]);
    }
    let out = cmd
        .args(["-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "decoding audio of {} failed",
        path.display()
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Times (seconds) where the signal rises above `threshold` after at least `gap` seconds below it.
pub fn onsets(samples: &[f32], threshold: f32, gap: f64) -> Vec<f64> {
    let gap = (gap * 48000.0) as usize;
    let mut quiet_since = 0usize;
    let mut found = Vec::new();
    let mut loud = false;
    for (i, s) in samples.iter().enumerate() {
        if s.abs() >= threshold {
            if !loud && (found.is_empty() || i - quiet_since >= gap) {
                found.push(i as f64 / 48000.0);
            }
            loud = true;
        } else if loud {
            loud = false;
            quiet_since = i;
        }
    }
    found
}

/// Root mean square of samples between two times.
pub fn rms(samples: &[f32], from: f64, to: f64) -> f64 {
    let window = &samples[(from * 48000.0) as usize..(to * 48000.0) as usize];
    (window.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / window.len() as f64).sqrt()
}

/// Indices of the frames of a file's video whose mean luma is above half.
pub fn bright_frames(path: &Path) -> Vec<usize> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-vf",
            "scale=8:8,format=gray",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    out.stdout
        .chunks_exact(64)
        .enumerate()
        .filter(|(_, px)| px.iter().map(|&p| u32::from(p)).sum::<u32>() / 64 > 128)
        .map(|(i, _)| i)
        .collect()
}

/// Pids of the direct children of `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) {
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            let ppid: u32 = after_name.split(' ').nth(1).unwrap().parse().unwrap();
            if ppid == pid {
                kids.push(child);
            }
        }
    }
    kids
}

/// Whether a process still runs (zombies count as gone).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
        .unwrap_or(false)
}

/// Waits until none of `pids` runs, up to `limit`; returns whether they all ended in time.
pub fn all_gone_within(pids: &[u32], limit: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while pids.iter().any(|&p| alive(p)) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

/// Waits until `pid` has at least one child (the worker started its ffmpeg), up to 20 s.
pub fn wait_for_children(pid: u32) -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let kids = children_of(pid);
        if !kids.is_empty() || std::time::Instant::now() >= deadline {
            return kids;
        }
        std::thread::yield_now();
    }
}

/// Whether a file name is one of vre's temp names: `.NAME.tmp-UNIQUE` (outputs, shared files)
/// or `.NAME.tmp` (files only a lock holder writes).
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && (name.contains(".tmp-") || name.ends_with(".tmp"))
}

/// Files anywhere under `dir` whose names mark them as temp files.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(temp_files(&path));
        } else if is_temp_name(&entry.file_name().to_string_lossy()) {
            found.push(path);
        }
    }
    found
}

/// A planDir of `chunks` chunks of 10 frames at 25 fps, without ffmpeg: `published` of them
/// have sidecars, rendered round-robin by `workers` sequential processes on one host, each task
/// taking 0.4 s of every 0.5 s slot.
pub fn synthetic_plan_dir(
    root: &Path,
    chunks: u32,
    published: u32,
    workers: u32,
) -> vre::plandir::layout::PlanDir {
    use vre::codecs::{Container, VideoCodec};
    use vre::plandir::hash::{chunk_task_key, compute_plan_hash};
    use vre::plandir::layout::PlanDir;
    use vre::plandir::schema::*;
    let list: Vec<Chunk> = (0..chunks)
        .map(|i| Chunk {
            index: i,
            start_frame: u64::from(i) * 10,
            end_frame: u64::from(i + 1) * 10,
            reason: "even split".to_string(),
        })
        .collect();
    let rate = Rational { num: 25, den: 1 };
    let index = vre::plandir::frameindex::FrameIndex::constant_rate(rate, u64::from(chunks) * 10);
    let encoded_index = index.encode();
    let mut plan = Plan {
        plan_hash: String::new(),
        plan_id: "0".repeat(32),
        format_version: FORMAT_VERSION,
        vre_version: "0.1.0".to_string(),
        ffmpeg_version: "5.1".to_string(),
        ffmpeg_configuration: String::new(),
        input: InputRecord {
            path: PathBuf::from("/nonexistent/input <clip>.mp4"),
            stamp: FileStamp {
                size: 123_456_789,
                mtime_ns: 0,
                ctime_ns: 0,
                inode: 0,
            },
            blake3: "0".repeat(64),
        },
        source: SourceFacts {
            video_stream: None,
            codec: "h264".to_string(),
            width: 1920,
            height: 1080,
            frame_rate: rate,
            total_frames: u64::from(chunks) * 10,
            pix_fmt: "yuv420p".to_string(),
            has_audio: false,
            start_micros: 0,
            lead_frames: 0,
            timecode: None,
            mastering_display: false,
            size_changes: Vec::new(),
            decode_check: None,
        },
        index: index.record(&encoded_index),
        output: OutputSpec {
            container: Container::Mp4,
            width: 1920,
            height: 1080,
            frame_rate: rate,
            start_frame: 0,
            end_frame: u64::from(chunks) * 10,
            timecode: None,
        },
        normalize: None,
        video_filter: Some("hue=s=0,drawtext=text='</script>'".to_string()),
        filter_files: Vec::new(),
        preroll: Preroll {
            frames: 0,
            reason: "none".to_string(),
        },
        encoder: EncoderSettings {
            codec: VideoCodec::Libx264,
            crf: Some(20),
            preset: Some("veryfast".to_string()),
            pix_fmt: "yuv420p".to_string(),
            threads: 1,
            gop: GopSettings {
                keyint: 250,
                closed: true,
                idr_first: true,
                scene_cut: false,
                repeat_headers: true,
            },
            tags: PictureTags::default(),
            delivery: Default::default(),
        },
        chunking: Chunking {
            strategy: SplitStrategy::Frames,
            target_frames: 10,
            min_frames: None,
            max_frames: None,
        },
        audio: None,
        container: None,
        extra_audio: Vec::new(),
        notes: Vec::new(),
    };
    plan.plan_hash = compute_plan_hash(&plan, &list);
    let dir = PlanDir::new(root);
    dir.create_layout().unwrap();
    std::fs::write(dir.plan_path(), serde_json::to_vec(&plan).unwrap()).unwrap();
    std::fs::write(dir.chunks_path(), serde_json::to_vec(&list).unwrap()).unwrap();
    dir.write_index(&encoded_index).unwrap();
    let t0 = 1_700_000_000.0;
    for chunk in &list[..published as usize] {
        let slot = f64::from(chunk.index / workers) * 0.5;
        let sidecar = Sidecar {
            format_version: FORMAT_VERSION,
            plan_hash: plan.plan_hash.clone(),
            task_key: chunk_task_key(&plan, chunk),
            media: Media::Chunk {
                index: chunk.index,
                start_frame: chunk.start_frame,
                end_frame: chunk.end_frame,
                frames: chunk.frames(),
            },
            stream: None,
            bytes: 1000,
            blake3: "1".repeat(64),
            encode_seconds: 0.4,
            started_at: t0 + slot,
            finished_at: t0 + slot + 0.4,
            host: "node-a".to_string(),
            pid: 1000 + chunk.index % workers,
        };
        std::fs::write(
            dir.sidecar(TaskId::Chunk(chunk.index)),
            serde_json::to_vec(&sidecar).unwrap(),
        )
        .unwrap();
    }
    dir
}

/// The lines a child prints on stdout, as they arrive, with when each arrived.
pub fn stdout_lines(
    child: &mut std::process::Child,
) -> std::sync::mpsc::Receiver<(std::time::Instant, String)> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send((std::time::Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    received
}

/// A running `vre … --json` in a process group of its own, whose events are read as they
/// arrive (with when each arrived); killed when dropped, so that a failing test leaves nothing
/// behind.
pub struct JsonWorker {
    child: std::process::Child,
    events: std::sync::mpsc::Receiver<(std::time::Instant, String)>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    /// Every event read so far, with when it arrived.
    seen: Vec<(std::time::Instant, Value)>,
}

impl JsonWorker {
    /// Starts `vre ARGS --json`.
    pub fn start(args: Vec<std::ffi::OsString>) -> JsonWorker {
        use std::io::Read;
        use std::os::unix::process::CommandExt;
        let mut child = vre()
            .args(args)
            .arg("--json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let events = stdout_lines(&mut child);
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let collected = std::sync::Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            collected.lock().unwrap().push_str(&text);
        });
        JsonWorker {
            child,
            events,
            stderr,
            stderr_reader: Some(stderr_reader),
            seen: Vec::new(),
        }
    }

    /// The worker's pid (also its process group's id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads events until one matches `wanted` (up to `limit`) and returns it.
    pub fn wait_until(
        &mut self,
        what: &str,
        limit: std::time::Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok((at, line)) = self.events.recv_timeout(left) else {
                panic!("no {what} within {limit:?}; events: {:?}", self.names());
            };
            let event: Value = serde_json::from_str(&line).unwrap();
            self.seen.push((at, event.clone()));
            if wanted(&event) {
                return event;
            }
        }
    }

    /// Reads events until the next one named `name` (up to `limit`).
    pub fn wait_for(&mut self, name: &str, limit: std::time::Duration) -> Value {
        self.wait_until(name, limit, |e| e["event"] == name)
    }

    /// Reads every remaining event and waits for the exit (up to `limit` in all); returns the
    /// exit code.
    pub fn finish(&mut self, limit: std::time::Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok((at, line)) => self.seen.push((at, serde_json::from_str(&line).unwrap())),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "the worker did not end within {limit:?}; events: {:?}",
                        self.names()
                    )
                }
            }
        }
        let code = self.child.wait().unwrap().code();
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().unwrap();
        }
        code
    }

    /// The events seen so far named `name`.
    pub fn seen(&self, name: &str) -> Vec<&Value> {
        self.seen
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e["event"] == name)
            .collect()
    }

    /// When each event seen so far named `name` arrived.
    pub fn seen_at(&self, name: &str) -> Vec<std::time::Instant> {
        self.seen
            .iter()
            .filter(|(_, e)| e["event"] == name)
            .map(|(at, _)| *at)
            .collect()
    }

    /// The events seen so far, one `event task` string each (for assertion messages).
    pub fn names(&self) -> Vec<String> {
        self.seen
            .iter()
            .map(|(_, e)| format!("{} {}", e["event"], e["task"]))
            .collect()
    }

    /// What the worker printed on stderr (all of it once [`JsonWorker::finish`] returned).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for JsonWorker {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: the worker's process group, which this test started.
            unsafe { libc::killpg(self.child.id() as i32, libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// A process stopped with SIGSTOP, continued when dropped if it still lives.
pub struct Stopped {
    /// The process.
    pub pid: u32,
    /// When it was stopped.
    pub at: std::time::Instant,
}

impl Stopped {
    /// Stops `pid` (a process the test started, or one of its children).
    pub fn stop(pid: u32) -> Stopped {
        // SAFETY: sends a signal to a process this test started (or its child).
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
        Stopped {
            pid,
            at: std::time::Instant::now(),
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if alive(self.pid) {
            // SAFETY: as above.
            unsafe { libc::kill(self.pid as i32, libc::SIGCONT) };
        }
    }
}

/// The child of `pid` that runs ffmpeg with `marker` in its command line, once it runs (up to
/// `limit`). A child forked but not yet executed still carries its parent's command line (which
/// may hold the marker too): only one that already runs ffmpeg counts.
pub fn ffmpeg_child(pid: u32, marker: &str, limit: std::time::Duration) -> u32 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let found = children_of(pid).into_iter().find(|kid| {
            let read =
                |what: &str| std::fs::read(format!("/proc/{kid}/{what}")).unwrap_or_default();
            read("comm") == b"ffmpeg\n"
                && String::from_utf8_lossy(&read("cmdline")).contains(marker)
        });
        if let Some(kid) = found {
            return kid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ffmpeg with {marker} in its command line started within {limit:?}"
        );
        std::thread::yield_now();
    }
}

/// `vre plan INPUT -o DIR OPTIONS` refused with exit 64 (usage), its message naming every one of
/// `named`; no plan written.
pub fn assert_plan_refused(input: &Path, dir: &Path, options: &[&str], named: &[&str]) {
    let mut args = args!["plan", input, "-o", dir];
    args.extend(options.iter().map(std::ffi::OsString::from));
    let out = run_vre(args);
    assert_eq!(out.status.code(), Some(64), "{options:?}: {}", stderr(&out));
    for name in named {
        assert!(stderr(&out).contains(name), "{name}: {}", stderr(&out));
    }
    assert!(!dir.join("plan.json").exists());
}
