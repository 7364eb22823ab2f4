//! `PyStore`: the Zarr key space of a session. Every I/O method returns an awaitable
//! (the Python `IcechunkStore` awaits it); `*_sync` variants block with the GIL released.

use bytes::Bytes;
use icechunk::{ByteRange, Store};
use pyo3::prelude::*;

use crate::errors::{invalid_input, CoreResultExt};
use crate::runtime::{block_on, future_into_py};

#[pyclass(name = "PyStore", module = "icechunk._icechunk", frozen)]
pub struct PyStore {
    pub(crate) store: Store,
}

impl PyStore {
    pub fn new(store: Store) -> Self {
        PyStore { store }
    }
}

/// `start`/`end` (end exclusive), `start` alone, or `suffix` alone; nothing = all.
fn byte_range(start: Option<u64>, end: Option<u64>, suffix: Option<u64>) -> PyResult<Option<ByteRange>> {
    match (start, end, suffix) {
        (None, None, None) => Ok(None),
        (Some(start), Some(end), None) if start <= end => Ok(Some(ByteRange::Bounded { start, end })),
        (Some(start), None, None) => Ok(Some(ByteRange::Offset(start))),
        (None, None, Some(n)) => Ok(Some(ByteRange::Suffix(n))),
        _ => {
            Err(invalid_input(format!("invalid byte range: start={start:?}, end={end:?}, suffix={suffix:?}")))
        }
    }
}

#[pymethods]
impl PyStore {
    #[getter]
    fn read_only(&self) -> bool {
        self.store.read_only()
    }

    /// The value at `key` (or a byte range of it) as bytes; None if there is none.
    #[pyo3(signature = (key, start=None, end=None, suffix=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: String,
        start: Option<u64>,
        end: Option<u64>,
        suffix: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let range = byte_range(start, end, suffix)?;
        let store = self.store.clone();
        future_into_py(py, async move { store.get(&key, range).await.py() })
    }

    /// For `[(key, start, end, suffix), ...]`: the bytes of each virtual chunk among them,
    /// read as one coalesced batch, and None for every other key (read those with `get`).
    #[allow(clippy::type_complexity)]
    fn get_virtual_chunks<'py>(
        &self,
        py: Python<'py>,
        requests: Vec<(String, Option<u64>, Option<u64>, Option<u64>)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let requests = requests
            .into_iter()
            .map(|(key, start, end, suffix)| Ok((key, byte_range(start, end, suffix)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let store = self.store.clone();
        future_into_py(py, async move { store.get_virtual_chunks(&requests).await.py() })
    }

    fn set<'py>(&self, py: Python<'py>, key: String, value: Bytes) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.set(&key, value).await.py() })
    }

    /// Writes only if `key` holds nothing; returns whether it wrote.
    fn set_if_not_exists<'py>(
        &self,
        py: Python<'py>,
        key: String,
        value: Bytes,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.set_if_not_exists(&key, value).await.py() })
    }

    fn delete<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.delete(&key).await.py() })
    }

    fn delete_dir<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.delete_dir(&prefix).await.py() })
    }

    fn exists<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.exists(&key).await.py() })
    }

    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.list().await.py() })
    }

    fn list_prefix<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.list_prefix(&prefix).await.py() })
    }

    fn list_dir<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.list_dir(&prefix).await.py() })
    }

    fn getsize<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.getsize(&key).await.py() })
    }

    fn getsize_prefix<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store.clone();
        future_into_py(py, async move { store.getsize_prefix(&prefix).await.py() })
    }

    #[pyo3(signature = (key, start=None, end=None, suffix=None))]
    fn get_sync(
        &self,
        py: Python<'_>,
        key: &str,
        start: Option<u64>,
        end: Option<u64>,
        suffix: Option<u64>,
    ) -> PyResult<Option<Bytes>> {
        let range = byte_range(start, end, suffix)?;
        block_on(py, self.store.get(key, range)).py()
    }

    fn set_sync(&self, py: Python<'_>, key: &str, value: Bytes) -> PyResult<()> {
        block_on(py, self.store.set(key, value)).py()
    }

    fn delete_sync(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        block_on(py, self.store.delete(key)).py()
    }

    fn delete_dir_sync(&self, py: Python<'_>, prefix: &str) -> PyResult<()> {
        block_on(py, self.store.delete_dir(prefix)).py()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStore>()
}
