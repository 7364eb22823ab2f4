//! The repository's own state on `PyRepository`: status, metadata, feature flags, the saved
//! config, the operations log, and what its chunks and manifests occupy.

use icechunk::history_graph;
use icechunk::repo_info::{Availability, FeatureFlag, RepoStatus};
use icechunk::repository::{ChunkStorageStats, Operation, OperationKind};
use icechunk::Repository;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::api_types::{
    PyAncestryGraph, PyFeatureFlag, PyManifestFileInfo, PyRepoAvailability, PyRepoStatus, PyUpdate,
    PyUpdateType,
};
use crate::config::PyRepositoryConfig;
use crate::conversions::{dict_to_json, parse_snapshot_id, version_info, Json};
use crate::errors::CoreResultExt;
use crate::repository::PyRepository;
use crate::runtime::{block_on, future_into_py};
use crate::storage::PyStorage;
use crate::twins::twins;

fn py_status(status: &RepoStatus) -> PyRepoStatus {
    PyRepoStatus {
        availability: match status.availability {
            Availability::Online => PyRepoAvailability::Online,
            Availability::ReadOnly => PyRepoAvailability::ReadOnly,
        },
        set_at: status.set_at(),
        limited_availability_reason: status.reason.clone(),
    }
}

fn py_flag((flag, setting): &(FeatureFlag, Option<bool>)) -> PyFeatureFlag {
    PyFeatureFlag {
        id: flag.id,
        name: flag.name.to_string(),
        default_enabled: flag.default_enabled,
        setting: *setting,
    }
}

fn py_update(op: Operation) -> PyUpdate {
    use OperationKind as K;
    use PyUpdateType as U;
    let id = |s: Option<String>| s.unwrap_or_default();
    let kind = match op.kind {
        K::RepoInitialized => U::RepoInitialized(),
        K::BranchCreated { name } => U::BranchCreated { name },
        K::BranchDeleted { name, previous_snapshot } => {
            U::BranchDeleted { name, previous_snap_id: id(previous_snapshot) }
        }
        K::BranchReset { name, previous_snapshot } => {
            U::BranchReset { name, previous_snap_id: id(previous_snapshot) }
        }
        K::NewCommit { branch, new_snapshot } => U::NewCommit { branch, new_snap_id: id(new_snapshot) },
        K::CommitAmended { branch, previous_snapshot, new_snapshot } => U::CommitAmended {
            branch,
            previous_snap_id: id(previous_snapshot),
            new_snap_id: id(new_snapshot),
        },
        K::TagCreated { name } => U::TagCreated { name },
        K::TagDeleted { name, previous_snapshot } => {
            U::TagDeleted { name, previous_snap_id: id(previous_snapshot) }
        }
        K::StatusChanged { status } => U::RepoStatusChanged { status: py_status(&status) },
        K::MetadataChanged => U::MetadataChanged(),
        K::ConfigChanged | K::Unknown => U::ConfigChanged(),
        K::FeatureFlagChanged { id, value, .. } => U::FeatureFlagChanged { id, new_value: value },
        K::ExpirationRan => U::ExpirationRan(),
        K::GcRan => U::GCRan(),
    };
    PyUpdate { kind, updated_at: op.at, backup_path: Some(op.path) }
}

/// What a repository's chunks occupy, in bytes (`Repository.chunk_storage_stats`).
#[pyclass(name = "ChunkStorageStats", module = "icechunk._icechunk", eq, get_all, frozen)]
#[derive(Clone, PartialEq, Debug)]
pub struct PyChunkStorageStats {
    /// In chunk objects of the repository.
    pub native_bytes: u64,
    /// In files outside the repository (virtual chunks).
    pub virtual_bytes: u64,
    /// Inside manifests.
    pub inlined_bytes: u64,
}

#[pymethods]
impl PyChunkStorageStats {
    #[getter]
    fn non_virtual_bytes(&self) -> u64 {
        self.native_bytes + self.inlined_bytes
    }

    #[getter]
    fn total_bytes(&self) -> u64 {
        self.non_virtual_bytes() + self.virtual_bytes
    }

    fn __repr__(&self) -> String {
        format!(
            "ChunkStorageStats(native_bytes={}, virtual_bytes={}, inlined_bytes={})",
            self.native_bytes, self.virtual_bytes, self.inlined_bytes
        )
    }
}

impl From<ChunkStorageStats> for PyChunkStorageStats {
    fn from(s: ChunkStorageStats) -> Self {
        PyChunkStorageStats {
            native_bytes: s.native_bytes,
            virtual_bytes: s.virtual_bytes,
            inlined_bytes: s.inlined_bytes,
        }
    }
}

async fn fetch_config(
    storage: std::sync::Arc<dyn icechunk::Storage>,
) -> PyResult<Option<PyRepositoryConfig>> {
    let location = storage.location();
    let config = Repository::fetch_config(storage).await.py()?;
    match config {
        Some(config) => Ok(Some(PyRepositoryConfig::from(&config))),
        None => Err(icechunk::IcechunkError::RepositoryNotFound { location }).py(),
    }
}

/// Static and plain (no I/O) calls, written out by hand.
#[pymethods]
impl PyRepository {
    #[staticmethod]
    fn fetch_config(py: Python<'_>, storage: &PyStorage) -> PyResult<Option<PyRepositoryConfig>> {
        block_on(py, fetch_config(storage.storage.clone()))
    }

    #[staticmethod]
    fn fetch_config_async<'py>(py: Python<'py>, storage: &PyStorage) -> PyResult<Bound<'py, PyAny>> {
        future_into_py(py, fetch_config(storage.storage.clone()))
    }

    /// `authorize_virtual_chunk_access`: new authorizations (`None`: keep this handle's).
    #[pyo3(signature = (config=None, authorize_virtual_chunk_access=None))]
    fn reopen(
        &self,
        config: Option<PyRepositoryConfig>,
        authorize_virtual_chunk_access: Option<crate::virtual_access::Authorizations>,
    ) -> PyResult<PyRepository> {
        let config = config.map(|c| c.to_core()).transpose()?;
        let mut repo = self.core().reopen(config).py()?;
        if let Some(authorizations) = authorize_virtual_chunk_access {
            repo = repo.with_virtual_access(crate::virtual_access::to_core(authorizations)).py()?;
        }
        Ok(PyRepository::new(repo))
    }
}

twins! {
    impl PyRepository {
        fn get_status / get_status_async(&self) -> PyRepoStatus {
            let repo = self.core().clone();
            async move { Ok(py_status(&repo.status().await.py()?)) }
        }

        fn set_status / set_status_async(&self, status: PyRepoStatus) -> () {
            let repo = self.core().clone();
            let availability = match status.availability {
                PyRepoAvailability::Online => Availability::Online,
                PyRepoAvailability::ReadOnly => Availability::ReadOnly,
            };
            async move {
                repo.set_status(availability, status.limited_availability_reason).await.py()?;
                Ok(())
            }
        }

        fn get_metadata / get_metadata_async(&self) -> Json {
            let repo = self.core().clone();
            async move { Ok(Json(repo.metadata().await.py()?.into())) }
        }

        fn set_metadata / set_metadata_async(&self, metadata: Bound<'_, PyDict>) -> () {
            let (repo, metadata) = (self.core().clone(), dict_to_json(&metadata));
            async move { repo.set_metadata(metadata?).await.py() }
        }

        fn update_metadata / update_metadata_async(&self, metadata: Bound<'_, PyDict>) -> Json {
            let (repo, metadata) = (self.core().clone(), dict_to_json(&metadata));
            async move { Ok(Json(repo.update_metadata(metadata?).await.py()?.into())) }
        }

        fn feature_flags / feature_flags_async(&self) -> Vec<PyFeatureFlag> {
            let repo = self.core().clone();
            async move { Ok(repo.feature_flags().await.py()?.iter().map(py_flag).collect::<Vec<_>>()) }
        }

        fn set_feature_flag / set_feature_flag_async(&self, name: String, setting: Option<bool>) -> () {
            let repo = self.core().clone();
            async move { repo.set_feature_flag(&name, setting).await.py() }
        }

        fn save_config / save_config_async(&self) -> () {
            let repo = self.core().clone();
            async move { repo.save_config().await.py() }
        }

        fn ops_log / ops_log_async(&self) -> Vec<PyUpdate> {
            let repo = self.core().clone();
            async move { Ok(repo.ops_log().await.py()?.into_iter().map(py_update).collect::<Vec<_>>()) }
        }

        fn chunk_storage_stats / chunk_storage_stats_async(&self, max_concurrent_manifest_fetches: usize) -> PyChunkStorageStats {
            let repo = self.core().clone();
            async move { Ok(PyChunkStorageStats::from(repo.chunk_storage_stats(max_concurrent_manifest_fetches).await.py()?)) }
        }

        /// The drawing of history: every branch (no version given) or one version's line.
        fn ancestry_graph / ancestry_graph_async(
            &self,
            branch: Option<String>,
            tag: Option<String>,
            snapshot_id: Option<String>,
            plain: bool,
        ) -> PyAncestryGraph {
            let repo = self.core().clone();
            let everything = branch.is_none() && tag.is_none() && snapshot_id.is_none();
            let version = (!everything).then(|| version_info(branch, tag, snapshot_id, None)).transpose();
            async move {
                let rows = repo.ancestry_graph(version?.as_ref()).await.py()?;
                Ok(PyAncestryGraph {
                    text: history_graph::render_text(&rows, !plain),
                    svg: history_graph::render_svg(&rows, !plain),
                })
            }
        }

        /// A commit (or amend) on `branch` holding the same data with every manifest shard
        /// laid out again by the current configuration.
        fn rewrite_manifests / rewrite_manifests_async(
            &self,
            message: String,
            branch: String,
            metadata: Option<Bound<'_, PyDict>>,
            amend: bool,
        ) -> String {
            let repo = self.core().clone();
            let metadata = metadata.map(|m| dict_to_json(&m)).transpose();
            async move {
                let id = repo.rewrite_manifests(&branch, &message, metadata?.unwrap_or_default(), amend).await.py()?;
                Ok(id.to_string())
            }
        }

        fn list_manifest_files / list_manifest_files_async(&self, snapshot_id: String) -> Vec<PyManifestFileInfo> {
            let (repo, id) = (self.core().clone(), parse_snapshot_id(&snapshot_id));
            async move {
                let files = repo.list_manifest_files(&id?).await.py()?;
                Ok(files
                    .into_iter()
                    .map(|f| PyManifestFileInfo {
                        id: f.id.to_string(),
                        size_bytes: f.size_bytes,
                        num_chunk_refs: f.num_chunk_refs,
                    })
                    .collect::<Vec<_>>())
            }
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyChunkStorageStats>()
}
