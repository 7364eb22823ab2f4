//! Read-only repositories over plain HTTP(S) (`Storage.new_http`), and storages found by
//! following redirects (`Storage.new_redirect`).

use std::collections::HashMap;

use icechunk::storage::{ExtraHeaders, HttpOptions};
use pyo3::prelude::*;

use super::build;
use super::network::{network, PyNetworkOptions};
use crate::errors::CoreResultExt;
use crate::runtime::block_on;
use crate::storage::PyStorage;

/// A repository served over HTTP(S), read-only: a write raises `ReadOnlyError`. `config` holds
/// `object_store` client options by name; `headers` go with every request.
pub fn new_http(
    base_url: String,
    config: Option<HashMap<String, String>>,
    headers: Option<HashMap<String, String>>,
    network_options: Option<PyNetworkOptions>,
) -> PyResult<PyStorage> {
    let options = HttpOptions {
        url: base_url,
        network: network(network_options)?,
        options: config.unwrap_or_default().into_iter().collect(),
        headers: ExtraHeaders {
            all: headers.unwrap_or_default().into_iter().collect(),
            ..Default::default()
        },
    };
    build(icechunk::storage::new_http_storage_with(options))
}

/// The read-only storage that `base_url`'s redirects lead to (see the engine's
/// `storage::resolve_redirect` for the locations understood).
pub fn new_redirect(py: Python<'_>, base_url: String) -> PyResult<PyStorage> {
    let defaults = icechunk::storage::NetworkOptions::default();
    let spec = block_on(py, icechunk::storage::resolve_redirect(&base_url, &defaults)).py()?;
    PyStorage::from_spec(&spec)
}
