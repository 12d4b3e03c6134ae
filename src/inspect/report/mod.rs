//! `vre report`: one self-contained HTML page about a planDir — a timeline of every published
//! task per worker, per-chunk encode speed, the plan / work / assemble stages, the speedup over
//! the summed render time, and the plan's facts.
//!
//! Everything comes from the planDir alone: `plan.json`, the sidecars (who rendered what, when)
//! and `stages.json` ([`crate::plandir::stages`]), read into a [`model::RunReport`]. A partially
//! rendered planDir reports what is done. The page ([`html`]) needs no network: CSS and JS are
//! inline, a Content-Security-Policy forbids loading anything, and the task data is embedded as
//! compact JSON ([`data`]) that a script draws onto canvases, so 10,000 chunks make a page of
//! well under a megabyte that draws in milliseconds. [`write`] writes it.

pub mod data;
pub mod html;
pub mod model;
pub mod text;
pub mod write;
