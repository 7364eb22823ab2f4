//! Snapshot expiration and garbage collection on `PyRepository`, and `GCSummary`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use icechunk::repository::{GcOptions, GcProgress, GcProgressFn, GcSummary};
use pyo3::exceptions::PyKeyboardInterrupt;
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

        /// `progress(phase, done, total)`, when given, is called now and then from the
        /// collecting thread (see `PyProgress`); what it raises is ignored.
        fn garbage_collect / garbage_collect_async(
            &self,
            delete_object_older_than: DateTime<Utc>,
            dry_run: bool,
            max_concurrent_manifest_fetches: usize,
            max_concurrent_deletes: usize,
            progress: Option<Py<PyAny>>,
        ) -> PyGCSummary {
            let repo = self.core().clone();
            let options = GcOptions {
                dry_run,
                max_concurrent_manifest_fetches,
                max_concurrent_deletes,
                progress: progress.map(PyProgress::callback),
                ..GcOptions::new(delete_object_older_than)
            };
            async move { Ok(PyGCSummary::from(repo.garbage_collect(&options).await.py()?)) }
        }
    }
}

/// How often a collection's progress reaches Python at most (besides the first and last
/// report of each phase): the engine reports once per object, and each call into Python
/// takes the GIL, so that Python hears of a million deletes ten times a second, not a
/// million times.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// A Python callable `progress(phase, done, total)` told where a collection is.
struct PyProgress {
    callable: Py<PyAny>,
    throttle: Mutex<Throttle>,
}

struct Throttle {
    phase: &'static str,
    last_call: Option<Instant>,
    /// The callable raised: it is not called again (a broken display must not slow down or
    /// fail the collection).
    broken: bool,
}

impl PyProgress {
    fn callback(callable: Py<PyAny>) -> GcProgressFn {
        let progress = PyProgress {
            callable,
            throttle: Mutex::new(Throttle { phase: "", last_call: None, broken: false }),
        };
        Arc::new(move |step| progress.report(step))
    }

    fn report(&self, step: GcProgress) {
        if !self.due(&step) {
            return;
        }
        crate::runtime::attach_unless_exiting(|py| {
            let Err(error) = self.callable.call1(py, (step.phase, step.done, step.total)) else { return };
            tracing::warn!(%error, "the garbage collection progress callback failed: no more progress");
            self.throttle.lock().unwrap_or_else(|e| e.into_inner()).broken = true;
            // Python handled a Ctrl-C inside the callback: raise it again, so that it still
            // reaches the caller once the collection returns, as it would without progress.
            if error.is_instance_of::<PyKeyboardInterrupt>(py) {
                let _ = py.import("_thread").and_then(|thread| thread.call_method0("interrupt_main"));
            }
        });
    }

    /// Whether to hand `step` to Python: each phase's first and last step, and otherwise
    /// at most one step per `PROGRESS_INTERVAL`.
    fn due(&self, step: &GcProgress) -> bool {
        let mut throttle = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        if throttle.broken {
            return false;
        }
        let now = Instant::now();
        let due = step.phase != throttle.phase
            || step.done == step.total
            || throttle.last_call.is_none_or(|last| now.duration_since(last) >= PROGRESS_INTERVAL);
        if due {
            throttle.phase = step.phase;
            throttle.last_call = Some(now);
        }
        due
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGCSummary>()
}
