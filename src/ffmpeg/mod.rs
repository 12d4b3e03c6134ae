//! The ffmpeg command builder: every ffmpeg and ffprobe command vre runs is built here, as a list
//! of arguments, never through a shell, and run by [`runner`]. [`mp4`] reads the facts of a
//! rendered chunk from its index where that saves an ffprobe; [`framelog`] reads the frame logs
//! renders write.

pub mod argv;
pub mod audio;
pub mod error;
pub mod framelog;
pub mod metadata;
pub mod mp4;
pub mod mux;
pub mod probe;
pub mod query;
pub mod runner;
pub mod video;
