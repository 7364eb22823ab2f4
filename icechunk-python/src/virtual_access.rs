//! Virtual chunk containers and their authorization, between Python and the engine.
//!
//! Containers travel as JSON text (the engine's serde shape, the one of `config.json`), so
//! that Python's `VirtualChunkContainer` and the engine's cannot drift apart: the engine
//! checks them. Authorizations are `Credentials.*` objects (or `None`), one per url prefix.

use std::collections::BTreeMap;

use icechunk::virtual_chunks::{containers, ContainerCredentials, VirtualChunkContainer};
use pyo3::prelude::*;

use crate::cloud::credentials::{PyAzureCredentials, PyCredentials, PyGcsCredentials, PyS3Credentials};
use crate::config_class::ConfigValue;
use crate::errors::{invalid_input, CoreResultExt};

/// `authorize_virtual_chunk_access` as Python gives it.
pub type Authorizations = BTreeMap<String, Option<PyCredentials>>;

/// The engine's credentials for each authorized url prefix. `None` (deprecated in Icechunk
/// 2.3, which warns in Python) is the store's default: the environment's credentials.
pub fn to_core(authorizations: Authorizations) -> BTreeMap<String, ContainerCredentials> {
    authorizations
        .into_iter()
        .map(|(prefix, credentials)| {
            let core = match credentials {
                None => ContainerCredentials::Default,
                Some(PyCredentials::LocalFileSystemAccess()) => ContainerCredentials::LocalFileSystemAccess,
                Some(PyCredentials::HttpAccess()) => ContainerCredentials::HttpAccess,
                Some(PyCredentials::S3(c)) => ContainerCredentials::S3(PyS3Credentials::to_auth(Some(&c))),
                Some(PyCredentials::Gcs(c)) => ContainerCredentials::Gcs(PyGcsCredentials::to_core(Some(&c))),
                Some(PyCredentials::Azure(c)) => {
                    ContainerCredentials::Azure(PyAzureCredentials::to_core(Some(&c)))
                }
            };
            (prefix, core)
        })
        .collect()
}

/// `EngineConfig.virtual_chunk_containers`: a JSON list of containers.
impl ConfigValue<Vec<VirtualChunkContainer>> for String {
    fn from_core(core: &Vec<VirtualChunkContainer>) -> Self {
        serde_json::to_string(core).expect("containers serialize")
    }

    fn to_core(&self, field: &str) -> PyResult<Vec<VirtualChunkContainer>> {
        let parsed: Vec<VirtualChunkContainer> = serde_json::from_str(self)
            .map_err(|e| invalid_input(format!("{field} is not a JSON list of containers: {e}")))?;
        containers::validate_all(&parsed).py()?;
        Ok(parsed)
    }
}

/// Checks one container (its JSON): `ValueError` (`InvalidInputError`) with the reason.
#[pyfunction]
fn _check_virtual_chunk_container(container: &str) -> PyResult<()> {
    let parsed: VirtualChunkContainer = serde_json::from_str(container)
        .map_err(|e| invalid_input(format!("not a virtual chunk container: {e}")))?;
    parsed.validate().py()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_check_virtual_chunk_container, m)?)
}
