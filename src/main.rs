//! The `vre` binary: everything happens in the library; see `vre --help`.

fn main() {
    std::process::exit(vre::cli::main());
}
