//! The machine vre runs on: its name (recorded in sidecars, attempts and progress records) and
//! its cores.

/// This machine's host name (for sidecars and status: who rendered what).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Cores this machine offers.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Encoder threads per chunk for a plan whose workers are not known (`vre plan`): half the
/// cores, so that a `vre work` on a host like this one runs two chunks at once. One chunk's
/// encoder keeps its threads busy only part of the time (its lookahead and the chunk's ends
/// are serial); two chunks fill each other's gaps.
pub fn default_threads_per_chunk() -> u32 {
    (cores() / 2).max(1) as u32
}

/// Encoder threads per chunk for `workers` local workers (`vre run -j`): the cores shared out,
/// and twice the cores for a single worker. A lone chunk's encoder leaves cores idle with just
/// one thread per core (x264's lookahead and a chunk's ends are serial): 60 s of 720p took 1.28
/// times the serial command's wall time with 2 threads on 2 cores, 1.05 with 4, for the same
/// CPU time.
pub fn threads_per_local_chunk(workers: usize) -> u32 {
    match workers {
        0 | 1 => 2 * cores() as u32,
        n => (cores() / n).max(1) as u32,
    }
}

/// Chunks a `vre work` renders at once by default: enough of the plan's `threads` per chunk to
/// use every core of this host, at least one.
pub fn default_worker_slots(threads_per_chunk: u32) -> usize {
    (cores() / threads_per_chunk.max(1) as usize).max(1)
}

/// A random 128-bit identity in hex, from the kernel's generator (plan identities, claim
/// records).
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // SAFETY: getrandom writes at most bytes.len() bytes into the buffer we own.
    let filled = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if filled != bytes.len() as isize {
        // Practically unreachable (getrandom blocks only before the pool is seeded); the clock,
        // pid and a counter still make the value unique.
        let fallback = blake3::hash(crate::sys::fsio::unique_suffix().as_bytes());
        bytes.copy_from_slice(&fallback.as_bytes()[..16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A process as other processes can name it: host, pid and the kernel's start time of the
/// process (clock ticks since boot), so that a pid reused by a later process is not taken for
/// the one named. Written as `host:pid:start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start: u64,
}

/// The fields of a `/proc/PID/stat` record after the command (field 2, in parentheses, which may
/// contain spaces): the first is field 3, the state.
fn stat_fields_after_command(stat: &str) -> Option<Vec<&str>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().collect())
}

/// The start time of a process on this host, from `/proc/PID/stat`; `None` when it is not
/// running (or its record cannot be read). A zombie — a process that has exited and closed its
/// files, its locks with them, but that its parent has not yet reaped — is not running: taken
/// for alive, it made a worker whose previous holder had just exited report that locks do not
/// exclude.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = stat_fields_after_command(&stat)?;
    if matches!(fields.first().copied(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// CPU time used so far by the processes of process group `pgid` on this host, in clock ticks:
/// user and system time of each member (all its threads) and of the children it has reaped. A
/// member that ends between two readings takes its time with it: any change between two
/// readings means the group ran.
pub fn group_cpu_ticks(pgid: i32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut ticks = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(fields) = stat_fields_after_command(&stat) else {
            continue;
        };
        // Field 5 is the process group; fields 14 to 17 are utime, stime, cutime, cstime.
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) != Some(pgid) {
            continue;
        }
        ticks += fields
            .get(11..15)
            .into_iter()
            .flatten()
            .filter_map(|t| t.parse::<u64>().ok())
            .sum::<u64>();
    }
    ticks
}

impl ProcessIdentity {
    /// This process.
    pub fn current() -> ProcessIdentity {
        let pid = std::process::id();
        ProcessIdentity {
            host: host_name(),
            pid,
            start: process_start(pid).unwrap_or(0),
        }
    }

    /// Parses `host:pid:start` (the host may itself contain colons).
    pub fn parse(text: &str) -> Option<ProcessIdentity> {
        let mut parts = text.trim().rsplitn(3, ':');
        let start = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        Some(ProcessIdentity { host, pid, start })
    }

    /// Whether this process is still running: `Some` on the host that runs it (the same pid with
    /// the same start time), `None` on any other host, which cannot tell.
    pub fn is_alive(&self) -> Option<bool> {
        (self.host == host_name()).then(|| process_start(self.pid) == Some(self.start))
    }
}

impl std::fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.host, self.pid, self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_identity_names_this_process_alive_and_a_dead_one_dead() {
        let me = ProcessIdentity::current();
        assert!(me.start > 0);
        assert_eq!(ProcessIdentity::parse(&me.to_string()), Some(me.clone()));
        assert_eq!(me.is_alive(), Some(true));
        let reused = ProcessIdentity {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(reused.is_alive(), Some(false));
        let elsewhere = ProcessIdentity {
            host: format!("{}-elsewhere", me.host),
            ..me
        };
        assert_eq!(elsewhere.is_alive(), None);
    }

    #[test]
    fn an_exited_process_not_yet_reaped_is_not_alive() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read line"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let identity = ProcessIdentity {
            pid: child.id(),
            start: process_start(child.id()).expect("the child runs"),
            ..ProcessIdentity::current()
        };
        assert_eq!(identity.is_alive(), Some(true));
        drop(child.stdin.take());
        // Until this test reaps it, the child is a zombie once it has exited.
        let zombie = || {
            std::fs::read_to_string(format!("/proc/{}/stat", identity.pid))
                .ok()
                .and_then(|stat| stat_fields_after_command(&stat).map(|f| f[0] == "Z"))
                .unwrap_or(false)
        };
        while !zombie() {
            std::thread::yield_now();
        }
        assert_eq!(identity.is_alive(), Some(false));
        child.wait().unwrap();
        assert_eq!(
            ProcessIdentity::parse("a:b:1:2").map(|p| p.host),
            Some("a:b".to_string())
        );
        assert_eq!(ProcessIdentity::parse("nonsense"), None);
    }

    #[test]
    fn nonces_are_32_hex_digits_and_differ() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
