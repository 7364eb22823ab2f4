//! Why a command stopped: usage errors (exit code 2) and failures (1), each shown as one line.

use icechunk::IcechunkError;

/// Why a command stopped. Usage errors are the caller's to fix before anything runs.
#[derive(Debug)]
pub enum CliError {
    /// Exit code 2.
    Usage(String),
    /// Exit code 1.
    Failed(String),
    /// Exit code 1, with the report already printed (e.g. `fsck` found problems).
    Reported,
    /// Exit code 0: whoever read our output stopped reading (`icechunk log | head`).
    OutputClosed,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        CliError::Failed(message.into())
    }
}

impl From<IcechunkError> for CliError {
    fn from(error: IcechunkError) -> Self {
        CliError::Failed(describe(&error))
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::BrokenPipe => CliError::OutputClosed,
            _ => CliError::Failed(error.to_string()),
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// An engine error as one line, in the words of a shell user.
fn describe(error: &IcechunkError) -> String {
    let message = match error {
        // The engine's message speaks Python (`Repository.create`).
        IcechunkError::RepositoryNotFound { location } => {
            format!("no repository at {location} (create one with `icechunk init`)")
        }
        other => other.to_string(),
    };
    message.replace('\n', " ")
}
