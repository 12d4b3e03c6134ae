//! Reading a planDir for people: where a run stands, whether its filesystem can hold locks,
//! and an HTML report of how it went.

pub mod doctor;
pub mod markup;
pub mod report;
pub mod status;
