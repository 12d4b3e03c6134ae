//! The examples for running on many machines, checked against the binary they drive:
//! examples/k8s/indexed-job.yaml (parsed: an Indexed Job whose failure policy maps exactly vre's
//! fatal exit codes to FailIndex, running real `vre work` flags on a mounted ReadWriteMany
//! volume), examples/parallel.sh and examples/slurm/*.sbatch (valid bash, real vre flags), and
//! parallel.sh run for real when GNU parallel is installed. tests/slurm.rs runs the sbatch
//! files on a real Slurm.

mod common;

use common::*;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use vre::exit::Code;

const VERBS: [&str; 7] = [
    "plan", "work", "assemble", "run", "verify", "status", "doctor",
];

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
}

/// Codes after which retrying the same command cannot help: the sysexits(3) codes (64–78)
/// that vre does not call retryable. (0 is success, 1 an unclassified failure, 80 has its own
/// rule, 130 an interruption.)
fn fatal_codes() -> BTreeSet<i64> {
    Code::ALL
        .iter()
        .filter(|c| !c.is_retryable() && (64..=78).contains(&c.number()))
        .map(|c| i64::from(c.number()))
        .collect()
}

fn retryable_codes() -> BTreeSet<i64> {
    Code::ALL
        .iter()
        .filter(|c| c.is_retryable())
        .map(|c| i64::from(c.number()))
        .collect()
}

/// `vre VERB --help`.
fn help(verb: &str) -> String {
    let out = vre_ok([verb, "--help"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How `--flag` appears in a help text: `None` when it does not; `Some(true)` when it takes a
/// value (`--flag <V>`).
fn flag_in_help(help: &str, flag: &str) -> Option<bool> {
    let bytes = help.as_bytes();
    help.match_indices(flag).find_map(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + flag.len()).copied();
        let starts = matches!(before, None | Some(b' ' | b',' | b'['));
        let ends = !matches!(after, Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        (starts && ends).then(|| {
            // `-o, --output <OUT>`: the value follows the long form.
            let mut rest = &help[at + flag.len()..];
            if let Some(long) = rest.strip_prefix(", -") {
                rest = long.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '-');
            }
            rest.starts_with(" <")
        })
    })
}

/// Checks a vre command line (without the program): a real verb, every flag known to that
/// verb, values after the flags that take them. Returns the positional arguments.
fn check_invocation(argv: &[String], context: &str) -> Vec<String> {
    let verb = argv.first().unwrap_or_else(|| panic!("{context}: no verb"));
    assert!(VERBS.contains(&verb.as_str()), "{context}: verb {verb}");
    let help = help(verb);
    let mut positional = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let arg = &argv[i];
        if arg.starts_with('-') && arg.len() > 1 {
            let flag = arg.split('=').next().unwrap();
            let takes_value = flag_in_help(&help, flag)
                .unwrap_or_else(|| panic!("{context}: `vre {verb}` has no flag {flag}:\n{help}"));
            if takes_value && !arg.contains('=') {
                assert!(i + 1 < argv.len(), "{context}: {flag} needs a value");
                i += 1;
            }
        } else {
            positional.push(arg.clone());
        }
        i += 1;
    }
    positional
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn codes_of(rule: &Value) -> BTreeSet<i64> {
    rule["onExitCodes"]["values"]
        .as_array()
        .map(|v| v.iter().map(|c| c.as_i64().unwrap()).collect())
        .unwrap_or_default()
}

/// Checks a Job's pod failure policy shape and returns its rules.
fn failure_rules<'a>(job: &'a Value, container: &str) -> &'a Vec<Value> {
    let rules = job["spec"]["podFailurePolicy"]["rules"]
        .as_array()
        .expect("a podFailurePolicy with rules");
    let known: BTreeSet<i64> = Code::ALL.iter().map(|c| i64::from(c.number())).collect();
    for rule in rules {
        let action = rule["action"].as_str().unwrap();
        assert!(
            ["FailJob", "FailIndex", "Ignore", "Count"].contains(&action),
            "{action}"
        );
        assert!(
            rule["onExitCodes"].is_object() != rule["onPodConditions"].is_array(),
            "a rule has exactly one of onExitCodes and onPodConditions: {rule}"
        );
        if rule["onExitCodes"].is_object() {
            assert_eq!(rule["onExitCodes"]["operator"], "In", "{rule}");
            assert_eq!(rule["onExitCodes"]["containerName"], container, "{rule}");
            let codes = codes_of(rule);
            assert!(
                !codes.is_empty() && codes.is_subset(&known),
                "{rule}: vre's codes only"
            );
        }
    }
    rules
}

/// The container, its vre argv (after `vre`), and the path the planDir volume is mounted at.
fn vre_container(job: &Value, claim: &str) -> (String, Vec<String>, String) {
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(
        pod["restartPolicy"], "Never",
        "podFailurePolicy requires it"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let command: Vec<String> = container["command"]
        .as_array()
        .expect("an explicit command")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command[0], "vre", "{command:?}");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["persistentVolumeClaim"]["claimName"] == claim)
        .expect("a volume from the shared claim");
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume["name"])
        .expect("the shared volume is mounted");
    (
        container["name"].as_str().unwrap().to_string(),
        command[1..].to_vec(),
        mount["mountPath"].as_str().unwrap().to_string(),
    )
}

#[test]
fn the_kubernetes_indexed_job_maps_vre_exit_codes_and_runs_real_vre_commands() {
    let docs = yaml_documents(&example("k8s/indexed-job.yaml"));
    let claim = docs
        .iter()
        .find(|d| d["kind"] == "PersistentVolumeClaim")
        .expect("a PersistentVolumeClaim");
    assert!(
        claim["spec"]["accessModes"]
            .as_array()
            .unwrap()
            .contains(&Value::from("ReadWriteMany")),
        "shared by pods on many nodes"
    );
    let claim_name = claim["metadata"]["name"].as_str().unwrap();
    let jobs: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Job").collect();
    assert!(jobs.iter().all(|j| j["apiVersion"] == "batch/v1"));

    // The render Job.
    let render = jobs
        .iter()
        .find(|j| j["spec"]["completionMode"] == "Indexed")
        .expect("an Indexed Job");
    let spec = &render["spec"];
    let completions = spec["completions"].as_u64().expect("completions");
    let parallelism = spec["parallelism"].as_u64().expect("parallelism");
    assert!(completions >= 1 && (1..=completions).contains(&parallelism));
    assert!(
        spec["backoffLimitPerIndex"]
            .as_u64()
            .expect("backoffLimitPerIndex")
            >= 1,
        "retryable failures are retried per index"
    );
    let (container, argv, mount) = vre_container(render, claim_name);
    assert_eq!(argv[0], "work", "{argv:?}");
    let positional = check_invocation(&argv, "k8s render Job");
    assert_eq!(positional.len(), 1, "one planDir: {argv:?}");
    let plan_dir = &positional[0];
    assert!(
        Path::new(plan_dir).starts_with(&mount),
        "the planDir {plan_dir} is on the shared volume at {mount}"
    );
    assert!(
        !argv.iter().any(|a| a == "--index"),
        "the index comes from JOB_COMPLETION_INDEX"
    );

    let rules = failure_rules(render, &container);
    let fail_index: Vec<BTreeSet<i64>> = rules
        .iter()
        .filter(|r| r["action"] == "FailIndex" && r["onExitCodes"].is_object())
        .map(codes_of)
        .collect();
    assert!(
        fail_index.contains(&fatal_codes()),
        "a FailIndex rule lists exactly vre's fatal codes {:?}; found {fail_index:?}",
        fatal_codes()
    );
    let chunks_failed = i64::from(Code::ChunksFailed.number());
    assert!(
        fail_index.iter().any(|c| c.contains(&chunks_failed)),
        "a pod that exits 80 would exit 80 again: its index fails"
    );
    let retryable = retryable_codes();
    for rule in rules {
        let codes = codes_of(rule);
        match rule["action"].as_str().unwrap() {
            "FailIndex" | "FailJob" => assert!(
                codes.is_disjoint(&retryable),
                "retryable codes are retried, not failed: {rule}"
            ),
            "Ignore" => assert!(
                codes.is_subset(&retryable),
                "only retryable codes may be ignored: {rule}"
            ),
            _ => {}
        }
    }
    let interrupted = i64::from(Code::Interrupted.number());
    assert!(
        rules
            .iter()
            .any(|r| r["action"] == "Ignore" && codes_of(r).contains(&interrupted)),
        "a worker stopped by SIGTERM (130) is not a failure"
    );
    assert!(
        rules
            .iter()
            .any(|r| r["action"] == "Ignore"
                && r["onPodConditions"][0]["type"] == "DisruptionTarget"),
        "evictions and preemptions are not failures"
    );

    // The assemble Job.
    let assemble = jobs
        .iter()
        .find(|j| j["spec"]["completionMode"] != "Indexed")
        .expect("an assemble Job");
    let (container, argv, mount) = vre_container(assemble, claim_name);
    assert_eq!(argv[0], "assemble", "{argv:?}");
    let positional = check_invocation(&argv, "k8s assemble Job");
    assert_eq!(
        positional,
        std::slice::from_ref(plan_dir),
        "the same planDir"
    );
    let out = argv
        .iter()
        .position(|a| a == "-o" || a == "--output")
        .map(|i| &argv[i + 1])
        .expect("-o OUT");
    assert!(Path::new(out).starts_with(&mount), "OUT on the volume");
    assert!(
        argv.iter().any(|a| a == "--wait"),
        "waits for the render Job"
    );
    let rules = failure_rules(assemble, &container);
    for rule in rules.iter().filter(|r| r["action"] == "FailJob") {
        assert!(codes_of(rule).is_disjoint(&retryable), "{rule}");
    }
    assert!(rules
        .iter()
        .any(|r| r["action"] == "FailJob" && codes_of(r).is_superset(&fatal_codes())));
}

/// Joins continued lines and drops comments.
fn shell_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.starts_with('#') && current.is_empty() {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            lines.push(std::mem::take(&mut current));
        }
    }
    lines
}

/// Every vre command line in a shell script: the words after a word that runs vre (`vre`,
/// `"$vre"`, `"${VRE:-vre}"`), up to the end of the simple command.
fn vre_invocations(script: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in shell_lines(script) {
        let words: Vec<String> = line
            .split_whitespace()
            .map(|w| w.trim_matches('"').to_string())
            .collect();
        for (i, word) in words.iter().enumerate() {
            let runs_vre = matches!(word.as_str(), "vre" | "$vre" | "$VRE" | "${VRE:-vre}");
            if runs_vre
                && words
                    .get(i + 1)
                    .is_some_and(|v| VERBS.contains(&v.as_str()))
            {
                found.push(
                    words[i + 1..]
                        .iter()
                        .take_while(|w| !["|", "||", "&&", ";", "&", ")"].contains(&w.as_str()))
                        .cloned()
                        .collect(),
                );
            }
        }
    }
    found
}

#[test]
fn the_shell_examples_are_valid_bash_and_use_real_vre_flags() {
    let scripts = [
        ("parallel.sh", &["work", "assemble"][..]),
        ("cost_breakdown.sh", &["run"][..]),
        ("slurm/render.sbatch", &["work"][..]),
        ("slurm/assemble.sbatch", &["assemble"][..]),
    ];
    for (name, verbs) in scripts {
        let path = example(name);
        let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(syntax.status.success(), "{name}: {}", stderr(&syntax));
        let text = std::fs::read_to_string(&path).unwrap();
        let calls = vre_invocations(&text);
        let used: Vec<&str> = calls.iter().map(|c| c[0].as_str()).collect();
        assert_eq!(used, verbs, "{name}: vre commands {calls:?}");
        for call in &calls {
            check_invocation(call, name);
        }
    }
    let parallel = vre_invocations(&std::fs::read_to_string(example("parallel.sh")).unwrap());
    assert!(
        parallel[0].iter().any(|w| w == "--index"),
        "each worker starts at its own chunk"
    );
}

#[test]
fn parallel_sh_renders_and_assembles_the_serial_frames() {
    let has_parallel = Command::new("parallel")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("GNU parallel"));
    if !has_parallel {
        println!("skipped: GNU parallel is not installed (Debian package `parallel`)");
        return;
    }
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 2.0,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(
        &input,
        &plan_dir,
        args!["--chunks", "3", "--crf", "0", "--threads", "1"],
    );
    let out = tmp.path().join("out.mp4");
    let run = Command::new("bash")
        .arg(example("parallel.sh"))
        .args([&plan_dir, &out])
        .arg("2")
        .env("VRE", env!("CARGO_BIN_EXE_vre"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "parallel.sh failed with {}:\n{}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        stderr(&run)
    );
    let frames = framemd5(&out, None);
    assert_eq!(frames.len(), 60);
    assert_eq!(
        frames,
        framemd5(&input, None),
        "lossless: the input's frames"
    );
    assert!(stream(&out, "audio").is_some(), "with the audio task");
}

/// Runs examples/slurm/render.sbatch as Slurm would run the batch script, with a stand-in for
/// vre that logs its arguments and exits with the codes of `script` (one per run; a code of
/// `TERM` signals the batch shell first, as Slurm does, then exits 130 as vre does).
fn render_sbatch_with(dir: &Path, codes: &[&str]) -> (Option<i32>, Vec<String>) {
    let fake = dir.join(format!("fake-vre-{}", codes.join("-")));
    let log = fake.with_extension("log");
    let script = format!(
        "#!/bin/bash\n\
         echo \"$*\" >> '{log}'\n\
         run=$(wc -l < '{log}')\n\
         codes=({codes})\n\
         code=${{codes[run - 1]}}\n\
         if [ \"$code\" = TERM ]; then kill -TERM $PPID; exit 130; fi\n\
         exit \"$code\"\n",
        log = log.display(),
        codes = codes.join(" "),
    );
    std::fs::write(&fake, script).unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let out = Command::new("bash")
        .arg(example("slurm/render.sbatch"))
        .args(["/shared/job.vre", "--max-attempts", "5"])
        .env("VRE", &fake)
        .env("VRE_RETRY_DELAY", "0")
        .env("SLURM_ARRAY_TASK_ID", "3")
        .output()
        .unwrap();
    let runs = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    (out.status.code(), runs)
}

#[test]
fn render_sbatch_retries_exactly_the_retryable_codes_and_passes_130_on() {
    let tmp = temp_dir();
    let call = "work /shared/job.vre --max-attempts 5".to_string();
    let cases: [(&[&str], i32, usize); 7] = [
        (&["0"], 0, 1),
        (&["75", "0"], 0, 2),
        (&["74", "75", "74"], 74, 3),
        (&["65"], 65, 1),
        (&["80"], 80, 1),
        (&["TERM"], 130, 1),
        (&["75", "TERM"], 130, 2),
    ];
    for (codes, exit, runs) in cases {
        let (got, calls) = render_sbatch_with(tmp.path(), codes);
        assert_eq!(got, Some(exit), "vre exiting {codes:?}");
        assert_eq!(calls.len(), runs, "runs of vre exiting {codes:?}");
        assert!(calls.iter().all(|c| *c == call), "{calls:?}");
    }
    // The codes it retries are exactly vre's retryable ones, apart from 130 (a stop request).
    let retried: BTreeSet<i64> = [74, 75].into();
    let expected: BTreeSet<i64> = retryable_codes()
        .into_iter()
        .filter(|&c| c != i64::from(Code::Interrupted.number()))
        .collect();
    assert_eq!(retried, expected);
}
