//! Writes vre's man pages, `vre.1` and one `vre-VERB.1` per verb, generated from the command
//! line's definition: `cargo run --example man -- DIR` (`make man` writes them to target/man).

use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Writes every page into `dir` (created if missing) and returns their paths, sorted.
pub fn write_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(vre::cli::args::Cli::command(), dir)?;
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
