//! The `icechunk` binary: see the crate documentation of `icechunk_cli`.

fn main() {
    std::process::exit(icechunk_cli::run(std::env::args_os()));
}
