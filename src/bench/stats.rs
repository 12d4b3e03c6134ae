//! From timed runs to the reported figures: medians, ratios against serial ffmpeg, and the
//! serial fraction Amdahl's law implies, f = (N/S − 1)/(N − 1).

use crate::bench::model::{
    Amdahl, BenchResult, Configuration, Job, Machine, Measured, Sample, StageSeconds, VreFacts,
    VreMedians, VreSample,
};

/// The median (the mean of the middle two for an even count); 0 for none.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The serial fraction Amdahl's law gives for speedup `speedup` at `workers` workers:
/// (N/S − 1)/(N − 1); `None` for one worker, or when vre was slower than serial ffmpeg.
fn serial_fraction(workers: u32, speedup: f64) -> Option<f64> {
    // Slower than serial ffmpeg (S < 1) gives a fraction above 1, which Amdahl's law cannot
    // have: no fit then.
    (workers > 1 && speedup >= 1.0).then(|| {
        let n = f64::from(workers);
        (n / speedup - 1.0) / (n - 1.0)
    })
}

/// The medians of what only vre runs measure, over the samples that have it; `None` when none
/// does. The shares are taken from the medians against the median `wall`; the tasks' extra
/// seconds count in the fixed overhead divided by the `workers` that shared them.
fn vre_medians(samples: &[Sample], wall_seconds: f64, workers: u32) -> Option<VreMedians> {
    let vre: Vec<_> = samples.iter().filter_map(|s| s.vre).collect();
    if vre.is_empty() {
        return None;
    }
    let pick = |f: &dyn Fn(&VreSample) -> f64| median(&vre.iter().map(f).collect::<Vec<_>>());
    let stages = StageSeconds {
        plan_seconds: pick(&|v| v.stages.plan_seconds),
        work_seconds: pick(&|v| v.stages.work_seconds),
        assemble_seconds: pick(&|v| v.stages.assemble_seconds),
    };
    let plan_assemble = stages.plan_seconds + stages.assemble_seconds;
    let task_extra_seconds = pick(&|v| v.task_extra_seconds);
    let fixed_seconds = plan_assemble + task_extra_seconds / f64::from(workers.max(1));
    Some(VreMedians {
        stages,
        plan_assemble_share: plan_assemble / wall_seconds.max(1e-9),
        copy_seconds: pick(&|v| v.copy_seconds),
        task_extra_seconds,
        fixed_seconds,
        fixed_share: fixed_seconds / wall_seconds.max(1e-9),
    })
}

/// One configuration's medians and its ratios against `serial` (itself when `None`: serial
/// ffmpeg). `facts` is given for vre.
fn summarize(
    name: String,
    workers: u32,
    samples: Vec<Sample>,
    facts: Option<VreFacts>,
    serial: Option<&Configuration>,
) -> Configuration {
    let pick = |f: &dyn Fn(&Sample) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
    let wall_seconds = pick(&|s| s.wall_seconds);
    let cpu_seconds = pick(&|s| s.cpu_seconds);
    let bytes = pick(&|s| s.bytes as f64).round() as u64;
    let (serial_wall, serial_cpu, serial_bytes) = serial
        .map_or((wall_seconds, cpu_seconds, bytes), |s| {
            (s.wall_seconds, s.cpu_seconds, s.bytes)
        });
    let speedup = serial_wall / wall_seconds.max(1e-9);
    Configuration {
        name,
        workers,
        facts,
        wall_seconds,
        cpu_seconds,
        bytes,
        speedup,
        efficiency: speedup / f64::from(workers),
        cpu_overhead: cpu_seconds / serial_cpu.max(1e-9),
        size_overhead: bytes as f64 / serial_bytes.max(1) as f64,
        quality: samples.iter().find_map(|s| s.quality),
        vre: vre_medians(&samples, wall_seconds, workers),
        serial_fraction: facts.and_then(|_| serial_fraction(workers, speedup)),
        samples,
    }
}

/// Amdahl's law at the largest worker count above 1, if any.
fn fit_amdahl(vre: &[Configuration]) -> Option<Amdahl> {
    vre.iter()
        .filter(|c| c.workers > 1)
        .max_by_key(|c| c.workers)
        .and_then(|c| {
            c.serial_fraction.map(|f| Amdahl {
                workers: c.workers,
                serial_fraction: f,
            })
        })
}

/// The whole result: every configuration summarised, Amdahl's law fitted, and the machine's
/// limit for the job. `serial_command` and `vre_command` are recorded as given.
pub fn result(
    measured: Measured,
    machine: Machine,
    job: Job,
    serial_command: String,
    vre_command: String,
) -> BenchResult {
    let serial = summarize("ffmpeg".to_string(), 1, measured.serial, None, None);
    let vre: Vec<Configuration> = measured
        .vre
        .into_iter()
        .map(|runs| {
            summarize(
                format!("vre -j {}", runs.workers),
                runs.workers,
                runs.samples,
                Some(runs.facts),
                Some(&serial),
            )
        })
        .collect();
    let limit_wall_seconds = serial.cpu_seconds / machine.cores.max(1) as f64;
    BenchResult {
        limit_ratio: limit_wall_seconds / serial.wall_seconds.max(1e-9),
        limit_wall_seconds,
        serial_command,
        vre_command,
        runs: measured.runs,
        job,
        machine,
        amdahl: fit_amdahl(&vre),
        serial,
        vre,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_amdahl() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(serial_fraction(1, 0.9), None);
        assert_eq!(serial_fraction(2, 0.19), None, "slower than ffmpeg: no fit");
        assert!((serial_fraction(2, 2.0).unwrap()).abs() < 1e-12);
        assert!((serial_fraction(2, 1.0).unwrap() - 1.0).abs() < 1e-12);
        let f = serial_fraction(4, 2.5).unwrap();
        let a = Amdahl {
            workers: 4,
            serial_fraction: f,
        };
        assert!((a.speedup(4.0) - 2.5).abs() < 1e-9);
        assert!((a.speedup(1.0) - 1.0).abs() < 1e-9);
    }
}
