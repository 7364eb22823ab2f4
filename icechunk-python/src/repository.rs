//! `Repository` and what it returns: `SnapshotInfo`, the ancestry iterator.
//!
//! Every method is synchronous for Python: it releases the GIL and blocks on the core's
//! future (see `runtime::block_on`).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use icechunk::ids::ManifestId;
use icechunk::{Repository, RepositoryConfig, SnapshotInfo, Storage};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::config::PyRepositoryConfig;
use crate::conversions::{dict_to_json, map_to_py, parse_snapshot_id, version_info, Json};
use crate::diff::PyDiff;
use crate::errors::{invalid_input, CoreResultExt};
use crate::runtime::{block_on, future_into_py};
use crate::session::PySession;
use crate::storage::PyStorage;
use crate::twins::twins;
use crate::virtual_access::Authorizations;

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

/// Opening and creating: static, so written out by hand (both twins).
#[pymethods]
impl PyRepository {
    #[staticmethod]
    #[pyo3(signature = (storage, config=None, authorize_virtual_chunk_access=None))]
    fn create(
        py: Python<'_>,
        storage: &PyStorage,
        config: Option<PyRepositoryConfig>,
        authorize_virtual_chunk_access: Option<Authorizations>,
    ) -> PyResult<Self> {
        block_on(py, Self::opening(Opening::Create, storage, config, authorize_virtual_chunk_access)?)
    }

    #[staticmethod]
    #[pyo3(signature = (storage, config=None, authorize_virtual_chunk_access=None))]
    fn create_async<'py>(
        py: Python<'py>,
        storage: &PyStorage,
        config: Option<PyRepositoryConfig>,
        authorize_virtual_chunk_access: Option<Authorizations>,
    ) -> PyResult<Bound<'py, PyAny>> {
        future_into_py(py, Self::opening(Opening::Create, storage, config, authorize_virtual_chunk_access)?)
    }

    #[staticmethod]
    #[pyo3(signature = (storage, config=None, authorize_virtual_chunk_access=None))]
    fn open(
        py: Python<'_>,
        storage: &PyStorage,
        config: Option<PyRepositoryConfig>,
        authorize_virtual_chunk_access: Option<Authorizations>,
    ) -> PyResult<Self> {
        block_on(py, Self::opening(Opening::Open, storage, config, authorize_virtual_chunk_access)?)
    }

    #[staticmethod]
    #[pyo3(signature = (storage, config=None, authorize_virtual_chunk_access=None))]
    fn open_async<'py>(
        py: Python<'py>,
        storage: &PyStorage,
        config: Option<PyRepositoryConfig>,
        authorize_virtual_chunk_access: Option<Authorizations>,
    ) -> PyResult<Bound<'py, PyAny>> {
        future_into_py(py, Self::opening(Opening::Open, storage, config, authorize_virtual_chunk_access)?)
    }

    #[staticmethod]
    #[pyo3(signature = (storage, config=None, authorize_virtual_chunk_access=None))]
    fn open_or_create(
        py: Python<'_>,
        storage: &PyStorage,
        config: Option<PyRepositoryConfig>,
        authorize_virtual_chunk_access: Option<Authorizations>,
    ) -> PyResult<Self> {
        block_on(py, Self::opening(Opening::OpenOrCreate, storage, config, authorize_virtual_chunk_access)?)
    }

    #[staticmethod]
    #[pyo3(signature = (storage, config=None, authorize_virtual_chunk_access=None))]
    fn open_or_create_async<'py>(
        py: Python<'py>,
        storage: &PyStorage,
        config: Option<PyRepositoryConfig>,
        authorize_virtual_chunk_access: Option<Authorizations>,
    ) -> PyResult<Bound<'py, PyAny>> {
        future_into_py(
            py,
            Self::opening(Opening::OpenOrCreate, storage, config, authorize_virtual_chunk_access)?,
        )
    }

    #[staticmethod]
    fn exists(py: Python<'_>, storage: &PyStorage) -> PyResult<bool> {
        let storage = storage.storage.clone();
        block_on(py, async move { Repository::exists(storage).await.py() })
    }

    #[staticmethod]
    fn exists_async<'py>(py: Python<'py>, storage: &PyStorage) -> PyResult<Bound<'py, PyAny>> {
        let storage = storage.storage.clone();
        future_into_py(py, async move { Repository::exists(storage).await.py() })
    }

    #[getter]
    fn config(&self) -> PyRepositoryConfig {
        PyRepositoryConfig::from(self.repo.config())
    }

    /// The url prefixes of the virtual chunk containers this handle may read.
    #[getter]
    fn authorized_virtual_container_prefixes(&self) -> BTreeSet<String> {
        self.repo.authorized_prefixes()
    }

    /// Metadata merged under every commit's own, in sessions opened after this call.
    fn set_default_commit_metadata(&self, metadata: &Bound<'_, PyDict>) -> PyResult<()> {
        self.repo.set_default_commit_metadata(dict_to_json(metadata)?);
        Ok(())
    }

    fn default_commit_metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        map_to_py(py, &self.repo.default_commit_metadata())
    }
}

enum Opening {
    Create,
    Open,
    OpenOrCreate,
}

impl PyRepository {
    pub(crate) fn new(repo: Repository) -> Self {
        PyRepository { repo }
    }

    pub(crate) fn core(&self) -> &Repository {
        &self.repo
    }

    fn opening(
        how: Opening,
        storage: &PyStorage,
        config: Option<PyRepositoryConfig>,
        authorizations: Option<Authorizations>,
    ) -> PyResult<impl std::future::Future<Output = PyResult<PyRepository>> + Send + 'static> {
        let (storage, config) = storage_and_config(storage, config.as_ref())?;
        let authorized = authorizations.map(crate::virtual_access::to_core);
        Ok(async move {
            let repo = match how {
                Opening::Create => Repository::create(storage, config).await,
                Opening::Open => Repository::open(storage, config).await,
                Opening::OpenOrCreate => Repository::open_or_create(storage, config).await,
            };
            let mut repo = repo.py()?;
            if let Some(authorized) = authorized {
                repo = repo.with_virtual_access(authorized).py()?;
            }
            Ok(PyRepository { repo })
        })
    }
}

twins! {
    impl PyRepository {
        fn create_branch / create_branch_async(&self, name: String, snapshot_id: String) -> () {
            let (repo, id) = (self.repo.clone(), parse_snapshot_id(&snapshot_id));
            async move { repo.create_branch(&name, &id?).await.py() }
        }

        fn list_branches / list_branches_async(&self) -> BTreeSet<String> {
            let repo = self.repo.clone();
            async move { repo.list_branches().await.py() }
        }

        fn lookup_branch / lookup_branch_async(&self, name: String) -> String {
            let repo = self.repo.clone();
            async move { Ok(repo.lookup_branch(&name).await.py()?.to_string()) }
        }

        fn delete_branch / delete_branch_async(&self, name: String) -> () {
            let repo = self.repo.clone();
            async move { repo.delete_branch(&name).await.py() }
        }

        #[pyo3(signature = (branch, snapshot_id, *, from_snapshot_id=None))]
        fn reset_branch / reset_branch_async(
            &self,
            branch: String,
            snapshot_id: String,
            from_snapshot_id: Option<String>,
        ) -> () {
            let repo = self.repo.clone();
            let ids = parse_snapshot_id(&snapshot_id)
                .and_then(|to| Ok((to, from_snapshot_id.as_deref().map(parse_snapshot_id).transpose()?)));
            async move {
                let (to, from) = ids?;
                repo.reset_branch(&branch, &to, from.as_ref()).await.py()
            }
        }

        fn create_tag / create_tag_async(&self, name: String, snapshot_id: String) -> () {
            let (repo, id) = (self.repo.clone(), parse_snapshot_id(&snapshot_id));
            async move { repo.create_tag(&name, &id?).await.py() }
        }

        fn list_tags / list_tags_async(&self) -> BTreeSet<String> {
            let repo = self.repo.clone();
            async move { repo.list_tags().await.py() }
        }

        fn lookup_tag / lookup_tag_async(&self, name: String) -> String {
            let repo = self.repo.clone();
            async move { Ok(repo.lookup_tag(&name).await.py()?.to_string()) }
        }

        fn delete_tag / delete_tag_async(&self, name: String) -> () {
            let repo = self.repo.clone();
            async move { repo.delete_tag(&name).await.py() }
        }

        fn lookup_snapshot / lookup_snapshot_async(&self, snapshot_id: String) -> PySnapshotInfo {
            let (repo, id) = (self.repo.clone(), parse_snapshot_id(&snapshot_id));
            async move { Ok(PySnapshotInfo(repo.lookup_snapshot(&id?).await.py()?)) }
        }

        /// Snapshots from the given version back to the repository's first one, newest first
        /// (an iterator, and an async iterator).
        #[pyo3(signature = (*, branch=None, tag=None, snapshot_id=None))]
        fn ancestry / ancestry_async(
            &self,
            branch: Option<String>,
            tag: Option<String>,
            snapshot_id: Option<String>,
        ) -> PyAncestry {
            let (repo, version) = (self.repo.clone(), version_info(branch, tag, snapshot_id, None));
            async move { Ok(PyAncestry::new(repo.ancestry(&version?).await.py()?)) }
        }

        #[pyo3(signature = (*, from_branch=None, from_tag=None, from_snapshot_id=None,
            to_branch=None, to_tag=None, to_snapshot_id=None))]
        #[allow(clippy::too_many_arguments)]
        fn diff / diff_async(
            &self,
            from_branch: Option<String>,
            from_tag: Option<String>,
            from_snapshot_id: Option<String>,
            to_branch: Option<String>,
            to_tag: Option<String>,
            to_snapshot_id: Option<String>,
        ) -> PyDiff {
            let repo = self.repo.clone();
            let from = version_info(from_branch, from_tag, from_snapshot_id, None);
            let to = version_info(to_branch, to_tag, to_snapshot_id, None);
            async move { Ok(PyDiff(repo.diff(&from?, &to?).await.py()?)) }
        }

        #[pyo3(signature = (*, branch=None, tag=None, snapshot_id=None, as_of=None))]
        fn resolve_version / resolve_version_async(
            &self,
            branch: Option<String>,
            tag: Option<String>,
            snapshot_id: Option<String>,
            as_of: Option<DateTime<Utc>>,
        ) -> String {
            let (repo, version) = (self.repo.clone(), version_info(branch, tag, snapshot_id, as_of));
            async move { Ok(repo.resolve_version(&version?).await.py()?.to_string()) }
        }

        #[pyo3(signature = (*, branch=None, tag=None, snapshot_id=None, as_of=None))]
        fn readonly_session / readonly_session_async(
            &self,
            branch: Option<String>,
            tag: Option<String>,
            snapshot_id: Option<String>,
            as_of: Option<DateTime<Utc>>,
        ) -> PySession {
            let (repo, version) = (self.repo.clone(), version_info(branch, tag, snapshot_id, as_of));
            async move { Ok(PySession::new(repo.readonly_session(&version?).await.py()?)) }
        }

        fn inspect_snapshot / inspect_snapshot_async(&self, snapshot_id: String) -> Json {
            let (repo, id) = (self.repo.clone(), parse_snapshot_id(&snapshot_id));
            async move { Ok(Json(repo.inspect_snapshot(&id?).await.py()?)) }
        }

        fn inspect_manifest / inspect_manifest_async(&self, manifest_id: String) -> Json {
            let repo = self.repo.clone();
            let id = manifest_id
                .parse::<ManifestId>()
                .map_err(|_| invalid_input(format!("`{manifest_id}` is not a manifest id")));
            async move { Ok(Json(repo.inspect_manifest(&id?).await.py()?)) }
        }

        fn inspect_transaction_log / inspect_transaction_log_async(&self, snapshot_id: String) -> Json {
            let (repo, id) = (self.repo.clone(), parse_snapshot_id(&snapshot_id));
            async move { Ok(Json(repo.inspect_transaction_log(&id?).await.py()?)) }
        }

        fn inspect_repo_info / inspect_repo_info_async(&self) -> Json {
            let repo = self.repo.clone();
            async move { Ok(Json(repo.inspect_repo_info().await.py()?)) }
        }

        fn writable_session / writable_session_async(&self, branch: String) -> PySession {
            let repo = self.repo.clone();
            async move { Ok(PySession::new(repo.writable_session(&branch).await.py()?)) }
        }

        /// A session on the tip of `branch` that moves nodes (`move`) and writes nothing else.
        fn rearrange_session / rearrange_session_async(&self, branch: String) -> PySession {
            let repo = self.repo.clone();
            async move { Ok(PySession::new(repo.rearrange_session(&branch).await.py()?)) }
        }
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

/// Iterator (and async iterator) over `SnapshotInfo`, fetched lazily from storage.
#[pyclass(name = "AncestryIterator", module = "icechunk._icechunk", frozen)]
pub struct PyAncestry {
    state: Arc<tokio::sync::Mutex<AncestryState>>,
}

struct AncestryState {
    /// `None` once the history ended.
    stream: Option<BoxStream<'static, icechunk::Result<SnapshotInfo>>>,
    /// Items the stream already produced: most come from summaries inside one snapshot, so
    /// one trip into the runtime (GIL released) yields many, and the next ones cost no trip.
    ready: VecDeque<icechunk::Result<SnapshotInfo>>,
}

/// Items taken from the stream per trip into the runtime, beyond the first awaited one.
const ANCESTRY_BATCH: usize = 256;

impl PyAncestry {
    fn new(stream: BoxStream<'static, icechunk::Result<SnapshotInfo>>) -> Self {
        let state = AncestryState { stream: Some(stream), ready: VecDeque::new() };
        PyAncestry { state: Arc::new(tokio::sync::Mutex::new(state)) }
    }

    /// The next snapshot: a ready one, or a batch from the stream (the first awaited, then
    /// whatever is ready without waiting; an error ends the batch).
    async fn next(state: Arc<tokio::sync::Mutex<AncestryState>>) -> icechunk::Result<Option<SnapshotInfo>> {
        let mut state = state.lock().await;
        if let Some(item) = state.ready.pop_front() {
            return item.map(Some);
        }
        let Some(stream) = state.stream.as_mut() else { return Ok(None) };
        let Some(first) = stream.next().await else {
            state.stream = None;
            return Ok(None);
        };
        let mut batch = VecDeque::new();
        let mut ended = false;
        while first.is_ok() && batch.len() < ANCESTRY_BATCH {
            match stream.next().now_or_never() {
                Some(Some(item)) => {
                    let failed = item.is_err();
                    batch.push_back(item);
                    if failed {
                        break;
                    }
                }
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        if ended {
            state.stream = None;
        }
        state.ready = batch;
        first.map(Some)
    }
}

#[pymethods]
impl PyAncestry {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PySnapshotInfo>> {
        // Most items are ready: no trip into the runtime for them.
        let ready = self.state.try_lock().ok().and_then(|mut state| state.ready.pop_front());
        let next = match ready {
            Some(item) => item.map(Some),
            None => block_on(py, Self::next(self.state.clone())),
        };
        next.py().map(|info| info.map(PySnapshotInfo))
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        future_into_py(py, async move {
            match Self::next(state).await.py()? {
                Some(info) => Ok(PySnapshotInfo(info)),
                None => Err(pyo3::exceptions::PyStopAsyncIteration::new_err(())),
            }
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRepository>()?;
    m.add_class::<PySnapshotInfo>()?;
    m.add_class::<PyAncestry>()?;
    Ok(())
}
