//! `http_storage`: read-only repositories over plain HTTP(S).

use icechunk::storage::HttpOptions;
use pyo3::prelude::*;

use super::build;
use super::network::PyNetworkOptions;
use crate::storage::PyStorage;

/// A repository served over HTTP(S), read-only: a write raises `ReadOnlyError`.
#[pyfunction]
#[pyo3(signature = (url, *, network=None))]
pub fn http_storage(url: String, network: Option<PyNetworkOptions>) -> PyResult<PyStorage> {
    let options = HttpOptions { url, network: super::network::network(network)? };
    build(icechunk::storage::new_http_storage_with(options))
}
