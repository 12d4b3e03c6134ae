//! Slurm for real: a single-node cluster on localhost (tests/slurm/cluster.sh) runs the array job
//! and the dependent assembly of examples/slurm exactly as a user submits them, and the result
//! has the same decoded frames as a local `vre run` and as the input (lossless encoding).
//!
//! Skipped, with a line saying why, when Slurm or munge is not installed or the test does not run
//! as root (slurmd must be able to run jobs); `make test-deps` installs them.

mod common;

use common::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PROGRAMS: [&str; 10] = [
    "munged",
    "munge",
    "unmunge",
    "slurmctld",
    "slurmd",
    "sbatch",
    "scontrol",
    "squeue",
    "sinfo",
    "scancel",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|dir| dir.join(program).is_file())
}

/// Why this machine cannot run the test, if it cannot.
fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (slurmd must run jobs)".to_string());
    }
    let missing: Vec<&str> = PROGRAMS.into_iter().filter(|p| !on_path(p)).collect();
    if !missing.is_empty() {
        return Some(format!(
            "{} not installed (`make test-deps` installs slurm-wlm and munge)",
            missing.join(", ")
        ));
    }
    None
}

/// Two free TCP ports on localhost (the kernel's choice, both bound at once so they differ,
/// released at once for the daemons to take).
fn free_ports() -> [u16; 2] {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    [a, b].map(|l| l.local_addr().unwrap().port())
}

/// A running single-node cluster; stopped (daemons and anything its jobs left) when dropped,
/// also when the test fails.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn script() -> PathBuf {
        repo().join("tests/slurm/cluster.sh")
    }

    fn start(dir: &Path) -> Cluster {
        std::fs::create_dir_all(dir).unwrap();
        // From here on the guard exists, so a half-started cluster is stopped too.
        let cluster = Cluster {
            dir: dir.to_path_buf(),
        };
        let started = Instant::now();
        let [ctld_port, slurmd_port] = free_ports();
        let out = Command::new("bash")
            .arg(Self::script())
            .arg("start")
            .arg(dir)
            .arg(ctld_port.to_string())
            .arg(slurmd_port.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the cluster did not start: {}\n{}",
            stderr(&out),
            cluster.logs()
        );
        eprintln!(
            "slurm: munged, slurmctld and slurmd up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        cluster
    }

    /// A Slurm client command talking to this cluster; jobs it submits carry the marker that
    /// lets `cluster.sh stop` find what they leave behind.
    fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", self.dir.join("slurm.conf"))
            .env("VRE_TEST_SLURM_CLUSTER", &self.dir)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, program: &str, args: Vec<OsString>) -> Output {
        let out = self.client(program).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}\n{}",
            stderr(&out),
            self.logs()
        );
        out
    }

    /// `sbatch --parsable ...`: the job id.
    fn submit(&self, args: Vec<OsString>) -> String {
        let mut all = args!["--parsable"];
        all.extend(args);
        let out = self.run("sbatch", all);
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.trim().split(';').next().unwrap().to_string();
        assert!(id.parse::<u64>().is_ok(), "sbatch printed {text:?}");
        id
    }

    /// `scontrol show job -o ID`: one map of fields per job (per array task).
    fn jobs(&self, id: &str) -> Vec<std::collections::HashMap<String, String>> {
        let out = self.run("scontrol", args!["show", "job", "-o", id]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                line.split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    /// Waits until every job of `id` has ended; returns their fields. Fails early when a job
    /// can never start (its dependency failed).
    fn wait_ended(
        &self,
        id: &str,
        limit: Duration,
    ) -> Vec<std::collections::HashMap<String, String>> {
        let deadline = Instant::now() + limit;
        loop {
            let jobs = self.jobs(id);
            let states: Vec<&str> = jobs.iter().map(|j| j["JobState"].as_str()).collect();
            if !jobs.is_empty() && states.iter().all(|s| ENDED.contains(s)) {
                return jobs;
            }
            let never = jobs.iter().any(|j| {
                j.get("Reason")
                    .is_some_and(|r| r == "DependencyNeverSatisfied")
            });
            assert!(
                !never,
                "job {id} can never start: its dependency failed\n{}",
                self.logs()
            );
            assert!(
                Instant::now() < deadline,
                "job {id} still {states:?} after {limit:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The daemons' logs and the jobs' output (written into the cluster's directory), for
    /// failure messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("log"))
            .into_iter()
            .flatten()
            .chain(std::fs::read_dir(&self.dir).into_iter().flatten())
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        files.sort();
        for file in files {
            let body = std::fs::read_to_string(&file).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(40).collect();
            text.push_str(&format!("--- {} (last lines)\n", file.display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = Command::new("bash")
            .arg(Self::script())
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .status();
        if !matches!(stopped, Ok(s) if s.success()) {
            eprintln!("slurm: stopping the test cluster failed: {stopped:?}");
        }
    }
}

/// Slurm job states after which a job no longer runs.
const ENDED: [&str; 8] = [
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
];

#[test]
fn an_array_job_and_a_dependent_assembly_render_the_same_frames_as_a_local_run() {
    if let Some(reason) = skip_reason() {
        // CI sets VRE_REQUIRE_SLURM=1: there, a Slurm that cannot run is a failure.
        assert!(
            std::env::var_os("VRE_REQUIRE_SLURM").is_none(),
            "VRE_REQUIRE_SLURM is set but the Slurm test cannot run: {reason}"
        );
        println!("skipped: {reason}");
        return;
    }
    let started = Instant::now();
    let tmp = temp_dir();
    let t = tmp.path();
    let input = t.join("in.mp4");
    make_video(
        &input,
        &VideoSpec {
            seconds: 4.0,
            ..VideoSpec::default()
        },
    );
    let plan_options = ["--crf", "0", "--chunks", "4", "--threads", "1"];
    let plan_dir = t.join("job.vre");
    let mut plan = args!["plan", input, "-o", plan_dir];
    plan.extend(plan_options.iter().map(OsString::from));
    vre_ok(plan);

    // Declared after `tmp`, so dropped (stopped) before the directory is removed.
    let cluster = Cluster::start(&t.join("cluster"));
    let out = t.join("out.mp4");
    let examples = repo().join("examples/slurm");
    let render = cluster.submit(args![
        "--array=0-3%2",
        // Two tasks at once on the two CPUs of this node.
        "--cpus-per-task=1",
        format!("--chdir={}", t.display()),
        format!("--output={}/render-%A_%a.log", cluster.dir.display()),
        format!("--export=ALL,VRE={}", env!("CARGO_BIN_EXE_vre")),
        examples.join("render.sbatch"),
        plan_dir,
    ]);
    let assemble = cluster.submit(args![
        format!("--dependency=afterok:{render}"),
        format!("--chdir={}", t.display()),
        format!("--output={}/assemble-%j.log", cluster.dir.display()),
        format!("--export=ALL,VRE={}", env!("CARGO_BIN_EXE_vre")),
        examples.join("assemble.sbatch"),
        plan_dir,
        out,
    ]);
    eprintln!(
        "slurm: {:.1} s: submitted render array {render} and assembly {assemble}",
        started.elapsed().as_secs_f64()
    );

    let assembled = cluster.wait_ended(&assemble, Duration::from_secs(240));
    let tasks = cluster.wait_ended(&render, Duration::from_secs(10));
    eprintln!(
        "slurm: {:.1} s: all jobs ended",
        started.elapsed().as_secs_f64()
    );
    let summary: Vec<String> = tasks
        .iter()
        .map(|j| {
            format!(
                "task {} {} exit {}",
                j["ArrayTaskId"], j["JobState"], j["ExitCode"]
            )
        })
        .collect();
    eprintln!("slurm: {}", summary.join(", "));
    let mut indices: Vec<&str> = tasks.iter().map(|j| j["ArrayTaskId"].as_str()).collect();
    indices.sort_unstable();
    assert_eq!(indices, ["0", "1", "2", "3"], "four array tasks ran");
    for task in &tasks {
        assert!(
            task["JobState"] == "COMPLETED" && task["ExitCode"] == "0:0",
            "array task {} ended {} with {}\n{}",
            task["ArrayTaskId"],
            task["JobState"],
            task["ExitCode"],
            cluster.logs()
        );
    }
    assert_eq!(assembled.len(), 1);
    assert!(
        assembled[0]["JobState"] == "COMPLETED" && assembled[0]["ExitCode"] == "0:0",
        "the assembly ended {} with {}\n{}",
        assembled[0]["JobState"],
        assembled[0]["ExitCode"],
        cluster.logs()
    );
    drop(cluster);
    for i in 0..4 {
        let log = t.join(format!("cluster/render-{render}_{i}.log"));
        eprintln!(
            "slurm: --- task {i}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default().trim_end()
        );
    }

    let workers: std::collections::BTreeSet<u64> = chunk_files(&plan_dir)
        .iter()
        .map(|f| {
            read_json(&f.with_extension("json"))["pid"]
                .as_u64()
                .unwrap()
        })
        .collect();
    eprintln!(
        "slurm: 4 chunks rendered by {} array task process(es)",
        workers.len()
    );

    let local = t.join("local.mp4");
    let mut run = args!["run", input, "-o", local];
    run.extend(plan_options.iter().map(OsString::from));
    vre_ok(run);
    let frames = framemd5(&out, None);
    assert_eq!(frames.len(), 120, "every frame of the 4 s input");
    assert_eq!(frames, framemd5(&local, None), "same frames as `vre run`");
    assert_eq!(
        frames,
        framemd5(&input, None),
        "lossless: the input's own decoded frames"
    );
    assert_eq!(
        audio_samples(&out),
        audio_samples(&local),
        "same audio as `vre run`"
    );
    eprintln!("slurm: test took {:.1} s", started.elapsed().as_secs_f64());
}
