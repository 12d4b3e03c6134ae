//! Manners of the command line: every verb's --help shows an example, shell completions and
//! man pages cover every verb.

mod common;

use clap::CommandFactory;
use common::*;
use std::process::Command;

#[allow(dead_code)] // its main() is the example's entry point, not used here
#[path = "../examples/man.rs"]
mod man;

/// Every verb clap knows, as typed on the command line.
fn verbs() -> Vec<String> {
    let verbs: Vec<String> = vre::cli::args::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|name| name != "help")
        .collect();
    for expected in ["plan", "work", "assemble", "run", "report", "completions"] {
        assert!(
            verbs.iter().any(|v| v == expected),
            "{expected} in {verbs:?}"
        );
    }
    verbs
}

fn has_example(help: &str) -> bool {
    help.lines().any(|l| l.starts_with("Example"))
}

#[test]
fn every_verb_help_shows_an_example() {
    let top = vre_ok(["--help"]);
    assert!(has_example(&String::from_utf8_lossy(&top.stdout)));
    for verb in verbs() {
        let out = vre_ok([verb.as_str(), "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            has_example(&help),
            "`vre {verb} --help` shows no example:\n{help}"
        );
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("vre {verb}"))),
            "the example of `vre {verb}` uses it:\n{help}"
        );
    }
}

#[test]
fn completions_cover_every_verb_and_complete_in_bash() {
    let verbs = verbs();
    for shell in ["bash", "zsh", "fish"] {
        let out = vre_ok(["completions", shell]);
        let script = String::from_utf8(out.stdout).unwrap();
        for verb in &verbs {
            assert!(
                script.contains(verb.as_str()),
                "{shell} completion lacks {verb}"
            );
        }
    }
    let refused = run_vre(["completions", "tcsh"]);
    assert_eq!(refused.status.code(), Some(64));

    // Bash really completes with it: `vre rep<TAB>` and `vre report --o<TAB>`.
    let tmp = temp_dir();
    let script = tmp.path().join("vre.bash");
    std::fs::write(&script, vre_ok(["completions", "bash"]).stdout).unwrap();
    let probe = r#"source "$1" || exit 1
complete -p vre || exit 1
COMP_WORDS=(vre rep); COMP_CWORD=1; _vre vre rep vre; echo "verbs: ${COMPREPLY[*]}"
COMP_WORDS=(vre report --o); COMP_CWORD=2; _vre vre --o report; echo "options: ${COMPREPLY[*]}""#;
    let out = Command::new("bash")
        .args(["--norc", "-c", probe, "probe"])
        .arg(&script)
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("complete -o bashdefault -o default -o nosort -F _vre vre"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "verbs: report"), "{text}");
    assert!(text.lines().any(|l| l == "options: --output"), "{text}");
}

#[test]
fn man_pages_cover_every_verb_with_its_example() {
    let tmp = temp_dir();
    let pages = man::write_pages(tmp.path()).unwrap();
    let main_page = std::fs::read_to_string(tmp.path().join("vre.1")).unwrap();
    assert!(main_page.starts_with(".ie"), "a roff page");
    // Every exit code and the environment, after the generated sections.
    assert!(main_page.contains(".SH \"EXIT STATUS\""), "{main_page}");
    for code in vre::exit::Code::ALL {
        assert!(
            main_page.contains(&format!("\\fB{}\\fR", code.number())),
            "exit {code} in vre.1"
        );
    }
    assert!(main_page.contains(".SH ENVIRONMENT") && main_page.contains("VRE_FFMPEG"));
    for verb in verbs() {
        let page = tmp.path().join(format!("vre-{verb}.1"));
        assert!(pages.contains(&page), "{} in {pages:?}", page.display());
        assert!(
            main_page.contains(&format!("vre\\-{verb}(1)")),
            "vre.1 lists {verb}"
        );
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(
            text.contains("Example"),
            "{} has its example",
            page.display()
        );
    }
}

#[test]
fn parser_errors_speak_as_vre_does_and_help_of_help_is_the_top_level_help() {
    for (args, named) in [
        (
            vec!["plan", "in.mp4", "-o", "x.vre", "--bogus"],
            "'--bogus'",
        ),
        (vec!["work", "x.vre", "-j", "0"], "'0'"),
        (
            vec!["plan", "in.mp4", "-o", "x.vre", "--range", "ten"],
            "START:END",
        ),
    ] {
        let out = run_vre(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.starts_with("vre: error: "), "{args:?}: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
    for flag in ["--help", "-h"] {
        let out = vre_ok(["help", flag]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: vre [OPTIONS] <COMMAND>"), "{text}");
    }
}

/// Whether `text` is an RFC 3339 time in UTC with milliseconds (`2026-12-08T03:35:52.123Z`).
fn is_rfc3339_utc(text: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    text.len() == shape.len()
        && text
            .chars()
            .zip(shape.chars())
            .all(|(c, s)| if s == 'd' { c.is_ascii_digit() } else { c == s })
}

#[test]
fn every_event_and_log_line_says_when_and_where_it_happened() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 1.0,
        audio: false,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    vre_plan(&input, &plan_dir, ["--chunks", "2", "-q"]);
    let copy = tmp.path().join("copy.vre");
    let out = vre_ok(args!["work", plan_dir, "--json"]);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(events.len() >= 4, "{events:?}");
    let pid = events[0]["pid"].as_u64().unwrap();
    for event in &events {
        assert!(is_rfc3339_utc(event["time"].as_str().unwrap()), "{event}");
        assert_eq!(event["host"], vre::sys::host::host_name(), "{event}");
        assert_eq!(event["pid"].as_u64(), Some(pid), "{event}");
        assert_eq!(event["plan_dir"], plan_dir.display().to_string(), "{event}");
        assert!(event["event"].is_string(), "{event}");
    }
    // Log lines on a stderr that is not a terminal start with their time.
    vre_plan(&input, &copy, ["--chunks", "2", "-q"]);
    let logged = vre_ok(args!["work", copy]);
    let lines: Vec<String> = stderr(&logged)
        .lines()
        .filter(|l| l.contains(" vre: "))
        .map(str::to_string)
        .collect();
    assert!(lines.len() >= 3, "{}", stderr(&logged));
    for line in &lines {
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(is_rfc3339_utc(time) && rest.starts_with("vre: "), "{line}");
    }
}

#[test]
fn the_top_level_examples_fit_their_lines() {
    let out = vre_ok(["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    let examples = help.split("Examples:").nth(1).unwrap();
    let examples = examples.split("\n\n").next().unwrap();
    for line in examples.lines().filter(|l| !l.trim().is_empty()) {
        // Each example stays on its own line: none wraps into a fragment of the line above.
        assert!(line.starts_with("  vre "), "wrapped: {line:?}");
    }
    assert!(help.lines().all(|l| l.chars().count() <= 100), "{help}");
}
