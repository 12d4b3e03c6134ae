//! Writes vre's man pages, `vre.1` and one `vre-VERB.1` per verb, generated from the command
//! line's definition: `cargo run --example man -- DIR` (`make man` writes them to target/man).

use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// The environment vre reads, for the main page's ENVIRONMENT section.
const ENVIRONMENT: [(&str, &str); 5] = [
    (
        "VRE_FFMPEG",
        "The ffmpeg to run, as --ffmpeg; its ffprobe is taken from the same directory.",
    ),
    (
        "SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, PBS_ARRAY_INDEX",
        "The chunk vre work claims first, as --index.",
    ),
    (
        "NO_COLOR",
        "Set and not empty: no colour on a terminal either.",
    ),
    ("TERM", "dumb: no colour."),
    (
        "PATH",
        "Where ffmpeg and ffprobe are found without --ffmpeg.",
    ),
];

/// Writes every page into `dir` (created if missing) and returns their paths, sorted. The main
/// page ends with the exit codes (EXIT STATUS) and the environment vre reads.
pub fn write_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(vre::cli::args::Cli::command(), dir)?;
    let escape = |text: &str| text.replace('\\', "\\e").replace('-', "\\-");
    let mut sections = String::from(".SH \"EXIT STATUS\"\n");
    for code in vre::exit::Code::ALL {
        sections.push_str(&format!(
            ".TP\n\\fB{}\\fR ({})\n{}\n",
            code.number(),
            escape(code.name()),
            escape(code.meaning())
        ));
    }
    sections.push_str(".SH ENVIRONMENT\n");
    for (name, meaning) in ENVIRONMENT {
        sections.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            escape(name),
            escape(meaning)
        ));
    }
    let main_page = dir.join("vre.1");
    let mut text = std::fs::read_to_string(&main_page)?;
    text.push_str(&sections);
    std::fs::write(&main_page, text)?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    pages.retain(|p| p.extension().is_some_and(|e| e == "1"));
    pages.sort();
    Ok(pages)
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/man"), PathBuf::from);
    match write_pages(&dir) {
        Ok(pages) => {
            for page in pages {
                println!("{}", page.display());
            }
        }
        Err(e) => {
            eprintln!("man: cannot write man pages to {}: {e}", dir.display());
            std::process::exit(74);
        }
    }
}
