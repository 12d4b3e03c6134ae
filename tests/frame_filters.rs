//! vre cuts the output by frame number and renders one output frame per input frame, so a
//! `--vf` chain that drops, adds or re-times frames cannot be rendered in chunks: every chunk
//! would be made of the wrong frames (`--vf fps=50` on a 25 fps input used to render, exit 0,
//! half of each chunk's frames doubled and the rest missing). Such chains are refused — at plan
//! time by the trial render where its first frames show it, otherwise by the first chunk whose
//! filter log shows it — and chains that hand every frame on still render frame-exactly. Filters
//! that count frames (which start again in every chunk) or reorder them across the input are
//! refused at plan time unless the plan is one chunk.

mod common;

use common::*;
use std::path::Path;

/// A 2 s, 25 fps clip with a tone.
fn clip(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            rate: "25",
            seconds: 2.0,
            ..VideoSpec::default()
        },
    );
    input
}

#[test]
fn chains_that_drop_add_or_retime_frames_are_refused_before_anything_is_rendered() {
    let tmp = temp_dir();
    let input = clip(tmp.path());
    for chain in [
        "fps=50",
        "select=not(mod(n\\,2))",
        "framestep=2",
        "decimate",
        "setpts=0.5*PTS",
        "hue=s=0,yadif=mode=1",
    ] {
        let plan_dir = tmp.path().join("refused.vre");
        let planned = run_vre(args![
            "plan", input, "-o", plan_dir, "--vf", chain, "--chunks", "2"
        ]);
        let err = stderr(&planned);
        assert_eq!(planned.status.code(), Some(64), "{chain}: {err}");
        assert!(err.contains("--vf: the filter chain"), "{chain}: {err}");
        assert!(err.contains("--fps"), "{chain}: the fix is named: {err}");
        assert!(!plan_dir.exists(), "{chain}: nothing is written");
    }
    // `vre run` tries the settings only once a chunk fails: the chunk's own filter log shows
    // the doubled frames, the trial confirms it, the renders still running (the audio, slowed
    // down by a costly --af) are stopped without being blamed on the machine, and nothing of
    // the run is left.
    let out = tmp.path().join("out.mp4");
    let run = run_vre(args![
        "run", input, "-o", out, "--vf", "fps=50", "--af", "anlmdn", "-j", "2", "-q"
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(64), "{err}");
    assert!(
        err.contains("--vf: the filter chain") && err.contains("--fps"),
        "{err}"
    );
    assert!(
        !err.contains("out of memory") && !err.contains("SIGKILL"),
        "{err}"
    );
    assert!(!out.exists());
    assert!(!tmp.path().join("out.mp4.vre").exists());
}

#[test]
fn a_chain_that_drops_frames_only_later_in_the_input_fails_the_chunk_that_shows_it() {
    let tmp = temp_dir();
    // Moving for 2 s, then frozen for 2 s: mpdecimate keeps the first frames (the trial passes)
    // and drops the frozen ones.
    let input = tmp.path().join("freezes.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=2",
        "-vf",
        "tpad=stop_mode=clone:stop_duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        input.to_str().unwrap(),
    ]);
    let plan_dir = tmp.path().join("freezes.vre");
    let planned = vre_plan(
        &input,
        &plan_dir,
        args!["--vf", "mpdecimate", "--chunks", "2"],
    );
    assert!(planned.status.success(), "{}", stderr(&planned));
    let worked = run_vre(args!["work", plan_dir, "-q", "--max-attempts", "1"]);
    let err = stderr(&worked);
    assert_eq!(worked.status.code(), Some(80), "{err}");
    assert!(
        err.contains("chunk 1") && err.contains("--vf: the filter chain handed on"),
        "{err}"
    );
    // The moving half renders and is kept; the frozen half is not published.
    let published: Vec<String> = chunk_files(&plan_dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(published, vec!["chunk-000000.mp4".to_string()], "{err}");
}

#[test]
fn chains_that_hand_every_frame_on_render_frame_exactly_even_when_they_change_the_time_base() {
    let tmp = temp_dir();
    let input = clip(tmp.path());
    // `fps` at the input's own rate moves frames to a new time base, `setpts` shifts them all,
    // `tmix` holds frames back: each still hands on one frame per frame, at its own time.
    for chain in ["fps=25,hue=s=0.5", "setpts=PTS+1/TB", "tmix=frames=3"] {
        let out = tmp.path().join("out.mp4");
        vre_ok(args![
            "run", input, "-o", out, "-y", "--vf", chain, "--crf", "0", "--chunks", "2", "-q"
        ]);
        assert_eq!(
            framemd5(&out, None),
            framemd5(&input, Some(chain)),
            "{chain}"
        );
    }
}

#[test]
fn filters_that_count_or_reorder_frames_are_refused_unless_rendered_as_one_chunk() {
    let tmp = temp_dir();
    let input = clip(tmp.path());
    // Each of these rendered in two chunks, exit 0, with frames no serial run makes: a second
    // fade-in at the seam, the second half not reversed, frame numbers starting again.
    for (chain, names) in [
        ("fade=in:0:25", "fade"),
        ("reverse", "reverse"),
        ("drawtext=text=%{n}:fontsize=30", "drawtext"),
        ("crop=160:120:'n*2':0", "crop's"),
        ("hue=s=0:enable='lt(n\\,60)'", "hue's enable"),
    ] {
        let plan_dir = tmp.path().join("refused.vre");
        let planned = run_vre(args![
            "plan", input, "-o", plan_dir, "--vf", chain, "--chunks", "2"
        ]);
        let err = stderr(&planned);
        assert_eq!(planned.status.code(), Some(64), "{chain}: {err}");
        assert!(err.contains(&format!("--vf: {names}")), "{chain}: {err}");
        assert!(!plan_dir.exists(), "{chain}");
    }
    // As one chunk they are what serial ffmpeg makes; a fade or a moving crop given in seconds
    // crosses a seam.
    for (chain, chunks) in [
        ("reverse", "1"),
        ("fade=in:0:25", "1"),
        ("fade=t=in:st=1.5:d=1", "2"),
        ("crop=160:120:'t*50':0", "2"),
    ] {
        let out = tmp.path().join("out.mp4");
        vre_ok(args![
            "run", input, "-o", out, "-y", "--vf", chain, "--crf", "0", "--chunks", chunks, "-q"
        ]);
        assert_eq!(
            framemd5(&out, None),
            framemd5(&input, Some(chain)),
            "{chain}"
        );
    }
}
