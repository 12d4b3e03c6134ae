//! The edge: the command line's parser, the dispatch to the verbs, and the mapping of errors to
//! exit codes.

pub mod args;
pub mod dispatch;
pub mod exit_codes;
