//! vre renders video in chunks across independent worker processes that share one directory,
//! the planDir, and resumes exactly where it stopped after any crash.
//!
//! The binary is a thin layer over these modules: [`cli`] parses options and maps errors to
//! [`exit`] codes; [`planner`] writes a [`plandir`]; [`worker`] claims tasks with [`claim`] and
//! renders them with [`render`]; [`assemble`] verifies and concatenates. Every ffmpeg and ffprobe
//! command is built in [`ffmpeg`].

pub mod assemble;
pub mod attempts;
pub mod audio;
pub mod bench;
pub mod chunking;
pub mod claim;
pub mod cli;
pub mod cmd;
pub mod doctor;
pub mod environment;
pub mod events;
pub mod exit;
pub mod ffmpeg;
pub mod frameindex;
pub mod fsio;
pub mod log;
pub mod media;
pub mod plandir;
pub mod planner;
pub mod preroll;
pub mod probe;
pub mod process;
pub mod render;
pub mod report;
pub mod space;
pub mod stages;
pub mod status;
pub mod verify;
pub mod watch;
pub mod worker;
