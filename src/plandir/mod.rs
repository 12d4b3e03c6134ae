//! The planDir protocol: its layout, the types of its files (mirrored by `schemas/`), the plan
//! hash, and loading with verification.
//!
//! Every path inside a planDir is derived from fixed names and task indices, never from strings
//! read out of `plan.json`, so a tampered plan cannot make vre write outside its planDir.
//!
//! ```text
//! PLANDIR/plan.json                  everything the render depends on, and the plan hash
//! PLANDIR/index.bin                  the input's frame index (its blake3 is in plan.json)
//! PLANDIR/chunks.json                half-open frame ranges [start_frame, end_frame)
//! PLANDIR/chunks/chunk-000003.mp4    a published chunk (video only) ...
//! PLANDIR/chunks/chunk-000003.json   ... and its sidecar, the only proof that it is done
//! PLANDIR/audio/audio.m4a, audio.json  the audio task's output and sidecar
//! PLANDIR/locks/*.lock               one lock file per task, plus plan.lock
//! PLANDIR/attempts/*.json            failed attempts per task
//! PLANDIR/logs/*.log                 one log per failed attempt
//! PLANDIR/progress/*.json            how far running tasks are (for `vre status --watch`)
//! ```

pub mod attempts;
pub mod claim;
pub mod clean;
pub mod error;
pub mod estimate;
pub mod frameindex;
pub mod hash;
pub mod layout;
pub mod load;
pub mod progress;
pub mod publish;
pub mod schema;
pub mod stages;
pub mod verify;
pub mod write;
