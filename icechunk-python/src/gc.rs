//! Snapshot expiration and garbage collection on `PyRepository`, and `GCSummary`.

use chrono::{DateTime, Utc};
use icechunk::repository::{GcOptions, GcSummary};
use pyo3::prelude::*;

use crate::errors::CoreResultExt;
use crate::repository::PyRepository;
use crate::twins::twins;

/// What `Repository.garbage_collect` deleted (or, in a dry run, would delete).
#[pyclass(name = "GCSummary", module = "icechunk._icechunk", eq, get_all, frozen)]
#[derive(Clone, PartialEq, Debug)]
pub struct PyGCSummary {
    pub bytes_deleted: u64,
    pub chunks_deleted: u64,
    pub manifests_deleted: u64,
    pub snapshots_deleted: u64,
    /// Always 0: this format keeps attributes in the snapshot (Icechunk 1 had files).
    pub attributes_deleted: u64,
    pub transaction_logs_deleted: u64,
    pub objects_failed_to_delete: u64,
    /// Always 0: no store here throttles deletes in batches.
    pub throttled_batches: u64,
    /// The first distinct delete errors, at most ten.
    pub delete_errors: Vec<String>,
    /// Phases skipped after one with failures ("transaction_logs", "manifests", "chunks").
    pub skipped_phases: Vec<String>,
    /// Unreachable objects kept because a writing session's lease covers them.
    pub objects_kept_for_sessions: u64,
}

impl From<GcSummary> for PyGCSummary {
    fn from(s: GcSummary) -> Self {
        PyGCSummary {
            bytes_deleted: s.bytes_deleted,
            chunks_deleted: s.chunks_deleted,
            manifests_deleted: s.manifests_deleted,
            snapshots_deleted: s.snapshots_deleted,
            attributes_deleted: 0,
            transaction_logs_deleted: s.transaction_logs_deleted,
            objects_failed_to_delete: s.objects_failed_to_delete,
            throttled_batches: 0,
            delete_errors: s.delete_errors,
            skipped_phases: s.skipped_phases,
            objects_kept_for_sessions: s.objects_kept_for_sessions,
        }
    }
}

#[pymethods]
impl PyGCSummary {
    /// A table, for Jupyter.
    fn _repr_html_(&self) -> String {
        let rows = [
            ("bytes deleted", self.bytes_deleted),
            ("chunks deleted", self.chunks_deleted),
            ("manifests deleted", self.manifests_deleted),
            ("snapshots deleted", self.snapshots_deleted),
            ("transaction logs deleted", self.transaction_logs_deleted),
            ("objects failed to delete", self.objects_failed_to_delete),
            ("objects kept for writing sessions", self.objects_kept_for_sessions),
        ];
        let body: String = rows.iter().map(|(k, v)| format!("<tr><th>{k}</th><td>{v}</td></tr>")).collect();
        format!("<table><caption>GCSummary</caption>{body}</table>")
    }

    fn __repr__(&self) -> String {
        format!(
            "GCSummary(bytes_deleted={}, chunks_deleted={}, manifests_deleted={}, snapshots_deleted={}, \
             transaction_logs_deleted={}, objects_failed_to_delete={}, objects_kept_for_sessions={})",
            self.bytes_deleted,
            self.chunks_deleted,
            self.manifests_deleted,
            self.snapshots_deleted,
            self.transaction_logs_deleted,
            self.objects_failed_to_delete,
            self.objects_kept_for_sessions
        )
    }
}

twins! {
    impl PyRepository {
        /// The ids of the snapshots that left history.
        fn expire_snapshots / expire_snapshots_async(
            &self,
            older_than: DateTime<Utc>,
            delete_expired_branches: bool,
            delete_expired_tags: bool,
        ) -> Vec<String> {
            let repo = self.core().clone();
            async move {
                let expired = repo.expire_snapshots(older_than, delete_expired_branches, delete_expired_tags).await.py()?;
                Ok(expired.iter().map(|id| id.to_string()).collect::<Vec<_>>())
            }
        }

        fn garbage_collect / garbage_collect_async(
            &self,
            delete_object_older_than: DateTime<Utc>,
            dry_run: bool,
            max_concurrent_manifest_fetches: usize,
            max_concurrent_deletes: usize,
        ) -> PyGCSummary {
            let repo = self.core().clone();
            let options = GcOptions {
                dry_run,
                max_concurrent_manifest_fetches,
                max_concurrent_deletes,
                ..GcOptions::new(delete_object_older_than)
            };
            async move { Ok(PyGCSummary::from(repo.garbage_collect(&options).await.py()?)) }
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGCSummary>()
}
