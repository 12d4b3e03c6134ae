//! `vre bench`: measures vre against the plain ffmpeg command a user would have typed for the
//! same job, in one run, as ratios (absolute times drift between runs on shared machines).
//!
//! Configurations are interleaved — serial ffmpeg, vre with each worker count, serial ffmpeg
//! again, … — so that drift in the machine's speed hits all of them alike, and the median of the
//! runs is reported ([`measure`]). CPU time is the growth of `getrusage` over this process and
//! its waited-for children (every ffmpeg and ffprobe counts), so vre's own planning, hashing and
//! claiming are part of its CPU time.
//!
//! Reported per configuration ([`model`], computed in [`stats`]): wall and CPU seconds; speedup
//! (serial wall ÷ wall) and efficiency (speedup ÷ workers); CPU overhead (CPU ÷ serial CPU);
//! size overhead (output bytes ÷ serial output bytes); for vre the time in plan / work /
//! assemble (from `stages.json`), the share of plan + assemble in the wall time, a plain copy of
//! the output for comparison with assembly, and the serial fraction Amdahl's law implies,
//! f = (N/S − 1)/(N − 1). The result is shown as a [`table`], as JSON, or plotted as an [`svg`].

pub mod measure;
pub mod model;
pub mod stats;
pub mod svg;
pub mod table;
