//! `gcs_storage`: Google Cloud Storage.

use std::path::PathBuf;

use icechunk::storage::GcsOptions;
use pyo3::prelude::*;

use super::network::PyNetworkOptions;
use super::{build, credentials};
use crate::storage::PyStorage;

/// A Google Cloud Storage bucket. Without credentials: from the environment (`GOOGLE_*`
/// variables, application default credentials, instance metadata).
#[pyfunction]
#[pyo3(signature = (*, bucket, prefix, service_account_file=None, service_account_key=None,
    application_credentials=None, bearer_token=None, anonymous=None, from_env=None,
    endpoint_url=None, allow_http=false, network=None))]
#[allow(clippy::too_many_arguments)]
pub fn gcs_storage(
    bucket: String,
    prefix: Option<String>,
    service_account_file: Option<PathBuf>,
    service_account_key: Option<String>,
    application_credentials: Option<PathBuf>,
    bearer_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    endpoint_url: Option<String>,
    allow_http: bool,
    network: Option<PyNetworkOptions>,
) -> PyResult<PyStorage> {
    let credentials = credentials::gcs(
        service_account_file,
        service_account_key,
        application_credentials,
        bearer_token,
        anonymous,
        from_env,
    )?;
    let options = GcsOptions {
        bucket,
        prefix: prefix.unwrap_or_default(),
        credentials,
        endpoint_url,
        allow_http,
        network: super::network::network(network)?,
    };
    build(icechunk::storage::new_gcs_storage(options))
}
