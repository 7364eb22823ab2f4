//! Cloud storages with Icechunk 2.x's classes: `S3Options`, `ChecksumAlgorithm`, the
//! credential classes, and the builders behind `Storage.new_s3`, `new_r2`, `new_tigris`,
//! `new_http` and `new_redirect` (`new_gcs` and `new_azure_blob` build their options in
//! `storage.rs`; the `*_storage` functions of `icechunk.storage` call them all), with
//! `NetworkOptions` (retries, backoff, timeouts, large reads) that each accepts.
//!
//! Credentials go into the core's `Secret`s: they are never in `repr` (the spec's `Display`)
//! nor in error messages (the backend scrubs them), but they are pickled with the storage so
//! that a session sent to a Dask worker can authenticate there. A refresh function travels
//! pickled too.

pub mod credentials;
pub mod http;
pub mod network;
pub mod s3;

use std::sync::Arc;

use icechunk::storage::ExtraHeaders;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{invalid_input, CoreResultExt};
use crate::storage::PyStorage;

pub(crate) fn build(result: icechunk::Result<Arc<dyn icechunk::Storage>>) -> PyResult<PyStorage> {
    Ok(PyStorage::from_storage(result.py()?))
}

/// Extra headers on reads, writes, or both.
pub(crate) fn extra_headers(
    read: Option<&Bound<'_, PyDict>>,
    write: Option<&Bound<'_, PyDict>>,
    all: Option<&Bound<'_, PyDict>>,
) -> PyResult<ExtraHeaders> {
    Ok(ExtraHeaders { all: s3::header_map(all)?, read: s3::header_map(read)?, write: s3::header_map(write)? })
}

/// Icechunk 2.x's old layout of keys with a leading `/` does not exist in this format.
fn no_legacy_rooted_keys(legacy_rooted_keys: Option<bool>) -> PyResult<()> {
    if legacy_rooted_keys == Some(true) {
        return Err(invalid_input(
            "legacy_rooted_keys=True is not supported: this format has one key layout (leave it None)",
        ));
    }
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<network::PyNetworkOptions>()?;
    m.add_class::<s3::PyS3Options>()?;
    m.add_class::<s3::PyChecksumAlgorithm>()?;
    credentials::register(m)?;
    Ok(())
}
