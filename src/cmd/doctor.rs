//! `vre doctor`: check that a planDir's filesystem gives vre working locks.
//!
//! Exit codes: 0 when locks exclude as they must (warnings about mount options are printed but
//! do not change it: such a mount still works for workers on one host); 69 (`unavailable`) when
//! they do not — the filesystem lacks a service vre needs, which no retry brings back; 66 when
//! the directory does not exist; 73 when no lock file can be created in it; 75 when `--hold`
//! finds the probe lock held already; 130 when `--hold` is interrupted.

use crate::exit::{Code, Coded};
use crate::inspect::doctor::{self, HoldEnd};
use clap::Args;
use std::io::Write as _;
use std::path::PathBuf;

/// `vre doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The planDir, or the directory that will hold one.
    #[arg(value_name = "PLANDIR")]
    pub plan_dir: PathBuf,
    /// Then hold a probe lock for SECONDS, for `vre doctor` on another host to check that locks
    /// exclude across hosts.
    #[arg(long, value_name = "SECONDS")]
    pub hold: Option<f64>,
    /// Internal: be the second process of the lock check. Tries once to lock the file given as
    /// PLANDIR and exits 0 (took it), 75 (another process holds it) or 69 (no lock support).
    #[arg(long = "probe-lock", hide = true, conflicts_with = "hold")]
    pub probe_lock: bool,
}

/// Runs `vre doctor`.
pub fn run(args: &DoctorArgs, quiet: bool) -> anyhow::Result<Code> {
    let dir = args.plan_dir.as_path();
    if args.probe_lock {
        return Ok(match doctor::probe(dir) {
            Ok(found) => found.code(),
            Err(e) => {
                eprintln!("vre: error: cannot lock {}: {e}", dir.display());
                Code::IoErr
            }
        });
    }
    if let Some(seconds) = args.hold {
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
            return Err(Coded::new(
                Code::Usage,
                format!("--hold takes seconds between 0 and 86400, not {seconds}"),
            )
            .into());
        }
    }
    let exe = std::env::current_exe().map_err(|e| {
        Coded::new(
            Code::Failure,
            format!("cannot find the vre binary to start a second process: {e}"),
        )
    })?;
    let diagnosis = doctor::check(dir, &exe)?;
    if !quiet {
        // Not println!: a closed pipe or a full disk is an I/O error (74), not a panic.
        let mut out = std::io::stdout().lock();
        for line in diagnosis.lines() {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
    for warning in &diagnosis.warnings {
        eprintln!("vre: warning: {warning}");
    }
    if let Some(why) = diagnosis.lock_failure() {
        return Err(Coded::new(
            Code::Unavailable,
            format!(
                "{}: {why}; do not run vre workers on it (see README: Shared filesystems)",
                dir.display()
            ),
        )
        .into());
    }
    if let Some(seconds) = args.hold {
        let end = doctor::hold(dir, seconds, |path| {
            // stdout may be a pipe another program waits on: say it at once. Whether anyone
            // still reads it does not matter to the hold.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "holding:      {} for {seconds} s: run `vre doctor {}` on another host now",
                path.display(),
                dir.display()
            );
            let _ = out.flush();
        })?;
        if end == HoldEnd::Interrupted {
            return Ok(Code::Interrupted);
        }
    }
    Ok(Code::Success)
}
