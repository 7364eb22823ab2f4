//! Cloud storage constructors with Icechunk 2.x's public names and keywords: `s3_storage`,
//! `r2_storage`, `tigris_storage`, `gcs_storage`, `azure_storage`, `http_storage`, and
//! `NetworkOptions` (retries, backoff, timeouts, large reads) that each of them accepts.
//!
//! Credentials go into the core's `Secret`s: they are never in `repr` (the spec's `Display`)
//! nor in error messages (the backend scrubs them), but they are pickled with the storage so
//! that a session sent to a Dask worker can authenticate there.

mod azure;
mod credentials;
mod gcs;
mod http;
mod network;
mod s3;

use std::sync::Arc;

use pyo3::prelude::*;

use crate::errors::CoreResultExt;
use crate::storage::PyStorage;

fn build(result: icechunk::Result<Arc<dyn icechunk::Storage>>) -> PyResult<PyStorage> {
    Ok(PyStorage::from_storage(result.py()?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<network::PyNetworkOptions>()?;
    m.add_function(wrap_pyfunction!(s3::s3_storage, m)?)?;
    m.add_function(wrap_pyfunction!(s3::r2_storage, m)?)?;
    m.add_function(wrap_pyfunction!(s3::tigris_storage, m)?)?;
    m.add_function(wrap_pyfunction!(gcs::gcs_storage, m)?)?;
    m.add_function(wrap_pyfunction!(azure::azure_storage, m)?)?;
    m.add_function(wrap_pyfunction!(http::http_storage, m)?)?;
    Ok(())
}
