//! The README's exit-code table is the contract schedulers act on: its rows must be exactly
//! `vre::exit::Code::ALL` (number, name, order, and "retry?" matching `is_retryable`), and each
//! code is produced here by a real scenario with the real binary.
//!
//! Exempt: 1 (failure) stands for a bug or an error vre could not classify; there is no honest
//! way to provoke one from outside. Every other code has a scenario below.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use vre::exit::Code;

/// Codes no scenario can produce honestly (see the module comment).
const EXEMPT: [Code; 1] = [Code::Failure];

/// One row of the README's table.
#[derive(Debug)]
struct Row {
    number: i32,
    name: String,
    retry: String,
}

/// The rows of the first table under `## Exit codes`.
fn readme_rows() -> Vec<Row> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Exit codes"))
        .expect("a `## Exit codes` section");
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let table: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .collect();
    assert!(
        table.len() > 2,
        "a table with a header, a separator and rows"
    );
    assert_eq!(
        cells(table[0])[..2],
        ["code", "name"],
        "header: {}",
        table[0]
    );
    let retry_column = cells(table[0])
        .iter()
        .position(|c| c.starts_with("retry"))
        .expect("a retry? column");
    table[2..]
        .iter()
        .map(|line| {
            let c = cells(line);
            Row {
                number: c[0].parse().unwrap_or_else(|_| panic!("a code: {line}")),
                name: c[1].clone(),
                retry: c[retry_column].clone(),
            }
        })
        .collect()
}

#[test]
fn the_readme_table_lists_exactly_the_codes_of_the_binary_in_order() {
    let rows = readme_rows();
    let table: Vec<(i32, &str)> = rows.iter().map(|r| (r.number, r.name.as_str())).collect();
    let code: Vec<(i32, &str)> = Code::ALL.iter().map(|c| (c.number(), c.name())).collect();
    assert_eq!(table, code, "README rows vs vre::exit::Code::ALL");
    for (row, code) in rows.iter().zip(Code::ALL) {
        assert_eq!(
            row.retry == "yes",
            code.is_retryable(),
            "retry? of {} says {:?}",
            row.number,
            row.retry
        );
    }
    // `vre --help` ends with the same codes in short.
    let help = String::from_utf8_lossy(&vre_ok(["--help"]).stdout).into_owned();
    let listed = help
        .split("Exit codes:")
        .nth(1)
        .expect("--help lists the exit codes");
    let numbers: Vec<i32> = listed
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let documented: Vec<i32> = Code::ALL
        .iter()
        .filter(|c| **c != Code::Failure)
        .map(|c| c.number())
        .collect();
    assert_eq!(numbers, documented, "--help: {listed}");
}

fn code_of(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Starts `vre work` with JSON events and waits until it has claimed a task and started its
/// ffmpeg; returns the running worker.
fn working(plan_dir: &Path) -> std::process::Child {
    let mut worker = vre()
        .args(args!["work", plan_dir, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(worker.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the worker runs").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "claimed" {
            break;
        }
    }
    assert!(
        !wait_for_children(worker.id()).is_empty(),
        "its ffmpeg runs"
    );
    // Keep draining its events so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    worker
}

#[test]
fn every_code_in_the_table_is_produced_by_a_real_scenario() {
    let started = Instant::now();
    let tmp = temp_dir();
    let t = tmp.path();
    let input = t.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 1.0,
            audio: false,
            ..VideoSpec::default()
        },
    );
    let text = t.join("notes.txt");
    std::fs::write(&text, "this is not a video\n").unwrap();
    let a_file = t.join("a-file");
    std::fs::write(&a_file, "x").unwrap();
    let empty_path = t.join("empty-path");
    std::fs::create_dir(&empty_path).unwrap();

    let mut produced: BTreeMap<i32, (String, Option<i32>, String)> = BTreeMap::new();
    let mut record = |code: Code, scenario: &str, out: &Output| {
        produced.insert(
            code.number(),
            (scenario.to_string(), code_of(out), stderr(out)),
        );
    };

    // 0: a plan rendered completely.
    let done = t.join("done.vre");
    vre_plan(&input, &done, args!["--chunks", "2"]);
    record(
        Code::Success,
        "vre work renders every chunk",
        &run_vre(args!["work", done, "-q"]),
    );
    // 64: a flag `vre work` does not have.
    record(
        Code::Usage,
        "vre work --bogus",
        &run_vre(args!["work", done, "--bogus"]),
    );
    // 65: a text file as the input.
    let new_dir = t.join("new.vre");
    record(
        Code::DataErr,
        "vre plan on a text file",
        &run_vre(args!["plan", text, "-o", new_dir]),
    );
    // 66: an input that does not exist.
    record(
        Code::NoInput,
        "vre plan on a missing file",
        &run_vre(args!["plan", t.join("nope.mp4"), "-o", new_dir]),
    );
    // 69: no ffmpeg on PATH.
    record(
        Code::Unavailable,
        "vre plan without ffmpeg on PATH",
        &vre()
            .args(args!["plan", input, "-o", new_dir])
            .env("PATH", &empty_path)
            .output()
            .unwrap(),
    );
    // 73: the planDir's parent is a regular file.
    record(
        Code::CantCreate,
        "vre plan -o under a regular file",
        &run_vre(args!["plan", input, "-o", a_file.join("job.vre")]),
    );
    // 74: reading a planDir file fails (plan.json is a directory: read(2) says EISDIR). Root
    // ignores permission bits, so a mode-000 file would not fail here.
    let unreadable = t.join("unreadable.vre");
    vre_plan(&input, &unreadable, args!["--chunks", "2"]);
    std::fs::remove_file(unreadable.join("plan.json")).unwrap();
    std::fs::create_dir(unreadable.join("plan.json")).unwrap();
    record(
        Code::IoErr,
        "vre status when plan.json cannot be read",
        &run_vre(args!["status", unreadable]),
    );
    // 75: assembling before the chunks are rendered.
    let pending = t.join("pending.vre");
    vre_plan(&input, &pending, args!["--chunks", "2"]);
    record(
        Code::TempFail,
        "vre assemble before vre work",
        &run_vre(args!["assemble", pending, "-o", t.join("out.mp4")]),
    );
    // 80: a filter that passes the one-frame trial at plan time, then changes the frame size at
    // frame 5: every attempt fails mid-stream.
    let failing = t.join("failing.vre");
    vre_plan(
        &input,
        &failing,
        args![
            "--chunks",
            "1",
            "--vf",
            "scale=w='if(gte(n,5),160,320)':h=240:eval=frame"
        ],
    );
    record(
        Code::ChunksFailed,
        "vre work on a chunk that fails every attempt",
        &run_vre(args!["work", failing, "--max-attempts", "2"]),
    );
    // The same through `vre run` on a new planDir, where the trial runs only once a chunk has
    // failed: it passes, so the failures are the chunk's and count as attempts.
    let run_out = t.join("failing-run.mp4");
    let failed_run = run_vre(args![
        "run",
        input,
        "-o",
        run_out,
        "--chunks",
        "1",
        "--max-attempts",
        "2",
        "--vf",
        "scale=w='if(gte(n,5),160,320)':h=240:eval=frame"
    ]);
    let attempts = t.join("failing-run.mp4.vre/attempts/chunk-000000.json");
    assert_eq!(
        read_json(&attempts)["failures"].as_array().map(Vec::len),
        Some(2),
        "both attempts recorded: {}",
        stderr(&failed_run)
    );
    assert_eq!(
        failed_run.status.code(),
        Some(Code::ChunksFailed.number()),
        "vre run on a new planDir whose chunk fails every attempt"
    );
    // 130: SIGTERM to a worker while its ffmpeg renders (a slow filter keeps it busy).
    let slow = t.join("slow.vre");
    vre_plan(
        &input,
        &slow,
        args!["--chunks", "1", "--vf", "nlmeans=s=2", "--threads", "1"],
    );
    let worker = working(&slow);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(worker.id() as i32, libc::SIGTERM) };
    record(
        Code::Interrupted,
        "SIGTERM to a running vre work",
        &worker.wait_with_output().unwrap(),
    );

    let mut failures = Vec::new();
    for code in Code::ALL {
        match produced.get(&code.number()) {
            Some((scenario, got, err)) => {
                println!("{code}: {scenario}: exit {got:?}");
                if *got != Some(code.number()) {
                    failures.push(format!("{code}: {scenario} exited {got:?}: {}", err.trim()));
                }
            }
            None if EXEMPT.contains(&code) => println!("{code}: exempt (no honest scenario)"),
            None => failures.push(format!("{code}: no scenario produces it")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
}
