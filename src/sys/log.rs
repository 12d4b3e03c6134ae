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

/// Prints a message with structured fields, if its level is enabled.
pub fn log(level: Level, message: &str, fields: &[(&str, String)]) {
    if !enabled(level) {
        return;
    }
    let line = format_line(level, message, fields);
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
}
