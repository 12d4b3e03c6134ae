//! `vre report`: a self-contained HTML page drawn from a planDir, checked in headless Chromium
//! (skipped when Chromium is not installed) and on a synthetic 10,000-chunk planDir.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use vre::plandir::hash::*;
use vre::plandir::schema::*;

/// Chromium's path, if it is installed.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on a local HTML file with a fresh profile, no network and a
/// 60-second limit; returns its stdout.
fn headless(chrome: &Path, html: &Path, extra: &[&str]) -> Vec<u8> {
    let profile = temp_dir();
    let url = format!("file://{}", html.canonicalize().unwrap().display());
    let out = Command::new("timeout")
        .arg("60")
        .arg(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The DOM after the page's scripts ran.
fn dump_dom(chrome: &Path, html: &Path) -> String {
    String::from_utf8(headless(chrome, html, &["--dump-dom"])).unwrap()
}

/// The value of `attr` in the first tag that contains `marker`.
fn attr_of(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let key = format!("{attr}=\"");
    let from = tag.find(&key)? + key.len();
    Some(tag[from..from + tag[from..].find('"')?].to_string())
}

fn num_attr(html: &str, marker: &str, attr: &str) -> f64 {
    attr_of(html, marker, attr)
        .unwrap_or_else(|| panic!("no {attr} in the tag of {marker}"))
        .parse()
        .unwrap()
}

/// The task data embedded in the page.
fn embedded_data(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"vre-data\">";
    let from = html.find(open).expect("embedded data") + open.len();
    let to = from + html[from..].find("</script>").unwrap();
    serde_json::from_str(&html[from..to]).unwrap()
}

/// The page loads nothing from anywhere: no URL, no external script, style or image.
fn assert_self_contained(html: &str) {
    for needle in [
        "http://", "https://", "src=", "href=", "<link", "@import", "url(",
    ] {
        assert!(!html.contains(needle), "the report contains {needle:?}");
    }
}

/// No two bars in one row of one lane overlap.
fn assert_rows_do_not_overlap(data: &Value) {
    let t = &data["tasks"];
    let col = |name: &str| t[name].as_array().unwrap().clone();
    let (lane, row, s, e) = (col("lane"), col("row"), col("s"), col("e"));
    let mut bars: Vec<(u64, u64, f64, f64)> = (0..s.len())
        .map(|i| {
            (
                lane[i].as_u64().unwrap(),
                row[i].as_u64().unwrap(),
                s[i].as_f64().unwrap(),
                e[i].as_f64().unwrap(),
            )
        })
        .collect();
    bars.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
    for pair in bars.windows(2) {
        if (pair[0].0, pair[0].1) == (pair[1].0, pair[1].1) {
            assert!(pair[0].3 <= pair[1].2, "bars overlap in one row: {pair:?}");
        }
    }
}

/// What the PNG holds: width, height and its pixels as RGB (decoded by ffmpeg).
fn png_pixels(png: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(png)
        .args(["-pix_fmt", "rgb24", "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg decodes the screenshot");
    assert_eq!(out.stdout.len(), (width * height * 3) as usize);
    (width, height, out.stdout)
}

fn count_near(pixels: &[u8], rgb: [u8; 3]) -> usize {
    pixels
        .chunks_exact(3)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 10))
        .count()
}

#[test]
fn report_of_a_two_worker_render_draws_every_task_in_chromium() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 2.0,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "4", "--threads", "1"]);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            vre()
                .args(args!["work", plan_dir, "-q"])
                .spawn()
                .expect("vre work starts")
        })
        .collect();
    for mut worker in workers {
        assert!(worker.wait().unwrap().success());
    }
    vre_ok(args![
        "assemble",
        plan_dir,
        "-o",
        tmp.path().join("out.mp4"),
        "-q"
    ]);
    let html_path = tmp.path().join("report.html");
    vre_ok(args!["report", plan_dir, "-o", html_path]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_self_contained(&html);

    // What the page says, against the sidecars read here.
    let mut sidecars: Vec<Value> = chunk_files(&plan_dir)
        .iter()
        .map(|p| read_json(&p.with_extension("json")))
        .collect();
    sidecars.push(read_json(&plan_dir.join("audio/audio.json")));
    assert_eq!(sidecars.len(), 5);
    let field = |s: &Value, k: &str| s[k].as_f64().unwrap();
    let first = sidecars
        .iter()
        .map(|s| field(s, "started_at"))
        .fold(f64::INFINITY, f64::min);
    let last = sidecars
        .iter()
        .map(|s| field(s, "finished_at"))
        .fold(f64::NEG_INFINITY, f64::max);
    let summed: f64 = sidecars.iter().map(|s| field(s, "encode_seconds")).sum();
    let mut workers: Vec<String> = sidecars
        .iter()
        .map(|s| format!("{}:{}", s["host"].as_str().unwrap(), s["pid"]))
        .collect();
    workers.sort();
    workers.dedup();

    assert_eq!(
        attr_of(&html, "data-done=", "data-done").as_deref(),
        Some("5")
    );
    assert_eq!(
        attr_of(&html, "data-total=", "data-total").as_deref(),
        Some("5")
    );
    assert_eq!(
        attr_of(&html, "id=\"gantt\"", "data-lanes"),
        Some(workers.len().to_string()),
        "one lane per worker process"
    );
    let work = num_attr(&html, "data-stage=\"work\"", "data-seconds");
    assert!(
        (work - (last - first)).abs() < 1e-5,
        "work {work} vs {}",
        last - first
    );
    let speedup = num_attr(&html, "data-speedup=", "data-speedup");
    assert!((speedup - summed / (last - first)).abs() < 1e-4);
    let stages = read_json(&plan_dir.join("stages.json"));
    for stage in ["plan", "assemble"] {
        let seconds = num_attr(&html, &format!("data-stage=\"{stage}\""), "data-seconds");
        assert!((seconds - stages[stage]["seconds"].as_f64().unwrap()).abs() < 1e-5);
    }
    assert!(
        stages["assemble"]["started_at"].as_f64().unwrap() >= last,
        "assembly follows the work"
    );
    let data = embedded_data(&html);
    assert_eq!(data["tasks"]["idx"].as_array().unwrap().len(), 5);
    assert_rows_do_not_overlap(&data);

    let Some(chrome) = chromium() else {
        println!("skipped: chromium not installed");
        return;
    };
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = artifacts.join("report-two-workers.png");
    let _ = std::fs::remove_file(&png);
    std::fs::copy(&html_path, artifacts.join("report-two-workers.html")).unwrap();
    headless(
        &chrome,
        &html_path,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,900",
        ],
    );
    let (width, height, pixels) = png_pixels(&png);
    assert_eq!((width, height), (1400, 900));
    // Without the script, only the legend and the stage bars carry these colours (about 3,000
    // blue and 100 orange pixels); the drawn bars bring tens of thousands.
    let video_blue = count_near(&pixels, [0x3f, 0x7f, 0xd0]);
    let audio_orange = count_near(&pixels, [0xe8, 0x89, 0x1c]);
    assert!(
        video_blue > 20_000,
        "video bars drawn: {video_blue} blue pixels"
    );
    assert!(
        audio_orange > 300,
        "audio bar drawn: {audio_orange} orange pixels"
    );
    println!(
        "screenshot: {} ({video_blue} video-blue, {audio_orange} audio-orange pixels)",
        png.display()
    );

    let dom = dump_dom(&chrome, &html_path);
    assert_eq!(
        attr_of(&dom, "id=\"gantt\"", "data-bars").as_deref(),
        Some("5"),
        "the script drew one bar per published task"
    );
}

#[test]
fn report_of_ten_thousand_chunks_is_fast_small_and_draws_every_bar() {
    let tmp = temp_dir();
    let dir = synthetic_plan_dir(&tmp.path().join("big.vre"), 10_000, 10_000, 4);
    let html_path = tmp.path().join("big.html");
    let clock = Instant::now();
    vre_ok(args!["report", dir.root(), "-o", html_path, "-q"]);
    let seconds = clock.elapsed().as_secs_f64();
    let html = std::fs::read_to_string(&html_path).unwrap();
    println!(
        "10,000 chunks: report in {seconds:.2} s, {} bytes",
        html.len()
    );
    assert!(seconds < 3.0, "vre report took {seconds:.2} s");
    assert!(html.len() < 2_000_000, "the page is {} bytes", html.len());
    assert_self_contained(&html);
    assert!(
        html.contains("drawtext=text=&#39;&lt;/script&gt;&#39;"),
        "the filter is shown, escaped"
    );

    assert_eq!(
        attr_of(&html, "id=\"gantt\"", "data-lanes").as_deref(),
        Some("4")
    );
    // 2,500 slots of 0.5 s per worker, the last task ending 0.4 s into its slot.
    let work = num_attr(&html, "data-stage=\"work\"", "data-seconds");
    assert!((work - 1249.9).abs() < 1e-3, "work {work}");
    let speedup = num_attr(&html, "data-speedup=", "data-speedup");
    assert!(
        (speedup - 4000.0 / 1249.9).abs() < 1e-3,
        "speedup {speedup}"
    );
    let data = embedded_data(&html);
    assert_eq!(data["tasks"]["idx"].as_array().unwrap().len(), 10_000);
    assert_rows_do_not_overlap(&data);

    let Some(chrome) = chromium() else {
        println!("skipped: chromium not installed");
        return;
    };
    let dom = dump_dom(&chrome, &html_path);
    assert_eq!(
        attr_of(&dom, "id=\"gantt\"", "data-bars").as_deref(),
        Some("10000")
    );
}

#[test]
fn report_of_a_partly_rendered_plan_dir_shows_what_is_done() {
    let tmp = temp_dir();
    let dir = synthetic_plan_dir(&tmp.path().join("part.vre"), 40, 25, 3);
    std::fs::write(vre::plandir::stages::path(&dir), b"{ torn").unwrap();
    vre::plandir::attempts::record_failure(&dir, TaskId::Chunk(30), "ffmpeg said <nope>", "log", 1)
        .unwrap();
    // Two tasks that overlap in one process (a worker with -j 2) get two rows of its lane.
    let mut extra: Sidecar =
        serde_json::from_value(read_json(&dir.sidecar(TaskId::Chunk(0)))).unwrap();
    let loaded = dir.load().unwrap();
    extra.media = Media::Chunk {
        index: 31,
        start_frame: 310,
        end_frame: 320,
        frames: 10,
    };
    extra.task_key = chunk_task_key(&loaded.plan, &loaded.chunks[31]);
    extra.started_at += 0.1;
    extra.finished_at += 0.1;
    std::fs::write(
        dir.sidecar(TaskId::Chunk(31)),
        serde_json::to_vec(&extra).unwrap(),
    )
    .unwrap();

    let out = vre_ok(args!["report", dir.root()]);
    assert!(
        stderr(&out).contains("26 of 40 tasks published"),
        "{}",
        stderr(&out)
    );
    let html = std::fs::read_to_string(dir.root().join("report.html")).unwrap();
    assert_eq!(
        attr_of(&html, "data-done=", "data-done").as_deref(),
        Some("26")
    );
    assert_eq!(
        attr_of(&html, "data-total=", "data-total").as_deref(),
        Some("40")
    );
    assert!(html.contains("13 pending, 1 failed"));
    assert!(
        html.contains("ffmpeg said &lt;nope&gt;"),
        "failures listed, escaped"
    );
    assert!(
        attr_of(&html, "data-stage=\"plan\"", "data-seconds").is_none(),
        "an unreadable stages.json is no record"
    );
    assert!(html.contains("in progress"));
    let data = embedded_data(&html);
    assert_eq!(data["tasks"]["idx"].as_array().unwrap().len(), 26);
    let rows: Vec<u64> = data["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(
        rows,
        vec![2, 1, 1],
        "the lane of the -j 2 worker has two rows"
    );
    assert_rows_do_not_overlap(&data);

    // A report is refused cleanly where it cannot be written, and on a directory that is no
    // planDir.
    let missing = tmp.path().join("no/such/dir/r.html");
    let refused = run_vre(args!["report", dir.root(), "-o", missing]);
    assert_eq!(refused.status.code(), Some(73), "{}", stderr(&refused));
    let not_a_plan = run_vre(args!["report", tmp.path()]);
    assert_eq!(
        not_a_plan.status.code(),
        Some(66),
        "{}",
        stderr(&not_a_plan)
    );
}
