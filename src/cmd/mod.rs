//! One module per verb: each turns parsed options into calls of the library and prints what
//! happened.

pub mod assemble;
pub mod bench;
pub mod doctor;
pub mod options;
pub mod plan;
pub mod report;
pub mod run;
pub mod status;
pub mod summary;
pub mod verify;
pub mod work;
