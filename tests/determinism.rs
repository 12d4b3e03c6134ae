//! Retried renders are byte-identical for every codec and format, with several encoder threads:
//! the same chunk, rendered many times at once by `vre work` processes (so that encoder threads
//! race), always has the same blake3.

mod common;

use common::*;
use std::path::Path;
use std::process::Child;

/// Every format vre writes, each with the codecs it adds (together: every software codec), and
/// the delivery settings whose chunks take several encodes (two passes, a bit rate searched
/// for, the VBV buffer planned at seams), each with the options of its plan.
const CASES: [(&str, &str, &[&str]); 12] = [
    ("mp4", "libx264", &[]),
    ("mp4", "libx265", &[]),
    ("mp4", "libsvtav1", &[]),
    ("webm", "libvpx-vp9", &[]),
    ("mov", "prores_ks", &[]),
    ("mkv", "ffv1", &[]),
    ("png", "png", &[]),
    ("webm", "libaom-av1", &["--preset", "8"]),
    ("mp4", "mpeg2video", &[]),
    ("mov", "mjpeg", &[]),
    ("mov", "dnxhd", &[]),
    (
        "mp4",
        "libx264",
        &[
            "--passes",
            "2",
            "--bitrate",
            "300k",
            "--maxrate",
            "400k",
            "--bufsize",
            "200k",
        ],
    ),
];

/// Concurrent renders of the chunk per plan.
const RENDERS: usize = 8;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The blake3 of chunk 1 as each of `RENDERS` concurrent `vre work` processes published it,
/// each on its own copy of the unrendered planDir.
fn concurrent_hashes(plan_dir: &Path, copies: &Path) -> Vec<String> {
    let workers: Vec<(Child, std::path::PathBuf)> = (0..RENDERS)
        .map(|k| {
            let copy = copies.join(format!("copy-{k}"));
            copy_dir(plan_dir, &copy);
            let child = vre()
                .args(args![
                    "work",
                    copy,
                    "--index",
                    "1",
                    "--once",
                    "-q",
                    "--no-space-check"
                ])
                .spawn()
                .unwrap();
            (child, copy)
        })
        .collect();
    workers
        .into_iter()
        .map(|(mut child, copy)| {
            assert!(child.wait().unwrap().success(), "vre work on {copy:?}");
            let sidecar = read_json(&copy.join("chunks/chunk-000001.json"));
            sidecar["blake3"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn every_codec_renders_a_chunk_byte_identically_with_racing_threads() {
    let tmp = temp_dir();
    // 48 frames with a hard cut at frame 36, inside chunk 1 (frames 24..48): the encoders that
    // place keyframes at scene cuts decide one there.
    let input = tmp.path().join("in.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=30:d=1.2",
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=s=320x180:r=30,trim=end_frame=12",
        "-filter_complex",
        "[0][1]concat=n=2,format=yuv420p",
        "-c:v",
        "ffv1",
        input.to_str().unwrap(),
    ]);
    let mut report = Vec::new();
    for (case, (format, codec, options)) in CASES.into_iter().enumerate() {
        for threads in ["2", "4"] {
            let name = format!("{codec}-{format}-{case}-t{threads}");
            let plan_dir = tmp.path().join(format!("{name}.vre"));
            let mut plan_options = args![
                "--format",
                format,
                "--codec",
                codec,
                "--threads",
                threads,
                "--chunks",
                "2",
                "-q"
            ];
            plan_options.extend(options.iter().map(std::ffi::OsString::from));
            vre_plan(&input, &plan_dir, plan_options);
            let hashes = concurrent_hashes(&plan_dir, &tmp.path().join(&name));
            let distinct: std::collections::BTreeSet<_> = hashes.iter().collect();
            report.push(format!("{name}: {} distinct of {RENDERS}", distinct.len()));
            assert_eq!(
                distinct.len(),
                1,
                "{name}: {RENDERS} concurrent renders of chunk 1 gave {} different outputs",
                distinct.len()
            );
            std::fs::remove_dir_all(tmp.path().join(&name)).unwrap();
        }
    }
    println!("{}", report.join("\n"));
}
