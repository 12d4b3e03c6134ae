//! [`Argv`]: a program and its arguments, built without a shell and shown quoted for one.
//!
//! Local files are always passed as `file:` URLs with `-protocol_whitelist file`, so a path that
//! looks like a protocol (`http:…`), an option (`-x`) or a playlist pointing at the network is
//! still opened as a plain local file and nothing else.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The ffmpeg chosen with `--ffmpeg` / `VRE_FFMPEG` (unset: the ones on PATH).
static FFMPEG: OnceLock<PathBuf> = OnceLock::new();

/// Makes every ffmpeg vre starts the one at `ffmpeg`, and every ffprobe the one beside it. Set
/// once, before anything runs (later calls change nothing).
pub fn use_ffmpeg(ffmpeg: PathBuf) {
    let _ = FFMPEG.set(ffmpeg);
}

/// Where `program` (`ffmpeg` or `ffprobe`) is, when an ffmpeg was chosen.
pub fn chosen_path(program: &str) -> Option<PathBuf> {
    FFMPEG.get().map(|ffmpeg| match program {
        "ffmpeg" => ffmpeg.clone(),
        _ => ffmpeg.with_file_name(program),
    })
}

/// What to start for `program`: the chosen one, else its name (found on PATH).
fn program_path(program: &'static str) -> OsString {
    chosen_path(program).map_or_else(|| program.into(), PathBuf::into_os_string)
}

/// A program and its arguments.
#[derive(Debug, Clone)]
pub struct Argv {
    program: &'static str,
    args: Vec<OsString>,
}

impl Argv {
    /// `program` without arguments.
    pub(super) fn new(program: &'static str) -> Self {
        Argv {
            program,
            args: Vec::new(),
        }
    }

    /// ffmpeg, quiet but for errors, never reading stdin, overwriting its output.
    pub(super) fn ffmpeg() -> Self {
        let mut argv = Argv::new("ffmpeg");
        argv.push_all([
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-y",
        ]);
        argv
    }

    /// ffprobe, quiet but for errors, printing JSON.
    pub(super) fn ffprobe() -> Self {
        let mut argv = Argv::new("ffprobe");
        argv.push_all(["-v", "error", "-of", "json"]);
        argv
    }

    /// Adds one argument.
    pub(super) fn push(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments in order.
    pub(super) fn push_all<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds a local file as an input, restricted to the `file` protocol.
    pub(super) fn input_file(&mut self, path: &Path) -> &mut Self {
        self.push_all(["-protocol_whitelist", "file", "-i"]);
        self.push(file_url(path))
    }

    /// The program's name.
    pub fn program(&self) -> &'static str {
        self.program
    }

    /// The arguments after the program name.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// A `Command` ready to spawn (stdin closed; stdout and stderr left for the caller to set).
    pub(super) fn command(&self) -> Command {
        let mut cmd = Command::new(program_path(self.program));
        cmd.args(&self.args).stdin(Stdio::null());
        cmd
    }

    /// The command line as a person would type it, quoted for a POSIX shell (for logs only;
    /// vre itself never runs a shell).
    pub fn display(&self) -> String {
        let program = program_path(self.program);
        std::iter::once(program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One argument quoted for a POSIX shell, for showing commands to people.
pub fn shell_quote(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Quotes a path for an ffconcat list: single quotes, with `'` written as `'\''`.
pub fn concat_quote(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

/// A local path as a URL ffmpeg cannot mistake for a protocol or an option.
pub fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path.as_os_str());
    url
}

/// Puts `\\` before every character of `text` that is in `special` or is whitespace.
fn backslash_escape(text: &str, special: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if special.contains(c) || c.is_ascii_whitespace() {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// A value of one filter option, escaped for the filter's option list (`key=value:key=value`):
/// quotes, escapes, separators and whitespace are read as just characters, and a value that
/// looks like `key=…` stays one unnamed value.
pub fn escape_option_value(text: &str) -> String {
    backslash_escape(text, "\\':=")
}

/// A filter's whole option list escaped for the filtergraph around it (`a=…,b=…;[x]c`), so
/// that its quotes, escapes, labels and separators reach the filter as written.
pub fn escape_filter_options(text: &str) -> String {
    backslash_escape(text, "\\'[],;")
}

/// A value for a filter option, escaped for both levels of ffmpeg's filtergraph syntax (the
/// option list, then the graph), so that any path is read as just characters.
pub fn filter_value(text: &str) -> String {
    escape_filter_options(&escape_option_value(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let mut argv = Argv::new("ffmpeg");
        argv.push_all(["-i", "file:/a b/it's.mp4", "-vf", "hue=s=0"]);
        assert_eq!(
            argv.display(),
            r"ffmpeg -i 'file:/a b/it'\''s.mp4' -vf hue=s=0"
        );
    }

    #[test]
    fn file_urls_neutralise_protocols_and_dashes() {
        assert_eq!(file_url(Path::new("-x.mp4")), OsString::from("file:-x.mp4"));
        assert_eq!(
            file_url(Path::new("/in/http:evil")),
            OsString::from("file:/in/http:evil")
        );
    }
}
