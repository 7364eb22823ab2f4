//! The `icechunk` command line: look into a repository, check it, and maintain it from a
//! shell. The same code runs as the `icechunk` binary (`cargo install --path icechunk-cli`)
//! and as the Python wheel's console script (through [`run`]).
//!
//! - [`args`]: the commands and flags (clap)
//! - [`location`]: the repository argument, a path or a URL, as a storage
//! - [`refs`]: branch, tag and snapshot names given on the command line
//! - [`output`]: tables for people, one JSON document with `--json`
//! - [`commands`]: one module per command
//! - [`error`]: why a command stopped, and its exit code
//!
//! Exit codes: 0 success, 1 failure (including problems `fsck` found), 2 usage errors (an
//! unknown flag, a malformed URL, a bad ref name). Errors are one line on stderr.

pub mod args;
pub mod commands;
pub mod error;
pub mod location;
pub mod output;
pub mod refs;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

pub use error::{CliError, CliResult};

/// Runs the command line `args` (the program name first) and returns the exit code.
/// Never panics across this boundary: an internal panic becomes exit code 1 and one line.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let parsed = match args::Cli::try_parse_from(args) {
        Ok(parsed) => parsed,
        Err(error) => return usage_error(error),
    };
    // The panic message goes to our one line, not to the default hook's multi-line report.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_parsed(parsed)));
    std::panic::set_hook(previous_hook);
    let outcome = outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown".into());
        Err(CliError::failed(format!("internal error: {what}")))
    });
    match outcome {
        Ok(()) | Err(CliError::OutputClosed) => 0,
        Err(CliError::Reported) => 1,
        Err(CliError::Usage(message)) => {
            error_line(&message);
            2
        }
        Err(CliError::Failed(message)) => {
            error_line(&message);
            1
        }
    }
}

fn run_parsed(cli: args::Cli) -> CliResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(commands::dispatch(cli));
    // Background work (a session's lease deletion) gets a moment to finish, not forever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result
}

/// `--help` and `--version` print and succeed; every other parse error is one line and 2.
fn usage_error(error: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            0
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            2
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            error_line(&format!("{first} (see `icechunk --help`)"));
            2
        }
    }
}

fn error_line(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "icechunk: error: {message}");
}
