//! Inputs that are not regular files — a FIFO, a pipe (a shell's `<(…)`), a character device,
//! a directory, a socket, a symlink loop — are refused at once, from their file type alone,
//! before anything opens, probes or hashes them: with the reason, and exit 65 (66 for a symlink
//! loop, which leads to no file). Nothing is written.

mod common;

use common::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a refusal may take: it reads nothing, so it is immediate; reading a FIFO without a
/// writer or /dev/zero would never end.
const AT_ONCE: Duration = Duration::from_secs(20);

/// Runs `cmd` to completion, failing the test (and killing it) if it takes longer than
/// [`AT_ONCE`].
fn finished_at_once(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    match receiver.recv_timeout(AT_ONCE) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // SAFETY: killing our own child process, which is still running.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("vre still ran after {AT_ONCE:?}: it read its input");
        }
    }
}

/// Asserts that vre exited with `code`, saying `needles`, and wrote no planDir.
fn assert_refused(what: &str, out: &Output, code: i32, needles: &[&str], plan_dir: &Path) {
    let message = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{what}: {message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "{what}: says {needle:?}: {message}"
        );
    }
    assert!(!plan_dir.exists(), "{what}: nothing is written");
}

/// A FIFO nobody writes to: opening it for reading would block forever.
fn fifo(at: &Path) -> PathBuf {
    let status = Command::new("mkfifo").arg(at).status().unwrap();
    assert!(status.success());
    at.to_path_buf()
}

#[test]
fn inputs_that_are_not_regular_files_are_refused_at_once_with_the_reason() {
    let tmp = temp_dir();
    let t = tmp.path();
    let stream = fifo(&t.join("stream.mp4"));
    let folder = t.join("folder.mp4");
    std::fs::create_dir(&folder).unwrap();
    let socket_path = t.join("socket.mp4");
    let _socket = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let (loop_a, loop_b) = (t.join("a.mp4"), t.join("b.mp4"));
    std::os::unix::fs::symlink(&loop_b, &loop_a).unwrap();
    std::os::unix::fs::symlink(&loop_a, &loop_b).unwrap();
    let save = "save the stream to a file first";
    let cases: [(&str, PathBuf, i32, Vec<&str>); 5] = [
        ("a FIFO", stream, 65, vec!["FIFO", save]),
        (
            "/dev/zero",
            PathBuf::from("/dev/zero"),
            65,
            vec!["character device", save],
        ),
        ("a directory", folder, 65, vec!["is a directory"]),
        ("a socket", socket_path, 65, vec!["is a socket", save]),
        ("a symlink loop", loop_a, 66, vec!["symlink loop"]),
    ];
    let plan_dir = t.join("job.vre");
    for (what, input, code, mut needles) in cases {
        let text = input.to_string_lossy().into_owned();
        needles.push(&text);
        let planned = finished_at_once(vre().args(args!["plan", input, "-o", plan_dir]));
        assert_refused(what, &planned, code, &needles, &plan_dir);
        let out = t.join("out.mp4");
        let run = finished_at_once(vre().args(args!["run", input, "-o", out]));
        assert_refused(
            &format!("vre run on {what}"),
            &run,
            code,
            &needles,
            &t.join("out.mp4.vre"),
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_pipe_passed_as_a_descriptor_path_is_named_as_one() {
    // What `vre plan <(cat in.mp4) …` does: the path is /dev/fd/N of an inherited pipe. Here
    // the pipe is vre's stdin, /dev/fd/0; its writer holds a real video, never read.
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    let mut feeder = Command::new("cat")
        .arg(&input)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = feeder.stdout.take().unwrap();
    let planned = finished_at_once(
        vre()
            .args(args!["plan", "/dev/fd/0", "-o", plan_dir])
            .stdin(Stdio::from(pipe)),
    );
    assert_refused(
        "a pipe",
        &planned,
        65,
        &[
            "/dev/fd/0",
            "is a pipe",
            "process substitution",
            "save the stream",
        ],
        &plan_dir,
    );
    let _ = feeder.kill();
    let _ = feeder.wait();
}

#[test]
fn audio_tracks_that_are_not_regular_files_are_refused_at_once() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        ..VideoSpec::default()
    });
    let stream = fifo(&tmp.path().join("music.m4a"));
    let plan_dir = tmp.path().join("job.vre");
    let spec: OsString = format!("file={}", stream.display()).into();
    let planned =
        finished_at_once(vre().args(args!["plan", input, "-o", plan_dir, "--audio", spec]));
    assert_refused(
        "an --audio FIFO",
        &planned,
        65,
        &["--audio", "FIFO", &stream.to_string_lossy()],
        &plan_dir,
    );
    let missing: OsString = format!("file={}", tmp.path().join("gone.m4a").display()).into();
    let planned =
        finished_at_once(vre().args(args!["plan", input, "-o", plan_dir, "--audio", missing]));
    assert_refused(
        "a missing --audio file",
        &planned,
        66,
        &["--audio", "does not exist"],
        &plan_dir,
    );
}
