//! What vre needs from the operating system: atomic file writes, temp files that name their
//! owner, disk space, directory watching, the log on stderr, and the check that an input is a
//! regular file.

pub mod disk;
pub mod fsio;
pub mod host;
pub mod input_file;
pub mod log;
pub mod owned;
pub mod watch;
