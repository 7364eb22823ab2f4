//! Cloud storage constructors with Icechunk 2.x's public names and keywords: `s3_storage`,
//! `r2_storage`, `tigris_storage`, `gcs_storage`, `azure_storage`, `http_storage`, and
//! `NetworkOptions` (retries, backoff, timeouts, large reads) that each of them accepts.
//!
//! Credentials go into the core's `Secret`s: they are never in `repr` (the spec's `Display`)
//! nor in error messages (the backend scrubs them), but they are pickled with the storage so
//! that a session sent to a Dask worker can authenticate there.

use std::path::PathBuf;
use std::time::Duration;

use icechunk::storage::{
    AzureCredentials, AzureOptions, GcsCredentials, GcsOptions, HttpOptions, NetworkOptions, S3Options,
    S3Provider, Secret,
};
use icechunk::StorageSpec;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::config::PyStorage;
use crate::errors::invalid_input;

/// Retries, backoff, timeouts and large reads of a cloud storage. Durations are in seconds.
///
/// Failed requests (5xx, 429, timeouts, dropped connections) are retried up to `max_retries`
/// times with exponential backoff and jitter, from `initial_backoff` up to `max_backoff`, and
/// never later than `retry_timeout` after the first attempt.
#[pyclass(name = "NetworkOptions", module = "icechunk._icechunk", eq, get_all, set_all, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyNetworkOptions {
    pub max_retries: usize,
    pub initial_backoff: f64,
    pub max_backoff: f64,
    pub retry_timeout: f64,
    pub connect_timeout: f64,
    pub request_timeout: f64,
    pub large_read_threshold: u64,
    pub read_part_size: u64,
    pub read_concurrency: usize,
}

impl From<&NetworkOptions> for PyNetworkOptions {
    fn from(n: &NetworkOptions) -> Self {
        PyNetworkOptions {
            max_retries: n.max_retries,
            initial_backoff: n.initial_backoff.as_secs_f64(),
            max_backoff: n.max_backoff.as_secs_f64(),
            retry_timeout: n.retry_timeout.as_secs_f64(),
            connect_timeout: n.connect_timeout.as_secs_f64(),
            request_timeout: n.request_timeout.as_secs_f64(),
            large_read_threshold: n.large_read_threshold,
            read_part_size: n.read_part_size,
            read_concurrency: n.read_concurrency,
        }
    }
}

fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| invalid_input(format!("{name} must be a finite, non-negative number of seconds")))
}

impl PyNetworkOptions {
    fn to_core(&self) -> PyResult<NetworkOptions> {
        Ok(NetworkOptions {
            max_retries: self.max_retries,
            initial_backoff: seconds(self.initial_backoff, "initial_backoff")?,
            max_backoff: seconds(self.max_backoff, "max_backoff")?,
            retry_timeout: seconds(self.retry_timeout, "retry_timeout")?,
            connect_timeout: seconds(self.connect_timeout, "connect_timeout")?,
            request_timeout: seconds(self.request_timeout, "request_timeout")?,
            large_read_threshold: self.large_read_threshold,
            read_part_size: self.read_part_size,
            read_concurrency: self.read_concurrency,
        })
    }
}

#[pymethods]
impl PyNetworkOptions {
    #[new]
    #[pyo3(signature = (*, max_retries=None, initial_backoff=None, max_backoff=None,
        retry_timeout=None, connect_timeout=None, request_timeout=None,
        large_read_threshold=None, read_part_size=None, read_concurrency=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_retries: Option<usize>,
        initial_backoff: Option<f64>,
        max_backoff: Option<f64>,
        retry_timeout: Option<f64>,
        connect_timeout: Option<f64>,
        request_timeout: Option<f64>,
        large_read_threshold: Option<u64>,
        read_part_size: Option<u64>,
        read_concurrency: Option<usize>,
    ) -> PyResult<Self> {
        let d = PyNetworkOptions::from(&NetworkOptions::default());
        let options = PyNetworkOptions {
            max_retries: max_retries.unwrap_or(d.max_retries),
            initial_backoff: initial_backoff.unwrap_or(d.initial_backoff),
            max_backoff: max_backoff.unwrap_or(d.max_backoff),
            retry_timeout: retry_timeout.unwrap_or(d.retry_timeout),
            connect_timeout: connect_timeout.unwrap_or(d.connect_timeout),
            request_timeout: request_timeout.unwrap_or(d.request_timeout),
            large_read_threshold: large_read_threshold.unwrap_or(d.large_read_threshold),
            read_part_size: read_part_size.unwrap_or(d.read_part_size),
            read_concurrency: read_concurrency.unwrap_or(d.read_concurrency),
        };
        options.to_core()?; // reject bad durations now rather than at the storage
        Ok(options)
    }

    /// The defaults.
    #[staticmethod]
    fn default() -> Self {
        PyNetworkOptions::from(&NetworkOptions::default())
    }

    fn __repr__(&self) -> String {
        format!(
            "NetworkOptions(max_retries={}, initial_backoff={:?}, max_backoff={:?}, \
             retry_timeout={:?}, connect_timeout={:?}, request_timeout={:?}, \
             large_read_threshold={}, read_part_size={}, read_concurrency={})",
            self.max_retries,
            self.initial_backoff,
            self.max_backoff,
            self.retry_timeout,
            self.connect_timeout,
            self.request_timeout,
            self.large_read_threshold,
            self.read_part_size,
            self.read_concurrency
        )
    }

    /// Pickling: rebuilt through `__new__` with these keywords.
    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("max_retries", self.max_retries)?;
        kwargs.set_item("initial_backoff", self.initial_backoff)?;
        kwargs.set_item("max_backoff", self.max_backoff)?;
        kwargs.set_item("retry_timeout", self.retry_timeout)?;
        kwargs.set_item("connect_timeout", self.connect_timeout)?;
        kwargs.set_item("request_timeout", self.request_timeout)?;
        kwargs.set_item("large_read_threshold", self.large_read_threshold)?;
        kwargs.set_item("read_part_size", self.read_part_size)?;
        kwargs.set_item("read_concurrency", self.read_concurrency)?;
        Ok((PyTuple::empty(py), kwargs))
    }
}

fn network(options: Option<PyNetworkOptions>) -> PyResult<NetworkOptions> {
    options.map_or_else(|| Ok(NetworkOptions::default()), |o| o.to_core())
}

/// The S3 options shared by `s3_storage`, `r2_storage` and `tigris_storage`.
///
/// Credentials, as in Icechunk 2.x: `anonymous=True` (unsigned requests), else static keys if
/// given, else `from_env` (the `AWS_*` variables), which is the default when no key is given;
/// `from_env=False` without keys uses the default chain (web identity, instance metadata).
#[allow(clippy::too_many_arguments)]
fn s3_options(
    bucket: String,
    prefix: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    force_path_style: bool,
    network_options: Option<PyNetworkOptions>,
    unsafe_single_writer: bool,
) -> PyResult<S3Options> {
    let anonymous = anonymous.unwrap_or(false);
    let has_keys = access_key_id.is_some() || secret_access_key.is_some();
    let from_env = from_env.unwrap_or(!anonymous && !has_keys);
    Ok(S3Options {
        bucket,
        prefix: prefix.unwrap_or_default(),
        region,
        endpoint_url,
        allow_http,
        access_key_id: access_key_id.map(Secret::new),
        secret_access_key: secret_access_key.map(Secret::new),
        session_token: session_token.map(Secret::new),
        anonymous,
        from_env,
        force_path_style,
        unsafe_single_writer,
        provider: S3Provider::S3,
        network: network(network_options)?,
    })
}

fn build(result: icechunk::Result<std::sync::Arc<dyn icechunk::Storage>>) -> PyResult<PyStorage> {
    use crate::errors::CoreResultExt;
    Ok(PyStorage::from_storage(result.py()?))
}

/// An Amazon S3 bucket, or one of an S3-compatible server at `endpoint_url` (MinIO, Ceph...).
#[pyfunction]
#[pyo3(signature = (*, bucket, prefix, region=None, endpoint_url=None, allow_http=false,
    access_key_id=None, secret_access_key=None, session_token=None, anonymous=None, from_env=None,
    force_path_style=false, network=None, unsafe_single_writer=false))]
#[allow(clippy::too_many_arguments)]
fn s3_storage(
    bucket: String,
    prefix: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    force_path_style: bool,
    network: Option<PyNetworkOptions>,
    unsafe_single_writer: bool,
) -> PyResult<PyStorage> {
    let options = s3_options(
        bucket,
        prefix,
        region,
        endpoint_url,
        allow_http,
        access_key_id,
        secret_access_key,
        session_token,
        anonymous,
        from_env,
        force_path_style,
        network,
        unsafe_single_writer,
    )?;
    build(icechunk::storage::new_s3_storage(options))
}

/// A Cloudflare R2 bucket: give the account id (or the full `endpoint_url`).
#[pyfunction]
#[pyo3(signature = (*, bucket, prefix, account_id=None, endpoint_url=None, region=None,
    allow_http=false, access_key_id=None, secret_access_key=None, session_token=None,
    anonymous=None, from_env=None, network=None))]
#[allow(clippy::too_many_arguments)]
fn r2_storage(
    bucket: String,
    prefix: Option<String>,
    account_id: Option<String>,
    endpoint_url: Option<String>,
    region: Option<String>,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    network: Option<PyNetworkOptions>,
) -> PyResult<PyStorage> {
    let options = s3_options(
        bucket,
        prefix,
        region,
        endpoint_url,
        allow_http,
        access_key_id,
        secret_access_key,
        session_token,
        anonymous,
        from_env,
        false,
        network,
        false,
    )?;
    build(icechunk::storage::new_r2_storage(account_id.as_deref().unwrap_or(""), options))
}

/// A Tigris bucket; every request asks for global strong consistency.
#[pyfunction]
#[pyo3(signature = (*, bucket, prefix, region=None, endpoint_url=None, allow_http=false,
    access_key_id=None, secret_access_key=None, session_token=None, anonymous=None, from_env=None,
    network=None))]
#[allow(clippy::too_many_arguments)]
fn tigris_storage(
    bucket: String,
    prefix: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    anonymous: Option<bool>,
    from_env: Option<bool>,
    network: Option<PyNetworkOptions>,
) -> PyResult<PyStorage> {
    let options = s3_options(
        bucket,
        prefix,
        region,
        endpoint_url,
        allow_http,
        access_key_id,
        secret_access_key,
        session_token,
        anonymous,
        from_env,
        false,
        network,
        false,
    )?;
    build(icechunk::storage::new_tigris_storage(options))
}

/// Exactly one credential source, or none.
fn only_one(given: &[(&str, bool)]) -> PyResult<()> {
    let names: Vec<&str> = given.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect();
    if names.len() > 1 {
        return Err(invalid_input(format!("give only one kind of credentials, not {}", names.join(" and "))));
    }
    Ok(())
}

/// A Google Cloud Storage bucket. Without credentials: from the environment (`GOOGLE_*`
/// variables, application default credentials, instance metadata).
#[pyfunction]
#[pyo3(signature = (*, bucket, prefix, service_account_file=None, service_account_key=None,
    application_credentials=None, bearer_token=None, anonymous=None, from_env=None,
    endpoint_url=None, allow_http=false, network=None))]
#[allow(clippy::too_many_arguments)]
fn gcs_storage(
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
    let anonymous = anonymous.unwrap_or(false);
    only_one(&[
        ("service_account_file", service_account_file.is_some()),
        ("service_account_key", service_account_key.is_some()),
        ("application_credentials", application_credentials.is_some()),
        ("bearer_token", bearer_token.is_some()),
        ("anonymous", anonymous),
        ("from_env", from_env == Some(true)),
    ])?;
    let credentials = if let Some(path) = service_account_file {
        GcsCredentials::ServiceAccountPath(path)
    } else if let Some(key) = service_account_key {
        GcsCredentials::ServiceAccountKey(Secret::new(key))
    } else if let Some(path) = application_credentials {
        GcsCredentials::ApplicationDefault(Some(path))
    } else if let Some(token) = bearer_token {
        GcsCredentials::BearerToken(Secret::new(token))
    } else if anonymous {
        GcsCredentials::Anonymous
    } else if from_env == Some(false) {
        // Not from the variables: the well-known file of `gcloud auth application-default login`.
        GcsCredentials::ApplicationDefault(None)
    } else {
        GcsCredentials::FromEnv
    };
    let options = GcsOptions {
        bucket,
        prefix: prefix.unwrap_or_default(),
        credentials,
        endpoint_url,
        allow_http,
        network: self::network(network)?,
    };
    build(icechunk::storage::new_gcs_storage(options))
}

/// A container of an Azure storage account. Without credentials: from the environment
/// (`AZURE_*` variables, then managed identity).
#[pyfunction]
#[pyo3(signature = (*, account, container, prefix, access_key=None, sas_token=None,
    bearer_token=None, from_env=None, anonymous=None, endpoint_url=None, allow_http=false,
    network=None))]
#[allow(clippy::too_many_arguments)]
fn azure_storage(
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
    let anonymous = anonymous.unwrap_or(false);
    only_one(&[
        ("access_key", access_key.is_some()),
        ("sas_token", sas_token.is_some()),
        ("bearer_token", bearer_token.is_some()),
        ("anonymous", anonymous),
        ("from_env", from_env == Some(true)),
    ])?;
    let credentials = if let Some(key) = access_key {
        AzureCredentials::AccessKey(Secret::new(key))
    } else if let Some(sas) = sas_token {
        AzureCredentials::SasToken(Secret::new(sas))
    } else if let Some(token) = bearer_token {
        AzureCredentials::BearerToken(Secret::new(token))
    } else if anonymous {
        AzureCredentials::Anonymous
    } else {
        AzureCredentials::FromEnv
    };
    let options = AzureOptions {
        account,
        container,
        prefix: prefix.unwrap_or_default(),
        credentials,
        endpoint_url,
        allow_http,
        network: self::network(network)?,
    };
    build(icechunk::storage::new_azure_storage(options))
}

/// A repository served over HTTP(S), read-only: a write raises `ReadOnlyError`.
#[pyfunction]
#[pyo3(signature = (url, *, network=None))]
fn http_storage(url: String, network: Option<PyNetworkOptions>) -> PyResult<PyStorage> {
    let options = HttpOptions { url, network: self::network(network)? };
    build(icechunk::storage::new_http_storage_with(options))
}

/// Rebuilds a cloud storage from `StorageSpec::to_bytes` (credentials included).
pub fn from_spec_bytes(bytes: &[u8]) -> PyResult<PyStorage> {
    use crate::errors::CoreResultExt;
    let spec = StorageSpec::from_bytes(bytes).py()?;
    PyStorage::from_spec(&spec)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNetworkOptions>()?;
    m.add_function(wrap_pyfunction!(s3_storage, m)?)?;
    m.add_function(wrap_pyfunction!(r2_storage, m)?)?;
    m.add_function(wrap_pyfunction!(tigris_storage, m)?)?;
    m.add_function(wrap_pyfunction!(gcs_storage, m)?)?;
    m.add_function(wrap_pyfunction!(azure_storage, m)?)?;
    m.add_function(wrap_pyfunction!(http_storage, m)?)?;
    Ok(())
}
