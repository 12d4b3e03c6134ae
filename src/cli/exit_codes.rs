//! The one place errors become exit codes: the domain errors of every layer are recognised here,
//! at the edge, so the layers below know nothing of one another's errors.

use crate::exit::{Code, Coded, HasCode};

/// Finds the exit code an error stands for: the outermost domain error in its chain decides;
/// a bare I/O error means [`Code::IoErr`]; anything else is [`Code::Failure`].
pub fn code_of(err: &anyhow::Error) -> Code {
    for cause in err.chain() {
        if let Some(code) = domain_code(cause) {
            return code;
        }
    }
    Code::Failure
}

fn domain_code(cause: &(dyn std::error::Error + 'static)) -> Option<Code> {
    macro_rules! try_types {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$ty>() { return Some(e.code()); })*
        };
    }
    try_types!(
        Coded,
        crate::plandir::error::PlanDirError,
        crate::ffmpeg::error::FfmpegError,
        crate::ffmpeg::probe::ProbeError,
        crate::assemble::AssembleError,
        crate::plan::PlanError,
        crate::pipeline::PipelineError,
        crate::inspect::report::write::ReportError,
        crate::inspect::doctor::DoctorError,
        crate::bench::measure::BenchError,
        crate::plan::audio::AudioSpecError,
        crate::sys::disk::SpaceError,
        crate::work::scheduler::WorkError,
    );
    if cause.downcast_ref::<std::io::Error>().is_some() {
        return Some(Code::IoErr);
    }
    None
}
