//! `Storage` (where a repository lives) and `RepositoryConfig`, both picklable.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use icechunk::{RepositoryConfig, Storage, StorageSpec};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::{invalid_input, CoreResultExt};

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
        ("spec", _, _, Some(bytes)) => crate::cloud::from_spec_bytes(&bytes),
        _ => Err(invalid_input("not a pickled Storage")),
    }
}

#[pymethods]
impl PyStorage {
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

/// Settings of a repository, persisted when it is created.
#[pyclass(name = "RepositoryConfig", module = "icechunk._icechunk", eq, get_all, set_all, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyRepositoryConfig {
    pub inline_chunk_threshold_bytes: u32,
    pub compression_level: i32,
    pub snapshot_cache_size: u64,
    pub manifest_cache_bytes: u64,
    pub max_concurrent_requests: u32,
    pub manifest_shard_size: u32,
    pub inline_manifest_threshold_bytes: u32,
}

impl From<&RepositoryConfig> for PyRepositoryConfig {
    fn from(c: &RepositoryConfig) -> Self {
        PyRepositoryConfig {
            inline_chunk_threshold_bytes: c.inline_chunk_threshold_bytes,
            compression_level: c.compression_level,
            snapshot_cache_size: c.snapshot_cache_size,
            manifest_cache_bytes: c.manifest_cache_bytes,
            max_concurrent_requests: c.max_concurrent_requests,
            manifest_shard_size: c.manifest_shard_size,
            inline_manifest_threshold_bytes: c.inline_manifest_threshold_bytes,
        }
    }
}

impl From<&PyRepositoryConfig> for RepositoryConfig {
    fn from(c: &PyRepositoryConfig) -> Self {
        RepositoryConfig {
            inline_chunk_threshold_bytes: c.inline_chunk_threshold_bytes,
            compression_level: c.compression_level,
            snapshot_cache_size: c.snapshot_cache_size,
            manifest_cache_bytes: c.manifest_cache_bytes,
            max_concurrent_requests: c.max_concurrent_requests,
            manifest_shard_size: c.manifest_shard_size,
            inline_manifest_threshold_bytes: c.inline_manifest_threshold_bytes,
        }
    }
}

#[pymethods]
impl PyRepositoryConfig {
    #[new]
    #[pyo3(signature = (*, inline_chunk_threshold_bytes=None, compression_level=None,
        snapshot_cache_size=None, manifest_cache_bytes=None, max_concurrent_requests=None,
        manifest_shard_size=None, inline_manifest_threshold_bytes=None))]
    fn new(
        inline_chunk_threshold_bytes: Option<u32>,
        compression_level: Option<i32>,
        snapshot_cache_size: Option<u64>,
        manifest_cache_bytes: Option<u64>,
        max_concurrent_requests: Option<u32>,
        manifest_shard_size: Option<u32>,
        inline_manifest_threshold_bytes: Option<u32>,
    ) -> Self {
        let d = PyRepositoryConfig::from(&RepositoryConfig::default());
        PyRepositoryConfig {
            inline_chunk_threshold_bytes: inline_chunk_threshold_bytes
                .unwrap_or(d.inline_chunk_threshold_bytes),
            compression_level: compression_level.unwrap_or(d.compression_level),
            snapshot_cache_size: snapshot_cache_size.unwrap_or(d.snapshot_cache_size),
            manifest_cache_bytes: manifest_cache_bytes.unwrap_or(d.manifest_cache_bytes),
            max_concurrent_requests: max_concurrent_requests.unwrap_or(d.max_concurrent_requests),
            manifest_shard_size: manifest_shard_size.unwrap_or(d.manifest_shard_size),
            inline_manifest_threshold_bytes: inline_manifest_threshold_bytes
                .unwrap_or(d.inline_manifest_threshold_bytes),
        }
    }

    /// The defaults.
    #[staticmethod]
    fn default() -> Self {
        PyRepositoryConfig::from(&RepositoryConfig::default())
    }

    fn __repr__(&self) -> String {
        format!(
            "RepositoryConfig(inline_chunk_threshold_bytes={}, compression_level={}, \
             snapshot_cache_size={}, manifest_cache_bytes={}, max_concurrent_requests={}, \
             manifest_shard_size={}, inline_manifest_threshold_bytes={})",
            self.inline_chunk_threshold_bytes,
            self.compression_level,
            self.snapshot_cache_size,
            self.manifest_cache_bytes,
            self.max_concurrent_requests,
            self.manifest_shard_size,
            self.inline_manifest_threshold_bytes
        )
    }

    /// Pickling: rebuilt through `__new__` with these keywords.
    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("inline_chunk_threshold_bytes", self.inline_chunk_threshold_bytes)?;
        kwargs.set_item("compression_level", self.compression_level)?;
        kwargs.set_item("snapshot_cache_size", self.snapshot_cache_size)?;
        kwargs.set_item("manifest_cache_bytes", self.manifest_cache_bytes)?;
        kwargs.set_item("max_concurrent_requests", self.max_concurrent_requests)?;
        kwargs.set_item("manifest_shard_size", self.manifest_shard_size)?;
        kwargs.set_item("inline_manifest_threshold_bytes", self.inline_manifest_threshold_bytes)?;
        Ok((PyTuple::empty(py), kwargs))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStorage>()?;
    m.add_class::<PyRepositoryConfig>()?;
    m.add_function(wrap_pyfunction!(in_memory_storage, m)?)?;
    m.add_function(wrap_pyfunction!(local_filesystem_storage, m)?)?;
    m.add_function(wrap_pyfunction!(_storage_from_state, m)?)?;
    Ok(())
}
