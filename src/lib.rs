//! vre renders video in chunks across independent worker processes that share one directory,
//! the planDir, and resumes exactly where it stopped after any crash.
//!
//! The layers, from the outside in (ARCHITECTURE.md has the whole picture): [`cli`] parses the
//! command line and is the one place errors become [`exit`] codes; [`cmd`] has one file per verb;
//! [`pipeline`] runs plan → work → assemble; [`plan`] analyses the input and decides the chunks;
//! [`work`] claims and renders them; [`assemble`] verifies and joins them; [`inspect`] reads a
//! planDir for people; [`bench`] measures vre against plain ffmpeg. Underneath, [`plandir`] owns
//! every file of the planDir protocol, [`ffmpeg`] builds and runs every ffmpeg and ffprobe
//! command, [`codecs`] is the catalogue of formats and codecs, and [`sys`] talks to the OS.

pub mod assemble;
pub mod bench;
pub mod cli;
pub mod cmd;
pub mod codecs;
pub mod exit;
pub mod ffmpeg;
pub mod inspect;
pub mod pipeline;
pub mod plan;
pub mod plandir;
pub mod sys;
pub mod vbv;
pub mod work;
