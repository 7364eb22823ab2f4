//! `icechunk._icechunk`: the Python binding of the `icechunk` core crate.
//!
//! Thin by design: each method converts its arguments, calls the core and converts the
//! result. The Python package `icechunk` builds the public API on top of these classes.

mod api_types;
mod cli;
mod cloud;
mod config;
mod config_class;
mod conflicts;
mod conversions;
mod diff;
mod errors;
mod gc;
mod logs;
mod pipeline;
mod repo_state;
mod repository;
mod runtime;
mod session;
mod storage;
mod storage_settings;
mod store;
mod twins;
mod virtual_access;
mod virtual_refs;

use pyo3::prelude::*;

#[pymodule]
fn _icechunk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    storage::register(m)?;
    config::register(m)?;
    cloud::register(m)?;
    conflicts::register(m)?;
    diff::register(m)?;
    repository::register(m)?;
    repo_state::register(m)?;
    gc::register(m)?;
    session::register(m)?;
    store::register(m)?;
    api_types::register(m)?;
    logs::register(m)?;
    storage_settings::register(m)?;
    virtual_access::register(m)?;
    cli::register(m)?;
    m.add_function(wrap_pyfunction!(errors::_all_error_kinds, m)?)?;
    m.add_class::<runtime::Finished>()?;
    // Before the interpreter finalizes, runtime threads must stop calling into it (see
    // the `runtime` module docs).
    let exiting = wrap_pyfunction!(runtime::python_exiting, m)?;
    m.py().import("atexit")?.call_method1("register", (exiting,))?;
    Ok(())
}
