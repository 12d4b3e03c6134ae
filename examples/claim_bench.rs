//! BENCHMARK ONLY — the cost of vre's claim protocol, without ffmpeg in the loop.
//!
//! ```sh
//! cargo run --release --example claim_bench -- [--chunks 10000] [--workers 8] [--keep]
//! cargo run --release --example claim_bench -- --hash FILE [--passes 3]
//! ```
//!
//! The first form builds a synthetic planDir of `--chunks` one-frame chunks (plan.json and
//! chunks.json written with the library's types; the "input" is a small file the plan records),
//! then starts `--workers` worker *processes* — this binary re-executed with `--worker DIR` —
//! each of which runs the real claim loop, `vre::work::scheduler::work_with`, with one thread. The only
//! thing replaced is the renderer: [`tiny_publish`] writes a tiny file where ffmpeg would have
//! written the chunk, between the real renderer's own first and last steps
//! (`publish::begin_render`: stale-temp cleanup and the temp name recorded in the lock;
//! `publish::publish_render`: last checks, hash, rename into place, sidecar). So every claim pays for what a
//! real one pays: the done check, the lock, the re-check, the attempts record, the cleanup, the
//! fsyncs and renames of publishing.
//!
//! It prints the wall time, claims, wall time per claim, CPU per claim and the time a worker
//! spends per claim, checks that every chunk was published exactly once, and times
//! `vre::inspect::status::status` on the planDir with none, half and all of its chunks done.
//!
//! The second form measures how fast the plan step hashes a large input: `fsio::hash_file`
//! (memory-mapped, on all cores) against a plain single-threaded read, in MB/s.
//!
//! [`tiny_publish`] exists only here, in `examples/`: the vre binary cannot reach it.

use std::fs;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use vre::codecs::{Container, VideoCodec};
use vre::plandir::claim::TaskLock;
use vre::plandir::error::*;
use vre::plandir::hash::*;
use vre::plandir::layout::*;
use vre::plandir::load::*;
use vre::plandir::publish::{self, Rendered};
use vre::plandir::schema::*;
use vre::sys::fsio;
use vre::work::events::{Event, Observer};
use vre::work::render::{Alive, RenderError};
use vre::work::scheduler::{self, StallTimeout, WorkOptions};

/// What the benchmark renderer writes for every chunk (the size of a small real chunk's moov
/// and a few packets; the content does not matter).
const PAYLOAD_BYTES: usize = 4096;

/// BENCHMARK ONLY: a renderer that publishes a tiny file and its sidecar exactly as the real
/// renderer publishes a chunk, without running ffmpeg.
fn tiny_publish(
    dir: &PlanDir,
    loaded: &LoadedPlan,
    lock: &TaskLock,
    _stall_limit: Option<std::time::Duration>,
    _on_alive: &mut dyn FnMut(Alive),
) -> Result<Sidecar, RenderError> {
    let task = lock.task();
    let chunk = loaded
        .chunk(task)
        .expect("the benchmark plan has chunks only");
    let temp = publish::begin_render(dir, loaded, lock)?;
    let started_at = fsio::unix_now();
    let clock = Instant::now();
    // Where ffmpeg would write the chunk.
    let mut payload = vec![0u8; PAYLOAD_BYTES];
    payload[..4].copy_from_slice(&chunk.index.to_le_bytes());
    fs::write(&temp, &payload).map_err(|source| PlanDirError::Write {
        path: temp.clone(),
        source,
    })?;
    let rendered = Rendered {
        media: Media::Chunk {
            index: chunk.index,
            start_frame: chunk.start_frame,
            end_frame: chunk.end_frame,
            frames: chunk.frames(),
        },
        stream: Some(StreamFacts {
            codec: "h264".to_string(),
            profile: "High".to_string(),
            pix_fmt: "yuv420p".to_string(),
            width: 1280,
            height: 720,
            frame_rate: "30/1".to_string(),
            time_base: "1/15360".to_string(),
        }),
        started_at,
        encode_seconds: clock.elapsed().as_secs_f64(),
    };
    Ok(publish::publish_render(dir, loaded, lock, &temp, rendered)?)
}

/// Ignores every event: the benchmark measures claiming, not printing.
struct Silent;

impl Observer for Silent {
    fn on(&self, _event: &Event) {}
}

/// A planDir of `chunks` one-frame chunks at 30 fps over a small stand-in input.
fn build_plan_dir(root: &Path, chunks: u32) -> PlanDir {
    let input = root.join("input.bin");
    fs::write(&input, vec![7u8; 1 << 16]).unwrap();
    let meta = fs::metadata(&input).unwrap();
    let list: Vec<Chunk> = (0..chunks)
        .map(|i| Chunk {
            index: i,
            start_frame: u64::from(i),
            end_frame: u64::from(i) + 1,
            reason: "even split".to_string(),
        })
        .collect();
    let rate = Rational { num: 30, den: 1 };
    let index = vre::plandir::frameindex::FrameIndex::constant_rate(rate, u64::from(chunks));
    let encoded_index = index.encode();
    let mut plan = Plan {
        plan_hash: String::new(),
        plan_id: vre::sys::host::nonce(),
        format_version: FORMAT_VERSION,
        vre_version: env!("CARGO_PKG_VERSION").to_string(),
        ffmpeg_version: "none (claim benchmark)".to_string(),
        ffmpeg_configuration: String::new(),
        input: InputRecord {
            path: input.canonicalize().unwrap(),
            stamp: FileStamp::of(&meta),
            blake3: fsio::hash_file(&input).unwrap().1,
        },
        source: SourceFacts {
            video_stream: None,
            codec: "h264".to_string(),
            width: 1280,
            height: 720,
            frame_rate: rate,
            total_frames: u64::from(chunks),
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
            width: 1280,
            height: 720,
            frame_rate: rate,
            start_frame: 0,
            end_frame: u64::from(chunks),
            timecode: None,
        },
        normalize: None,
        video_filter: Some("hue=s=0".to_string()),
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
                keyint: 1,
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
            target_frames: 1,
            min_frames: None,
            max_frames: None,
        },
        audio: None,
        container: None,
        extra_audio: Vec::new(),
        notes: Vec::new(),
    };
    plan.plan_hash = compute_plan_hash(&plan, &list);
    let dir = PlanDir::new(root.join("job.vre"));
    dir.create_layout().unwrap();
    fsio::write_json_atomic(&dir.plan_path(), &plan).unwrap();
    fsio::write_json_atomic(&dir.chunks_path(), &list).unwrap();
    dir.write_index(&encoded_index).unwrap();
    dir
}

/// `--worker DIR`: one worker process; prints `claims seconds` on stdout.
fn worker_main(dir: &Path) {
    let options = WorkOptions {
        threads: Some(1),
        first_index: None,
        once: false,
        max_attempts: 3,
        retry_failed: false,
        space_check: false,
        trial: None,
        stall_timeout: StallTimeout::Off,
        check_ffmpeg: false,
    };
    let clock = Instant::now();
    let summary = scheduler::work_with(&PlanDir::new(dir), &options, &Silent, tiny_publish)
        .unwrap_or_else(|e| {
            eprintln!("claim_bench worker: {e}");
            std::process::exit(1)
        });
    println!(
        "{} {}",
        summary.rendered.len(),
        clock.elapsed().as_secs_f64()
    );
}

fn children_cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is valid for getrusage to overwrite, which writes only into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    [usage.ru_utime, usage.ru_stime]
        .iter()
        .map(|tv| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6)
        .sum()
}

/// Times `vre::inspect::status::status` (the library call behind `vre status`), best of three.
fn time_status(dir: &PlanDir) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut done = 0;
    for _ in 0..3 {
        let clock = Instant::now();
        let status = vre::inspect::status::status(dir).unwrap();
        best = best.min(clock.elapsed().as_secs_f64());
        done = status.done;
    }
    (best, done)
}

/// Times the `vre status` command itself (table on stdout, thrown away), if the vre binary sits
/// beside this example in target/…/.
fn time_status_command(dir: &PlanDir) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let vre = exe.parent()?.parent()?.join("vre");
    if !vre.is_file() {
        return None;
    }
    let clock = Instant::now();
    let ok = Command::new(vre)
        .arg("status")
        .arg(dir.root())
        .stdout(Stdio::null())
        .status()
        .ok()?
        .success();
    ok.then(|| clock.elapsed().as_secs_f64())
}

fn claims_main(chunks: u32, workers: u32, keep: bool) {
    let root = std::env::temp_dir().join(format!("vre-claim-bench-{}", fsio::unique_suffix()));
    fs::create_dir_all(&root).unwrap();
    let dir = build_plan_dir(&root, chunks);
    let (status_empty, _) = time_status(&dir);

    let exe = std::env::current_exe().unwrap();
    let cpu = children_cpu_seconds();
    let clock = Instant::now();
    let children: Vec<_> = (0..workers)
        .map(|_| {
            Command::new(&exe)
                .arg("--worker")
                .arg(dir.root())
                .stdout(Stdio::piped())
                .spawn()
                .expect("the worker starts")
        })
        .collect();
    let mut per_worker = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker failed: {}", out.status);
        let line = out.stdout.lines().next().unwrap().unwrap();
        let (claims, seconds) = line.split_once(' ').unwrap();
        per_worker.push((
            claims.parse::<u64>().unwrap(),
            seconds.parse::<f64>().unwrap(),
        ));
    }
    let wall = clock.elapsed().as_secs_f64();
    let cpu = children_cpu_seconds() - cpu;

    let claims: u64 = per_worker.iter().map(|(c, _)| c).sum();
    let loaded = dir.load().unwrap();
    let published = loaded
        .tasks()
        .into_iter()
        .filter(|&t| dir.is_done(&loaded, t))
        .count();
    assert_eq!(
        published as u64,
        u64::from(chunks),
        "every chunk is published"
    );
    assert_eq!(claims, u64::from(chunks), "and each exactly once");
    let worker_seconds: f64 = per_worker.iter().map(|(_, s)| s).sum();

    let (status_all, done_all) = time_status(&dir);
    let status_all_command = time_status_command(&dir);
    for task in loaded.tasks().into_iter().step_by(2) {
        dir.withdraw(&loaded.plan, task).unwrap();
    }
    let (status_half, done_half) = time_status(&dir);
    let status_half_command = time_status_command(&dir);

    let ms = |s: f64| s * 1e3;
    println!(
        "claim benchmark: {chunks} chunks, {workers} worker processes, one thread each, no ffmpeg"
    );
    println!(
        "claims per worker: {:?}",
        per_worker.iter().map(|(c, _)| *c).collect::<Vec<_>>()
    );
    println!("wall time:                     {wall:.3} s for {claims} claims");
    println!(
        "wall time per claim:           {:.3} ms  (claims/s: {:.0})",
        ms(wall / claims as f64),
        claims as f64 / wall
    );
    println!(
        "CPU per claim:                 {:.3} ms  (all worker processes, user + system)",
        ms(cpu / claims as f64)
    );
    println!(
        "worker time per claim:         {:.3} ms  (Σ worker wall / claims: what one claim costs the worker that makes it, {workers} processes sharing the cores)",
        ms(worker_seconds / claims as f64)
    );
    println!(
        "vre::inspect::status::status:           {:.1} ms none done, {:.1} ms {done_half} done, {:.1} ms all {done_all} done (best of 3)",
        ms(status_empty),
        ms(status_half),
        ms(status_all)
    );
    if let (Some(half), Some(all)) = (status_half_command, status_all_command) {
        println!(
            "`vre status` command:          {:.1} ms {done_half} done, {:.1} ms all done (process, table printed)",
            ms(half),
            ms(all)
        );
    }
    if keep {
        println!("planDir kept: {}", dir.root().display());
    } else {
        fs::remove_dir_all(&root).unwrap();
    }
}

fn hash_main(path: &Path, passes: u32) {
    let size = fs::metadata(path).unwrap().len();
    let mb = size as f64 / 1e6;
    println!(
        "hashing {} ({:.0} MB), {passes} passes each",
        path.display(),
        mb
    );
    for pass in 1..=passes {
        let clock = Instant::now();
        let (_, hash) = fsio::hash_file(path).unwrap();
        let seconds = clock.elapsed().as_secs_f64();
        println!(
            "pass {pass}: fsio::hash_file (mmap, all cores)   {seconds:.3} s  {:.0} MB/s  {}",
            mb / seconds,
            &hash[..16]
        );
        let clock = Instant::now();
        let mut hasher = blake3::Hasher::new();
        let mut file = fs::File::open(path).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let seconds = clock.elapsed().as_secs_f64();
        println!(
            "pass {pass}: read + blake3, one thread         {seconds:.3} s  {:.0} MB/s  {}",
            mb / seconds,
            &hasher.finalize().to_hex()[..16]
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(dir) = value("--worker") {
        return worker_main(&PathBuf::from(dir));
    }
    if let Some(file) = value("--hash") {
        let passes = value("--passes").map_or(3, |p| p.parse().expect("--passes N"));
        return hash_main(Path::new(&file), passes);
    }
    let chunks = value("--chunks").map_or(10_000, |c| c.parse().expect("--chunks N"));
    let workers = value("--workers").map_or(8, |w| w.parse().expect("--workers N"));
    let flag = |name: &str| args.iter().any(|a| a == name);
    claims_main(chunks, workers, flag("--keep"));
}
