//! `Storage`: where a repository lives; picklable, so that another process (a Dask worker)
//! opens the same one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use icechunk::{Storage, StorageSpec};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

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
        ("spec", _, _, Some(bytes)) => PyStorage::from_spec(&StorageSpec::from_bytes(&bytes).py()?),
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStorage>()?;
    m.add_function(wrap_pyfunction!(in_memory_storage, m)?)?;
    m.add_function(wrap_pyfunction!(local_filesystem_storage, m)?)?;
    m.add_function(wrap_pyfunction!(_storage_from_state, m)?)?;
    Ok(())
}
