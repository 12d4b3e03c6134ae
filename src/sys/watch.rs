//! Waiting for a planDir to change, with inotify (notify) rather than a tight polling loop.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use notify::{RecursiveMode, Watcher};
use std::path::Path;
use std::time::Duration;

/// Watches some directories; [`DirWatcher::wait`] returns when something in them changes.
pub struct DirWatcher {
    _watcher: Option<notify::RecommendedWatcher>,
    events: Receiver<()>,
    // Keeps the channel open when no watcher could be made, so waits last their timeout.
    _sender: Sender<()>,
}

impl DirWatcher {
    /// Watches `dirs` (not recursively). When watching is impossible (no inotify, a filesystem
    /// without change events such as some network mounts), waits fall back to their timeout.
    pub fn new<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Self {
        let (tx, events) = crossbeam_channel::unbounded();
        let sender = tx.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
                let _ = tx.send(());
            }
        })
        .ok()
        .and_then(|mut w| {
            for dir in dirs {
                w.watch(dir, RecursiveMode::NonRecursive).ok()?;
            }
            Some(w)
        });
        DirWatcher {
            _watcher: watcher,
            events,
            _sender: sender,
        }
    }

    /// Waits until something changes or `timeout` passes; returns whether a change was seen.
    /// Events that piled up are drained, so one wait answers for all of them.
    pub fn wait(&self, timeout: Duration) -> bool {
        match self.events.recv_timeout(timeout) {
            Ok(()) => {
                while self.events.try_recv().is_ok() {}
                true
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        }
    }
}
