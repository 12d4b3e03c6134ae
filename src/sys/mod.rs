//! What vre needs from the operating system: atomic file writes, temp files that name their
//! owner, disk space, directory watching and the log on stderr.

pub mod disk;
pub mod fsio;
pub mod host;
pub mod log;
pub mod owned;
pub mod watch;
