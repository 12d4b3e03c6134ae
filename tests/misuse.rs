//! Bad input and misuse: each gets its documented exit code and one sentence naming the
//! problem; nothing panics and nothing partial is left at a destination.

mod common;

use common::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

struct Case {
    name: &'static str,
    args: Vec<OsString>,
    /// Run with a PATH that has no ffmpeg.
    no_ffmpeg: bool,
    code: i32,
    needle: String,
    /// Must not exist afterwards.
    absent: Option<PathBuf>,
}

fn case(name: &'static str, args: Vec<OsString>, code: i32, needle: impl Into<String>) -> Case {
    Case {
        name,
        args,
        no_ffmpeg: false,
        code,
        needle: needle.into(),
        absent: None,
    }
}

/// A rendered planDir copied to a fresh name, for a case to damage.
fn copy_dir(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
    to.to_path_buf()
}

fn edit_file(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has {from}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn bad_inputs_and_misuses_get_their_documented_codes_and_a_clear_sentence() {
    let tmp = temp_dir();
    let t = tmp.path();
    let input = t.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 2.0,
            ..VideoSpec::default()
        },
    );
    let text = t.join("notes.txt");
    std::fs::write(&text, "this is not a video\n").unwrap();
    let audio_only = t.join("tone.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        audio_only.to_str().unwrap(),
    ]);
    let truncated = t.join("truncated.mp4");
    let bytes = std::fs::read(&input).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let a_file = t.join("a-file");
    std::fs::write(&a_file, "x").unwrap();
    // Linked before planning: a new link changes the input's status-change time, and workers
    // and assembly refuse an input changed since it was planned.
    let linked_input = t.join("linked.mp4");
    std::fs::hard_link(&input, &linked_input).unwrap();

    let done = t.join("done.vre");
    vre_plan(&input, &done, args!["--chunks", "2"]);
    vre_ok(args!["work", done, "-q"]);
    let other = t.join("other.vre");
    vre_plan(&input, &other, args!["--chunks", "2", "--crf", "30"]);
    vre_ok(args!["work", other, "-q"]);
    let pending = t.join("pending.vre");
    vre_plan(&input, &pending, args!["--chunks", "2"]);

    let truncated_plan = copy_dir(&done, &t.join("truncated-plan.vre"));
    let plan_json = std::fs::read(done.join("plan.json")).unwrap();
    std::fs::write(
        truncated_plan.join("plan.json"),
        &plan_json[..plan_json.len() / 2],
    )
    .unwrap();
    let edited_plan = copy_dir(&done, &t.join("edited-plan.vre"));
    edit_file(
        &edited_plan.join("plan.json"),
        "\"preset\": \"veryfast\"",
        "\"preset\": \"slow\"",
    );
    let edited_chunks = copy_dir(&done, &t.join("edited-chunks.vre"));
    edit_file(
        &edited_chunks.join("chunks.json"),
        "\"start_frame\": 0",
        "\"start_frame\": 1",
    );
    let future = copy_dir(&done, &t.join("future.vre"));
    edit_file(
        &future.join("plan.json"),
        "\"format_version\": 3",
        "\"format_version\": 9",
    );
    // A tamperer who also recomputes the plan hash still cannot point vre at a relative path.
    let traversal = copy_dir(&done, &t.join("traversal.vre"));
    let mut plan: vre::plandir::schema::Plan = serde_json::from_slice(&plan_json).unwrap();
    let chunks: Vec<vre::plandir::schema::Chunk> =
        serde_json::from_slice(&std::fs::read(done.join("chunks.json")).unwrap()).unwrap();
    plan.input.path = PathBuf::from("../../../../etc/passwd");
    plan.plan_hash = vre::plandir::hash::compute_plan_hash(&plan, &chunks);
    std::fs::write(
        traversal.join("plan.json"),
        serde_json::to_vec(&plan).unwrap(),
    )
    .unwrap();
    let foreign = copy_dir(&done, &t.join("foreign.vre"));
    std::fs::copy(
        other.join("chunks/chunk-000001.json"),
        foreign.join("chunks/chunk-000001.json"),
    )
    .unwrap();
    let changed_input = t.join("changed.mp4");
    std::fs::copy(&input, &changed_input).unwrap();
    let changed = t.join("changed.vre");
    vre_plan(&changed_input, &changed, args!["--chunks", "2"]);
    std::fs::write(&changed_input, &bytes[..bytes.len() - 10]).unwrap();

    let new_dir = t.join("new.vre");
    let out = t.join("out.mp4");
    let mut cases = vec![
        case(
            "missing input",
            args!["plan", t.join("nope.mp4"), "-o", new_dir],
            66,
            "does not exist",
        ),
        case(
            "text file as input",
            args!["plan", text, "-o", new_dir],
            65,
            "not a media file",
        ),
        case(
            "audio-only input",
            args!["plan", audio_only, "-o", new_dir],
            65,
            "no video stream",
        ),
        case(
            "truncated input",
            args!["plan", truncated, "-o", new_dir],
            65,
            "not a media file",
        ),
        case(
            "directory as input",
            args!["plan", t, "-o", new_dir],
            65,
            "is a directory; pass a video file",
        ),
        case(
            "bad filter",
            args!["plan", input, "-o", new_dir, "--vf", "nosuchfilter"],
            64,
            "nosuchfilter",
        ),
        case(
            "bad codec",
            args!["plan", input, "-o", new_dir, "--codec", "h266"],
            64,
            "--codec",
        ),
        case(
            "bad preset",
            args!["plan", input, "-o", new_dir, "--preset", "warp"],
            64,
            "--preset",
        ),
        case(
            "bad crf",
            args!["plan", input, "-o", new_dir, "--crf", "99"],
            64,
            "--crf",
        ),
        case(
            "zero chunks",
            args!["plan", input, "-o", new_dir, "--chunks", "0"],
            64,
            "--chunks",
        ),
        case(
            "range outside the input",
            args!["plan", input, "-o", new_dir, "--range", "0:5000"],
            64,
            "outside the input",
        ),
        case(
            "inverted range",
            args!["plan", input, "-o", new_dir, "--range", "2s:1s"],
            64,
            "not after its start",
        ),
        case(
            "a time that is not one",
            args![
                "plan",
                input,
                "-o",
                new_dir,
                "--range",
                "00:01:75..00:02:00"
            ],
            64,
            "[HH:]MM:SS",
        ),
        case(
            "malformed range",
            args!["plan", input, "-o", new_dir, "--range", "ten"],
            64,
            "START:END",
        ),
        case(
            "conflicting chunk options",
            args![
                "plan",
                input,
                "-o",
                new_dir,
                "--chunks",
                "2",
                "--chunk-frames",
                "9"
            ],
            64,
            "cannot be used with",
        ),
        case(
            "unknown flag",
            args!["plan", input, "-o", new_dir, "--bogus"],
            64,
            "--bogus",
        ),
        case(
            "bad audio spec",
            args![
                "plan",
                input,
                "-o",
                new_dir,
                "--audio",
                "file=x.wav,rate=-1"
            ],
            64,
            "'rate=-1'",
        ),
        case(
            "planDir cannot be created",
            args!["plan", input, "-o", a_file.join("job.vre")],
            73,
            "cannot write",
        ),
        case(
            "no planDir",
            args!["work", t.join("absent.vre")],
            66,
            "not a planDir",
        ),
        case(
            "plan.json truncated",
            args!["work", truncated_plan],
            65,
            "damaged",
        ),
        case("plan.json edited", args!["work", edited_plan], 65, "edited"),
        case(
            "chunks.json edited",
            args!["work", edited_chunks],
            65,
            "edited",
        ),
        case(
            "plan from a future vre",
            args!["work", future],
            65,
            "format 9",
        ),
        case(
            "path traversal in plan.json",
            args!["work", traversal],
            65,
            "not absolute",
        ),
        case(
            "input changed after planning",
            args!["work", changed],
            65,
            "changed since it was planned",
        ),
        case(
            "sidecar of another plan",
            args!["assemble", foreign, "-o", out],
            65,
            "another plan",
        ),
        case(
            "assembling unfinished work",
            args!["assemble", pending, "-o", out],
            75,
            "not rendered yet",
        ),
        case(
            "output directory missing",
            args!["assemble", done, "-o", t.join("no/such/dir/out.mp4")],
            73,
            "does not exist",
        ),
        case(
            "output extension contradicts the plan",
            args!["assemble", done, "-o", t.join("out.mkv")],
            64,
            ".mkv",
        ),
        case(
            "output is a directory",
            args!["assemble", done, "-o", t],
            73,
            "is a directory",
        ),
        case(
            "a different plan in the planDir",
            args!["plan", input, "-o", done, "--crf", "40"],
            73,
            "different plan",
        ),
    ];
    // `vre run` on a new planDir tries the settings alongside the first chunks: a rejected
    // plan still gets the plan's code and leaves neither a planDir nor an output.
    let rejected = t.join("rejected.mp4");
    cases.push(Case {
        absent: Some(t.join("rejected.mp4.vre")),
        ..case(
            "bad filter in vre run",
            args![
                "run",
                input,
                "-o",
                rejected,
                "--vf",
                "nosuchfilter",
                "-j",
                "2"
            ],
            64,
            "nosuchfilter",
        )
    });
    // Writing the output over the input (or through a hard link to it) would destroy it.
    cases.push(Case {
        absent: Some(t.join("in.mp4.vre")),
        ..case(
            "OUT is the input in vre run",
            args!["run", input, "-o", input, "-j", "2"],
            64,
            "is this plan's input",
        )
    });
    cases.push(case(
        "OUT is a hard link to the input in vre assemble",
        args!["assemble", done, "-o", linked_input],
        64,
        "is this plan's input",
    ));
    cases.push(case(
        "PNG OUT directory holds the input",
        args!["run", input, "-o", t, "--format", "png"],
        64,
        "holds this plan's input",
    ));
    cases.push(Case {
        no_ffmpeg: true,
        ..case(
            "ffmpeg not installed",
            args!["plan", input, "-o", new_dir],
            69,
            "not installed",
        )
    });
    for c in &mut cases {
        if c.args[0] == "plan" && c.code != 73 {
            c.absent = Some(new_dir.clone());
        }
        if c.args[0] == "assemble" {
            c.absent = Some(out.clone());
        }
    }
    assert!(cases.len() >= 20);

    let mut failures = Vec::new();
    for c in &cases {
        let mut cmd = vre();
        cmd.args(&c.args);
        if c.no_ffmpeg {
            cmd.env("PATH", t.join("empty-path"));
        }
        let result = cmd.output().unwrap();
        let err = stderr(&result);
        let mut problems = Vec::new();
        if result.status.code() != Some(c.code) {
            problems.push(format!(
                "exit {:?}, expected {}",
                result.status.code(),
                c.code
            ));
        }
        if !err.contains(&c.needle) {
            problems.push(format!("message lacks {:?}", c.needle));
        }
        if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
            problems.push("panicked".to_string());
        }
        if c.code != 64 && err.trim().lines().count() != 1 {
            problems.push("not one line".to_string());
        }
        if let Some(path) = &c.absent {
            if path.exists() {
                problems.push(format!("{} was created", path.display()));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    stderr: {}",
                c.name,
                problems.join("; "),
                err.trim()
            ));
        }
    }
    assert_eq!(
        std::fs::read(&input).unwrap(),
        bytes,
        "the input is untouched"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn paths_with_spaces_quotes_unicode_and_leading_dashes_work_everywhere() {
    let tmp = temp_dir();
    let dir = tmp.path().join("a dir 'with' ünïcode");
    std::fs::create_dir(&dir).unwrap();
    let input = dir.join("-it's a 'clip' ü.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 2.0,
            ..VideoSpec::default()
        },
    );
    let plan_dir = dir.join("-job 'ü'.vre");
    let out = dir.join("-out 'ü' $HOME.mp4");
    // Arguments that start with a dash follow `--`, as for any command-line tool.
    vre_ok(args![
        "plan", "-o", plan_dir, "--chunks", "3", "--crf", "0", "--", input
    ]);
    vre_ok(args!["work", "-j", "2", "-q", "--", plan_dir]);
    vre_ok(args!["assemble", "-o", out, "--", plan_dir]);
    assert_eq!(framemd5(&out, None), framemd5(&input, None));
    let run_out = dir.join("-run 'ü'.mp4");
    vre_ok(args!["run", "-o", run_out, "--chunks", "2", "--", input]);
    assert!(run_out.exists());
}

/// Runs a shell script in a private mount namespace where `$1` is a fresh 3 MiB tmpfs.
fn on_tiny_filesystem(script: &str, mount_point: &Path, extra: &[&Path]) -> std::process::Output {
    std::fs::create_dir_all(mount_point).unwrap();
    let full = format!("mount -t tmpfs -o size=3m tmpfs \"$1\" || exit 99\n{script}");
    let out = std::process::Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", &full, "sh"])
        .arg(mount_point)
        .args(extra)
        .env("VRE", env!("CARGO_BIN_EXE_vre"))
        .output()
        .expect("unshare (util-linux) runs");
    assert_ne!(
        out.status.code(),
        Some(99),
        "this test needs user and mount namespaces"
    );
    out
}

#[test]
fn work_and_assemble_refuse_up_front_when_the_result_cannot_fit() {
    let tmp = temp_dir();
    let input = tmp.path().join("in.mp4");
    let spec = VideoSpec {
        size: "640x360",
        seconds: 6.0,
        ..VideoSpec::default()
    };
    make_video(&input, &spec);
    let tiny = tmp.path().join("tiny");

    // Lossless 320x240 needs far more than 3 MiB: work refuses before rendering anything.
    let work = on_tiny_filesystem(
        r#"set -e
        "$VRE" plan "$2" -o "$1/job.vre" --crf 0 --chunks 3 -q
        "$VRE" work "$1/job.vre" && exit 0
        code=$?; ls "$1/job.vre/chunks"; exit $code"#,
        &tiny,
        &[&input],
    );
    let err = stderr(&work);
    assert_eq!(work.status.code(), Some(73), "{err}");
    assert!(
        err.contains("not enough free space for the remaining chunks"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&work.stdout).trim().is_empty(),
        "no chunk was rendered"
    );

    // Chunks rendered elsewhere; the output's filesystem is too small: assemble refuses.
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, args!["--crf", "0", "--chunks", "3"]);
    vre_ok(args!["work", plan_dir, "-q"]);
    let chunk_bytes: u64 = chunk_files(&plan_dir)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(
        chunk_bytes > 3 << 20,
        "the output really cannot fit: {chunk_bytes} bytes"
    );
    let assemble = on_tiny_filesystem(
        r#""$VRE" assemble "$2" -o "$1/out.mp4"; code=$?; ls -A "$1"; exit $code"#,
        &tiny,
        &[&plan_dir],
    );
    let err = stderr(&assemble);
    assert_eq!(assemble.status.code(), Some(73), "{err}");
    assert!(
        err.contains("not enough free space for the assembled output"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&assemble.stdout).trim().is_empty(),
        "nothing written"
    );
}
