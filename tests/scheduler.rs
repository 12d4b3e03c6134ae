//! What schedulers rely on: array indices, one task per run, waiting assembly.

mod common;

use common::*;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

fn planned(dir: &Path, chunks: &str, audio: bool) -> std::path::PathBuf {
    let input = dir.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 2.0,
            audio,
            ..VideoSpec::default()
        },
    );
    let plan_dir = dir.join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", chunks]);
    plan_dir
}

#[test]
fn once_with_an_index_renders_that_chunk_or_another_free_one() {
    let tmp = temp_dir();
    let plan_dir = planned(tmp.path(), "5", false);
    let first = vre_ok(args!["work", plan_dir, "--once", "--index", "3", "--json"]);
    assert_eq!(published(&first.stdout), vec!["chunk:3"]);

    let dir = vre::plandir::layout::PlanDir::new(&plan_dir);
    let held = vre::plandir::claim::try_claim(&dir, vre::plandir::schema::TaskId::Chunk(4))
        .unwrap()
        .unwrap();
    let second = vre_ok(args!["work", plan_dir, "--once", "--index", "4", "--json"]);
    assert_eq!(
        published(&second.stdout),
        vec!["chunk:0"],
        "chunk 4 is taken: the next free one"
    );
    drop(held);

    let from_env = vre()
        .args(args!["work", plan_dir, "--once", "--json"])
        .env("SLURM_ARRAY_TASK_ID", "2")
        .output()
        .unwrap();
    assert!(from_env.status.success());
    assert_eq!(
        published(&from_env.stdout),
        vec!["chunk:2"],
        "index from SLURM_ARRAY_TASK_ID"
    );

    vre_ok(args!["work", plan_dir, "-q"]);
    let started = Instant::now();
    let idle = vre_ok(args!["work", plan_dir, "--once", "--index", "1", "--json"]);
    assert!(published(&idle.stdout).is_empty());
    assert!(
        started.elapsed().as_secs_f64() < 2.0,
        "all done: exits at once"
    );
}

#[test]
fn assemble_wait_returns_as_soon_as_the_last_chunk_is_published() {
    let tmp = temp_dir();
    let plan_dir = planned(tmp.path(), "4", true);
    let out = tmp.path().join("out.mp4");
    let waiting = vre()
        .args(args![
            "assemble",
            plan_dir,
            "-o",
            out,
            "--wait",
            "--timeout",
            "120"
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    vre_ok(args!["work", plan_dir, "-q"]);
    let finished = waiting.wait_with_output().unwrap();
    let exited_at = vre::sys::fsio::unix_now();
    assert!(finished.status.success(), "{}", stderr(&finished));
    let last_publication = chunk_files(&plan_dir)
        .iter()
        .map(|f| {
            read_json(&f.with_extension("json"))["finished_at"]
                .as_f64()
                .unwrap()
        })
        .fold(0.0, f64::max);
    assert!(
        exited_at - last_publication < 3.0,
        "assembled {:.2} s after the last chunk",
        exited_at - last_publication
    );
    assert_eq!(
        num(&stream(&out, "video").unwrap(), "nb_read_packets"),
        60.0
    );

    let second = tmp.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let empty = planned(&second, "2", false);
    let gave_up = run_vre(args![
        "assemble",
        empty,
        "-o",
        tmp.path().join("x.mp4"),
        "--wait",
        "--timeout",
        "0.5"
    ]);
    assert_eq!(gave_up.status.code(), Some(75), "{}", stderr(&gave_up));
}

#[test]
fn once_also_takes_the_audio_while_nobody_has() {
    let tmp = temp_dir();
    let plan_dir = planned(tmp.path(), "4", true);
    let first = vre_ok(args!["work", plan_dir, "--once", "--index", "2", "--json"]);
    let mut first = published(&first.stdout);
    first.sort();
    assert_eq!(
        first,
        vec!["audio:null", "chunk:2"],
        "the audio renders beside the chunk"
    );
    let second = vre_ok(args!["work", plan_dir, "--once", "--index", "3", "--json"]);
    assert_eq!(
        published(&second.stdout),
        vec!["chunk:3"],
        "the audio is done: just the chunk"
    );
}

#[test]
fn assemble_wait_timeout_counts_only_the_tasks_still_unfinished() {
    let tmp = temp_dir();
    let plan_dir = planned(tmp.path(), "4", true);
    // Chunk 2 and the audio are done; chunks 0, 1 and 3 are not: tasks after the first
    // unfinished one are done too.
    vre_ok(args!["work", plan_dir, "--once", "--index", "2", "-q"]);
    let status: serde_json::Value =
        serde_json::from_slice(&vre_ok(args!["status", plan_dir, "--json"]).stdout).unwrap();
    let unfinished = status["total"].as_u64().unwrap() - status["done"].as_u64().unwrap();
    assert_eq!(unfinished, 3);
    let gave_up = run_vre(args![
        "assemble",
        plan_dir,
        "-o",
        tmp.path().join("out.mp4"),
        "--wait",
        "--timeout",
        "0.2"
    ]);
    let message = stderr(&gave_up);
    assert_eq!(gave_up.status.code(), Some(75), "{message}");
    assert!(
        message.contains(&format!("still has {unfinished} unfinished task(s)")),
        "{message}"
    );
}
