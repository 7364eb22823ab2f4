//! `Session`: one version of the repository, read-only or with uncommitted changes.

use std::borrow::Cow;

use icechunk::format::manifest::{ChunkLocation, ChunkRef};
use icechunk::ids::ChunkCoords;
use icechunk::session::{plan_reindex, ChunkKind, ReindexPlan};
use icechunk::store::Store;
use icechunk::Session;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::api_types::{reduce_member, ReducedMember};
use crate::config::PyRepositoryConfig;
use crate::conflicts::PyConflictSolver;
use crate::conversions::dict_to_json;
use crate::diff::PyDiff;
use crate::errors::{invalid_input, to_py_err, CoreResultExt, IcechunkError};
use crate::repository::PyRepository;
use crate::runtime::block_on;
use crate::store::PyStore;
use crate::twins::twins;

#[pyclass(name = "PySession", module = "icechunk._icechunk", frozen)]
pub struct PySession {
    pub(crate) session: Session,
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

    #[getter]
    fn is_fork(&self) -> bool {
        self.session.is_fork()
    }

    /// A writable session for a worker; merge it back with `merge`.
    fn fork(&self) -> PyResult<PySession> {
        Ok(PySession::new(self.session.fork().py()?))
    }

    /// The session as bytes for another process (forks and read-only sessions only).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        // Waits for the uploads of its chunks: their references travel.
        let bytes = block_on(py, self.session.to_bytes()).py()?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The session in `data`, reading virtual chunks with the authorizations of
    /// `repository` (the unpickled repository it came with).
    #[staticmethod]
    #[pyo3(signature = (data, repository=None))]
    fn from_bytes(
        py: Python<'_>,
        data: Vec<u8>,
        repository: Option<PyRef<'_, PyRepository>>,
    ) -> PyResult<PySession> {
        let authorized =
            repository.map(|r| r.core().virtual_sources().authorizations().clone()).unwrap_or_default();
        let session = block_on(py, Session::from_bytes_reusing_repository(&data, authorized)).py()?;
        Ok(PySession::new(session))
    }

    fn store(&self) -> PyStore {
        PyStore::new(Store::new(self.session.clone()))
    }
}

/// Where a chunk lives (`Session.chunk_type`).
#[pyclass(name = "ChunkType", module = "icechunk._icechunk", eq, eq_int, hash, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum PyChunkType {
    uninitialized = 0,
    native = 1,
    r#virtual = 2,
    inline = 3,
}

#[pymethods]
impl PyChunkType {
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> ReducedMember<'py> {
        let name = match *slf.get() {
            PyChunkType::uninitialized => "uninitialized",
            PyChunkType::native => "native",
            PyChunkType::r#virtual => "virtual",
            PyChunkType::inline => "inline",
        };
        reduce_member(slf, name)
    }
}

impl From<ChunkKind> for PyChunkType {
    fn from(kind: ChunkKind) -> Self {
        match kind {
            ChunkKind::Uninitialized => PyChunkType::uninitialized,
            ChunkKind::Native => PyChunkType::native,
            ChunkKind::Inline => PyChunkType::inline,
            ChunkKind::Virtual => PyChunkType::r#virtual,
        }
    }
}

/// What a session may do (`Session.mode`).
#[pyclass(name = "SessionMode", module = "icechunk._icechunk", eq, eq_int, hash, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum PySessionMode {
    readonly = 0,
    writable = 1,
    rearrange = 2,
}

#[pymethods]
impl PySessionMode {
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> ReducedMember<'py> {
        let name = match *slf.get() {
            PySessionMode::readonly => "readonly",
            PySessionMode::writable => "writable",
            PySessionMode::rearrange => "rearrange",
        };
        reduce_member(slf, name)
    }
}

#[pymethods]
impl PySession {
    #[getter]
    fn mode(&self) -> PySessionMode {
        if self.session.read_only() {
            PySessionMode::readonly
        } else if self.session.is_rearrange() {
            PySessionMode::rearrange
        } else {
            PySessionMode::writable
        }
    }

    /// The configuration of the repository this session reads.
    #[getter]
    fn config(&self) -> PyRepositoryConfig {
        PyRepositoryConfig::from(self.session.repository().config())
    }
}

/// One chunk reference as `chunk_refs_list` hands it to Python.
type ChunkRow = (Vec<u32>, u8, String, u64, u64, Option<Cow<'static, [u8]>>);

fn chunk_row((coords, chunk): (ChunkCoords, ChunkRef)) -> ChunkRow {
    match chunk.location {
        ChunkLocation::Inline(bytes) => (
            coords,
            PyChunkType::inline as u8,
            String::new(),
            0,
            chunk.length,
            Some(Cow::Owned(bytes.to_vec())),
        ),
        ChunkLocation::Object { id, offset, .. } => {
            (coords, PyChunkType::native as u8, id.to_string(), offset, chunk.length, None)
        }
        ChunkLocation::Virtual { location, offset, .. } => {
            (coords, PyChunkType::r#virtual as u8, location.to_string(), offset, chunk.length, None)
        }
    }
}

twins! {
    impl PySession {
        /// Like `commit`, replacing the branch tip (this session's base) instead of adding a
        /// commit after it.
        #[pyo3(signature = (message, metadata=None, *, allow_empty=false))]
        fn amend / amend_async(&self, message: String, metadata: Option<Bound<'_, PyDict>>, allow_empty: bool) -> String {
            let session = self.session.clone();
            let metadata = metadata.as_ref().map(dict_to_json).transpose();
            async move { Ok(session.amend(&message, metadata?, allow_empty).await.py()?.to_string()) }
        }

        /// The changes as a new snapshot that no branch points at; the session is then
        /// read-only, on it.
        #[pyo3(signature = (message, *, metadata=None))]
        fn flush / flush_async(&self, message: String, metadata: Option<Bound<'_, PyDict>>) -> String {
            let session = self.session.clone();
            let metadata = metadata.as_ref().map(dict_to_json).transpose();
            async move { Ok(session.flush(&message, metadata?).await.py()?.to_string()) }
        }

        /// Move (rename) the group or array at `from_path`, with its subtree, to `to_path`;
        /// rearrange sessions only. No chunk is copied.
        fn move_node / move_node_async(&self, from_path: String, to_path: String) -> () {
            let moved = self.session.move_node(&from_path, &to_path).py();
            async move { moved }
        }

        fn get_node_id / get_node_id_async(&self, path: String) -> String {
            let id = self.session.node_id(&path).py().map(|id| id.to_string());
            async move { id }
        }

        fn chunk_type / chunk_type_async(&self, array_path: String, chunk_coordinates: Vec<u32>) -> PyChunkType {
            let session = self.session.clone();
            async move { Ok(PyChunkType::from(session.chunk_kind(&array_path, &chunk_coordinates).await.py()?)) }
        }

        /// Every chunk's coordinates, in order.
        fn chunk_coordinates_list / chunk_coordinates_async(&self, array_path: String) -> Vec<Vec<u32>> {
            let session = self.session.clone();
            async move { session.chunk_coordinates(&array_path).await.py() }
        }

        /// Every chunk's reference, in order: (coordinates, kind as `ChunkType`'s value, chunk
        /// object id or "" when inline, offset, length, the bytes when inline).
        fn chunk_refs_list / chunk_refs_async(&self, array_path: String) -> Vec<ChunkRow> {
            let session = self.session.clone();
            async move {
                let refs = session.chunk_refs(&array_path).await.py()?;
                Ok(refs.into_iter().map(chunk_row).collect::<Vec<_>>())
            }
        }

        /// Write the changes as a new snapshot and move the branch to it; returns its id.
        /// With `rebase_with` (a conflict solver), a moved branch is rebased onto and the
        /// commit retried, up to `rebase_tries` times.
        #[pyo3(signature = (message, metadata=None, *, rebase_with=None, rebase_tries=1000, allow_empty=false))]
        fn commit / commit_async(
            &self,
            message: String,
            metadata: Option<Bound<'_, PyDict>>,
            rebase_with: Option<PyRef<'_, PyConflictSolver>>,
            rebase_tries: u32,
            allow_empty: bool,
        ) -> String {
            let session = self.session.clone();
            let metadata = metadata.as_ref().map(dict_to_json).transpose();
            let solver = rebase_with.map(|solver| solver.solver.clone());
            async move {
                let metadata = metadata?;
                let id = match solver {
                    None => session.commit(&message, metadata, allow_empty).await,
                    Some(solver) => {
                        session.commit_rebasing(&message, metadata, allow_empty, solver.as_ref(), rebase_tries).await
                    }
                };
                Ok(id.py()?.to_string())
            }
        }

        /// Move the base to the branch tip, keeping the changes as the solver decides.
        fn rebase / rebase_async(&self, solver: PyRef<'_, PyConflictSolver>) -> () {
            let (session, solver) = (self.session.clone(), solver.solver.clone());
            async move { session.rebase(solver.as_ref()).await.py() }
        }

        /// Shift every chunk of the array by `chunk_offset` chunks per dimension; chunks shifted
        /// off the grid are dropped, positions nothing shifts into cleared. No chunk is copied.
        fn shift_array / shift_array_async(&self, array_path: String, chunk_offset: Vec<i64>) -> () {
            let session = self.session.clone();
            async move { session.shift_array(&array_path, &chunk_offset).await.py() }
        }

        /// Move chunk references as `plan` (from `reindex_plan`) says: (position, the position
        /// whose chunk it gets, or None to clear it) pairs, all taken as they were before.
        fn apply_reindex / apply_reindex_async(&self, array_path: String, plan: PlanPairs) -> () {
            let session = self.session.clone();
            let plan = ReindexPlan { targets: plan.into_iter().collect() };
            async move { session.apply_reindex(&array_path, &plan).await.py() }
        }

        /// Fold the changes of `forks` into this session (all or nothing).
        fn merge / merge_async(&self, forks: Vec<PyRef<'_, PySession>>) -> () {
            let session = self.session.clone();
            let forks: Vec<Session> = forks.iter().map(|f| f.session.clone()).collect();
            async move { session.merge(&forks).py() }
        }
    }
}

/// A reindex plan as Python holds it: (position, the position whose chunk it gets, or None).
type PlanPairs = Vec<(Vec<u32>, Option<Vec<u32>>)>;

/// An error on the way out of [`plan_reindex`]: the Python exception to raise.
struct MappingError(PyErr);

impl From<icechunk::IcechunkError> for MappingError {
    fn from(err: icechunk::IcechunkError) -> Self {
        MappingError(to_py_err(err))
    }
}

/// `mapping(coords)` as the engine takes it. An exception of the mapping becomes an
/// `IcechunkError` (Icechunk 2.3's class for it) caused by it; interrupts pass unchanged.
fn call_mapping(
    mapping: &Bound<'_, PyAny>,
    name: &str,
    coords: &[u32],
) -> Result<Option<Vec<i64>>, MappingError> {
    let py = mapping.py();
    let arg = PyList::new(py, coords).map_err(MappingError)?;
    let out = mapping.call1((arg,)).map_err(|err| {
        if !err.is_instance_of::<PyException>(py) {
            return MappingError(err);
        }
        let wrapped =
            IcechunkError::new_err((format!("{name} raised for chunk {coords:?}: {err}"), "unknown"));
        wrapped.set_cause(py, Some(err));
        MappingError(wrapped)
    })?;
    if out.is_none() {
        return Ok(None);
    }
    out.extract::<Vec<i64>>().map(Some).map_err(|_| {
        let shown = out.repr().map_or_else(|_| "?".to_string(), |r| r.to_string());
        MappingError(invalid_input(format!(
            "invalid chunk index: {name} returned {shown} for chunk {coords:?}; expected None or a \
             sequence of non-negative integers"
        )))
    })
}

fn check_callable(value: &Bound<'_, PyAny>, name: &str) -> PyResult<()> {
    if value.is_callable() {
        return Ok(());
    }
    let type_name = value.get_type().name().map_or_else(|_| "?".to_string(), |n| n.to_string());
    Err(PyTypeError::new_err(format!("{name} must be callable, got {type_name}")))
}

#[pymethods]
impl PySession {
    /// What `reindex_array` does to the array at `array_path` whose chunks are at `existing`:
    /// calls `forward` (and `backward`) here, holding the GIL, and returns the plan for
    /// `apply_reindex`. Reads no storage.
    #[pyo3(signature = (array_path, existing, forward, backward=None))]
    fn reindex_plan(
        &self,
        array_path: String,
        existing: Vec<Vec<u32>>,
        forward: Bound<'_, PyAny>,
        backward: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PlanPairs> {
        // Refusals first: the mappings may be costly, or have effects.
        self.session.check_can_write("moving chunks").py()?;
        check_callable(&forward, "forward")?;
        if let Some(backward) = &backward {
            check_callable(backward, "backward")?;
        }
        let grid = self.session.chunk_grid(&array_path).py()?;
        let mut forward = |coords: &[u32]| call_mapping(&forward, "forward", coords);
        let plan = match &backward {
            Some(backward) => {
                let mut backward = |coords: &[u32]| call_mapping(backward, "backward", coords);
                plan_reindex(&grid, &existing, &mut forward, Some(&mut backward))
            }
            None => plan_reindex(&grid, &existing, &mut forward, None),
        };
        Ok(plan.map_err(|MappingError(err)| err)?.targets.into_iter().collect())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyChunkType>()?;
    m.add_class::<PySessionMode>()?;
    m.add_class::<PySession>()
}
