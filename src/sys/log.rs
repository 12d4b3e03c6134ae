//! Logs on stderr: one line per message, `vre: LEVEL message key=value …`, coloured only on a
//! terminal and never when `NO_COLOR` is set. `-q` keeps errors and warnings, `-v` adds debug
//! lines (such as every ffmpeg command line).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU8, Ordering};

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed.
    Error = 0,
    /// Something is off but work goes on.
    Warn = 1,
    /// What happened (the default).
    Info = 2,
    /// Details for diagnosis (`-v`).
    Debug = 3,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Level::Error => "\x1b[31m",
            Level::Warn => "\x1b[33m",
            Level::Info => "\x1b[32m",
            Level::Debug => "\x1b[2m",
        }
    }
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the most detailed level printed: `-q` → Warn, default → Info, `-v` → Debug.
pub fn set_level(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => Level::Warn,
        (false, 0) => Level::Info,
        (false, _) => Level::Debug,
    };
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether messages of `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Whether stderr gets colours: a terminal, `NO_COLOR` unset (<https://no-color.org>), and a
/// terminal type that is not `dumb`.
pub fn use_color() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Formats a log line (without colour).
pub fn format_line(level: Level, message: &str, fields: &[(&str, String)]) -> String {
    let mut line = format!("vre: {}: {message}", level.label());
    for (key, value) in fields {
        let quoted = value.is_empty() || value.contains([' ', '"', '=']);
        if quoted {
            line.push_str(&format!(" {key}={value:?}"));
        } else {
            line.push_str(&format!(" {key}={value}"));
        }
    }
    line
}

/// The calendar date (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's
/// algorithm).
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A time as RFC 3339 in UTC with milliseconds (`2026-12-08T03:35:52.123Z`).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (days, rest) = (since.as_secs() / 86_400, since.as_secs() % 86_400);
    let (year, month, day) = civil_date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// Prints a message with structured fields, if its level is enabled. Where stderr is not a
/// terminal (a log file, a scheduler's output) each line starts with its time (RFC 3339).
pub fn log(level: Level, message: &str, fields: &[(&str, String)]) {
    if !enabled(level) {
        return;
    }
    let mut line = format_line(level, message, fields);
    if !std::io::stderr().is_terminal() {
        line = format!("{} {line}", rfc3339(std::time::SystemTime::now()));
    }
    let mut err = std::io::stderr().lock();
    let _ = if use_color() {
        let label = format!("vre: {}:", level.label());
        let rest = &line[label.len()..];
        writeln!(err, "{}{label}\x1b[0m{rest}", level.color())
    } else {
        writeln!(err, "{line}")
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_level_message_and_quoted_fields() {
        let line = format_line(
            Level::Info,
            "chunk done",
            &[("index", "3".into()), ("worker", "a b".into())],
        );
        assert_eq!(line, r#"vre: info: chunk done index=3 worker="a b""#);
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        let at = |secs: u64, millis: u64| {
            rfc3339(
                std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(secs)
                    + std::time::Duration::from_millis(millis),
            )
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year) and 2026-12-08.
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_796_700_952, 123), "2026-12-08T03:35:52.123Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
    }
}
