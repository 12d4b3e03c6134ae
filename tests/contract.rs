//! The outside of vre does not change by accident: every verb's `--help`, the JSON Schemas of
//! the planDir files, and the shape (keys and value types) of every file a run writes are
//! compared with the snapshots in `tests/snapshots/`.
//!
//! A deliberate change of the interface regenerates them: `VRE_UPDATE_SNAPSHOTS=1 cargo test
//! --test contract`, then review the diff of `tests/snapshots/` like any other change.

mod common;

use clap::CommandFactory;
use common::*;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn snapshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// Compares `actual` with the stored snapshot `name`, or rewrites it when asked to.
fn assert_snapshot(name: &str, actual: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("VRE_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with VRE_UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    if expected != actual {
        let first_difference = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} changed (first difference at line {}):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display(),
            first_difference + 1
        );
    }
}

#[test]
fn help_of_every_verb_is_unchanged() {
    let mut verbs: Vec<String> = vre::cli::args::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    verbs.sort();
    assert!(verbs.len() >= 10, "{verbs:?}");
    let top = vre_ok(["--help"]);
    assert_snapshot("help/vre.txt", &String::from_utf8_lossy(&top.stdout));
    for verb in verbs {
        let out = vre_ok(["help", verb.as_str()]);
        assert_snapshot(
            &format!("help/{verb}.txt"),
            &String::from_utf8_lossy(&out.stdout),
        );
    }
}

#[test]
fn schemas_are_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut listing = String::new();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        writeln!(listing, "{}  {name}", blake3::hash(&bytes).to_hex()).unwrap();
    }
    assert_snapshot("schemas.b3", &listing);
}

/// Every JSON pointer in `value` with the type found there; arrays are described by their
/// first element, so the listing does not depend on how many chunks or tracks a run has.
fn shape(value: &Value, pointer: &str, out: &mut Vec<String>) {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    out.push(format!("{pointer} {kind}"));
    match value {
        Value::Array(items) => {
            if let Some(first) = items.first() {
                shape(first, &format!("{pointer}/0"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                shape(item, &format!("{pointer}/{key}"), out);
            }
        }
        _ => {}
    }
}

fn shape_of(path: &Path) -> String {
    let mut lines = Vec::new();
    shape(&read_json(path), "", &mut lines);
    lines.sort();
    lines.join("\n") + "\n"
}

#[test]
fn plan_dir_files_keep_their_shape() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    let out = tmp.path().join("out.mp4");
    vre_ok([
        "run".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--chunks".as_ref(),
        "2".as_ref(),
        "--plan-dir".as_ref(),
        plan_dir.as_os_str(),
        "--keep-temp".as_ref(),
        "-q".as_ref(),
    ]);
    for (snapshot, file) in [
        ("plan.shape", "plan.json"),
        ("chunks.shape", "chunks.json"),
        ("sidecar.shape", "chunks/chunk-000000.json"),
        ("audio-sidecar.shape", "audio/audio.json"),
        ("stages.shape", "stages.json"),
    ] {
        assert_snapshot(
            &format!("planDir/{snapshot}"),
            &shape_of(&plan_dir.join(file)),
        );
    }
    let mut layout: Vec<String> = walk(&plan_dir)
        .into_iter()
        .map(|p| {
            let relative = p
                .strip_prefix(&plan_dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            // Chunk numbers and host names vary; the kinds of file do not.
            relative
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect::<String>()
        })
        .collect();
    layout.sort();
    layout.dedup();
    assert_snapshot("planDir/layout.txt", &(layout.join("\n") + "\n"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.push(path.clone());
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
