//! `vre doctor`: the filesystem checks on a real planDir and on a plain directory, and the
//! cross-host probe (`--hold` on one side, a plain run on the other) with real processes.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The report line that starts with `label:`.
fn line<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(&format!("{label}:")))
        .unwrap_or_else(|| panic!("no {label} line in:\n{report}"))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn on_a_local_plan_dir_locks_work_and_the_filesystem_and_free_space_are_reported() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        audio: false,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--chunks", "2"]);
    let locks_before = files_in(&plan_dir.join("locks"));

    let started = Instant::now();
    let out = vre_ok(args!["doctor", plan_dir]);
    let report = stdout(&out);
    println!("{report}");
    assert!(line(&report, "directory").contains("(a planDir)"));
    assert!(
        line(&report, "locks").contains("ok: a second process could not take a lock"),
        "{report}"
    );
    let fs = line(&report, "filesystem");
    assert!(
        !fs.contains("unknown") && fs.contains("mounted at /"),
        "{fs}"
    );
    assert!(line(&report, "free space").ends_with("iB"), "{report}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "two small processes, not a wait"
    );
    assert_eq!(
        files_in(&plan_dir.join("locks")),
        locks_before,
        "no scratch lock file is left behind"
    );
    vre_ok(args!["work", plan_dir, "-q"]);
}

#[test]
fn on_a_directory_that_is_not_a_plan_dir_it_checks_the_filesystem_that_would_hold_one() {
    let tmp = temp_dir();
    let out = vre_ok(args!["doctor", tmp.path()]);
    let report = stdout(&out);
    assert!(
        line(&report, "directory").contains("not a planDir"),
        "{report}"
    );
    assert!(line(&report, "locks").contains("ok"), "{report}");
    assert!(
        files_in(tmp.path()).is_empty(),
        "leaves the directory as it found it"
    );

    let missing = run_vre(args!["doctor", tmp.path().join("absent")]);
    assert_eq!(missing.status.code(), Some(66), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("is not a directory"));
    let bad = run_vre(args!["doctor", tmp.path(), "--hold", "-1"]);
    assert_eq!(bad.status.code(), Some(64));
}

#[test]
fn a_hold_on_one_side_is_seen_by_the_other_and_taking_a_held_lock_is_reported_as_broken() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let mut holder = vre()
        .args(args!["doctor", dir, "--hold", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let holding = loop {
        let l = lines.next().expect("the holder runs").unwrap();
        if l.starts_with("holding:") {
            break l;
        }
    };
    assert!(holding.contains(".vre-doctor.lock"), "{holding}");

    let other = vre_ok(args!["doctor", dir]);
    let seen = line(&stdout(&other), "across hosts").to_string();
    assert!(
        seen.contains(&format!("pid {}", holder.id())) && seen.contains("this host"),
        "{seen}"
    );
    let second = run_vre(args!["doctor", dir, "--hold", "5"]);
    assert_eq!(second.status.code(), Some(75), "{}", stderr(&second));
    assert!(stderr(&second).contains("already held"));

    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    assert_eq!(holder.wait().unwrap().code(), Some(130), "interrupted");
    let after = vre_ok(args!["doctor", dir]);
    assert!(line(&stdout(&after), "across hosts").contains("not checked"));

    // A lock held by a process that wrote no record (this test) still excludes the doctor.
    let lock_path = dir.join(".vre-doctor.lock");
    let held = vre::plandir::claim::try_lock_file(&lock_path)
        .unwrap()
        .unwrap();
    let anonymous = vre_ok(args!["doctor", dir]);
    assert!(line(&stdout(&anonymous), "across hosts").contains("did not say who"));
    drop(held);

    // What a filesystem whose locks stay on one host looks like from the second host: the record
    // says another host holds the lock, yet it can be taken.
    let until = vre::sys::fsio::unix_now() + 60.0;
    std::fs::write(
        &lock_path,
        format!(r#"{{"host":"elsewhere.example","pid":4242,"until":{until}}}"#),
    )
    .unwrap();
    let broken = run_vre(args!["doctor", dir]);
    assert_eq!(broken.status.code(), Some(69), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains("do not exclude across hosts")
            && stderr(&broken).contains("elsewhere.example"),
        "{}",
        stderr(&broken)
    );
    let expired = vre::sys::fsio::unix_now() - 1.0;
    std::fs::write(
        &lock_path,
        format!(r#"{{"host":"elsewhere.example","pid":4242,"until":{expired}}}"#),
    )
    .unwrap();
    vre_ok(args!["doctor", dir]);
}
