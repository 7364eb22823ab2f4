//! `azure_storage`: Azure Blob Storage.

use icechunk::storage::AzureOptions;
use pyo3::prelude::*;

use super::network::PyNetworkOptions;
use super::{build, credentials};
use crate::storage::PyStorage;

/// A container of an Azure storage account. Without credentials: from the environment
/// (`AZURE_*` variables, then managed identity).
#[pyfunction]
#[pyo3(signature = (*, account, container, prefix, access_key=None, sas_token=None,
    bearer_token=None, from_env=None, anonymous=None, endpoint_url=None, allow_http=false,
    network=None))]
#[allow(clippy::too_many_arguments)]
pub fn azure_storage(
    account: String,
    container: String,
    prefix: Option<String>,
    access_key: Option<String>,
    sas_token: Option<String>,
    bearer_token: Option<String>,
    from_env: Option<bool>,
    anonymous: Option<bool>,
    endpoint_url: Option<String>,
    allow_http: bool,
    network: Option<PyNetworkOptions>,
) -> PyResult<PyStorage> {
    let credentials = credentials::azure(access_key, sas_token, bearer_token, anonymous, from_env)?;
    let options = AzureOptions {
        account,
        container,
        prefix: prefix.unwrap_or_default(),
        credentials,
        endpoint_url,
        allow_http,
        network: super::network::network(network)?,
    };
    build(icechunk::storage::new_azure_storage(options))
}
