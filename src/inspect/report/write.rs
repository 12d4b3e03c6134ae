//! Writing the report of a planDir: the page, atomically, and what it holds.

use crate::exit::{Code, HasCode};
use crate::inspect::report::html;
use crate::inspect::report::model::RunReport;
use crate::plandir::error::PlanDirError;
use crate::plandir::layout::PlanDir;
use crate::sys::fsio;
use std::io;
use std::path::{Path, PathBuf};

/// What a written report page holds.
#[derive(Debug, Clone, PartialEq)]
pub struct PageSummary {
    /// Published tasks, each drawn as one bar.
    pub bars: usize,
    /// Tasks in the plan (chunks and audio).
    pub tasks: usize,
    /// Lanes of the timeline.
    pub lanes: usize,
    /// Size of the HTML in bytes.
    pub bytes: usize,
}

/// Why no report was written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The planDir could not be read.
    #[error(transparent)]
    PlanDir(#[from] PlanDirError),
    /// The page could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// Where it was to go.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Why a page cannot be created where it was asked for (a missing or unwritable directory, a
/// directory in the way), as opposed to an I/O failure while writing it.
const CANT_CREATE: [io::ErrorKind; 4] = [
    io::ErrorKind::NotFound,
    io::ErrorKind::PermissionDenied,
    io::ErrorKind::IsADirectory,
    io::ErrorKind::NotADirectory,
];

impl HasCode for ReportError {
    fn code(&self) -> Code {
        match self {
            ReportError::PlanDir(e) => e.code(),
            ReportError::Write { source, .. } if CANT_CREATE.contains(&source.kind()) => {
                Code::CantCreate
            }
            ReportError::Write { .. } => Code::IoErr,
        }
    }
}

/// The report of `dir`: the HTML and what it holds.
fn render(dir: &PlanDir) -> Result<(String, PageSummary), PlanDirError> {
    let report = RunReport::read(dir)?;
    let html = html::page(&report);
    let summary = PageSummary {
        bars: report.timeline.bars.len(),
        tasks: report.status.total,
        lanes: report.timeline.lanes.len(),
        bytes: html.len(),
    };
    Ok((html, summary))
}

/// Writes the report of `dir` to `out` atomically.
pub fn write_report(dir: &PlanDir, out: &Path) -> Result<PageSummary, ReportError> {
    let (html, summary) = render(dir)?;
    fsio::write_atomic(out, html.as_bytes()).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(summary)
}
