//! `Repository` and what it returns: `SnapshotInfo`, the ancestry iterator.
//!
//! Every method is synchronous for Python: it releases the GIL and blocks on the core's
//! future (see `runtime::block_on`).

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use icechunk::{Repository, RepositoryConfig, SnapshotInfo, Storage};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PySet};

use crate::config::PyRepositoryConfig;
use crate::conversions::{map_to_py, parse_snapshot_id, version_info};
use crate::diff::PyDiff;
use crate::errors::CoreResultExt;
use crate::runtime::block_on;
use crate::session::PySession;
use crate::storage::PyStorage;

#[pyclass(name = "PyRepository", module = "icechunk._icechunk", frozen)]
pub struct PyRepository {
    repo: Repository,
}

fn storage_and_config(
    storage: &PyStorage,
    config: Option<&PyRepositoryConfig>,
) -> PyResult<(Arc<dyn Storage>, Option<RepositoryConfig>)> {
    Ok((storage.storage.clone(), config.map(PyRepositoryConfig::to_core).transpose()?))
}

#[pymethods]
impl PyRepository {
    #[staticmethod]
    #[pyo3(signature = (storage, config=None))]
    fn create(py: Python<'_>, storage: &PyStorage, config: Option<PyRepositoryConfig>) -> PyResult<Self> {
        let (storage, config) = storage_and_config(storage, config.as_ref())?;
        let repo = block_on(py, Repository::create(storage, config)).py()?;
        Ok(PyRepository { repo })
    }

    #[staticmethod]
    #[pyo3(signature = (storage, config=None))]
    fn open(py: Python<'_>, storage: &PyStorage, config: Option<PyRepositoryConfig>) -> PyResult<Self> {
        let (storage, config) = storage_and_config(storage, config.as_ref())?;
        let repo = block_on(py, Repository::open(storage, config)).py()?;
        Ok(PyRepository { repo })
    }

    #[staticmethod]
    #[pyo3(signature = (storage, config=None))]
    fn open_or_create(
        py: Python<'_>,
        storage: &PyStorage,
        config: Option<PyRepositoryConfig>,
    ) -> PyResult<Self> {
        let (storage, config) = storage_and_config(storage, config.as_ref())?;
        let repo = block_on(py, Repository::open_or_create(storage, config)).py()?;
        Ok(PyRepository { repo })
    }

    #[staticmethod]
    fn exists(py: Python<'_>, storage: &PyStorage) -> PyResult<bool> {
        let storage = storage.storage.clone();
        block_on(py, Repository::exists(storage)).py()
    }

    #[getter]
    fn config(&self) -> PyRepositoryConfig {
        PyRepositoryConfig::from(self.repo.config())
    }

    fn create_branch(&self, py: Python<'_>, name: &str, snapshot_id: &str) -> PyResult<()> {
        let id = parse_snapshot_id(snapshot_id)?;
        block_on(py, self.repo.create_branch(name, &id)).py()
    }

    fn list_branches<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        let names = block_on(py, self.repo.list_branches()).py()?;
        PySet::new(py, names)
    }

    fn lookup_branch(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        Ok(block_on(py, self.repo.lookup_branch(name)).py()?.to_string())
    }

    fn delete_branch(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        block_on(py, self.repo.delete_branch(name)).py()
    }

    #[pyo3(signature = (branch, snapshot_id, *, from_snapshot_id=None))]
    fn reset_branch(
        &self,
        py: Python<'_>,
        branch: &str,
        snapshot_id: &str,
        from_snapshot_id: Option<&str>,
    ) -> PyResult<()> {
        let to = parse_snapshot_id(snapshot_id)?;
        let from = from_snapshot_id.map(parse_snapshot_id).transpose()?;
        block_on(py, self.repo.reset_branch(branch, &to, from.as_ref())).py()
    }

    fn create_tag(&self, py: Python<'_>, name: &str, snapshot_id: &str) -> PyResult<()> {
        let id = parse_snapshot_id(snapshot_id)?;
        block_on(py, self.repo.create_tag(name, &id)).py()
    }

    fn list_tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        let names = block_on(py, self.repo.list_tags()).py()?;
        PySet::new(py, names)
    }

    fn lookup_tag(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        Ok(block_on(py, self.repo.lookup_tag(name)).py()?.to_string())
    }

    fn delete_tag(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        block_on(py, self.repo.delete_tag(name)).py()
    }

    fn lookup_snapshot(&self, py: Python<'_>, snapshot_id: &str) -> PyResult<PySnapshotInfo> {
        let id = parse_snapshot_id(snapshot_id)?;
        let info = block_on(py, self.repo.lookup_snapshot(&id)).py()?;
        Ok(PySnapshotInfo(info))
    }

    /// Snapshots from the given version back to the repository's first one, newest first.
    #[pyo3(signature = (*, branch=None, tag=None, snapshot_id=None))]
    fn ancestry(
        &self,
        py: Python<'_>,
        branch: Option<String>,
        tag: Option<String>,
        snapshot_id: Option<String>,
    ) -> PyResult<PyAncestry> {
        let version = version_info(branch, tag, snapshot_id, None)?;
        let stream = block_on(py, self.repo.ancestry(&version)).py()?;
        Ok(PyAncestry { stream: tokio::sync::Mutex::new(Some(stream)), ready: Default::default() })
    }

    #[pyo3(signature = (*, from_branch=None, from_tag=None, from_snapshot_id=None,
        to_branch=None, to_tag=None, to_snapshot_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn diff(
        &self,
        py: Python<'_>,
        from_branch: Option<String>,
        from_tag: Option<String>,
        from_snapshot_id: Option<String>,
        to_branch: Option<String>,
        to_tag: Option<String>,
        to_snapshot_id: Option<String>,
    ) -> PyResult<PyDiff> {
        let from = version_info(from_branch, from_tag, from_snapshot_id, None)?;
        let to = version_info(to_branch, to_tag, to_snapshot_id, None)?;
        let diff = block_on(py, self.repo.diff(&from, &to)).py()?;
        Ok(PyDiff(diff))
    }

    #[pyo3(signature = (*, branch=None, tag=None, snapshot_id=None, as_of=None))]
    fn resolve_version(
        &self,
        py: Python<'_>,
        branch: Option<String>,
        tag: Option<String>,
        snapshot_id: Option<String>,
        as_of: Option<DateTime<Utc>>,
    ) -> PyResult<String> {
        let version = version_info(branch, tag, snapshot_id, as_of)?;
        Ok(block_on(py, self.repo.resolve_version(&version)).py()?.to_string())
    }

    #[pyo3(signature = (*, branch=None, tag=None, snapshot_id=None, as_of=None))]
    fn readonly_session(
        &self,
        py: Python<'_>,
        branch: Option<String>,
        tag: Option<String>,
        snapshot_id: Option<String>,
        as_of: Option<DateTime<Utc>>,
    ) -> PyResult<PySession> {
        let version = version_info(branch, tag, snapshot_id, as_of)?;
        let session = block_on(py, self.repo.readonly_session(&version)).py()?;
        Ok(PySession::new(session))
    }

    fn writable_session(&self, py: Python<'_>, branch: &str) -> PyResult<PySession> {
        let session = block_on(py, self.repo.writable_session(branch)).py()?;
        Ok(PySession::new(session))
    }
}

/// One snapshot of the history.
#[pyclass(name = "SnapshotInfo", module = "icechunk._icechunk", frozen)]
pub struct PySnapshotInfo(pub SnapshotInfo);

#[pymethods]
impl PySnapshotInfo {
    #[getter]
    fn id(&self) -> String {
        self.0.id.to_string()
    }
    #[getter]
    fn parent_id(&self) -> Option<String> {
        self.0.parent_id.as_ref().map(|id| id.to_string())
    }
    /// When the snapshot was written, a timezone-aware UTC datetime.
    #[getter]
    fn written_at(&self) -> DateTime<Utc> {
        self.0.written_at
    }
    #[getter]
    fn message(&self) -> String {
        self.0.message.clone()
    }
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        map_to_py(py, &self.0.metadata)
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PySnapshotInfo>().is_ok_and(|o| o.get().0.id == self.0.id)
    }
    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.0.id.to_string().hash(&mut h);
        h.finish()
    }
    fn __repr__(&self) -> String {
        let parent = match &self.0.parent_id {
            Some(id) => format!("'{id}'"),
            None => "None".to_string(),
        };
        format!(
            "SnapshotInfo(id='{}', parent_id={parent}, written_at='{}', message={:?})",
            self.0.id,
            self.0.written_at.to_rfc3339(),
            self.0.message
        )
    }
}

/// Iterator over `SnapshotInfo`, fetched lazily from storage.
#[pyclass(name = "AncestryIterator", module = "icechunk._icechunk", frozen)]
pub struct PyAncestry {
    stream: tokio::sync::Mutex<Option<BoxStream<'static, icechunk::Result<SnapshotInfo>>>>,
    /// Items the stream already produced: most come from summaries inside one snapshot, so
    /// one trip into the runtime (GIL released) yields many, and `__next__` then costs no trip.
    ready: std::sync::Mutex<VecDeque<icechunk::Result<SnapshotInfo>>>,
}

/// Items taken from the stream per trip into the runtime, beyond the first awaited one.
const ANCESTRY_BATCH: usize = 256;

#[pymethods]
impl PyAncestry {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PySnapshotInfo>> {
        let queued = self.ready.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let next = match queued {
            Some(item) => Some(item),
            None => {
                let mut batch = block_on(py, async {
                    let mut guard = self.stream.lock().await;
                    let mut batch = VecDeque::new();
                    let Some(stream) = guard.as_mut() else { return batch };
                    let mut ended = false;
                    match stream.next().await {
                        Some(item) => batch.push_back(item),
                        None => ended = true,
                    }
                    // Whatever else is ready without waiting; an error ends the batch.
                    while !ended && batch.len() < ANCESTRY_BATCH && batch.back().is_some_and(|i| i.is_ok()) {
                        match stream.next().now_or_never() {
                            Some(Some(item)) => batch.push_back(item),
                            Some(None) => ended = true,
                            None => break,
                        }
                    }
                    if ended {
                        *guard = None;
                    }
                    batch
                });
                let first = batch.pop_front();
                self.ready.lock().unwrap_or_else(|p| p.into_inner()).extend(batch);
                first
            }
        };
        next.transpose().py().map(|info| info.map(PySnapshotInfo))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRepository>()?;
    m.add_class::<PySnapshotInfo>()?;
    m.add_class::<PyAncestry>()?;
    Ok(())
}
