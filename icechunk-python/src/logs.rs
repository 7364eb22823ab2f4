//! Logs of the engine (its `tracing` events), on stderr, off unless asked for.
//!
//! `initialize_logs()` (called at `import icechunk`) reads the filter from the environment
//! variable `ICECHUNK_LOG` (`tracing-subscriber`'s `EnvFilter` syntax: `debug`,
//! `icechunk=trace,warn`...); `set_logs_filter(directive)` changes it at any time, and
//! `set_logs_filter(None)` reads the variable again. Without a filter nothing is logged.
//! `ICECHUNK_LOG_TO_STDOUT` (any value, when logs are first initialized) writes to stdout.

use std::sync::OnceLock;

use pyo3::prelude::*;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::errors::invalid_input;

type FilterHandle = reload::Handle<EnvFilter, Registry>;

/// The handle that changes the filter; `None` if another subscriber was installed first.
static HANDLE: OnceLock<Option<FilterHandle>> = OnceLock::new();

fn filter(directive: Option<&str>) -> PyResult<EnvFilter> {
    let directive = match directive {
        Some(d) => d.to_string(),
        None => std::env::var("ICECHUNK_LOG").unwrap_or_default(),
    };
    if directive.trim().is_empty() {
        return Ok(EnvFilter::new("off"));
    }
    EnvFilter::try_new(&directive).map_err(|e| invalid_input(format!("bad log filter {directive:?}: {e}")))
}

fn handle() -> Option<&'static FilterHandle> {
    HANDLE
        .get_or_init(|| {
            let (layer, handle) = reload::Layer::new(EnvFilter::new("off"));
            let to_stdout = std::env::var_os("ICECHUNK_LOG_TO_STDOUT").is_some();
            let output = tracing_subscriber::fmt::layer().with_ansi(false).with_target(true);
            let installed = if to_stdout {
                let subscriber = Registry::default().with(layer).with(output.with_writer(std::io::stdout));
                tracing::subscriber::set_global_default(subscriber)
            } else {
                let subscriber = Registry::default().with(layer).with(output.with_writer(std::io::stderr));
                tracing::subscriber::set_global_default(subscriber)
            };
            installed.ok().map(|_| handle)
        })
        .as_ref()
}

fn apply(filter: EnvFilter) -> PyResult<()> {
    match handle() {
        Some(handle) => {
            handle.reload(filter).map_err(|e| invalid_input(format!("cannot change the log filter: {e}")))
        }
        None => Ok(()),
    }
}

/// Start logging with the filter of `ICECHUNK_LOG` (nothing without it).
#[pyfunction]
pub fn initialize_logs() -> PyResult<()> {
    apply(filter(None)?)
}

/// Log what `log_filter_directive` selects (`"debug"`, `"icechunk=trace,warn"`, `"off"`...);
/// `None` reads `ICECHUNK_LOG` again.
#[pyfunction]
#[pyo3(signature = (log_filter_directive))]
pub fn set_logs_filter(log_filter_directive: Option<&str>) -> PyResult<()> {
    apply(filter(log_filter_directive)?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(initialize_logs, m)?)?;
    m.add_function(wrap_pyfunction!(set_logs_filter, m)?)?;
    Ok(())
}
