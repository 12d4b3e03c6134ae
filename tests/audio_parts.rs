//! Long audio renders in parts on many workers, joined by stream copy at assembly: the joined
//! stream has the serial encode's shape (start, length, every packet's timestamp), sounds as
//! close to the input as the serial encode does, and no seam clicks.

mod common;

use common::*;

/// The input's length: three parts of AAC, 60 s, 60 s and the 10 s left.
const SECONDS: &str = "130";
/// Samples per part at 48 kHz: 60 s rounded up to whole 1024-sample AAC frames.
const PART: usize = 2_880_512;
/// The window the error is measured over, in samples.
const WINDOW: usize = 256;

/// The root mean square of `a - b` over each window of [`WINDOW`] samples.
fn error_per_window(a: &[f32], b: &[f32]) -> Vec<f64> {
    let n = a.len().min(b.len()) / WINDOW * WINDOW;
    a[..n]
        .chunks(WINDOW)
        .zip(b[..n].chunks(WINDOW))
        .map(|(x, y)| {
            let sum: f64 = x.iter().zip(y).map(|(p, q)| f64::from(p - q).powi(2)).sum();
            (sum / WINDOW as f64).sqrt()
        })
        .collect()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[test]
fn long_audio_renders_in_parts_that_join_into_the_serial_encodes_stream_without_a_click() {
    let tmp = temp_dir();
    let input = tmp.path().join("in.mov");
    // Two tones whose pitch keeps moving, with a little noise: every part of every AAC frame
    // is different, so a seam coded differently from its neighbours would show.
    let sound = format!(
        "aevalsrc=0.4*sin(2*PI*(220+200*sin(0.3*t))*t)+0.2*sin(2*PI*(3000+1000*sin(1.7*t))*t)\
         +0.05*(random(0)-0.5)|0.4*sin(2*PI*(330+100*sin(0.5*t))*t):s=48000:d={SECONDS}"
    );
    let picture = format!("testsrc2=s=160x90:r=25:d={SECONDS}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &picture,
        "-f",
        "lavfi",
        "-i",
        &sound,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "pcm_s16le",
        input.to_str().unwrap(),
    ]);
    let (out, plan_dir) = (tmp.path().join("out.mp4"), tmp.path().join("job.vre"));
    let settings = ["--preset", "ultrafast", "--audio-bitrate", "128k"];
    let mut run = args![
        "run",
        &input,
        "-o",
        &out,
        "--plan-dir",
        &plan_dir,
        "--keep-temp",
        "-j",
        "2",
        "-q"
    ];
    run.extend(settings.iter().map(std::ffi::OsString::from));
    vre_ok(run);

    let plan = read_json(&plan_dir.join("plan.json"));
    assert_eq!(plan["audio"]["parts"]["samples"], PART);
    assert_eq!(plan["audio"]["parts"]["margin"], 4096);
    for part in 0..3 {
        let file = plan_dir.join(format!("audio/audio-part-{part:06}.m4a"));
        assert!(file.is_file(), "{} published", file.display());
    }
    assert!(!plan_dir.join("audio/audio.m4a").exists());

    // The serial command at the same bit rate: the same stream shape, packet for packet.
    let serial = tmp.path().join("serial.mp4");
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        serial.to_str().unwrap(),
    ]);
    let (ours, theirs) = (
        stream(&out, "audio").unwrap(),
        stream(&serial, "audio").unwrap(),
    );
    for key in ["start_time", "duration", "nb_frames"] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    assert_eq!(
        packet_entries(&out, "a:0", "pts,duration"),
        packet_entries(&serial, "a:0", "pts,duration")
    );

    // The sound: as close to the input as the serial encode, and no seam further from it than
    // the farthest window elsewhere.
    let source = audio_on_timeline(&input);
    let (joined, whole) = (audio_on_timeline(&out), audio_on_timeline(&serial));
    let (ours, theirs) = (
        error_per_window(&joined, &source),
        error_per_window(&whole, &source),
    );
    let seams = [PART / WINDOW, 2 * PART / WINDOW];
    let near_a_seam = |w: usize| seams.iter().any(|&s| w.abs_diff(s) <= 16);
    let elsewhere: Vec<f64> = (8..ours.len() - 8)
        .filter(|&w| !near_a_seam(w))
        .map(|w| ours[w])
        .collect();
    let loudest_elsewhere = elsewhere.iter().copied().fold(0.0, f64::max);
    for seam in seams {
        let at_seam = ours[seam - 4..seam + 4].iter().copied().fold(0.0, f64::max);
        assert!(
            at_seam <= loudest_elsewhere,
            "the seam at sample {}: error {at_seam:.5}, at most {loudest_elsewhere:.5} elsewhere",
            seam * WINDOW
        );
    }
    let (ours, theirs) = (median(&elsewhere), median(&theirs));
    assert!(
        ours <= theirs * 1.1,
        "median error {ours:.5}, the serial encode's {theirs:.5}"
    );
}

#[test]
fn a_fade_out_at_the_outputs_end_stays_there_when_the_audio_renders_in_parts() {
    let tmp = temp_dir();
    let (input, tone) = (tmp.path().join("silent.mp4"), tmp.path().join("tone.wav"));
    let picture = format!("testsrc2=s=64x36:r=5:d={SECONDS}");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &picture,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ]
        .into_iter()
        .chain([input.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:r=48000:d=5",
        tone.to_str().unwrap(),
    ]);
    let out = tmp.path().join("out.mp4");
    let track = format!("file={},loop,fade-out=3", tone.display());
    vre_ok(args![
        "run", &input, "-o", &out, "-j", "2", "--audio", track, "-q"
    ]);
    let sound = audio_on_timeline(&out);
    let steady = rms(&sound, 30.0, 33.0);
    // Where the first part ends (60.01 s) the tone plays on; only the output's end fades.
    let at_part_end = rms(&sound, 57.0, 60.0);
    assert!(
        (at_part_end / steady - 1.0).abs() < 0.05,
        "{at_part_end} before the first part's end, {steady} at 30 s"
    );
    assert!(rms(&sound, 129.5, 130.0) < 0.3 * steady);
}
