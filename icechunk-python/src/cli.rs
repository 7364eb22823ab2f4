//! The `icechunk` command line inside the wheel: the console script calls [`cli_main`], which
//! runs the same code as the `icechunk` binary of `cargo install` (crate `icechunk-cli`).

use pyo3::prelude::*;

/// Runs the command line `argv` (program name first) and returns its exit code. The
/// interpreter is released for the whole run: the command does its own I/O on its own runtime.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| icechunk_cli::run(argv))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cli_main, m)?)
}
