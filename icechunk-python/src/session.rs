//! `Session`: one version of the repository, read-only or with uncommitted changes.

use icechunk::Session;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::conversions::dict_to_json;
use crate::errors::CoreResultExt;
use crate::repository::PyDiff;
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
    #[pyo3(signature = (message, metadata=None, allow_empty=false))]
    fn commit(
        &self,
        py: Python<'_>,
        message: &str,
        metadata: Option<&Bound<'_, PyDict>>,
        allow_empty: bool,
    ) -> PyResult<String> {
        let metadata = metadata.map(dict_to_json).transpose()?;
        let id = block_on(py, self.session.commit(message, metadata, allow_empty)).py()?;
        Ok(id.to_string())
    }

    fn store(&self) -> PyStore {
        PyStore::new(self.session.store())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySession>()
}
