//! `Storage`: where a repository lives; picklable, so that another process (a Dask worker)
//! opens the same one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use icechunk::storage::{AzureOptions, ExtraHeaders, GcsOptions, S3Provider};
use icechunk::{Storage, StorageSpec};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::api_types::PyAttribution;
use crate::cloud::credentials::{PyAzureCredentials, PyGcsCredentials, PyS3Credentials};
use crate::cloud::network::PyNetworkOptions;
use crate::cloud::s3::{PyS3Options, S3Common};
use crate::cloud::{self, http, s3};
use crate::errors::{invalid_input, CoreResultExt};
use crate::runtime::block_on;
use crate::storage_settings::PyStorageSettings;

/// In-memory storages of this process by id, so that a pickle round trip inside one
/// process (zarr does this) finds the same data. Another process cannot see them.
static IN_MEMORY: Mutex<Option<HashMap<u64, Weak<dyn Storage>>>> = Mutex::new(None);

fn next_memory_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Where a repository's objects live. Build one with `in_memory_storage()`,
/// `local_filesystem_storage(path)`, or a cloud constructor (`s3_storage`, `gcs_storage`,
/// `azure_storage`, `http_storage`...). Its `repr` never shows credentials; pickling keeps
/// them, so that another process (a Dask worker) can open the same storage.
#[pyclass(name = "Storage", module = "icechunk._icechunk", frozen)]
pub struct PyStorage {
    pub storage: Arc<dyn Storage>,
    /// (process id, id in IN_MEMORY) for in-memory storages.
    memory: Option<(u32, u64)>,
}

impl PyStorage {
    fn in_memory() -> Self {
        let storage = icechunk::storage::new_in_memory_storage();
        let id = next_memory_id();
        let mut registry = IN_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        let map = registry.get_or_insert_with(HashMap::new);
        map.retain(|_, weak| weak.strong_count() > 0);
        map.insert(id, Arc::downgrade(&storage));
        PyStorage { storage, memory: Some((std::process::id(), id)) }
    }

    pub(crate) fn from_spec(spec: &StorageSpec) -> PyResult<Self> {
        let storage = icechunk::storage::from_spec(spec).py()?;
        Ok(PyStorage { storage, memory: None })
    }

    /// A storage that can be rebuilt from its spec (anything but in-memory).
    pub(crate) fn from_storage(storage: Arc<dyn Storage>) -> Self {
        PyStorage { storage, memory: None }
    }

    fn find_in_memory(pid: u32, id: u64) -> PyResult<Self> {
        let gone = || {
            invalid_input(
                "an in-memory storage cannot be unpickled in another process, \
                 or after it was dropped: use local_filesystem_storage to share a repository",
            )
        };
        if pid != std::process::id() {
            return Err(gone());
        }
        let registry = IN_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        let storage =
            registry.as_ref().and_then(|map| map.get(&id)).and_then(Weak::upgrade).ok_or_else(gone)?;
        Ok(PyStorage { storage, memory: Some((pid, id)) })
    }
}

/// A new, empty storage in this process's memory (gone when the last reference is).
#[pyfunction]
pub fn in_memory_storage() -> PyStorage {
    PyStorage::in_memory()
}

/// Storage in a directory of the local file system (created if missing).
#[pyfunction]
pub fn local_filesystem_storage(path: PathBuf) -> PyResult<PyStorage> {
    PyStorage::from_spec(&StorageSpec::LocalFilesystem { path })
}

/// Rebuild a storage from `Storage.__reduce__`'s state.
#[pyfunction]
#[pyo3(signature = (kind, path=None, memory=None, spec=None))]
fn _storage_from_state(
    kind: &str,
    path: Option<PathBuf>,
    memory: Option<(u32, u64)>,
    spec: Option<Vec<u8>>,
) -> PyResult<PyStorage> {
    match (kind, path, memory, spec) {
        ("local", Some(path), _, _) => local_filesystem_storage(path),
        ("memory", _, Some((pid, id)), _) => PyStorage::find_in_memory(pid, id),
        ("spec", _, _, Some(bytes)) => PyStorage::from_spec(&StorageSpec::from_bytes(&bytes).py()?),
        _ => Err(invalid_input("not a pickled Storage")),
    }
}

#[pymethods]
impl PyStorage {
    /// Amazon S3, or an S3-compatible server at `config.endpoint_url`.
    #[classmethod]
    #[pyo3(signature = (config, bucket, prefix, credentials=None, legacy_rooted_keys=None, *,
        read_headers=None, write_headers=None, headers=None, network=None, unsafe_single_writer=false))]
    #[allow(clippy::too_many_arguments)]
    fn new_s3(
        _cls: &Bound<'_, PyType>,
        config: PyS3Options,
        bucket: String,
        prefix: Option<String>,
        credentials: Option<PyS3Credentials>,
        legacy_rooted_keys: Option<bool>,
        read_headers: Option<&Bound<'_, PyDict>>,
        write_headers: Option<&Bound<'_, PyDict>>,
        headers: Option<&Bound<'_, PyDict>>,
        network: Option<PyNetworkOptions>,
        unsafe_single_writer: bool,
    ) -> PyResult<Self> {
        let common =
            S3Common { credentials, legacy_rooted_keys, read_headers, write_headers, headers, network };
        let mut options = s3::s3_options(S3Provider::S3, &config, bucket, prefix, common)?;
        options.unsafe_single_writer = unsafe_single_writer;
        s3::new_s3(options)
    }

    /// The same as `new_s3`: every S3 storage of this engine is on `object_store`.
    #[classmethod]
    #[pyo3(signature = (config, bucket, prefix, credentials=None, *, read_headers=None,
        write_headers=None, headers=None, network=None))]
    #[allow(clippy::too_many_arguments)]
    fn new_s3_object_store(
        _cls: &Bound<'_, PyType>,
        config: PyS3Options,
        bucket: String,
        prefix: Option<String>,
        credentials: Option<PyS3Credentials>,
        read_headers: Option<&Bound<'_, PyDict>>,
        write_headers: Option<&Bound<'_, PyDict>>,
        headers: Option<&Bound<'_, PyDict>>,
        network: Option<PyNetworkOptions>,
    ) -> PyResult<Self> {
        let common =
            S3Common { credentials, legacy_rooted_keys: None, read_headers, write_headers, headers, network };
        s3::new_s3(s3::s3_options(S3Provider::S3, &config, bucket, prefix, common)?)
    }

    /// Tigris, with global strong consistency on every request.
    #[classmethod]
    #[pyo3(signature = (config, bucket, prefix, use_weak_consistency, credentials=None,
        legacy_rooted_keys=None, *, read_headers=None, write_headers=None, headers=None, network=None))]
    #[allow(clippy::too_many_arguments)]
    fn new_tigris(
        _cls: &Bound<'_, PyType>,
        config: PyS3Options,
        bucket: String,
        prefix: Option<String>,
        use_weak_consistency: bool,
        credentials: Option<PyS3Credentials>,
        legacy_rooted_keys: Option<bool>,
        read_headers: Option<&Bound<'_, PyDict>>,
        write_headers: Option<&Bound<'_, PyDict>>,
        headers: Option<&Bound<'_, PyDict>>,
        network: Option<PyNetworkOptions>,
    ) -> PyResult<Self> {
        let common =
            S3Common { credentials, legacy_rooted_keys, read_headers, write_headers, headers, network };
        s3::new_tigris(
            use_weak_consistency,
            s3::s3_options(S3Provider::Tigris, &config, bucket, prefix, common)?,
        )
    }

    /// Cloudflare R2: the account id gives the endpoint, unless `config.endpoint_url` is set.
    #[classmethod]
    #[pyo3(signature = (config, bucket=None, prefix=None, account_id=None, credentials=None,
        legacy_rooted_keys=None, *, read_headers=None, write_headers=None, headers=None, network=None))]
    #[allow(clippy::too_many_arguments)]
    fn new_r2(
        _cls: &Bound<'_, PyType>,
        config: PyS3Options,
        bucket: Option<String>,
        prefix: Option<String>,
        account_id: Option<String>,
        credentials: Option<PyS3Credentials>,
        legacy_rooted_keys: Option<bool>,
        read_headers: Option<&Bound<'_, PyDict>>,
        write_headers: Option<&Bound<'_, PyDict>>,
        headers: Option<&Bound<'_, PyDict>>,
        network: Option<PyNetworkOptions>,
    ) -> PyResult<Self> {
        let bucket = bucket.ok_or_else(|| invalid_input("an R2 storage needs a bucket"))?;
        let common =
            S3Common { credentials, legacy_rooted_keys, read_headers, write_headers, headers, network };
        s3::new_r2(account_id, s3::s3_options(S3Provider::R2, &config, bucket, prefix, common)?)
    }

    /// A new, empty storage in this process's memory.
    #[classmethod]
    fn new_in_memory(_cls: &Bound<'_, PyType>) -> Self {
        PyStorage::in_memory()
    }

    /// A folder of the local file system (created if missing).
    #[classmethod]
    fn new_local_filesystem(_cls: &Bound<'_, PyType>, path: PathBuf) -> PyResult<Self> {
        local_filesystem_storage(path)
    }

    /// Google Cloud Storage.
    #[classmethod]
    #[pyo3(signature = (bucket, prefix, credentials=None, *, config=None, read_headers=None,
        write_headers=None, headers=None, endpoint_url=None, allow_http=false, network=None))]
    #[allow(clippy::too_many_arguments)]
    fn new_gcs(
        _cls: &Bound<'_, PyType>,
        bucket: String,
        prefix: Option<String>,
        credentials: Option<PyGcsCredentials>,
        config: Option<HashMap<String, String>>,
        read_headers: Option<&Bound<'_, PyDict>>,
        write_headers: Option<&Bound<'_, PyDict>>,
        headers: Option<&Bound<'_, PyDict>>,
        endpoint_url: Option<String>,
        allow_http: bool,
        network: Option<PyNetworkOptions>,
    ) -> PyResult<Self> {
        let options = GcsOptions {
            bucket,
            prefix: prefix.unwrap_or_default(),
            credentials: PyGcsCredentials::to_core(credentials.as_ref()),
            endpoint_url,
            allow_http,
            network: cloud::network::network(network)?,
            config: config.unwrap_or_default().into_iter().collect(),
            headers: cloud::extra_headers(read_headers, write_headers, headers)?,
            read_only: false,
        };
        cloud::build(icechunk::storage::new_gcs_storage(options))
    }

    /// Azure Blob Storage.
    #[classmethod]
    #[pyo3(signature = (account, container, prefix, credentials=None, *, config=None,
        endpoint_url=None, allow_http=false, network=None))]
    #[allow(clippy::too_many_arguments)]
    fn new_azure_blob(
        _cls: &Bound<'_, PyType>,
        account: String,
        container: String,
        prefix: String,
        credentials: Option<PyAzureCredentials>,
        config: Option<HashMap<String, String>>,
        endpoint_url: Option<String>,
        allow_http: bool,
        network: Option<PyNetworkOptions>,
    ) -> PyResult<Self> {
        let options = AzureOptions {
            account,
            container,
            prefix,
            credentials: PyAzureCredentials::to_core(credentials.as_ref()),
            endpoint_url,
            allow_http,
            network: cloud::network::network(network)?,
            config: config.unwrap_or_default().into_iter().collect(),
            headers: ExtraHeaders::default(),
        };
        cloud::build(icechunk::storage::new_azure_storage(options))
    }

    /// A repository served over HTTP(S), read-only.
    #[classmethod]
    #[pyo3(signature = (base_url, config=None, headers=None, *, network=None))]
    fn new_http(
        _cls: &Bound<'_, PyType>,
        base_url: String,
        config: Option<HashMap<String, String>>,
        headers: Option<HashMap<String, String>>,
        network: Option<PyNetworkOptions>,
    ) -> PyResult<Self> {
        http::new_http(base_url, config, headers, network)
    }

    /// The read-only storage that the HTTP redirects of `base_url` lead to.
    #[classmethod]
    fn new_redirect(cls: &Bound<'_, PyType>, base_url: String) -> PyResult<Self> {
        http::new_redirect(cls.py(), base_url)
    }

    /// The settings this storage was built with (`None` fields for memory and local folders,
    /// which have no network settings).
    fn default_settings(&self) -> PyStorageSettings {
        match self.storage.spec().network_mut() {
            Some(net) => PyStorageSettings::from_network(net),
            None => PyStorageSettings::default(),
        }
    }

    /// This storage with `settings` over its own (see `StorageSettings` for what they set);
    /// refuses settings that cannot apply.
    fn with_settings(&self, settings: PyStorageSettings) -> PyResult<PyStorage> {
        settings.check()?;
        let mut spec = self.storage.spec();
        match spec.network_mut() {
            // Memory and local folders have no network settings to change.
            None => Ok(PyStorage { storage: Arc::clone(&self.storage), memory: self.memory }),
            Some(net) => {
                settings.apply(net)?;
                PyStorage::from_spec(&spec)
            }
        }
    }

    /// This storage with `attribution` in the `User-Agent` of its requests, for
    /// `Repository.create/open(attribution=)`; memory and local folders send no requests and
    /// come back as they are. Private: Icechunk 2.3 labels repositories, not storages.
    fn _with_attribution(&self, attribution: &PyAttribution) -> PyResult<PyStorage> {
        let storage =
            icechunk::storage::with_attribution(Arc::clone(&self.storage), &attribution.to_core()).py()?;
        // The same storage when nothing was rebuilt: an in-memory one keeps its identity.
        let memory = if Arc::ptr_eq(&storage, &self.storage) { self.memory } else { None };
        Ok(PyStorage { storage, memory })
    }

    /// `(key, size in bytes)` of every object under `prefix` (all of the repository's by
    /// default), keys relative to the repository's root. `settings` apply to this listing
    /// only (see `StorageSettings` for what they set).
    #[pyo3(signature = (settings=None, prefix=None))]
    fn list_objects(
        &self,
        py: Python<'_>,
        settings: Option<PyStorageSettings>,
        prefix: Option<String>,
    ) -> PyResult<Vec<(String, u64)>> {
        let storage = match settings {
            None => Arc::clone(&self.storage),
            Some(settings) => self.with_settings(settings)?.storage,
        };
        let prefix = prefix.unwrap_or_default();
        let folder = prefix.trim_matches('/').to_string();
        let listed = block_on(py, async move { storage.list(&folder).await }).py()?;
        let base = prefix.trim_matches('/');
        Ok(listed
            .into_iter()
            .map(|o| {
                let key = if base.is_empty() { o.path } else { format!("{base}/{}", o.path) };
                (key, o.size)
            })
            .collect())
    }

    fn __repr__(&self) -> String {
        match self.storage.spec() {
            StorageSpec::LocalFilesystem { path } => format!("local_filesystem_storage({path:?})"),
            StorageSpec::InMemory => "in_memory_storage()".to_string(),
            other => other.to_string(),
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<PyStorage>() else {
            return false;
        };
        let other = other.get();
        Arc::ptr_eq(&self.storage, &other.storage)
            || (self.memory.is_none()
                && other.memory.is_none()
                && self.storage.spec() == other.storage.spec())
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let this = slf.get();
        let ctor = py.import("icechunk._icechunk")?.getattr("_storage_from_state")?;
        let args = match this.storage.spec() {
            StorageSpec::LocalFilesystem { path } => {
                ("local", Some(path), None::<(u32, u64)>).into_pyobject(py)?
            }
            StorageSpec::InMemory => ("memory", None::<PathBuf>, this.memory).into_pyobject(py)?,
            // Cloud storages travel as their spec, credentials included (`repr` hides them).
            cloud => {
                let bytes = pyo3::types::PyBytes::new(py, &cloud.to_bytes());
                ("spec", None::<PathBuf>, None::<(u32, u64)>, bytes).into_pyobject(py)?
            }
        };
        Ok((ctor, args))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStorage>()?;
    m.add_function(wrap_pyfunction!(in_memory_storage, m)?)?;
    m.add_function(wrap_pyfunction!(local_filesystem_storage, m)?)?;
    m.add_function(wrap_pyfunction!(_storage_from_state, m)?)?;
    Ok(())
}
