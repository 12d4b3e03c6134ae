//! Seeing it work: progress bars on a terminal only, and a live status view.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn slow_plan(dir: &Path, chunks: &str) -> std::path::PathBuf {
    let input = dir.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 3.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let plan_dir = dir.join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", chunks, "--vf", "nlmeans=s=2", "--threads", "1"],
    );
    plan_dir
}

#[test]
fn progress_bars_appear_on_a_terminal_and_never_in_a_pipe() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 3.0,
        ..VideoSpec::default()
    });
    // `script` gives vre a pseudo-terminal, as a person's shell would.
    let command = format!(
        "'{}' run '{}' -o '{}' --chunks 3 -j 2 --vf nlmeans=s=1",
        env!("CARGO_BIN_EXE_vre"),
        input.display(),
        tmp.path().join("tty.mp4").display()
    );
    let tty = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    assert!(
        tty.status.success(),
        "{}",
        String::from_utf8_lossy(&tty.stdout)
    );
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(screen.contains("total ["), "an overall bar: {screen}");
    assert!(
        screen.contains("frames") && screen.contains("ETA"),
        "frames and ETA"
    );
    assert!(screen.contains("chunk 0 ["), "one bar per running chunk");

    let piped = vre_ok(args![
        "run",
        input,
        "-o",
        tmp.path().join("pipe.mp4"),
        "--chunks",
        "3",
        "-j",
        "2"
    ]);
    let text = format!(
        "{}{}",
        stderr(&piped),
        String::from_utf8_lossy(&piped.stdout)
    );
    assert!(
        !text.contains("total [") && !text.contains('\u{1b}'),
        "no bars, no escapes: {text}"
    );
    assert!(text.contains("chunk 0 done"), "log lines instead");
}

#[test]
fn status_watch_follows_another_process_and_exits_when_complete() {
    let tmp = temp_dir();
    let plan_dir = slow_plan(tmp.path(), "3");
    let watch = vre()
        .args(args!["status", plan_dir, "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watch_pid = watch.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(watch.wait_with_output().unwrap()));
    let work = vre().args(args!["work", plan_dir, "-q"]).status().unwrap();
    assert!(work.success());
    let Ok(output) = finished.recv_timeout(Duration::from_secs(20)) else {
        // SAFETY: ends our own child, which outlived its deadline.
        unsafe { libc::kill(watch_pid as i32, libc::SIGKILL) };
        panic!("--watch did not exit after the run completed");
    };
    assert!(output.status.success());
    let seen = String::from_utf8_lossy(&output.stdout).into_owned();
    let summaries: Vec<&str> = seen.lines().filter(|l| l.starts_with("3 chunks")).collect();
    assert!(summaries.first().unwrap().contains("0 done"), "{seen}");
    assert!(summaries.last().unwrap().contains("3 done"), "{seen}");
    assert!(
        summaries.len() >= 3,
        "it updated as chunks completed: {seen}"
    );
    let host = vre::sys::host::host_name();
    assert!(
        seen.lines()
            .any(|l| l.contains("running") && l.contains("fps") && l.contains(&host)),
        "running chunks show progress and their worker: {seen}"
    );
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let tmp = temp_dir();
    let command = format!(
        "'{}' plan '{}' -o '{}'",
        env!("CARGO_BIN_EXE_vre"),
        tmp.path().join("missing.mp4").display(),
        tmp.path().join("x.vre").display()
    );
    let in_terminal = |no_color: bool| {
        let mut script = Command::new("script");
        script
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::null());
        if no_color {
            script.env("NO_COLOR", "1");
        } else {
            script.env_remove("NO_COLOR").env("TERM", "xterm");
        }
        String::from_utf8_lossy(&script.output().unwrap().stdout).into_owned()
    };
    let coloured = in_terminal(false);
    assert!(coloured.contains("\u{1b}[31mvre: error:"), "{coloured:?}");
    let plain = in_terminal(true);
    assert!(
        plain.contains("vre: error:") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
    let piped = run_vre(args![
        "plan",
        tmp.path().join("missing.mp4"),
        "-o",
        tmp.path().join("x.vre")
    ]);
    assert!(!stderr(&piped).contains('\u{1b}'));
}
