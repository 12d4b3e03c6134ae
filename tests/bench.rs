//! `vre bench` on a tiny generated input: the JSON's structure and internal consistency, the
//! serial command, and the SVG plot. No timing assertions: times on shared machines drift.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is a number"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn bench_reports_consistent_ratios_and_plots_them() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 2.0,
        ..VideoSpec::default()
    });
    let plot = tmp.path().join("speedup.svg");
    let out = vre_ok(args![
        "bench",
        input,
        "--vf",
        "hue=s=0.9",
        "--preset",
        "ultrafast",
        "--chunk-frames",
        "20",
        "--workers",
        "1,2",
        "--runs",
        "1",
        "--json",
        "--plot",
        plot
    ]);
    let result: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");

    // The serial command is a real ffmpeg command line over the same input and filter.
    let command = result["serial_command"].as_str().unwrap();
    assert!(command.starts_with("ffmpeg "), "{command}");
    assert!(command.contains("-vf hue=s=0.9"), "{command}");
    assert!(
        command.contains(&format!("file:{}", input.display())),
        "{command}"
    );
    assert!(
        command.contains("-c:v libx264 -preset ultrafast -crf 20"),
        "{command}"
    );
    assert!(
        !command.contains("-threads"),
        "ffmpeg's own threading: {command}"
    );
    assert!(stderr(&out).contains(command), "the command is printed");

    assert_eq!(result["machine"]["cores"].as_u64(), Some(cores()));
    assert!(result["machine"]["ffmpeg_version"]
        .as_str()
        .unwrap()
        .starts_with("ffmpeg version"));
    assert_eq!(result["runs"], 1);
    assert_eq!(result["job"]["frames"].as_u64(), Some(60));
    let serial = &result["serial"];
    assert_eq!(serial["workers"], 1);
    assert_eq!(serial["samples"].as_array().unwrap().len(), 1);
    assert!(close(f(&serial["speedup"]), 1.0));
    assert!(close(f(&serial["cpu_overhead"]), 1.0));
    assert!(close(f(&serial["size_overhead"]), 1.0));
    assert!(
        serial.get("quality").is_none(),
        "with --vf the output's frames are not the input's: no quality"
    );
    let serial_wall = f(&serial["wall_seconds"]);
    let serial_cpu = f(&serial["cpu_seconds"]);
    let serial_bytes = serial["bytes"].as_u64().unwrap();
    assert!(serial_wall > 0.0 && serial_cpu > 0.0 && serial_bytes > 0);
    assert!(close(
        f(&result["limit_wall_seconds"]),
        serial_cpu / cores() as f64
    ));

    let vre = result["vre"].as_array().unwrap();
    let workers: Vec<u64> = vre.iter().map(|c| c["workers"].as_u64().unwrap()).collect();
    assert_eq!(workers, vec![1, 2]);
    for c in vre {
        let n = c["workers"].as_u64().unwrap() as f64;
        let sample = &c["samples"][0];
        let wall = f(&c["wall_seconds"]);
        assert!(close(wall, f(&sample["wall_seconds"])), "median of one run");
        let speedup = f(&c["speedup"]);
        assert!(
            close(speedup, serial_wall / wall),
            "speedup = serial wall / vre wall"
        );
        assert!(
            close(f(&c["efficiency"]), speedup / n),
            "efficiency = speedup / workers"
        );
        assert!(close(
            f(&c["cpu_overhead"]),
            f(&c["cpu_seconds"]) / serial_cpu
        ));
        assert!(close(
            f(&c["size_overhead"]),
            c["bytes"].as_u64().unwrap() as f64 / serial_bytes as f64
        ));
        let (plan, work, assemble) = (
            f(&c["plan_seconds"]),
            f(&c["work_seconds"]),
            f(&c["assemble_seconds"]),
        );
        assert!(plan > 0.0 && assemble > 0.0 && work > 0.0);
        assert!(
            close(plan + work + assemble, wall),
            "the stages add up to the wall time"
        );
        assert!(close(
            f(&c["plan_assemble_share"]),
            (plan + assemble) / wall
        ));
        assert!(f(&c["copy_seconds"]) >= 0.0);
        // Every task checks, hashes and publishes outside its ffmpeg; the fixed overhead is
        // plan + assemble + that time shared by the workers.
        let extra = f(&c["task_extra_seconds"]);
        assert!(extra > 0.0, "tasks spend time outside ffmpeg: {extra}");
        let fixed = plan + assemble + extra / n;
        assert!(close(f(&c["fixed_seconds"]), fixed));
        assert!(close(f(&c["fixed_share"]), fixed / wall));
        assert_eq!(c["chunks"].as_u64(), Some(3));
        assert_eq!(
            c["threads_per_chunk"].as_u64(),
            Some(match n as u64 {
                1 => 2 * cores(),
                n => (cores() / n).max(1),
            }),
            "vre run's default threads per chunk"
        );
        // Amdahl's serial fraction only where vre was faster: slower gives no fit.
        match c["workers"].as_u64() {
            Some(2) if speedup >= 1.0 => assert!(close(
                f(&c["serial_fraction"]),
                (n / speedup - 1.0) / (n - 1.0)
            )),
            _ => assert!(c.get("serial_fraction").is_none(), "{c}"),
        }
    }
    match vre[1].get("serial_fraction") {
        Some(fraction) => {
            assert_eq!(result["amdahl"]["workers"], 2);
            assert!(close(f(&result["amdahl"]["serial_fraction"]), f(fraction)));
        }
        None => assert!(result["amdahl"].is_null(), "{}", result["amdahl"]),
    }

    // The plot: an SVG with the ideal line, the measured points and Amdahl's curve.
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<?xml"), "{svg}");
    assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    for id in ["ideal", "measured"] {
        assert!(svg.contains(&format!("id=\"{id}\"")), "no {id} in the plot");
    }
    // Amdahl's curve where there is a fit (vre faster than ffmpeg at 2 workers).
    assert_eq!(
        svg.contains("id=\"amdahl\""),
        !result["amdahl"].is_null(),
        "{svg}"
    );
    assert_eq!(
        svg.matches("<circle").count(),
        2,
        "one point per worker count"
    );
    assert!(
        !svg.contains("href") && !svg.contains("<script"),
        "self-contained"
    );
    assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
    // ffmpeg's librsvg decoder (when built in) renders it: it is well-formed SVG.
    let decoders = Command::new("ffmpeg")
        .args(["-hide_banner", "-decoders"])
        .output()
        .unwrap();
    if String::from_utf8_lossy(&decoders.stdout).contains("librsvg") {
        let png = tmp.path().join("speedup.png");
        let plot_arg = plot.to_str().unwrap();
        let png_arg = png.to_str().unwrap();
        ffmpeg(&["-f", "svg_pipe", "-i", plot_arg, "-frames:v", "1", png_arg]);
        assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    } else {
        println!("skipped rendering the SVG: ffmpeg has no librsvg decoder");
    }
}

/// `vre bench --json` with `options` on `input`, one run of one worker: its result.
fn bench_once(input: &std::path::Path, options: &[&str]) -> Value {
    let mut bench = args!["bench", input, "--workers", "2", "--runs", "1", "--json"];
    bench.extend(options.iter().map(std::ffi::OsString::from));
    serde_json::from_slice(&vre_ok(bench).stdout).expect("stdout is one JSON document")
}

#[test]
fn bench_measures_each_outputs_pictures_against_the_input() {
    let (_tmp, input) = scratch_input(VideoSpec {
        seconds: 2.0,
        ..VideoSpec::default()
    });
    // Lossless: both outputs are the input's pictures exactly (PSNR infinite, JSON null), which
    // only holds if the measurement lines up the same frames.
    let lossless = bench_once(&input, &["--crf", "0", "--chunk-frames", "20"]);
    for c in [&lossless["serial"], &lossless["vre"][0]] {
        let quality = &c["quality"];
        assert!(quality["psnr_y"].is_null(), "identical pictures: {quality}");
        assert!(close(f(&quality["ssim_y"]), 1.0), "{quality}");
    }
    // Lossy, with a range: finite, plausible, and vre within a decibel of the serial command.
    let lossy = bench_once(
        &input,
        &["--crf", "35", "--chunk-frames", "20", "--range", "10:50"],
    );
    assert_eq!(lossy["job"]["frames"], 40);
    let psnr = |c: &Value| f(&c["quality"]["psnr_y"]);
    let (serial, vre) = (psnr(&lossy["serial"]), psnr(&lossy["vre"][0]));
    assert!((20.0..60.0).contains(&serial), "serial PSNR-Y {serial}");
    assert!(
        (vre - serial).abs() < 1.0,
        "vre {vre} dB, serial {serial} dB"
    );
    let ssim = f(&lossy["vre"][0]["quality"]["ssim_y"]);
    assert!(ssim > 0.5 && ssim < 1.0, "SSIM-Y {ssim}");
}

#[test]
fn bench_refuses_what_one_ffmpeg_command_cannot_express() {
    let (_tmp, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        ..VideoSpec::default()
    });
    let png = run_vre(args!["bench", input, "--format", "png", "--runs", "1"]);
    assert_eq!(png.status.code(), Some(64), "{}", stderr(&png));
    let zero = run_vre(args!["bench", input, "--workers", "0"]);
    assert_eq!(zero.status.code(), Some(64), "{}", stderr(&zero));
    let track = format!("file={}", input.display());
    let extra_audio = run_vre(args!["bench", input, "--audio", track, "--runs", "1"]);
    assert_eq!(
        extra_audio.status.code(),
        Some(64),
        "{}",
        stderr(&extra_audio)
    );
    assert!(stderr(&extra_audio).contains("cannot express"));
}

fn cores() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// The child of `pid` whose command line contains `needle`, waiting up to 20 s for it.
fn child_running(pid: u32, needle: &str) -> Option<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let found = children_of(pid).into_iter().find(|kid| {
            std::fs::read(format!("/proc/{kid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        });
        if found.is_some() {
            return found;
        }
        std::thread::yield_now();
    }
    None
}

#[test]
fn sigterm_stops_a_bench_with_its_serial_ffmpeg_and_scratch_files() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 3.0,
        ..VideoSpec::default()
    });
    let scratch_parent = tmp.path().join("tmp");
    std::fs::create_dir(&scratch_parent).unwrap();
    let mut bench = vre()
        .args(args![
            "bench",
            input,
            "--vf",
            "nlmeans=s=2",
            "--workers",
            "2",
            "--runs",
            "1"
        ])
        .env("TMPDIR", &scratch_parent)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let serial = child_running(bench.id(), "serial-1.").expect("the serial ffmpeg runs");
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(bench.id() as i32, libc::SIGTERM) };
    let status = bench.wait().unwrap();
    assert_eq!(status.code(), Some(130), "the interrupted code");
    assert!(
        all_gone_within(&[serial], std::time::Duration::from_secs(1)),
        "the serial ffmpeg does not outlive the bench"
    );
    assert_eq!(
        std::fs::read_dir(&scratch_parent).unwrap().count(),
        0,
        "the scratch directory is removed"
    );
}
