//! The `vre` binary: everything happens in the library; see `vre --help`.

fn main() {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`vre status job.vre | head -1`) instead of failing to print.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(vre::cli::dispatch::main());
}
