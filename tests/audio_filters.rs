//! `--af` filters run on the input's own audio, which the audio task places on the video's
//! timeline sample by sample. `--af atempo=2` used to be accepted: the output had half of its
//! sound, then silence. Filters that re-time the audio are now refused at plan time, naming the
//! filter and the way to do it instead; other filters render with the serial command's timing.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A 3 s, 25 fps clip whose audio is a 50 ms beep every 0.75 s from 0.1 s.
fn beeping_clip(dir: &Path) -> PathBuf {
    let path = dir.join("beeps.mp4");
    let beeps = "aevalsrc='0.5*sin(2*PI*1000*t)*between(mod(t,0.75),0.1,0.15)':s=48000:d=3";
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:duration=3",
        "-f",
        "lavfi",
        "-i",
        beeps,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    path
}

#[test]
fn audio_filters_that_retime_the_audio_are_refused_naming_what_to_do_instead() {
    let tmp = temp_dir();
    let input = beeping_clip(tmp.path());
    let plan_dir = tmp.path().join("job.vre");
    for (chain, named, instead) in [
        ("atempo=2", "atempo changes the audio's speed", ",rate=R"),
        ("volume=0.5,asetrate=96000", "asetrate changes", ",rate=R"),
        ("rubberband=tempo=1.5", "rubberband changes", ",rate=R"),
        ("atrim=start=1", "atrim removes samples", ",offset=S,seek=S"),
        (
            "aselect='lt(n\\,10)'",
            "aselect removes samples",
            ",offset=S,seek=S",
        ),
        (
            "silenceremove=start_periods=1",
            "silenceremove removes",
            "--range",
        ),
        ("asetpts=PTS+1/TB", "asetpts re-times", ",offset=S"),
        (
            "aloop=loop=2:size=48000",
            "aloop repeats or reorders",
            ",loop",
        ),
        ("areverse", "areverse repeats or reorders", ",loop"),
        ("apad", "apad is not needed", "pads the audio"),
    ] {
        let planned = run_vre(args!["plan", input, "-o", plan_dir, "--af", chain]);
        let err = stderr(&planned);
        assert_eq!(planned.status.code(), Some(64), "{chain}: {err}");
        assert!(err.contains(&format!("--af: {named}")), "{chain}: {err}");
        assert!(err.contains(instead), "{chain}: {err}");
        assert!(!plan_dir.exists(), "{chain}");
    }
    // The case as it was met: `vre run` refuses it before rendering anything.
    let out = tmp.path().join("out.mp4");
    let run = run_vre(args!["run", input, "-o", out, "--af", "atempo=2", "-q"]);
    assert_eq!(run.status.code(), Some(64), "{}", stderr(&run));
    assert!(!out.exists() && !tmp.path().join("out.mp4.vre").exists());
}

#[test]
fn audio_filters_that_keep_the_timing_render_with_the_serial_commands_timing() {
    let tmp = temp_dir();
    let input = beeping_clip(tmp.path());
    let chain = "volume=0.8,highpass=f=300,aecho=0.8:0.6:120:0.4";
    let out = tmp.path().join("out.mp4");
    vre_ok(args![
        "run", input, "-o", out, "--af", chain, "--chunks", "2", "-q"
    ]);
    let serial = tmp.path().join("serial.m4a");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&input)
        .args(["-map", "0:a:0", "-af", chain, "-ar", "48000", "-ac", "2"])
        .args(["-c:a", "aac", "-t", "3"])
        .arg(&serial)
        .output()
        .expect("ffmpeg runs");
    assert!(made.status.success(), "{}", stderr(&made));
    let (ours, theirs) = (audio_samples(&out), audio_samples(&serial));
    let (beeps, serial_beeps) = (onsets(&ours, 0.05, 0.3), onsets(&theirs, 0.05, 0.3));
    assert_eq!(beeps.len(), 4, "{beeps:?}");
    assert_eq!(
        beeps.len(),
        serial_beeps.len(),
        "{beeps:?} {serial_beeps:?}"
    );
    for (a, b) in beeps.iter().zip(&serial_beeps) {
        assert!((a - b).abs() <= 0.001, "beep at {a} s, serial {b} s");
    }
    // The echo (120 ms after each beep) is there, as loud as in the serial output.
    let (echo, serial_echo) = (rms(&ours, 0.22, 0.27), rms(&theirs, 0.22, 0.27));
    assert!(echo > 0.02, "echo {echo}");
    assert!(
        (echo / serial_echo - 1.0).abs() < 0.1,
        "echo {echo}, serial {serial_echo}"
    );
}
