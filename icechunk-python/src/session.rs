//! `Session`: one version of the repository, read-only or with uncommitted changes.

use icechunk::store::Store;
use icechunk::Session;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::conflicts::PyConflictSolver;
use crate::conversions::dict_to_json;
use crate::diff::PyDiff;
use crate::errors::CoreResultExt;
use crate::runtime::block_on;
use crate::store::PyStore;

#[pyclass(name = "PySession", module = "icechunk._icechunk", frozen)]
pub struct PySession {
    session: Session,
}

impl PySession {
    pub fn new(session: Session) -> Self {
        PySession { session }
    }
}

#[pymethods]
impl PySession {
    #[getter]
    fn read_only(&self) -> bool {
        self.session.read_only()
    }

    #[getter]
    fn snapshot_id(&self) -> String {
        self.session.snapshot_id().to_string()
    }

    #[getter]
    fn branch(&self) -> Option<String> {
        self.session.branch()
    }

    #[getter]
    fn has_uncommitted_changes(&self) -> bool {
        self.session.has_uncommitted_changes()
    }

    fn status(&self) -> PyDiff {
        PyDiff(self.session.status())
    }

    fn discard_changes(&self) -> PyResult<()> {
        self.session.discard_changes().py()
    }

    /// Write the changes as a new snapshot and move the branch to it; returns its id.
    /// With `rebase_with` (a conflict solver), a moved branch is rebased onto and the
    /// commit retried, up to `rebase_tries` times.
    #[pyo3(signature = (message, metadata=None, allow_empty=false, rebase_with=None, rebase_tries=1000))]
    fn commit(
        &self,
        py: Python<'_>,
        message: &str,
        metadata: Option<&Bound<'_, PyDict>>,
        allow_empty: bool,
        rebase_with: Option<PyRef<'_, PyConflictSolver>>,
        rebase_tries: u32,
    ) -> PyResult<String> {
        let metadata = metadata.map(dict_to_json).transpose()?;
        let id = match rebase_with {
            None => block_on(py, self.session.commit(message, metadata, allow_empty)).py()?,
            Some(solver) => {
                let solver = solver.solver.clone();
                let fut = self.session.commit_rebasing(
                    message,
                    metadata,
                    allow_empty,
                    solver.as_ref(),
                    rebase_tries,
                );
                block_on(py, fut).py()?
            }
        };
        Ok(id.to_string())
    }

    /// Move the base to the branch tip, keeping the changes as the solver decides.
    fn rebase(&self, py: Python<'_>, solver: PyRef<'_, PyConflictSolver>) -> PyResult<()> {
        let solver = solver.solver.clone();
        block_on(py, self.session.rebase(solver.as_ref())).py()
    }

    #[getter]
    fn is_fork(&self) -> bool {
        self.session.is_fork()
    }

    /// A writable session for a worker; merge it back with `merge`.
    fn fork(&self) -> PyResult<PySession> {
        Ok(PySession::new(self.session.fork().py()?))
    }

    /// Fold the changes of `forks` into this session (all or nothing).
    fn merge(&self, forks: Vec<PyRef<'_, PySession>>) -> PyResult<()> {
        let forks: Vec<Session> = forks.iter().map(|f| f.session.clone()).collect();
        self.session.merge(&forks).py()
    }

    /// The session as bytes for another process (forks and read-only sessions only).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        // Waits for the uploads of its chunks: their references travel.
        let bytes = block_on(py, self.session.to_bytes()).py()?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: Vec<u8>) -> PyResult<PySession> {
        let session = block_on(py, Session::from_bytes(&data)).py()?;
        Ok(PySession::new(session))
    }

    fn store(&self) -> PyStore {
        PyStore::new(Store::new(self.session.clone()))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySession>()
}
